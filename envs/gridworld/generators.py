"""Random gridworld levels (GROOVE's level space) and an editor for ACCEL.

`sample_level` draws from the level space of GROOVE (Jackson et al. 2023, "Discovering
General Reinforcement Learning Algorithms with Adversarial Environment Design", NeurIPS;
sec. 5 and its appendix; the reference's `all` mode in `environments/gridworld/configs.py`
of EmptyJackson/groove):

    grid           square, side uniform in 4..10
    objects        1..5, object k of type k (so type 0 always exists)
    rewards        type 0 ~ U(0, 1) (the first type is positive), the others ~ U(-1, 1)
    p_terminate    log-uniform in [0.01, 1] per type
    p_respawn      log-uniform in [0.001, 0.1] per type
    walls          15 distinct cells drawn in the 10x10 region, those inside the grid kept
                   (so about 15 side^2 / 100 walls: 2.4 on a 4x4 grid, 15 on 10x10)
    max_steps      round(log-uniform in [20, 750])

Where it differs from the reference, on purpose: the reference draws wall, start and object
cells as flat indices over the 10x10 region and reads them with the level's own row stride,
so a level's walls and objects are not uniform on its grid; here they are drawn as cells of
the grid. The reference can wall in the start or objects; here the start and the objects are
never on walls, all on different cells, and every object is reachable from the start: the
start is drawn first among the grid's cells (a wall there is removed, and if walls enclose it
its neighbouring walls are removed too), then the objects among the cells reachable from it.
On tiny walled grids the reachable region can hold fewer cells than the drawn number of
objects; the count is then capped (the start's region always holds at least 2 cells, so
there is at least one object). Every level is a fixed-respawn (tabular) level unless
`random_respawn` (the reference's `rand_all`).

`mutate_level` is the editor (ACCEL, Parker-Holder et al. 2022, sec. 4: small random edits
of a replayed level); see `EDITS`.

Everything here is pure, jittable and vmappable, and returns canonical levels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.gridworld.level import (
    MAX_OBJECTS,
    MAX_SIZE,
    MAX_TYPES,
    GridLevel,
    cell_mask,
    free_cells,
    inside_mask,
    objects_reachable,
    reachable,
    unflat,
)

SIZE_RANGE = (4, 10)
MAX_GENERATED_OBJECTS = 5
NUM_WALLS = 15
WALL_REGION = 10
"""Walls are drawn among the cells of the top-left WALL_REGION x WALL_REGION block."""
REWARD_RANGE = (-1.0, 1.0)
P_TERMINATE_RANGE = (0.01, 1.0)
P_RESPAWN_RANGE = (0.001, 0.1)
MAX_STEPS_RANGE = (20, 750)

EDITS = (
    "add_wall",
    "remove_wall",
    "move_object",
    "add_object",
    "remove_object",
    "resample_probability",
)
"""The editor's edits, drawn uniformly: add a wall (never on the start or an object, and
never one that cuts an object off from the start), remove a wall, move an object to a free
cell reachable from the start, add an object of a uniform type there (while slots remain),
remove an object (never the last one), and redraw one type's p_terminate or p_respawn from
GROOVE's log-uniform range. An edit with no valid target leaves the level as it is."""


def log_uniform(key: jax.Array, shape: tuple[int, ...], low: float, high: float) -> jax.Array:
    """float32 `shape`: exp(U(log low, log high))."""
    return jnp.exp(jax.random.uniform(key, shape, minval=jnp.log(low), maxval=jnp.log(high)))


def sample_cells(key: jax.Array, allowed: jax.Array, count: int) -> jax.Array:
    """int32 `[count, 2]`: distinct uniformly random cells among the True ones of `allowed`
    (`[S, S]`), in random order (Gumbel top-k). Where fewer cells are allowed, the trailing
    rows are cells that are not allowed: callers use only the first `allowed.sum()` rows."""
    scores = jax.random.gumbel(key, (MAX_SIZE * MAX_SIZE,))
    scores = jnp.where(allowed.reshape(-1), scores, -jnp.inf)
    _, index = jax.lax.top_k(scores, count)
    return unflat(index)


def sample_cell(key: jax.Array, allowed: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One uniformly random allowed cell (int32 `[2]`) and whether there was one."""
    return sample_cells(key, allowed, 1)[0], allowed.any()


def _neighbours(pos: jax.Array) -> jax.Array:
    """bool `[S, S]`: the four cells next to `pos`."""
    return (
        cell_mask(pos + jnp.array([0, 1]))
        | cell_mask(pos + jnp.array([1, 0]))
        | cell_mask(pos - jnp.array([0, 1]))
        | cell_mask(pos - jnp.array([1, 0]))
    )


def sample_level(
    key: jax.Array,
    max_objects: int = MAX_GENERATED_OBJECTS,
    num_walls: int = NUM_WALLS,
    random_respawn: bool | jax.Array = False,
) -> GridLevel:
    """A random level of GROOVE's space (module docstring) with 1..`max_objects` objects
    (static, <= MAX_TYPES: object k has type k) and `num_walls` wall draws (static, <=
    WALL_REGION^2)."""
    if not 1 <= max_objects <= min(MAX_TYPES, MAX_OBJECTS):
        raise ValueError(f"max_objects={max_objects} must lie in 1..{MAX_TYPES}")
    if not 0 <= num_walls <= WALL_REGION**2:
        raise ValueError(f"num_walls={num_walls} must lie in 0..{WALL_REGION**2}")
    keys = jax.random.split(key, 10)
    size = jax.random.randint(keys[0], (), SIZE_RANGE[0], SIZE_RANGE[1] + 1)
    inside = inside_mask(size, size)

    region = inside_mask(WALL_REGION, WALL_REGION)
    wall_cells = sample_cells(keys[1], region, num_walls)
    walls = jnp.zeros((MAX_SIZE, MAX_SIZE), bool)
    walls = walls.at[wall_cells[:, 0], wall_cells[:, 1]].set(True) & inside

    start, _ = sample_cell(keys[2], inside)
    walls &= ~cell_mask(start)
    enclosed = ~(_neighbours(start) & inside & ~walls).any()
    walls = jnp.where(enclosed, walls & ~_neighbours(start), walls)

    num_objects = jax.random.randint(keys[3], (), 1, max_objects + 1)
    base = GridLevel.create(
        size,
        size,
        walls,
        start,
        jnp.zeros((MAX_OBJECTS, 2), jnp.int32),
        jnp.zeros(MAX_OBJECTS, bool),
        jnp.zeros(MAX_OBJECTS, jnp.int32),
        jnp.zeros(MAX_TYPES),
        jnp.zeros(MAX_TYPES),
        jnp.zeros(MAX_TYPES),
        random_respawn,
        1,
    )
    room = reachable(base) & ~cell_mask(start)
    num_objects = jnp.minimum(num_objects, room.sum())
    obj_pos = sample_cells(keys[4], room, MAX_OBJECTS)
    slots = jnp.arange(MAX_OBJECTS)

    reward = jax.random.uniform(keys[5], (MAX_TYPES,), minval=-1.0, maxval=1.0)
    reward = reward.at[0].set(jax.random.uniform(keys[6], (), minval=0.0, maxval=1.0))
    return GridLevel.create(
        size,
        size,
        walls,
        start,
        obj_pos,
        slots < num_objects,
        slots,
        reward,
        log_uniform(keys[7], (MAX_TYPES,), *P_TERMINATE_RANGE),
        log_uniform(keys[8], (MAX_TYPES,), *P_RESPAWN_RANGE),
        random_respawn,
        jnp.round(log_uniform(keys[9], (), *MAX_STEPS_RANGE)),
    )


# --- the editor --------------------------------------------------------------------------------


def _occupied(level: GridLevel) -> jax.Array:
    """bool `[S, S]`: the start and every valid object's cell."""
    objects = jax.vmap(cell_mask)(level.obj_pos) & level.obj_valid[:, None, None]
    return cell_mask(level.start_pos) | objects.any(0)


def _edit(key: jax.Array, level: GridLevel) -> GridLevel:
    """One edit, uniformly among `EDITS`."""
    kind_key, cell_key, slot_key, type_key, prob_key, which_key = jax.random.split(key, 6)
    kind = jax.random.randint(kind_key, (), 0, len(EDITS))
    open_cells = free_cells(level) & ~_occupied(level)
    reach = reachable(level)

    # add_wall: on an open cell, kept only if every object stays reachable.
    cell, found = sample_cell(cell_key, open_cells)
    walled = level.replace(walls=level.walls | (cell_mask(cell) & found))
    add_wall = jax.lax.cond(kind == 0, lambda: objects_reachable(walled), lambda: jnp.bool_(False))
    add_wall &= found

    # remove_wall
    wall_cell, has_wall = sample_cell(cell_key, level.walls)
    unwalled = level.replace(walls=level.walls & ~(cell_mask(wall_cell) & has_wall))

    # move_object / add_object / remove_object: targets are open reachable cells.
    target, has_target = sample_cell(cell_key, open_cells & reach)
    valid = level.obj_valid
    chosen = jax.random.categorical(slot_key, jnp.where(valid, 0.0, -jnp.inf))
    moved = level.replace(obj_pos=level.obj_pos.at[chosen].set(target))
    free_slot = jnp.argmin(valid)  # the first invalid slot (0 if every slot is used)
    new_type = jax.random.randint(type_key, (), 0, MAX_TYPES)
    added = level.replace(
        obj_pos=level.obj_pos.at[free_slot].set(target),
        obj_valid=valid.at[free_slot].set(True),
        obj_type=level.obj_type.at[free_slot].set(new_type),
    )
    removed = level.replace(obj_valid=valid.at[chosen].set(False))

    # resample_probability: one used type's p_terminate or p_respawn.
    used_types = jnp.zeros(MAX_TYPES, bool).at[level.obj_type].max(valid)
    type_ = jax.random.categorical(type_key, jnp.where(used_types, 0.0, -jnp.inf))
    p_key, r_key = jax.random.split(prob_key)
    terminate = jax.random.bernoulli(which_key)
    p_terminate = log_uniform(p_key, (), *P_TERMINATE_RANGE)
    p_respawn = log_uniform(r_key, (), *P_RESPAWN_RANGE)
    resampled = level.replace(
        p_terminate=level.p_terminate.at[type_].set(
            jnp.where(terminate, p_terminate, level.p_terminate[type_])
        ),
        p_respawn=level.p_respawn.at[type_].set(
            jnp.where(terminate, level.p_respawn[type_], p_respawn)
        ),
    )

    branches = [walled, unwalled, moved, added, removed, resampled]  # in the order of EDITS
    ok = jnp.stack(
        [
            add_wall,
            has_wall,
            has_target,
            has_target & ~valid.all(),
            valid.sum() > 1,
            jnp.bool_(True),
        ]
    )
    chosen_level = jax.tree.map(lambda *xs: jnp.stack(xs)[kind], *[b.canonical() for b in branches])
    return jax.tree.map(lambda new, old: jnp.where(ok[kind], new, old), chosen_level, level)


def mutate_level(key: jax.Array, level: GridLevel, num_edits: int | jax.Array) -> GridLevel:
    """`num_edits` random edits in sequence (`EDITS`); `num_edits` may be traced. A well-formed
    level whose objects are reachable from the start stays so, and n edits change at most n
    things (a wall, an object, or one probability)."""
    return jax.lax.fori_loop(
        0, num_edits, lambda i, lvl: _edit(jax.random.fold_in(key, i), lvl), level.canonical()
    )
