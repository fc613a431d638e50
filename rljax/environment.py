"""The environment interface and `make`, the registry that resolves env names.

Every environment in rljax follows gymnax 1.0:

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)

`step` auto-resets: when `terminated | truncated`, the returned `obs` is the first observation
of the next episode and `info["final_observation"]` holds the last observation of the episode
that just ended. `terminated` (a true end: bootstrap with 0) and `truncated` (a time limit:
bootstrap with V(final observation)) are kept apart everywhere.

Names:
  * every gymnax environment that works offline ("CartPole-v1", "Breakout-MinAtar", ...);
  * brax environments as "brax/<name>" ("brax/inverted_pendulum", "brax/ant", ...);
  * XLand-MiniGrid's MiniGrid ports as "xminigrid/<name>" ("xminigrid/MiniGrid-Empty-8x8",
    ...; `rljax.xminigrid_adapter`);
  * MuJoCo Playground's DeepMind Control Suite ports as "playground/<name>"
    ("playground/CartpoleBalance", ...; `rljax.playground_adapter`);
  * environments registered with `register` (the mazes in `envs/` use this; so do the
    classic-control envs whose state carries their physical constants, "CartPole-v1-params",
    "Pendulum-v1-params", ..., from `envs/classic`), and
    "CartPole-v1-no-velocity": CartPole with only the cart position and pole angle observed
    (`rljax.wrappers.MaskObservation`), a task that needs memory.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from rljax.config import ConfigError

# gymnax's MNISTBandit downloads MNIST on construction, which breaks offline use.
_GYMNAX_NEEDS_NETWORK = frozenset({"MNISTBandit-bsuite"})

BRAX_ENVS = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
)
# `brax/NAME` runs brax's default pipeline (generalized); `brax/BACKEND/NAME` picks another
# (PureJaxRL's brax wrapper uses positional: ~7x the generalized pipeline's steps/s for hopper
# on the 2-core CPU). brax 0.14 builds swimmer with generalized only.
BRAX_BACKENDS = ("positional", "spring")
_BRAX_GENERALIZED_ONLY = ("swimmer",)

# MuJoCo Playground's DM Control Suite (`mujoco_playground.registry.dm_control_suite`), named
# here so listing names does not import the package (~3.5 s); tests/test_playground.py checks
# this tuple against the installed package.
PLAYGROUND_ENVS = (
    "AcrobotSwingup",
    "AcrobotSwingupSparse",
    "BallInCup",
    "CartpoleBalance",
    "CartpoleBalanceSparse",
    "CartpoleSwingup",
    "CartpoleSwingupSparse",
    "CheetahRun",
    "FingerSpin",
    "FingerTurnEasy",
    "FingerTurnHard",
    "FishSwim",
    "HopperHop",
    "HopperStand",
    "HumanoidStand",
    "HumanoidWalk",
    "HumanoidRun",
    "PendulumSwingup",
    "PointMass",
    "ReacherEasy",
    "ReacherHard",
    "SwimmerSwimmer6",
    "WalkerRun",
    "WalkerStand",
    "WalkerWalk",
)


class Environment(Protocol):
    """What the rest of rljax expects of an environment (gymnax 1.0 semantics)."""

    @property
    def default_params(self) -> Any: ...

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]: ...

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]: ...

    def action_space(self, params: Any) -> Any: ...

    def observation_space(self, params: Any) -> Any: ...


class SpaceSpec(NamedTuple):
    """What a network needs to know about an action space; static (hashable) by construction.

    `num_actions` is set for discrete spaces, `action_dim`/`low`/`high` for continuous ones.
    """

    discrete: bool
    num_actions: int = 0
    action_dim: int = 0
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()


def auto_reset(
    stepped: Any,
    final_obs: jax.Array,
    reset: tuple[jax.Array, Any],
    reward: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
    """A step's gymnax-1.0 return for an env that auto-resets: the stepped state and its
    observation `final_obs`, or where the episode ended (`terminated | truncated`) the
    `reset` `(obs, state)` of the next episode; `info["final_observation"]` keeps
    `final_obs` (the bootstrap on truncation). Unbatched: one env's step."""
    reset_obs, reset_state = reset
    done = terminated | truncated
    state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, stepped)
    obs = jnp.where(done, reset_obs, final_obs)
    info = {"final_observation": final_obs, "terminated": terminated, "truncated": truncated}
    return obs, state, reward.astype(jnp.float32), terminated, truncated, info


def action_spec(env: Environment, params: Any) -> SpaceSpec:
    """Summarise `env.action_space(params)` as a hashable `SpaceSpec`."""
    space = env.action_space(params)
    if hasattr(space, "n"):
        return SpaceSpec(discrete=True, num_actions=int(space.n))
    import numpy as np

    shape = tuple(space.shape) if space.shape else (1,)
    (dim,) = shape if len(shape) == 1 else (int(np.prod(shape)),)
    low = np.broadcast_to(np.asarray(space.low, dtype=np.float32), (dim,))
    high = np.broadcast_to(np.asarray(space.high, dtype=np.float32), (dim,))
    return SpaceSpec(
        discrete=False,
        action_dim=int(dim),
        low=tuple(float(x) for x in low),
        high=tuple(float(x) for x in high),
    )


_REGISTRY: dict[str, Callable[..., tuple[Environment, Any]]] = {}


def register(name: str, factory: Callable[..., tuple[Environment, Any]]) -> None:
    """Register `factory(**kwargs) -> (env, default_params)` under `name`."""
    _REGISTRY[name] = factory


def _register_own_envs() -> None:
    """Import this repository's `envs` package, whose modules `register` the mazes etc., so
    `make("Maze-13x13")` or `make("CartPole-v1-params")` works without the caller importing
    it first."""
    import importlib.util

    if importlib.util.find_spec("envs") is not None:
        import envs

        # The classic-control parameter envs (`CartPole-v1-params`, ...) and their task space.
        if importlib.util.find_spec("envs.classic") is not None:
            import envs.classic  # noqa: F401


def _brax_parts(name: str) -> tuple[str, str]:
    """`(backend, env)` of `brax/[BACKEND/]ENV`; the backend is "" where the name has none."""
    backend, _, env = name.removeprefix("brax/").rpartition("/")
    return backend, env


def registered_names() -> list[str]:
    """Every name `make` resolves, sorted."""
    import gymnax

    _register_own_envs()
    gymnax_names = [n for n in gymnax.registered_envs if n not in _GYMNAX_NEEDS_NETWORK]
    brax_names = [f"brax/{n}" for n in BRAX_ENVS] + [
        f"brax/{b}/{n}" for b in BRAX_BACKENDS for n in BRAX_ENVS if n not in _BRAX_GENERALIZED_ONLY
    ]
    playground_names = [f"playground/{n}" for n in PLAYGROUND_ENVS]
    from rljax.xminigrid_adapter import registered_names as xminigrid_names

    return sorted({*gymnax_names, *brax_names, *playground_names, *xminigrid_names(), *_REGISTRY})


class UnknownEnvironmentError(ConfigError):
    """An environment name that `make` cannot resolve."""


def check_env_name(name: str, field: str = "env") -> None:
    """Raise a clear error naming `field` if `make(name)` would fail to resolve it."""
    names = registered_names()
    if name in names:
        return
    backend, brax_name = _brax_parts(name)
    if name.startswith("brax/") and backend in BRAX_BACKENDS and brax_name in BRAX_ENVS:
        raise UnknownEnvironmentError(
            f"{field}={name!r}: brax builds {brax_name} with its generalized pipeline only; "
            f"use 'brax/{brax_name}'."
        )
    if name in _GYMNAX_NEEDS_NETWORK:
        raise UnknownEnvironmentError(
            f"{field}={name!r} downloads a dataset on construction and is not supported offline."
        )
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownEnvironmentError(
        f"{field}={name!r} is not a known environment.{hint} Known: {', '.join(names)}."
    )


def make(name: str, **kwargs: Any) -> tuple[Environment, Any]:
    """Resolve `name` to `(env, default_params)`.

    `brax/NAME` is brax's generalized pipeline (or the adapter's `backend` keyword),
    `brax/BACKEND/NAME` another (`positional`, `spring`). Extra keyword arguments go to the
    brax adapter (`backend`, `episode_length`), the
    xminigrid adapter (`view_size`, `max_steps`), the playground adapter (config overrides:
    `episode_length`, `action_repeat`, ...) or the factory of a registered environment.
    """
    check_env_name(name)
    if name in _REGISTRY:
        return _REGISTRY[name](**kwargs)
    if name.startswith("brax/"):
        from rljax.brax_adapter import BraxEnvironment

        backend, brax_name = _brax_parts(name)
        if backend and "backend" in kwargs:
            raise TypeError(f"{name!r} names its pipeline; drop backend={kwargs['backend']!r}")
        env = BraxEnvironment(brax_name, **({"backend": backend} if backend else {}), **kwargs)
        return env, env.default_params
    if name.startswith("xminigrid/"):
        from rljax.xminigrid_adapter import XMiniGridEnvironment

        env = XMiniGridEnvironment(name.removeprefix("xminigrid/"), **kwargs)
        return env, env.default_params
    if name.startswith("playground/"):
        from rljax.playground_adapter import PlaygroundEnvironment

        env = PlaygroundEnvironment(name.removeprefix("playground/"), **kwargs)
        return env, env.default_params
    import gymnax

    if kwargs:
        raise TypeError(f"gymnax environment {name!r} takes no extra arguments, got {kwargs}")
    return gymnax.make(name)


def max_episode_steps(env: Environment, params: Any) -> int:
    """The time limit of an episode, used to size evaluation loops."""
    if hasattr(params, "max_steps_in_episode"):
        return int(params.max_steps_in_episode)
    if hasattr(env, "max_episode_steps"):
        return int(env.max_episode_steps)
    inner = getattr(env, "env", None)
    if inner is not None:
        return max_episode_steps(inner, params)
    raise ValueError(f"cannot tell the episode time limit of {env!r}")


def _cartpole_without_velocities() -> tuple[Environment, Any]:
    """CartPole-v1 observing `[x, theta]` only: the velocities `[x_dot, theta_dot]` must be
    inferred from successive observations."""
    import gymnax

    from rljax.wrappers import MaskObservation

    env, params = gymnax.make("CartPole-v1")
    return MaskObservation(env, keep=(0, 2)), params


register("CartPole-v1-no-velocity", _cartpole_without_velocities)
