"""gymnax classic-control physical constants as a task space.

A task is a float32 vector `[dim]` of one env's physical constants (`PARAMETERS` names them),
e.g. CartPole's `(gravity, masscart, masspole, length, force_mag)`. `TaskParamsEnv` wraps the
gymnax env (as `rljax.make` returns it: gymnax 1.0, which already keeps `terminated` and
`truncated` apart and puts the pre-reset observation in `info["final_observation"]`) so that
its state carries the task: `step` rebuilds the env params from the state's task vector and
ignores the `params` argument, and gymnax's auto-reset (inside the inner `step`) resets with
the same params, so an env keeps its task across episodes. One `VecEnv` batch can thus hold a
different parameter vector per env in one compiled program; a new task batch is new data, not
a new program.

Derived constants are rebuilt from the task so the physics stays consistent:
  * CartPole: `total_mass = masscart + masspole`, `polemass_length = masspole * length`
    (gymnax stores both as separate fields);
  * Acrobot: `link_com_pos_i = link_length_i / 2` (the centre of mass mid-link; 0.5 at the
    default length 1.0, gymnax's default). Without it `link_length_2` would change nothing:
    gymnax's dynamics use only `link_length_1` and the centre-of-mass positions.

`ClassicTaskSpace` (registered as `"classic"` with `ClassicConfig`) samples uniformly in a box
around gymnax's defaults, mutates by clipped Gaussian steps, and tests success against the
env's return threshold (`SUCCESS_THRESHOLDS`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax.config import ConfigError
from rljax.environment import make
from rljax.task_space import ParamBox, register_task_space
from rljax.wrappers import Wrapper

PARAMETERS: dict[str, tuple[str, ...]] = {
    "CartPole-v1": ("gravity", "masscart", "masspole", "length", "force_mag"),
    "Pendulum-v1": ("max_speed", "max_torque", "g", "m", "l"),
    "Acrobot-v1": ("link_length_1", "link_length_2", "link_mass_1", "link_mass_2"),
    "MountainCar-v0": ("force", "gravity"),
    "MountainCarContinuous-v0": ("power", "gravity"),
}
"""The gymnax `EnvParams` fields a task vector holds, in order, per env."""

SUCCESS_THRESHOLDS: dict[str, float] = {
    "CartPole-v1": 475.0,
    "Pendulum-v1": -200.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 90.0,
}
"""Episode return at or above which a task counts as solved: gym's `reward_threshold` for
CartPole-v1 (475 of 500), Acrobot-v1 (-100), MountainCar-v0 (-110) and
MountainCarContinuous-v0 (90). Pendulum-v1 has none in gym; -200 is the return of a policy
that swings up and balances from most starts (the usual "solved" level; a random policy
scores about -1200)."""


def return_range(env: str, max_steps: int) -> tuple[float, float]:
    """The worst and best episode returns of `env` over `max_steps` steps (from its reward
    definition in gymnax): what a teacher normalising returns to [0, 1] maps to 0 and 1."""
    if env == "CartPole-v1":
        return 0.0, float(max_steps)
    if env in ("Acrobot-v1", "MountainCar-v0"):
        return -float(max_steps), 0.0
    if env == "MountainCarContinuous-v0":  # -0.1 a^2 per step (|a| <= 1), +100 at the goal
        return -0.1 * max_steps, 100.0
    # Pendulum: -(theta^2 + 0.1 thetadot^2 + 0.001 u^2) per step, at most pi^2 + 6.4 + 0.004
    # at the default max_speed 8 and max_torque 2.
    return -(np.pi**2 + 0.1 * 8.0**2 + 0.001 * 2.0**2) * max_steps, 0.0


def params_name(env: str) -> str:
    """The registered name of `env` with its parameters in the state: `CartPole-v1-params`."""
    return f"{env}-params"


def default_task(env: str, base_params: Any = None) -> np.ndarray:
    """gymnax's default values of `PARAMETERS[env]`, float32 `[dim]`."""
    if base_params is None:
        base_params = make(env)[1]
    return np.asarray([getattr(base_params, n) for n in PARAMETERS[env]], np.float32)


def params_from_task(env: str, base_params: Any, task: jax.Array) -> Any:
    """`base_params` with the fields of `PARAMETERS[env]` set from `task` `[dim]` (and the
    constants derived from them rebuilt; see the module docstring)."""
    names = PARAMETERS[env]
    params = base_params.replace(**{n: task[i] for i, n in enumerate(names)})
    if env == "CartPole-v1":
        params = params.replace(
            total_mass=params.masscart + params.masspole,
            polemass_length=params.masspole * params.length,
        )
    elif env == "Acrobot-v1":
        params = params.replace(
            link_com_pos_1=params.link_length_1 / 2.0, link_com_pos_2=params.link_length_2 / 2.0
        )
    return params


@struct.dataclass
class TaskParamsState:
    """The inner gymnax state and the task `[dim]` float32 its params are built from."""

    inner: Any
    task: jax.Array


class TaskParamsEnv(Wrapper):
    """A gymnax classic-control env whose physical constants are part of its state.

    `reset_to(key, task, params)` starts an episode on `task`; `step(key, state, action,
    params)` uses the params built from `state.task` on top of the wrapper's base params
    (`params` is ignored), so auto-resets keep the task; `reset(key, params)` resets onto the
    default task (gymnax's defaults). `info` (`terminated`, `truncated`, `final_observation`)
    is the inner env's, unchanged. The state carries the task vector, not a full `EnvParams`:
    one canonical float32 leaf whatever the env, from which `task_params(state)` rebuilds the
    params (a few multiplies per step).
    """

    def __init__(self, env: Any, name: str, base_params: Any):
        super().__init__(env)
        if name not in PARAMETERS:
            raise ConfigError(
                f"TaskParamsEnv: {name!r} has no parameter task space. Fix: use one of "
                f"{', '.join(PARAMETERS)}."
            )
        self.name = name
        self.base_params = base_params
        self.names = PARAMETERS[name]
        self.default = default_task(name, base_params)

    @property
    def default_params(self) -> Any:
        return self.base_params

    def task_params(self, state: TaskParamsState) -> Any:
        return params_from_task(self.name, self.base_params, state.task)

    def reset_to(self, key: jax.Array, task: jax.Array, params: Any = None):
        del params
        task = jnp.asarray(task, jnp.float32)
        obs, inner = self.env.reset(key, params_from_task(self.name, self.base_params, task))
        return obs, TaskParamsState(inner, task)

    def reset(self, key: jax.Array, params: Any = None):
        return self.reset_to(key, jnp.asarray(self.default), params)

    def step(self, key, state, action, params=None):
        del params
        obs, inner, reward, terminated, truncated, info = self.env.step(
            key, state.inner, action, self.task_params(state)
        )
        return obs, TaskParamsState(inner, state.task), reward, terminated, truncated, info


def make_params_env(name: str, **overrides: Any) -> tuple[TaskParamsEnv, Any]:
    """`(TaskParamsEnv, base params)` for the gymnax env `name`; `overrides` replace fields of
    the base params (e.g. `max_steps_in_episode`)."""
    env, params = make(name)
    params = params.replace(**overrides) if overrides else params
    return TaskParamsEnv(env, name, params), params


# --- the task space -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassicConfig:
    """A box of physical constants of one gymnax classic-control env."""

    env: Annotated[str, cfg.choices(PARAMETERS)] = "CartPole-v1"
    """The gymnax env whose constants are the task."""
    spread: float = 0.5
    """Each constant ranges over default * [1 - spread, 1 + spread] (0: fixed at the default)."""
    ranges: tuple[tuple[str, float, float], ...] = ()
    """`(name, low, high)` overriding the spread for those constants, e.g.
    `(("length", 0.4, 0.6),)`."""
    heldout_grid: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """`(name, values)` per constant: the held-out set becomes the product grid of these
    values (other constants at their defaults, clipped into the box), named
    `"masscart=1.0,length=0.5"`; empty: the default, corners, centre and ends (see
    `ClassicTaskSpace`)."""
    mutation_scale: float = 0.05
    """Std of one `mutate` step, as a fraction of each dimension's box width."""
    success_threshold: float | None = None
    """Return at or above which an episode solved its task (None: `SUCCESS_THRESHOLDS`)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_choice(self, "env", tuple(PARAMETERS))
        if not 0.0 <= self.spread < 1.0:
            cfg.fail(self, "spread", "must be in [0, 1) (constants stay positive)", "pass e.g. 0.5")
        cfg.check_non_negative(self, "mutation_scale")
        names = PARAMETERS[self.env]
        for name, low, high in self.ranges:
            if name not in names:
                cfg.fail(
                    self,
                    "ranges",
                    f"names {name!r}, not a parameter of {self.env}",
                    f"use one of {', '.join(names)}",
                )
            if not low <= high:
                cfg.fail(
                    self,
                    "ranges",
                    f"has {name} in [{low}, {high}], an empty range",
                    "pass low <= high",
                )
        for name, values in self.heldout_grid:
            if name not in names or not values:
                cfg.fail(
                    self,
                    "heldout_grid",
                    f"has ({name!r}, {values}), not a parameter of {self.env} with values",
                    f"name one of {', '.join(names)} with at least one value",
                )

    def replace(self, **changes: Any) -> ClassicConfig:
        return dataclasses.replace(self, **changes)

    @property
    def threshold(self) -> float:
        if self.success_threshold is not None:
            return float(self.success_threshold)
        return SUCCESS_THRESHOLDS[self.env]


def make_box(config: ClassicConfig, default: np.ndarray) -> ParamBox:
    names = PARAMETERS[config.env]
    low = default * (1.0 - config.spread)
    high = default * (1.0 + config.spread)
    for name, lo, hi in config.ranges:
        i = names.index(name)
        low[i], high[i] = lo, hi
    return ParamBox(jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32), names)


class ClassicTaskSpace:
    """The `TaskSpace` of one classic-control env's constants (see `ClassicConfig`).

    `sample` is uniform in the box; `initial` is gymnax's default vector (clipped into the box
    where `ranges` excludes it); `mutate(key, task, n)` takes `n` Gaussian steps of std
    `mutation_scale * (high - low)` per dimension, clipping to the box after each; `heldout()`
    holds the default, the box's low and high corners and centre, and for each dimension
    that varies its low and high ends with the others at the default (`"length_low"`, ...),
    or the product grid of `heldout_grid`;
    `success(returns)` is `returns >= threshold`.
    """

    adversary = None

    def __init__(self, config: ClassicConfig = ClassicConfig()):
        self.config = config
        self.env_name = params_name(config.env)
        self.env, self.env_params = make(self.env_name)
        self.default = jnp.asarray(self.env.default)
        self.box = make_box(config, np.array(self.env.default))
        self.return_range = return_range(config.env, int(self.env_params.max_steps_in_episode))
        """`(worst, best)` episode return (`return_range`), for teachers that normalise."""

    def sample(self, key: jax.Array) -> jax.Array:
        u = jax.random.uniform(key, self.box.low.shape, jnp.float32)
        return self.box.low + u * (self.box.high - self.box.low)

    def initial(self, key: jax.Array) -> jax.Array:
        del key
        return jnp.clip(self.default, self.box.low, self.box.high)

    def mutate(self, key: jax.Array, task: jax.Array, num_edits: int) -> jax.Array:
        scale = jnp.float32(self.config.mutation_scale) * (self.box.high - self.box.low)

        def edit(i, task):
            noise = jax.random.normal(jax.random.fold_in(key, i), task.shape, jnp.float32)
            return jnp.clip(task + scale * noise, self.box.low, self.box.high)

        return jax.lax.fori_loop(0, num_edits, edit, jnp.asarray(task, jnp.float32))

    def heldout(self) -> Mapping[str, jax.Array]:
        low, high = np.asarray(self.box.low), np.asarray(self.box.high)
        default = np.asarray(self.initial(None))
        if self.config.heldout_grid:
            return self.grid(default)
        tasks = {"default": default, "low": low, "high": high, "centre": (low + high) / 2}
        for i, name in enumerate(self.box.names):
            if high[i] > low[i]:
                for end, value in (("low", low[i]), ("high", high[i])):
                    task = default.copy()
                    task[i] = value
                    tasks[f"{name}_{end}"] = task
        return {k: jnp.asarray(v, jnp.float32) for k, v in tasks.items()}

    def grid(self, default: np.ndarray) -> dict[str, jax.Array]:
        """The product grid of `config.heldout_grid` (values as given, not clipped)."""
        names = [name for name, _ in self.config.heldout_grid]
        tasks = {}
        for values in itertools.product(*(v for _, v in self.config.heldout_grid)):
            task = default.copy()
            for name, value in zip(names, values, strict=True):
                task[self.box.names.index(name)] = value
            label = ",".join(f"{n}={v:g}" for n, v in zip(names, values, strict=True))
            tasks[label] = jnp.asarray(task, jnp.float32)
        return tasks

    def success(self, returns: jax.Array) -> jax.Array:
        return returns >= self.config.threshold


register_task_space("classic", ClassicConfig, ClassicTaskSpace)
