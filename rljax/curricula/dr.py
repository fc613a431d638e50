"""Domain randomisation: every step trains on fresh tasks from the task space's distribution.

Tobin et al. 2017, "Domain Randomization for Transferring Deep Neural Networks from
Simulation to the Real World"; the uniform baseline of the UED papers (e.g. Dennis et al.
2020, "Emergent Complexity and Zero-shot Transfer via Unsupervised Environment Design").
Per step:

    tasks ~ sample(key), one per env
    collect a rollout on tasks, take a gradient step

The state only keeps the mean score of the last batch (for reporting; DR does not use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
from flax import struct

from rljax.curricula.curriculum import (
    Curriculum,
    ProposeInfo,
    mean_valid_score,
    new_tasks_info,
    no_score,
    register_curriculum,
)
from rljax.curricula.scores import LevelScore


@dataclass(frozen=True)
class DRConfig:
    """Domain randomisation has no settings: the task distribution is the task space's."""

    def hparams(self) -> None:
        """No traced coefficients."""
        return None


@struct.dataclass
class DRState:
    mean_score: jax.Array
    """float32 scalar, mean valid score of the last observed batch (NaN if none)."""


def sample_tasks(sample: Any, key: jax.Array, n: int) -> Any:
    """`n` tasks from `sample(key) -> task`, leaves `[n, ...]`, one split of `key` each."""
    return jax.vmap(sample)(jax.random.split(key, n))


@register_curriculum
class DR(Curriculum):
    name = "dr"
    Config = DRConfig
    ranks_by_score = False

    def init(self, key: jax.Array, example_task: Any, hparams: Any = None) -> DRState:
        del key, example_task, hparams
        return DRState(mean_score=no_score())

    def propose(self, state: DRState, key: jax.Array) -> tuple[DRState, Any, ProposeInfo]:
        n = self.num_levels
        # The same split as the buffered curricula, whose coin_key draws replay-or-new.
        _coin_key, branch_key = jax.random.split(key)
        tasks = sample_tasks(self.task_space.sample, branch_key, n)
        return state, tasks, new_tasks_info(n)

    def observe(
        self,
        state: DRState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> DRState:
        del tasks, info, max_returns
        return state.replace(mean_score=mean_valid_score(score))


__all__ = ["DR", "DRConfig", "DRState", "sample_tasks"]
