"""Config pieces that several agents share, each declared once.

An agent's config is a frozen dataclass that inherits the pieces it has and adds its own
fields; a piece's field keeps its docstring (and so its `--help` line) when an agent
redeclares it with another default. `check_settings(config)` validates every piece a config
has, so an agent's `__post_init__` only checks its own fields. List the bases last-first
(`class PPOConfig(EvalSettings, ..., RunSettings)`): dataclass fields follow the reversed
method resolution order, so the env comes first in `--help` and in config.json.

    RunSettings       env, total_timesteps, num_envs, num_steps      (every agent)
    OptimSettings     learning_rate, max_grad_norm, grad_clip, gamma, reward_scale (every agent)
    AnnealedLR        anneal_lr                                      (PPO, DQN, PQN)
    MLPSettings       hidden_sizes, activation                       (every agent)
    TorsoSettings     MLPSettings + network (MLP or MinAtar CNN)     (PPO, DQN, PQN)
    EvalSettings      num_eval_episodes, eval_seed                   (every agent)
    EpsilonGreedy     epsilon_start, epsilon_finish, exploration_fraction  (DQN, PQN)
    ReplaySettings    num_gradient_steps, batch_size, buffer_size, learning_starts (DQN, SAC)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rljax import config as cfg


@dataclass(frozen=True)
class RunSettings:
    env: cfg.EnvName = "CartPole-v1"
    """Environment name (`rljax.make`): an offline gymnax env, `brax/<name>` (brax's
    generalized pipeline) or `brax/<positional|spring>/<name>`, `xminigrid/<name>`,
    `playground/<name>`, or a registered env (DQN and PQN need discrete
    actions; SAC on discrete actions is its discrete variant)."""
    total_timesteps: int = 500_000
    """Environment steps per run (per seed)."""
    num_envs: int = 4
    """Parallel environments per run (static: a shape)."""
    num_steps: int = 128
    """Steps per environment collected per update (static: a shape)."""


@dataclass(frozen=True)
class OptimSettings:
    learning_rate: float = 2.5e-4
    """Adam step size (traced: sweepable without recompiling)."""
    max_grad_norm: float = 0.5
    """Gradient clipping threshold: of all gradients' global norm, or of each element
    (`grad_clip`)."""
    grad_clip: cfg.GradClip = "global_norm"
    """`global_norm` (scale all gradients by min(1, max_grad_norm / norm)) or `element` (clip
    each element to +-max_grad_norm, as rejax does; Adam then runs per parameter leaf, ~7-12%
    faster PPO updates at small batches on the CPU)."""
    gamma: float = 0.99
    """Discount factor."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before computing returns or targets."""


@dataclass(frozen=True)
class AnnealedLR:
    anneal_lr: bool = False
    """Anneal the learning rate linearly to 0 over training."""


@dataclass(frozen=True)
class MLPSettings:
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP torso's hidden layers (each network has its own)."""
    activation: cfg.Activation = "tanh"
    """The MLP's activation."""


@dataclass(frozen=True)
class TorsoSettings(MLPSettings):
    network: cfg.Network = "auto"
    """`mlp`, `minatar_cnn`, `grid_cnn`, or `auto` (the MinAtar CNN for MinAtar envs, the grid
    CNN for `xminigrid/` envs, an MLP otherwise)."""


@dataclass(frozen=True)
class EvalSettings:
    num_eval_episodes: int = 16
    """Episodes per run in each evaluation (greedy unless the agent says otherwise)."""
    eval_seed: int = 0
    """Evaluation episodes are fixed by this seed, the same for every run and every call."""


@dataclass(frozen=True)
class EpsilonGreedy:
    epsilon_start: float = 1.0
    """Exploration rate at the start of training."""
    epsilon_finish: float = 0.05
    """Exploration rate after the decay, held to the end."""
    exploration_fraction: float = 0.2
    """Fraction of training over which epsilon anneals from start to finish."""


@dataclass(frozen=True)
class ReplaySettings:
    num_gradient_steps: int = 4
    """Gradient steps per update, each on a fresh minibatch from the buffer (static)."""
    batch_size: int = 128
    """Transitions per minibatch (static: a shape)."""
    buffer_size: int = 50_000
    """Replay capacity in transitions (static: a shape); must hold at least one batch."""
    learning_starts: int = 5_000
    """Env steps collected before the first gradient step."""


def check_settings(config: Any) -> None:
    """Validate every shared piece `config` has (a `ConfigError` naming the field and the
    fix): every field's type first (`rljax.config.check_types`), then the env's name, before
    anything builds it."""
    cfg.check_types(config)
    if isinstance(config, RunSettings):
        from rljax.environment import check_env_name

        check_env_name(config.env)
        cfg.check_positive(config, "total_timesteps", "num_envs", "num_steps")
    if isinstance(config, OptimSettings):
        cfg.check_positive(config, "learning_rate", "max_grad_norm", "reward_scale")
        cfg.check_unit_interval(config, "gamma")
        cfg.check_choice(config, "grad_clip", cfg.GRAD_CLIPS)
    if isinstance(config, MLPSettings):
        cfg.check_choice(config, "activation", cfg.ACTIVATIONS)
        cfg.check_hidden_sizes(config)
    if isinstance(config, TorsoSettings):
        cfg.check_choice(config, "network", cfg.NETWORKS)
    if isinstance(config, EvalSettings):
        cfg.check_positive(config, "num_eval_episodes")
    if isinstance(config, ReplaySettings):
        cfg.check_positive(config, "num_gradient_steps", "batch_size", "buffer_size")
        cfg.check_non_negative(config, "learning_starts")
    if isinstance(config, EpsilonGreedy):
        cfg.check_unit_interval(config, "epsilon_start", "epsilon_finish", "exploration_fraction")


__all__ = [
    "AnnealedLR",
    "EpsilonGreedy",
    "EvalSettings",
    "MLPSettings",
    "OptimSettings",
    "ReplaySettings",
    "RunSettings",
    "TorsoSettings",
    "check_settings",
]
