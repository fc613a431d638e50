"""Level generators: domain randomisation (`sample_level`) and ACCEL's editor (`mutate_level`).

Both are pure, jittable and vmappable, and return levels with the canonical dtypes. Wall
counts and edit counts may be Python ints or traced int32 scalars (a sweep over them does not
recompile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.maze.level import Level, MazeParams


def _cell(index: jax.Array, width: int) -> jax.Array:
    """Flat cell index -> int32 `[2]` (row, col)."""
    return jnp.stack([index // width, index % width]).astype(jnp.int32)


def _flat(pos: jax.Array, width: int) -> jax.Array:
    return pos[0] * width + pos[1]


def sample_cell(key: jax.Array, allowed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A uniformly random flat index among the True cells of `allowed` (any shape), and
    whether there was one (if not, the index is meaningless and callers keep the old value).
    """
    flat = allowed.reshape(-1)
    logits = jnp.where(flat, 0.0, -jnp.inf)
    index = jax.random.categorical(key, jnp.where(flat.any(), logits, 0.0))
    return index.astype(jnp.int32), flat.any()


def sample_level(key: jax.Array, params: MazeParams, num_walls: int | jax.Array) -> Level:
    """Domain randomisation (the DR baseline of Dennis et al. 2020, sec. 5): the
    goal, then the agent on another cell, a uniform direction, then `num_walls` wall cells
    drawn uniformly *with replacement* from the remaining cells, so a level has up to
    `num_walls` walls (duplicates merge). Every sampled level is well-formed; solvability is
    not enforced (a curriculum can filter with `is_solvable`).
    """
    height, width = params.height, params.width
    cells = height * width
    goal_key, agent_key, dir_key, wall_key = jax.random.split(key, 4)
    goal = jax.random.randint(goal_key, (), 0, cells)
    # Uniform over the other cells: draw from cells - 1 and skip over the goal's index.
    agent = jax.random.randint(agent_key, (), 0, cells - 1)
    agent = agent + (agent >= goal)
    # Wall draws over the cells - 2 others: skip the two reserved indices in increasing order.
    low, high = jnp.minimum(goal, agent), jnp.maximum(goal, agent)
    # A Python-int budget sizes the draws exactly; a traced one needs the static cap `cells`.
    # (Random bits dominate the cost of sampling, hence the two paths.)
    cap = min(num_walls, cells) if isinstance(num_walls, int) else cells
    draws = jax.random.randint(wall_key, (cap,), 0, max(cells - 2, 1))
    draws = draws + (draws >= low)
    draws = draws + (draws >= high)
    active = (jnp.arange(cap) < num_walls) & (cells > 2)
    walls = jnp.zeros((cells,), bool).at[jnp.where(active, draws, cells)].set(True, mode="drop")
    return Level.create(
        walls.reshape(height, width),
        _cell(agent, width),
        jax.random.randint(dir_key, (), 0, 4),
        _cell(goal, width),
    )


def _edit(key: jax.Array, level: Level) -> Level:
    """One edit, uniformly among: add a wall, remove a wall, move the goal. Each changes at
    most one cell: walls never cover the agent or the goal, and the goal moves onto a free
    cell (not a wall, not the agent). An edit with no valid target leaves the level as is."""
    height, width = level.walls.shape
    kind_key, cell_key = jax.random.split(key)
    kind = jax.random.randint(kind_key, (), 0, 3)
    rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]

    def at(pos):
        return (rows == pos[0]) & (cols == pos[1])

    agent, goal = at(level.agent_pos), at(level.goal_pos)
    empty = ~level.walls & ~agent & ~goal
    targets = jnp.select([kind == 0, kind == 1], [empty, level.walls], empty)
    index, found = sample_cell(cell_key, targets)
    cell = _cell(index, width)
    flip = found & (kind < 2)
    walls = level.walls.at[cell[0], cell[1]].set(level.walls[cell[0], cell[1]] ^ flip)
    goal_pos = jnp.where(found & (kind == 2), cell, level.goal_pos)
    return level.replace(walls=walls, goal_pos=goal_pos)


def mutate_level(key: jax.Array, level: Level, num_edits: int | jax.Array) -> Level:
    """ACCEL's editor (Parker-Holder et al. 2022, sec. 4): `num_edits` random edits in
    sequence (add a wall, remove a wall, or move the goal; see `_edit`). n edits change at
    most n cells, and a well-formed level stays well-formed."""
    return jax.lax.fori_loop(
        0, num_edits, lambda i, lvl: _edit(jax.random.fold_in(key, i), lvl), level
    )
