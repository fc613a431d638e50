"""ALP-GMM: a teacher that samples continuous task parameters where absolute learning
progress is high.

Portelas, Colas, Hofmann and Oudeyer 2019, "Teacher algorithms for curriculum learning of Deep
RL in continuously parameterized environments" (CoRL), sec. 4.1, Alg. 1; the defaults are the
public code's (flowersteam/teachDeepRL, `teachers/algos/alp_gmm.py`). Per episode:

    if fewer than `fit_rate` episodes so far, or coin(random_task_ratio):
        task ~ uniform over the parameter box
    else:
        component c ~ P(c) proportional to c's mean ALP (the ALP coordinate of its mean)
        task ~ N(mean_c, var_c) without the ALP coordinate, clipped to the box
    play the task, r = its episode return, normalised to [0, 1]
    ALP = |r - r(nearest earlier task in the history)|     (0 while the history has <= 5)
    every `fit_rate` episodes: fit GMMs with k = 2..10 components on the last `fit_rate`
        [task, ALP] rows, keep the lowest AIC

Differences from the reference, each chosen so the teacher runs inside the compiled, vmapped
training program:
  * **Diagonal covariances** (`rljax.curricula.gmm`): a full covariance needs a LAPACK
    Cholesky, which must stay out of vmapped code on CPU. `benchmarks/teachers.py` measures
    the effect with the reference teacher itself, full against diagonal: on the 2-D toy
    diagonal covariances master 32.8 +- 2.0% of the cells against full's 37.4 +- 1.0% at
    20,000 episodes (rljax: 31.6 +- 4.0%); with 8 useless dimensions no difference
    (`benchmarks/RESULTS.md`).
  * **Normalised coordinates**: tasks enter the nearest-neighbour search and the GMM as
    `(task - low) / (high - low)` (the reference uses raw units, where the parameter with the
    widest range decides which task is nearest). Identical on a unit box (the toy).
  * **Batches**: a proposal is `num_levels` tasks drawn independently; their ALPs are all
    computed against the history before the batch, and a fit happens once the episode count
    crosses a multiple of `fit_rate` (exactly the reference for one task per proposal).
  * **A bounded history**: the nearest-neighbour memory is a ring of `history_size` tasks
    (the reference keeps every task; the default holds 20,000, the toy's whole run).
  * Tasks whose rollout finished no episode carry no return and are left out (the reference
    always plays one whole episode per task). Returns are clipped to [0, 1] after
    normalisation by the task space's `return_range` (or `return_low`/`return_high`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import config as cfg
from rljax import run_batch
from rljax.curricula import gmm
from rljax.curricula.curriculum import (
    Curriculum,
    CurriculumStats,
    ProposeInfo,
    new_tasks_info,
    no_score,
    register_curriculum,
)
from rljax.curricula.dr import sample_tasks
from rljax.curricula.scores import LevelScore

MIN_HISTORY = 5
"""ALP is 0 while the history holds this many tasks or fewer (the reference's `> 5`)."""


@dataclass(frozen=True)
class ALPGMMConfig:
    """ALP-GMM's settings; defaults are the reference code's."""

    fit_rate: int = 250
    """Episodes between GMM fits; also the uniform bootstrap and the fitted window (static)."""
    min_components: int = 2
    max_components: int = 10
    """The numbers of Gaussians tried at each fit, `min_components..max_components` (static)."""
    random_task_ratio: float = 0.2
    """Share of tasks sampled uniformly after the bootstrap (traced)."""
    history_size: int = 20_000
    """Tasks kept for the nearest-neighbour ALP (static; the reference keeps all)."""
    em_iterations: int = 100
    em_tol: float = 1e-3
    reg_covar: float = 1e-6
    """EM's iteration cap, stopping tolerance on the mean log-likelihood, and variance floor
    (scikit-learn's defaults, which the reference uses)."""
    return_low: float | None = None
    return_high: float | None = None
    """Episode returns mapped to 0 and 1 before ALP (None: the task space's `return_range`)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "fit_rate", "min_components", "history_size", "em_iterations")
        cfg.check_unit_interval(self, "random_task_ratio")
        cfg.check_positive(self, "em_tol", "reg_covar")
        if self.max_components < self.min_components:
            cfg.fail(
                self,
                "max_components",
                f"= {self.max_components} is below min_components = {self.min_components}",
                f"pass max_components >= {self.min_components}",
            )
        if self.fit_rate < self.max_components:
            cfg.fail(
                self,
                "fit_rate",
                f"= {self.fit_rate} rows cannot fit {self.max_components} Gaussians",
                "pass fit_rate >= max_components (the reference: 250)",
            )
        if self.history_size < self.fit_rate:
            cfg.fail(
                self,
                "history_size",
                f"= {self.history_size} is below fit_rate = {self.fit_rate}",
                f"pass history_size >= {self.fit_rate}",
            )

    def replace(self, **changes: Any) -> ALPGMMConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> ALPGMMHParams:
        return cfg.traced_coefficients(self, ALPGMMHParams)

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(range(self.min_components, self.max_components + 1))


@struct.dataclass
class ALPGMMHParams:
    random_task_ratio: jax.Array


@struct.dataclass
class ALPGMMState:
    """The teacher's memory. Tasks are stored in normalised box coordinates `[0, 1]^D`."""

    history_tasks: jax.Array
    """`[history_size, D]` float32, a ring indexed by episode count."""
    history_returns: jax.Array
    """`[history_size]` float32, normalised returns of those tasks."""
    window: jax.Array
    """`[fit_rate, D + 1]` float32: the last `fit_rate` [task, ALP] rows (a ring)."""
    episodes: jax.Array
    """int32 scalar: episodes observed (with a return)."""
    mixture: gmm.Mixture
    """The last fit, `max_components` wide (no real component before the first fit)."""
    num_components: jax.Array
    """int32 scalar: the chosen k of the last fit (0 before it)."""
    key: jax.Array
    """PRNG key of the fits (k-means seeding)."""
    hparams: ALPGMMHParams
    mean_score: jax.Array
    """float32 scalar: mean ALP of the last observed batch (NaN if none)."""


def absolute_learning_progress(
    history_tasks: jax.Array,
    history_returns: jax.Array,
    history_count: jax.Array,
    tasks: jax.Array,
    returns: jax.Array,
) -> jax.Array:
    """`[n]` |r - r(nearest earlier task)| for `tasks [n, D]` with `returns [n]`, against the
    first `min(history_count, H)` rows of the history `[H, D]` / `[H]` (Euclidean nearest);
    0 while `history_count <= MIN_HISTORY`."""
    filled = jnp.arange(history_tasks.shape[0]) < history_count
    d2 = ((tasks[:, None, :] - history_tasks[None]) ** 2).sum(-1)
    nearest = jnp.where(filled[None], d2, jnp.inf).argmin(-1)
    alp = jnp.abs(returns - history_returns[nearest])
    return jnp.where(history_count > MIN_HISTORY, alp, 0.0)


def _ring_put(ring: jax.Array, rows: jax.Array, start: jax.Array, valid: jax.Array) -> jax.Array:
    """Write the `valid` rows of `rows [n, ...]` into `ring [R, ...]` at consecutive positions
    from `start` (mod R); the others are dropped."""
    size = ring.shape[0]
    slot = (start + jnp.cumsum(valid) - 1) % size
    return ring.at[jnp.where(valid, slot, size)].set(rows, mode="drop")


@register_curriculum
class ALPGMM(Curriculum):
    name = "alp_gmm"
    Config = ALPGMMConfig
    score_function = "return"
    """ALP-GMM reads each task's episode return, whatever the loop's configured score."""

    def __init__(self, config: ALPGMMConfig, task_space: Any, num_levels: int):
        super().__init__(config, task_space, num_levels)
        box = getattr(task_space, "box", None)
        if box is None:
            raise cfg.ConfigError(
                f"ALP-GMM samples a continuous parameter box, and the task space "
                f"{type(task_space).__name__} has none. Fix: use a task space with a box "
                "(e.g. --task-space classic) or another curriculum (dr, plr, robust_plr, accel)."
            )
        if num_levels > config.fit_rate:
            cfg.fail(
                config,
                "fit_rate",
                f"= {config.fit_rate} is smaller than the {num_levels} tasks of one proposal",
                f"pass fit_rate >= {num_levels} or fewer envs",
            )
        low = config.return_low
        high = config.return_high
        default = getattr(task_space, "return_range", None)
        if (low is None or high is None) and default is None:
            raise cfg.ConfigError(
                "ALPGMMConfig.return_low/return_high are unset and the task space "
                f"{type(task_space).__name__} has no return_range. Fix: pass "
                "--curriculum.return-low and --curriculum.return-high (the worst and best "
                "episode returns)."
            )
        self.return_low = float(default[0] if low is None else low)
        self.return_high = float(default[1] if high is None else high)
        if not self.return_high > self.return_low:
            cfg.fail(
                config,
                "return_high",
                f"= {self.return_high} is not above return_low = {self.return_low}",
                "pass return_high > return_low",
            )
        self.low = jnp.asarray(box.low, jnp.float32)
        self.width = jnp.asarray(box.high, jnp.float32) - self.low

    # --- coordinates ----------------------------------------------------------------------

    def normalise(self, tasks: jax.Array) -> jax.Array:
        """Box coordinates -> `[0, 1]^D` (a dimension of zero width maps to 0)."""
        safe = jnp.where(self.width > 0, self.width, 1.0)
        return jnp.where(self.width > 0, (tasks - self.low) / safe, 0.0)

    def denormalise(self, unit: jax.Array) -> jax.Array:
        return self.low + jnp.clip(unit, 0.0, 1.0) * self.width

    # --- the interface --------------------------------------------------------------------

    def init(
        self, key: jax.Array, example_task: Any, hparams: ALPGMMHParams | None = None
    ) -> ALPGMMState:
        dim = np.shape(example_task)[-1]
        c = self.config
        return ALPGMMState(
            history_tasks=jnp.zeros((c.history_size, dim), jnp.float32),
            history_returns=jnp.zeros(c.history_size, jnp.float32),
            window=jnp.zeros((c.fit_rate, dim + 1), jnp.float32),
            episodes=jnp.zeros((), jnp.int32),
            mixture=gmm.empty(c.max_components, dim + 1),
            num_components=jnp.zeros((), jnp.int32),
            key=key,
            hparams=self.hparams() if hparams is None else hparams,
            mean_score=no_score(),
        )

    def fitted(self, state: ALPGMMState) -> jax.Array:
        return state.num_components > 0

    def propose(self, state: ALPGMMState, key: jax.Array) -> tuple[ALPGMMState, Any, ProposeInfo]:
        n = self.num_levels
        uniform_key, coin_key, gmm_key = jax.random.split(key, 3)
        uniform = sample_tasks(self.task_space.sample, uniform_key, n)
        from_gmm = jax.vmap(lambda k: self.sample_gmm(state.mixture, k))(
            jax.random.split(gmm_key, n)
        )
        coin = jax.random.uniform(coin_key, (n,)) < state.hparams.random_task_ratio
        use_uniform = coin | ~self.fitted(state)
        tasks = jnp.where(use_uniform[:, None], uniform, from_gmm)
        return state, tasks, new_tasks_info(n)

    def sample_gmm(self, mixture: gmm.Mixture, key: jax.Array) -> jax.Array:
        """`[D]` a task (box coordinates) from the component chosen in proportion to its mean
        ALP (uniformly among the real components if every mean ALP is 0)."""
        choice_key, draw_key = jax.random.split(key)
        alp = jnp.where(mixture.active, jnp.maximum(mixture.means[:, -1], 0.0), 0.0)
        uniform = mixture.active.astype(jnp.float32)
        p = jnp.where(alp.sum() > 0, alp, uniform)
        component = jax.random.choice(choice_key, p.shape[0], p=p / jnp.maximum(p.sum(), 1e-30))
        unit = gmm.sample_component(draw_key, mixture, component)[:-1]
        return self.denormalise(unit)

    def observe(
        self,
        state: ALPGMMState,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> ALPGMMState:
        """`score.score [n]` are the tasks' mean episode returns (the `return` score)."""
        del info, max_returns
        c = self.config
        unit = self.normalise(jnp.asarray(tasks, jnp.float32))
        span = self.return_high - self.return_low
        returns = jnp.clip((score.score - self.return_low) / span, 0.0, 1.0)
        valid = score.valid & jnp.isfinite(score.score)
        returns = jnp.where(valid, returns, 0.0)
        alp = absolute_learning_progress(
            state.history_tasks, state.history_returns, state.episodes, unit, returns
        )
        rows = jnp.concatenate([unit, alp[:, None]], axis=1)
        count = valid.sum(dtype=jnp.int32)
        episodes = state.episodes + count
        fit_key, key = jax.random.split(state.key)
        state = state.replace(
            history_tasks=_ring_put(state.history_tasks, unit, state.episodes, valid),
            history_returns=_ring_put(state.history_returns, returns, state.episodes, valid),
            window=_ring_put(state.window, rows, state.episodes, valid),
            episodes=episodes,
            key=key,
            mean_score=jnp.where(count > 0, (alp * valid).sum() / jnp.maximum(count, 1), jnp.nan),
        )
        crossed = (episodes // c.fit_rate) > (state.episodes - count) // c.fit_rate
        refit = crossed & (episodes >= c.fit_rate)
        # Runs of a vmapped batch refit at different steps; the fit runs when any does.
        return run_batch.cond_if_any(refit, lambda s: self.fit(s, fit_key), lambda s: s, state)

    def fit(self, state: ALPGMMState, key: jax.Array) -> ALPGMMState:
        """Refit the mixture on the window (the last `fit_rate` [task, ALP] rows)."""
        c = self.config
        best = gmm.fit_best(key, state.window, c.ks, c.em_iterations, c.em_tol, c.reg_covar)
        return state.replace(mixture=best.mixture, num_components=best.num_components)

    def stats(self, state: ALPGMMState) -> CurriculumStats:
        fill = jnp.minimum(state.episodes / self.config.history_size, 1.0).astype(jnp.float32)
        return CurriculumStats(fill, state.mean_score)

    def proposal_history(self, state: ALPGMMState) -> np.ndarray:
        """Host side: the tasks (box coordinates) of the last `min(episodes, history_size)`
        episodes of one run, oldest first, `[m, D]`."""
        episodes = int(state.episodes)
        size = self.config.history_size
        unit = np.asarray(state.history_tasks)
        if episodes > size:
            unit = np.roll(unit, -(episodes % size), axis=0)
        unit = unit[: min(episodes, size)]
        return np.asarray(self.denormalise(jnp.asarray(unit)))

    def top_tasks(self, state: ALPGMMState, k: int) -> tuple[list[float], Any]:
        """Host side: the means (box coordinates) of the fitted components, highest mean ALP
        first, and those ALPs."""
        active = np.asarray(state.mixture.active)
        means = np.asarray(state.mixture.means)[active]
        if means.shape[0] == 0:
            return [], None
        order = np.argsort(-means[:, -1])[:k]
        tasks = np.asarray(self.denormalise(jnp.asarray(means[order, :-1])))
        return [float(a) for a in means[order, -1]], tasks


__all__ = [
    "ALPGMM",
    "MIN_HISTORY",
    "ALPGMMConfig",
    "ALPGMMHParams",
    "ALPGMMState",
    "absolute_learning_progress",
]
