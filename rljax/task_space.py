"""The task-space interface: what a loop needs from an environment family.

A task is a fixed-shape pytree with canonical dtypes: a maze level, a vector of physical
constants, later a gridworld level or an XLand ruleset. Because every task has the same
structure, a batch of different tasks trains in one compiled program and a new task never
recompiles. A task space bundles, for one family:

    env_name                 the registered name of that env, which learners are built on
    env, env_params          an env (gymnax 1.0 signature) with `reset_to(key, task, params)`;
                             its episodes auto-reset onto the same task
    sample(key) -> task      a fresh task (domain randomisation's distribution)
    initial(key) -> task     the simplest tasks, where an editor starts from (ACCEL's new
                             levels: an empty maze room); `sample` where nothing is simpler
    mutate(key, task, n)     `n` random edits of a task, or None where there is no editor
    heldout() -> {name: task}  the held-out evaluation set
    success(returns) -> bool   whether an episode with return `returns` solved its task
    box                      `ParamBox(low, high)` for a continuous task vector; None otherwise
    adversary                `AdversarySpec` where a learned level builder exists (PAIRED)

Task spaces are registered by name (`register_task_space`) with a frozen config dataclass,
so `experiments.ued --task-space ...` runs on any of them; `make_task_space(config)` builds
one. The maze (`envs/maze/task_space.py`) and the gymnax classic-control parameters
(`envs/classic/task_space.py`) are the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from rljax.wrappers import EpisodeStatisticsState


class ParamBox(NamedTuple):
    """The box a continuous task vector lives in: `low`, `high` `[dim]` float32, and the
    names of the dimensions."""

    low: jax.Array
    high: jax.Array
    names: tuple[str, ...]


class AdversarySpec(NamedTuple):
    """A level-building env for PAIRED (Dennis et al. 2020): a registered env name whose
    episode of `num_steps` steps builds one task, and `build(actions [T], start_state) ->
    task` (start_state: the builder env's unbatched state at the episode's start)."""

    env: str
    num_steps: int
    build: Callable[[jax.Array, Any], Any]
    complexity: Callable[[Any], jax.Array]
    """`complexity(tasks [n, ...]) -> [n]`, e.g. the number of walls, for metrics."""


class TaskSpace(Protocol):
    env_name: str
    """The registered env (`rljax.make`) whose levels the tasks are: a learner is built on it."""
    env: Any
    env_params: Any
    box: ParamBox | None
    adversary: AdversarySpec | None

    def sample(self, key: jax.Array) -> Any: ...

    def initial(self, key: jax.Array) -> Any: ...

    def mutate(self, key: jax.Array, task: Any, num_edits: int) -> Any: ...

    def heldout(self) -> Mapping[str, Any]: ...

    def success(self, returns: jax.Array) -> jax.Array: ...


def has_editor(space: TaskSpace) -> bool:
    """Whether the space can mutate a task (ACCEL needs it)."""
    return getattr(space, "mutate", None) is not None


def reset_to_tasks(
    space: TaskSpace, tasks: Any, key: jax.Array, env: Any = None
) -> tuple[jax.Array, EpisodeStatisticsState]:
    """`(obs [n, ...], env_state)` of a batch reset onto `tasks` (leaves `[n, ...]`), one
    key per env, with fresh episode statistics: the state of
    `VecEnv(EpisodeStatistics(env))`. `env` defaults to the space's env (a loop passes its
    wrapped base env, e.g. a frame stack)."""
    env = space.env if env is None else env
    n = jax.tree.leaves(tasks)[0].shape[0]
    obs, inner = jax.vmap(env.reset_to, in_axes=(0, 0, None))(
        jax.random.split(key, n), tasks, space.env_params
    )
    stats = EpisodeStatisticsState(inner, jnp.zeros(n, jnp.float32), jnp.zeros(n, jnp.int32))
    return obs, stats


def stack_tasks(tasks: Mapping[str, Any] | list[Any], repeat: int = 1) -> Any:
    """A batch of tasks, leaves `[len(tasks) * repeat, ...]`, each task repeated `repeat`
    times in a row."""
    values = list(tasks.values()) if isinstance(tasks, Mapping) else list(tasks)

    def stack(*xs: Any) -> jax.Array:
        if any(isinstance(x, jax.core.Tracer) for x in xs):
            return jnp.repeat(jnp.stack(xs), repeat, axis=0)
        # Concrete tasks are stacked on the host: as jnp ops each leaf's stack compiled a
        # small XLA program of its own (~0.5 s for a gridworld level's leaves).
        return jnp.asarray(np.repeat(np.stack([np.asarray(x) for x in xs]), repeat, axis=0))

    return jax.tree.map(stack, *values)


# --- the registry ---------------------------------------------------------------------------

TASK_SPACES: dict[str, tuple[type, Callable[[Any], TaskSpace]]] = {}
"""name -> (config class, builder(config) -> TaskSpace)."""


def register_task_space(name: str, config_type: type, build: Callable[[Any], TaskSpace]) -> None:
    TASK_SPACES[name] = (config_type, build)


def task_space_name(config: Any) -> str:
    for name, (config_type, _) in TASK_SPACES.items():
        if type(config) is config_type:
            return name
    raise KeyError(f"no task space is registered for {type(config).__name__}")


def make_task_space(config: Any) -> TaskSpace:
    """The task space for `config` (an instance of a registered config class)."""
    return TASK_SPACES[task_space_name(config)][1](config)


__all__ = [
    "TASK_SPACES",
    "AdversarySpec",
    "ParamBox",
    "TaskSpace",
    "has_editor",
    "make_task_space",
    "register_task_space",
    "reset_to_tasks",
    "stack_tasks",
    "task_space_name",
]
