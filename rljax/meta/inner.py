"""Inner runs of an outer loop: a learner trained on tasks drawn as data.

What an outer loop (`rljax.meta.outer_loop`) runs for one set of meta-parameters, written
against the learner interface (`rljax.learner`) and a task space (`rljax.task_space`) only:

    state = learner.init_learner(key, hparams)            # hparams = meta.apply(base, solution)
    state = learner.start(state, env_batch, env_params, key,
                          reset=lambda k: reset_to_tasks(space, tasks, k))
    state, metrics = scan(learner.learn(*learner.collect(state, env_batch, env_params)))
    evaluate_on_task(...)                                  # episodes reset onto the same task

`TaskDistribution` gives an outer loop its tasks as a distribution rather than a list: each
generation draws `tasks_per_generation` tasks from the generation key inside the compiled
program (`vmap(task_space.sample)`), and `SampledTaskProgram` trains every member of a
population on every drawn task, one task per inner run (all `num_envs` envs of a run on the
same task, auto-resetting onto it), in one compiled program for all tasks and generations.

Two options serve TA-LPG (Jackson et al. 2024, "Discovering Temporally-Aware Reinforcement
Learning Algorithms", section 4: lifetimes sampled per task, antithetic pairs on one level):

* `lifetimes=(lo, hi)`: every drawn task also draws a lifetime N, log-uniform in [lo, hi]
  updates (rounded), placed as the run's `hparams.lifetime` (a learner with a traced
  lifetime, e.g. `rljax.agents.lpg.LPGAgent`: updates from the N-th on leave it unchanged).
  Every run scans the learner config's `num_updates` (>= hi), so all lifetimes share one
  compiled program; a run's frozen tail still steps its envs (the cost of a static shape).
* `pairs=True`: instead of every member training on every task, member i and its mirror
  i + P/2 (an antithetic pair in evosax's order) share task i mod P/2, one of P/2 tasks drawn
  per generation (`SampledTaskProgram.score_pairs`): P runs per seed rather than P x T, and
  the pair's fitness difference compares like with like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from rljax import memory
from rljax.config import ConfigError
from rljax.environment import action_spec, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.learner import make_learner
from rljax.task_space import make_task_space, reset_to_tasks, task_space_name
from rljax.wrappers import ClipAction

# Key streams apart from the inner runs' (which fold in the task index, from 0).
_TASK_STREAM, _LIFETIME_STREAM = 2**31 - 3, 2**31 - 4


@dataclass(frozen=True)
class TaskDistribution:
    """Tasks as data for an outer loop: a learner config trained on tasks drawn from a task
    space, `tasks_per_generation` fresh tasks per generation (one inner run per task and
    seed; every env of a run on that task)."""

    learner: Any
    """The learner config (e.g. `PPOConfig`); its `env` must have the task space's
    observation and action shapes (the network is built from it)."""
    task_space: Any
    """A registered task-space config (e.g. `envs.classic.ClassicConfig`) or a TaskSpace."""
    tasks_per_generation: int = 4
    """Tasks drawn per generation; every member trains on each (common random numbers). With
    `pairs`: one per antithetic pair, so half the ES population size."""
    lifetimes: tuple[int, int] | None = None
    """(lo, hi): each task's runs get a lifetime log-uniform in [lo, hi] updates as
    `hparams.lifetime` (None: the learner config's own). hi <= the config's num_updates."""
    pairs: bool = False
    """Antithetic pairs share a task (member i and i + P/2 on task i mod P/2) instead of every
    member training on every task."""

    def __post_init__(self) -> None:
        if not (isinstance(self.tasks_per_generation, int) and self.tasks_per_generation > 0):
            raise ConfigError(
                f"TaskDistribution.tasks_per_generation={self.tasks_per_generation!r} must be "
                "a positive int. Fix: pass e.g. 4."
            )
        if self.lifetimes is not None:
            lo, hi = self.lifetimes
            if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
                raise ConfigError(
                    f"TaskDistribution.lifetimes={self.lifetimes!r} must be (lo, hi) updates "
                    "with 1 <= lo <= hi. Fix: pass e.g. (10, 250)."
                )

    def check_lifetimes(self) -> None:
        """With `lifetimes`, the learner's hparams must hold a traced `lifetime` (checked by
        tracing its `hparams()`, compiling nothing), and its config must make at least `hi`
        updates where it says how many (`num_updates`; else `SampledTaskProgram` checks)."""
        if self.lifetimes is None:
            return
        hparams = jax.eval_shape(self.learner.hparams)
        if not hasattr(hparams, "lifetime"):
            raise ConfigError(
                f"TaskDistribution.lifetimes={self.lifetimes!r} needs a learner whose "
                f"hyperparameters hold a traced lifetime, and {type(hparams).__name__} has "
                "none. Fix: pass lifetimes=None, or use a learner with one (LPGAgentConfig)."
            )
        num_updates = getattr(self.learner, "num_updates", None)
        if isinstance(num_updates, int):
            _refuse_short_runs(
                self.lifetimes, num_updates, self.learner.num_envs * self.learner.num_steps
            )

    def space(self) -> Any:
        try:
            task_space_name(self.task_space)
        except KeyError:
            return self.task_space
        return make_task_space(self.task_space)

    def describe(self) -> dict:
        """A JSON-able description (for checkpoint fingerprints)."""
        try:
            task_space_name(self.task_space)
            space = self.task_space
        except KeyError:
            space = type(self.task_space).__name__
        return {
            "learner": self.learner,
            "task_space": space,
            "tasks_per_generation": self.tasks_per_generation,
            **({"lifetimes": list(self.lifetimes)} if self.lifetimes else {}),
            **({"pairs": True} if self.pairs else {}),
        }


def sample_lifetimes(key: jax.Array, lifetimes: tuple[int, int], num: int) -> jax.Array:
    """`num` lifetimes log-uniform in [lo, hi] updates, rounded: float32 `[num]`."""
    lo, hi = (float(x) for x in lifetimes)
    u = jax.random.uniform(key, (num,), minval=jnp.log(lo), maxval=jnp.log(hi))
    return jnp.clip(jnp.round(jnp.exp(u)), lo, hi).astype(jnp.float32)


def task_env(space: Any) -> Any:
    """The space's env as a learner acts on it: actions clipped into a continuous box."""
    if action_spec(space.env, space.env_params).discrete:
        return space.env
    return ClipAction(space.env)


def repeat_task(task: Any, n: int) -> Any:
    """A batch of `n` copies of one task (leaves `[n, ...]`)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), task)


def train_on_task(
    learner: Any,
    space: Any,
    env_batch: Any,
    num_envs: int,
    hparams: Any,
    task: Any,
    key: jax.Array,
    num_updates: int,
) -> tuple[Any, Any]:
    """One run of `learner` from scratch on `task`: `num_updates` of `learn . collect` on
    `env_batch` (`learner.vectorise(task_env(space), num_envs)`), every env reset onto
    `task`. Keys are split as `PPO.init` splits them (parameters, env reset, the run's
    key). Returns the final learner state and the metrics `[num_updates, ...]`."""
    net_key, env_key, run_key = jax.random.split(key, 3)
    obs_shape = space.env.observation_space(space.env_params).shape
    state = learner.init_learner(net_key, hparams, obs_shape).replace(key=run_key)
    tasks = repeat_task(task, num_envs)
    base = task_env(space)
    state = learner.start(
        state,
        env_batch,
        space.env_params,
        env_key,
        reset=lambda k: reset_to_tasks(space, tasks, k, env=base),
    )

    def update(state, _):
        return learner.learn(*learner.collect(state, env_batch, space.env_params))

    return jax.lax.scan(update, state, None, length=num_updates)


def evaluate_on_task(
    learner: Any,
    space: Any,
    eval_batch: Any,
    num_episodes: int,
    state: Any,
    task: Any,
    key: jax.Array,
    greedy: bool,
) -> EvalResult:
    """One episode on `task` in each of `num_episodes` envs of `eval_batch`
    (`learner.vectorise(task_env(space), num_episodes)`), with the learner's policy (its mode
    if `greedy`) and its observation statistics frozen."""
    tasks = repeat_task(task, num_episodes)
    base = task_env(space)

    def reset(k):
        return reset_to_tasks(space, tasks, k, env=base)

    if hasattr(learner, "reset_fn"):
        reset_fn = learner.reset_fn(state, eval_batch, reset, frozen=True)
    else:
        reset_fn = lambda k, p: reset(k)
    return evaluate(
        eval_batch,
        space.env_params,
        learner.policy(greedy),
        state.params,
        key,
        max_episode_steps(space.env, space.env_params),
        reset=reset_fn,
        policy_carry=learner.initial_carry(num_episodes),
    )


class TrainThenEvaluate:
    """`(hparams, task, key, eval_key) -> mean return`: a learner of `config` trained from
    scratch on `task` for its `num_updates` (keys from `key`, as `train_on_task` splits
    them), then `num_eval_episodes` episodes on the same task with `eval_key` (its mode if
    the config's `greedy_eval`). Unjitted and pure: `vmap` it over tasks, seeds, hparams."""

    def __init__(self, config: Any, space: Any, learner: Any = None):
        self.config, self.space = config, space
        self.learner = learner if learner is not None else make_learner(config)
        base = task_env(space)
        self.env = self.learner.vectorise(base, config.num_envs)
        self.eval_env = self.learner.vectorise(base, config.num_eval_episodes)

    def __call__(self, hparams: Any, task: Any, key: jax.Array, eval_key: jax.Array) -> jax.Array:
        learner, config = self.learner, self.config
        state, _ = train_on_task(
            learner, self.space, self.env, config.num_envs, hparams, task, key,
            learner.num_updates,
        )  # fmt: skip
        result = evaluate_on_task(
            learner, self.space, self.eval_env, config.num_eval_episodes, state, task,
            eval_key, config.greedy_eval,
        )  # fmt: skip
        return result.returns.mean()


class SampledTaskProgram:
    """A population's inner runs on sampled tasks, one compiled program:
    `score(solutions [C, ...], key, num_seeds) -> scores [C, T, S]`.

    Inside the program `T = tasks_per_generation` tasks are drawn from `key`
    (`tasks(key)`), and each of the C members trains S seeds on each task from scratch
    (`vmap` over members of `vmap` over tasks of `vmap` over seeds). Tasks and inner keys are
    not mapped over members: every member sees the same tasks and random numbers. The seeds of
    task t are `split(fold_in(key, t), S)`, as `MetaTrainer.inner_keys` derives a listed
    task's. A new key is new data: nothing recompiles across generations.

    With the distribution's `pairs`, `score_pairs(solutions [C, ...], members [C], key,
    num_seeds) -> [C, S]` trains member `members[c]` (its index in the whole population) on
    task `members[c] mod T` only, with that task's seeds. With `lifetimes`, task t's runs
    live `lifetimes(key)[t]` updates.
    """

    def __init__(
        self,
        distribution: TaskDistribution,
        meta: Any,
        objective: str,
        learner: Callable[[Any], Any] | None = None,
    ):
        config = distribution.learner
        self.config = config
        self.distribution = distribution
        distribution.check_lifetimes()
        self.space = distribution.space()
        self.learner = (learner or make_learner)(config)
        self.num_tasks = distribution.tasks_per_generation
        self._check_shapes()
        base = task_env(self.space)
        self.env = self.learner.vectorise(base, config.num_envs)
        self.eval_env = self.learner.vectorise(base, config.num_eval_episodes)
        num_updates = self.learner.num_updates
        self.env_steps_per_run = num_updates * self.learner.steps_per_update
        hparams = config.hparams()
        self._check_lifetimes(num_updates)
        eval_key = jax.random.PRNGKey(config.eval_seed)

        def member(
            solution: Any, task: Any, key: jax.Array, lifetime: jax.Array | None = None
        ) -> jax.Array:
            run_hparams = meta.apply(hparams, solution)
            if lifetime is not None:
                run_hparams = run_hparams.replace(lifetime=lifetime)
            state, metrics = train_on_task(
                self.learner,
                self.space,
                self.env,
                config.num_envs,
                run_hparams,
                task,
                key,
                num_updates,
            )
            if objective == "final_return":
                result = evaluate_on_task(
                    self.learner,
                    self.space,
                    self.eval_env,
                    config.num_eval_episodes,
                    state,
                    task,
                    eval_key,
                    config.greedy_eval,
                )
                return result.returns.mean()
            return jnp.nanmean(metrics.episode_return)

        self.member = member
        """One run: `(solution, task, key[, lifetime]) -> score`, unjitted."""

        def seeds(key: jax.Array, num_seeds: int) -> jax.Array:  # [T, S, 2]
            return jax.vmap(lambda t: jax.random.split(jax.random.fold_in(key, t), num_seeds))(
                jnp.arange(self.num_tasks)
            )

        def score(solutions: Any, key: jax.Array, num_seeds: int) -> jax.Array:
            tasks, lifetimes = self.tasks(key), self.lifetimes(key)
            per_seed = jax.vmap(member, in_axes=(None, None, 0, None))
            per_task = jax.vmap(
                per_seed, in_axes=(None, 0, 0, 0 if lifetimes is not None else None)
            )
            return jax.vmap(per_task, in_axes=(0, None, None, None))(
                solutions, tasks, seeds(key, num_seeds), lifetimes
            )

        def score_pairs(
            solutions: Any, members: jax.Array, key: jax.Array, num_seeds: int
        ) -> jax.Array:
            tasks, lifetimes, keys = self.tasks(key), self.lifetimes(key), seeds(key, num_seeds)
            which = members % self.num_tasks
            pick = lambda tree: jax.tree.map(lambda x: x[which], tree)
            per_seed = jax.vmap(member, in_axes=(None, None, 0, None))
            lifetime_axis = 0 if lifetimes is not None else None
            return jax.vmap(per_seed, in_axes=(0, 0, 0, lifetime_axis))(
                solutions, pick(tasks), keys[which], None if lifetimes is None else lifetimes[which]
            )

        what = "one population chunk's training runs"
        self.score = memory.CheckedProgram(jax.jit(score, static_argnums=2), what, memory.SHRINK_ES)
        self.score_pairs = memory.CheckedProgram(
            jax.jit(score_pairs, static_argnums=3), what, memory.SHRINK_ES
        )
        self.sample_tasks = jax.jit(self.tasks)

    def tasks(self, key: jax.Array) -> Any:
        """The `tasks_per_generation` tasks (leaves `[T, ...]`) of the generation `key`."""
        keys = jax.random.split(jax.random.fold_in(key, _TASK_STREAM), self.num_tasks)
        return jax.vmap(self.space.sample)(keys)

    def lifetimes(self, key: jax.Array) -> jax.Array | None:
        """The tasks' lifetimes `[T]` (updates, float32) of the generation `key`; None
        without `lifetimes`."""
        if self.distribution.lifetimes is None:
            return None
        stream = jax.random.fold_in(key, _LIFETIME_STREAM)
        return sample_lifetimes(stream, self.distribution.lifetimes, self.num_tasks)

    def _check_shapes(self) -> None:
        check_learner_fits(self.learner, self.space, "TaskDistribution.learner.env")

    def _check_lifetimes(self, num_updates: int) -> None:
        if self.distribution.lifetimes is not None:
            _refuse_short_runs(
                self.distribution.lifetimes, num_updates, self.learner.steps_per_update
            )


def _refuse_short_runs(lifetimes: tuple[int, int], num_updates: int, steps_per_update: int) -> None:
    """Refuse lifetimes longer than the `num_updates` every run scans."""
    if lifetimes[1] > num_updates:
        raise ConfigError(
            f"TaskDistribution.lifetimes={lifetimes!r} reaches {lifetimes[1]} updates, but the "
            f"learner config makes {num_updates} per run. Fix: raise the learner's "
            f"total_timesteps to at least {lifetimes[1]} x {steps_per_update} env steps."
        )


def check_learner_fits(learner: Any, space: Any, field: str) -> None:
    """A learner built for another env than the task space's (observation shape, discrete or
    continuous actions) is refused, naming `field` (the config field that set its env)."""
    obs_shape = tuple(space.env.observation_space(space.env_params).shape)
    action = action_spec(space.env, space.env_params)
    if tuple(learner.obs_shape) != obs_shape or learner.action.discrete != action.discrete:
        raise ConfigError(
            f"{field}={learner.config.env!r} has observations {tuple(learner.obs_shape)}, but "
            f"the task space's env has {obs_shape}. Fix: build the learner config with the "
            "task space's env."
        )


__all__ = [
    "SampledTaskProgram",
    "TaskDistribution",
    "TrainThenEvaluate",
    "check_learner_fits",
    "evaluate_on_task",
    "repeat_task",
    "sample_lifetimes",
    "task_env",
    "train_on_task",
]
