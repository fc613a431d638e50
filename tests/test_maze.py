"""envs.maze: levels, DR generator, ACCEL editor, PAIRED adversary, BFS, named levels, env
dynamics and rendering. Every jitted function is built once per module and reused."""

from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from envs.maze import (
    NAMED_MAPS,
    AdversaryParams,
    Level,
    Maze,
    MazeAdversaryEnv,
    MazeParams,
    check_level,
    distance_map,
    is_solvable,
    is_well_formed,
    level_from_adversary_actions,
    level_from_ascii,
    level_to_ascii,
    mutate_level,
    named_level_batch,
    named_levels,
    render_level,
    render_trajectory,
    sample_level,
    save_level_grid,
    shortest_path_length,
    stack_levels,
)
from envs.maze.level import DIRECTION_VECTORS
from envs.maze.named import BENCHMARK_NAMES, RLJAX_NAMES, flip_horizontal
from rljax.environment import action_spec, max_episode_steps

PARAMS = MazeParams()
T = PARAMS.max_steps_in_episode
ENV = Maze()
PROPERTY = settings(max_examples=30, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
KEY = jax.random.PRNGKey(0)

sample = jax.jit(lambda key, n: sample_level(key, PARAMS, n))
mutate = jax.jit(mutate_level)
solve = jax.jit(lambda lvl: (distance_map(lvl), shortest_path_length(lvl), is_solvable(lvl)))


@jax.jit
def rollout(level, actions):
    """Play `actions` [T] from `level`. Per step: the agent's position after the step and
    auto-reset, where it stood before any reset (the goal on termination), reward, flags, the
    state's level, obs and info; and the state after the last step."""

    def step(state, action):
        obs, state, reward, terminated, truncated, info = ENV.step(
            jax.random.PRNGKey(0), state, action, PARAMS
        )
        reached = jnp.where(terminated, level.goal_pos, state.agent_pos)
        out = (state.agent_pos, reached, reward, terminated, truncated, state.level, obs, info)
        return state, out

    _, state = ENV.reset_to_level(jax.random.PRNGKey(0), level, PARAMS)
    return jax.lax.scan(step, state, actions)


def ascii_level(text):
    return level_from_ascii(text, PARAMS)


def random_level(seed, num_walls):
    return sample(jax.random.PRNGKey(seed), jnp.int32(num_walls))


def python_bfs(walls, goal):
    """Reference: plain breadth-first search from the goal over 4-connected free cells."""
    height, width = walls.shape
    dist = -np.ones((height, width), int)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            nr, nc = r + dr, c + dc
            if 0 <= nr < height and 0 <= nc < width and not walls[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def edit_distance(a, b):
    """Cells whose content differs: wall flips, plus one per moved goal or agent."""
    walls = int((np.asarray(a.walls) != np.asarray(b.walls)).sum())
    goal = int(not np.array_equal(a.goal_pos, b.goal_pos))
    agent = int(not np.array_equal(a.agent_pos, b.agent_pos) or a.agent_dir != b.agent_dir)
    return walls + goal + agent


# --- generator and editor ------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS, num_walls=st.integers(0, 169))
def test_generated_levels_are_well_formed(seed, num_walls):
    level = random_level(seed, num_walls)
    check_level(level, PARAMS)  # raises if agent/goal are off-grid, on walls or together
    assert bool(is_well_formed(level))
    assert int(level.walls.sum()) <= num_walls
    assert level.walls.dtype == jnp.bool_ and level.agent_pos.dtype == jnp.int32


def test_generator_draws_about_the_wall_budget_and_varies():
    levels = stack_levels([random_level(seed, 25) for seed in range(64)])
    counts = np.asarray(levels.walls.sum((1, 2)))
    assert 20 <= counts.mean() <= 25 and counts.max() <= 25  # with replacement: up to 25
    assert len({np.asarray(walls).tobytes() for walls in levels.walls}) == 64
    assert set(np.asarray(levels.agent_dir).tolist()) == {0, 1, 2, 3}
    # A Python-int budget takes the exact-size path (what `Maze.reset` uses).
    static = jax.jit(jax.vmap(lambda k: sample_level(k, PARAMS, 25)))(jax.random.split(KEY, 64))
    assert bool(jax.vmap(is_well_formed)(static).all())
    assert 20 <= static.walls.sum((1, 2)).mean() <= 25 and static.walls.sum((1, 2)).max() <= 25


@PROPERTY
@given(seed=SEEDS, num_walls=st.integers(0, 169), num_edits=st.integers(0, 12))
def test_mutated_levels_are_well_formed_and_n_edits_change_at_most_n_cells(
    seed, num_walls, num_edits
):
    level = random_level(seed, num_walls)
    child = mutate(jax.random.PRNGKey(seed + 1), level, jnp.int32(num_edits))
    check_level(child, PARAMS)
    assert edit_distance(level, child) <= num_edits
    np.testing.assert_array_equal(child.agent_pos, level.agent_pos)  # edits never move it


def test_mutation_adds_removes_walls_and_moves_the_goal():
    level = random_level(0, 40)
    keys = jax.random.split(jax.random.PRNGKey(1), 200)
    children = jax.jit(jax.vmap(mutate, in_axes=(0, None, None)))(keys, level, 1)
    wall_change = np.asarray(children.walls.sum((1, 2))) - int(level.walls.sum())
    moved = np.any(np.asarray(children.goal_pos) != np.asarray(level.goal_pos), axis=1)
    assert {-1, 1} <= set(wall_change.tolist()) and moved.any()


# --- BFS -----------------------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS, density=st.floats(0.0, 0.7))
def test_bfs_agrees_with_python_bfs(seed, density):
    rng = np.random.default_rng(seed)
    walls = rng.random((13, 13)) < density
    agent, goal = (divmod(int(i), 13) for i in rng.choice(169, 2, replace=False))
    walls[agent] = walls[goal] = False
    level = Level.create(walls, agent, int(rng.integers(4)), goal)
    expected = python_bfs(walls, goal)
    expected[walls] = -1
    dist, length, solvable = solve(level)
    np.testing.assert_array_equal(dist, expected)
    assert int(length) == expected[agent] and bool(solvable) == (expected[agent] >= 0)


def test_bfs_on_hand_levels():
    walled_in = ascii_level(
        ["#" * 13] * 4 + [">#" + "." * 11, "##" + "." * 10 + "G"] + ["." * 13] * 7
    )
    _, length, solvable = solve(walled_in)
    assert int(length) == -1 and not bool(solvable)
    assert int(solve(named_levels()["RljaxCorridor"])[1]) == 96


# --- named levels --------------------------------------------------------------------------------


def test_named_levels_are_well_formed_solvable_and_batched():
    levels = named_levels()
    required = {"SixteenRooms", "SixteenRooms2", "Labyrinth", "LabyrinthFlipped", "Labyrinth2"}
    required |= {"StandardMaze", "StandardMaze2", "StandardMaze3"}
    assert set(BENCHMARK_NAMES) == required and set(levels) == set(NAMED_MAPS)
    assert tuple(levels) == BENCHMARK_NAMES + RLJAX_NAMES
    for name, level in levels.items():
        check_level(level, PARAMS)
        assert level.walls.shape == (13, 13), name
        assert 0 < int(solve(level)[1]) < T // 2, name
    names, batch = named_level_batch()
    assert batch.walls.shape == (len(names), 13, 13) and batch.agent_pos.shape == (len(names), 2)
    for prefix in ("", "Rljax"):  # the benchmark's LabyrinthFlipped is its Labyrinth mirrored
        flipped = level_to_ascii(levels[f"{prefix}LabyrinthFlipped"])
        assert flipped == flip_horizontal(level_to_ascii(levels[f"{prefix}Labyrinth"]))


# The UED benchmark's held-out layouts, transcribed independently of envs/maze/named.py (which
# follows JaxUED's level strings): the bit maps of facebookresearch/dcd envs/multigrid/maze.py
# (1 = wall; the 13x13 interior of its 15x15 grid), its start and goal converted from 1-based
# (x, y) to [row, col] and its start direction 0 (east); LabyrinthFlipped, absent from dcd, from
# facebookresearch/minimax src/minimax/envs/maze/maze_ood.py. name: (walls, agent [row, col],
# agent direction 0 east / 1 south / 2 west / 3 north, goal [row, col]).
BENCHMARK_LAYOUTS = {
    "SixteenRooms": (  # dcd SixteenRoomsEnv
        (
            "0001001001000",
            "0000000001000",
            "0001001000000",
            "1011101101110",
            "0001000000000",
            "0000001001000",
            "1101011011101",
            "0001000001000",
            "0001001000000",
            "0111101101011",
            "0001001001000",
            "0000001000000",
            "0001000001000",
        ),
        (1, 1),
        0,
        (11, 11),
    ),
    "SixteenRooms2": (  # dcd SixteenRoomsFewerDoorsEnv
        (
            "0001000001000",
            "0000001001000",
            "0001001001000",
            "1111011011101",
            "0001001000000",
            "0000001001000",
            "1011111011111",
            "0001001001000",
            "0001000000000",
            "1101101101111",
            "0001001001000",
            "0000001000000",
            "0001001001000",
        ),
        (1, 1),
        0,
        (11, 11),
    ),
    "Labyrinth": (  # dcd LabyrinthEnv
        (
            "0000000000000",
            "0111111111110",
            "0100000000010",
            "0101111111010",
            "0101000001010",
            "0101011101010",
            "0101010101010",
            "0101010101010",
            "0100010001010",
            "0111111111010",
            "0000010000010",
            "1111010111110",
            "0000010000000",
        ),
        (12, 0),
        0,
        (6, 6),
    ),
    "LabyrinthFlipped": (  # minimax LabyrinthFlipped
        (
            "0000000000000",
            "0111111111110",
            "0100000000010",
            "0101111111010",
            "0101000001010",
            "0101011101010",
            "0101010101010",
            "0101010101010",
            "0101000100010",
            "0101111111110",
            "0100000100000",
            "0111110101111",
            "0000000100000",
        ),
        (12, 12),
        2,
        (6, 6),
    ),
    "Labyrinth2": (  # dcd Labyrinth2Env
        (
            "0100000000000",
            "0101111111110",
            "0101000000010",
            "0101011111010",
            "0101010001010",
            "0001010101010",
            "1111010101010",
            "0001011101010",
            "0101000001010",
            "0101111111010",
            "0100000000010",
            "0111111111110",
            "0000000000000",
        ),
        (0, 0),
        0,
        (6, 6),
    ),
    "StandardMaze": (  # dcd MazeEnv
        (
            "0000010000100",
            "0111011110110",
            "0100000000000",
            "0111111110111",
            "0000000010000",
            "1111110111110",
            "0000100100000",
            "0110001101111",
            "0010100100010",
            "1010110111010",
            "1010010001000",
            "1011011101110",
            "0001000101000",
        ),
        (0, 6),
        0,
        (12, 6),
    ),
    "StandardMaze2": (  # dcd HorizontalMazeEnv
        (
            "0001010000100",
            "0101011110001",
            "0100000000100",
            "0111111110111",
            "0001001010100",
            "1101011010100",
            "0101000010110",
            "0101101110010",
            "0100100111010",
            "0110110101010",
            "0100010101010",
            "0101010101010",
            "0001000100000",
        ),
        (6, 0),
        0,
        (4, 12),
    ),
    "StandardMaze3": (  # dcd Maze3Env
        (
            "0000101000000",
            "0111101011110",
            "0100001010000",
            "0001111010101",
            "1101000010100",
            "0001011010110",
            "0101010010010",
            "0101010111011",
            "0100010101000",
            "0111010101110",
            "0100010100010",
            "0101110101010",
            "0100010001000",
        ),
        (0, 3),
        0,
        (6, 12),
    ),
}


@pytest.mark.parametrize("name", sorted(BENCHMARK_LAYOUTS))
def test_benchmark_named_levels_are_the_benchmark_layouts(name):
    """Each level under a UED-literature name is exactly the benchmark's: every wall cell, the
    start cell and direction, and the goal (a single changed cell fails)."""
    rows, agent, direction, goal = BENCHMARK_LAYOUTS[name]
    expected = np.array([[ch == "1" for ch in row] for row in rows])
    level = named_levels()[name]
    assert expected.shape == (13, 13)
    walls = np.asarray(level.walls)
    changed = [(int(r), int(c)) for r, c in zip(*np.nonzero(walls != expected), strict=True)]
    assert not changed, f"{name}: wall cells (row, col) differ from the benchmark at {changed}"
    assert tuple(np.asarray(level.agent_pos).tolist()) == agent, name
    assert int(level.agent_dir) == direction, name
    assert tuple(np.asarray(level.goal_pos).tolist()) == goal, name


def test_rljax_designs_are_not_under_benchmark_names():
    """rljax's own mazes carry the Rljax prefix: no literature name (the benchmark's eight, nor
    those left out for lack of a fixed 13x13 layout) holds one, and none has a benchmark
    level's walls."""
    literature = set(BENCHMARK_LAYOUTS) | {"SmallCorridor", "LargeCorridor", "Corridor"}
    literature |= {"FourRooms", "SimpleCrossing", "Crossing", "NineRooms", "NineRoomsFewerDoors"}
    literature |= {"PerfectMaze", "PerfectMaze2", "PerfectMazeSmall", "PerfectMazeMedium"}
    literature |= {"PerfectMazeLarge", "PerfectMazeXL", "Maze", "Maze2", "Maze3"}
    assert set(BENCHMARK_NAMES) == set(BENCHMARK_LAYOUTS)
    assert set(NAMED_MAPS) == set(BENCHMARK_NAMES) | set(RLJAX_NAMES)
    assert not set(RLJAX_NAMES) & literature
    assert set(NAMED_MAPS) & literature == set(BENCHMARK_NAMES)
    assert all(name.startswith("Rljax") for name in RLJAX_NAMES)
    levels = named_levels()
    benchmark_walls = {np.asarray(levels[name].walls).tobytes() for name in BENCHMARK_NAMES}
    assert not {np.asarray(levels[name].walls).tobytes() for name in RLJAX_NAMES} & benchmark_walls


def test_bfs_greedy_policy_solves_every_named_level():
    """End to end through `step`: following the BFS distance map (forward when the cell ahead
    is closer to the goal, else turn right) reaches the goal on every named level, with the
    paper's reward 1 - 0.9 t / T at the step t it arrives."""
    names, batch = named_level_batch()

    def play(level):
        dist = distance_map(level)
        _, state = ENV.reset_to_level(jax.random.PRNGKey(0), level, PARAMS)

        def body(carry, _):
            state, done, ret, length = carry
            ahead = state.agent_pos + jnp.asarray(DIRECTION_VECTORS)[state.agent_dir]
            row, col = jnp.clip(ahead[0], 0, 12), jnp.clip(ahead[1], 0, 12)
            here = dist[state.agent_pos[0], state.agent_pos[1]]
            inside = (ahead >= 0).all() & (ahead < 13).all()
            closer = inside & (dist[row, col] == here - 1)
            action = jnp.where(closer, 2, 1)
            _, state, reward, terminated, _, _ = ENV.step(
                jax.random.PRNGKey(0), state, action, PARAMS
            )
            new_done = done | terminated
            return (state, new_done, ret + reward * ~done, length + ~done), None

        zero = jnp.zeros((), jnp.int32)
        (_, done, ret, length), _ = jax.lax.scan(body, (state, False, 0.0, zero), None, T)
        return done, ret, length

    done, ret, length = jax.jit(jax.vmap(play))(batch)
    assert np.asarray(done).all(), [n for n, d in zip(names, done, strict=True) if not d]
    np.testing.assert_allclose(ret, 1.0 - 0.9 * np.asarray(length) / T, rtol=1e-6)


# --- env dynamics --------------------------------------------------------------------------------


@PROPERTY
@given(seed=SEEDS, num_walls=st.integers(0, 80))
def test_step_never_enters_a_wall_or_leaves_the_grid(seed, num_walls):
    level = random_level(seed, num_walls)
    actions = np.random.default_rng(seed).integers(0, 3, T)
    _, (after, reached, _, _, _, _, obs, _) = rollout(level, jnp.asarray(actions, jnp.int32))
    # The last step truncates and resets, so where it led is only known on termination.
    reached = np.asarray(reached)[:-1]
    before = np.concatenate([np.asarray(level.agent_pos)[None], np.asarray(after)[:-2]])
    assert ((reached >= 0) & (reached < 13)).all()
    assert not np.asarray(level.walls)[reached[:, 0], reached[:, 1]].any()
    assert (np.abs(reached - before).sum(1) <= 1).all()
    assert obs.shape == (T, 5, 5, 6) and obs.dtype == jnp.float32


def test_reward_formula_termination_and_reset_to_the_same_level():
    level = ascii_level([">G" + "." * 11] + ["." * 13] * 12)
    # Four right turns (back to east), then forward: the goal at step t = 5; then forward
    # again from the reset start: the goal at step 1 of the next episode.
    actions = jnp.asarray([1, 1, 1, 1, 2, 2] + [0] * (T - 6), jnp.int32)
    _, (_, _, reward, terminated, truncated, levels, obs, info) = rollout(level, actions)
    np.testing.assert_allclose(reward[4], 1.0 - 0.9 * 5 / T, rtol=1e-6)
    np.testing.assert_allclose(reward[5], 1.0 - 0.9 * 1 / T, rtol=1e-6)
    assert np.asarray(terminated).nonzero()[0].tolist() == [4, 5]
    assert not np.asarray(truncated[:6]).any()
    assert (np.asarray(reward)[[0, 1, 2, 3]] == 0).all()
    # Auto-reset keeps the level: every step's state holds the same walls and goal.
    assert (np.asarray(levels.walls) == np.asarray(level.walls)).all()
    reset_obs, _ = ENV.reset_to_level(jax.random.PRNGKey(0), level, PARAMS)
    np.testing.assert_array_equal(obs[4], reset_obs)
    assert info["final_observation"][4][4, 2, 1] == 1  # the pre-reset view: agent on the goal


@PROPERTY
@given(turns=st.integers(0, T - 1))
def test_reward_is_one_minus_point_nine_t_over_T_at_the_goal(turns):
    level = ascii_level([">G" + "." * 11] + ["." * 13] * 12)
    actions = jnp.asarray([1] * turns + [2] + [0] * (T - turns - 1), jnp.int32)
    _, (_, _, reward, terminated, truncated, _, _, _) = rollout(level, actions)
    reward, terminated, truncated = map(np.asarray, (reward, terminated, truncated))
    # Turns in multiples of four face the goal again; others step sideways or into the edge.
    reaches = turns % 4 == 0
    assert terminated.nonzero()[0].tolist() == ([turns] if reaches else [])
    expected = 1.0 - 0.9 * (turns + 1) / T if reaches else 0.0
    np.testing.assert_allclose(reward[turns], expected, rtol=1e-6)
    # After reaching the goal the episode restarts, so the time limit is not hit in T steps.
    assert not reward[:turns].any()
    assert truncated.nonzero()[0].tolist() == ([] if reaches else [T - 1])


def test_truncation_at_the_time_limit_then_same_level():
    level = named_levels()["Labyrinth"]
    state, (_, _, reward, terminated, truncated, _, _, _) = rollout(level, jnp.zeros(T, jnp.int32))
    assert np.asarray(truncated).nonzero()[0].tolist() == [T - 1]
    assert not np.asarray(terminated).any() and not np.asarray(reward).any()
    assert int(state.time) == 0 and np.array_equal(state.agent_pos, level.agent_pos)
    assert level_to_ascii(state.level) == level_to_ascii(level)


def test_observation_is_the_egocentric_view_ahead():
    # Facing north in the top-left corner: the four rows ahead lie off the grid (walls),
    # and so does the column to the agent's left.
    level = ascii_level(["^" + "." * 12, ".#" + "." * 11, "G" + "." * 12] + ["." * 13] * 10)
    obs, _ = ENV.reset_to_level(jax.random.PRNGKey(0), level, PARAMS)
    assert (obs[:4, :, 0] == 1).all() and (obs[4, :2, 0] == 1).all() and (obs[4, 2:, 0] == 0).all()
    assert (obs[..., 1] == 0).all() and (obs[..., 2:] == jax.nn.one_hot(3, 4)).all()
    # Facing south from the same cell: the goal is two ahead, the wall one ahead and one left
    # (the agent's left is east when facing south).
    obs, _ = ENV.reset_to_level(
        jax.random.PRNGKey(0), level.replace(agent_dir=jnp.int32(1)), PARAMS
    )
    assert obs[2, 2, 1] == 1 and obs[3, 1, 0] == 1 and obs[:, 3:, 0].all()


def test_resetting_to_different_levels_compiles_once(count_compilations):
    @jax.jit
    def reset_and_step(key, level):
        obs, state = ENV.reset_to_level(key, level, PARAMS)
        return ENV.step(key, state, jnp.int32(2), PARAMS)[0].sum() + obs.sum()

    key = jax.random.PRNGKey(0)
    named = named_levels()["RljaxFourRooms"]
    sampled = random_level(3, 30)
    mutated = mutate(key, sampled, jnp.int32(3))
    handmade = Level.create(np.zeros((13, 13)), [1, 1], 2, [5, 5])  # float/int inputs, cast
    jax.block_until_ready((named, sampled, mutated, handmade))
    with count_compilations() as compiles:
        for level in (named, sampled, mutated, handmade):
            jax.block_until_ready(reset_and_step(key, level))
    assert compiles.value == 1, f"{compiles.value} compilations"


def test_registered_names_and_spaces():
    env, params = rljax.make("Maze-13x13")
    assert params == MazeParams() and action_spec(env, params).num_actions == 3
    assert env.observation_space(params).shape == (5, 5, 6) and max_episode_steps(env, params) == T
    dr_env, dr_params = rljax.make("Maze-13x13-DR", num_walls=60)
    assert dr_params.auto_reset == "sample" and dr_params.num_walls == 60
    # DR auto-reset draws a new level when the episode ends.
    level = ascii_level([">G" + "." * 11] + ["." * 13] * 12)
    _, state = dr_env.reset_to_level(jax.random.PRNGKey(0), level, dr_params)
    _, state, _, terminated, _, _ = jax.jit(dr_env.step, static_argnums=3)(
        jax.random.PRNGKey(1), state, 2, dr_params
    )
    assert bool(terminated) and level_to_ascii(state.level) != level_to_ascii(level)
    adv_env, adv_params = rljax.make("MazeAdversary-13x13")
    assert action_spec(adv_env, adv_params).num_actions == 169 and adv_params.num_walls == 50


# --- bad input -----------------------------------------------------------------------------------


def test_level_of_the_wrong_shape_or_dtype_gives_a_clear_error():
    small = Level.create(np.zeros((12, 13)), [0, 0], 0, [1, 1])
    message = r"Level.walls has shape \(12, 13\), expected \(13, 13\).*Fix"
    with pytest.raises(rljax.ConfigError, match=message):
        ENV.reset_to_level(jax.random.PRNGKey(0), small, PARAMS)
    with pytest.raises(rljax.ConfigError, match=message):  # inside jit too, at trace time
        jax.jit(ENV.reset_to_level, static_argnums=2)(jax.random.PRNGKey(0), small, PARAMS)
    batched = jax.tree.map(lambda x: x[None], named_levels()["RljaxFourRooms"])
    with pytest.raises(rljax.ConfigError, match=r"agent_pos has shape \(1, 2\).*vmap"):
        ENV.reset_to_level(jax.random.PRNGKey(0), batched.replace(walls=batched.walls[0]), PARAMS)
    good = named_levels()["RljaxFourRooms"]
    int_walls = good.replace(walls=good.walls.astype(jnp.int32))
    with pytest.raises(rljax.ConfigError, match=r"Level.walls has dtype int32, expected bool"):
        ENV.reset_to_level(jax.random.PRNGKey(0), int_walls, PARAMS)


def test_bad_maps_and_params_name_the_problem():
    with pytest.raises(rljax.ConfigError, match=r"12 rows.*expected 13 rows"):
        level_from_ascii(["." * 13] * 11 + [">" + "G" + "." * 11])
    with pytest.raises(rljax.ConfigError, match="0 goals"):
        level_from_ascii([">" + "." * 12] + ["." * 13] * 12)
    with pytest.raises(rljax.ConfigError, match="unknown character 'x'"):
        level_from_ascii([">Gx" + "." * 10] + ["." * 13] * 12)
    on_wall = Level.create(np.eye(13, dtype=bool), [0, 0], 0, [0, 5])
    with pytest.raises(rljax.ConfigError, match=r"agent_pos=\[0, 0\] is on a wall"):
        check_level(on_wall, PARAMS)
    with pytest.raises(rljax.ConfigError, match=r"MazeParams\.view_size=4 must be odd"):
        MazeParams(view_size=4)
    with pytest.raises(rljax.ConfigError, match="num_walls=200"):
        MazeParams(num_walls=200)


# --- PAIRED adversary ----------------------------------------------------------------------------


def test_adversary_builds_the_hand_specified_level():
    params = AdversaryParams(num_walls=6)
    # goal at (0, 12); agent asked for the goal's cell, so it moves to the next cell (1, 0);
    # walls at (2, 3), (2, 3) again (no-op), on the goal (no-op), on the agent (no-op),
    # (12, 12) and (5, 0).
    actions = [12, 12, 2 * 13 + 3, 2 * 13 + 3, 12, 13, 168, 5 * 13]
    expected_rows = ["." * 12 + "G", "v" + "." * 12, "...#" + "." * 9] + ["." * 13] * 2
    expected_rows += ["#" + "." * 12] + ["." * 13] * 6 + ["." * 12 + "#"]
    expected = ascii_level(expected_rows)

    built = jax.jit(level_from_adversary_actions, static_argnums=2)(jnp.asarray(actions), 1, params)
    assert level_to_ascii(built) == level_to_ascii(expected)

    env = MazeAdversaryEnv()
    step = jax.jit(env.step, static_argnums=3)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    state = state.replace(level=state.level.replace(agent_dir=jnp.int32(1)))
    assert obs.shape == (13, 13, 4) and not obs[..., :3].any()
    for t, action in enumerate(actions):
        obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(t), state, jnp.int32(action), params
        )
        assert bool(terminated) == (t == len(actions) - 1) and not bool(truncated)
        assert float(reward) == 0.0
        if t == 1:  # goal and agent are visible once placed
            assert obs[0, 12, 1] == 1 and obs[1, 0, 2] == 1
    assert level_to_ascii(info["level"]) == level_to_ascii(expected)
    check_level(info["level"], PARAMS)
    np.testing.assert_allclose(info["final_observation"][..., 3], 1.0)
    assert int(state.time) == 0 and not obs[..., :3].any()  # auto-reset to an empty grid


# --- rendering -----------------------------------------------------------------------------------


def test_render_shapes_and_png(tmp_path):
    level = named_levels()["SixteenRooms"]
    image = render_level(level, tile=8)
    assert image.shape == (104, 104, 3) and image.dtype == np.uint8
    with_view = render_level(level, tile=8, view_size=5)
    assert with_view.shape == image.shape and not np.array_equal(with_view, image)
    path = np.asarray([[0, 0], [0, 1], [0, 2], [1, 2]])
    traced = render_trajectory(level, path, tile=8)
    assert traced.shape == image.shape and not np.array_equal(traced, image)
    out = save_level_grid(named_levels(), tmp_path / "named.png")
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_heldout_set_is_the_benchmark_by_default_and_selectable():
    """The maze task space evaluates on the benchmark's 8 mazes unless told otherwise."""
    from envs.maze.task_space import MazeConfig, MazeTaskSpace
    from rljax.config import ConfigError

    assert tuple(MazeTaskSpace(MazeConfig()).heldout()) == BENCHMARK_NAMES
    assert tuple(MazeTaskSpace(MazeConfig(heldout="rljax")).heldout()) == RLJAX_NAMES
    assert len(MazeTaskSpace(MazeConfig(heldout="all")).heldout()) == 22
    with pytest.raises(ConfigError, match="heldout"):
        MazeConfig(heldout="papers")
