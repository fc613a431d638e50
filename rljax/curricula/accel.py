"""ACCEL: robust PLR whose replayed tasks are edited into new ones.

Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment Design", sec. 3,
Alg. 1. NEW tasks come from the task space's simplest ones (`initial`, e.g. an empty maze),
and complexity grows by editing the tasks the agent is learning from:

    if buffer filled to min_fill_ratio and coin(replay_prob):           # REPLAY
        tasks ~ P_replay(buffer); collect, take a gradient step, rescore
        next step:                                                       # MUTATE
            children = mutate(tasks, num_edits)
            collect on children without a gradient step, score, offer them to the buffer
    else:                                                                # NEW
        tasks ~ initial(key); collect without a gradient step, score, offer them

Alg. 1 mutates inside its replay branch; here that second half is the step after a REPLAY
step (MUTATE), so each step is one rollout of `num_levels` tasks and one compiled step
serves all three kinds. After a MUTATE step the coin decides again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax.curricula.curriculum import MUTATE, NEW, REPLAY, ProposeInfo, register_curriculum
from rljax.curricula.dr import sample_tasks
from rljax.curricula.level_buffer import LevelBuffer
from rljax.curricula.plr import Branch, PLRHParams, PLRState, RobustPLR, RobustPLRConfig
from rljax.curricula.scores import LevelScore
from rljax.task_space import has_editor


@dataclass(frozen=True)
class ACCELConfig(RobustPLRConfig):
    """Robust PLR's settings plus the size of an edit."""

    num_edits: int = 5
    """Random edits per child task (static)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg.check_positive(self, "num_edits")


@struct.dataclass
class ACCELState(PLRState):
    last_step: jax.Array
    """int32 scalar, the previous step's type (a REPLAY step is followed by MUTATE)."""
    parents: jax.Array
    """`[num_levels]` int32, buffer slots of the last replay batch (the tasks to edit)."""


@register_curriculum
class ACCEL(RobustPLR):
    name = "accel"
    Config = ACCELConfig

    def __init__(self, config: ACCELConfig, task_space: Any, num_levels: int):
        if not has_editor(task_space) or getattr(task_space, "initial", None) is None:
            cfg.fail(
                config,
                "num_edits",
                f"needs a task space that edits tasks, and {type(task_space).__name__} has "
                "no editor (its mutate or initial is missing)",
                "use robust_plr on this task space, or a task space with "
                "mutate(key, task, num_edits) and initial(key)",
            )
        super().__init__(config, task_space, num_levels)

    def init(
        self, key: jax.Array, example_task: Any, hparams: PLRHParams | None = None
    ) -> ACCELState:
        state = super().init(key, example_task, hparams)
        return ACCELState(
            buffer=state.buffer,
            hparams=state.hparams,
            mean_score=state.mean_score,
            last_step=jnp.full((), NEW, jnp.int32),
            parents=jnp.zeros(self.num_levels, jnp.int32),
        )

    def choose_step(self, state: ACCELState, coin_key: jax.Array) -> jax.Array:
        """MUTATE right after a REPLAY step, otherwise robust PLR's coin."""
        return jnp.where(state.last_step == REPLAY, MUTATE, super().choose_step(state, coin_key))

    def new_tasks(self, key: jax.Array) -> Any:
        """ACCEL starts from the simplest tasks and lets the edits add complexity."""
        return sample_tasks(self.task_space.initial, key, self.num_levels)

    def branches(self, state: ACCELState, key: jax.Array) -> list[Branch]:
        """[NEW, REPLAY, MUTATE]: MUTATE edits the tasks of the last replay batch."""

        def mutate(buffer: LevelBuffer):
            parents = jax.tree.map(lambda x: x[state.parents], buffer.levels)
            edit = lambda k, task: self.task_space.mutate(k, task, self.config.num_edits)
            children = jax.vmap(edit)(jax.random.split(key, self.num_levels), parents)
            return buffer, children, state.parents

        return [*super().branches(state, key), mutate]

    def observe(
        self,
        state: ACCELState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> ACCELState:
        """Robust PLR's observe (MUTATE offers the children), and remember a replay batch as
        the next step's parents."""
        state = super().observe(state, tasks, info, score, max_returns)
        return state.replace(
            last_step=info.step_type.astype(jnp.int32),
            parents=jnp.where(info.step_type == REPLAY, info.indices, state.parents),
        )


__all__ = ["ACCEL", "ACCELConfig", "ACCELState"]
