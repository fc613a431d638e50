"""Curricula over levels: DR, PLR, robust PLR (PLR-perp), ACCEL and PAIRED's bookkeeping.

The interface is three pure functions over a typed state, driven by the learner's loop:

    cstate = curriculum.init(key, example_level)
    cstate, levels, info = curriculum.propose(cstate, key)        # levels [num_levels, ...]
    ... reset envs to `levels`, collect a trajectory, score it (rljax.curricula.scores),
    ... take a gradient step where `info.train` (and only there) ...
    cstate = curriculum.observe(cstate, levels, info, scores, valid, max_returns)

The batch size `num_levels` is a static shape fixed in `CurriculumConfig` rather than an
argument of `propose`: the buffer capacity must be checked against it before anything
compiles, and ACCEL keeps the batch of replayed parents in the state.

Every step is one of three kinds, drawn inside the compiled step (`info.step_type`): NEW
levels from the generator, a REPLAY batch from the level buffer, or MUTATE (ACCEL's edited
children of the previous replay batch). A whole batch shares the kind, as in PLR, and the
kind is a traced value that selects a `lax.switch` branch, so one compiled training step
serves them all.

| method       | NEW levels        | REPLAY         | MUTATE          | paper                    |
|--------------|-------------------|----------------|-----------------|--------------------------|
| `dr`         | train             | never          | never           | domain randomisation     |
| `plr`        | train, insert     | train, rescore | never           | Jiang et al. 2021, sec. 3|
| `robust_plr` | no grad, insert   | train, rescore | never           | Jiang et al. 2021b (PLR⊥)|
| `accel`      | no grad, insert   | train, rescore | no grad, insert | Parker-Holder et al. 2022|
| `paired`     | train (adversary) | never          | never           | Dennis et al. 2020, sec.4|

Replay happens with probability `replay_prob` once the buffer is filled to `min_fill_ratio`.
ACCEL (Parker-Holder et al. 2022, "Evolving Curricula with Regret-Based Environment Design",
Alg. 1) edits the levels it just replayed and trained on, scores the children without a
gradient step and offers them to the buffer; here that second half of Alg. 1's replay branch
is the next step (MUTATE), so each step is one rollout of `num_levels` levels.

Environment steps and gradient updates are counted apart (`CurriculumCounters`): robust PLR
and ACCEL spend rollouts on levels they never train on, so equal env steps are not equal
learning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax.curricula import level_buffer
from rljax.curricula.level_buffer import LevelBuffer

METHODS = ("dr", "plr", "robust_plr", "accel", "paired")
BUFFERED = ("plr", "robust_plr", "accel")
PRIORITIZATIONS = ("rank", "topk")

NEW, REPLAY, MUTATE = 0, 1, 2
"""Values of `ProposeInfo.step_type`."""


@dataclass(frozen=True)
class CurriculumConfig:
    """Static structure and coefficients of a curriculum. Defaults are common maze settings
    for robust PLR/ACCEL (check the papers' appendices before claiming a reproduction)."""

    method: str = "robust_plr"
    """One of dr, plr, robust_plr, accel, paired."""
    num_levels: int = 16
    """Levels per proposal: the env batch of one rollout (static: a shape)."""
    capacity: int = 4000
    """Level buffer size (PLR family; static: a shape)."""
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
    num_edits: int = 5
    """ACCEL: random edits per child level (static)."""
    steps_per_level: int = 256
    """Env steps one rollout takes on each proposed level (for the env-step counter)."""
    updates_per_train_step: int = 1
    """Gradient updates the learner takes on a step that trains, e.g. epochs * minibatches."""

    def __post_init__(self) -> None:
        cfg.check_choice(self, "method", METHODS)
        cfg.check_choice(self, "prioritization", PRIORITIZATIONS)
        cfg.check_positive(self, "num_levels", "capacity", "temperature", "top_k")
        cfg.check_positive(self, "num_edits", "steps_per_level")
        cfg.check_non_negative(self, "updates_per_train_step")
        cfg.check_unit_interval(self, "replay_prob", "min_fill_ratio", "staleness_coef")
        if self.method in BUFFERED and self.capacity < self.num_levels:
            cfg.fail(
                self,
                "capacity",
                f"is smaller than the batch of levels num_levels={self.num_levels}",
                f"pass capacity >= {self.num_levels} or fewer num_levels",
            )

    def replace(self, **changes: Any) -> CurriculumConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> CurriculumHParams:
        """The traced coefficients, as a pytree that vmaps over runs."""
        return cfg.traced_coefficients(self, CurriculumHParams)


@struct.dataclass
class CurriculumHParams:
    """Traced coefficients; scalars (or `[runs]` under vmap)."""

    replay_prob: jax.Array
    min_fill_ratio: jax.Array
    temperature: jax.Array
    staleness_coef: jax.Array


@struct.dataclass
class CurriculumCounters:
    """What a curriculum has spent, int32 scalars. `env_steps` counts every rollout step on a
    proposed level, trained on or not; `grad_updates` only those of steps that train."""

    env_steps: jax.Array
    grad_updates: jax.Array
    new_steps: jax.Array
    replay_steps: jax.Array
    mutate_steps: jax.Array


@struct.dataclass
class ProposeInfo:
    """What `propose` tells the learner and `observe` about one batch; flags are `[n]`."""

    step_type: jax.Array
    """int32 scalar: NEW, REPLAY or MUTATE."""
    is_new: jax.Array
    is_replay: jax.Array
    is_mutated: jax.Array
    train: jax.Array
    """Whether the learner takes a gradient step on the level's trajectory."""
    indices: jax.Array
    """int32: buffer slot of a replayed level, the parent's slot of a child, -1 if new."""
    max_returns: jax.Array
    """float32: best return ever achieved on the level (MaxMC's R_max); -inf if unknown."""


@struct.dataclass
class CState:
    buffer: LevelBuffer | None
    """The level buffer (PLR family); None for dr and paired."""
    counters: CurriculumCounters
    hparams: CurriculumHParams
    last_step: jax.Array
    """int32 scalar, the previous step's type (ACCEL mutates after a replay)."""
    parents: jax.Array
    """`[num_levels]` int32, buffer slots of the last replay batch (ACCEL's parents)."""
    mean_score: jax.Array
    """float32 scalar, mean valid score of the last observed batch (NaN if none valid); for
    PAIRED the mean regret, the adversary's objective."""


SampleLevel = Callable[[jax.Array], Any]
MutateLevel = Callable[[jax.Array, Any, int], Any]


class Curriculum:
    """A curriculum as pure functions over `CState`; the instance holds static structure.

    `sample_level(key) -> level` generates a fresh level (DR's distribution, or ACCEL's
    simple starting levels); `mutate_level(key, level, num_edits) -> level` edits one (ACCEL).
    Both must return the dtypes of the example level, or the `switch` over step kinds fails
    to trace (rather than compiling twice, as a dtype flip would elsewhere).

    PAIRED (Dennis et al. 2020, sec. 4, Alg. 1) here is only the curriculum side: `propose`
    passes the adversary's levels through as NEW and trainable, `scores.paired_regret` gives
    the regret estimate, and `observe` counts the steps of both players and keeps the mean
    regret. The training loop (adversary policy, protagonist and antagonist rollouts, the
    three PPO updates) is `rljax.curricula.paired.PAIRED`, which keeps its own counters,
    since it also counts the adversary's steps and three agents' gradient updates.
    """

    def __init__(
        self,
        config: CurriculumConfig,
        sample_level: SampleLevel | None = None,
        mutate_level: MutateLevel | None = None,
    ):
        if config.method != "paired" and sample_level is None:
            cfg.fail(config, "method", "needs a level generator", "pass sample_level(key)")
        if config.method == "accel" and mutate_level is None:
            cfg.fail(config, "method", "needs a level editor", "pass mutate_level(key, level, n)")
        self.config = config
        self.sample_level = sample_level
        self.mutate_level = mutate_level
        self.top_k = config.top_k if config.prioritization == "topk" else None
        self.buffered = config.method in BUFFERED
        self.train_on_new = config.method in ("dr", "plr", "paired")

    # --- the interface --------------------------------------------------------------------

    def init(
        self, key: jax.Array, example_level: Any, hparams: CurriculumHParams | None = None
    ) -> CState:
        """An empty curriculum for levels shaped like `example_level` (no batch axis).
        `key` is unused by these methods; the signature is shared with stateful teachers."""
        del key
        zero = jnp.zeros((), jnp.int32)
        return CState(
            buffer=level_buffer.init(example_level, self.config.capacity)
            if self.buffered
            else None,
            counters=CurriculumCounters(zero, zero, zero, zero, zero),
            hparams=self.config.hparams() if hparams is None else hparams,
            last_step=jnp.full((), NEW, jnp.int32),
            parents=jnp.zeros(self.config.num_levels, jnp.int32),
            mean_score=jnp.full((), jnp.nan, jnp.float32),
        )

    def propose(
        self, cstate: CState, key: jax.Array, new_levels: Any | None = None
    ) -> tuple[CState, Any, ProposeInfo]:
        """The next batch of `num_levels` levels and what to do with them.

        `new_levels` (leaves `[num_levels, ...]`) replace the generator's levels on a NEW
        step; PAIRED requires them: they are the adversary's levels.
        """
        n = self.config.num_levels
        if self.config.method == "paired" and new_levels is None:
            raise ValueError(
                "Curriculum(method='paired').propose needs new_levels: the batch of levels "
                "the adversary built (leaves [num_levels, ...])"
            )
        coin_key, branch_key = jax.random.split(key)

        def generate() -> Any:
            if new_levels is not None:
                return new_levels
            return jax.vmap(self.sample_level)(jax.random.split(branch_key, n))

        if not self.buffered:
            return cstate, generate(), self._info(jnp.int32(NEW), jnp.full(n, -1), None)

        hp, buffer = cstate.hparams, cstate.buffer
        filled_enough = (buffer.size > 0) & (buffer.size >= hp.min_fill_ratio * buffer.capacity)
        replay = filled_enough & (jax.random.uniform(coin_key) < hp.replay_prob)
        step_type = jnp.where(replay, REPLAY, NEW)
        if self.config.method == "accel":
            step_type = jnp.where(cstate.last_step == REPLAY, MUTATE, step_type)

        # Generating inside the branch skips it on replay steps (outside vmap, where a
        # `switch` runs one branch).
        def new(buffer):
            return buffer, generate(), jnp.full(n, -1, jnp.int32)

        def replay_batch(buffer):
            buffer, indices, levels = level_buffer.sample_replay(
                buffer, branch_key, n, hp.temperature, hp.staleness_coef, self.top_k
            )
            return buffer, levels, indices

        def mutate(buffer):
            parents = jax.tree.map(lambda x: x[cstate.parents], buffer.levels)
            edit = lambda k, level: self.mutate_level(k, level, self.config.num_edits)
            children = jax.vmap(edit)(jax.random.split(branch_key, n), parents)
            return buffer, children, cstate.parents

        branches = [new, replay_batch] + ([mutate] if self.config.method == "accel" else [])
        buffer, levels, indices = jax.lax.switch(step_type, branches, buffer)
        info = self._info(step_type, indices, buffer)
        return cstate.replace(buffer=buffer), levels, info

    def observe(
        self,
        cstate: CState,
        levels: Any,
        info: ProposeInfo,
        scores: jax.Array,
        valid: jax.Array,
        max_returns: jax.Array | None = None,
    ) -> CState:
        """Record the scores `[n]` of the proposed batch (see `rljax.curricula.scores`).

        REPLAY rescores the replayed slots; NEW (robust PLR, PLR, ACCEL) and MUTATE (ACCEL)
        offer the levels to the buffer. `max_returns [n]` are the best finished-episode returns
        of this rollout (`scores.episode_returns(...).max`), kept per level for MaxMC.
        Invalid scores change no score. Counters advance by what the step spent.
        """
        config, hp = self.config, cstate.hparams
        buffer = cstate.buffer
        if self.buffered:

            def rescore(buffer):
                return level_buffer.update_scores(buffer, info.indices, scores, valid, max_returns)

            def offer(buffer):
                buffer, _ = level_buffer.insert(
                    buffer,
                    levels,
                    scores,
                    valid,
                    hp.temperature,
                    hp.staleness_coef,
                    self.top_k,
                    max_returns,
                    config.duplicate_check,
                )
                return buffer

            buffer = jax.lax.cond(info.step_type == REPLAY, rescore, offer, buffer)

        c = cstate.counters
        trains = info.train.any()
        # PAIRED plays every level with both the protagonist and the antagonist.
        players = 2 if config.method == "paired" else 1
        counters = CurriculumCounters(
            env_steps=c.env_steps + players * config.num_levels * config.steps_per_level,
            grad_updates=c.grad_updates + jnp.where(trains, config.updates_per_train_step, 0),
            new_steps=c.new_steps + (info.step_type == NEW),
            replay_steps=c.replay_steps + (info.step_type == REPLAY),
            mutate_steps=c.mutate_steps + (info.step_type == MUTATE),
        )
        num_valid = valid.sum()
        mean_score = jnp.where(
            num_valid > 0, jnp.where(valid, scores, 0.0).sum() / jnp.maximum(num_valid, 1), jnp.nan
        )
        return cstate.replace(
            buffer=buffer,
            counters=counters,
            last_step=info.step_type.astype(jnp.int32),
            parents=jnp.where(info.step_type == REPLAY, info.indices, cstate.parents),
            mean_score=mean_score.astype(jnp.float32),
        )

    # --- pieces ---------------------------------------------------------------------------

    def _info(
        self, step_type: jax.Array, indices: jax.Array, buffer: LevelBuffer | None
    ) -> ProposeInfo:
        n = self.config.num_levels
        step_type = jnp.asarray(step_type, jnp.int32)
        train = jnp.where(step_type == REPLAY, True, (step_type == NEW) & self.train_on_new)
        known = indices >= 0
        max_returns = jnp.full(n, -jnp.inf, jnp.float32)
        if buffer is not None:
            # A child has not been played yet: its parent's best return says nothing of it.
            stored = buffer.max_returns[jnp.maximum(indices, 0)]
            max_returns = jnp.where(known & (step_type == REPLAY), stored, max_returns)
        flag = lambda kind: jnp.full(n, step_type == kind)
        return ProposeInfo(
            step_type=step_type,
            is_new=flag(NEW),
            is_replay=flag(REPLAY),
            is_mutated=flag(MUTATE),
            train=jnp.full(n, train),
            indices=indices.astype(jnp.int32),
            max_returns=max_returns,
        )
