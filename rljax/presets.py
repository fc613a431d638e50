"""Published hyperparameters as named presets: `preset(PPOConfig, "minatar")` in Python,
`--preset minatar` on an experiment's command line (flags given with it override it).

Each preset is the complete published setting of the fields it names, with its source. The
fields a preset does not name keep the config's defaults. Where rljax cannot express a
published setting the preset says so in `deviations`. `benchmarks/RESULTS.md` ("Presets")
records each preset's return at the CI budget, and the tests check each one learns
(`tests/test_presets.py`).
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


@dataclass(frozen=True)
class Preset:
    """A named, sourced set of config values."""

    name: str
    config_type: type
    values: Mapping[str, Any]
    source: str
    """Where the numbers come from (paper, repository file)."""
    deviations: str = ""
    """What rljax does differently from the source, if anything."""
    envs: str = ""
    """A regular expression of the env names the preset is meant for (its env family)."""

    def config(self, **changes: Any) -> Any:
        """The config type's defaults, then the preset's values, then `changes`."""
        return self.config_type(**{**self.values, **changes})

    def describe(self) -> str:
        extra = f" Deviation: {self.deviations}." if self.deviations else ""
        return f"{self.name}: {self.source}.{extra}"


PRESETS: dict[type, dict[str, Preset]] = {}


def register_preset(preset: Preset) -> Preset:
    fields = {f.name for f in dataclasses.fields(preset.config_type)}
    unknown = sorted(set(preset.values) - fields)
    if unknown:
        raise ValueError(f"preset {preset.name!r} sets unknown fields {unknown}")
    PRESETS.setdefault(preset.config_type, {})[preset.name] = preset
    return preset


def presets_for(config_type: type) -> dict[str, Preset]:
    """The presets of exactly `config_type` (a subclass has other defaults, so it does not
    inherit its base's presets), by name."""
    return PRESETS.get(config_type, {})


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
        values = {k: v for k, v in found.values.items() if k not in ("env", "total_timesteps")}
        if any(getattr(config, k) != v for k, v in values.items()):
            return found
    return None


def preset(config_type: type, name: str, **changes: Any) -> Any:
    """`config_type` built from the preset `name`, then `changes`."""
    found = presets_for(config_type)
    if name not in found:
        names = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"--preset {name!r} is not a preset of {config_type.__name__}. Fix: use one of "
            f"{names}, or no --preset."
        )
    return found[name].config(**changes)


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
            env="brax/hopper",
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
        ),
        "PureJaxRL's continuous-action config for brax (purejaxrl/ppo_continuous_action.py: "
        "2048 envs x 10 steps, 32 minibatches, lr 3e-4 not annealed, no entropy bonus, "
        "normalised env; hopper)",
        "PureJaxRL also normalises rewards (a running return scale); rljax normalises "
        "observations only",
        envs=r"brax/.+",
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
