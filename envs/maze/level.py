"""The maze level pytree, the env's static parameters, and validation of user-supplied levels.

A `Level` has a fixed shape and canonical dtypes (bool walls, int32 positions), so a jitted
function that resets to different levels, or a curriculum buffer of stacked levels, compiles
once. Positions are `[row, col]`; `walls[row, col]` is True for a wall. Directions follow
MiniGrid: 0 east (+col), 1 south (+row), 2 west, 3 north; turning right adds 1 (mod 4).

ASCII maps (`level_from_ascii`): `#` wall, `.` free, `G` goal, and the agent as `>`, `v`, `<`,
`^` (facing east, south, west, north).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax.config import ConfigError

# [direction] -> [drow, dcol]
DIRECTION_VECTORS = np.array([[0, 1], [1, 0], [0, -1], [-1, 0]], np.int32)
AGENT_CHARS = ">v<^"


@struct.dataclass
class Level:
    """One maze: `walls` bool `[H, W]`, `agent_pos` int32 `[2]` (row, col), `agent_dir` int32
    `[]` (0 east, 1 south, 2 west, 3 north), `goal_pos` int32 `[2]`.

    Build levels with `Level.create` (or `level_from_ascii`): it fixes the dtypes, so levels
    from different sources share one compiled program. A batch of levels has a leading axis
    on every leaf.
    """

    walls: jax.Array
    agent_pos: jax.Array
    agent_dir: jax.Array
    goal_pos: jax.Array

    @classmethod
    def create(cls, walls: Any, agent_pos: Any, agent_dir: Any, goal_pos: Any) -> Level:
        """Cast to the canonical dtypes; works on host data and inside jit alike."""
        return cls(
            walls=jnp.asarray(walls, jnp.bool_),
            agent_pos=jnp.asarray(agent_pos, jnp.int32),
            agent_dir=jnp.asarray(agent_dir, jnp.int32),
            goal_pos=jnp.asarray(goal_pos, jnp.int32),
        )


@struct.dataclass
class MazeParams:
    """Static maze configuration (changing any field recompiles; none is a traced leaf).

    `view_size` is the side of the egocentric square view (odd, agent at its bottom centre).
    `num_walls` is the DR generator's wall budget used by `Maze.reset`: that many cells are
    drawn uniformly with replacement, so a level has *up to* `num_walls` walls.
    `auto_reset` picks what an episode end resets to: `"same_level"` (the level in the state,
    so a curriculum can pin it) or `"sample"` (a fresh DR level, for plain DR training).
    """

    height: int = struct.field(pytree_node=False, default=13)
    width: int = struct.field(pytree_node=False, default=13)
    view_size: int = struct.field(pytree_node=False, default=5)
    max_steps_in_episode: int = struct.field(pytree_node=False, default=250)
    num_walls: int = struct.field(pytree_node=False, default=25)
    auto_reset: str = struct.field(pytree_node=False, default="same_level")

    def __post_init__(self):
        cfg.check_positive(self, "height", "width", "view_size", "max_steps_in_episode")
        if self.height * self.width < 2:
            cfg.fail(self, "height", "leaves fewer than 2 cells", "use a grid of 2+ cells")
        if self.view_size % 2 == 0:
            cfg.fail(self, "view_size", "must be odd (agent at the centre column)", "e.g. 5")
        if not 0 <= self.num_walls <= self.height * self.width:
            cfg.fail(
                self,
                "num_walls",
                f"must lie in [0, height * width = {self.height * self.width}]",
                "pass a wall budget of 25 to 60 for a 13x13 maze",
            )
        cfg.check_choice(self, "auto_reset", ("same_level", "sample"))


# --- validation at the boundary ---------------------------------------------------------

_LEVEL_DTYPES = {
    "walls": jnp.bool_,
    "agent_pos": jnp.int32,
    "agent_dir": jnp.int32,
    "goal_pos": jnp.int32,
}


def _expected_shapes(height: int, width: int) -> dict[str, tuple[int, ...]]:
    return {"walls": (height, width), "agent_pos": (2,), "agent_dir": (), "goal_pos": (2,)}


def check_level_structure(level: Any, params: MazeParams) -> None:
    """Shapes and dtypes only, so it runs on tracers too (inside jit, at trace time).

    Raises `ConfigError` naming the field, the expected and found shape/dtype, and the fix.
    """
    if not isinstance(level, Level):
        raise ConfigError(
            f"level is a {type(level).__name__}, expected envs.maze.Level. "
            "Fix: build it with Level.create(walls, agent_pos, agent_dir, goal_pos) "
            "or level_from_ascii(...)."
        )
    for field, shape in _expected_shapes(params.height, params.width).items():
        value = getattr(level, field)
        found_shape = tuple(np.shape(value))
        if found_shape != shape:
            raise ConfigError(
                f"Level.{field} has shape {found_shape}, expected {shape} for a "
                f"{params.height}x{params.width} maze. Fix: pass one unbatched level "
                "(vmap over a batch of levels) built for this maze size, or set "
                "MazeParams(height=..., width=...) to the level's size."
            )
        dtype = jnp.result_type(value)
        if dtype != _LEVEL_DTYPES[field]:
            raise ConfigError(
                f"Level.{field} has dtype {dtype}, expected {jnp.dtype(_LEVEL_DTYPES[field])}. "
                "Fix: build levels with Level.create(...), which fixes the dtypes (a dtype "
                "change would recompile every jitted function that takes the level)."
            )


def check_level(level: Any, params: MazeParams) -> None:
    """Full host-side check of a concrete level: structure, then contents.

    Agent and goal must lie inside the grid, on free cells, on different cells, and the
    direction must be in 0..3. Raises `ConfigError` naming the field and the fix.
    """
    check_level_structure(level, params)
    walls = np.asarray(level.walls)
    agent, goal = np.asarray(level.agent_pos), np.asarray(level.goal_pos)
    for field, pos in (("agent_pos", agent), ("goal_pos", goal)):
        if not (0 <= pos[0] < params.height and 0 <= pos[1] < params.width):
            raise ConfigError(
                f"Level.{field}={pos.tolist()} lies outside the {params.height}x{params.width} "
                "grid. Fix: use [row, col] with 0 <= row < height and 0 <= col < width."
            )
        if walls[pos[0], pos[1]]:
            raise ConfigError(
                f"Level.{field}={pos.tolist()} is on a wall. Fix: clear walls[{pos[0]}, "
                f"{pos[1]}] or move the {field.removesuffix('_pos')}."
            )
    if (agent == goal).all():
        raise ConfigError(
            f"Level.agent_pos and Level.goal_pos are both {agent.tolist()}. "
            "Fix: put the agent and the goal on different cells."
        )
    if not 0 <= int(level.agent_dir) < 4:
        raise ConfigError(
            f"Level.agent_dir={int(level.agent_dir)} is not a direction. "
            "Fix: use 0 (east), 1 (south), 2 (west) or 3 (north)."
        )


def is_well_formed(level: Level) -> jax.Array:
    """Traceable: agent and goal in the grid, on free cells, on different cells; dir 0..3."""
    height, width = level.walls.shape[-2:]

    def ok(pos):
        inside = (pos >= 0).all() & (pos[0] < height) & (pos[1] < width)
        row, col = jnp.clip(pos[0], 0, height - 1), jnp.clip(pos[1], 0, width - 1)
        return inside & ~level.walls[row, col]

    distinct = (level.agent_pos != level.goal_pos).any()
    direction = (level.agent_dir >= 0) & (level.agent_dir < 4)
    return ok(level.agent_pos) & ok(level.goal_pos) & distinct & direction


# --- ASCII --------------------------------------------------------------------------------


def level_from_ascii(text: str | list[str], params: MazeParams | None = None) -> Level:
    """Parse a map (see the module docstring) into a checked `Level`.

    `text` is either one string with a row per line or a list of rows. The size is taken
    from the map and must match `params` (default `MazeParams()`, 13x13).
    """
    params = params or MazeParams()
    rows = [r.strip() for r in (text.strip().splitlines() if isinstance(text, str) else text)]
    rows = [r for r in rows if r]
    found = (len(rows), max((len(r) for r in rows), default=0))
    if found != (params.height, params.width) or any(len(r) != params.width for r in rows):
        widths = sorted({len(r) for r in rows})
        raise ConfigError(
            f"ASCII level has {len(rows)} rows of widths {widths}, expected {params.height} "
            f"rows of {params.width} characters. Fix: give a full {params.height}x"
            f"{params.width} map (the interior only, no outer wall)."
        )
    walls = np.zeros((params.height, params.width), bool)
    agents, goals = [], []
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch == "#":
                walls[r, c] = True
            elif ch == "G":
                goals.append((r, c))
            elif ch in AGENT_CHARS:
                agents.append((r, c, AGENT_CHARS.index(ch)))
            elif ch != ".":
                raise ConfigError(
                    f"ASCII level has unknown character {ch!r} at row {r}, col {c}. "
                    f"Fix: use '#', '.', 'G' or one of {AGENT_CHARS!r} for the agent."
                )
    if len(agents) != 1 or len(goals) != 1:
        raise ConfigError(
            f"ASCII level has {len(agents)} agents and {len(goals)} goals, expected one each. "
            f"Fix: mark exactly one goal 'G' and one agent (one of {AGENT_CHARS!r})."
        )
    (ar, ac, adir), goal = agents[0], goals[0]
    level = Level.create(walls, (ar, ac), adir, goal)
    check_level(level, params)
    return level


def level_to_ascii(level: Level) -> str:
    """The inverse of `level_from_ascii`, for printing and for tests."""
    walls = np.asarray(level.walls)
    grid = [["#" if w else "." for w in row] for row in walls]
    goal, agent = np.asarray(level.goal_pos), np.asarray(level.agent_pos)
    grid[goal[0]][goal[1]] = "G"
    grid[agent[0]][agent[1]] = AGENT_CHARS[int(level.agent_dir)]
    return "\n".join("".join(row) for row in grid)


def stack_levels(levels: list[Level]) -> Level:
    """A batch `[N, ...]` of levels (e.g. for `jax.vmap(env.reset_to_level)`)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *levels)
