"""Breadth-first search on a level, as a pure JAX function (no Python loop over cells).

Distances count forward moves between 4-connected free cells (turns are free), which is the
usual shortest-path measure of maze difficulty in the UED literature. BFS runs as a wavefront
from the goal: each `lax.while_loop` iteration relaxes every cell against its four
neighbours at once, and cells first reached at iteration k are exactly those at distance k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.maze.level import Level

UNREACHABLE = -1


def distance_map(level: Level) -> jax.Array:
    """int32 `[H, W]`: moves from each cell to the goal; `UNREACHABLE` (-1) for walls and
    cells cut off from the goal. vmap it over a batch of levels."""
    height, width = level.walls.shape
    inf = height * width  # longer than any simple path
    free = ~level.walls.at[level.goal_pos[0], level.goal_pos[1]].set(False)
    dist = jnp.full((height, width), inf, jnp.int32).at[level.goal_pos[0], level.goal_pos[1]].set(0)

    def relax(carry):
        dist, _ = carry
        padded = jnp.pad(dist, 1, constant_values=inf)
        neighbours = jnp.minimum(
            jnp.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]),
            jnp.minimum(padded[1:-1, :-2], padded[1:-1, 2:]),
        )
        new = jnp.where(free, jnp.minimum(dist, neighbours + 1), inf)
        return new, (new != dist).any()

    dist, _ = jax.lax.while_loop(lambda c: c[1], relax, (dist, jnp.bool_(True)))
    return jnp.where(dist >= inf, UNREACHABLE, dist)


def shortest_path_length(level: Level) -> jax.Array:
    """int32 `[]`: fewest forward moves from the agent to the goal, or -1 if unsolvable."""
    return distance_map(level)[level.agent_pos[0], level.agent_pos[1]]


def is_solvable(level: Level) -> jax.Array:
    """bool `[]`: the goal is reachable from the agent's start."""
    return shortest_path_length(level) >= 0


def reachable_from(walls: jax.Array, cell: jax.Array) -> jax.Array:
    """bool `[H, W]`: the free cells 4-connected to `cell` (int32 `[2]`, row and col),
    `cell` included (it counts as free)."""
    level = Level.create(walls, cell, 0, cell)
    return distance_map(level) >= 0
