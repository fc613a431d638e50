"""Prioritized Level Replay and robust PLR (PLR-perp).

PLR: Jiang et al. 2021, "Prioritized Level Replay", sec. 3, Alg. 1 and 2. Robust PLR:
Jiang et al. 2021b, "Replay-Guided Adversarial Environment Design", Alg. 1 (PLR-perp). A
level buffer holds tasks with scores (`rljax.curricula.level_buffer`). Each step:

    if buffer filled to min_fill_ratio and coin(replay_prob):           # REPLAY
        tasks ~ P_replay(buffer)       (rank scores with temperature, mixed with staleness)
        collect, take a gradient step, rescore the replayed slots
    else:                                                                # NEW
        tasks ~ sample(key)
        collect, score, offer the tasks to the buffer
        PLR: take a gradient step;   robust PLR: no gradient step (only evaluate)

Robust PLR trains only on curated (replayed) tasks; its theory needs the agent never to be
updated on the generator's uncurated tasks. `BufferedCurriculum` is the machinery both share
(and ACCEL, `rljax.curricula.accel`, extends): the coin, the switch over step kinds and the
rescore-or-offer switch, both through `rljax.run_batch` so that a vmapped batch of runs that
agree on the step kind computes only that kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax import run_batch
from rljax.curricula import level_buffer
from rljax.curricula.curriculum import (
    NEW,
    REPLAY,
    Curriculum,
    CurriculumStats,
    ProposeInfo,
    mean_valid_score,
    no_score,
    register_curriculum,
)
from rljax.curricula.dr import sample_tasks
from rljax.curricula.level_buffer import LevelBuffer
from rljax.curricula.scores import LevelScore

PRIORITIZATIONS = ("rank", "topk")


@dataclass(frozen=True)
class PLRConfig:
    """Static structure and coefficients of PLR. Defaults are common maze settings for robust
    PLR/ACCEL (check the papers' appendices before claiming a reproduction)."""

    capacity: int = 4000
    """Level buffer size (static: a shape)."""
    replay_prob: float = 0.8
    """Probability of a replay step once the buffer is filled enough (traced)."""
    min_fill_ratio: float = 0.5
    """No replay until this fraction of the buffer is filled (traced)."""
    temperature: float = 0.3
    """beta of the rank weights h_i^(1/beta) (traced)."""
    staleness_coef: float = 0.3
    """rho, the weight of staleness in the replay distribution (traced)."""
    prioritization: str = "rank"
    """`rank` (every filled level) or `topk` (rank weights on the top_k levels only)."""
    top_k: int = 4
    """Levels kept by `topk` prioritisation (static)."""
    duplicate_check: bool = False
    """Update an identical stored level instead of inserting a copy."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_choice(self, "prioritization", PRIORITIZATIONS)
        cfg.check_positive(self, "capacity", "temperature", "top_k")
        cfg.check_unit_interval(self, "replay_prob", "min_fill_ratio", "staleness_coef")

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> PLRHParams:
        """The traced coefficients, as a pytree that vmaps over runs."""
        return cfg.traced_coefficients(self, PLRHParams)


@dataclass(frozen=True)
class RobustPLRConfig(PLRConfig):
    """Robust PLR's settings are PLR's; the distinct type selects the method."""


@struct.dataclass
class PLRHParams:
    """Traced coefficients; scalars (or `[runs]` under vmap)."""

    replay_prob: jax.Array
    min_fill_ratio: jax.Array
    temperature: jax.Array
    staleness_coef: jax.Array


@struct.dataclass
class PLRState:
    buffer: LevelBuffer
    hparams: PLRHParams
    mean_score: jax.Array
    """float32 scalar, mean valid score of the last observed batch (NaN if none valid)."""


Branch = Callable[[LevelBuffer], tuple[LevelBuffer, Any, jax.Array]]
"""One kind of step: `buffer -> (buffer, tasks [n, ...], indices [n] int32)`."""


class BufferedCurriculum(Curriculum):
    """A curriculum over a PLR level buffer. Subclasses choose whether NEW tasks train
    (`train_on_new`) and may add step kinds (`choose_step`, `branches`)."""

    train_on_new: ClassVar[bool]
    step_coin = True

    def __init__(self, config: PLRConfig, task_space: Any, num_levels: int):
        super().__init__(config, task_space, num_levels)
        if config.capacity < num_levels:
            cfg.fail(
                config,
                "capacity",
                f"is smaller than the batch of levels num_levels={num_levels}",
                f"pass capacity >= {num_levels} or fewer num_levels",
            )
        self.top_k = config.top_k if config.prioritization == "topk" else None

    def init(
        self, key: jax.Array, example_task: Any, hparams: PLRHParams | None = None
    ) -> PLRState:
        """An empty buffer. `key` is unused; the signature is shared with stateful teachers."""
        del key
        return PLRState(
            buffer=level_buffer.init(example_task, self.config.capacity),
            hparams=self.hparams() if hparams is None else hparams,
            mean_score=no_score(),
        )

    # --- propose ------------------------------------------------------------------------------

    def propose(
        self, state: PLRState, key: jax.Array, coin_key: jax.Array | None = None
    ) -> tuple[PLRState, Any, ProposeInfo]:
        own_coin_key, branch_key = jax.random.split(key)
        step_type = self.choose_step(state, own_coin_key if coin_key is None else coin_key)
        # The branch draws its tasks inside the switch, so where the switch runs one branch
        # (one run, or a batch of runs that agree) a replay step does not generate new tasks.
        buffer, tasks, indices = run_batch.switch(
            step_type, self.branches(state, branch_key), state.buffer
        )
        return state.replace(buffer=buffer), tasks, self.info(step_type, indices, buffer)

    def choose_step(self, state: PLRState, coin_key: jax.Array) -> jax.Array:
        """REPLAY with probability replay_prob once the buffer is filled to min_fill_ratio."""
        hp, buffer = state.hparams, state.buffer
        filled_enough = (buffer.size > 0) & (buffer.size >= hp.min_fill_ratio * buffer.capacity)
        replay = filled_enough & (jax.random.uniform(coin_key) < hp.replay_prob)
        return jnp.where(replay, REPLAY, NEW)

    def new_tasks(self, key: jax.Array) -> Any:
        """A batch of fresh tasks from the generator."""
        return sample_tasks(self.task_space.sample, key, self.num_levels)

    def branches(self, state: PLRState, key: jax.Array) -> list[Branch]:
        """The step kinds, indexed by step type: [NEW, REPLAY]."""
        n, hp = self.num_levels, state.hparams

        def new(buffer: LevelBuffer):
            return buffer, self.new_tasks(key), jnp.full(n, -1, jnp.int32)

        def replay(buffer: LevelBuffer):
            buffer, indices, tasks = level_buffer.sample_replay(
                buffer, key, n, hp.temperature, hp.staleness_coef, self.top_k
            )
            return buffer, tasks, indices

        return [new, replay]

    def info(self, step_type: jax.Array, indices: jax.Array, buffer: LevelBuffer) -> ProposeInfo:
        step_type = jnp.asarray(step_type, jnp.int32)
        train = jnp.where(step_type == REPLAY, True, (step_type == NEW) & self.train_on_new)
        # Only a replayed task's stored best return is about that task (a child's parent's
        # best return says nothing of the child).
        stored = buffer.max_returns[jnp.maximum(indices, 0)]
        unknown = jnp.full(self.num_levels, -jnp.inf, jnp.float32)
        max_returns = jnp.where((indices >= 0) & (step_type == REPLAY), stored, unknown)
        return ProposeInfo(
            step_type=step_type,
            train=train,
            indices=indices.astype(jnp.int32),
            max_returns=max_returns,
        )

    # --- observe ------------------------------------------------------------------------------

    def observe(
        self,
        state: PLRState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> PLRState:
        """REPLAY rescores the replayed slots; every other kind offers its tasks to the buffer.
        Invalid scores change no score; `max_returns [n]` are kept per task for MaxMC."""
        hp = state.hparams

        def rescore(buffer: LevelBuffer) -> LevelBuffer:
            return level_buffer.update_scores(
                buffer, info.indices, score.score, score.valid, max_returns
            )

        def offer(buffer: LevelBuffer) -> LevelBuffer:
            buffer, _ = level_buffer.insert(
                buffer,
                tasks,
                score.score,
                score.valid,
                hp.temperature,
                hp.staleness_coef,
                self.top_k,
                max_returns,
                self.config.duplicate_check,
            )
            return buffer

        replayed = (info.step_type == REPLAY).astype(jnp.int32)
        buffer = run_batch.switch(replayed, [offer, rescore], state.buffer)
        return state.replace(buffer=buffer, mean_score=mean_valid_score(score))

    # --- reporting ----------------------------------------------------------------------------

    def stats(self, state: PLRState) -> CurriculumStats:
        buffer = state.buffer
        fill = jnp.asarray(buffer.size / buffer.capacity, jnp.float32)
        return CurriculumStats(buffer_fill=fill, mean_score=state.mean_score)

    def top_tasks(self, state: PLRState, k: int) -> tuple[list[float], Any]:
        """The `k` highest-scoring filled buffer tasks of one run (host side): their scores,
        best first, and the tasks (leaves `[<=k, ...]`)."""
        buffer = state.buffer
        scores, filled = np.asarray(buffer.scores), np.asarray(buffer.filled)
        order = [i for i in np.argsort(-scores, kind="stable") if filled[i]]
        chosen = np.asarray(order[:k], np.int32)
        return (
            [float(scores[i]) for i in chosen],
            jax.tree.map(lambda x: np.asarray(x)[chosen], buffer.levels),
        )


@register_curriculum
class PLR(BufferedCurriculum):
    """PLR (Jiang et al. 2021): the learner trains on NEW and on REPLAY tasks."""

    name = "plr"
    Config = PLRConfig
    train_on_new = True


@register_curriculum
class RobustPLR(BufferedCurriculum):
    """Robust PLR, PLR-perp (Jiang et al. 2021b): NEW tasks are only scored, never trained on."""

    name = "robust_plr"
    Config = RobustPLRConfig
    train_on_new = False


__all__ = [
    "PLR",
    "PRIORITIZATIONS",
    "BufferedCurriculum",
    "PLRConfig",
    "PLRHParams",
    "PLRState",
    "RobustPLR",
    "RobustPLRConfig",
]
