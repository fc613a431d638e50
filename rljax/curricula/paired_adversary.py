"""PAIRED's adversary: its config and its reward (Dennis et al. 2020, "Emergent Complexity and
Zero-shot Transfer via Unsupervised Environment Design", sec. 4 and Alg. 1).

The adversary is a learner (PPO) whose episode in the task space's level-building env
(`rljax.task_space.AdversarySpec`) builds one task; it is rewarded with the regret of the
task it built. The loop that trains it with the two students is `rljax.curricula.paired`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp

from rljax.agents.ppo import PPOConfig
from rljax.curricula.scores import LevelScore


def _adversary_learner() -> PPOConfig:
    """The adversary's PPO: the students' maze settings (`rljax.curricula.runner.MAZE_PPO`)
    with the MinAtar CNN over its `[13, 13, 4]` observation (the paper's adversary is an LSTM
    over a conv embedding with a time step and noise input; see `envs/maze/adversary.py`).
    Its env, batch, rollout length and budget are set by the loop from the task space and the
    students."""
    from rljax.curricula.runner import MAZE_PPO

    return PPOConfig(
        env="MazeAdversary-13x13",
        num_envs=16,
        num_steps=52,
        **MAZE_PPO,
        network="minatar_cnn",
        num_eval_episodes=1,
    )


@dataclass(frozen=True)
class PAIREDConfig:
    """PAIRED (`--curriculum` subcommand `paired`): the adversary's learner config. Its `env`,
    `num_envs`, `num_steps` and `total_timesteps` are the task space's adversary env, the
    students' batch, the adversary's episode length and the run's budget."""

    name: ClassVar[str] = "paired"
    adversary: PPOConfig = dataclasses.field(default_factory=_adversary_learner)
    """The adversary's PPO (`--curriculum.adversary.learning-rate`, ...)."""


def adversary_reward(regret: LevelScore, num_steps: int) -> jax.Array:
    """The adversary's reward `[num_steps, num_levels]`: 0 for every placement but the last,
    which gets the level's regret (0 where it is not valid: no finished episode to measure
    it by). Dennis et al. 2020, Alg. 1: the adversary is trained with reward REGRET."""
    final = jnp.where(regret.valid, regret.score, 0.0)
    return jnp.zeros((num_steps, final.shape[0]), jnp.float32).at[-1].set(final)
