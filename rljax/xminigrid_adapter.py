"""XLand-MiniGrid environments (package `xminigrid`) under the gymnax 1.0 interface.

`rljax.make("xminigrid/MiniGrid-DoorKey-5x5")` wraps `xminigrid.make("MiniGrid-DoorKey-5x5")`.
xminigrid's own API differs from gymnax's in three ways this adapter absorbs:

  * argument order: `env.reset(params, key)` / `env.step(params, timestep, action)` become
    `reset(key, params)` / `step(key, state, action, params)`;
  * episode ends: xminigrid marks both ends with `step_type == LAST` and tells them apart by
    the discount (0 on reaching the goal, 1 at the time limit). Here `terminated` is LAST with
    discount 0 and `truncated` LAST with discount 1, so the returns code bootstraps through a
    time limit and not through a goal. A goal reached on the last allowed step is a
    termination (xminigrid's discount is 0 there);
  * auto-reset: the base env does not reset and its `GymAutoResetWrapper` overwrites the
    final observation with the next episode's first. Here the reset state is drawn from the
    step's key and `info["final_observation"]` keeps the observation the step produced.

Observations are xminigrid's symbolic egocentric view, `uint8 [view_size, view_size, 2]`
(tile id, colour id per cell; the agent sits at the bottom centre looking up), without the
agent's direction, as in MiniGrid's image observation. `rljax.networks.GridCNN` embeds tile
and colour ids and convolves them (`--network grid_cnn`, the `auto` choice for these envs).

Rewards are xminigrid's: `1 - 0.9 * t / max_steps` on reaching the goal at step `t`, else 0.

Extra keyword arguments of `make` set xminigrid's static params: `view_size`, `max_steps`
(the time limit) and, for XLand envs, `height`/`width`. Changing them changes shapes, so
they are not vmappable; the XLand ruleset (`params.ruleset`) is a pytree leaf and is.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import xminigrid
from gymnax.environments import spaces
from xminigrid.core.constants import NUM_COLORS, NUM_TILES
from xminigrid.types import StepType, TimeStep

from rljax.environment import auto_reset

# xminigrid builds module-level jnp arrays on import; importing it here, at rljax's import
# time, keeps that out of traced functions (a first import inside a trace leaks tracers).

# The MiniGrid ports `xminigrid.make` builds without downloads. The XLand-MiniGrid-R*
# environments need a ruleset from `xminigrid.load_benchmark`, which downloads one; they are
# not registered here.
_STATIC_PARAMS = ("view_size", "max_steps", "height", "width")


def registered_names() -> tuple[str, ...]:
    """`xminigrid/<name>` for every xminigrid environment that works offline."""
    return tuple(
        f"xminigrid/{name}"
        for name in xminigrid.registered_environments()
        if name.startswith("MiniGrid-")
    )


def step_with_reset(env: Any, params: Any, state: Any, action: jax.Array, reset: Any):
    """One step of the xminigrid env `env` from its `State` `state`, in gymnax 1.0 form (see
    the module doc): `(obs, state, reward, terminated, truncated, info)`, where at an episode
    end `reset() -> (obs, state)` supplies the next episode's start. Shared by
    `XMiniGridEnvironment` and envs that keep a task in their state (`envs.xland`)."""
    # xminigrid's step reads only `timestep.state`; the other fields are placeholders.
    before = TimeStep(
        state=state,
        step_type=StepType.MID,
        reward=jnp.zeros((), jnp.float32),
        discount=jnp.ones((), jnp.float32),
        observation=jnp.zeros((), jnp.uint8),
    )
    stepped = env.step(params, before, action)
    last = stepped.step_type == StepType.LAST
    terminated = last & (stepped.discount == 0)
    truncated = last & ~terminated
    reward = jnp.asarray(stepped.reward, jnp.float32)
    return auto_reset(stepped.state, stepped.observation, reset(), reward, terminated, truncated)


class XMiniGridEnvironment:
    """gymnax-style view of `xminigrid.make(name, **params)`; see the module doc.

    State: xminigrid's own `State` pytree (grid, agent, goal and rule encodings, step count).
    """

    def __init__(self, name: str, **params: Any):
        unknown = sorted(set(params) - set(_STATIC_PARAMS))
        if unknown:
            raise TypeError(
                f"xminigrid/{name} takes only {', '.join(_STATIC_PARAMS)} as extra arguments, "
                f"got {', '.join(unknown)}."
            )
        self.name = name
        self._env, self._params = xminigrid.make(name, **params)
        self.max_episode_steps = int(self._params.max_steps)

    @property
    def default_params(self) -> Any:
        return self._params

    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        params = self._params if params is None else params
        timestep = self._env.reset(params, key)
        return timestep.observation, timestep.state

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any = None):
        params = self._params if params is None else params
        return step_with_reset(self._env, params, state, action, lambda: self.reset(key, params))

    def action_space(self, params: Any = None) -> spaces.Discrete:
        params = self._params if params is None else params
        return spaces.Discrete(self._env.num_actions(params))

    def observation_space(self, params: Any = None) -> spaces.Box:
        params = self._params if params is None else params
        shape = tuple(int(s) for s in self._env.observation_shape(params))
        return spaces.Box(0, max(NUM_TILES, NUM_COLORS) - 1, shape, jnp.uint8)
