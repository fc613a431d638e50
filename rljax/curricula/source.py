"""One task, given as a traced coefficient: train a learner on a single source context.

Model-based transfer learning (MBTL, `rljax/transfer.py`) needs a policy trained on each
source context of a task space; with the task a traced leaf (`SourceHParams.task`), a batch of
runs with different tasks, `jax.vmap`ped over the hyperparameters, trains one policy per
context in one compiled program. Every step proposes the same task on every env and trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax.curricula.curriculum import (
    Curriculum,
    ProposeInfo,
    new_tasks_info,
    no_score,
    register_curriculum,
)
from rljax.curricula.dr import DR


@dataclass(frozen=True)
class SourceTaskConfig:
    """The task vector to train on (empty: the task space's `initial` task)."""

    task: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        cfg.check_types(self)

    def replace(self, **changes: Any) -> SourceTaskConfig:
        return dataclasses.replace(self, **changes)


@struct.dataclass
class SourceHParams:
    task: jax.Array
    """`[D]` float32 (`[runs, D]` under vmap): the task every env plays."""


@struct.dataclass
class SourceState:
    task: jax.Array
    mean_score: jax.Array


@register_curriculum
class SourceTask(Curriculum):
    name = "source"
    Config = SourceTaskConfig
    ranks_by_score = False

    def __init__(self, config: SourceTaskConfig, task_space: Any, num_levels: int):
        super().__init__(config, task_space, num_levels)
        if getattr(task_space, "box", None) is None:
            raise cfg.ConfigError(
                f"SourceTask trains on one task vector, and the task space "
                f"{type(task_space).__name__} has no parameter box. Fix: use a task space "
                "with a box (e.g. the classic one)."
            )
        dim = task_space.box.low.shape[0]
        if config.task and len(config.task) != dim:
            cfg.fail(
                config,
                "task",
                f"has {len(config.task)} values for a {dim}-parameter task space",
                f"pass {dim} values ({', '.join(task_space.box.names)})",
            )

    def hparams(self) -> SourceHParams:
        task = self.config.task or self.task_space.initial(jax.random.PRNGKey(0))
        return SourceHParams(jnp.asarray(task, jnp.float32))

    def init(self, key: jax.Array, example_task: Any, hparams: Any = None) -> SourceState:
        del key, example_task
        hparams = self.hparams() if hparams is None else hparams
        return SourceState(task=hparams.task, mean_score=no_score())

    def propose(self, state: SourceState, key: jax.Array) -> tuple[SourceState, Any, ProposeInfo]:
        del key
        n = self.num_levels
        tasks = jnp.broadcast_to(state.task, (n, *state.task.shape))
        return state, tasks, new_tasks_info(n)

    observe = DR.observe
    """Records the batch's mean score, as DR does."""


__all__ = ["SourceHParams", "SourceState", "SourceTask", "SourceTaskConfig"]
