"""envs.gridworld: LPG's object gridworlds with levels. GROOVE's generator and the editor,
the env's dynamics (properties over random levels and actions), value iteration against
hand-worked values, a plain-Python reference and Monte Carlo returns of the env, the named
levels, observations, rendering, the task space and its config. Every jitted function is
built once per module and reused."""

import functools
import itertools
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from envs.gridworld import (
    MAX_EPISODE_STEPS,
    MAX_OBJECTS,
    MAX_SIZE,
    MAX_TYPES,
    NUM_ACTIONS,
    RANDOM_NAMES,
    TABULAR_NAMES,
    TABULAR_SIZE,
    GridLevel,
    GridworldConfig,
    GridworldEnv,
    GridworldTaskSpace,
    check_level,
    is_well_formed,
    make_level,
    mutate_level,
    named_levels,
    optimal_return,
    render,
    sample_level,
    stack_levels,
    symbolic_observation,
    tabular_index,
)
from envs.gridworld.level import LEVEL_FIELDS, LEVEL_SPEC
from rljax.config import ConfigError
from rljax.task_space import make_task_space, reset_to_tasks, stack_tasks

ENV = GridworldEnv("tabular")
PARAMS = ENV.default_params
PROPERTY = settings(max_examples=10, deadline=None)
LEVEL_PROPERTY = settings(max_examples=6, deadline=None)
"""For properties whose every example checks `BATCH` levels."""
SEEDS = st.integers(0, 2**31 - 1)
STEPS = 48
"""Steps of every rollout (`play`); levels played there have max_steps <= STEPS."""
BATCH = 32
"""Rollouts per `play` call (one key each), levels per generator or editor call."""

sample_batch = jax.jit(jax.vmap(lambda key: sample_level(key, random_respawn=True)))
mutate_batch = jax.jit(jax.vmap(mutate_level, in_axes=(0, 0, None)))
initial_batch = jax.jit(jax.vmap(GridworldTaskSpace().initial))
reset = jax.jit(ENV.reset_to)
optimal = jax.jit(optimal_return)
optimal_batch = jax.jit(jax.vmap(optimal_return))
RANDOM_POLICY = np.full((STEPS, TABULAR_SIZE), -1, np.int32)


def generate(seed, random_respawn=True):
    """`BATCH` levels of GROOVE's space (numpy leaves) from `seed`."""
    levels = sample_batch(jax.random.split(jax.random.PRNGKey(seed), BATCH))
    levels = levels.replace(random_respawn=levels.random_respawn & random_respawn)
    return jax.tree.map(np.asarray, levels)


def index(levels, i):
    """Level `i` (or a slice) of a batch."""
    return jax.tree.map(lambda x: x[i], levels)


@jax.jit
def play(level, key, policy):
    """`BATCH` rollouts of `STEPS` steps on `level`, one key each. `policy [STEPS,
    TABULAR_SIZE]` int32 gives the action at (episode step, tabular state); -1 acts at random.
    Per step: the state before it (agent, objects, present, time), the action, the tabular
    state the step ended in (before any reset), reward, flags, and the state after it."""

    def one(key):
        reset_key, key = jax.random.split(key)
        _, state = ENV.reset_to(reset_key, level, PARAMS)

        def step(state, k):
            action_key, step_key = jax.random.split(k)
            chosen = policy[jnp.minimum(state.time, STEPS - 1), tabular_index(state)]
            random = jax.random.randint(action_key, (), 0, NUM_ACTIONS)
            action = jnp.where(chosen < 0, random, chosen)
            _, new, reward, terminated, truncated, info = ENV.step(step_key, state, action, PARAMS)
            before = (state.agent_pos, state.obj_pos, state.present, state.time)
            after = (new.agent_pos, new.obj_pos, new.present, new.time)
            final = jnp.argmax(info["final_observation"])
            return new, (before, action, final, reward, terminated, truncated, after)

        return jax.lax.scan(step, state, jax.random.split(key, STEPS))[1]

    return jax.vmap(one)(jax.random.split(key, BATCH))


def episode_returns(rewards, terminated, truncated):
    """Returns of the complete episodes in `[BATCH, STEPS]` step records."""
    returns = []
    for r, te, tr in zip(rewards, terminated, truncated, strict=True):
        total = 0.0
        for reward, done in zip(r, te | tr, strict=True):
            total += float(reward)
            if done:
                returns.append(total)
                total = 0.0
    return np.array(returns)


MOVES = ((0, 1), (1, 0), (0, -1), (-1, 0), (0, 0))
"""Reference: (drow, dcol) of actions 0 east, 1 south, 2 west, 3 north, 4 stay."""


def python_move(level, pos, action):
    """Reference: a move in plain Python (`level` with numpy leaves)."""
    dr, dc = MOVES[action]
    r, c = int(pos[0]) + int(dr), int(pos[1]) + int(dc)
    if 0 <= r < level.height and 0 <= c < level.width and not level.walls[r, c]:
        return (r, c)
    return (int(pos[0]), int(pos[1]))


def python_reachable(level):
    """Reference: breadth-first search from the start over free cells."""
    level = jax.tree.map(np.asarray, level)
    height, width, walls = int(level.height), int(level.width), np.asarray(level.walls)
    start = tuple(int(x) for x in level.start_pos)
    seen, queue = {start}, deque([start])
    while queue:
        pos = queue.popleft()
        for action in range(4):
            nxt = python_move(level, pos, action)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert all(0 <= r < height and 0 <= c < width and not walls[r, c] for r, c in seen)
    return seen


def python_optimal(level, horizon):
    """Reference: the optimal expected return by plain recursion over (steps to go, cell,
    present objects), enumerating every respawn pattern. Returns (value, policy) with
    `policy[(k, cell, present)]` an optimal action with k steps to go."""
    level = jax.tree.map(np.asarray, level)
    valid = [int(k) for k in np.flatnonzero(np.asarray(level.obj_valid))]
    cells = {k: tuple(int(x) for x in level.obj_pos[k]) for k in valid}
    kind = {k: int(level.obj_type[k]) for k in valid}
    reward, p_term, p_resp = (
        np.asarray(x, np.float64) for x in (level.reward, level.p_terminate, level.p_respawn)
    )
    policy = {}

    @functools.cache
    def value(k, pos, present):
        if k == 0:
            return 0.0
        best, best_action = -np.inf, 0
        for action in range(NUM_ACTIONS):
            nxt = python_move(level, pos, action)
            got = [j for j in valid if j in present and cells[j] == nxt]
            gain = sum(reward[kind[j]] for j in got)
            survive = np.prod([1.0 - p_term[kind[j]] for j in got])
            absent = [j for j in valid if j not in present]
            future = 0.0
            for pattern in itertools.product((False, True), repeat=len(absent)):
                prob = np.prod(
                    [
                        p_resp[kind[j]] if on else 1 - p_resp[kind[j]]
                        for j, on in zip(absent, pattern, strict=True)
                    ]
                )
                back = {j for j, on in zip(absent, pattern, strict=True) if on}
                if prob > 0:
                    future += prob * value(k - 1, nxt, frozenset((present - set(got)) | back))
            q = gain + survive * future
            if q > best + 1e-12:
                best, best_action = q, action
        policy[(k, pos, present)] = best_action
        return best

    start = tuple(int(x) for x in level.start_pos)
    return value(horizon, start, frozenset(valid)), policy


def tiny_level(p_respawn, max_steps=6):
    """3x3 with a wall in the middle column, three objects of three types."""
    return make_level(
        3,
        3,
        start=(0, 0),
        objects=[(2, 2, 0), (0, 2, 1), (2, 0, 2)],
        reward=(1.0, 0.6, -0.5),
        p_terminate=(0.5, 0.2, 0.0),
        p_respawn=p_respawn,
        max_steps=max_steps,
        walls=[(1, 1)],
    )


# --- generator and editor -----------------------------------------------------------------------


def signature(level):
    """Every leaf's (shape, dtype, weak type): what decides whether jit recompiles."""
    return jax.tree.map(
        lambda x: (jnp.shape(x), jnp.result_type(x), jax.typeof(x).weak_type), level
    )


EXPECTED_SIGNATURE = {
    f: (shape, jnp.dtype(dtype), False) for f, (shape, dtype) in LEVEL_SPEC.items()
}


@LEVEL_PROPERTY
@given(seed=SEEDS)
def test_generated_levels_are_well_formed_reachable_and_within_grooves_ranges(seed):
    levels = generate(seed)
    assert bool(jax.vmap(is_well_formed)(levels).all())
    height, width = np.asarray(levels.height), np.asarray(levels.width)
    assert (height == width).all() and (height >= 4).all() and (height <= 10).all()
    valid = np.asarray(levels.obj_valid)
    counts = valid.sum(1)
    assert (counts >= 1).all() and (counts <= 5).all() and not valid[:, 5:].any()
    assert (valid == (np.arange(MAX_OBJECTS) < counts[:, None])).all()  # slots 0.. in order
    assert (np.asarray(levels.obj_type)[valid] == np.nonzero(valid)[1]).all()  # object k: type k
    reward = np.asarray(levels.reward)
    assert (reward[:, 0] >= 0).all() and (reward <= 1).all() and (reward >= -1).all()
    p_term, p_resp = np.asarray(levels.p_terminate), np.asarray(levels.p_respawn)
    assert (p_term >= 0.01 - 1e-6).all() and (p_term <= 1 + 1e-6).all()
    assert (p_resp >= 0.001 - 1e-7).all() and (p_resp <= 0.1 + 1e-7).all()
    steps = np.asarray(levels.max_steps)
    assert (steps >= 20).all() and (steps <= 750).all()
    walls = np.asarray(levels.walls)
    assert (
        (walls.sum((1, 2)) <= 15).all() and not walls[:, 10:].any() and not walls[:, :, 10:].any()
    )
    assert bool(np.asarray(levels.random_respawn).all())
    for i in range(BATCH):
        level = index(levels, i)
        check_level(level)  # start and objects inside, on free cells, all apart
        region = python_reachable(level)
        for k in np.flatnonzero(valid[i]):
            assert tuple(np.asarray(level.obj_pos[k]).tolist()) in region


def test_generator_spreads_over_its_ranges():
    levels = stack_levels([generate(seed) for seed in range(8)])
    levels = jax.tree.map(lambda x: np.asarray(x).reshape(-1, *x.shape[2:]), levels)
    assert set(np.asarray(levels.height).tolist()) == set(range(4, 11))
    assert set(np.asarray(levels.obj_valid).sum(1).tolist()) == {1, 2, 3, 4, 5}
    walls = np.asarray(levels.walls).sum((1, 2))
    ten = np.asarray(levels.height) == 10
    assert 12 <= walls[ten].mean() <= 15  # about 15 on 10x10 (fewer where the start was freed)
    steps = np.log(np.asarray(levels.max_steps))
    assert abs(np.median(steps) - np.log(np.sqrt(20 * 750))) < 0.4  # log-uniform
    assert (np.asarray(levels.reward)[:, 1:] < 0).any()
    for i in range(len(steps)):  # every object reachable from the start
        level = index(levels, i)
        cells = np.asarray(level.obj_pos)[np.asarray(level.obj_valid)].tolist()
        assert {tuple(c) for c in cells} <= python_reachable(level)


@LEVEL_PROPERTY
@given(seed=SEEDS, num_edits=st.integers(0, 10))
def test_edited_levels_stay_well_formed_with_reachable_objects(seed, num_edits):
    levels = generate(seed)
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), BATCH)
    children = mutate_batch(keys, levels, jnp.int32(num_edits))
    assert signature(children) == signature(sample_batch(keys))
    assert bool(jax.vmap(is_well_formed)(children).all())
    children = jax.tree.map(np.asarray, children)
    for i in range(BATCH):
        child, parent = index(children, i), index(levels, i)
        region = python_reachable(child)
        for k in np.flatnonzero(np.asarray(child.obj_valid)):
            assert tuple(np.asarray(child.obj_pos[k]).tolist()) in region
        changed = int((np.asarray(child.walls) != np.asarray(parent.walls)).sum())
        changed += int((np.asarray(child.obj_valid) != np.asarray(parent.obj_valid)).sum())
        moved = (np.asarray(child.obj_pos) != np.asarray(parent.obj_pos)).any(1)
        changed += int((moved & np.asarray(child.obj_valid) & np.asarray(parent.obj_valid)).sum())
        changed += int((np.asarray(child.p_terminate) != np.asarray(parent.p_terminate)).sum())
        changed += int((np.asarray(child.p_respawn) != np.asarray(parent.p_respawn)).sum())
        assert changed <= num_edits
        assert int(child.obj_valid.sum()) >= 1
        np.testing.assert_array_equal(child.start_pos, parent.start_pos)


def test_each_edit_happens():
    level = index(generate(3), 0)
    keys = jax.random.split(jax.random.PRNGKey(4), BATCH)
    children = mutate_batch(keys, stack_levels([level] * BATCH), jnp.int32(1))
    walls = np.asarray(children.walls).sum((1, 2)) - int(level.walls.sum())
    count = np.asarray(children.obj_valid).sum(1) - int(level.obj_valid.sum())
    moved = (np.asarray(children.obj_pos) != np.asarray(level.obj_pos)).any(-1).any(-1)
    probs = (np.asarray(children.p_terminate) != np.asarray(level.p_terminate)).any(1)
    probs |= (np.asarray(children.p_respawn) != np.asarray(level.p_respawn)).any(1)
    assert {-1, 1} <= set(walls.tolist()) and {-1, 1} <= set(count.tolist())
    assert (moved & (count == 0)).any() and probs.any()


def test_an_added_wall_never_cuts_an_object_off():
    """A 1-wide corridor: any wall between the start and the object would cut it off."""
    walls = np.ones((3, 5), bool)
    walls[1] = False
    level = make_level(3, 5, (1, 0), [(1, 4, 0)], (1.0,), (1.0,), (0.0,), 20, walls=walls)
    keys = jax.random.split(jax.random.PRNGKey(0), BATCH)
    children = jax.tree.map(
        np.asarray, mutate_batch(keys, stack_levels([level] * BATCH), jnp.int32(6))
    )
    for i in range(BATCH):
        child = index(children, i)
        for k in np.flatnonzero(np.asarray(child.obj_valid)):
            assert tuple(np.asarray(child.obj_pos[k]).tolist()) in python_reachable(child)


# --- one level structure, whatever built it ------------------------------------------------------


def test_every_construction_path_gives_the_same_shapes_dtypes_and_one_compiled_step(
    count_compilations,
):
    key = jax.random.PRNGKey(0)
    space = GridworldTaskSpace(GridworldConfig(heldout="all", num_heldout_sampled=1))
    hand = make_level(5, 4, (0, 0), [(4, 3, 0)], (1.0,), (0.5,), (0.05,), 30, walls=[(2, 2)])
    from_numpy = GridLevel.create(**{f: np.asarray(getattr(hand, f)) for f in LEVEL_FIELDS})
    keys = jax.random.split(key, BATCH)
    paths = {
        "make_level": hand,
        "GridLevel.create(numpy)": from_numpy,
        "replace(...).canonical()": hand.replace(max_steps=7, random_respawn=True).canonical(),
        "sample_level": index(sample_batch(keys), 0),
        "mutate_level": index(mutate_batch(keys, stack_levels([hand] * BATCH), 3), 0),
        "initial": index(initial_batch(keys), 0),
        **{f"heldout {name}": level for name, level in space.heldout().items()},
    }
    for name, level in paths.items():
        assert signature(level) == signature(hand), name
    assert {f: getattr(signature(hand), f) for f in LEVEL_FIELDS} == EXPECTED_SIGNATURE
    states = {name: reset(key, level, PARAMS)[1] for name, level in paths.items()}
    step = jax.jit(ENV.step)
    action = jnp.int32(1)
    with count_compilations() as count:
        for state in states.values():
            jax.block_until_ready(step(key, state, action, PARAMS))
    assert count.value == 1


def test_check_level_names_the_bad_field():
    level = named_levels()["longer"]
    on_wall = level.replace(start_pos=np.array([0, 4], np.int32))
    with pytest.raises(ConfigError, match=r"GridLevel.start_pos=\[0, 4\] is on a wall"):
        check_level(on_wall)
    together = level.replace(obj_pos=np.asarray(level.obj_pos).copy())
    together.obj_pos[1] = together.obj_pos[0]
    with pytest.raises(ConfigError, match=r"obj_pos\[1\] and GridLevel.obj_pos\[0\] share"):
        check_level(together)
    with pytest.raises(ConfigError, match=r"GridLevel\.max_steps has dtype float32"):
        check_level(level.replace(max_steps=np.float32(5)))
    with pytest.raises(ConfigError, match=r"GridLevel.walls has shape \(9, 9\)"):
        ENV.reset_to(jax.random.PRNGKey(0), level.replace(walls=np.zeros((9, 9), bool)), PARAMS)


# --- dynamics ------------------------------------------------------------------------------------


def check_rollout(level, records, rollouts=BATCH):
    """The env's invariants on the first `rollouts` of `play`'s records of `level` (see the
    asserts)."""
    level = jax.tree.map(np.asarray, level)
    (b_agent, b_obj, b_present, b_time), actions, final, rewards, term, trunc, after = records
    a_agent, a_obj, a_present, a_time = after
    walls, valid = np.asarray(level.walls), np.asarray(level.obj_valid)
    kinds = np.asarray(level.obj_type)
    reward, p_term, p_resp = (
        np.asarray(x) for x in (level.reward, level.p_terminate, level.p_respawn)
    )
    start, max_steps = tuple(np.asarray(level.start_pos).tolist()), int(level.max_steps)
    random_respawn = bool(level.random_respawn)
    height, width = int(level.height), int(level.width)
    region = python_reachable(level)
    for i in range(rollouts):
        episode_step = 0
        for t in range(STEPS):
            assert int(b_time[i, t]) == episode_step  # the state counts this episode's steps
            cell, mask = divmod(int(final[i, t]), MAX_SIZE * MAX_SIZE)[::-1]
            pos = divmod(cell, MAX_SIZE)
            # The agent moves as a plain-Python move does: never into a wall or off the grid.
            assert pos == python_move(level, b_agent[i, t], int(actions[i, t]))
            assert 0 <= pos[0] < height and 0 <= pos[1] < width and not walls[pos]
            here = b_present[i, t] & (b_obj[i, t] == pos).all(-1)
            # Reward only on a collection, the collected type's; termination only then too.
            assert np.isclose(rewards[i, t], reward[kinds[here]].sum())
            if not here.any():
                assert not term[i, t]
            elif (p_term[kinds[here]] == 1).any():
                assert term[i, t]
            elif (p_term[kinds[here]] == 0).all():
                assert not term[i, t]
            # The time limit truncates exactly at max_steps.
            assert bool(trunc[i, t]) == (episode_step + 1 == max_steps)
            # After the step: collected objects are gone, present ones stay, absent ones
            # reappear only if their type can.
            present = np.array([(mask >> k) & 1 for k in range(MAX_OBJECTS)], bool)
            assert not (present & here).any() and (present[b_present[i, t] & ~here]).all()
            reappeared = present & ~b_present[i, t]
            assert not (reappeared & ~valid).any() and (p_resp[kinds[reappeared]] > 0).all()
            came_back = ~b_present[i, t] & valid & (p_resp[kinds] == 1)
            assert present[came_back].all()
            if term[i, t] or trunc[i, t]:
                episode_step = 0
                assert tuple(a_agent[i, t].tolist()) == start and int(a_time[i, t]) == 0
                assert (a_present[i, t] == valid).all()
            else:
                episode_step += 1
                assert tuple(a_agent[i, t].tolist()) == pos and (a_present[i, t] == present).all()
            # Objects: on free cells reachable from the start (so never on walls), apart,
            # never under a fresh agent; fixed respawn keeps them on their own cells.
            cells = [tuple(p) for p in a_obj[i, t][a_present[i, t]].tolist()]
            assert len(set(cells)) == len(cells) and set(cells) <= region
            if random_respawn:
                new = reappeared if not (term[i, t] or trunc[i, t]) else a_present[i, t]
                agent = tuple(a_agent[i, t].tolist())
                assert agent not in {tuple(p) for p in a_obj[i, t][new].tolist()}
            else:
                np.testing.assert_array_equal(a_obj[i, t][valid], np.asarray(level.obj_pos)[valid])


PROBS = st.lists(st.sampled_from([0.0, 0.3, 1.0]), min_size=MAX_TYPES, max_size=MAX_TYPES)


@PROPERTY
@given(
    seed=SEEDS,
    max_steps=st.integers(1, 20),
    p_terminate=PROBS,
    p_respawn=PROBS,
    random_respawn=st.booleans(),
)
def test_env_invariants_over_random_levels_and_actions(
    seed, max_steps, p_terminate, p_respawn, random_respawn
):
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    level = index(generate(seed), 0).replace(
        max_steps=max_steps,
        p_terminate=np.float32(p_terminate),
        p_respawn=np.float32(p_respawn),
        random_respawn=random_respawn,
    )
    level = level.canonical()
    records = jax.tree.map(np.asarray, play(level, key, RANDOM_POLICY))
    check_rollout(level, records, rollouts=8)


def test_collections_terminations_and_respawns_all_occur_in_the_property_levels():
    """The property above is not vacuous: on a small crowded level every branch happens.
    The walls cut the cell [2, 3] off from the start: random respawns never land there."""
    level = make_level(
        3,
        4,
        (1, 1),
        [(0, 0, 0), (0, 2, 1), (2, 0, 2), (1, 2, 3)],
        (1.0, -0.5, 0.25, 0.75),
        (0.0, 0.3, 1.0, 0.0),
        (1.0, 0.3, 0.0, 0.5),
        20,
        walls=[(1, 3), (2, 2)],
        random_respawn=True,
    )
    records = jax.tree.map(np.asarray, play(level, jax.random.PRNGKey(1), RANDOM_POLICY))
    check_rollout(level, records)
    (_, _, before, _), _, _, rewards, term, trunc, (_, _, after, _) = records
    respawned = (after & ~before)[~(term | trunc)]
    assert (rewards != 0).mean() > 0.1 and term.any() and trunc.any() and respawned.any()


def test_a_terminating_object_at_distance_d_by_hand():
    """One object (reward 1, p_terminate 1) 5 moves east of the start: walking there
    collects it on step 5 and terminates; the optimal return is 1 iff max_steps >= 5."""
    level = make_level(1, 7, (0, 0), [(0, 5, 0)], (1.0,), (1.0,), (0.0,), 10)
    policy = np.full((STEPS, TABULAR_SIZE), 0, np.int32)  # always east
    _, _, _, rewards, term, trunc, _ = jax.tree.map(
        np.asarray, play(level, jax.random.PRNGKey(0), policy)
    )
    np.testing.assert_array_equal(rewards[0, :6], [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(term[0, :6], [0, 0, 0, 0, 1, 0])
    assert not trunc[0, :10].any()
    for steps, expected in ((10, 1.0), (5, 1.0), (4, 0.0)):
        assert float(optimal(level.replace(max_steps=jnp.int32(steps)))) == expected


def test_a_respawning_object_by_hand():
    """An object next to the start with p_respawn 1, p_terminate 0, reward 1: collected on
    step 1, absent on step 2 (it respawns at the end of it), collected again on step 3, ...:
    ceil(T / 2) collections in T steps; staying put after the first move achieves it."""
    level = make_level(1, 3, (0, 0), [(0, 1, 0)], (1.0,), (0.0,), (1.0,), 9)
    policy = np.full((STEPS, TABULAR_SIZE), 4, np.int32)  # stay ...
    policy[0] = 0  # ... after one step east
    _, _, _, rewards, term, trunc, _ = jax.tree.map(
        np.asarray, play(level, jax.random.PRNGKey(0), policy)
    )
    np.testing.assert_array_equal(rewards[0, :9], [1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert not term.any() and trunc[0, 8] and not trunc[0, :8].any()
    for steps in (1, 2, 9, 10, 11):
        level_t = level.replace(max_steps=jnp.int32(steps))
        assert float(optimal(level_t)) == -(-steps // 2)
    # p_respawn 0: collected once. p_respawn 1/2, staying on the cell: T = 3 pays 1 + 1/2
    # (back for step 3 with chance 1/2); T = 4 pays 1 + 1/2 + 1/4 (back for step 3; or not,
    # then back for step 4 with chance 1/2).
    never = np.zeros(MAX_TYPES, np.float32)
    assert float(optimal(level.replace(p_respawn=never))) == 1.0
    half = np.full(MAX_TYPES, 0.5, np.float32)
    for steps, expected in ((3, 1.5), (4, 1.75)):
        level_t = level.replace(p_respawn=half, max_steps=jnp.int32(steps))
        assert float(optimal(level_t)) == pytest.approx(expected)


@pytest.mark.parametrize("p_respawn", [(0.0, 0.0, 0.0), (0.3, 1.0, 0.5)], ids=["none", "some"])
def test_value_iteration_equals_a_plain_python_recursion(p_respawn):
    level = tiny_level(p_respawn)
    expected, _ = python_optimal(level, int(level.max_steps))
    assert float(optimal(level)) == pytest.approx(expected, abs=1e-5)


def test_the_env_pays_the_optimal_return_to_the_optimal_policy():
    """The Python recursion's optimal policy, played in the env, earns the value iteration's
    return on average (the env and the recursion agree on the dynamics' order)."""
    level = tiny_level((0.3, 1.0, 0.5))
    horizon = int(level.max_steps)
    value, choice = python_optimal(level, horizon)
    policy = np.zeros((STEPS, TABULAR_SIZE), np.int32)
    for (k, (r, c), present), action in choice.items():
        mask = sum(1 << j for j in present)
        policy[horizon - k, r * MAX_SIZE + c + MAX_SIZE * MAX_SIZE * mask] = action
    rewards, term, trunc = (np.asarray(x) for x in play(level, jax.random.PRNGKey(5), policy)[3:6])
    returns = episode_returns(rewards, term, trunc)
    assert len(returns) > 200
    sem = returns.std() / np.sqrt(len(returns))
    assert abs(returns.mean() - float(optimal(level))) < 4 * sem + 1e-3
    assert value == pytest.approx(float(optimal(level)), abs=1e-5)


def test_value_iteration_on_a_batch_of_generated_levels_and_a_random_policy_below_it():
    levels = generate(11, random_respawn=False)  # a surrogate bounds nothing (optimal.py)
    levels = index(levels, slice(0, 8))
    levels = levels.replace(max_steps=np.minimum(levels.max_steps, STEPS))
    values = np.asarray(optimal_batch(levels))
    assert np.isfinite(values).all() and (values >= 0).all()  # staying put earns 0
    for i in range(8):
        level = index(levels, i)
        assert values[i] == pytest.approx(float(optimal(level)), abs=1e-5)
        rewards, term, trunc = (
            np.asarray(x) for x in play(level, jax.random.PRNGKey(i), RANDOM_POLICY)[3:6]
        )
        returns = episode_returns(rewards, term, trunc)
        sem = returns.std() / np.sqrt(len(returns))
        assert returns.mean() <= values[i] + 3 * sem + 1e-6


# --- named levels --------------------------------------------------------------------------------

# The LPG reference gridworlds as the project's paper notes list them: grid, object counts per
# type, reward, p_terminate, p_respawn per type, episode length; then the random set from the
# reference's configs.py.
PAPER = {
    "dense": (11, (2, 1, 1), (1, -1, -1), (0, 0.5, 0), (0.05, 0.1, 0.5), 500),
    "sparse": (13, (1, 1), (1, -1), (1, 1), (0, 0), 50),
    "long": (11, (2, 2), (1, -1), (0, 0.5), (0.01, 1), 1000),
    "longer": (9, (2, 5), (1, -1), (0.1, 0.8), (0.01, 1), 2000),
    "long_dense": (11, (4,), (1,), (0,), (0.005,), 2000),
    "rand_dense": (11, (2, 1, 1), (1, -1, -1), (0, 0.5, 0), (0.05, 0.1, 0.5), 500),
    "rand_long": (11, (2, 2), (1, -1), (0, 0.5), (0.01, 1), 1000),
    "rand_small": (7, (2, 2), (1, -1), (0, 0.5), (0.05, 0.1), 500),
    "rand_sparse": (7, (1, 2), (1, -1), (1, 1), (1, 1), 50),
    "rand_very_dense": (11, (1,), (1,), (0,), (1,), 2000),
}


def test_named_levels_have_the_papers_parameters():
    levels = named_levels()
    assert tuple(levels) == TABULAR_NAMES + RANDOM_NAMES == tuple(PAPER)
    for name, (size, counts, reward, p_term, p_resp, steps) in PAPER.items():
        level = levels[name]
        check_level(level)
        types = len(counts)
        assert (int(level.height), int(level.width)) == (size, size), name
        kinds = np.asarray(level.obj_type)[np.asarray(level.obj_valid)]
        assert tuple(np.bincount(kinds, minlength=types)) == counts, name
        np.testing.assert_allclose(level.reward[:types], reward, err_msg=name)
        np.testing.assert_allclose(level.p_terminate[:types], p_term, err_msg=name)
        np.testing.assert_allclose(level.p_respawn[:types], p_resp, err_msg=name)
        assert int(level.max_steps) == steps and bool(level.random_respawn) == (
            name in RANDOM_NAMES
        )
        assert python_reachable(level) >= {
            tuple(p) for p in np.asarray(level.obj_pos)[: sum(counts)].tolist()
        }
    # Host levels go straight into the value iteration, eagerly and jitted alike (dense:
    # 43.47, as its named env's A2C test normalises by).
    dense = levels["dense"]
    assert float(optimal_return(dense)) == pytest.approx(float(optimal(dense)), rel=1e-6)
    assert float(optimal(dense)) == pytest.approx(43.4666, abs=1e-3)
    walls = {name: np.asarray(level.walls) for name, level in levels.items()}
    longer = np.zeros((MAX_SIZE, MAX_SIZE), bool)
    longer[[0, 2, 3, 4, 5, 6, 8], 4] = True
    np.testing.assert_array_equal(walls["longer"], longer)
    cross = np.zeros((MAX_SIZE, MAX_SIZE), bool)
    cross[[1, 2, 3, 4, 5, 6, 8, 9, 10], 5] = True
    cross[4, [0, 1, 3, 4, 5, 6, 7, 9, 10]] = True
    np.testing.assert_array_equal(walls["long_dense"], cross)
    assert (
        walls["rand_small"][1, 2] and walls["rand_small"][3, 4] and walls["rand_small"].sum() == 2
    )
    for name in ("dense", "sparse", "long", "rand_dense", "rand_long", "rand_sparse"):
        assert not walls[name].any(), name
    # sparse: walk to the +1 object (terminates) within 50 steps, avoiding the -1 one.
    assert float(optimal(levels["sparse"])) == pytest.approx(1.0)
    # rand_very_dense (fixed-respawn counterpart): 6 steps to the object, then every other step.
    assert float(optimal(levels["rand_very_dense"])) == pytest.approx((2000 - 6) // 2 + 1)


# --- observations and rendering ------------------------------------------------------------------


def test_observations_encode_the_state_and_not_the_time():
    level = named_levels()["dense"]
    _, state = reset(jax.random.PRNGKey(0), level, PARAMS)
    later = state.replace(time=jnp.int32(123))
    tabular = jax.jit(ENV.observe)
    np.testing.assert_array_equal(tabular(state), tabular(later))
    obs = np.asarray(tabular(state))
    assert obs.shape == (TABULAR_SIZE,) == (169 * 128,) and obs.dtype == np.float32
    assert obs.sum() == 1 and obs.argmax() == 0 + 169 * 0b1111  # cell [0, 0], objects 0..3
    fewer = state.replace(present=state.present.at[2].set(False), agent_pos=jnp.array([2, 3]))
    assert int(np.asarray(tabular(fewer)).argmax()) == 2 * 13 + 3 + 169 * 0b1011
    index = jax.jit(GridworldEnv("index").observe)
    assert np.asarray(index(fewer)).dtype == np.int32
    assert int(index(fewer)) == 2 * 13 + 3 + 169 * 0b1011 == int(index(fewer.replace(time=9)))

    symbolic = np.asarray(jax.jit(symbolic_observation)(fewer))
    assert symbolic.shape == (MAX_SIZE, MAX_SIZE, 2 + MAX_TYPES) and symbolic.dtype == np.float32
    np.testing.assert_array_equal(symbolic[..., 0], ~np.pad(np.ones((11, 11), bool), (0, 2)))
    assert symbolic[2, 3, 1] == 1 and symbolic[..., 1].sum() == 1
    assert symbolic[1, 3, 2] == symbolic[3, 7, 2] == 1 and symbolic[..., 2].sum() == 2
    assert symbolic[..., 3].sum() == 0  # the type-1 object (slot 2) is absent
    assert symbolic[9, 2, 4] == 1 and symbolic[..., 5:].sum() == 0
    np.testing.assert_array_equal(
        np.asarray(jax.jit(symbolic_observation)(later)), symbolic_observation(state)
    )


def test_registered_envs_and_their_spaces():
    for name, shape in (
        ("Gridworld-tabular", (TABULAR_SIZE,)),
        ("Gridworld-index", ()),
        ("Gridworld-symbolic", (13, 13, 7)),
    ):
        env, params = rljax.make(name)
        assert env.observation_space(params).shape == shape
        assert env.action_space(params).n == NUM_ACTIONS == 5
        assert params.max_steps_in_episode == MAX_EPISODE_STEPS
    # `reset` plays a level of GROOVE's space (traced only: the generator is tested above).
    obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0), params)
    assert obs.shape == shape and signature(state.level) == signature(named_levels()["dense"])


def test_render_draws_walls_objects_and_the_agent():
    level = named_levels()["longer"]
    image = render(level, tile=8)
    assert image.shape == (9 * 8, 9 * 8, 3) and image.dtype == np.uint8
    centre = lambda r, c: image[r * 8 + 4, c * 8 + 4]
    np.testing.assert_array_equal(centre(0, 4), [128, 128, 128])  # wall
    np.testing.assert_array_equal(centre(4, 0), [230, 40, 40])  # agent at the start
    np.testing.assert_array_equal(centre(0, 8), [40, 200, 70])  # a type-0 object
    np.testing.assert_array_equal(centre(4, 6), [240, 160, 30])  # a type-1 object
    _, state = reset(jax.random.PRNGKey(0), level, PARAMS)
    moved = state.replace(agent_pos=jnp.array([4, 1]), present=state.present.at[0].set(False))
    after = render(moved, tile=8)
    np.testing.assert_array_equal(after[4 * 8 + 4, 1 * 8 + 4], [230, 40, 40])
    np.testing.assert_array_equal(after[0 * 8 + 4, 8 * 8 + 4], [30, 30, 30])  # collected


# --- task space and config -----------------------------------------------------------------------


def test_task_space_protocol():
    space = make_task_space(GridworldConfig(observation="symbolic", heldout="all"))
    assert isinstance(space, GridworldTaskSpace) and space.env_name == "Gridworld-symbolic"
    assert space.box is None and space.adversary is None and space.return_range == (-1.0, 1.0)
    heldout = space.heldout()
    assert tuple(heldout) == TABULAR_NAMES + RANDOM_NAMES
    obs, _ = reset_to_tasks(space, stack_tasks(heldout), jax.random.PRNGKey(0))
    assert obs.shape == (10, 13, 13, 7)
    initial = initial_batch(jax.random.split(jax.random.PRNGKey(1), BATCH))
    assert (np.asarray(initial.obj_valid).sum(1) == 1).all() and not np.asarray(initial.walls).any()
    assert (np.asarray(initial.reward)[:, 0] >= 0).all()
    np.testing.assert_array_equal(space.success(jnp.array([-0.5, 0.0, 0.3])), [False, False, True])
    sampled = GridworldTaskSpace(GridworldConfig(heldout="none", num_heldout_sampled=3)).heldout()
    assert tuple(sampled) == ("sampled_0", "sampled_1", "sampled_2")
    again = GridworldTaskSpace(GridworldConfig(heldout="none", num_heldout_sampled=3)).heldout()
    np.testing.assert_array_equal(sampled["sampled_2"].walls, again["sampled_2"].walls)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"observation": "pixels"},
            r"GridworldConfig.observation='pixels' is not a valid choice.*tabular, index, symbolic",
        ),
        ({"max_objects": 7}, r"GridworldConfig.max_objects=7 must lie in 1..5.*--max-objects"),
        ({"num_walls": 101}, r"GridworldConfig.num_walls=101 must lie in 0..100"),
        ({"num_heldout_sampled": -1}, r"GridworldConfig.num_heldout_sampled=-1 must be >= 0"),
        (
            {"heldout": "none"},
            r"GridworldConfig.heldout='none'.*leaves no held-out level.*num_heldout_sampled to",
        ),
        ({"random_respawn": "yes"}, r"GridworldConfig.random_respawn='yes' is a str, not a bool"),
    ],
)
def test_config_errors_name_the_field_and_the_fix(changes, message):
    with pytest.raises(ConfigError, match=message):
        GridworldConfig(**changes)
