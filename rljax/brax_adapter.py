"""brax environments under the gymnax 1.0 interface.

We wrap the *raw* brax env and do the time limit and auto-reset ourselves instead of using
brax's `EpisodeWrapper`/`AutoResetWrapper`, because those (a) need raw uint32 keys, (b) reset to
a cached first state rather than a fresh one, and (c) overwrite the terminal observation, so
the true final observation (needed to bootstrap on truncation) is lost. Here:

  * `terminated` is brax's `done` (a real failure such as the pole falling);
  * `truncated` is the time limit, `episode_length` steps; if both happen on one step both
    flags are True, and the returns code gives termination priority;
  * `info["final_observation"]` is the observation the step produced, before any reset;
  * reset samples a fresh initial state from the step key.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

_LOG = logging.getLogger("rljax.brax")


@struct.dataclass
class BraxParams:
    max_steps_in_episode: int = 1000


def _brax_envs() -> Any:
    """`brax.envs`, imported without the two "Failed to import warp" lines that mujoco's
    optional MJX-warp backend prints to stdout when `warp` is not installed."""
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        from brax import envs
    return envs


@contextlib.contextmanager
def mujoco_warnings_logged(logger: logging.Logger, level: int = logging.DEBUG) -> Iterator[None]:
    """MuJoCo's warnings while a model compiles go to `logger` at `level`: without a handler
    MuJoCo appends them to a MUJOCO_LOG.TXT it creates in the working directory (brax 0.14's
    halfcheetah and Playground's CheetahRun models use the deprecated `settotalmass`)."""
    import mujoco

    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda message: logger.log(level, "MuJoCo: %s", message))
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


@struct.dataclass
class BraxState:
    inner: Any  # brax.envs.State
    time: jax.Array


class BraxEnvironment:
    """gymnax-style view of `brax.envs.get_environment(name, backend=backend)`."""

    def __init__(self, name: str, backend: str = "generalized", episode_length: int = 1000):
        brax_envs = _brax_envs()

        if backend not in ("generalized", "positional", "spring", "mjx"):
            raise ValueError(
                f"backend={backend!r} is not a brax backend; use one of "
                "'generalized', 'positional', 'spring', 'mjx'."
            )
        self.name = name
        self.backend = backend
        self.episode_length = episode_length
        with mujoco_warnings_logged(_LOG):
            self._env = brax_envs.get_environment(name, backend=backend)

    @property
    def default_params(self) -> BraxParams:
        return BraxParams(max_steps_in_episode=self.episode_length)

    def reset(
        self, key: jax.Array, params: BraxParams | None = None
    ) -> tuple[jax.Array, BraxState]:
        inner = self._env.reset(_raw_key(key))
        return inner.obs, BraxState(inner=inner, time=jnp.zeros((), jnp.int32))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, params: BraxParams | None = None
    ):
        params = self.default_params if params is None else params
        stepped = self._env.step(state.inner, action)
        time = state.time + 1
        terminated = jnp.asarray(stepped.done).astype(bool)
        truncated = time >= params.max_steps_in_episode
        done = terminated | truncated
        reset_obs, reset_state = self.reset(key, params)
        next_state = jax.tree.map(
            lambda r, s: jnp.where(done, r, s), reset_state, BraxState(inner=stepped, time=time)
        )
        obs = jnp.where(done, reset_obs, stepped.obs)
        info = {"terminated": terminated, "truncated": truncated, "final_observation": stepped.obs}
        reward = jnp.asarray(stepped.reward, jnp.float32)
        return obs, next_state, reward, terminated, truncated, info

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(self._env.action_size,), dtype=jnp.float32)

    @functools.cached_property
    def _observation_size(self) -> int:
        # brax's `observation_size` runs a reset op by op on every call (6.3 s the first time
        # for the positional hopper, 0.7 s after); the shape of one reset costs 0.55 s.
        key = jax.ShapeDtypeStruct((2,), jnp.uint32)
        return jax.eval_shape(self._env.reset, key).obs.shape[-1]

    def observation_space(self, params: Any = None) -> spaces.Box:
        size = self._observation_size
        return spaces.Box(low=-jnp.inf, high=jnp.inf, shape=(size,), dtype=jnp.float32)


def _raw_key(key: jax.Array) -> jax.Array:
    """brax splits keys with legacy uint32[2] arrays; accept new-style typed keys too."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key
