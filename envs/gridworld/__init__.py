"""LPG's object gridworlds (Oh et al. 2020, "Discovering Reinforcement Learning
Algorithms", NeurIPS) with levels, as GROOVE meta-trains on them (Jackson et al. 2023,
"Discovering General Reinforcement Learning Algorithms with Adversarial Environment
Design", NeurIPS):

    level.py       `GridLevel` (fixed padded shapes, canonical dtypes), movement, flood
                   fill, validation (`check_level`, `is_well_formed`), `make_level`
    generators.py  `sample_level` (GROOVE's level space) and `mutate_level` (ACCEL's editor)
    named.py       the LPG paper's gridworlds as named levels (dense, sparse, long, longer,
                   long_dense and the random set rand_dense, ...)
    env.py         `GridworldEnv`: gymnax-1.0 steps with `reset_to`, auto-reset onto the same
                   level, tabular or symbolic observations
    optimal.py     `optimal_return`: finite-horizon value iteration in JAX (jit, vmap)
    render.py      `render(level or state)` -> uint8 RGB
    task_space.py  `GridworldConfig`, `GridworldTaskSpace` (registered as `"gridworld"`)

Importing this package registers `Gridworld-tabular` and `Gridworld-symbolic` with
`rljax.make` (keyword arguments override `GridworldParams`; `reset` samples a level of
GROOVE's space), one env per named level, `Gridworld-<observation>-<name>` (e.g.
`Gridworld-tabular-dense`: every episode on that level, its time limit as
`max_steps_in_episode`), so a plain training run picks a named level by its config's `env`,
and the `"gridworld"` task space.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.gridworld.env import (
    NUM_CHANNELS,
    OBSERVATIONS,
    TABULAR_SIZE,
    GridworldEnv,
    GridworldParams,
    GridworldState,
    symbolic_observation,
    tabular_index,
    tabular_observation,
)
from envs.gridworld.generators import EDITS, mutate_level, sample_level
from envs.gridworld.level import (
    MAX_EPISODE_STEPS,
    MAX_OBJECTS,
    MAX_SIZE,
    MAX_TYPES,
    NUM_ACTIONS,
    GridLevel,
    check_level,
    check_level_structure,
    is_well_formed,
    make_level,
    move,
    reachable,
    stack_levels,
)
from envs.gridworld.named import RANDOM_NAMES, TABULAR_NAMES, named_levels
from envs.gridworld.optimal import optimal_return, value_table
from envs.gridworld.render import render
from rljax.environment import register


def _factory(observation: str):
    def build(**kwargs):
        return GridworldEnv(observation), GridworldParams(**kwargs)

    return build


class NamedLevelEnv(GridworldEnv):
    """`GridworldEnv` whose `reset` starts every episode on one fixed `level` (a named level)
    rather than a sampled one; `step` already auto-resets onto the same level."""

    def __init__(self, observation: str, level: GridLevel):
        super().__init__(observation)
        self.level = jax.tree.map(jnp.asarray, level)

    def reset(self, key: jax.Array, params: GridworldParams) -> tuple[jax.Array, GridworldState]:
        return self.reset_to(key, self.level, params)


def _named_factory(observation: str, name: str):
    def build(**kwargs):
        level = named_levels((name,))[name]
        params = {"max_steps_in_episode": int(level.max_steps), **kwargs}
        return NamedLevelEnv(observation, level), GridworldParams(**params)

    return build


for _observation in OBSERVATIONS:
    register(f"Gridworld-{_observation}", _factory(_observation))
    for _name in TABULAR_NAMES + RANDOM_NAMES:
        register(f"Gridworld-{_observation}-{_name}", _named_factory(_observation, _name))

from envs.gridworld.task_space import (  # noqa: E402  (registers "gridworld")
    GridworldConfig,
    GridworldTaskSpace,
)

__all__ = [
    "EDITS",
    "MAX_EPISODE_STEPS",
    "MAX_OBJECTS",
    "MAX_SIZE",
    "MAX_TYPES",
    "NUM_ACTIONS",
    "NUM_CHANNELS",
    "OBSERVATIONS",
    "RANDOM_NAMES",
    "TABULAR_NAMES",
    "TABULAR_SIZE",
    "GridLevel",
    "GridworldConfig",
    "GridworldEnv",
    "GridworldParams",
    "GridworldState",
    "GridworldTaskSpace",
    "NamedLevelEnv",
    "check_level",
    "check_level_structure",
    "is_well_formed",
    "make_level",
    "move",
    "mutate_level",
    "named_levels",
    "optimal_return",
    "reachable",
    "render",
    "sample_level",
    "stack_levels",
    "symbolic_observation",
    "tabular_index",
    "tabular_observation",
    "value_table",
]
