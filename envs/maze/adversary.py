"""PAIRED's level-building adversary as an environment (Dennis et al. 2020, sec. 5 and the
adversary environment of its appendix): the adversary builds a maze one cell per step.

Each action is a flat cell index `row * W + col`. Step 0 places the goal, step 1 the agent,
and each of the next `num_walls` steps (50 in the paper) places a wall. A wall on the goal,
the agent or an existing wall is a no-op, so levels have *up to* `num_walls` walls. An agent
placed on the goal moves to the next cell index (mod H * W), which keeps the level
well-formed and the map from actions to levels a pure function
(`level_from_adversary_actions`). The agent's direction is not chosen by the adversary: it is
drawn at reset, as in the paper.

Observation: float32 `[H, W, 4]`, channels wall, goal, agent, and the time step as a
constant plane t / (2 + num_walls) (the paper feeds the time step and a random noise vector
separately; a plane keeps one array for the repo's networks, and the policy's own sampling
supplies the randomness). The episode terminates after the last wall step with reward 0 (the
PAIRED runner scores the level by regret) and `info["level"]` holds the finished level.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from envs.maze.level import Level
from rljax import config as cfg

NUM_CHANNELS = 4


@struct.dataclass
class AdversaryParams:
    """Static: grid size and the adversary's wall budget (episode length 2 + num_walls)."""

    height: int = struct.field(pytree_node=False, default=13)
    width: int = struct.field(pytree_node=False, default=13)
    num_walls: int = struct.field(pytree_node=False, default=50)

    def __post_init__(self):
        cfg.check_positive(self, "height", "width")
        cfg.check_non_negative(self, "num_walls")
        if self.height * self.width < 2:
            cfg.fail(self, "height", "leaves fewer than 2 cells", "use a grid of 2+ cells")

    @property
    def max_steps_in_episode(self) -> int:
        return 2 + self.num_walls


@struct.dataclass
class AdversaryState:
    """The level under construction (`goal_pos`/`agent_pos` are meaningful once `time`
    passes 0/1) and `time` int32 `[]`, the number of placements made."""

    level: Level
    time: jax.Array


def _empty_level(height: int, width: int, agent_dir: jax.Array) -> Level:
    return Level.create(jnp.zeros((height, width), bool), (0, 0), agent_dir, (0, 0))


def _place(state: AdversaryState, action: jax.Array, params: AdversaryParams) -> AdversaryState:
    """One placement (see the module docstring); pure, shared by the env and the scan."""
    cells = params.height * params.width
    index = jnp.clip(action, 0, cells - 1).astype(jnp.int32)
    level, t = state.level, state.time
    goal_index = level.goal_pos[0] * params.width + level.goal_pos[1]
    index = jnp.where((t == 1) & (index == goal_index), (index + 1) % cells, index)
    cell = jnp.stack([index // params.width, index % params.width]).astype(jnp.int32)
    occupied = (cell == level.goal_pos).all() | ((cell == level.agent_pos).all() & (t > 1))
    add_wall = (t >= 2) & ~occupied
    walls = level.walls.at[cell[0], cell[1]].set(level.walls[cell[0], cell[1]] | add_wall)
    level = level.replace(
        walls=walls,
        goal_pos=jnp.where(t == 0, cell, level.goal_pos),
        agent_pos=jnp.where(t == 1, cell, level.agent_pos),
    )
    return AdversaryState(level=level, time=t + 1)


def level_from_adversary_actions(
    actions: jax.Array, agent_dir: jax.Array | int, params: AdversaryParams
) -> Level:
    """The level an action sequence `[2 + num_walls]` (flat cell indices) builds."""
    empty = AdversaryState(
        _empty_level(params.height, params.width, agent_dir), jnp.zeros((), jnp.int32)
    )
    final, _ = jax.lax.scan(
        lambda s, a: (_place(s, a, params), None), empty, jnp.asarray(actions, jnp.int32)
    )
    return final.level


class MazeAdversaryEnv:
    """The adversary's env, gymnax-1.0 protocol (auto-resets to an empty grid)."""

    @property
    def default_params(self) -> AdversaryParams:
        return AdversaryParams()

    def observe(self, state: AdversaryState, params: AdversaryParams) -> jax.Array:
        """float32 `[H, W, 4]`: wall, goal, agent, time plane."""
        level, t = state.level, state.time
        rows = jnp.arange(params.height)[:, None]
        cols = jnp.arange(params.width)[None, :]

        def marker(pos, placed):
            return placed & (rows == pos[0]) & (cols == pos[1])

        planes = [
            level.walls,
            marker(level.goal_pos, t >= 1),
            marker(level.agent_pos, t >= 2),
            jnp.full((params.height, params.width), t / params.max_steps_in_episode),
        ]
        return jnp.stack(planes, -1).astype(jnp.float32)

    def reset(self, key: jax.Array, params: AdversaryParams) -> tuple[jax.Array, AdversaryState]:
        agent_dir = jax.random.randint(key, (), 0, 4)
        state = AdversaryState(
            _empty_level(params.height, params.width, agent_dir), jnp.zeros((), jnp.int32)
        )
        return self.observe(state, params), state

    def step(
        self, key: jax.Array, state: AdversaryState, action: jax.Array, params: AdversaryParams
    ) -> tuple[jax.Array, AdversaryState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        built = _place(state, action, params)
        terminated = built.time >= params.max_steps_in_episode
        final_obs = self.observe(built, params)
        reset_obs, reset_state = self.reset(key, params)
        new_state = jax.tree.map(lambda r, s: jnp.where(terminated, r, s), reset_state, built)
        obs = jnp.where(terminated, reset_obs, final_obs)
        info = {"final_observation": final_obs, "level": built.level}
        zero = jnp.zeros((), jnp.float32)
        return obs, new_state, zero, terminated, jnp.zeros((), bool), info

    def action_space(self, params: AdversaryParams | None = None) -> spaces.Discrete:
        params = params or self.default_params
        return spaces.Discrete(params.height * params.width)

    def observation_space(self, params: AdversaryParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (params.height, params.width, NUM_CHANNELS), jnp.float32)
