"""Published hyperparameters as named presets: `preset(PPOConfig, "minatar")` in Python,
`--preset minatar` on an experiment's command line (flags given with it override it).

Each preset is the complete published setting of the fields it names, with its source. The
fields a preset does not name keep the config's defaults. A config nested in another (UED's
learner, curriculum and task space) is set by a mapping of its own fields: those fields
replace the ones of the nested config's default, the rest keep that default. Where rljax
cannot express a published setting the preset says so in `deviations`.
`benchmarks/RESULTS.md` ("Presets") records each preset's return at the CI budget, and the
tests check each one learns (`tests/test_presets.py`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rljax.agents.ppo import PPOConfig
from rljax.agents.pqn import PQNConfig
from rljax.config import ConfigError
from rljax.curricula.runner import UEDConfig


@dataclass(frozen=True)
class Preset:
    """A named, sourced set of config values."""

    name: str
    config_type: type
    values: Mapping[str, Any]
    """Field values; for a field holding a nested config, a mapping of that config's fields
    (applied to the field's default)."""
    source: str
    """Where the numbers come from (paper, repository file)."""
    deviations: str = ""
    """What rljax does differently from the source, if anything."""
    envs: str = ""
    """A regular expression of the env names the preset is meant for (its env family)."""

    def config(self, **changes: Any) -> Any:
        """The config type's defaults, then the preset's values, then `changes` (a mapping
        for a nested config changes only the fields it names)."""
        return self.config_for(self.config_type, **changes)

    def config_for(self, config_type: type, **changes: Any) -> Any:
        """`config`, built as `config_type`: the preset's own, or a subclass that shares its
        presets (`presets_for`)."""
        return config_type(**_resolve(config_type, _merge(self.values, changes), self.name))

    def describe(self) -> str:
        extra = f" Deviation: {self.deviations}." if self.deviations else ""
        return f"{self.name}: {self.source}.{extra}"


def _merge(values: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`values` updated by `changes`, mappings merged key by key (at any depth)."""
    merged = dict(values)
    for key, change in changes.items():
        old = merged.get(key)
        both = isinstance(old, Mapping) and isinstance(change, Mapping)
        merged[key] = _merge(old, change) if both else change
    return merged


def _field_default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _resolve(config_type: type, values: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`values` with each mapping replaced by the nested config it describes: the field's
    default config with the mapping's fields (mappings inside it resolved the same way)."""
    fields = {f.name: f for f in dataclasses.fields(config_type)}
    resolved = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            base = _field_default(fields[key]) if key in fields else None
            if not dataclasses.is_dataclass(base):
                raise ValueError(
                    f"preset {name!r} gives a mapping for {config_type.__name__}.{key}, whose "
                    "default is not a config"
                )
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(base)})
            if unknown:
                raise ValueError(
                    f"preset {name!r} sets unknown fields {unknown} of "
                    f"{config_type.__name__}.{key} ({type(base).__name__})"
                )
            value = dataclasses.replace(base, **_resolve(type(base), value, name))
        resolved[key] = value
    return resolved


PRESETS: dict[type, dict[str, Preset]] = {}


def register_preset(preset: Preset) -> Preset:
    """Add `preset` to `PRESETS`. Its top-level field names are checked here; the names in a
    nested mapping when it is first built (the nested defaults may import an env family)."""
    fields = {f.name for f in dataclasses.fields(preset.config_type)}
    unknown = sorted(set(preset.values) - fields)
    if unknown:
        raise ValueError(f"preset {preset.name!r} sets unknown fields {unknown}")
    PRESETS.setdefault(preset.config_type, {})[preset.name] = preset
    return preset


def presets_for(config_type: type) -> dict[str, Preset]:
    """The presets of exactly `config_type` (a subclass has other defaults, so it does not
    inherit its base's presets), by name; a subclass that keeps its base's defaults and only
    adds fields (e.g. a command line's choices) names that base in a `presets_from` class
    attribute and gets its presets."""
    return PRESETS.get(vars(config_type).get("presets_from", config_type), {})


def _uses(config: Any, values: Mapping[str, Any], ignored: tuple[str, ...]) -> bool:
    """Whether `config` has the preset `values` (nested mappings compared field by field),
    the fields named in `ignored` aside at every depth."""
    for key, value in values.items():
        if key in ignored:
            continue
        if not hasattr(config, key):  # e.g. another curriculum kind than the preset's
            return False
        current = getattr(config, key)
        if isinstance(value, Mapping):
            if not _uses(current, value, ignored):
                return False
        elif current != value:
            return False
    return True


def suggested_preset(config: Any) -> Preset | None:
    """The preset for `config.env`'s family whose hyperparameters `config` does not use (its
    env and budget aside), if there is one; never for the family of the config type's own
    default env (its defaults were chosen for it, and a changed field there is deliberate)."""
    default_env = type(config)().env
    for found in presets_for(type(config)).values():
        if not found.envs or not re.fullmatch(found.envs, config.env):
            continue
        if re.fullmatch(found.envs, default_env):
            continue
        if not _uses(config, found.values, ("env", "total_timesteps")):
            return found
    return None


def preset(config_type: type, name: str, **changes: Any) -> Any:
    """`config_type` built from the preset `name`, then `changes` (a mapping for a nested
    config changes only the fields it names)."""
    found = presets_for(config_type)
    if name not in found:
        names = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"--preset {name!r} is not a preset of {config_type.__name__}. Fix: use one of "
            f"{names}, or no --preset."
        )
    return found[name].config_for(config_type, **changes)


# --- PPO ----------------------------------------------------------------------------------------

register_preset(
    Preset(
        "cartpole",
        PPOConfig,
        dict(
            env="CartPole-v1",
            total_timesteps=500_000,
            num_envs=4,
            num_steps=128,
            update_epochs=4,
            num_minibatches=4,
            learning_rate=2.5e-4,
            anneal_lr=True,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            ent_coef=0.01,
            vf_coef=0.5,
            max_grad_norm=0.5,
            activation="tanh",
            hidden_sizes=(64, 64),
        ),
        "PureJaxRL's CartPole config (purejaxrl/ppo.py; Lu et al. 2022), also CleanRL's "
        "ppo.py defaults; equal to PPOConfig()'s defaults",
        envs="CartPole-v1",
    )
)
register_preset(
    Preset(
        "minatar",
        PPOConfig,
        dict(
            env="Asterix-MinAtar",
            total_timesteps=10_000_000,
            num_envs=64,
            num_steps=128,
            update_epochs=4,
            num_minibatches=8,
            learning_rate=5e-3,
            anneal_lr=True,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            ent_coef=1e-4,
            vf_coef=0.5,
            max_grad_norm=0.5,
            activation="relu",
            network="minatar_cnn",
        ),
        "the PPO MinAtar config of purejaxql (purejaxql/config/alg/ppo_minatar.yaml; "
        "Gallici et al. 2024's PPO baseline); published PPO returns at 1e7 steps: Asterix "
        "15.04, Breakout 50.08, Freeway 61.84, SpaceInvaders 167.09",
        "the torso is rljax's MinAtar CNN (a 3x3 conv of 16 channels, 128 units; Young & Tian "
        "2019)",
        envs=r".+-MinAtar",
    )
)
register_preset(
    Preset(
        "brax",
        PPOConfig,
        dict(
            env="brax/positional/hopper",
            total_timesteps=50_000_000,
            num_envs=2048,
            num_steps=10,
            update_epochs=4,
            num_minibatches=32,
            learning_rate=3e-4,
            anneal_lr=False,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            ent_coef=0.0,
            vf_coef=0.5,
            max_grad_norm=0.5,
            activation="tanh",
            hidden_sizes=(256, 256),
            normalize_observations=True,
            normalize_rewards=True,
        ),
        "PureJaxRL's continuous-action config for brax (purejaxrl/ppo_continuous_action.py: "
        "2048 envs x 10 steps, 32 minibatches, lr 3e-4 not annealed, no entropy bonus, "
        "normalised env; hopper on brax's positional pipeline, as its BraxGymnaxWrapper builds "
        "it)",
        "the running discounted return that rewards are scaled by restarts after an "
        "episode's last step (PureJaxRL zeroes it on that step, before adding its reward)",
        envs=r"brax/.+",
    )
)

register_preset(
    Preset(
        "playground_dmc",
        PPOConfig,
        dict(
            env="playground/CartpoleBalance",
            total_timesteps=60_000_000,
            num_envs=2048,
            num_steps=480,
            update_epochs=16,
            num_minibatches=32,
            learning_rate=1e-3,
            anneal_lr=False,
            max_grad_norm=1e9,
            gamma=0.995,
            reward_scale=10.0,
            gae_lambda=0.95,
            clip_eps=0.3,
            ent_coef=1e-2,
            vf_coef=0.5,
            clip_value=False,
            normalize_advantages=True,
            normalize_observations=True,
            activation="relu",
            hidden_sizes=(32, 32, 32, 32),
            greedy_eval=False,
            num_eval_episodes=128,
        ),
        "MuJoCo Playground's PPO config for the DM Control Suite (mujoco_playground/config/"
        "dm_control_suite_params.py brax_ppo_config, playground 0.2.0; Zakka et al. 2025: 6e7 "
        "steps, 30-step unrolls, batch 1024 x 32 minibatches, 16 epochs, lr 1e-3, entropy "
        "1e-2, discount 0.995, reward scaling 10, normalised observations), with brax 0.14.2 "
        "ppo.train's defaults for what it leaves out (clip 0.3, GAE lambda 0.95, no gradient "
        "or value clipping, 128 sampled evaluation episodes, a policy MLP of 4 x 32)",
        "brax's update collects 16 unrolls of 30 steps from its 2,048 envs (batch 1024 x 32 "
        "minibatches / 2,048) and computes GAE per 30-step unroll; here one 480-step rollout of"
        " the 2,048 envs, the same 983,040 steps, minibatches and epochs per update, with GAE "
        "over the 480 steps; no gradient clipping is max_grad_norm 1e9; one MLP size for both "
        "networks, brax's policy's 4 x 32 (its value MLP is 5 x 256), relu for brax's swish; a "
        "Gaussian clipped to the action bounds for brax's tanh-squashed one; Adam eps 1e-5 "
        "(brax 1e-8); at the time limit the value of the final observation is bootstrapped "
        "(brax zeroes that step's TD error); brax's num_evals (10) and num_resets_per_eval have"
        " no counterpart; per-env settings of brax_ppo_config to pass as flags: --gamma 0.95 "
        "for BallInCup and FingerSpin, --total-timesteps 100000000 for AcrobotSwingup*, "
        "SwimmerSwimmer6 and WalkerRun; its action repeat 4 with 4 epochs for "
        "'PendulumSwingUp' (the registry spells it PendulumSwingup, so it never applies) is not "
        "a PPOConfig field",
        envs=r"playground/.+",
    )
)

# --- PQN ----------------------------------------------------------------------------------------

register_preset(
    Preset(
        "cartpole",
        PQNConfig,
        dict(
            env="CartPole-v1",
            total_timesteps=500_000,
            num_envs=32,
            num_steps=64,
            epsilon_start=1.0,
            epsilon_finish=0.2,
            exploration_fraction=0.2,
            num_minibatches=16,
            update_epochs=4,
            hidden_sizes=(256, 256),
            layer_norm=True,
            learning_rate=1e-4,
            max_grad_norm=10.0,
            anneal_lr=True,
            reward_scale=0.1,
            gamma=0.99,
            q_lambda=0.95,
        ),
        "purejaxql's PQN CartPole config (purejaxql/config/alg/pqn_cartpole.yaml; Gallici "
        "et al. 2024)",
        envs="CartPole-v1",
    )
)
register_preset(
    Preset(
        "minatar",
        PQNConfig,
        dict(
            env="Asterix-MinAtar",
            total_timesteps=10_000_000,
            num_envs=128,
            num_steps=32,
            epsilon_start=1.0,
            epsilon_finish=0.05,
            exploration_fraction=0.1,
            num_minibatches=32,
            update_epochs=2,
            layer_norm=True,
            learning_rate=5e-4,
            max_grad_norm=10.0,
            anneal_lr=True,
            gamma=0.99,
            q_lambda=0.65,
            network="minatar_cnn",
        ),
        "purejaxql's PQN MinAtar config (purejaxql/config/alg/pqn_minatar.yaml; Gallici et "
        "al. 2024)",
        "the torso is rljax's MinAtar CNN",
        envs=r".+-MinAtar",
    )
)

# --- UED -----------------------------------------------------------------------------------------

JAXUED_MAZE = register_preset(
    Preset(
        "jaxued_maze",
        UEDConfig,
        dict(
            learner=dict(
                total_timesteps=30_000 * 32 * 256,
                num_envs=32,
                num_steps=256,
                update_epochs=5,
                num_minibatches=1,
                learning_rate=1e-4,
                anneal_lr=True,
                max_grad_norm=0.5,
                gamma=0.995,
                gae_lambda=0.98,
                clip_eps=0.2,
                ent_coef=1e-3,
                vf_coef=0.5,
                clip_value=True,
                value_clip_eps=0.2,
                normalize_advantages=True,
                network="maze_conv",
                cell="lstm",
                gru_size=256,
                hidden_sizes=(32,),
                activation="relu",
                num_eval_episodes=10,
                greedy_eval=False,
            ),
            curriculum=dict(
                capacity=4000,
                replay_prob=0.8,
                min_fill_ratio=0.5,
                temperature=0.3,
                staleness_coef=0.3,
                prioritization="rank",
                top_k=4,
                duplicate_check=True,
            ),
            task_space=dict(num_walls=25, generator="random", heldout="benchmark"),
            score_function="max_mc",
            steps_per_eval=250,
            frame_stack=1,
        ),
        "JaxUED's robust PLR on 13x13 mazes (DramaCow/jaxued examples/maze_plr.py defaults, "
        "commit 0f8f128; Coward et al. 2024: 30,000 updates of 32 levels x 256 steps, PPO "
        "lr 1e-4 annealed, 5 epochs x 1 minibatch, gamma 0.995, lambda 0.98, clip 0.2, "
        "entropy 1e-3; buffer 4000, replay 0.8, staleness 0.3, temperature 0.3 rank, min "
        "fill 0.5, duplicate check, MaxMC scores, no gradients on new levels; 25 walls, 250 "
        "steps; 10 sampled episodes per benchmark maze every 250 updates)",
        "the network is JaxUED's (a 3x3 conv of 16 without padding over the 5x5 view, a "
        "5-unit direction embedding, an LSTM of 256, relu heads of 32: `maze_conv`, `lstm`) "
        "but for its inputs and two init gains: the conv reads rljax's wall and goal planes "
        "(JaxUED: object, colour and state ids / 10), the direction is the one-hot of "
        "rljax's 4 direction planes (the same one-hot), and the heads' hidden layers use "
        "orthogonal gain sqrt 2 (JaxUED: 2). A new level draws its goal and start before its "
        "walls (JaxUED: walls first). PPO: rljax normalises advantages with 1e-8 (JaxUED "
        "1e-5) and bootstraps truncated episodes from V(s') (JaxUED treats the 250-step "
        "limit as termination)",
        envs="Maze-13x13",
    )
)
register_preset(
    Preset(
        "minimax_maze",
        UEDConfig,
        _merge(  # JaxUED's maze settings where minimax's are the same
            JAXUED_MAZE.values,
            dict(
                learner=dict(
                    learning_rate=3e-4,
                    anneal_lr=False,
                    gamma=0.999,
                    ent_coef=0.0,
                    activation="tanh",
                ),
                curriculum=dict(replay_prob=0.5),
                task_space=dict(num_walls=60),
                steps_per_eval=100,
            ),
        ),
        "minimax's robust PLR on 13x13 mazes (facebookresearch/minimax "
        "src/minimax/config/configs/maze/plr.json, commit d053054; Jiang et al. 2023: 30,000 "
        "updates of 32 levels x 256 steps, PPO lr 3e-4 not annealed, Adam eps 1e-5, 5 epochs "
        "x 1 minibatch, gamma 0.999, lambda 0.98, clip 0.2 with value clipping, no entropy "
        "bonus; buffer 4000, replay 0.5, staleness 0.3, temperature 0.3 rank, min fill 0.5, "
        "unique levels, MaxMC scores, no gradients on new levels; up to 60 walls (60 draws "
        "with replacement), 250 steps; 10 episodes per test maze every 100 updates)",
        "the network is minimax's `default_student_cnn` in shape (a 3x3 conv of 16 without "
        "padding, relu; a 5-unit direction embedding; an LSTM of 256; one tanh hidden layer "
        "of 32 per head: `maze_conv`, `lstm`, activation tanh) but not in inputs and init: "
        "the conv reads rljax's wall and goal planes (minimax: its normalised grid encoding) "
        "with flax's LeCun init (minimax: orthogonal, gain sqrt 2), the direction embedding "
        "is a dense layer over the one-hot with gain sqrt 2 (minimax: an orthogonal nn.Embed, "
        "gain 1), the heads use gain sqrt 2 (minimax: 5/3) and an orthogonal 0.01 policy "
        "layer (minimax: constant 0.01). Test mazes: rljax's benchmark set (minimax: "
        "SixteenRooms, Labyrinth, StandardMaze). PPO: advantages normalised with eps 1e-8 "
        "(minimax 1e-5); V(s') bootstraps the 250-step limit",
        envs="Maze-13x13",
    )
)
