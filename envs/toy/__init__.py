"""The learnability toy of the ALP-GMM paper: a simulated student over a parameter hypercube.

Portelas et al. 2019, "Teacher algorithms for curriculum learning of Deep RL in continuously
parameterized environments", sec. 5.1 (the facts below are those of its public code,
flowersteam/teachDeepRL `toy_env/toy_env.py`; this is a JAX re-implementation):

  * the unit cube `[0, 1]^dims` is split into `cells` bins per dimension;
  * an episode on a task raises the competence of the task's cell by 1 (capped at 100) if the
    cell is the origin cell or one of its lower neighbours (each index equal or one less, not
    all equal) has competence >= 75; otherwise nothing is learned;
  * the episode's reward is the cell's competence / 100, after the update;
  * the score is the share of cells with competence > 75 ("mastered").
A task may have `useless_dims` extra coordinates that the student ignores: a test of a
teacher's robustness to irrelevant parameters. Only a teacher that finds the frontier of
unlocked cells makes progress; uniform sampling wastes most episodes on locked cells.

`LearnabilityToy` offers what a curriculum needs of a task space (`box`, `sample`,
`initial`, `success`, `return_range`; no env: the student is simulated), and
`run_teacher(curriculum, toy, key, num_episodes)` drives any curriculum on it as one compiled
scan, `num_levels` episodes per proposal, recording the mastered share along the way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax.curricula.scores import LevelScore
from rljax.task_space import ParamBox


@dataclass(frozen=True)
class ToyConfig:
    """The toy's grid (defaults: the paper's 2-D, 10x10 cells, 100 episodes to master)."""

    dims: int = 2
    """Meaningful dimensions (static)."""
    cells: int = 10
    """Cells per meaningful dimension (static)."""
    useless_dims: int = 0
    """Extra task coordinates the student ignores (static)."""
    max_competence: int = 100
    """Competence cap of a cell; a cell is mastered above 3/4 of it."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "dims", "cells", "max_competence")
        cfg.check_non_negative(self, "useless_dims")


@struct.dataclass
class ToyState:
    competence: jax.Array
    """`[cells] * dims` int32."""


class LearnabilityToy:
    """The toy student (see the module docstring); tasks are `[dims + useless_dims]` float32."""

    adversary = None
    mutate = None
    env_name = None
    return_range = (0.0, 1.0)

    def __init__(self, config: ToyConfig = ToyConfig()):
        self.config = config
        dim = config.dims + config.useless_dims
        names = tuple(f"x{i}" for i in range(config.dims)) + tuple(
            f"useless{i}" for i in range(config.useless_dims)
        )
        self.box = ParamBox(jnp.zeros(dim, jnp.float32), jnp.ones(dim, jnp.float32), names)
        offsets = [o for o in itertools.product((0, -1), repeat=config.dims) if any(o)]
        self.lower_offsets = jnp.asarray(np.array(offsets, np.int32).reshape(-1, config.dims))
        """`[2^dims - 1, dims]`: the lower neighbours' index offsets."""
        self.mastery = 3 * config.max_competence / 4

    def init(self) -> ToyState:
        c = self.config
        return ToyState(jnp.zeros((c.cells,) * c.dims, jnp.int32))

    def cell(self, task: jax.Array) -> jax.Array:
        """`[dims]` int32: the cell of a task (the upper edge 1.0 belongs to the last cell)."""
        c = self.config
        return jnp.clip(jnp.floor(task[: c.dims] * c.cells), 0, c.cells - 1).astype(jnp.int32)

    def episode(self, state: ToyState, task: jax.Array) -> tuple[ToyState, jax.Array]:
        """One episode on `task [D]`: `(state, reward)`."""
        idx = self.cell(task)
        neighbours = jnp.maximum(idx[None] + self.lower_offsets, 0)
        is_self = (neighbours == idx[None]).all(-1)
        comp = state.competence[tuple(neighbours.T)]
        unlocked = (idx == 0).all() | ((comp >= self.mastery) & ~is_self).any()
        current = state.competence[tuple(idx)]
        new = jnp.where(unlocked, jnp.minimum(current + 1, self.config.max_competence), current)
        competence = state.competence.at[tuple(idx)].set(new)
        return ToyState(competence), new / self.config.max_competence

    def episodes(self, state: ToyState, tasks: jax.Array) -> tuple[ToyState, jax.Array]:
        """Episodes on `tasks [n, D]` one after another: `(state, rewards [n])`."""
        return jax.lax.scan(self.episode, state, tasks)

    def mastered(self, state: ToyState) -> jax.Array:
        """float32 scalar: the share of cells with competence above 75% of the cap."""
        return (state.competence > self.mastery).mean(dtype=jnp.float32)

    # --- what a curriculum reads of a task space ----------------------------------------------

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, self.box.low.shape, jnp.float32)

    def initial(self, key: jax.Array) -> jax.Array:
        del key
        return jnp.zeros_like(self.box.low)

    def heldout(self) -> dict[str, jax.Array]:
        return {}

    def success(self, returns: jax.Array) -> jax.Array:
        return returns >= 0.75


class TeacherRun(NamedTuple):
    mastered: jax.Array
    """`[num_records]` float32: the mastered share after every `record_every` episodes."""
    tasks: jax.Array
    """`[num_proposals, num_levels, D]`: every task proposed."""
    student: ToyState
    curriculum: Any


def run_teacher(
    curriculum: Any,
    toy: LearnabilityToy,
    key: jax.Array,
    num_episodes: int,
    record_every: int = 1000,
) -> TeacherRun:
    """`num_episodes` toy episodes on the tasks `curriculum` proposes (`num_levels` a
    proposal; each episode's reward is the task's score), as one `lax.scan`; jit it, and map
    it over keys for seeds (`jax.lax.map` keeps a teacher's periodic refit a real branch,
    where `vmap` would compute it at every step)."""
    n = curriculum.num_levels
    if num_episodes % n or record_every % n:
        raise cfg.ConfigError(
            f"run_teacher: num_episodes={num_episodes} and record_every={record_every} must be "
            f"multiples of the curriculum's num_levels={n}. Fix: pass multiples of {n}."
        )
    init_key, key = jax.random.split(key)
    cstate = curriculum.init(init_key, toy.sample(init_key))

    def step(carry, step_key):
        cstate, student = carry
        cstate, tasks, info = curriculum.propose(cstate, step_key)
        student, rewards = toy.episodes(student, tasks)
        score = LevelScore(rewards.astype(jnp.float32), jnp.ones(n, bool))
        cstate = curriculum.observe(cstate, tasks, info, score, jnp.full(n, -jnp.inf))
        return (cstate, student), (tasks, toy.mastered(student))

    keys = jax.random.split(key, num_episodes // n)
    (cstate, student), (tasks, mastered) = jax.lax.scan(step, (cstate, toy.init()), keys)
    per = record_every // n
    return TeacherRun(mastered[per - 1 :: per], tasks, student, cstate)


__all__ = ["LearnabilityToy", "TeacherRun", "ToyConfig", "ToyState", "run_teacher"]
