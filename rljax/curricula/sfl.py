"""Sampling For Learnability (SFL): train on the tasks the agent solves only sometimes.

Rutherford, Beukman, Willi, Lacerda, Hawes and Foerster 2024, "No Regrets: Investigating and
Improving Regret Approximations for Curriculum Discovery" (NeurIPS), sec. 4, Alg. 1; the
paper's Minigrid settings are in PAPERS.md (every 100 PPO updates: 25,000 random levels
rolled out, the 1,000 most learnable kept; each update trains on 128 kept levels and 128
fresh random ones). A cycle of this curriculum is

    selection (`selection_steps` = candidates * rollouts_per_level / num_levels steps):
        tasks = fresh random candidates, each on `rollouts_per_level` envs
        roll out with the current policy, no gradient step
        p = success rate of each candidate over its envs' finished episodes
        keep the `kept` candidates of this cycle with the highest learnability p (1 - p)
        (only those with p inside `success_band`, by default all)
    training (`refresh_every` steps):
        tasks = `buffer_share` of the envs from the kept set (uniformly), the rest fresh random
        roll out and take a gradient step

Selection rollouts are ordinary rollouts of the loop, so they are counted in its env steps
(the paper counts them too); they are its NEW steps (no gradient), training steps its REPLAY
steps. The kept set is rebuilt from scratch every cycle, as in the paper. A run starts with a
selection phase.

The defaults are scaled to rljax's maze batch (16 envs of 256 steps; a 250-step episode, so
4 envs per candidate give about 4 episodes where the paper rolls each level out for 2,000
steps): 1,024 candidates and 256 kept per cycle of 64 training steps, so selection uses 4 env
steps for every training step (the paper: about 8).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax.curricula.curriculum import (
    NEW,
    REPLAY,
    Curriculum,
    CurriculumStats,
    ProposeInfo,
    no_score,
    register_curriculum,
)
from rljax.curricula.dr import sample_tasks
from rljax.curricula.scores import LevelScore


@dataclass(frozen=True)
class SFLConfig:
    """SFL's settings (all static: they are shapes and schedule lengths)."""

    candidates: int = 1024
    """Random tasks rolled out per selection phase (the paper: 25,000)."""
    rollouts_per_level: int = 4
    """Envs (each a rollout of the learner's `num_steps`) per candidate."""
    kept: int = 256
    """Most learnable candidates kept per cycle (the paper: 1,000)."""
    refresh_every: int = 64
    """Training steps between selection phases (the paper: 100 PPO updates)."""
    buffer_share: float = 0.5
    """Share of a training batch's envs given kept tasks; the rest are fresh random ones."""
    success_band: tuple[float, float] = (0.0, 1.0)
    """Keep only candidates whose success rate p lies in [low, high] (the XLand task filter,
    Open Ended Learning Team 2021, sec. 5: a task neither mastered nor hopeless); candidates
    outside are never kept, however few are inside. The default keeps every candidate."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "candidates", "rollouts_per_level", "kept", "refresh_every")
        cfg.check_unit_interval(self, "buffer_share")
        low, high = self.success_band
        if not 0.0 <= low <= high <= 1.0:
            cfg.fail(
                self,
                "success_band",
                f"= ({low}, {high}) is not a band inside [0, 1]",
                "pass 0 <= low <= high <= 1, e.g. 0.1 0.9",
            )
        if self.kept > self.candidates:
            cfg.fail(
                self,
                "kept",
                f"= {self.kept} exceeds the {self.candidates} candidates of a cycle",
                f"pass kept <= {self.candidates}",
            )

    def replace(self, **changes: Any) -> SFLConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> None:
        """No traced coefficients."""
        return None


@struct.dataclass
class SFLState:
    kept: Any
    """Pytree of tasks, leaves `[kept, ...]`: this cycle's most learnable candidates so far."""
    learnability: jax.Array
    """`[kept]` float32: their p (1 - p); -inf in empty slots."""
    step: jax.Array
    """int32 scalar: curriculum steps taken (the phase is `step % cycle`)."""
    mean_score: jax.Array
    """float32 scalar: mean learnability of the last selection batch (NaN before one)."""


@register_curriculum
class SFL(Curriculum):
    name = "sfl"
    Config = SFLConfig
    score_function = "success_rate"
    """SFL ranks by learnability of success rates pooled over each candidate's envs."""

    def __init__(self, config: SFLConfig, task_space: Any, num_levels: int):
        super().__init__(config, task_space, num_levels)
        r = config.rollouts_per_level
        if num_levels % r or config.candidates % (num_levels // r or 1):
            cfg.fail(
                config,
                "candidates",
                f"= {config.candidates} with rollouts_per_level = {r} does not split into "
                f"whole batches of {num_levels} envs",
                f"pass rollouts_per_level dividing {num_levels} and candidates a multiple of "
                f"{max(num_levels // r, 1)}",
            )
        self.per_step = num_levels // r
        """Candidates per selection step."""
        self.selection_steps = config.candidates // self.per_step
        self.cycle = self.selection_steps + config.refresh_every
        self.from_buffer = round(config.buffer_share * num_levels)

    def init(self, key: jax.Array, example_task: Any, hparams: Any = None) -> SFLState:
        del key, hparams
        kept = jax.tree.map(
            lambda x: jnp.zeros((self.config.kept, *np.shape(x)), jnp.asarray(x).dtype),
            example_task,
        )
        return SFLState(
            kept=kept,
            learnability=jnp.full(self.config.kept, -jnp.inf, jnp.float32),
            step=jnp.zeros((), jnp.int32),
            mean_score=no_score(),
        )

    def selecting(self, state: SFLState) -> jax.Array:
        return state.step % self.cycle < self.selection_steps

    def propose(self, state: SFLState, key: jax.Array) -> tuple[SFLState, Any, ProposeInfo]:
        n, r = self.num_levels, self.config.rollouts_per_level
        candidate_key, fresh_key, pick_key = jax.random.split(key, 3)
        selecting = self.selecting(state)
        candidates = sample_tasks(self.task_space.sample, candidate_key, self.per_step)
        candidates = jax.tree.map(lambda x: jnp.repeat(x, r, axis=0), candidates)
        fresh = sample_tasks(self.task_space.sample, fresh_key, n)
        filled = jnp.isfinite(state.learnability)
        p = jnp.where(filled, 1.0, 0.0) / jnp.maximum(filled.sum(), 1)
        picks = jax.random.choice(pick_key, self.config.kept, (n,), p=p)
        from_buffer = (jnp.arange(n) < self.from_buffer) & filled.any()
        mixed = jax.tree.map(
            lambda kept, new: jnp.where(
                from_buffer.reshape((n,) + (1,) * (new.ndim - 1)), kept[picks], new
            ),
            state.kept,
            fresh,
        )
        tasks = jax.tree.map(lambda a, b: jnp.where(selecting, a, b), candidates, mixed)
        info = ProposeInfo(
            step_type=jnp.where(selecting, NEW, REPLAY).astype(jnp.int32),
            train=~selecting,
            indices=jnp.where(selecting | ~from_buffer, -1, picks).astype(jnp.int32),
            max_returns=jnp.full(n, -jnp.inf, jnp.float32),
        )
        # A new cycle's selection starts from an empty kept set.
        new_cycle = state.step % self.cycle == 0
        learnability = jnp.where(new_cycle, -jnp.inf, state.learnability)
        return state.replace(learnability=learnability), tasks, info

    def observe(
        self,
        state: SFLState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> SFLState:
        """`score.score [n]` are success rates (the `success_rate` score)."""
        del info, max_returns
        r = self.config.rollouts_per_level
        rate = jnp.where(score.valid, score.score, 0.0).reshape(self.per_step, r)
        count = score.valid.reshape(self.per_step, r).sum(axis=1)
        p = rate.sum(axis=1) / jnp.maximum(count, 1)
        low, high = self.config.success_band
        in_band = (p >= low) & (p <= high)
        learn = jnp.where((count > 0) & in_band, p * (1.0 - p), -jnp.inf)
        candidates = jax.tree.map(lambda x: x[::r], tasks)
        merged = jnp.concatenate([state.learnability, learn])
        best, order = jax.lax.top_k(merged, self.config.kept)
        kept = jax.tree.map(
            lambda old, new: jnp.concatenate([old, new])[order], state.kept, candidates
        )
        measured = count > 0
        batch_mean = jnp.where(
            measured.any(),
            jnp.where(measured, learn, 0.0).sum() / jnp.maximum(measured.sum(), 1),
            jnp.nan,
        )
        selecting = self.selecting(state)
        selected = state.replace(kept=kept, learnability=best, mean_score=batch_mean)
        state = jax.tree.map(lambda a, b: jnp.where(selecting, a, b), selected, state)
        return state.replace(step=state.step + 1)

    def stats(self, state: SFLState) -> CurriculumStats:
        fill = jnp.isfinite(state.learnability).mean(dtype=jnp.float32)
        return CurriculumStats(fill, state.mean_score)

    def top_tasks(self, state: SFLState, k: int) -> tuple[list[float], Any]:
        """Host side: the `k` most learnable kept tasks and their p (1 - p)."""
        scores = np.asarray(state.learnability)
        order = [i for i in np.argsort(-scores, kind="stable")[:k] if np.isfinite(scores[i])]
        if not order:
            return [], None
        return [float(scores[i]) for i in order], jax.tree.map(
            lambda x: np.asarray(x)[np.asarray(order)], state.kept
        )


__all__ = ["SFL", "SFLConfig", "SFLState"]
