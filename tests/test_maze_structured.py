"""envs.maze.structured: the rooms, maze and cave generators, agent/goal placement and the
family-balanced dataset for DRED. Every jitted function is built once per module and reused
(on 13x13), and the checks of structure are written independently of the generators."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.maze import Level, MazeParams, check_level, distance_map, is_solvable, is_well_formed
from envs.maze.structured import (
    FAMILIES,
    MAZE_EXTRA_OPENINGS,
    cave_walls,
    maze_walls,
    place_agent_and_goal,
    rooms_walls,
    sample_structured,
    structured_dataset,
    structured_level,
)

PARAMS = MazeParams()
H, W = PARAMS.height, PARAMS.width
PROPERTY = settings(max_examples=30, deadline=None)
FEW = settings(max_examples=15, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
LATTICE = (np.arange(H)[:, None] % 2 == 0) & (np.arange(W)[None, :] % 2 == 0)
ODD_ODD = (np.arange(H)[:, None] % 2 == 1) & (np.arange(W)[None, :] % 2 == 1)
TREE_CELLS = 49 + 48  # the 7x7 lattice and the 48 openings of a spanning tree
CLOSED_EDGES = 2 * 7 * 6 - 48  # lattice edges a spanning tree leaves closed

level_fn = jax.jit(lambda key, family: structured_level(key, PARAMS, family))
place_fn = jax.jit(place_agent_and_goal)
solve = jax.jit(lambda lvl: (is_well_formed(lvl), is_solvable(lvl), distance_map(lvl)))


@jax.jit
def generate(key, extra_openings, fill, smooth_steps):
    """All three wall generators in one program (one compilation): rooms, maze, caves."""
    return (
        rooms_walls(key, H, W),
        maze_walls(key, H, W, extra_openings),
        cave_walls(key, H, W, fill, smooth_steps),
    )


def generate_walls(key, extra_openings=0, fill=0.45, smooth_steps=4):
    """The three generators' walls as numpy arrays; fixed dtypes, so one compilation."""
    args = jnp.int32(extra_openings), jnp.float32(fill), jnp.int32(smooth_steps)
    return tuple(np.asarray(w) for w in generate(key, *args))


def rooms_fn(key):
    return generate_walls(key)[0]


def maze_fn(key, extra):
    return generate_walls(key, extra_openings=extra)[1]


def cave_fn(key, fill, steps):
    return generate_walls(key, fill=fill, smooth_steps=steps)[2]


def key(seed):
    return jax.random.PRNGKey(seed)


def assert_well_formed_and_solvable(level):
    check_level(level, PARAMS)  # host-side: raises if agent/goal are off-grid, on walls, equal
    well_formed, solvable, _ = solve(level)
    assert bool(well_formed) and bool(solvable)


def connected(walls):
    """Every free cell reaches the first free cell (BFS with the goal there)."""
    walls = np.asarray(walls)
    cell = np.argwhere(~walls)[0]
    dist = np.asarray(solve(Level.create(walls, cell, 0, cell))[2])
    return bool((dist[~walls] >= 0).all())


def open_adjacencies(walls):
    """Pairs of 4-adjacent free cells."""
    free = ~np.asarray(walls)
    return int((free[1:] & free[:-1]).sum() + (free[:, 1:] & free[:, :-1]).sum())


def rooms_problem(walls):
    """None if `walls` is a rooms layout (read off the walls alone), else what is wrong.

    Dividers are the full lines of walls less their doors: a divider has at most 3 doors, and a
    non-divider line holds walls only where it crosses a divider (at most 2)."""
    walls = np.asarray(walls)
    cols = [c for c in range(W) if walls[:, c].sum() >= H - 3]
    rows = [r for r in range(H) if walls[r].sum() >= W - 3]
    for lines, size in ((cols, W), (rows, H)):
        if not 1 <= len(lines) <= 2:
            return f"{len(lines)} dividers {lines}"
        if any(p < 2 or p > size - 3 for p in lines) or (
            len(lines) == 2 and lines[1] - lines[0] < 3
        ):
            return f"dividers {lines} leave a room narrower than 2 cells"
    on_lines = np.zeros_like(walls)
    on_lines[rows] = True
    on_lines[:, cols] = True
    if (walls & ~on_lines).any():
        return "a wall off the dividers"
    if not walls[np.ix_(rows, cols)].all():
        return "a door at a crossing"
    doors, segments = 0, 0
    for line_walls, crossings, size in [(walls[:, c], rows, H) for c in cols] + [
        (walls[r], cols, W) for r in rows
    ]:
        bounds = [-1, *crossings, size]
        for low, high in itertools.pairwise(bounds):
            segment_doors = int((~line_walls[low + 1 : high]).sum())
            if segment_doors != 1:
                return f"a segment {low + 1}..{high - 1} with {segment_doors} doors"
            doors, segments = doors + segment_doors, segments + 1
    expected = len(cols) * (len(rows) + 1) + len(rows) * (len(cols) + 1)
    if doors != segments or segments != expected:
        return f"{doors} doors on {segments} segments, expected {expected}"
    return None


def is_maze(walls, extra):
    walls = np.asarray(walls)
    return (
        not walls[LATTICE].any()
        and walls[ODD_ODD].all()
        and int((~walls).sum()) == TREE_CELLS + min(extra, CLOSED_EDGES)
    )


def family_of(walls):
    if is_maze(walls, MAZE_EXTRA_OPENINGS):
        return FAMILIES.index("maze")
    return FAMILIES.index("rooms") if rooms_problem(walls) is None else FAMILIES.index("caves")


def reference_smooth(walls):
    """The 4-5 rule cell by cell: a wall iff >= 5 walls in the 3x3 block (off-grid = wall)."""
    out = np.zeros_like(walls)
    for r, c in itertools.product(range(H), range(W)):
        block = [
            walls[r + dr, c + dc] if 0 <= r + dr < H and 0 <= c + dc < W else True
            for dr, dc in itertools.product((-1, 0, 1), repeat=2)
        ]
        out[r, c] = sum(block) >= 5
    return out


# --- every family ----------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS, family=st.integers(0, len(FAMILIES) - 1))
def test_every_family_gives_well_formed_solvable_levels(seed, family):
    level = level_fn(key(seed), jnp.int32(family))
    assert level.walls.shape == (H, W) and level.walls.dtype == jnp.bool_
    assert level.agent_pos.dtype == jnp.int32 and level.agent_dir.shape == ()
    assert_well_formed_and_solvable(level)
    assert family_of(level.walls) == family


def test_family_index_is_checked_and_sample_structured_traces_like_a_level():
    with pytest.raises(ValueError, match="FAMILIES"):
        structured_level(key(0), PARAMS, 3)
    shapes = jax.eval_shape(sample_structured, key(0), PARAMS)
    expected = jax.eval_shape(level_fn, key(0), jnp.int32(0))
    assert jax.tree.map(lambda a: (a.shape, a.dtype), shapes) == jax.tree.map(
        lambda a: (a.shape, a.dtype), expected
    )
    # Vmappable, and no LAPACK call (which can deadlock XLA:CPU's pool when vmapped).
    keys = jax.random.split(key(0), 2)
    lowered = jax.jit(jax.vmap(sample_structured, in_axes=(0, None))).lower(keys, PARAMS)
    assert "lapack" not in lowered.as_text().lower()


# --- maze ------------------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS)
def test_maze_without_braids_is_a_spanning_tree_of_the_lattice(seed):
    walls = maze_fn(key(seed), 0)
    assert int((~walls).sum()) == TREE_CELLS
    assert not walls[LATTICE].any() and walls[ODD_ODD].all()
    assert connected(walls)
    assert open_adjacencies(walls) == TREE_CELLS - 1  # connected with n - 1 edges: a tree


@FEW
@given(seed=SEEDS, extra=st.integers(1, CLOSED_EDGES + 4))
def test_maze_braids_open_extra_edges_of_the_same_tree(seed, extra):
    tree = maze_fn(key(seed), 0)
    braided = maze_fn(key(seed), extra)
    assert not (braided & ~tree).any()  # only openings: the tree's free cells stay free
    assert int((~braided).sum()) == TREE_CELLS + min(extra, CLOSED_EDGES)
    assert braided[ODD_ODD].all() and not braided[LATTICE].any()
    assert open_adjacencies(braided) > TREE_CELLS - 1  # loops


# --- rooms -----------------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS)
def test_rooms_have_one_door_per_divider_segment_and_are_connected(seed):
    walls = rooms_fn(key(seed))
    problem = rooms_problem(walls)
    assert problem is None, problem
    assert connected(walls)


def test_rooms_vary_the_number_of_dividers():
    wall_counts = {int(rooms_fn(key(seed)).sum()) for seed in range(24)}
    # 1+1 dividers: 25 walls less 4 doors; 2+1 or 1+2: 37 less 7; 2+2: 48 less 12.
    assert wall_counts == {21, 30, 36}


# --- caves -----------------------------------------------------------------------------------


@FEW
@given(seed=SEEDS, steps=st.integers(0, 4))
def test_caves_are_deterministic_and_follow_the_4_5_rule(seed, steps):
    before = cave_fn(key(seed), 0.45, steps)
    np.testing.assert_array_equal(cave_fn(key(seed), 0.45, steps), before)
    after = cave_fn(key(seed), 0.45, steps + 1)
    np.testing.assert_array_equal(after, reference_smooth(before))


def test_cave_fill_fraction_is_in_a_sane_band():
    raw = np.stack([cave_fn(key(seed), 0.45, 0) for seed in range(32)])
    caves = np.stack([cave_fn(key(seed), 0.45, 4) for seed in range(32)])
    assert abs(raw.mean() - 0.45) < 0.04  # the random fill
    # Smoothing with off-grid cells counted as wall thickens the border: about 58% walls.
    assert 0.5 < caves.mean() < 0.68
    assert (caves.mean((1, 2)) > 0.15).all() and (caves.mean((1, 2)) < 1).all()
    assert len({c.tobytes() for c in caves}) == 32
    assert not cave_fn(key(0), 0.0, 0).any()
    assert cave_fn(key(0), 1.0, 4).all()


# --- placement -------------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS, density=st.floats(0.0, 1.0))
def test_placement_is_solvable_and_only_clears_walls_when_it_must(seed, density):
    walls = np.random.default_rng(seed).random((H, W)) < density
    level = place_fn(key(seed), jnp.asarray(walls))
    assert_well_formed_and_solvable(level)
    out = np.asarray(level.walls)
    assert not (out & ~walls).any()  # never adds a wall
    agent = tuple(np.asarray(level.agent_pos))
    if not walls[agent]:
        agent_has_neighbour = any(
            0 <= agent[0] + dr < H
            and 0 <= agent[1] + dc < W
            and not walls[agent[0] + dr, agent[1] + dc]
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))
        )
        if agent_has_neighbour:
            np.testing.assert_array_equal(out, walls)  # no fallback: walls untouched


def test_placement_fallbacks_for_a_closed_grid_and_an_isolated_cell():
    isolated = np.ones((H, W), bool)
    isolated[6, 6] = False
    for walls in (np.ones((H, W), bool), isolated):
        for seed in range(8):
            level = place_fn(key(seed), jnp.asarray(walls))
            assert_well_formed_and_solvable(level)
            cleared = int((walls & ~np.asarray(level.walls)).sum())
            agent, goal = np.asarray(level.agent_pos), np.asarray(level.goal_pos)
            # An L-shaped corridor: the cells of the agent-goal path, less a free agent cell.
            assert cleared == np.abs(agent - goal).sum() + 1 - int(not walls[tuple(agent)])
    agent = np.asarray(place_fn(key(0), jnp.asarray(isolated)).agent_pos)
    np.testing.assert_array_equal(agent, [6, 6])  # the one free cell


def test_placement_is_uniform_enough_in_direction_and_goal():
    walls = np.zeros((H, W), bool)
    levels = [place_fn(key(seed), jnp.asarray(walls)) for seed in range(40)]
    assert {int(lvl.agent_dir) for lvl in levels} == {0, 1, 2, 3}
    assert len({tuple(np.asarray(lvl.goal_pos)) for lvl in levels}) > 20


# --- dataset ---------------------------------------------------------------------------------


def test_dataset_is_deterministic_balanced_distinct_and_equals_per_key_calls():
    data = structured_dataset(0, 12)
    again = structured_dataset(0, 12)
    jax.tree.map(np.testing.assert_array_equal, data, again)
    assert data.walls.shape == (12, H, W) and data.agent_pos.shape == (12, 2)
    assert data.agent_dir.shape == (12,) and data.walls.dtype == jnp.bool_
    levels = [jax.tree.map(lambda x, i=i: x[i], data) for i in range(12)]
    assert [family_of(lvl.walls) for lvl in levels] == [i % 3 for i in range(12)]
    fingerprints = {
        np.asarray(lvl.walls).tobytes() + np.asarray(lvl.agent_pos).tobytes() for lvl in levels
    }
    assert len(fingerprints) == 12
    for i, level in enumerate(levels):
        assert_well_formed_and_solvable(level)
        single = level_fn(jax.random.fold_in(key(0), i), jnp.int32(i % 3))
        jax.tree.map(np.testing.assert_array_equal, level, single)
    other = structured_dataset(1, 12)
    assert not np.array_equal(other.walls, data.walls)
