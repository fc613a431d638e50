"""DRED: data-regularised environment design, with a VAE (VAE-DRED) or an editor (EL-DRED).

Garcin et al. 2024, "DRED: Zero-Shot Transfer in Reinforcement Learning via
Data-Regularised Environment Design" (ICML), sec. 4 and Alg. 1, with the defaults of the
public code (uoe-agents/dred, `mg_ce_dataset_{vae,el}_dred.json`). The task space gives a
dataset of levels (`task_space.dataset()`); the level buffer starts with them and never
evicts them. Robust-PLR-style, the learner trains only on replayed levels:

    warm-up, until every dataset level has been played once:                 # NEW
        tasks = unseen dataset levels; collect without a gradient step, score them
    then, every step:
        if the last step replayed:                                           # MUTATE
            VAE-DRED: encode 2P distinct random dataset levels, decode `points_per_pair`
                      latents between each pair (slerp of the means;
                      `rljax.curricula.level_vae`)
            EL-DRED:  `num_edits` random edits of the `easy_levels` easiest levels of the
                      last replay batch (highest best return - value loss; the reference's
                      code, like ACCEL's, says "take top 4" but its ascending argsort takes
                      the 4 lowest: rljax follows the stated intent)
            collect on them without a gradient step, score, offer them to the buffer
        elif coin(replay_prob):                                              # REPLAY
            tasks ~ P_replay; collect, take a gradient step, rescore
        else:                                                                # NEW
            tasks = dataset levels, uniformly; collect without a gradient step, rescore

Scores are the L1 value loss (mean |GAE advantage|, `scores.value_l1`). DRED's *grounded*
value loss is the same number on a level the agent has solved at least once (its best
return passes `task_space.success`) and 0 on the others, so generated levels that no
episode has ever solved are not replayed for their value error alone. The replay
distribution mixes two rankings and staleness:

    P = (1 - rho) * [(1 - c) * P_rank(value loss, T) over played dataset levels
                     + c * P_rank(grounded value loss, T_g) over the whole buffer]
        + rho * P_staleness over played dataset levels

with c annealed linearly from `grounded_coef_start` to `grounded_coef_end` over the run
(the loop sets `horizon`). A generated level takes an empty slot, or replaces the
generated level of lowest P if its grounded score is higher.

Deviations from the reference, all documented where they are made: an MLP VAE over a flat
level code instead of a graph VAE, trained inside `init` on the dataset (so seeds vmap and
the VAE is part of the checkpointed state) instead of loaded; decoded levels are repaired to
be solvable (the task space's codec); EL-DRED's "easy" levels rank by the best finished
return of the rollout instead of the mean return; a batch of generated levels is one step of
`num_levels` tasks (the reference generates 6 pairs x 6 points for 36 workers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax import run_batch
from rljax.curricula import level_buffer
from rljax.curricula.curriculum import (
    MUTATE,
    NEW,
    REPLAY,
    ProposeInfo,
    mean_valid_score,
    no_score,
    register_curriculum,
)
from rljax.curricula.level_buffer import LevelBuffer
from rljax.curricula.level_vae import VAEConfig, interpolate_pairs, make_vae, train_vae
from rljax.curricula.plr import Branch, BufferedCurriculum, PLRConfig, PLRState
from rljax.curricula.scores import LevelScore

GENERATORS = ("vae", "edit", "none")


@dataclass(frozen=True)
class DREDConfig(PLRConfig):
    """DRED's settings (`--curriculum.*`); the buffer fields are PLR's with the reference's
    defaults (replay probability 1, value-loss rank temperature 0.1, staleness 0.3)."""

    replay_prob: float = 1.0
    temperature: float = 0.1
    generator: str = "vae"
    """`vae` (VAE-DRED: levels decoded between pairs of dataset levels), `edit` (EL-DRED:
    random edits of the easiest replayed levels) or `none` (no generated levels: robust PLR
    over the dataset, the paper's dataset-PLR baseline; pass grounded_coef_end 0 and
    capacity = the dataset size to match it)."""
    grounded_temperature: float = 1.0
    """Rank temperature of the grounded value loss (traced)."""
    grounded_coef_start: float = 0.0
    grounded_coef_end: float = 1.0
    """Weight c of the grounded ranking, annealed linearly over the run (traced)."""
    points_per_pair: int = 4
    """VAE-DRED: levels decoded between each pair of dataset levels, both ends included;
    `num_levels / points_per_pair` pairs per generation (static)."""
    num_edits: int = 5
    """EL-DRED: random edits per generated level (static)."""
    easy_levels: int = 4
    """EL-DRED: the easiest levels of the replay batch that are edited (static)."""
    vae: VAEConfig = field(default_factory=VAEConfig)
    """The level VAE (VAE-DRED)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # PLR fields DRED has no use for: replay starts once every dataset level was played,
        # and its ranks are its own. A changed value would be silently ignored: refuse it.
        for name in ("min_fill_ratio", "prioritization", "top_k", "duplicate_check"):
            default = PLRConfig.__dataclass_fields__[name].default
            if getattr(self, name) != default:
                cfg.fail(
                    self,
                    name,
                    "is not used by DRED (replay starts once every dataset level was played; "
                    "the ranks are DRED's own)",
                    f"leave it at {default!r}",
                )
        cfg.check_choice(self, "generator", GENERATORS)
        cfg.check_positive(
            self, "grounded_temperature", "points_per_pair", "num_edits", "easy_levels"
        )
        cfg.check_unit_interval(self, "grounded_coef_start", "grounded_coef_end")

    def hparams(self) -> DREDHParams:
        return cfg.traced_coefficients(self, DREDHParams)


@struct.dataclass
class DREDHParams:
    """Traced coefficients; scalars (or `[runs]` under vmap)."""

    replay_prob: jax.Array
    min_fill_ratio: jax.Array
    temperature: jax.Array
    staleness_coef: jax.Array
    grounded_temperature: jax.Array
    grounded_coef_start: jax.Array
    grounded_coef_end: jax.Array


@struct.dataclass
class DREDState(PLRState):
    """The PLR buffer (`buffer.scores`: grounded value loss) and what DRED adds."""

    from_dataset: jax.Array
    """`[capacity]` bool: the slot holds a dataset level (slots 0..D-1; never evicted)."""
    played: jax.Array
    """`[capacity]` bool: the level has been scored at least once."""
    value_loss: jax.Array
    """`[capacity]` float32: the latest L1 value loss of each level."""
    easiness: jax.Array
    """`[num_levels]` float32: best return - value loss of the last replay batch."""
    last_step: jax.Array
    """int32 scalar: the previous step's type."""
    parents: jax.Array
    """`[num_levels]` int32: buffer slots of the last replay batch."""
    step: jax.Array
    """int32 scalar: curriculum steps so far (the grounded weight's schedule)."""
    vae: Any
    """The level VAE's parameters (VAE-DRED; None for EL-DRED)."""


@register_curriculum
class DRED(BufferedCurriculum):
    name = "dred"
    Config = DREDConfig
    score_function = "value_l1"
    train_on_new = False

    def __init__(self, config: DREDConfig, task_space: Any, num_levels: int):
        if getattr(task_space, "dataset", None) is None:
            cfg.fail(
                config,
                "generator",
                f"needs a task space with a level dataset, and {type(task_space).__name__} "
                "has none (no dataset())",
                "use task-space:maze (its dataset of structured levels) or give yours "
                "dataset() -> tasks [D, ...]",
            )
        super().__init__(config, task_space, num_levels)
        self.dataset = task_space.dataset()
        self.dataset_size = int(jax.tree.leaves(self.dataset)[0].shape[0])
        room = 0 if config.generator == "none" else num_levels
        if config.capacity < self.dataset_size + room:
            cfg.fail(
                config,
                "capacity",
                f"leaves no room for generated levels beside the {self.dataset_size} dataset "
                f"levels and a batch of {num_levels}",
                f"pass capacity >= {self.dataset_size + room}",
            )
        if self.dataset_size < num_levels:
            cfg.fail(
                config,
                "generator",
                f"needs a dataset of at least num_levels={num_levels} levels, and the task "
                f"space has {self.dataset_size}",
                "use a larger dataset or fewer num_levels",
            )
        if config.generator == "vae":
            self.codec = getattr(task_space, "codec", None)
            if self.codec is None:
                cfg.fail(
                    config,
                    "generator",
                    f"is vae, and {type(task_space).__name__} has no level codec",
                    "pass --curriculum.generator edit (EL-DRED), or give the task space a "
                    "rljax.curricula.level_vae.LevelCodec as `codec`",
                )
            if num_levels % config.points_per_pair:
                cfg.fail(
                    config,
                    "points_per_pair",
                    f"must divide the batch of levels num_levels={num_levels}",
                    "pass a divisor of num_levels, e.g. 4",
                )
            self.vae = make_vae(config.vae, self.codec.blocks)
        elif config.generator == "edit" and getattr(task_space, "mutate", None) is None:
            cfg.fail(
                config,
                "generator",
                f"is edit, and {type(task_space).__name__} has no editor (mutate)",
                "pass --curriculum.generator vae, or a task space with mutate()",
            )

    # --- state ---------------------------------------------------------------------------------

    def init(self, key: jax.Array, example_task: Any, hparams: DREDHParams | None = None):
        """The buffer with the dataset in slots 0..D-1 (not yet played), and the VAE fitted
        to the dataset (VAE-DRED)."""
        hparams = self.hparams() if hparams is None else hparams
        capacity, size = self.config.capacity, self.dataset_size
        buffer = level_buffer.init(example_task, capacity)
        levels = jax.tree.map(lambda b, d: b.at[:size].set(d), buffer.levels, self.dataset)
        from_dataset = jnp.arange(capacity) < size
        buffer = buffer.replace(levels=levels, filled=from_dataset)
        vae = None
        if self.config.generator == "vae":
            codes = jax.vmap(self.codec.encode)(self.dataset)
            vae, _ = train_vae(key, codes, self.codec.blocks, self.config.vae)
        n = self.num_levels
        return DREDState(
            buffer=buffer,
            hparams=hparams,
            mean_score=no_score(),
            from_dataset=from_dataset,
            played=jnp.zeros(capacity, bool),
            value_loss=jnp.zeros(capacity, jnp.float32),
            easiness=jnp.zeros(n, jnp.float32),
            last_step=jnp.full((), NEW, jnp.int32),
            parents=jnp.zeros(n, jnp.int32),
            step=jnp.zeros((), jnp.int32),
            vae=vae,
        )

    # --- the replay distribution ----------------------------------------------------------------

    def grounded_coef(self, state: DREDState) -> jax.Array:
        hp = state.hparams
        progress = 1.0 if not self.horizon else jnp.minimum(state.step / self.horizon, 1.0)
        return hp.grounded_coef_start + (hp.grounded_coef_end - hp.grounded_coef_start) * progress

    def replay_weights(self, state: DREDState, buffer: LevelBuffer) -> jax.Array:
        """P `[capacity]` of the module docstring for `buffer` (the state's buffer, or one
        being filled by an insert)."""
        hp = state.hparams
        played = buffer.filled & state.played
        dataset = buffer.replace(filled=played & state.from_dataset)
        value_rank = level_buffer.score_weights(
            dataset.replace(scores=state.value_loss), hp.temperature
        )
        grounded_rank = level_buffer.score_weights(
            buffer.replace(filled=played), hp.grounded_temperature
        )
        c = self.grounded_coef(state)
        scores = (1 - c) * value_rank + c * grounded_rank
        stale = level_buffer.staleness_weights(dataset)
        return (1 - hp.staleness_coef) * scores + hp.staleness_coef * stale

    # --- propose -------------------------------------------------------------------------------

    def choose_step(self, state: DREDState, coin_key: jax.Array) -> jax.Array:
        """NEW until every dataset level was played; then MUTATE after each REPLAY, and
        otherwise REPLAY with probability replay_prob."""
        warm = (state.played | ~state.from_dataset).all()
        replay = warm & (jax.random.uniform(coin_key) < state.hparams.replay_prob)
        kind = jnp.where(replay, REPLAY, NEW)
        if self.config.generator == "none":
            return kind
        return jnp.where(warm & (state.last_step == REPLAY), MUTATE, kind)

    def branches(self, state: DREDState, key: jax.Array) -> list[Branch]:
        n = self.num_levels

        def dataset_levels(buffer: LevelBuffer):
            # Unplayed dataset levels first (without replacement), then any dataset level.
            noise = jax.random.gumbel(key, (buffer.capacity,))
            priority = jnp.where(state.played, 0.0, 1e6) + noise
            _, indices = jax.lax.top_k(jnp.where(state.from_dataset, priority, -jnp.inf), n)
            buffer, tasks = level_buffer.take(buffer, indices)
            return buffer, tasks, indices

        def replay(buffer: LevelBuffer):
            p = self.replay_weights(state, buffer)
            buffer, indices, tasks = level_buffer.draw(buffer, key, n, p)
            return buffer, tasks, indices

        def generate(buffer: LevelBuffer):
            return buffer, self.generate(state, key), jnp.full(n, -1, jnp.int32)

        return [dataset_levels, replay] + ([] if self.config.generator == "none" else [generate])

    def generate(self, state: DREDState, key: jax.Array) -> Any:
        """`num_levels` new levels: decoded between dataset pairs (VAE-DRED) or edits of the
        last replay batch's easiest levels (EL-DRED)."""
        n, config = self.num_levels, self.config
        if config.generator == "vae":
            pairs = n // config.points_per_pair
            pick_key, noise_key = jax.random.split(key)
            rows = jax.random.choice(pick_key, self.dataset_size, (2 * pairs,), replace=False)
            pairs_tasks = jax.tree.map(lambda x: jnp.asarray(x)[rows], self.dataset)
            codes = jax.vmap(self.codec.encode)(pairs_tasks)
            mean, log_std = self.vae.apply(state.vae, codes, method="encode")
            latents = interpolate_pairs(noise_key, mean, log_std, config.points_per_pair)
            logits = self.vae.apply(state.vae, latents, method="decode")
            return jax.vmap(self.codec.decode)(logits)
        easy = min(config.easy_levels, n)
        _, best = jax.lax.top_k(state.easiness, easy)
        parents = state.parents[jnp.tile(best, -(-n // easy))[:n]]
        tasks = jax.tree.map(lambda x: x[parents], state.buffer.levels)
        edit = lambda k, task: self.task_space.mutate(k, task, config.num_edits)
        return jax.vmap(edit)(jax.random.split(key, n), tasks)

    def info(self, step_type: jax.Array, indices: jax.Array, buffer: LevelBuffer) -> ProposeInfo:
        """Buffered info; the stored best returns of the dataset levels are known too."""
        info = super().info(step_type, indices, buffer)
        stored = buffer.max_returns[jnp.maximum(indices, 0)]
        return info.replace(max_returns=jnp.where(indices >= 0, stored, info.max_returns))

    # --- observe -------------------------------------------------------------------------------

    def observe(
        self,
        state: DREDState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> DREDState:
        """Rescore played slots (NEW, REPLAY) or offer generated levels (MUTATE); the buffer
        keeps the grounded value loss, `value_loss` the plain one."""
        best = jnp.maximum(info.max_returns, max_returns)
        grounded = jnp.where(self.task_space.success(best), score.score, 0.0)

        def rescore(state: DREDState) -> DREDState:
            buffer = level_buffer.update_scores(
                state.buffer, info.indices, grounded, score.valid, max_returns
            )
            losses = level_buffer.update_scores(
                state.buffer.replace(scores=state.value_loss),
                info.indices,
                score.score,
                score.valid,
            ).scores
            played = state.played.at[info.indices].set(True)
            return state.replace(buffer=buffer, value_loss=losses, played=played)

        def offer(state: DREDState) -> DREDState:
            weights_fn = lambda buf: jnp.where(
                state.from_dataset, jnp.inf, self.replay_weights(state, buf)
            )
            hp = state.hparams
            buffer, slots = level_buffer.insert(
                state.buffer,
                tasks,
                grounded,
                score.valid,
                hp.temperature,
                hp.staleness_coef,
                max_returns=max_returns,
                weights_fn=weights_fn,
            )
            kept = jnp.where(slots >= 0, slots, state.buffer.capacity)
            losses = state.value_loss.at[kept].set(score.score, mode="drop")
            played = state.played.at[kept].set(True, mode="drop")
            return state.replace(buffer=buffer, value_loss=losses, played=played)

        state = run_batch.switch(
            (info.step_type == MUTATE).astype(jnp.int32), [rescore, offer], state
        )
        replayed = info.step_type == REPLAY
        easiness = jnp.where(score.valid, best - score.score, -jnp.inf)
        return state.replace(
            mean_score=mean_valid_score(score),
            easiness=jnp.where(replayed, easiness, state.easiness),
            last_step=info.step_type.astype(jnp.int32),
            parents=jnp.where(replayed, info.indices, state.parents),
            step=state.step + 1,
        )


__all__ = ["DRED", "GENERATORS", "DREDConfig", "DREDHParams", "DREDState"]
