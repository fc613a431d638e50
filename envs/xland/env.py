"""XLand-MiniGrid with generated rulesets as tasks (`envs.xland.rulesets`).

`XLandEnv` is xminigrid's `XLandMiniGrid` (one room of `size` x `size` by default, the
`R1` layout) under rljax's gymnax 1.0 interface (`rljax.xminigrid_adapter.step_with_reset`:
terminated at the goal, truncated at the time limit, the final observation kept). Its state
carries the task, so auto-resets start a new episode of the same task (new positions, same
goal, rules and objects), and one env batch can hold a different task per env in one
compiled program:

    reset_to(key, ruleset, params)  an episode of `ruleset`
    reset(key, params)              an episode of a freshly sampled ruleset (DR)

The agent observes xminigrid's symbolic egocentric view only: the goal and rules are not
observed, so the task must be found out by acting (the XLand-MiniGrid paper's meta-RL
setting, where a recurrent agent meets each ruleset for several episodes).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from envs.xland.rulesets import RulesetConfig, sample_ruleset
from rljax.xminigrid_adapter import XMiniGridEnvironment, step_with_reset


@struct.dataclass
class XLandState:
    inner: Any  # xminigrid's State
    ruleset: Any  # xminigrid.types.RuleSet: the task


class XLandEnv(XMiniGridEnvironment):
    """See the module doc. `max_steps` defaults to xminigrid's `3 * size**2`. The params,
    action and observation spaces are the adapter's; reset and step carry the task."""

    def __init__(
        self,
        rulesets: RulesetConfig | None = None,
        size: int = 9,
        grid_type: str = "R1",
        view_size: int = 5,
        max_steps: int | None = None,
    ):
        self.rulesets = RulesetConfig() if rulesets is None else rulesets
        # Imported here, not at module level: importing xminigrid's XLand env compiles ~27
        # small XLA programs, which every process importing `envs` would otherwise pay.
        from xminigrid.envs.xland import XLandMiniGrid

        self.name = f"XLand-{grid_type}-{size}x{size}"
        self._env = XLandMiniGrid()
        self._params = self._env.default_params(
            height=size, width=size, grid_type=grid_type, view_size=view_size, max_steps=max_steps
        )
        self.max_episode_steps = int(self._params.max_steps)

    def sample(self, key: jax.Array) -> Any:
        return sample_ruleset(key, self.rulesets)

    def reset_to(self, key: jax.Array, ruleset: Any, params: Any = None):
        params = self._params if params is None else params
        timestep = self._env.reset(params.replace(ruleset=ruleset), key)
        return timestep.observation, XLandState(timestep.state, ruleset)

    def reset(self, key: jax.Array, params: Any = None):
        task_key, reset_key = jax.random.split(key)
        return self.reset_to(reset_key, self.sample(task_key), params)

    def step(self, key: jax.Array, state: XLandState, action: jax.Array, params: Any = None):
        params = self._params if params is None else params

        def reset():  # a new episode of the same task
            obs, new = self.reset_to(key, state.ruleset, params)
            return obs, new.inner

        # xminigrid's step reads the goal and rules from the state, not from `params`.
        obs, inner, reward, terminated, truncated, info = step_with_reset(
            self._env, params, state.inner, action, reset
        )
        return obs, XLandState(inner, state.ruleset), reward, terminated, truncated, info
