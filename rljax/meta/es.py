"""Evolution strategies over whole training runs, on evosax.

One generation (`MetaTrainer.es_step`) follows the outer loop of LPO (Lu et al. 2022,
"Discovered Policy Optimisation", section "Learnt Policy Optimisation") and TA-LPO (Jackson et
al. 2024, "Discovering Temporally-Aware Reinforcement Learning Algorithms", section 4):

  1. ask the strategy for a population of meta-parameters `[P, ...]` (antithetic pairs
     `mean +- sigma z` where the strategy supports them: evosax's OpenAI-ES puts member i and
     member i + P/2 on opposite sides of the mean);
  2. for each task, train `P x num_seeds` agents from scratch, `vmap(vmap(train))` in one
     compiled program per task, with common random numbers: every member gets the same
     `num_seeds` inner keys (network init, env resets, minibatch shuffles), fresh each
     generation, so members differ only by their meta-parameters;
  3. score each run by the meta-objective (final evaluation return, or mean episode return over
     training), average over seeds, divide by the task's reference return (so tasks with
     different return scales weigh alike) and average over tasks: the fitness `[P]`;
  4. tell the strategy. evosax minimises, so it is told `-fitness`, which it shapes (centred
     ranks by default, Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative
     to Reinforcement Learning", section 2.1) before its update.

Tasks come in one of two ways:

* a fixed list of learner configs (`MetaTrainer([PPOConfig(env="CartPole-v1"), ...], ...)`):
  one compiled program per task (`TaskProgram`), each env as its config builds it;
* tasks as data (`MetaTrainer(TaskDistribution(learner_config, task_space, T), ...)`): each
  generation draws T tasks from its key inside one compiled program
  (`rljax.meta.inner.SampledTaskProgram`), and every member trains `num_seeds` runs on each,
  every env of a run on that run's task. The fitness is the mean over the drawn tasks (not
  normalised by default: the tasks change every generation; `normalize="initial"` divides by
  one reference return of the initial solution over tasks drawn once). TA-LPG's variant
  (Jackson et al. 2024, section 4): `TaskDistribution(..., lifetimes=(lo, hi), pairs=True)`
  with `fitness_shaping="pairwise"`: each antithetic pair trains on its own task for its own
  sampled lifetime, and a member is ranked only against its mirror.

The learner is any meta-parameterised learner: the algorithm class is looked up from the
config's type (`rljax.learner.make_learner`: PPO, RecurrentPPO) or given as `learner`.

Where the population does not fit in memory, `ESConfig.pop_batch_size` evaluates it in
sequential chunks through the same compiled program. With a `mesh`
(`rljax.sweep.runs_mesh()`), each chunk's members are split over the mesh's devices
(`NamedSharding` over the population axis, as `rljax.sweep` shards runs): the same program,
partitioned by XLA. Nothing recompiles after the first generation: the population, keys and
fitness have the same shapes every generation.
`MetaTrainer` is an outer loop (`rljax.meta.outer_loop.OuterLoop`): `init`, `step`, and the
shared host driver `run`.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import evosax.algorithms
import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.core import fitness_shaping as shaping
from flax import struct
from jax.flatten_util import ravel_pytree

from rljax import config as cfg
from rljax import memory
from rljax.config import ConfigError
from rljax.learner import make_learner
from rljax.meta.inner import SampledTaskProgram, TaskDistribution
from rljax.meta.outer_loop import run_outer_loop
from rljax.meta.parameterisation import MetaParameterisation, check_task
from rljax.training import train

STRATEGIES: dict[str, type] = dict(evosax.algorithms.algorithms)
"""Every evosax 0.3 algorithm, by its evosax name (`Open_ES`, `SNES`, `CMA_ES`, ...)."""


def pairwise_fitness_shaping_fn(population: Any, fitness: Any, state: Any, params: Any) -> Any:
    """TA-LPG's fitness (Jackson et al. 2024, section 4): a 0/1 rank inside each antithetic
    pair (member i against its mirror i + P/2), centred to +-0.5, 0 for a tie. `fitness` is
    evosax's (minimised; NaN, a run with no finished episode, ranks worst), so the better of
    a pair gets -0.5. Scores on different tasks are never compared: each pair shares one."""
    half = fitness.shape[-1] // 2
    worst = jnp.where(jnp.isnan(fitness), jnp.inf, fitness)
    a, b = worst[..., :half], worst[..., half:]
    win = jnp.where(a == b, 0.0, jnp.where(a > b, 0.5, -0.5))
    return jnp.concatenate([win, -win], axis=-1)


FITNESS_SHAPING: dict[str, Callable | None] = {
    "auto": None,
    "centered_rank": shaping.centered_rank_fitness_shaping_fn,
    "z_score": shaping.standardize_fitness_shaping_fn,
    "normalize": shaping.normalize_fitness_shaping_fn,
    "raw": shaping.identity_fitness_shaping_fn,
    "pairwise": pairwise_fitness_shaping_fn,
}
"""`auto`: centred ranks, except for strategies that weight members by rank themselves
(CMA-ES, SNES, ...), which keep their own recombination weights. `pairwise`: TA-LPG's 0/1
rank inside each antithetic pair (needs antithetic sampling)."""

PAIRED_STRATEGIES = ("Open_ES", "EvoTF_ES")
"""Strategies whose antithetic population is `[mean + sigma z, mean - sigma z]` (member i's
mirror is i + P/2), as `pairwise` assumes (SV_Open_ES mirrors within sub-populations)."""

# Key streams apart from the generations' (which use the generation number, from 0).
_INIT_STREAM, _REFERENCE_STREAM = 2**31 - 1, 2**31 - 2

OBJECTIVES = ("final_return", "mean_training_return")
NORMALIZATIONS = ("auto", "initial", "none")


def resolve_strategy(name: str) -> str | None:
    """The evosax name for `name`, matched case-insensitively; None if there is none."""
    by_lower = {k.lower(): k for k in STRATEGIES}
    return by_lower.get(name.lower())


def _init_parameters(strategy: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(STRATEGIES[strategy].__init__).parameters)


def _uses_rank_weights(strategy: str) -> bool:
    default = _init_parameters(strategy)["fitness_shaping_fn"].default
    return default is shaping.weights_fitness_shaping_fn


@dataclass(frozen=True)
class ESConfig:
    """The outer loop. Defaults: OpenAI-ES as in the LPO paper's published settings."""

    strategy: Annotated[str, cfg.choices(sorted(STRATEGIES))] = "Open_ES"
    """Any evosax algorithm by name (case-insensitive), e.g. Open_ES, SNES, CMA_ES, PGPE."""
    population_size: int = 16
    """Members per generation (even for antithetic sampling)."""
    num_generations: int = 32
    """Generations of meta-training."""
    num_seeds: int = 2
    """Inner training runs per member and task; every member uses the same seeds (CRN)."""
    antithetic: bool = True
    """Antithetic pairs mean +- sigma z (strategies that support it: Open_ES, SV_Open_ES, ...)."""
    fitness_shaping: Annotated[str, cfg.choices(FITNESS_SHAPING)] = "auto"
    """auto (centred rank, or the strategy's own rank weights), centered_rank, z_score,
    normalize, raw, pairwise (0/1 inside each antithetic pair: TA-LPG)."""
    objective: Annotated[str, cfg.choices(OBJECTIVES)] = "final_return"
    """final_return (evaluation return after training) or mean_training_return."""
    normalize: Annotated[str, cfg.choices(NORMALIZATIONS)] = "auto"
    """Per-task fitness divided by |reference return|: initial (the initial meta-parameters'
    return, PPO's for LPO at zero weights), none, or auto (initial for several tasks)."""
    sigma_init: float = 0.03
    """Initial perturbation scale."""
    sigma_decay: float = 1.0
    """Sigma is multiplied by this every generation (strategies with a std schedule)."""
    sigma_limit: float = 0.0
    """Sigma never decays below this."""
    optimizer: str = "adam"
    """The optimiser of the mean (strategies that take one): adam or sgd."""
    learning_rate: float = 0.01
    """Step size of that optimiser."""
    pop_batch_size: int = 0
    """Members trained at once; the population runs in sequential chunks of this size
    (0: all at once). Must divide population_size."""
    seed: int = 0
    """Seeds the strategy's sampling and every generation's inner keys."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        name = resolve_strategy(self.strategy)
        if name is None:
            cfg.fail(
                self,
                "strategy",
                "is not an evosax algorithm",
                f"use one of {', '.join(sorted(STRATEGIES))}",
            )
        cfg.check_positive(self, "population_size", "num_generations", "num_seeds", "sigma_init")
        cfg.check_positive(self, "learning_rate", "sigma_decay")
        cfg.check_non_negative(self, "pop_batch_size", "sigma_limit")
        cfg.check_choice(self, "fitness_shaping", tuple(FITNESS_SHAPING))
        cfg.check_choice(self, "objective", OBJECTIVES)
        cfg.check_choice(self, "normalize", NORMALIZATIONS)
        cfg.check_choice(self, "optimizer", ("adam", "sgd"))
        params = _init_parameters(name)
        if self.antithetic and "use_antithetic_sampling" not in params:
            supported = [
                s for s in sorted(STRATEGIES) if "use_antithetic_sampling" in _init_parameters(s)
            ]
            cfg.fail(
                self,
                "antithetic",
                f"is not supported by {name}",
                f"pass --no-antithetic, or pick one of {', '.join(supported)}",
            )
        if (self.antithetic or name == "Open_ES") and self.population_size % 2:
            cfg.fail(
                self,
                "population_size",
                "is odd, so antithetic sampling cannot pair every member with its mirror "
                f"(and {name} needs an even population)"
                if self.antithetic
                else f"is odd, but {name} needs an even population",
                f"pass an even population, e.g. {self.population_size + 1}",
            )
        if self.fitness_shaping not in ("auto", "raw") and _uses_rank_weights(name):
            cfg.fail(
                self,
                "fitness_shaping",
                f"would replace the rank weights {name} recombines with",
                "pass auto for this strategy",
            )
        if self.fitness_shaping == "pairwise" and name not in PAIRED_STRATEGIES:
            cfg.fail(
                self,
                "fitness_shaping",
                f"ranks member i against member i + P/2, which {name} does not draw as mirrors",
                f"use pairwise with {' or '.join(PAIRED_STRATEGIES)}, or pick another shaping",
            )
        if self.fitness_shaping == "pairwise" and not self.antithetic:
            cfg.fail(
                self,
                "fitness_shaping",
                "ranks each member against its antithetic mirror, but antithetic is off",
                "turn antithetic sampling on (Open_ES supports it), or pick another shaping",
            )
        if self.pop_batch_size and self.population_size % self.pop_batch_size:
            cfg.fail(
                self,
                "pop_batch_size",
                f"does not divide population_size={self.population_size}",
                "pass a divisor of the population size (0 trains the whole population at once)",
            )

    @property
    def strategy_name(self) -> str:
        return resolve_strategy(self.strategy)

    @property
    def chunk_size(self) -> int:
        return self.pop_batch_size or self.population_size

    def replace(self, **changes: Any) -> ESConfig:
        return dataclasses.replace(self, **changes)


def make_strategy(config: ESConfig, solution: Any) -> tuple[Any, Any]:
    """The evosax algorithm for `config` over pytrees shaped like `solution`, and its params.

    Constructor arguments a strategy does not take (an optimiser for CMA-ES, say) are left out;
    strategies that hold sigma in their params (`std_init`) get `sigma_init` there.
    """
    name = config.strategy_name
    accepts = _init_parameters(name)
    kwargs: dict[str, Any] = {}
    if "use_antithetic_sampling" in accepts:
        kwargs["use_antithetic_sampling"] = config.antithetic
    if "optimizer" in accepts:
        kwargs["optimizer"] = getattr(optax, config.optimizer)(config.learning_rate)
    if "std_schedule" in accepts:
        kwargs["std_schedule"] = optax.exponential_decay(
            config.sigma_init,
            transition_steps=1,
            decay_rate=config.sigma_decay,
            end_value=config.sigma_limit if config.sigma_decay < 1.0 else None,
        )
    shaping_fn = FITNESS_SHAPING[config.fitness_shaping]
    if shaping_fn is None and not _uses_rank_weights(name):
        shaping_fn = shaping.centered_rank_fitness_shaping_fn
    if shaping_fn is not None:
        kwargs["fitness_shaping_fn"] = shaping_fn
    strategy = STRATEGIES[name](config.population_size, solution, **kwargs)
    params = strategy.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=config.sigma_init)
    return strategy, params


@struct.dataclass
class ESState:
    """The outer loop's state: evosax's state and the number of generations done.

    The inner keys of generation g are derived from (`ESConfig.seed`, g), so this is all a
    resumed meta-training needs to continue exactly as an uninterrupted one.
    """

    strategy: Any
    generation: int = struct.field(pytree_node=False, default=0)


class GenerationMetrics(NamedTuple):
    """One generation, on the host. Fitness is the normalised meta-objective (higher is
    better); `task_returns` is the population's mean raw return per task `[tasks]` (with a
    `TaskDistribution`: per task drawn this generation, `tasks` holding them)."""

    generation: int
    fitness_mean: float
    fitness_max: float
    fitness_min: float
    best_fitness_ever: float
    task_returns: np.ndarray
    fitness: np.ndarray
    """`[P]` per member."""
    seconds: float
    env_steps: int
    tasks: Any = None
    """The generation's drawn tasks (leaves `[T, ...]`) with a `TaskDistribution`; else None."""
    lifetimes: Any = None
    """Their lifetimes `[T]` (updates) with the distribution's `lifetimes`; else None."""


class TaskProgram:
    """One task's compiled program: `(solutions [C, ...], keys [S, 2]) -> scores [C, S]`.

    `vmap` over a population chunk of C members of `vmap` over S seeds of a whole training run
    (`rljax.train`), each scored by the meta-objective. The keys are not mapped over members:
    that is what makes the random numbers common.
    """

    def __init__(
        self,
        config: Any,
        meta: MetaParameterisation,
        objective: str,
        learner: Callable[[Any], Any] | None = None,
    ):
        self.config = config
        self.algo = (learner or make_learner)(config)
        self.env_steps_per_run = self.algo.num_updates * self.algo.steps_per_update
        base = config.hparams()

        def member(solution: Any, key: jax.Array) -> jax.Array:
            state, metrics = train(self.algo, key, meta.apply(base, solution))
            if objective == "final_return":
                return self.algo.evaluate(state).returns.mean()
            return jnp.nanmean(metrics.episode_return)

        self.member = member
        """One run: `(solution, key) -> score`, unjitted (benchmarks time it alone)."""
        per_seed = jax.vmap(member, in_axes=(None, 0))
        self.score = memory.CheckedProgram(
            jax.jit(jax.vmap(per_seed, in_axes=(0, None))),
            "one population chunk's training runs",
            memory.SHRINK_ES,
        )


def _strong(tree: Any) -> Any:
    """Every leaf without JAX's weak type. evosax's `init` returns some weakly typed leaves
    that its `tell` returns strongly typed (and the reverse), which would compile `ask` and
    `tell` a second time in generation 2; with every leaf strong they compile once."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.result_type(x)), tree)


def _slice(tree: Any, start: int, stop: int) -> Any:
    """Members `start:stop` of a host (numpy) population: slicing on the host compiles
    nothing, so every chunk calls the same program with fresh arguments."""
    return jax.tree.map(lambda x: x[start:stop], tree)


def _gather(x: Any) -> np.ndarray:
    """A host copy of a program's output (gathered over processes when sharded)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from rljax.sweep import gather_runs

        return gather_runs(x)
    return np.asarray(x)


class MetaTrainer:
    """Meta-trains `meta`'s pytree by `config.strategy` over the training runs of `tasks`:
    a list of learner configs (one compiled program each), or a `TaskDistribution` (tasks
    drawn as data every generation, one compiled program for all). `learner(config) ->
    learner` builds the algorithm (default: `rljax.learner.make_learner`, by config type).
    `mesh` (a 1-D `rljax.sweep.runs_mesh`) shards each population chunk over its devices.

    Usage: `es_state = trainer.init()`, then `es_state, metrics = trainer.step(es_state,
    trainer.generation_key(es_state.generation))` per generation (`es_step` is the same), or
    `trainer.run(...)`.
    """

    def __init__(
        self,
        tasks: Sequence[Any] | TaskDistribution,
        meta: MetaParameterisation,
        config: ESConfig,
        reference_returns: Sequence[float] | None = None,
        learner: Callable[[Any], Any] | None = None,
        mesh: Any = None,
    ):
        if mesh is not None and config.chunk_size % mesh.size:
            raise ConfigError(
                f"ESConfig.pop_batch_size gives chunks of {config.chunk_size} members, which "
                f"do not split evenly over {mesh.size} devices. Fix: pass a population chunk "
                f"that is a multiple of {mesh.size}."
            )
        self.mesh = mesh
        self.distribution = tasks if isinstance(tasks, TaskDistribution) else None
        if self.distribution is not None:
            self._check_distribution(self.distribution, config)
            tasks = [self.distribution.learner]
        if not tasks:
            raise ConfigError("MetaTrainer needs at least one task. Fix: pass [PPOConfig(...)].")
        for i, task in enumerate(tasks):
            check_task(meta, task, i)
        if reference_returns is not None and len(reference_returns) != len(tasks):
            raise ConfigError(
                f"reference_returns has {len(reference_returns)} entries for {len(tasks)} "
                "tasks. Fix: give one reference return per task (one for a TaskDistribution), "
                "or None."
            )
        self.tasks = tuple(tasks)
        self.meta = meta
        self.config = config
        self.initial_solution = meta.init(tasks[0])
        self.strategy, self.strategy_params = make_strategy(config, self.initial_solution)
        self._unravel = ravel_pytree(self.initial_solution)[1]
        if self.distribution is not None:
            self.sampled = SampledTaskProgram(self.distribution, meta, config.objective, learner)
            self.programs = [self.sampled]
            per_member = 1 if self.distribution.pairs else self.distribution.tasks_per_generation
            runs = per_member * self.sampled.env_steps_per_run
        else:
            self.sampled = None
            self.programs = [TaskProgram(t, meta, config.objective, learner) for t in tasks]
            runs = sum(p.env_steps_per_run for p in self.programs)
        self._references = None if reference_returns is None else np.asarray(reference_returns)
        self.env_steps_per_generation = config.population_size * config.num_seeds * runs

    @staticmethod
    def _check_distribution(distribution: TaskDistribution, config: ESConfig) -> None:
        distribution.check_lifetimes()
        if not distribution.pairs:
            return
        if not config.antithetic:
            raise ConfigError(
                "TaskDistribution.pairs=True puts each antithetic pair on one task, but "
                "ESConfig.antithetic is off. Fix: turn antithetic sampling on (Open_ES), or "
                "pass pairs=False."
            )
        if distribution.tasks_per_generation != config.population_size // 2:
            raise ConfigError(
                f"TaskDistribution.tasks_per_generation={distribution.tasks_per_generation} "
                "with pairs=True must be one task per antithetic pair, population_size / 2 = "
                f"{config.population_size // 2}. Fix: pass tasks_per_generation="
                f"{config.population_size // 2}."
            )
        if config.normalize == "initial":
            raise ConfigError(
                "ESConfig.normalize='initial' divides by one reference return, but with "
                "TaskDistribution.pairs=True every pair has its own task. Fix: pass "
                "--es.normalize none (and --es.fitness-shaping pairwise)."
            )

    @property
    def num_generations(self) -> int:
        return self.config.num_generations

    # --- keys and state ------------------------------------------------------------------

    def generation_key(self, generation: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), generation)

    def inner_keys(self, key: jax.Array, task: int) -> jax.Array:
        """The `[num_seeds, 2]` keys every member of the generation trains task `task` with."""
        return jax.random.split(jax.random.fold_in(key, task), self.config.num_seeds)

    def init(self) -> ESState:
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _INIT_STREAM)
        if self.config.strategy_name in evosax.algorithms.population_based_algorithms:
            # Population-based strategies start from a population, unscored (+inf: evosax
            # minimises); draw it around the initial solution with sigma_init.
            flat = ravel_pytree(self.initial_solution)[0]
            noise = jax.random.normal(key, (self.config.population_size, flat.size))
            population = jax.vmap(self._unravel)(flat + self.config.sigma_init * noise)
            fitness = jnp.full((self.config.population_size,), jnp.inf)
            state = self.strategy.init(key, population, fitness, self.strategy_params)
        else:
            state = self.strategy.init(key, self.initial_solution, self.strategy_params)
        return ESState(strategy=_strong(state))

    def mean_solution(self, es_state: ESState) -> Any:
        """The search distribution's mean (the best member for population-based strategies)."""
        if hasattr(self.strategy, "get_mean"):
            return self.strategy.get_mean(es_state.strategy)
        return self.best_solution(es_state)

    def best_solution(self, es_state: ESState) -> Any:
        """The member with the highest fitness seen so far (the initial solution before any)."""
        flat = es_state.strategy.best_solution
        if not np.all(np.isfinite(np.asarray(flat))):
            return self.initial_solution
        return self._unravel(flat)

    # --- one generation --------------------------------------------------------------------

    def _place(self, members: Any) -> Any:
        """A chunk of members as the program's input: host arrays, or split over the mesh."""
        if self.mesh is None:
            return members
        from rljax.sweep import shard_runs

        return shard_runs(members, self.mesh)

    def evaluate(self, population: Any, key: jax.Array) -> np.ndarray:
        """Raw meta-objective `[tasks, P, num_seeds]` of every member, in chunks of
        `pop_batch_size` members through each task's single compiled program (with a
        `TaskDistribution`: the `tasks_per_generation` tasks drawn from `key`, through the
        one program; with its `pairs`, `[1, P, num_seeds]`, each pair on its own task)."""
        population = jax.device_get(population)
        size, chunk = self.config.population_size, self.config.chunk_size
        if self.sampled is not None and self.distribution.pairs:
            seeds = self.config.num_seeds
            members = np.arange(size, dtype=np.int32)
            parts = [
                _gather(
                    self.sampled.score_pairs(
                        self._place(_slice(population, i, i + chunk)),
                        self._place(members[i : i + chunk]),
                        key,
                        seeds,
                    )
                )
                for i in range(0, size, chunk)
            ]
            return np.concatenate(parts)[None]
        if self.sampled is not None:
            seeds = self.config.num_seeds
            parts = [
                _gather(
                    self.sampled.score(self._place(_slice(population, i, i + chunk)), key, seeds)
                )
                for i in range(0, size, chunk)
            ]
            return np.concatenate(parts).transpose(1, 0, 2)
        scores = []
        for t, program in enumerate(self.programs):
            keys = self.inner_keys(key, t)
            parts = [
                program.score(self._place(_slice(population, i, i + chunk)), keys)
                for i in range(0, size, chunk)
            ]
            scores.append(np.concatenate([_gather(p) for p in parts]))
        return np.stack(scores)

    def references(self) -> np.ndarray:
        """Per-task reference returns `[tasks]` that fitness is divided by (1 without one).

        `initial`: the initial solution's mean return, measured once with fixed keys
        (reusing the compiled program: the whole chunk is copies of the initial solution).
        """
        mode = self.config.normalize
        if mode == "auto":
            mode = "initial" if len(self.tasks) > 1 else "none"
        if self._references is None and mode == "none":
            self._references = np.ones(len(self.tasks))
        if self._references is None:
            chunk = self.config.chunk_size
            copies = self._place(
                jax.tree.map(
                    lambda x: np.broadcast_to(np.asarray(x), (chunk, *np.shape(x))),
                    self.initial_solution,
                )
            )
            key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _REFERENCE_STREAM)
            if self.sampled is not None:  # one reference over tasks drawn once
                scores = self.sampled.score(copies, key, self.config.num_seeds)
                self._references = np.array([float(_gather(scores)[0].mean())])
                return self._references
            self._references = np.array(
                [
                    float(_gather(p.score(copies, self.inner_keys(key, t)))[0].mean())
                    for t, p in enumerate(self.programs)
                ]
            )
        return self._references

    def fitness(self, scores: np.ndarray) -> np.ndarray:
        """`[tasks, P, seeds]` raw scores -> fitness `[P]` (mean over seeds, per-task division
        by |reference|, mean over tasks). A reference of ~0 leaves its task unscaled. With a
        `TaskDistribution` the one reference divides every drawn task."""
        scale = np.abs(self.references())
        scale = np.where(scale > 1e-6, scale, 1.0)
        return (scores.mean(axis=2) / scale[:, None]).mean(axis=0)

    def _lifetimes(self, key: jax.Array) -> np.ndarray | None:
        lifetimes = self.sampled.lifetimes(key)
        return None if lifetimes is None else np.asarray(lifetimes)

    def step(self, es_state: ESState, key: jax.Array) -> tuple[ESState, GenerationMetrics]:
        """The outer-loop step (`rljax.meta.outer_loop.OuterLoop`): one generation."""
        return self.es_step(es_state, key)

    def es_step(self, es_state: ESState, key: jax.Array) -> tuple[ESState, GenerationMetrics]:
        """One generation: ask, train the population on every task with common random
        numbers, score, tell. `key` fixes the generation (see `generation_key`), and with a
        `TaskDistribution` the tasks it draws."""
        start = time.perf_counter()
        ask_key, eval_key, tell_key = jax.random.split(key, 3)
        population, state = self.strategy.ask(ask_key, es_state.strategy, self.strategy_params)
        scores = self.evaluate(population, eval_key)
        fitness = self.fitness(scores)
        # evosax minimises; NaN fitness (no episode finished) ranks last.
        state, _ = self.strategy.tell(
            tell_key, population, jnp.asarray(-fitness, jnp.float32), state, self.strategy_params
        )
        metrics = GenerationMetrics(
            generation=es_state.generation,
            fitness_mean=float(np.nanmean(fitness)),
            fitness_max=float(np.nanmax(fitness)),
            fitness_min=float(np.nanmin(fitness)),
            best_fitness_ever=float(-np.asarray(state.best_fitness)),
            task_returns=np.nanmean(scores, axis=(1, 2)),
            fitness=fitness,
            seconds=time.perf_counter() - start,
            env_steps=self.env_steps_per_generation,
            tasks=None
            if self.sampled is None
            else jax.device_get(self.sampled.sample_tasks(eval_key)),
            lifetimes=None if self.sampled is None else self._lifetimes(eval_key),
        )
        return ESState(strategy=_strong(state), generation=es_state.generation + 1), metrics

    # --- checkpoints (rljax.checkpoint) -----------------------------------------------------

    def fingerprint(self) -> dict:
        """What a meta-training is, for `rljax.checkpoint.Checkpointer`: a folder written by
        another is refused."""
        tasks = list(self.tasks) if self.distribution is None else self.distribution.describe()
        # (a run's length is not part of it: a finished run can be extended with --resume)
        es = {k: v for k, v in dataclasses.asdict(self.config).items() if k != "num_generations"}
        return {
            "es": es,
            "meta": {"type": type(self.meta).__name__, **dataclasses.asdict(self.meta)},
            "tasks": tasks,
        }

    def save(self, checkpointer: Any, es_state: ESState) -> None:
        """Checkpoint `es_state` as step `generation` (with the reference returns, so a resumed
        run does not measure them again)."""
        checkpointer.save(
            es_state.generation,
            es_state.strategy,
            extra={"references": self.references().tolist()},
        )

    def restore(self, checkpointer: Any) -> ESState | None:
        """The latest checkpointed state, or None if there is none. Generation g's keys are
        fixed by (seed, g), so the resumed run continues exactly as an uninterrupted one."""
        if checkpointer.latest_step() is None:
            return None
        step, state, extra = checkpointer.restore(self.init().strategy)
        self._references = np.asarray(extra["references"])
        return ESState(strategy=state, generation=step)

    def run(
        self,
        es_state: ESState,
        num_generations: int | None = None,
        progress: bool = True,
        on_generation: Callable[[ESState, GenerationMetrics], None] | None = None,
        checkpointer: Any = None,
    ) -> ESState:
        """Generations from `es_state.generation` up to `num_generations` (the config's by
        default), with a progress bar showing each generation's best and mean fitness;
        `es_state` is checkpointed after every generation if a checkpointer is given."""
        self.references()  # measured before the bar starts, once
        return run_outer_loop(
            self,
            es_state,
            num_generations,
            progress,
            on_generation,
            checkpointer,
            describe=lambda m: (
                f"best {m.fitness_max:.3f} mean {m.fitness_mean:.3f} "
                f"{m.env_steps / m.seconds:,.0f} steps/s"
            ),
        )
