"""Neuroevolution: searching the weights of a policy network directly, without gradients.

Two outer loops (`rljax.meta.outer_loop.OuterLoop`) over the flat weight vector `[N]` of a
`rljax.networks.PolicyNetwork` (deterministic: argmax of the logits, or the Gaussian's mean),
sharing one fitness program (`PolicyFitness`): a member's fitness is its mean return over
`PolicySearchConfig.episodes` episodes, and the whole population is scored by one vmapped
program (the members split over a `rljax.sweep.runs_mesh` when given one). Every generation
uses one key for every member's episodes (common random numbers), fresh each generation.

* `GA`: the genetic algorithm of Such et al. 2017 ("Deep Neuroevolution: Genetic Algorithms
  Are a Competitive Alternative for Training Deep Neural Networks for Reinforcement
  Learning", Algorithm 1 and section 3). Generation 1 scores `population_size` randomly
  initialised networks; each later generation is the elite, unchanged, and
  `population_size - 1` children, each a parent drawn uniformly from the `truncation` best of
  the previous generation plus `sigma * eps`, eps ~ N(0, I) (mutation only, no crossover).
  The elite is chosen among the `elite_candidates` best of the generation (the best
  `elite_candidates - 1` and the previous elite after generation 1) by their mean return on
  `elite_episodes` extra episodes (30 in the paper), and leads the next parents. The paper's
  Atari settings: population 1,000, truncation 20, sigma 0.002, 10 candidates x 30 episodes.
  Compact storage: the state holds the `truncation` parents and the elite (`[T, N]`, `[N]`),
  never the population; a child exists only inside the program, as (parent index, key).
  The paper's seed lists compress what a distributed population sends between machines; in
  one program the parents cost T x N floats, less than a seed list of a long run.
* `WeightsES`: OpenAI-ES (Salimans et al. 2017, "Evolution Strategies as a Scalable
  Alternative to Reinforcement Learning", Algorithm 2 with antithetic pairs and centred
  ranks, section 2.1-2.2) or any evosax strategy, as the meta-learning ES uses it
  (`rljax.meta.es.make_strategy` on an `ESConfig`), over the policy's weights. Its deployed
  policy is the search distribution's mean, scored every generation on `eval_episodes`
  episodes (monitoring only: not counted as env steps, never used by the update).
  Deviations from Salimans et al.: no weight decay (their L2 coefficient 0.005), no virtual
  batch norm and no observation normalisation (they used both for Atari and MuJoCo).

Env steps are the episode steps actually played (the sum of episode lengths) by the members
and, for the GA, by the elite candidates' re-evaluation: what selection consumed. One
generation is one compiled program; it compiles once (the generation number enters it only
as a traced flag), and a checkpointed run resumes bitwise: generation g's key is a function
of (seed, g) alone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from rljax import config as cfg
from rljax import memory
from rljax.agents.common import resolve_torso
from rljax.agents.settings import TorsoSettings
from rljax.environment import action_spec, check_env_name, make, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.meta.es import ESConfig, ESState, _strong, make_strategy
from rljax.meta.outer_loop import run_outer_loop
from rljax.networks import PolicyNetwork
from rljax.wrappers import ClipAction, VecEnv

_INIT_STREAM = 2**31 - 1  # the initial population's key, apart from the generations'


@dataclass(frozen=True)
class PolicySearchConfig(TorsoSettings):
    """The policy whose weights are searched, and how a member is scored."""

    env: cfg.EnvName = "Acrobot-v1"
    """Environment name (`rljax.make`); discrete or continuous actions."""
    episodes: int = 1
    """Episodes per member per generation; the fitness is their mean return (static)."""
    max_steps: int = 0
    """Steps an episode may last (0: the env's own limit); longer ones score their partial
    return."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        try:
            check_env_name(self.env)
        except cfg.ConfigError as error:
            message = str(error).split(" Known:")[0]
            hint = message.split("Did you mean ", 1)[1] if "Did you mean " in message else ""
            cfg.fail(
                self,
                "env",
                "is not a known environment",
                f"did you mean {hint}" if hint else "pass a name `rljax.make` knows",
            )
        cfg.check_positive(self, "episodes")
        cfg.check_non_negative(self, "max_steps")
        cfg.check_choice(self, "activation", cfg.ACTIVATIONS)
        cfg.check_hidden_sizes(self)
        cfg.check_choice(self, "network", cfg.NETWORKS)

    def replace(self, **changes: Any) -> PolicySearchConfig:
        return dataclasses.replace(self, **changes)


class PolicyFitness:
    """The policy network, its flat weights and its episodes: what both loops evaluate.

    `init_weights(key) -> [N]`, `weights_tree(flat) -> params`, `play(flat [N], key,
    episodes) -> EvalResult ([episodes] returns and lengths)`.
    """

    def __init__(self, config: PolicySearchConfig):
        self.config = config
        env, self.env_params = make(config.env)
        self.action = action_spec(env, self.env_params)
        self.env = env if self.action.discrete else ClipAction(env)
        obs_shape = env.observation_space(self.env_params).shape
        self.network = PolicyNetwork(
            self.action,
            config.hidden_sizes,
            config.activation,
            resolve_torso(config.network, config.env),
            len(obs_shape),
        )
        self._dummy_obs = jnp.zeros(obs_shape, jnp.float32)
        flat, self._unravel = ravel_pytree(self._init_tree(jax.random.PRNGKey(0)))
        self.num_weights = int(flat.size)
        self.max_steps = config.max_steps or max_episode_steps(env, self.env_params)

    def _init_tree(self, key: jax.Array) -> Any:
        return self.network.init(key, self._dummy_obs)

    def init_weights(self, key: jax.Array) -> jax.Array:
        """A freshly initialised network's weights, flat `[N]` float32."""
        return ravel_pytree(self._init_tree(key))[0]

    def weights_tree(self, flat: jax.Array) -> Any:
        return self._unravel(flat)

    def act(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        del key
        return self.network.apply(params, obs).mode(), None

    def play(self, flat: jax.Array, key: jax.Array, episodes: int) -> EvalResult:
        """`episodes` episodes of the deterministic policy with weights `flat`."""
        return evaluate(
            VecEnv(self.env, episodes),
            self.env_params,
            self.act,
            self.weights_tree(flat),
            key,
            self.max_steps,
        )

    def play_population(self, weights: jax.Array, key: jax.Array, episodes: int) -> EvalResult:
        """Every member of `weights [P, N]` on the same `episodes` episodes: `[P, episodes]`."""
        return jax.vmap(self.play, in_axes=(0, None, None))(weights, key, episodes)


class SearchMetrics(NamedTuple):
    """One generation, on the host. `score` is the deployed policy's mean return on its
    extra episodes (the GA's elite, re-evaluated; the ES's mean)."""

    generation: int
    score: float
    fitness_mean: float
    fitness_max: float
    fitness: np.ndarray
    """`[P]` mean return per member."""
    env_steps: int
    """Episode steps played this generation (what selection consumed)."""
    seconds: float


class _Traced(NamedTuple):
    """A generation's metrics inside the program."""

    score: jax.Array
    fitness: jax.Array
    env_steps: jax.Array


class _WeightSearch:
    """What the two loops share: the fitness program, keys, the host driver, checkpoints.
    A subclass gives `init`, `_generation(arrays, key, first) -> (arrays, _Traced)` and
    `_wrap(arrays, generation) -> state`, `_arrays(state)`."""

    config: Any

    def __init__(self, config: Any, mesh: Any = None):
        self.config = config
        self.fitness = PolicyFitness(config.policy)
        self.mesh = mesh
        if mesh is not None and self.population_size % mesh.size:
            raise cfg.ConfigError(
                f"{type(config).__name__}: population size {self.population_size} does not "
                f"split evenly over {mesh.size} devices. Fix: pass a multiple of {mesh.size}, "
                "or a mesh over fewer devices (rljax.sweep.even_mesh)."
            )
        self._program = memory.CheckedProgram(
            jax.jit(self._generation), "one generation", memory.SHRINK_WEIGHTS
        )

    @property
    def population_size(self) -> int:
        raise NotImplementedError

    @property
    def num_generations(self) -> int:
        return self.config.num_generations

    def _split(self, members: jax.Array) -> jax.Array:
        """The population `[P, ...]` split over the mesh's devices (inside the program)."""
        if self.mesh is None:
            return members
        from jax.sharding import NamedSharding, PartitionSpec

        from rljax.sweep import RUNS_AXIS

        return jax.lax.with_sharding_constraint(
            members, NamedSharding(self.mesh, PartitionSpec(RUNS_AXIS))
        )

    def generation_key(self, generation: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), generation)

    def step(self, state: Any, key: jax.Array) -> tuple[Any, SearchMetrics]:
        start = time.perf_counter()
        arrays, traced = self._program(self._arrays(state), key, jnp.bool_(state.generation == 0))
        traced = jax.device_get(traced)
        fitness = np.asarray(traced.fitness)
        metrics = SearchMetrics(
            generation=state.generation,
            score=float(traced.score),
            fitness_mean=float(fitness.mean()),
            fitness_max=float(fitness.max()),
            fitness=fitness,
            env_steps=int(traced.env_steps),
            seconds=time.perf_counter() - start,
        )
        return self._wrap(arrays, state.generation + 1), metrics

    def run(
        self,
        state: Any,
        num_generations: int | None = None,
        progress: bool = True,
        on_generation: Callable[[Any, SearchMetrics], None] | None = None,
        checkpointer: Any = None,
    ) -> Any:
        return run_outer_loop(
            self,
            state,
            num_generations,
            progress,
            on_generation,
            checkpointer,
            describe=lambda m: (
                f"score {m.score:.1f} best {m.fitness_max:.1f} "
                f"{m.env_steps / m.seconds:,.0f} steps/s"
            ),
            desc=type(self).__name__,
        )

    def fingerprint(self) -> dict:
        return {"search": type(self).__name__, "config": self.config}

    def save(self, checkpointer: Any, state: Any) -> None:
        checkpointer.save(state.generation, self._arrays(state))

    def restore(self, checkpointer: Any) -> Any:
        """The latest checkpointed state, or None if there is none."""
        if checkpointer.latest_step() is None:
            return None
        step, arrays, _ = checkpointer.restore(self._arrays(self.init()))
        return self._wrap(arrays, step)


# --- the genetic algorithm (Such et al. 2017) --------------------------------------------------


@dataclass(frozen=True)
class GAConfig:
    """Such et al.'s GA over a policy's weights. Defaults sized for Acrobot on a CPU (the
    paper's Atari run: population 1,000, truncation 20, sigma 0.002)."""

    policy: PolicySearchConfig = field(default_factory=PolicySearchConfig)
    population_size: int = 256
    """Members per generation, the elite included (static)."""
    truncation: int = 20
    """The best members of a generation that parent the next one (T; static)."""
    sigma: float = 0.02
    """Mutation scale: a child is its parent + sigma * N(0, I) (traced)."""
    elite_candidates: int = 10
    """Members re-evaluated to choose the elite (static)."""
    elite_episodes: int = 30
    """Extra episodes each candidate plays (static)."""
    num_generations: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "population_size", "truncation", "sigma", "elite_candidates")
        cfg.check_positive(self, "elite_episodes", "num_generations")
        cfg.check_finite(self, "sigma")
        if self.truncation > self.population_size:
            cfg.fail(
                self,
                "truncation",
                f"exceeds population_size={self.population_size}",
                "pass at most the population size",
            )
        if self.elite_candidates > self.population_size:
            cfg.fail(
                self,
                "elite_candidates",
                f"exceeds population_size={self.population_size}",
                "pass at most the population size",
            )

    def replace(self, **changes: Any) -> GAConfig:
        return dataclasses.replace(self, **changes)


@struct.dataclass
class GAArrays:
    """The GA's traced state between generations."""

    parents: jax.Array
    """`[T, N]`: the previous generation's best, the elite first."""
    elite: jax.Array
    """`[N]`: the elite (member 0 of the next generation)."""
    elite_score: jax.Array
    """`[]`: the elite's mean return on its `elite_episodes` re-evaluation episodes."""
    sigma: jax.Array
    """`[]`: the mutation scale (a traced leaf: sweeps vmap over it)."""


@struct.dataclass
class GAState:
    arrays: GAArrays
    generation: int = struct.field(pytree_node=False, default=0)


class GA(_WeightSearch):
    """See the module docstring. `GA(config).run(GA(config).init())` evolves
    `config.num_generations` generations; `best_weights(state)` is the elite."""

    config: GAConfig

    @property
    def population_size(self) -> int:
        return self.config.population_size

    def init(self) -> GAState:
        n, t = self.fitness.num_weights, self.config.truncation
        return GAState(
            GAArrays(
                parents=jnp.zeros((t, n), jnp.float32),
                elite=jnp.zeros((n,), jnp.float32),
                elite_score=jnp.float32(-jnp.inf),
                sigma=jnp.float32(self.config.sigma),
            )
        )

    def best_weights(self, state: GAState) -> jax.Array:
        return state.arrays.elite

    def _arrays(self, state: GAState) -> GAArrays:
        return state.arrays

    def _wrap(self, arrays: GAArrays, generation: int) -> GAState:
        return GAState(arrays, generation)

    def _generation(self, s: GAArrays, key: jax.Array, first: jax.Array):
        c = self.config
        size, k = c.population_size, c.elite_candidates
        member_key, play_key, elite_key = jax.random.split(key, 3)
        keys = jax.random.split(member_key, size)

        def child(member_key):
            parent_key, noise_key = jax.random.split(member_key)
            parent = s.parents[jax.random.randint(parent_key, (), 0, c.truncation)]
            return parent + s.sigma * jax.random.normal(noise_key, parent.shape)

        # Generation 1: random networks; later: the elite, then mutated children. (A cond
        # outside the vmap: only the branch taken runs.)
        members = jax.lax.cond(
            first,
            lambda: jax.vmap(self.fitness.init_weights)(keys),
            lambda: jax.vmap(child)(keys).at[0].set(s.elite),
        )
        members = self._split(members)
        played = self.fitness.play_population(members, play_key, c.policy.episodes)
        fitness = played.returns.mean(axis=1)

        # The elite: the best of the k - 1 fittest and the previous elite (member 0), or of
        # the k fittest in generation 1, by the mean return on elite_episodes new episodes.
        order = jnp.argsort(-fitness, stable=True)
        candidates = order[:k].at[k - 1].set(jnp.where(first, order[k - 1], 0))
        replayed = self.fitness.play_population(members[candidates], elite_key, c.elite_episodes)
        replay_scores = replayed.returns.mean(axis=1)
        winner = candidates[jnp.argmax(replay_scores)]
        # Parents of the next generation: the elite, then the fittest others.
        ranked = jnp.argsort(-fitness.at[winner].set(jnp.inf), stable=True)
        new = GAArrays(
            parents=members[ranked[: c.truncation]],
            elite=members[winner],
            elite_score=replay_scores.max(),
            sigma=s.sigma,
        )
        steps = played.lengths.sum() + replayed.lengths.sum()
        return new, _Traced(score=new.elite_score, fitness=fitness, env_steps=steps)


# --- evolution strategies over the weights (Salimans et al. 2017) -------------------------------


def _default_es() -> ESConfig:
    """Salimans et al.'s settings as far as evosax's OpenAI-ES has them: antithetic pairs,
    centred ranks, Adam at 0.01, sigma 0.02."""
    return ESConfig(population_size=256, sigma_init=0.02, learning_rate=0.01, num_seeds=1)


_ES_FIELDS_UNUSED = ("num_seeds", "objective", "normalize", "pop_batch_size")


@dataclass(frozen=True)
class WeightsESConfig:
    """An evosax strategy (`es`) over a policy's weights."""

    policy: PolicySearchConfig = field(default_factory=PolicySearchConfig)
    es: ESConfig = field(default_factory=_default_es)
    """The strategy, population, sigma and optimiser (`--es.*`); its `num_generations` and
    `seed` are this search's."""
    eval_episodes: int = 30
    """Episodes the mean plays each generation (its score; static)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "eval_episodes")
        default = _default_es()
        for name in _ES_FIELDS_UNUSED:
            if getattr(self.es, name) != getattr(default, name):
                cfg.fail(
                    self.es,
                    name,
                    "does not apply to a search over policy weights (a member's fitness is "
                    "its mean return over policy.episodes episodes)",
                    f"leave it at {getattr(default, name)!r}",
                )

    @property
    def num_generations(self) -> int:
        return self.es.num_generations

    @property
    def seed(self) -> int:
        return self.es.seed

    def replace(self, **changes: Any) -> WeightsESConfig:
        return dataclasses.replace(self, **changes)


class WeightsES(_WeightSearch):
    """See the module docstring: ask, score every member's episodes, tell, in one program."""

    config: WeightsESConfig

    def __init__(self, config: WeightsESConfig, mesh: Any = None):
        super().__init__(config, mesh)
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed), _INIT_STREAM)
        self.initial_weights = self.fitness.init_weights(key)
        self.strategy, self.strategy_params = make_strategy(config.es, self.initial_weights)

    @property
    def population_size(self) -> int:
        return self.config.es.population_size

    def init(self) -> ESState:
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _INIT_STREAM)
        state = self.strategy.init(key, self.initial_weights, self.strategy_params)
        return ESState(strategy=_strong(state))

    def best_weights(self, state: ESState) -> jax.Array:
        """The search distribution's mean: the policy an ES deploys."""
        return self.strategy.get_mean(state.strategy)

    def _arrays(self, state: ESState) -> Any:
        return state.strategy

    def _wrap(self, arrays: Any, generation: int) -> ESState:
        return ESState(strategy=_strong(arrays), generation=generation)

    def _generation(self, s: Any, key: jax.Array, first: jax.Array):
        del first
        ask_key, play_key, tell_key, eval_key = jax.random.split(key, 4)
        members, s = self.strategy.ask(ask_key, s, self.strategy_params)
        played = self.fitness.play_population(
            self._split(members), play_key, self.config.policy.episodes
        )
        fitness = played.returns.mean(axis=1)
        s, _ = self.strategy.tell(tell_key, members, -fitness, s, self.strategy_params)
        mean = self.strategy.get_mean(s)
        score = self.fitness.play(mean, eval_key, self.config.eval_episodes).returns.mean()
        return s, _Traced(score=score, fitness=fitness, env_steps=played.lengths.sum())


__all__ = [
    "GA",
    "GAConfig",
    "GAState",
    "PolicyFitness",
    "PolicySearchConfig",
    "SearchMetrics",
    "WeightsES",
    "WeightsESConfig",
]
