"""The gridworld level pytree (LPG's object gridworlds: Oh et al. 2020, "Discovering
Reinforcement Learning Algorithms", NeurIPS, appendix on the training environments), its
padded shapes, movement, reachability and validation.

Every level has the same shapes, padded to the largest reference configuration, and the same
dtypes however it was built (`GridLevel.create` canonicalises both), so a jitted step or a
curriculum buffer of stacked levels compiles once for every level:

    MAX_SIZE = 13         the padded grid side (the largest reference grid, `sparse`, is 13x13)
    MAX_OBJECTS = 7       object slots (the paper's `longer` has 7 objects)
    MAX_TYPES = 5         object types (GROOVE's level space has up to 5)
    MAX_EPISODE_STEPS = 2000   the longest episode (`longer`, `long_dense`)

Positions are `[row, col]`; the level's grid is the top-left `height x width` block of the
padded `MAX_SIZE x MAX_SIZE` array. Actions: 0 east (+col), 1 south (+row), 2 west, 3 north
(the maze's direction order) and 4 stay; a move into a wall or off the level's grid stays.

Level invariants (`check_level` on the host, `is_well_formed` traced): the start and every
valid object lie inside the grid on free cells, all on different cells; types index
`[0, MAX_TYPES)`; probabilities lie in [0, 1]; `1 <= max_steps <= MAX_EPISODE_STEPS`; walls
and invalid object slots outside the grid are canonical (False / position 0, type 0).
Reachability of the objects is the generator's and the editor's promise, not an invariant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax.config import ConfigError

MAX_SIZE = 13
MAX_CELLS = MAX_SIZE * MAX_SIZE
MAX_OBJECTS = 7
MAX_TYPES = 5
MAX_EPISODE_STEPS = 2000
NUM_MASKS = 2**MAX_OBJECTS
"""Subsets of present objects (bit k: object slot k is present)."""
NUM_ACTIONS = 5
EAST, SOUTH, WEST, NORTH, STAY = 0, 1, 2, 3, 4
# [action] -> [drow, dcol]
ACTION_VECTORS = np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [0, 0]], np.int32)


@struct.dataclass
class GridLevel:
    """One gridworld (shapes with K = MAX_OBJECTS, T = MAX_TYPES, S = MAX_SIZE).

    height, width   int32 `[]`: the grid, the top-left block of the padded `[S, S]` arrays
    walls           bool `[S, S]` (False outside the grid)
    start_pos       int32 `[2]`: the agent's cell at every episode start
    obj_pos         int32 `[K, 2]`: where each object starts and (fixed respawn) respawns
    obj_valid       bool `[K]`: which slots hold an object
    obj_type        int32 `[K]`: each object's type
    reward          float32 `[T]`: reward for collecting an object of each type
    p_terminate     float32 `[T]`: probability that collecting it ends the episode
    p_respawn       float32 `[T]`: per-step probability that an absent object reappears
    random_respawn  bool `[]`: objects start and respawn on random free cells (LPG's random
                    gridworlds) instead of at `obj_pos`
    max_steps       int32 `[]`: the time limit (a truncation)

    Build levels with `GridLevel.create` (or `make_level`): it fixes dtypes and padding, so
    levels from every source share one compiled program. A batch has a leading axis on every
    leaf.
    """

    height: jax.Array
    width: jax.Array
    walls: jax.Array
    start_pos: jax.Array
    obj_pos: jax.Array
    obj_valid: jax.Array
    obj_type: jax.Array
    reward: jax.Array
    p_terminate: jax.Array
    p_respawn: jax.Array
    random_respawn: jax.Array
    max_steps: jax.Array

    @classmethod
    def create(
        cls,
        height: Any,
        width: Any,
        walls: Any,
        start_pos: Any,
        obj_pos: Any,
        obj_valid: Any,
        obj_type: Any,
        reward: Any,
        p_terminate: Any,
        p_respawn: Any,
        random_respawn: Any,
        max_steps: Any,
    ) -> GridLevel:
        """Cast to the canonical dtypes and zero the padding (walls outside the grid, invalid
        object slots); works on host data and inside jit alike. Shapes must already be the
        padded ones (`make_level` pads)."""
        height = jnp.asarray(height, jnp.int32)
        width = jnp.asarray(width, jnp.int32)
        inside = inside_mask(height, width)
        valid = jnp.asarray(obj_valid, jnp.bool_)
        return cls(
            height=height,
            width=width,
            walls=jnp.asarray(walls, jnp.bool_) & inside,
            start_pos=jnp.asarray(start_pos, jnp.int32),
            obj_pos=jnp.where(valid[..., None], jnp.asarray(obj_pos, jnp.int32), 0),
            obj_valid=valid,
            obj_type=jnp.where(valid, jnp.asarray(obj_type, jnp.int32), 0),
            reward=jnp.asarray(reward, jnp.float32),
            p_terminate=jnp.asarray(p_terminate, jnp.float32),
            p_respawn=jnp.asarray(p_respawn, jnp.float32),
            random_respawn=jnp.asarray(random_respawn, jnp.bool_),
            max_steps=jnp.asarray(max_steps, jnp.int32),
        )

    def canonical(self) -> GridLevel:
        """The same level through `create` (after `replace` with values of other dtypes)."""
        return GridLevel.create(**{f: getattr(self, f) for f in LEVEL_FIELDS})


LEVEL_FIELDS = tuple(GridLevel.__dataclass_fields__)


def make_level(
    height: int,
    width: int,
    start: Sequence[int],
    objects: Sequence[tuple[int, int, int]],
    reward: Sequence[float],
    p_terminate: Sequence[float],
    p_respawn: Sequence[float],
    max_steps: int,
    walls: Sequence[tuple[int, int]] | np.ndarray = (),
    random_respawn: bool = False,
) -> GridLevel:
    """A checked level from plain values: `objects` as `(row, col, type)`, per-type
    parameters for the types used (padded with zeros to MAX_TYPES), `walls` as a list of
    `(row, col)` cells or a bool `[height, width]` array."""
    wall_grid = np.zeros((MAX_SIZE, MAX_SIZE), bool)
    cells = np.asarray(walls)
    if cells.dtype == bool and cells.ndim == 2:
        wall_grid[: cells.shape[0], : cells.shape[1]] = cells
    else:
        for r, c in walls:
            wall_grid[r, c] = True
    if len(objects) > MAX_OBJECTS:
        raise ConfigError(
            f"make_level got {len(objects)} objects, more than MAX_OBJECTS = {MAX_OBJECTS}. "
            "Fix: use fewer objects (or raise envs.gridworld.level.MAX_OBJECTS)."
        )
    num_types = len(reward)
    if not (len(p_terminate) == len(p_respawn) == num_types <= MAX_TYPES):
        raise ConfigError(
            f"make_level got {len(reward)} rewards, {len(p_terminate)} p_terminate and "
            f"{len(p_respawn)} p_respawn values. Fix: give one of each per type, at most "
            f"MAX_TYPES = {MAX_TYPES} types."
        )
    obj_pos = np.zeros((MAX_OBJECTS, 2), np.int32)
    obj_type = np.zeros(MAX_OBJECTS, np.int32)
    valid = np.zeros(MAX_OBJECTS, bool)
    for k, (r, c, t) in enumerate(objects):
        obj_pos[k], obj_type[k], valid[k] = (r, c), t, True

    def pad(values: Sequence[float]) -> np.ndarray:
        return np.pad(np.asarray(values, np.float32), (0, MAX_TYPES - num_types))

    level = GridLevel.create(
        height,
        width,
        wall_grid,
        start,
        obj_pos,
        valid,
        obj_type,
        pad(reward),
        pad(p_terminate),
        pad(p_respawn),
        random_respawn,
        max_steps,
    )
    check_level(level)
    return level


# --- geometry --------------------------------------------------------------------------------

_ROWS = np.arange(MAX_SIZE)[:, None]
_COLS = np.arange(MAX_SIZE)[None, :]


def inside_mask(height: jax.Array, width: jax.Array) -> jax.Array:
    """bool `[S, S]`: the cells of a `height x width` grid (batched heights broadcast)."""
    height, width = jnp.asarray(height)[..., None, None], jnp.asarray(width)[..., None, None]
    return (height > _ROWS) & (width > _COLS)


def cell_mask(pos: jax.Array) -> jax.Array:
    """bool `[S, S]`: True at `pos` (int `[2]`; off-grid positions mark nothing)."""
    return (pos[0] == _ROWS) & (pos[1] == _COLS)


def free_cells(level: GridLevel) -> jax.Array:
    """bool `[S, S]`: inside the grid and not a wall."""
    return inside_mask(level.height, level.width) & ~level.walls


def flat(pos: jax.Array) -> jax.Array:
    """`[..., 2]` position -> flat index into the padded grid, `row * MAX_SIZE + col`."""
    return pos[..., 0] * MAX_SIZE + pos[..., 1]


def unflat(index: jax.Array) -> jax.Array:
    """Flat index -> int32 `[..., 2]` position."""
    index = jnp.asarray(index, jnp.int32)
    return jnp.stack([index // MAX_SIZE, index % MAX_SIZE], -1)


def move(level: GridLevel, pos: jax.Array, action: jax.Array) -> jax.Array:
    """int32 `[2]`: where `action` takes an agent at `pos`; a wall or the grid's edge stops it,
    and out-of-range actions stay."""
    delta = jnp.asarray(ACTION_VECTORS)[jnp.clip(action, 0, NUM_ACTIONS - 1)]
    delta = jnp.where((action >= 0) & (action < NUM_ACTIONS), delta, 0)
    target = pos + delta
    inside = (target >= 0).all() & (target[0] < level.height) & (target[1] < level.width)
    clipped = jnp.clip(target, 0, MAX_SIZE - 1)
    free = inside & ~level.walls[clipped[0], clipped[1]]
    return jnp.where(free, target, pos).astype(jnp.int32)


def reachable(level: GridLevel) -> jax.Array:
    """bool `[S, S]`: free cells reachable from the start (4-connected flood fill; a while
    loop that stops when the region stops growing)."""
    free = free_cells(level)

    def grow(region: jax.Array) -> jax.Array:
        pad = jnp.pad(region, 1)
        neighbours = pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
        return (region | neighbours) & free

    def body(carry):
        region, _ = carry
        grown = grow(region)
        return grown, (grown != region).any()

    start = cell_mask(level.start_pos) & free
    region, _ = jax.lax.while_loop(lambda c: c[1], body, (start, jnp.bool_(True)))
    return region


def objects_reachable(level: GridLevel, region: jax.Array | None = None) -> jax.Array:
    """bool `[]`: every valid object lies in `region` (default: reachable from the start)."""
    region = reachable(level) if region is None else region
    pos = jnp.clip(level.obj_pos, 0, MAX_SIZE - 1)
    return (~level.obj_valid | region[pos[:, 0], pos[:, 1]]).all()


# --- validation at the boundary ----------------------------------------------------------------

LEVEL_SPEC: dict[str, tuple[tuple[int, ...], Any]] = {
    "height": ((), jnp.int32),
    "width": ((), jnp.int32),
    "walls": ((MAX_SIZE, MAX_SIZE), jnp.bool_),
    "start_pos": ((2,), jnp.int32),
    "obj_pos": ((MAX_OBJECTS, 2), jnp.int32),
    "obj_valid": ((MAX_OBJECTS,), jnp.bool_),
    "obj_type": ((MAX_OBJECTS,), jnp.int32),
    "reward": ((MAX_TYPES,), jnp.float32),
    "p_terminate": ((MAX_TYPES,), jnp.float32),
    "p_respawn": ((MAX_TYPES,), jnp.float32),
    "random_respawn": ((), jnp.bool_),
    "max_steps": ((), jnp.int32),
}
"""field -> (shape, dtype) of one unbatched level."""


def check_level_structure(level: Any) -> None:
    """Shapes and dtypes only, so it runs on tracers too (at trace time). Raises
    `ConfigError` naming the field, what was expected and the fix."""
    if not isinstance(level, GridLevel):
        raise ConfigError(
            f"level is a {type(level).__name__}, expected envs.gridworld.GridLevel. "
            "Fix: build it with GridLevel.create(...) or make_level(...)."
        )
    for field, (shape, dtype) in LEVEL_SPEC.items():
        value = getattr(level, field)
        if tuple(np.shape(value)) != shape:
            raise ConfigError(
                f"GridLevel.{field} has shape {tuple(np.shape(value))}, expected {shape}. "
                "Fix: pass one unbatched level (vmap over a batch), padded to MAX_SIZE / "
                "MAX_OBJECTS / MAX_TYPES as GridLevel.create and make_level do."
            )
        if jnp.result_type(value) != dtype:
            raise ConfigError(
                f"GridLevel.{field} has dtype {jnp.result_type(value)}, expected "
                f"{jnp.dtype(dtype)}. Fix: build levels with GridLevel.create(...) (or call "
                "level.canonical() after replace): a dtype change recompiles every jitted "
                "function that takes the level."
            )


def is_well_formed(level: GridLevel) -> jax.Array:
    """bool `[]`, traceable: the invariants of the module docstring."""
    size_ok = (level.height >= 1) & (level.height <= MAX_SIZE)
    size_ok &= (level.width >= 1) & (level.width <= MAX_SIZE)
    free = free_cells(level)

    def on_free(pos):
        inside = (pos >= 0).all() & (pos[0] < level.height) & (pos[1] < level.width)
        clipped = jnp.clip(pos, 0, MAX_SIZE - 1)
        return inside & free[clipped[0], clipped[1]]

    start_ok = on_free(level.start_pos)
    objects_ok = (~level.obj_valid | jax.vmap(on_free)(level.obj_pos)).all()
    cells = jnp.concatenate([flat(level.start_pos)[None], flat(level.obj_pos)])
    used = jnp.concatenate([jnp.array([True]), level.obj_valid])
    same = (cells[:, None] == cells[None, :]) & used[:, None] & used[None, :]
    distinct = same.sum() == used.sum()  # only the diagonal
    types_ok = (~level.obj_valid | ((level.obj_type >= 0) & (level.obj_type < MAX_TYPES))).all()
    probs = jnp.concatenate([level.p_terminate, level.p_respawn])
    probs_ok = ((probs >= 0) & (probs <= 1)).all()
    steps_ok = (level.max_steps >= 1) & (level.max_steps <= MAX_EPISODE_STEPS)
    padding_ok = ~(level.walls & ~inside_mask(level.height, level.width)).any()
    padding_ok &= (level.obj_valid | (level.obj_pos == 0).all(-1) & (level.obj_type == 0)).all()
    return size_ok & start_ok & objects_ok & distinct & types_ok & probs_ok & steps_ok & padding_ok


def check_level(level: Any) -> None:
    """Full host-side check of a concrete level: structure, then the invariants of the module
    docstring. Raises `ConfigError` naming the field and the fix."""
    check_level_structure(level)
    height, width = int(level.height), int(level.width)
    if not (1 <= height <= MAX_SIZE and 1 <= width <= MAX_SIZE):
        raise ConfigError(
            f"GridLevel.height/width = {height}x{width} is outside 1..{MAX_SIZE}. "
            f"Fix: use a grid of at most {MAX_SIZE}x{MAX_SIZE} cells."
        )
    walls = np.asarray(level.walls)
    if walls[height:].any() or walls[:, width:].any():
        raise ConfigError(
            "GridLevel.walls marks cells outside the grid. Fix: build the level with "
            "GridLevel.create, which clears the padding."
        )
    valid = np.asarray(level.obj_valid)
    positions = [("start_pos", np.asarray(level.start_pos))]
    positions += [(f"obj_pos[{k}]", np.asarray(level.obj_pos[k])) for k in np.flatnonzero(valid)]
    seen: dict[tuple[int, int], str] = {}
    for field, pos in positions:
        r, c = (int(x) for x in pos)
        if not (0 <= r < height and 0 <= c < width):
            raise ConfigError(
                f"GridLevel.{field}={[r, c]} lies outside the {height}x{width} grid. "
                "Fix: use [row, col] with 0 <= row < height and 0 <= col < width."
            )
        if walls[r, c]:
            raise ConfigError(
                f"GridLevel.{field}={[r, c]} is on a wall. Fix: clear walls[{r}, {c}] or "
                "move it to a free cell."
            )
        if (r, c) in seen:
            raise ConfigError(
                f"GridLevel.{field} and GridLevel.{seen[(r, c)]} share the cell {[r, c]}. "
                "Fix: put the start and every object on different cells."
            )
        seen[(r, c)] = field
    types = np.asarray(level.obj_type)[valid]
    if ((types < 0) | (types >= MAX_TYPES)).any():
        raise ConfigError(
            f"GridLevel.obj_type has {types.tolist()}, outside 0..{MAX_TYPES - 1}. "
            f"Fix: use at most MAX_TYPES = {MAX_TYPES} types."
        )
    for field in ("p_terminate", "p_respawn"):
        probs = np.asarray(getattr(level, field))
        if not ((probs >= 0) & (probs <= 1)).all():
            raise ConfigError(
                f"GridLevel.{field}={probs.tolist()} is not a probability per type. "
                "Fix: use values in [0, 1]."
            )
    if not 1 <= int(level.max_steps) <= MAX_EPISODE_STEPS:
        raise ConfigError(
            f"GridLevel.max_steps={int(level.max_steps)} is outside 1..{MAX_EPISODE_STEPS}. "
            f"Fix: use a time limit of at most MAX_EPISODE_STEPS = {MAX_EPISODE_STEPS}."
        )


def stack_levels(levels: Sequence[GridLevel]) -> GridLevel:
    """A batch `[N, ...]` of levels (e.g. for `jax.vmap(env.reset_to, (0, 0, None))`)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *levels)
