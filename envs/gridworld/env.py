"""LPG's object gridworld (Oh et al. 2020, "Discovering Reinforcement Learning Algorithms",
NeurIPS, sec. 5.1 and the appendix on its training environments) under rljax's gymnax-1.0
protocol, with levels (`GridLevel`) like the maze.

Dynamics, one step (the reference's order, EmptyJackson/groove `gridworld.py`):

1. The agent moves (0 east, 1 south, 2 west, 3 north, 4 stay); a wall or the grid's edge
   stops it.
2. A present object on the agent's cell (moved onto or stayed on) is collected: its type's
   reward is paid, the episode terminates with its type's `p_terminate`, and it disappears.
3. Every object that was absent *before* this step reappears with its type's `p_respawn`
   (so a collected object is gone for at least one step): at its own cell, or, in a
   `random_respawn` level, on a uniformly random free cell reachable from the start that
   neither the agent, a present object nor another object respawning now occupies.
4. The time limit `level.max_steps` truncates (truncated True, terminated False); only a
   collection terminates. If both happen on one step both flags are True (as in the maze;
   the returns code gives termination priority).

Episodes start with the agent on `level.start_pos` and every valid object present, at its
own cell, or on random distinct free reachable cells (not the start) in a `random_respawn`
level (the reference's random gridworlds). `step` auto-resets onto the *same* level, with
`info["final_observation"]` the last observation of the episode that ended.

Observations (`GridworldEnv(observation=...)`), neither of which shows the time step (the
reference appends `0.001 t` to both, which leaks the time limit):

* `"tabular"`: float32 `[TABULAR_SIZE]` = `[MAX_CELLS * 2**MAX_OBJECTS]` = `[169 * 128]` =
  `[21632]`, one-hot of `cell + MAX_CELLS * mask`, where `cell = row * 13 + col` is the agent's
  cell in the padded grid and `mask = sum_k present_k 2**k` the set of present objects (the
  reference's encoding, padded to this module's maxima). This is the full Markov state of a
  fixed-respawn level (up to the time step); in a random-respawn level it omits where the
  objects are.
* `"index"`: int32 `[]`, the same state as its index `cell + MAX_CELLS * mask` in
  `[0, TABULAR_SIZE)`: what a tabular agent reads as a row lookup (`rljax.agents.lpg`'s
  linear heads become tables indexed by it), the same agent as on the one-hot view at 1/21632
  of the memory per observation.
* `"symbolic"`: float32 `[13, 13, 2 + MAX_TYPES]` = `[13, 13, 7]` over the padded grid:
  channel 0 wall (cells outside the level's grid read as walls), 1 agent, 2 + t a present
  object of type t.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from envs.gridworld.generators import sample_level
from envs.gridworld.level import (
    MAX_CELLS,
    MAX_EPISODE_STEPS,
    MAX_OBJECTS,
    MAX_SIZE,
    MAX_TYPES,
    NUM_ACTIONS,
    NUM_MASKS,
    GridLevel,
    cell_mask,
    check_level_structure,
    flat,
    inside_mask,
    move,
    reachable,
)
from rljax.environment import auto_reset

OBSERVATIONS = ("tabular", "index", "symbolic")
TABULAR_SIZE = MAX_CELLS * NUM_MASKS
NUM_CHANNELS = 2 + MAX_TYPES


@struct.dataclass
class GridworldParams:
    """Static env settings. `max_steps_in_episode` is only the bound that sizes evaluation
    loops (`rljax.environment.max_episode_steps`): every level's own `max_steps` (at most
    MAX_EPISODE_STEPS) is its time limit."""

    max_steps_in_episode: int = struct.field(pytree_node=False, default=MAX_EPISODE_STEPS)


@struct.dataclass
class GridworldState:
    """`level` (fixed across episodes unless set with `reset_to`), `agent_pos` int32 `[2]`,
    `obj_pos` int32 `[K, 2]` (where each object is or will respawn), `present` bool `[K]`,
    `time` int32 `[]` (steps taken this episode), `reachable` bool `[S, S]` (free cells
    reachable from the start, where random respawns land; computed once per `reset_to`)."""

    level: GridLevel
    agent_pos: jax.Array
    obj_pos: jax.Array
    present: jax.Array
    time: jax.Array
    reachable: jax.Array


def present_mask(present: jax.Array) -> jax.Array:
    """int32 `[]`: the bitmask `sum_k present_k 2**k` of present objects."""
    return (present.astype(jnp.int32) << jnp.arange(MAX_OBJECTS)).sum()


def tabular_index(state: GridworldState) -> jax.Array:
    """int32 `[]`: the tabular state `cell + MAX_CELLS * mask` (see the module docstring)."""
    return flat(state.agent_pos) + MAX_CELLS * present_mask(state.present)


def tabular_observation(state: GridworldState) -> jax.Array:
    """float32 `[TABULAR_SIZE]`: one-hot of `tabular_index`."""
    return jax.nn.one_hot(tabular_index(state), TABULAR_SIZE, dtype=jnp.float32)


def symbolic_observation(state: GridworldState) -> jax.Array:
    """float32 `[S, S, 2 + MAX_TYPES]`: wall (and outside the grid), agent, one channel per
    object type."""
    level = state.level
    wall = level.walls | ~inside_mask(level.height, level.width)
    agent = cell_mask(state.agent_pos)
    cells = jax.vmap(cell_mask)(state.obj_pos) & state.present[:, None, None]  # [K, S, S]
    types = jax.nn.one_hot(level.obj_type, MAX_TYPES, dtype=jnp.float32)  # [K, T]
    objects = jnp.einsum("kij,kt->ijt", cells.astype(jnp.float32), types)
    return jnp.concatenate(
        [wall[..., None].astype(jnp.float32), agent[..., None].astype(jnp.float32), objects], -1
    )


def place_objects(
    key: jax.Array,
    region: jax.Array,
    occupied: jax.Array,
    which: jax.Array,
    obj_pos: jax.Array,
) -> jax.Array:
    """int32 `[K, 2]`: `obj_pos` with each object in `which` moved to a uniformly random cell
    of `region` that is not `occupied` nor taken by an earlier moved object (objects in
    order). An object with no such cell left keeps its position."""

    def place(taken, inputs):
        draw, move_it, pos = inputs
        allowed = (region & ~taken).reshape(-1)
        # The k-th allowed cell for k uniform in [0, count): one uniform per object rather
        # than a categorical's noise per cell (169 draws), the env step's main cost.
        rank = jnp.cumsum(allowed)
        count = rank[-1]
        k = jnp.minimum(jnp.floor(draw * count).astype(jnp.int32), count - 1)
        index = jnp.argmax(allowed & (rank == k + 1))
        cell = jnp.stack([index // MAX_SIZE, index % MAX_SIZE]).astype(jnp.int32)
        new = jnp.where(move_it & (count > 0), cell, pos)
        return taken | (cell_mask(new) & move_it), new

    draws = jax.random.uniform(key, (MAX_OBJECTS,))
    _, placed = jax.lax.scan(place, occupied, (draws, which, obj_pos))
    return placed


class GridworldEnv:
    """The gridworld env (module docstring) with `reset_to(key, level, params)`.

    `reset` samples a level of GROOVE's space (`sample_level`), as the maze's `reset` samples
    a DR level; `reset_to` starts an episode on a given level, checking its shapes and dtypes
    at trace time.
    """

    def __init__(self, observation: str = "tabular"):
        if observation not in OBSERVATIONS:
            raise ValueError(
                f"GridworldEnv(observation={observation!r}) is not one of {OBSERVATIONS}"
            )
        self.observation = observation

    @property
    def default_params(self) -> GridworldParams:
        return GridworldParams()

    def observe(self, state: GridworldState) -> jax.Array:
        if self.observation == "tabular":
            return tabular_observation(state)
        if self.observation == "index":
            return tabular_index(state).astype(jnp.int32)
        return symbolic_observation(state)

    def _start(
        self, key: jax.Array, level: GridLevel, region: jax.Array
    ) -> tuple[jax.Array, GridworldState]:
        random = level.obj_valid & level.random_respawn
        obj_pos = place_objects(key, region, cell_mask(level.start_pos), random, level.obj_pos)
        state = GridworldState(
            level=level,
            agent_pos=level.start_pos,
            obj_pos=obj_pos,
            present=level.obj_valid,
            time=jnp.zeros((), jnp.int32),
            reachable=region,
        )
        return self.observe(state), state

    def reset_to(
        self, key: jax.Array, level: GridLevel, params: GridworldParams
    ) -> tuple[jax.Array, GridworldState]:
        check_level_structure(level)
        return self._start(key, level, reachable(level))

    reset_to_level = reset_to
    """The maze's name for `reset_to`."""

    def reset(self, key: jax.Array, params: GridworldParams) -> tuple[jax.Array, GridworldState]:
        level_key, reset_key = jax.random.split(key)
        return self.reset_to(reset_key, sample_level(level_key), params)

    def step(
        self, key: jax.Array, state: GridworldState, action: jax.Array, params: GridworldParams
    ) -> tuple[jax.Array, GridworldState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        level = state.level
        term_key, respawn_key, place_key, reset_key = jax.random.split(key, 4)
        agent_pos = move(level, state.agent_pos, action)

        collected = state.present & (state.obj_pos == agent_pos).all(-1)
        reward = jnp.where(collected, level.reward[level.obj_type], 0.0).sum()
        p_end = jnp.where(collected, level.p_terminate[level.obj_type], 0.0)
        terminated = jax.random.uniform(term_key) < 1.0 - jnp.prod(1.0 - p_end)

        absent = level.obj_valid & ~state.present
        draws = jax.random.uniform(respawn_key, (MAX_OBJECTS,))
        respawn = absent & (draws < level.p_respawn[level.obj_type])
        kept = state.present & ~collected
        occupied = cell_mask(agent_pos) | (
            jax.vmap(cell_mask)(state.obj_pos) & kept[:, None, None]
        ).any(0)
        obj_pos = place_objects(
            place_key, state.reachable, occupied, respawn & level.random_respawn, state.obj_pos
        )
        time = state.time + 1
        truncated = time >= level.max_steps
        stepped = GridworldState(
            level=level,
            agent_pos=agent_pos,
            obj_pos=obj_pos,
            present=kept | respawn,
            time=time,
            reachable=state.reachable,
        )
        final_obs = self.observe(stepped)

        reset = self._start(reset_key, level, state.reachable)
        return auto_reset(stepped, final_obs, reset, reward, terminated, truncated)

    def action_space(self, params: GridworldParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: GridworldParams) -> spaces.Box:
        if self.observation == "tabular":
            return spaces.Box(0.0, 1.0, (TABULAR_SIZE,), jnp.float32)
        if self.observation == "index":
            return spaces.Box(0, TABULAR_SIZE - 1, (), jnp.int32)
        return spaces.Box(0.0, 1.0, (MAX_SIZE, MAX_SIZE, NUM_CHANNELS), jnp.float32)
