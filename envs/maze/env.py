"""The partially observed maze (the UED navigation benchmark; Dennis et al. 2020, sec. 5;
Jiang et al. 2021b and Parker-Holder et al. 2022 use the same task).

Choices, each the common one in the literature unless said otherwise:

* Actions: 0 turn left, 1 turn right, 2 forward (no "done" action; out-of-range actions are
  no-ops). Moving into a wall or off the grid leaves the agent in place.
* Observation: float32 `[V, V, 6]` (V = `view_size`, 5), the egocentric view *ahead* of the
  agent, which sits at the bottom centre facing up: row 0 is V - 1 cells ahead, column 0 is
  V // 2 cells to the agent's left. Channels: wall (cells outside the grid read as walls),
  goal, then the agent's absolute direction one-hot as four constant planes, so the
  observation is one array that the repo's networks take as they are. Walls do *not*
  occlude the view (the agent sees through walls, as in the JAX reference implementations).
* Reward 1 - 0.9 * t / T on reaching the goal at step t (1-based), T = `max_steps_in_episode`
  (250); 0 otherwise. Reaching the goal terminates; the time limit truncates (both flags are
  True if both happen on one step, and the returns code gives termination priority).
* Auto-reset: the level lives in the state, and by default an episode end resets the agent
  to the *same* level (`auto_reset="same_level"`), so a curriculum pins a level with
  `reset_to_level` and every later episode of that env copy replays it. With
  `auto_reset="sample"` an episode end samples a fresh DR level instead (plain DR training).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from envs.maze.generators import sample_level
from envs.maze.level import DIRECTION_VECTORS, Level, MazeParams, check_level_structure
from rljax.environment import auto_reset

NUM_ACTIONS = 3
LEFT, RIGHT, FORWARD = 0, 1, 2
NUM_CHANNELS = 6


@struct.dataclass
class MazeState:
    """`level` (the level being played; fixed within and across episodes unless a new one
    is set), `agent_pos` int32 `[2]`, `agent_dir` int32 `[]`, `time` int32 `[]` (steps taken)."""

    level: Level
    agent_pos: jax.Array
    agent_dir: jax.Array
    time: jax.Array


def view_positions(agent_pos: jax.Array, agent_dir: jax.Array, view_size: int) -> jax.Array:
    """int32 `[V, V, 2]`: the grid cell shown at each view cell (may lie outside the grid)."""
    ahead = jnp.arange(view_size - 1, -1, -1)[:, None, None]  # row 0 is farthest ahead
    lateral = (jnp.arange(view_size) - view_size // 2)[None, :, None]
    vectors = jnp.asarray(DIRECTION_VECTORS)
    forward, right = vectors[agent_dir], vectors[(agent_dir + 1) % 4]
    return agent_pos + ahead * forward + lateral * right


def observe(state: MazeState, params: MazeParams) -> jax.Array:
    """float32 `[V, V, 6]`: the egocentric view (see the module docstring)."""
    level = state.level
    cells = view_positions(state.agent_pos, state.agent_dir, params.view_size)
    rows, cols = cells[..., 0], cells[..., 1]
    inside = (rows >= 0) & (rows < params.height) & (cols >= 0) & (cols < params.width)
    rows_c, cols_c = jnp.clip(rows, 0, params.height - 1), jnp.clip(cols, 0, params.width - 1)
    wall = ~inside | level.walls[rows_c, cols_c]
    goal = inside & (rows == level.goal_pos[0]) & (cols == level.goal_pos[1])
    direction = jnp.broadcast_to(
        jax.nn.one_hot(state.agent_dir, 4), (params.view_size, params.view_size, 4)
    )
    return jnp.concatenate([wall[..., None], goal[..., None], direction], -1).astype(jnp.float32)


class Maze:
    """The maze env under rljax's gymnax-1.0 protocol, plus `reset_to_level`.

    `reset` samples a DR level (`sample_level` with `params.num_walls`); `reset_to_level`
    starts an episode on a given level, checking its shapes and dtypes at trace time.
    """

    @property
    def default_params(self) -> MazeParams:
        return MazeParams()

    def reset_to_level(
        self, key: jax.Array, level: Level, params: MazeParams
    ) -> tuple[jax.Array, MazeState]:
        del key  # the start state is fully given by the level
        check_level_structure(level, params)
        state = MazeState(
            level=level,
            agent_pos=level.agent_pos,
            agent_dir=level.agent_dir,
            time=jnp.zeros((), jnp.int32),
        )
        return observe(state, params), state

    reset_to = reset_to_level
    """The task-space name (`rljax.task_space`): a maze task is a level."""

    def reset(self, key: jax.Array, params: MazeParams) -> tuple[jax.Array, MazeState]:
        return self.reset_to_level(key, sample_level(key, params, params.num_walls), params)

    def step(
        self, key: jax.Array, state: MazeState, action: jax.Array, params: MazeParams
    ) -> tuple[jax.Array, MazeState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        level = state.level
        turn = jnp.where(action == LEFT, -1, jnp.where(action == RIGHT, 1, 0))
        agent_dir = ((state.agent_dir + turn) % 4).astype(jnp.int32)
        ahead = state.agent_pos + jnp.asarray(DIRECTION_VECTORS)[state.agent_dir]
        inside = (ahead >= 0).all() & (ahead[0] < params.height) & (ahead[1] < params.width)
        row = jnp.clip(ahead[0], 0, params.height - 1)
        col = jnp.clip(ahead[1], 0, params.width - 1)
        moves = (action == FORWARD) & inside & ~level.walls[row, col]
        agent_pos = jnp.where(moves, ahead, state.agent_pos).astype(jnp.int32)
        time = state.time + 1

        terminated = (agent_pos == level.goal_pos).all()
        truncated = time >= params.max_steps_in_episode
        reward = jnp.where(terminated, 1.0 - 0.9 * time / params.max_steps_in_episode, 0.0)
        stepped = MazeState(level=level, agent_pos=agent_pos, agent_dir=agent_dir, time=time)
        final_obs = observe(stepped, params)

        next_level = level
        if params.auto_reset == "sample":
            next_level = sample_level(key, params, params.num_walls)
        reset = self.reset_to_level(key, next_level, params)
        return auto_reset(stepped, final_obs, reset, reward, terminated, truncated)

    def action_space(self, params: MazeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: MazeParams) -> spaces.Box:
        shape = (params.view_size, params.view_size, NUM_CHANNELS)
        return spaces.Box(0.0, 1.0, shape, jnp.float32)
