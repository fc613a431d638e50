"""Where the meta-gradient loop's agents get their levels: a level source (a curriculum over
meta-training levels) for `rljax.meta.meta_gradient.MetaGradient`.

GROOVE (Jackson et al. 2023, "Discovering General Reinforcement Learning Algorithms with
Adversarial Environment Design", NeurIPS, its method section) meta-trains LPG on levels chosen
by Prioritized Level Replay (Jiang et al. 2021, "Prioritized Level Replay", sec. 3) scored by
*algorithmic regret* (the paper's term): the return of a hand-designed antagonist (A2C trained
from scratch on the level for the same lifetime, with the agent's settings) minus the return
of the agent trained by the learned rule.

The interface (every method pure, jittable, fixed-shape; states are `flax.struct` pytrees, so
they live in `MetaGradientState.curriculum`, are checkpointed with it and vmap over runs):

    init(key, example_level, num_agents) -> state
    propose(state, key, ended [A]) -> (state, levels [A])
        levels for the agents being reset (`ended`); the other rows are ignored by the loop.
        Also draws the initial levels (`ended` all True) at `MetaGradient.init`.
    observe(state, key, levels [A], finished [A], agents, pvl [A]) -> state
        called at the end of a meta-step with the agents whose lifetime just ended
        (`finished`), their states after their last update, their levels, and the positive
        value loss of their last rollout under the loop's trained critic.

Three sources:

  `uniform`  every new level is drawn from the task space (the loop's behaviour before this
             module, bit for bit: the same keys, the same draws); `observe` does nothing.
  `plr`      PLR over levels scored by positive value loss (PLR sec. 3, the mean over t of
             max(GAE advantage_t, 0)). LPG's agent has no value head, so the advantages come
             from the loop's critic (`MetaGradientState.critics`), which trains on the agent's
             rollouts; the score is that of the agent's last rollout of its lifetime.
  `groove`   PLR scored by algorithmic regret (GROOVE), the agent's return from a
             fresh evaluation at the end of its lifetime (as the reference's `eval_agent`).

The buffer is `rljax.curricula.level_buffer` (PLR's rank prioritisation with temperature beta,
mixed with staleness by rho; a new level replaces the lowest-weight entry only if its score is
higher). Each reset agent replays a buffer level with probability `replay_prob` (one coin per
agent, as GROOVE's reference draws one per agent) once the buffer holds at least
`max(min_fill_ratio * capacity, num_agents)` levels (the reference replays only once the
buffer has a batch of evaluated levels); otherwise it gets a fresh level from the task space,
which is scored when the agent's lifetime ends and offered to the buffer. A replayed level is
rescored in its slot, unless its slot was overwritten meanwhile (an agent lives many
meta-steps): then it is offered again as a new level, with its cached antagonist return.

Antagonist caching. The antagonist's return on a level does not depend on the meta-parameters,
so it is computed once, the first time the level is scored (before it is offered to the
buffer), and stored beside it (`GrooveState.antagonist [capacity]`); a replayed level carries
it to its agent (`agent_antagonist [A]`), and its next score reuses it. GROOVE's reference
trains a new antagonist for every finished agent at every score; `cache_antagonist=False`
does that (only to measure the saving). `GrooveState.antagonist_trainings` counts the
antagonists trained.

Only the finished agents are evaluated and only the levels without a cached return train an
antagonist: both run in chunks of `eval_batch` levels (one `vmap`) inside a loop whose trip
count is the number of such levels in the step (`map_selected`), so a step where no agent
finished costs nothing and a cached level costs no antagonist.

Normalisation. PAPERS.md and the reference define the regret on raw returns (the reference's
`_compute_algorithmic_regret` returns `a2c_return - lpg_return`); GROOVE normalises returns
by the level's optimal return (`envs.gridworld.optimal_return`) when it *reports* them.
`normalise_regret=True` divides both returns by the level's optimal return (the space's
`optimal_return`, floored at 1e-2) before the difference; the default is the raw regret.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax.curricula import level_buffer
from rljax.curricula.level_buffer import LevelBuffer

CURRICULA = ("uniform", "plr", "groove")
"""The level sources `MetaGradient(curriculum=...)` and `--curriculum` accept."""

_OPTIMAL_FLOOR = 1e-2


@dataclass(frozen=True)
class LevelSourceConfig:
    """Settings of the `plr` and `groove` level sources (`--level-source.*`; `uniform` has
    none). GROOVE (the paper and its reference, per PAPERS.md) uses a buffer of 4000 and
    replay probability 0.5; beta and rho are PLR's (check GROOVE's appendix before claiming
    its values)."""

    capacity: int = 4000
    """Levels in the buffer (GROOVE's 4000; static: a shape)."""
    replay_prob: float = 0.5
    """Probability that a reset agent replays a buffer level (GROOVE's 0.5)."""
    min_fill_ratio: float = 0.0
    """No replay until this fraction of the buffer is filled (and never before it holds
    num_agents levels, as the reference)."""
    temperature: float = 0.3
    """beta of PLR's rank weights h_i^(1/beta)."""
    staleness_coef: float = 0.3
    """rho, the weight of staleness in the replay distribution."""
    normalise_regret: bool = False
    """groove: divide both returns by the level's optimal return (value iteration) before the
    difference (default: the raw regret, as the paper and its reference define it)."""
    cache_antagonist: bool = True
    """groove: train the antagonist once per level and reuse its return (False: train one for
    every score, as the reference; only to measure the saving)."""
    eval_batch: int = 4
    """Finished agents evaluated (and antagonists trained) together in one vmapped chunk."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "capacity", "temperature", "eval_batch")
        cfg.check_unit_interval(self, "replay_prob", "min_fill_ratio", "staleness_coef")

    def replace(self, **changes: Any) -> LevelSourceConfig:
        return dataclasses.replace(self, **changes)


Curriculum = Annotated[str, cfg.choices(CURRICULA)]


# --- helpers ----------------------------------------------------------------------------------


def map_selected(
    fn: Callable[..., jax.Array], mask: jax.Array, args: tuple, chunk: int
) -> jax.Array:
    """`fn(*row)` (a float32 scalar) for the rows `i` where `mask [n]` holds, zeros
    elsewhere: `[n]`. The selected rows are gathered in order and mapped `chunk` at a time
    (`vmap`) in a loop of `ceil(count / chunk)` trips, so unselected rows cost nothing."""
    n = mask.shape[0]
    chunk = min(chunk, n)
    order = jnp.nonzero(mask, size=n + chunk, fill_value=n)[0].astype(jnp.int32)
    count = jnp.sum(mask, dtype=jnp.int32)

    def trip(j, out):
        rows = jax.lax.dynamic_slice(order, (j * chunk,), (chunk,))
        safe = jnp.minimum(rows, n - 1)
        values = jax.vmap(fn)(*jax.tree.map(lambda x: x[safe], args))
        return out.at[rows].set(values.astype(jnp.float32), mode="drop")

    return jax.lax.fori_loop(0, (count + chunk - 1) // chunk, trip, jnp.zeros(n, jnp.float32))


def _same_level(stored: Any, level: Any) -> jax.Array:
    """Whether two levels (no batch axis) are equal leaf by leaf."""
    leaves = zip(jax.tree.leaves(stored), jax.tree.leaves(level), strict=True)
    return jnp.all(jnp.stack([jnp.all(a == b) for a, b in leaves]))


# --- uniform ----------------------------------------------------------------------------------


class UniformSource:
    """Every reset agent gets a fresh level from the task space (LPG's meta-training as Oh et
    al. 2020, sec. 3: tasks drawn from a fixed distribution)."""

    name = "uniform"
    observes = False

    def __init__(self, space: Any):
        self.space = space

    def init(self, key: jax.Array, example_level: Any, num_agents: int) -> None:
        del key, example_level, num_agents
        return None

    def propose(self, state: None, key: jax.Array, ended: jax.Array) -> tuple[None, Any]:
        # (the loop's draws before level sources: `vmap(sample)(split(key, A))`)
        return state, jax.vmap(self.space.sample)(jax.random.split(key, ended.shape[0]))

    def observe(self, state: None, *args: Any) -> None:
        return state

    def stats(self, state: None) -> dict:
        """Host-side numbers for a run's progress line (none for uniform)."""
        return {}


# --- PLR and GROOVE ---------------------------------------------------------------------------


@struct.dataclass
class BufferedSourceState:
    """A buffered level source's state: the PLR buffer, the antagonist return cached beside
    each buffer level, and what each agent's current level is."""

    buffer: LevelBuffer
    antagonist: jax.Array
    """`[capacity]` float32: the antagonist's return on each buffer level (groove; NaN where
    unknown)."""
    agent_slot: jax.Array
    """`[A]` int32: the buffer slot agent i's level was replayed from, -1 for a fresh level."""
    agent_antagonist: jax.Array
    """`[A]` float32: the cached antagonist return of agent i's level (NaN: not computed)."""
    replays: jax.Array
    """int32: levels replayed from the buffer so far."""
    proposals: jax.Array
    """int32: levels handed to reset agents so far (replayed or fresh)."""
    antagonist_trainings: jax.Array
    """int32: antagonists trained so far (groove)."""
    scored: jax.Array
    """int32: levels scored so far (one per finished agent)."""
    mean_score: jax.Array
    """float32: mean score of the levels scored at the last observe that scored any (NaN
    before)."""


class BufferedSource:
    """PLR over levels (module doc); subclasses define the score (`scores`)."""

    name = "plr"
    observes = True

    def __init__(self, config: LevelSourceConfig, space: Any, num_agents: int):
        if config.capacity < num_agents:
            cfg.fail(
                config,
                "capacity",
                f"is smaller than the population num_agents={num_agents}",
                f"pass capacity >= {num_agents}",
            )
        self.config = config
        self.space = space
        self.num_agents = num_agents
        self.min_replay_size = max(math.ceil(config.min_fill_ratio * config.capacity), num_agents)

    def init(self, key: jax.Array, example_level: Any, num_agents: int) -> BufferedSourceState:
        del key
        capacity = self.config.capacity
        zero = jnp.zeros((), jnp.int32)
        return BufferedSourceState(
            buffer=level_buffer.init(example_level, capacity),
            antagonist=jnp.full(capacity, jnp.nan, jnp.float32),
            agent_slot=jnp.full(num_agents, -1, jnp.int32),
            agent_antagonist=jnp.full(num_agents, jnp.nan, jnp.float32),
            replays=zero,
            proposals=zero,
            antagonist_trainings=zero,
            scored=zero,
            mean_score=jnp.full((), jnp.nan, jnp.float32),
        )

    def propose(
        self, state: BufferedSourceState, key: jax.Array, ended: jax.Array
    ) -> tuple[BufferedSourceState, Any]:
        """A level for every `ended` agent: a replay with probability replay_prob once the
        buffer is filled enough (slots drawn from PLR's P, stamped as sampled), else a fresh
        draw from the task space."""
        config, buffer = self.config, state.buffer
        coin_key, replay_key, new_key = jax.random.split(key, 3)
        num = ended.shape[0]
        fresh = jax.vmap(self.space.sample)(jax.random.split(new_key, num))
        can_replay = buffer.size >= self.min_replay_size
        coins = jax.random.uniform(coin_key, (num,)) < config.replay_prob
        replay = ended & can_replay & coins
        p = level_buffer.weights(buffer, config.temperature, config.staleness_coef)
        p = jnp.where(buffer.size > 0, p, jnp.full_like(p, 1.0 / p.shape[0]))
        slots = jax.random.choice(replay_key, p.shape[0], (num,), replace=True, p=p)
        slots = slots.astype(jnp.int32)
        replayed = jax.tree.map(lambda x: x[slots], buffer.levels)

        def pick(stored, new):
            where = replay.reshape(replay.shape + (1,) * (new.ndim - 1))
            return jnp.where(where, stored, new)

        levels = jax.tree.map(pick, replayed, fresh)
        stamp = jnp.where(replay, slots, buffer.capacity)
        buffer = buffer.replace(
            last_sampled=buffer.last_sampled.at[stamp].set(buffer.episode_count, mode="drop")
        )
        agent_slot = jnp.where(ended, jnp.where(replay, slots, -1), state.agent_slot)
        cached = jnp.where(replay, state.antagonist[slots], jnp.nan)
        state = state.replace(
            buffer=buffer,
            agent_slot=agent_slot,
            agent_antagonist=jnp.where(ended, cached, state.agent_antagonist),
            replays=state.replays + replay.sum(dtype=jnp.int32),
            proposals=state.proposals + ended.sum(dtype=jnp.int32),
        )
        return state, levels

    def scores(
        self,
        state: BufferedSourceState,
        key: jax.Array,
        levels: Any,
        finished: jax.Array,
        agents: Any,
        pvl: jax.Array,
    ) -> tuple[BufferedSourceState, jax.Array, jax.Array]:
        """`(state, score [A], antagonist return [A])` of the finished agents' levels. PLR:
        the positive value loss of the agent's last rollout under the loop's critic."""
        del key, levels, agents
        return state, jnp.where(finished, pvl, 0.0), state.agent_antagonist

    def observe(
        self,
        state: BufferedSourceState,
        key: jax.Array,
        levels: Any,
        finished: jax.Array,
        agents: Any,
        pvl: jax.Array,
    ) -> BufferedSourceState:
        """Score the finished agents' levels; a replayed level whose slot still holds it is
        rescored there, every other one is offered to the buffer (with its antagonist
        return, stored beside it if it is accepted)."""
        config = self.config
        state, score, antagonist = self.scores(state, key, levels, finished, agents, pvl)
        buffer = state.buffer
        slot = jnp.maximum(state.agent_slot, 0)
        stored = jax.tree.map(lambda x: x[slot], buffer.levels)
        intact = (
            (state.agent_slot >= 0) & buffer.filled[slot] & jax.vmap(_same_level)(stored, levels)
        )
        rescore = finished & intact
        buffer = level_buffer.update_scores(buffer, slot, score, rescore)
        cache = state.antagonist.at[jnp.where(rescore, slot, buffer.capacity)].set(
            antagonist, mode="drop"
        )
        buffer, written = level_buffer.insert(
            buffer,
            levels,
            score,
            finished & ~intact,
            config.temperature,
            config.staleness_coef,
        )
        # A slot taken by a new level drops the cache of the level it replaced.
        cache = cache.at[jnp.where(written >= 0, written, buffer.capacity)].set(
            antagonist, mode="drop"
        )
        count = finished.sum(dtype=jnp.int32)
        mean = jnp.sum(jnp.where(finished, score, 0.0)) / jnp.maximum(count, 1)
        return state.replace(
            buffer=buffer,
            antagonist=cache,
            scored=state.scored + count,
            mean_score=jnp.where(count > 0, mean, state.mean_score),
        )

    def stats(self, state: BufferedSourceState) -> dict:
        """Host-side numbers for a run's progress line: buffer fill, the share of reset
        agents that replayed, levels scored, antagonists trained, the last mean score."""
        proposals = max(int(state.proposals), 1)
        return {
            "buffer_fill": float(state.buffer.size) / state.buffer.capacity,
            "replay_share": int(state.replays) / proposals,
            "levels_scored": int(state.scored),
            "antagonists_trained": int(state.antagonist_trainings),
            "level_score": float(state.mean_score),
        }


class PLRSource(BufferedSource):
    """PLR over levels scored by positive value loss under the loop's critic (module doc)."""

    name = "plr"


class GrooveSource(BufferedSource):
    """GROOVE: PLR over levels scored by algorithmic regret (module doc). `agent_return(agent,
    level, key)` evaluates a finished agent on its level; `antagonist_return(level, key)`
    trains an A2C antagonist from scratch on the level for a lifetime and evaluates it; both
    are one level's (the source maps them over the finished agents)."""

    name = "groove"

    def __init__(
        self,
        config: LevelSourceConfig,
        space: Any,
        num_agents: int,
        agent_return: Callable[[Any, Any, jax.Array], jax.Array],
        antagonist_return: Callable[[Any, jax.Array], jax.Array],
    ):
        super().__init__(config, space, num_agents)
        self.agent_return = agent_return
        self.antagonist_return = antagonist_return

    def regret(
        self, antagonist: jax.Array, agent: jax.Array, optimal: jax.Array | None = None
    ) -> jax.Array:
        """Algorithmic regret (GROOVE): antagonist return - agent return, both
        divided by the level's optimal return if `optimal` is given (`normalise_regret`)."""
        if optimal is None:
            return antagonist - agent
        scale = jnp.maximum(optimal, _OPTIMAL_FLOOR)
        return antagonist / scale - agent / scale

    def scores(
        self,
        state: BufferedSourceState,
        key: jax.Array,
        levels: Any,
        finished: jax.Array,
        agents: Any,
        pvl: jax.Array,
    ) -> tuple[BufferedSourceState, jax.Array, jax.Array]:
        del pvl
        config = self.config
        num = finished.shape[0]
        keys = jax.random.split(key, 2 * num)
        agent_keys, antagonist_keys = keys[:num], keys[num:]
        agent = map_selected(
            self.agent_return, finished, (agents, levels, agent_keys), config.eval_batch
        )
        known = ~jnp.isnan(state.agent_antagonist)
        train = finished & ~known if config.cache_antagonist else finished
        fresh = map_selected(
            self.antagonist_return, train, (levels, antagonist_keys), config.eval_batch
        )
        antagonist = jnp.where(train, fresh, state.agent_antagonist)
        optimal = None
        if config.normalise_regret:
            optimal = map_selected(
                self.space.optimal_return, finished, (levels,), config.eval_batch
            )
        score = jnp.where(finished, self.regret(antagonist, agent, optimal), 0.0)
        state = state.replace(
            agent_antagonist=jnp.where(finished, antagonist, state.agent_antagonist),
            antagonist_trainings=state.antagonist_trainings + train.sum(dtype=jnp.int32),
        )
        return state, score, antagonist


def make_level_source(
    curriculum: str,
    config: LevelSourceConfig,
    space: Any,
    num_agents: int,
    agent_return: Callable[[Any, Any, jax.Array], jax.Array] | None = None,
    antagonist_return: Callable[[Any, jax.Array], jax.Array] | None = None,
) -> UniformSource | PLRSource | GrooveSource:
    """The level source named `curriculum` (`CURRICULA`)."""
    if curriculum == "uniform":
        return UniformSource(space)
    if curriculum == "plr":
        return PLRSource(config, space, num_agents)
    if curriculum == "groove":
        if agent_return is None or antagonist_return is None:
            raise ValueError("groove needs agent_return and antagonist_return")
        return GrooveSource(config, space, num_agents, agent_return, antagonist_return)
    raise cfg.ConfigError(
        f"curriculum={curriculum!r} is not a level source. Fix: pass one of "
        f"{', '.join(CURRICULA)} (CLI flag --curriculum)."
    )


__all__ = [
    "CURRICULA",
    "BufferedSource",
    "BufferedSourceState",
    "GrooveSource",
    "LevelSourceConfig",
    "PLRSource",
    "UniformSource",
    "make_level_source",
    "map_selected",
]
