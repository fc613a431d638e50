"""MuJoCo Playground's DeepMind Control Suite ports under the gymnax 1.0 interface.

`rljax.make("playground/CartpoleBalance")` wraps `mujoco_playground.registry.load(
"CartpoleBalance")` (package `playground`, import name `mujoco_playground`). Playground's own
env is a bare `reset(rng) -> State` / `step(State, action) -> State` with no time limit and no
auto-reset; its brax training wrapper adds both, but resets to a cached first state and
overwrites the final observation. Here, as in `rljax.brax_adapter`:

  * `truncated` is the time limit: the env config's `episode_length` (1000 for every DM
    Control task) counted in control steps (`env.step` calls), so with `action_repeat = k`
    an episode is `ceil(episode_length / k)` agent steps and returns stay on DM Control's
    [0, 1000] scale. `params.max_steps_in_episode` is that number of agent steps;
  * `terminated` is playground's own `done`. The DM Control tasks never end on their own:
    their only `done` is a NaN guard (the simulation produced NaN positions or velocities),
    which is reported as a termination, since nothing can be bootstrapped from a blown-up
    state. A time limit on a terminating step is a termination only (never both flags);
  * `info["final_observation"]` is the observation playground's step returned, before any
    reset; the next episode starts from `env.reset(key)` on the step's key (a fresh random
    initial state, not a cached one). On a NaN-guard termination, non-finite entries of the
    final observation and the reward are replaced by 0 so one blow-up cannot turn a whole
    batch's returns into NaN (finite values, i.e. every other step, pass through unchanged);
  * with `action_repeat = k > 1` one agent step applies the action for `k` control steps and
    sums their rewards, stopping early if the env reports `done`.

Observations are playground's state vector as `float32 [observation_size]`. The vision
variants (`vision=True`, which return a dict of pixels) are refused. Actions are
`float32 [action_size]` in the Box [-1, 1], playground's convention (MuJoCo's actuator
ranges).

MJX implementation: `impl="jax"`, not the config's default `"warp"`. The JAX implementation
is pure XLA: it runs on CPU and on accelerators and is traced into the training program like
any other env. `impl="warp"` is refused: MJX-Warp's `Data` holds buffers shared by the whole
batch (leaves without the env axis), so the per-env auto-reset, a `where` over the state
under `vmap`, does not apply to it (tried: a tracer leak inside `vmap` + `scan`); playground's
own auto-reset wrapper works on the whole batch and skips those leaves. Warp's kernels target
NVIDIA GPUs and would be the faster choice there.

Keyword arguments of `make` override the env's default config: `episode_length`,
`action_repeat`, `ctrl_dt`, `sim_dt` and any other scalar key of
`registry.get_default_config(name)`. They are static (they change the model or the program).

`mujoco_playground` is imported only when a `playground/` env is built (its import takes
~3.5 s); this module itself imports nothing from it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from rljax import run_batch
from rljax.brax_adapter import _raw_key, mujoco_warnings_logged
from rljax.config import ConfigError

_LOG = logging.getLogger(__name__)

# Config keys the adapter reads itself; every other scalar key goes to playground untouched.
_OWN_KEYS = ("episode_length", "action_repeat")


def playground_registry() -> Any:
    """`mujoco_playground.registry`, imported with anything its optional Warp backend prints
    to stdout at import kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        from mujoco_playground import registry
    return registry


def dm_control_suite_names() -> tuple[str, ...]:
    """The DM Control Suite envs the installed playground package defines (imports it)."""
    return tuple(playground_registry().dm_control_suite.ALL_ENVS)


@struct.dataclass
class PlaygroundParams:
    """`max_steps_in_episode`: the time limit in agent steps (see the module doc)."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class PlaygroundState:
    """`inner`: playground's `State` (MJX `data`, `obs [observation_size]`, `reward`, `done`,
    `metrics`, `info`); `time`: int32 agent steps taken in this episode."""

    inner: Any
    time: jax.Array


class PlaygroundEnvironment:
    """gymnax-style view of the playground DM Control Suite env `name`; see the module doc.

    Args:
        name: a name of `mujoco_playground.registry.dm_control_suite.ALL_ENVS`.
        **overrides: entries of the env's default config to replace (`episode_length`,
            `action_repeat`, `ctrl_dt`, `sim_dt`, ...); `impl` must be "jax" (the default).
    """

    def __init__(self, name: str, **overrides: Any):
        registry = playground_registry()
        suite = registry.dm_control_suite
        if name not in suite.ALL_ENVS:
            raise ConfigError(
                f"playground/{name} is not a DM Control Suite env of the installed playground "
                f"package; it has {', '.join(suite.ALL_ENVS)}."
            )
        default = suite.get_default_config(name)
        scalar_keys = sorted(k for k, v in default.items() if not hasattr(v, "items"))
        unknown = sorted(set(overrides) - set(scalar_keys))
        if unknown:
            raise TypeError(
                f"playground/{name} takes only its config's scalar keys as extra arguments "
                f"({', '.join(scalar_keys)}), got {', '.join(unknown)}."
            )
        if overrides.get("vision", False):
            raise ConfigError(
                f"playground/{name} with vision=True returns a dict of pixel observations; "
                "rljax's playground adapter supports the state-vector observation only "
                "(leave vision=False)."
            )
        if overrides.get("impl", "jax") != "jax":
            raise ConfigError(
                f"playground/{name}: impl={overrides['impl']!r} is not supported; the adapter "
                "runs MJX's JAX implementation (impl='jax', the default here), whose state "
                "is per env (see rljax.playground_adapter)."
            )
        config = {**overrides, "impl": "jax"}
        own = {key: config.get(key, default[key]) for key in _OWN_KEYS}
        for key, value in own.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"playground/{name}: {key} must be a positive int, got {value!r}."
                )
        self.name = name
        self.episode_length, self.action_repeat = own["episode_length"], own["action_repeat"]
        self.max_episode_steps = math.ceil(self.episode_length / self.action_repeat)
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                mujoco_warnings_logged(_LOG, logging.WARNING),
            ):
                self._env = suite.load(name, config_overrides=config)
        except (OSError, ValueError) as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigError(
                f"playground/{name} could not be built ({first_line}); if it names a missing "
                "file, the playground package's model files are incomplete: reinstall it "
                "(pip install --force-reinstall 'playground>=0.2.0')."
            ) from error
        obs = jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs
        if not hasattr(obs, "shape") or len(obs.shape) != 1:
            raise ConfigError(
                f"playground/{name} returns a {type(obs).__name__} observation, not a vector; "
                "rljax's playground adapter supports vector observations only."
            )
        self.observation_size = int(obs.shape[0])
        self.action_size = int(self._env.action_size)

    @property
    def default_params(self) -> PlaygroundParams:
        return PlaygroundParams(max_steps_in_episode=self.max_episode_steps)

    def reset(
        self, key: jax.Array, params: PlaygroundParams | None = None
    ) -> tuple[jax.Array, PlaygroundState]:
        """`(obs float32 [observation_size], state)` from playground's `reset(key)`."""
        inner = self._env.reset(_raw_key(key))
        # Strongly typed leaves, as `step` returns them (CheetahRun's reset leaves `data.time`
        # weakly typed), so a reset and a stepped state are the same pytree type.
        inner = jax.tree.map(_strongly_typed, inner)
        obs = jnp.asarray(inner.obs, jnp.float32)
        return obs, PlaygroundState(inner=inner, time=jnp.zeros((), jnp.int32))

    def step(
        self,
        key: jax.Array,
        state: PlaygroundState,
        action: jax.Array,
        params: PlaygroundParams | None = None,
    ) -> tuple[jax.Array, PlaygroundState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """One agent step with `action float32 [action_size]`; auto-resets from `key`.

        Returns `(obs, state, reward, terminated, truncated, info)`, `info` holding
        `final_observation float32 [observation_size]` and both flags."""
        params = self.default_params if params is None else params
        stepped = self._advance(state.inner, action)
        time = state.time + 1
        terminated = jnp.asarray(stepped.done) > 0
        truncated = (time >= params.max_steps_in_episode) & ~terminated
        final_obs = _finite(jnp.asarray(stepped.obs, jnp.float32))
        reward = _finite(jnp.asarray(stepped.reward, jnp.float32))
        obs, state = self._reset_where(
            terminated | truncated, key, final_obs, PlaygroundState(inner=stepped, time=time)
        )
        info = {"final_observation": final_obs, "terminated": terminated, "truncated": truncated}
        return obs, state, reward, terminated, truncated, info

    def _reset_where(
        self, done: jax.Array, key: jax.Array, obs: jax.Array, state: PlaygroundState
    ) -> tuple[jax.Array, PlaygroundState]:
        """`(obs, state)`, or where `done` the next episode's `reset(key)`.

        Why not a plain `where` over both: under `vmap` a `where` (or a `cond`, which `vmap`
        turns into one) computes the reset (random initial state, `mjx.forward`) for every env
        on every step, which cost the adapter 11-25% over playground's wrapper on CPU
        (benchmarks/RESULTS.md). Its batching rule here computes the batch's resets only on
        a step where some env's episode ended (a real `cond`, asked once for a whole batch
        of runs), and selects them per env as the `where` did: the same values, a fresh
        initial state from each env's own step key. DM Control episodes end only at the time
        limit (or the NaN guard), so a batch started together (every rljax training run)
        computes resets once per `max_steps_in_episode` steps: 0.97-0.99x the time of
        playground's wrapper. A batch whose episodes are staggered still resets on most
        steps (1.05-1.07x in `benchmarks/env_adapters.py --staggered`). Two variants
        measured and not kept:
        computing only the ended envs' resets when they are few (a `switch` over none / few /
        all, 1.03x staggered) traced the reset twice, +10 s of XLA compile per PPO chunk on
        CartpoleBalance; a `while` loop over blocks of ended envs traced it once but made
        every PendulumSwingup step 1.5x slower.
        """
        return _reset_where(self.reset)(done, key, obs, state)

    def _advance(self, inner: Any, action: jax.Array) -> Any:
        """`action_repeat` control steps of playground's env with one action, rewards
        summed; steps after the env reports `done` are skipped."""
        if self.action_repeat == 1:
            return self._env.step(inner, action)

        def repeat(carry: tuple[Any, jax.Array], _: None) -> tuple[tuple[Any, jax.Array], None]:
            current, total = carry
            ended = jnp.asarray(current.done) > 0
            stepped = self._env.step(current, action)
            kept = jax.tree.map(lambda old, new: jnp.where(ended, old, new), current, stepped)
            return (kept, total + jnp.where(ended, 0.0, stepped.reward)), None

        (inner, total), _ = jax.lax.scan(
            repeat, (inner, jnp.zeros((), jnp.float32)), None, self.action_repeat
        )
        return inner.replace(reward=total)

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(low=-1.0, high=1.0, shape=(self.action_size,), dtype=jnp.float32)

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(
            low=-jnp.inf, high=jnp.inf, shape=(self.observation_size,), dtype=jnp.float32
        )


def _strongly_typed(x: Any) -> jax.Array:
    """`x` as an array of its dtype without JAX's weak type (a Python scalar: float32/int32)."""
    x = jnp.asarray(x)
    return x.astype(x.dtype)


def _finite(x: jax.Array) -> jax.Array:
    """`x` with NaN and infinite entries set to 0 (only a NaN-guard step has any)."""
    return jnp.where(jnp.isfinite(x), x, jnp.zeros_like(x))


def _reset_where(reset: Any) -> Any:
    """`where_reset(done, key, obs, state)`: `(obs, state)`, or `reset(key)` where `done`;
    under `vmap`, resets are computed only when some env is `done` (see
    `PlaygroundEnvironment._reset_where`)."""

    @jax.custom_batching.custom_vmap
    def where_reset(done: jax.Array, key: jax.Array, obs: jax.Array, state: Any) -> Any:
        return jax.lax.cond(done, lambda: reset(key), lambda: (obs, state))

    @where_reset.def_vmap
    def batched(axis_size: int, in_batched: Any, done: Any, key: Any, obs: Any, state: Any):
        def batch(x: jax.Array, is_batched: bool) -> jax.Array:
            return x if is_batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))

        done, key, obs, state = (
            jax.tree.map(batch, arg, arg_batched)
            for arg, arg_batched in zip((done, key, obs, state), in_batched, strict=True)
        )

        def reset_ended() -> Any:
            fresh = jax.vmap(reset)(key)
            return jax.tree.map(
                lambda r, s: jnp.where(done.reshape((-1,) + (1,) * (s.ndim - 1)), r, s),
                fresh,
                (obs, state),
            )

        any_ended = jnp.any(done).astype(jnp.int32)
        if run_batch.in_run_batch():
            # Under a batch of runs vmapped over `RUNS` (every `rljax.run`) a per-run
            # predicate would make this `cond` a select computing the resets on every step
            # again; asking once keeps it a real branch (a run with no ended env keeps all
            # its rows).
            any_ended = jax.lax.pmax(any_ended, run_batch.RUNS)
        out = jax.lax.cond(any_ended > 0, reset_ended, lambda: (obs, state))
        return out, jax.tree.map(lambda _: True, out)

    return where_reset
