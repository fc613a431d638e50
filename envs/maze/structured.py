"""Structured level generators (rooms, mazes, caves) for a dataset of levels for DRED.

DRED (Garcin et al. 2024, "DRED: Zero-Shot Transfer in Reinforcement Learning via
Data-Regularised Environment Design") fits a generative model to a *dataset* of levels drawn
from structured generators and trains on levels from that model. Such a dataset needs
structure a model can learn, which the uniform random walls of `generators.sample_level` lack.
The reference's MiniGrid "cave escape" data is a download, so rljax generates its own
families instead:

- `"rooms"`: 1 or 2 full-length vertical and 1 or 2 horizontal divider walls, one door per
  divider segment (`rooms_walls`);
- `"maze"`: a perfect maze by randomised Prim's algorithm on the even-coordinate lattice,
  braided with a few extra openings (`maze_walls`);
- `"caves"`: cellular-automaton caves (random fill, then the 4-5 smoothing rule;
  `cave_walls`).

`place_agent_and_goal` turns walls into a well-formed, solvable `Level`; `structured_level`
picks the family by index (a traced index is fine), `sample_structured` draws the family too,
and `structured_dataset` builds a deterministic, family-balanced dataset. Everything is pure,
jittable and vmappable over keys, with fixed shapes and the canonical dtypes: walls are bool
`[H, W]` (`params.height x params.width`, 13x13 by default), levels are `Level`s (a dataset's
leaves gain a leading `[N]`). Grid sizes are static Python ints; counts may be Python ints
or traced int32 scalars. No LAPACK routine is called (see rljax/networks.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs.maze.bfs import reachable_from
from envs.maze.generators import _cell, sample_cell
from envs.maze.level import Level, MazeParams

FAMILIES = ("rooms", "maze", "caves")
MAZE_EXTRA_OPENINGS = 8  # braids in `structured_level`'s mazes


def _uniform(key: jax.Array, size: int) -> jax.Array:
    """float32 `[size]` uniforms in `[0, 1)`. Callers reshape: a flat draw compiles several
    times faster than a multi-dimensional one (especially under vmap) with the same bits."""
    return jax.random.uniform(key, (size,))


def _randint(u: jax.Array, low: jax.Array | int, high: jax.Array | int) -> jax.Array:
    """int32, uniform in `[low, high)` from uniforms `u` in `[0, 1)` (broadcast together).

    The generators draw one vector of uniforms per level and map it to integers here: a
    `jax.random.randint` call per choice would multiply the random-bit code that XLA compiles
    (each call is a few hundred ops). Meaningless where `high <= low` (callers mask it)."""
    span = jnp.asarray(high - low, jnp.int32)
    offset = jnp.minimum(jnp.floor(u * span).astype(jnp.int32), span - 1)
    return (low + offset).astype(jnp.int32)


# --- rooms ---------------------------------------------------------------------------------


def _divider_lines(u: jax.Array, size: int) -> jax.Array:
    """int32 `[2]`: sorted positions of 1 or 2 divider lines across an axis of `size` cells;
    an absent second divider is `size` (a sentinel past the grid). `u`: uniforms `[3]`.

    A divider lies in `[2, size - 3]` and two dividers are at least 3 apart, so every room
    between dividers and the border is at least 2 cells wide. The count is 1 or 2 with equal
    probability (1 when two do not fit), then the positions are uniform among the valid ones.
    """
    singles = np.arange(2, size - 2)
    if singles.size == 0:
        raise ValueError(
            f"rooms need an axis of at least 5 cells, got {size}. Fix: use a grid of 5x5 or more."
        )
    pairs = [(a, b) for a in singles for b in singles if b - a >= 3]
    table = np.concatenate(
        [np.stack([singles, np.full_like(singles, size)], 1), np.array(pairs, int).reshape(-1, 2)]
    )
    choice = _randint(u[0], 0, len(singles))
    if pairs:
        choice = jnp.where(u[1] < 0.5, len(singles) + _randint(u[2], 0, len(pairs)), choice)
    return jnp.asarray(table, jnp.int32)[choice]


def _doors(u: jax.Array, lines: jax.Array, crossings: jax.Array, length: int) -> jax.Array:
    """int32 `[2, 3]`: for each divider in `lines` `[2]` and each of its up to 3 segments
    between the `crossings` `[2]` (the other axis's dividers) and the border, the door's
    position along the divider, uniform within the segment; `length` (off the grid) where the
    divider or the segment is absent. Segments never include a crossing. `u`: uniforms
    `[2, 3]`."""
    bounds = jnp.concatenate([jnp.array([-1]), crossings, jnp.array([length])])
    low, high = bounds[:-1] + 1, bounds[1:] - 1  # [3] inclusive segment ends
    pos = _randint(u, low, high + 1)
    valid = (lines < length)[:, None] & (low <= high)[None, :]
    return jnp.where(valid, pos, length).astype(jnp.int32)


def rooms_walls(key: jax.Array, height: int, width: int) -> jax.Array:
    """bool `[H, W]`: rooms. 1 or 2 full-length vertical dividers and 1 or 2 horizontal ones
    (see `_divider_lines`: every room is at least 2 cells wide and tall), and exactly one door
    per divider segment between crossings or the border (never at a crossing), so the rooms
    form a connected grid of rooms and every free cell is reachable from every other.
    Needs `height, width >= 5`."""
    u = _uniform(key, 18).reshape(2, 9)  # per axis: 3 for the dividers, 6 for their doors
    cols = _divider_lines(u[0, :3], width)  # [2]
    rows = _divider_lines(u[1, :3], height)  # [2]
    r, c = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
    walls = (r == rows[:, None, None]).any(0) | (c == cols[:, None, None]).any(0)
    vdoors = _doors(u[0, 3:].reshape(2, 3), cols, rows, height)  # [2, 3] rows, on the columns
    hdoors = _doors(u[1, 3:].reshape(2, 3), rows, cols, width)  # [2, 3] cols, on the rows
    vcols = jnp.broadcast_to(cols[:, None], (2, 3))
    hrows = jnp.broadcast_to(rows[:, None], (2, 3))
    walls = walls.at[vdoors, vcols].set(False, mode="drop")  # absent doors are off the grid
    return walls.at[hrows, hdoors].set(False, mode="drop")


# --- maze ----------------------------------------------------------------------------------


def _lattice_edges(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static edges of the lattice of cells at even (row, col): lattice indices `u`, `v`
    `[E]` of each edge's ends and the flat grid index `[E]` of the wall cell between them."""
    rows, cols = (height + 1) // 2, (width + 1) // 2
    u, v, between = [], [], []
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols:  # east neighbour
                u.append(i * cols + j), v.append(i * cols + j + 1)
                between.append(2 * i * width + 2 * j + 1)
            if i + 1 < rows:  # south neighbour
                u.append(i * cols + j), v.append((i + 1) * cols + j)
                between.append((2 * i + 1) * width + 2 * j)
    return np.array(u, np.int32), np.array(v, np.int32), np.array(between, np.int32)


def maze_walls(
    key: jax.Array, height: int, width: int, extra_openings: int | jax.Array
) -> jax.Array:
    """bool `[H, W]`: a maze on the lattice of cells at even (row, col) (7x7 on 13x13).

    Randomised Prim's algorithm grows a spanning tree from a uniform lattice cell: each of
    the `lattice - 1` steps of a `lax.fori_loop` opens a uniform edge among those with
    exactly one end in the tree (masks over the fixed edge set; the step's pre-drawn uniform
    scores pick it by argmax, so the loop body draws no random bits). Every cell with an odd
    coordinate is a wall except the opened edges' cells. Then `extra_openings` (capped at the
    closed edges left; a Python int or traced int32) more edge cells, uniform without
    replacement, are opened: braids that add loops. With `extra_openings=0` the free cells
    form a tree (on 13x13: 49 lattice cells + 48 openings = 97 free cells, all connected).
    """
    u, v, between = (jnp.asarray(a) for a in _lattice_edges(height, width))
    num_cells = ((height + 1) // 2) * ((width + 1) // 2)
    r, c = np.arange(height)[:, None], np.arange(width)[None, :]
    walls = jnp.asarray(((r % 2 == 1) | (c % 2 == 1)).reshape(-1))
    if between.size == 0:  # a single lattice cell: nothing to open
        return walls.reshape(height, width)

    # One draw: the start, then per-edge scores for each Prim step and, last, for the braids.
    draws = _uniform(key, 1 + num_cells * between.size)
    start = _randint(draws[0], 0, num_cells)
    scores = draws[1:].reshape(num_cells, between.size)

    def grow(i, carry):
        in_tree, opened = carry
        frontier = in_tree[u] ^ in_tree[v]
        edge = jnp.argmax(jnp.where(frontier, scores[i], -1.0))  # uniform among the frontier
        in_tree = in_tree.at[u[edge]].set(True).at[v[edge]].set(True)
        return in_tree, opened.at[edge].set(True)

    in_tree = jnp.zeros((num_cells,), bool).at[start].set(True)
    opened = jnp.zeros(between.shape, bool)
    _, opened = jax.lax.fori_loop(0, num_cells - 1, grow, (in_tree, opened))
    # Braids: the closed edges ranked by a uniform score; the first `extra_openings` open.
    score = jnp.where(opened, 2.0, scores[-1])
    rank = (
        jnp.zeros(opened.shape, jnp.int32)
        .at[jnp.argsort(score)]
        .set(jnp.arange(between.size, dtype=jnp.int32))
    )
    opened = opened | (rank < extra_openings)
    walls = walls.at[between].set(walls[between] & ~opened)
    return walls.reshape(height, width)


# --- caves ---------------------------------------------------------------------------------


def _smooth_caves(walls: jax.Array) -> jax.Array:
    """One step of the 4-5 rule on bool `[H, W]`: a cell becomes a wall iff at least 5 of
    the 9 cells of its 3x3 neighbourhood (itself included; off-grid counts as wall) are walls.
    """
    height, width = walls.shape
    padded = jnp.pad(walls.astype(jnp.int32), 1, constant_values=1)
    count = sum(padded[dr : dr + height, dc : dc + width] for dr in range(3) for dc in range(3))
    return count >= 5


def cave_walls(
    key: jax.Array,
    height: int,
    width: int,
    fill: float | jax.Array = 0.45,
    smooth_steps: int | jax.Array = 4,
) -> jax.Array:
    """bool `[H, W]`: cellular-automaton caves. Each cell is a wall with probability `fill`,
    then `smooth_steps` (a Python int or traced int32) steps of the 4-5 rule
    (`_smooth_caves`). The caves may have several components; `place_agent_and_goal` keeps
    the goal in the agent's."""
    walls = _uniform(key, height * width).reshape(height, width) < fill
    return jax.lax.fori_loop(0, smooth_steps, lambda _, w: _smooth_caves(w), walls)


# --- agent, goal, levels -------------------------------------------------------------------


def place_agent_and_goal(key: jax.Array, walls: jax.Array) -> Level:
    """A well-formed, solvable `Level` on bool `walls` `[H, W]` (with `H * W >= 2`).

    The agent stands on a uniform free cell, facing a uniform direction (0..3), and the goal
    on a uniform cell reachable from it (BFS from the agent), other than the agent's own.
    Walls are left as they are, except in two fallbacks, which only ever remove walls: with
    no free cell at all, the agent takes a uniform cell and its wall is cleared; and if the
    agent's cell has no free 4-neighbour (nothing is reachable), the goal is uniform among all
    other cells and the walls on an L-shaped corridor are cleared (from the agent along its
    column to the goal's row, then along that row to the goal).
    """
    height, width = walls.shape
    agent_key, goal_key, dir_key = jax.random.split(key, 3)
    free = ~walls
    agent, _ = sample_cell(agent_key, free | ~free.any())  # any cell if none is free
    agent = _cell(agent, width)
    r, c = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
    at_agent = (r == agent[0]) & (c == agent[1])
    walls = walls & ~at_agent
    reachable = reachable_from(walls, agent) & ~at_agent
    found = reachable.any()
    goal, _ = sample_cell(goal_key, reachable | (~found & ~at_agent))
    goal = _cell(goal, width)

    def between(x, a, b):
        return (x >= jnp.minimum(a, b)) & (x <= jnp.maximum(a, b))

    corridor = ((c == agent[1]) & between(r, agent[0], goal[0])) | (
        (r == goal[0]) & between(c, agent[1], goal[1])
    )
    walls = jnp.where(found, walls, walls & ~corridor)
    direction = _randint(jax.random.uniform(dir_key), 0, 4)
    return Level.create(walls, agent, direction, goal)


def structured_level(key: jax.Array, params: MazeParams, family: int | jax.Array) -> Level:
    """One level of family `FAMILIES[family]` (a Python int or traced int32; a traced index
    goes through `lax.switch`, which clamps it to 0..2) on a `params.height x params.width`
    grid (`walls` `[H, W]`): rooms, a maze with `MAZE_EXTRA_OPENINGS` braids, or caves with
    the default fill and smoothing; then `place_agent_and_goal`. Well-formed and solvable."""
    if isinstance(family, int) and not 0 <= family < len(FAMILIES):
        raise ValueError(
            f"family={family} is not an index into FAMILIES={FAMILIES}. "
            f"Fix: pass 0..{len(FAMILIES) - 1}, e.g. FAMILIES.index('maze')."
        )
    height, width = params.height, params.width
    wall_key, place_key = jax.random.split(key)
    branches = (
        lambda k: rooms_walls(k, height, width),
        lambda k: maze_walls(k, height, width, MAZE_EXTRA_OPENINGS),
        lambda k: cave_walls(k, height, width),
    )
    if isinstance(family, int):  # static: compile only that family's generator
        walls = branches[family](wall_key)
    else:
        walls = jax.lax.switch(family, branches, wall_key)
    return place_agent_and_goal(place_key, walls)


def sample_structured(key: jax.Array, params: MazeParams) -> Level:
    """A level (`walls` `[H, W]`) of a uniformly drawn family, via `structured_level`."""
    family_key, level_key = jax.random.split(key)
    family = _randint(jax.random.uniform(family_key), 0, len(FAMILIES))
    return structured_level(level_key, params, family)


_DEFAULT_PARAMS = MazeParams()  # 13x13


def dataset_family(index: int | jax.Array) -> int | jax.Array:
    """The family (an index into FAMILIES) of level `index` of a `structured_dataset` stream:
    round-robin."""
    return index % len(FAMILIES)


@jax.jit
def _dataset(key: jax.Array, index: jax.Array, params: MazeParams) -> Level:
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)
    families = dataset_family(index)
    return jax.vmap(structured_level, in_axes=(0, None, 0))(keys, params, families)


DATASET_CHUNK = 64
"""Levels per call of the compiled dataset program: any dataset size reuses one program."""


def structured_dataset(seed: int, size: int, params: MazeParams = _DEFAULT_PARAMS) -> Level:
    """A deterministic dataset of `size` levels with leaves `[size, ...]` (`walls`
    `[size, H, W]`, `agent_pos` `[size, 2]`, ...), from one jitted vmapped program run on
    chunks of `DATASET_CHUNK` levels (so a new size compiles nothing).

    Level `i` is `structured_level(jax.random.fold_in(jax.random.PRNGKey(seed), i), params,
    i % 3)`: the families are balanced (round-robin), and a larger dataset from the same
    seed extends a smaller one (its first levels are the same).
    """
    key = jax.random.PRNGKey(seed)
    chunks = [
        _dataset(key, jnp.arange(start, start + DATASET_CHUNK, dtype=jnp.int32), params)
        for start in range(0, size, DATASET_CHUNK)
    ]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs)[:size], *chunks)
