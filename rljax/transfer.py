"""Model-based transfer learning (MBTL) and its baselines: which source contexts to train on.

Cho, Jayawardana, Li and Wu 2024, "Model-Based Transfer Learning for Contextual Reinforcement
Learning" (NeurIPS), sec. 4 and Alg. 1; facts of its public code (jhoon-cho/MBTL,
`MBTL/utils.py`). A discrete set of contexts x_1..x_N of a parametric env (e.g. CartPole pole
lengths); training on source s and evaluating zero-shot on target t gives J(s -> t). With a
set S of trained sources, each target is served by its best source, so the *generalised
performance* is mean_t max_{s in S} J(s -> t). Choosing sources one at a time, MBTL models

    J(s -> t) ~ J(s -> s) - slope |x_s - x_t|      (clipped at 0: a linear generalisation gap)
    J(x -> x) ~ GP(0, C * RBF) fitted to the trained sources' J(s -> s) (noise std 0.1)

and picks the next source maximising the expected marginal improvement

    a(x) = mean_t max(mu(x) + beta_k sigma(x) - slope |x - x_t| - best_t, 0),
    beta_k = sqrt(log(k + 1)),   best_t = max over trained sources of the *observed* J(s -> t)

(the trained sources are evaluated on every target, as in the reference). The first source is
the middle context. `slope` is given, or estimated (the reference's variant) from each trained
source's observed row by least squares of J(s -> s) - J(s -> t) on |x_s - x_t|, the candidate
taking the slope of its nearest trained source.

Baselines (each a curve over the number of sources k = 1..K): **random** order (mean over
orders), **equidistant** (for each k, the k contexts nearest to evenly spaced points, the
reference's "coarse to fine"), **greedy** (the next source is the currently worst-served
target), the **oracle** greedy on the true matrix, and as lines **independent** training on
every context (mean_t J(t -> t)) and the **oracle** bound over all sources (mean_t max_s
J(s -> t)).

The functions here are host-side numpy on a transfer matrix `J [N sources, N targets]`
(normalised returns); the GP uses tinygp, its hyperparameters fitted by L-BFGS-B on the
marginal likelihood with restarts, as scikit-learn's `GaussianProcessRegressor` in the
reference. The matrix itself comes from vmapped training and evaluation
(`experiments/mbtl.py`).

Deviation from the reference code: it looks up a candidate by value where it holds an index
(`deltas[np.abs(deltas - sorted_idx[idx]).argmin()]`), which is only right when the contexts
are 0..N-1; here candidates are indices throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import tinygp

AMPLITUDE_BOUNDS = (1e-3, 1e3)
SCALE_BOUNDS = (1e-2, 1e2)
"""The reference's kernel bounds: `C(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-2, 1e2))`."""


def generalised_performance(transfer: np.ndarray, sources: Sequence[int]) -> np.ndarray:
    """`[len(sources)]`: mean_t max over the first k+1 sources of J(s -> t), for each k."""
    best = np.maximum.accumulate(transfer[list(sources)], axis=0)
    return best.mean(axis=1)


class GPFit(NamedTuple):
    mean: np.ndarray
    std: np.ndarray
    amplitude: float
    scale: float


PADDING_NOISE = 1e6
"""Noise variance of padding points: inputs are padded to a fixed length so the marginal
likelihood compiles once; such points carry no information (their effect on the fit is below
float32 precision)."""


def _gp(log_params: jax.Array, x: jax.Array, diag: jax.Array) -> tinygp.GaussianProcess:
    amplitude, scale = jnp.exp(log_params)
    kernel = amplitude * tinygp.kernels.ExpSquared(scale=scale)
    return tinygp.GaussianProcess(kernel, x, diag=diag)


@jax.jit
def _loss(log_params: jax.Array, x: jax.Array, y: jax.Array, diag: jax.Array) -> jax.Array:
    return -_gp(log_params, x, diag).log_probability(y)


_loss_and_grad = jax.jit(jax.value_and_grad(_loss))


@jax.jit
def _posterior(log_params, x, y, diag, query):
    posterior = _gp(log_params, x, diag).condition(y, query).gp
    return posterior.loc, jnp.sqrt(jnp.maximum(posterior.variance, 0.0))


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    query: np.ndarray,
    noise_std: float = 0.1,
    restarts: int = 9,
    seed: int = 0,
) -> GPFit:
    """A zero-mean GP with kernel `C * RBF` on 1-D inputs `x [n]`, targets `y [n]`, fitted by
    maximum marginal likelihood (log-parameters in the reference's bounds, one start at
    (1, 1) and `restarts` log-uniform ones); the posterior mean and std at `query [m]`
    (`n <= m`: the data are padded to `m` points)."""
    n, m = len(x), len(query)
    pad = m - n
    xs = jnp.asarray(np.concatenate([x, np.full(pad, x[0])]), jnp.float32)
    ys = jnp.asarray(np.concatenate([y, np.zeros(pad)]), jnp.float32)
    diag = jnp.asarray(np.concatenate([np.full(n, noise_std**2), np.full(pad, PADDING_NOISE)]))
    bounds = [tuple(np.log(AMPLITUDE_BOUNDS)), tuple(np.log(SCALE_BOUNDS))]
    rng = np.random.default_rng(seed)
    starts = [np.zeros(2)] + [rng.uniform(*zip(*bounds, strict=True)) for _ in range(restarts)]

    def objective(p):
        value, grad = _loss_and_grad(jnp.asarray(p, jnp.float32), xs, ys, diag)
        return float(value), np.asarray(grad, np.float64)

    best = None
    for start in starts:
        result = scipy.optimize.minimize(
            objective, start, jac=True, method="L-BFGS-B", bounds=bounds
        )
        if best is None or result.fun < best.fun:
            best = result
    mean, std = _posterior(
        jnp.asarray(best.x, jnp.float32), xs, ys, diag, jnp.asarray(query, jnp.float32)
    )
    amplitude, scale = np.exp(best.x)
    return GPFit(np.asarray(mean), np.asarray(std), float(amplitude), float(scale))


def estimated_slopes(
    transfer: np.ndarray, contexts: np.ndarray, sources: Sequence[int]
) -> np.ndarray:
    """`[N]`: for each candidate, the generalisation-gap slope of its nearest trained source:
    least squares through the origin of J(s -> s) - J(s -> t) on |x_s - x_t| over t != s,
    floored at 0."""
    slopes = {}
    for s in sources:
        distance = np.abs(contexts - contexts[s])
        gap = transfer[s, s] - transfer[s]
        others = distance > 0
        denom = (distance[others] ** 2).sum()
        slopes[s] = (
            max(float((distance[others] * gap[others]).sum() / denom), 0.0) if denom else 0.0
        )
    chosen = np.asarray(list(sources))
    nearest = chosen[np.abs(contexts[:, None] - contexts[chosen][None]).argmin(axis=1)]
    return np.asarray([slopes[s] for s in nearest])


def acquisition(
    mean: np.ndarray,
    std: np.ndarray,
    beta: float,
    slope: np.ndarray,
    contexts: np.ndarray,
    best: np.ndarray,
) -> np.ndarray:
    """`[N]`: a(x_i) = mean_j max(mean_i + beta std_i - slope_i |x_i - x_j| - best_j, 0)."""
    predicted = (mean + beta * std)[:, None] - slope[:, None] * np.abs(
        contexts[:, None] - contexts[None]
    )
    return np.maximum(predicted - best[None], 0.0).mean(axis=1)


def middle(contexts: np.ndarray) -> int:
    """The context nearest to the middle of the range (every strategy's first source)."""
    return int(np.abs(contexts - (contexts.min() + contexts.max()) / 2).argmin())


def mbtl(
    transfer: np.ndarray,
    contexts: np.ndarray,
    budget: int,
    slope: float | None = None,
    noise_std: float = 0.1,
    restarts: int = 9,
) -> list[int]:
    """MBTL's `budget` sources in order (see the module docstring)."""
    sources = [middle(contexts)]
    for k in range(1, budget):
        diagonal = np.asarray([transfer[s, s] for s in sources])
        gp = fit_gp(contexts[sources], diagonal, contexts, noise_std, restarts, seed=k)
        slopes = (
            estimated_slopes(transfer, contexts, sources)
            if slope is None
            else np.full(len(contexts), slope)
        )
        best = transfer[sources].max(axis=0)
        score = acquisition(gp.mean, gp.std, np.sqrt(np.log(k + 1)), slopes, contexts, best)
        score[sources] = -np.inf
        sources.append(int(np.argmax(score)))
    return sources


def greedy_worst_target(transfer: np.ndarray, contexts: np.ndarray, budget: int) -> list[int]:
    """The reference's greedy heuristic: the next source is the target served worst so far."""
    sources = [middle(contexts)]
    while len(sources) < budget:
        current = transfer[sources].max(axis=0)
        order = [i for i in np.argsort(current, kind="stable") if i not in sources]
        sources.append(int(order[0]))
    return sources


def oracle_greedy(transfer: np.ndarray, budget: int) -> list[int]:
    """With the true matrix: each next source maximises the true generalised performance."""
    sources: list[int] = []
    for _ in range(budget):
        current = transfer[sources].max(axis=0) if sources else np.full(transfer.shape[1], -np.inf)
        gains = np.maximum(transfer, current[None]).mean(axis=1)
        gains[sources] = -np.inf
        sources.append(int(np.argmax(gains)))
    return sources


def equidistant(contexts: np.ndarray, k: int) -> list[int]:
    """The `k` contexts nearest to the centres of `k` equal slices of the range."""
    low, high = contexts.min(), contexts.max()
    points = high - (high - low) / (2 * k) - (high - low) * np.arange(k) / k
    return [int(np.abs(contexts - p).argmin()) for p in points]


class Curves(NamedTuple):
    """Generalised performance against the number of sources `k = 1..budget` per strategy,
    and the two reference lines."""

    curves: dict[str, np.ndarray]
    sources: dict[str, list[int]]
    independent: float
    oracle_bound: float


def compare(
    transfer: np.ndarray,
    contexts: np.ndarray,
    budget: int,
    slope: float | None = None,
    random_orders: int = 100,
    seed: int = 0,
) -> Curves:
    """Every strategy's curve on `transfer [N, N]` over `contexts [N]`."""
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(contexts))[:budget] for _ in range(random_orders)]
    chosen = {
        "MBTL": mbtl(transfer, contexts, budget, slope),
        "greedy": greedy_worst_target(transfer, contexts, budget),
        "oracle greedy": oracle_greedy(transfer, budget),
    }
    curves = {name: generalised_performance(transfer, s) for name, s in chosen.items()}
    curves["random"] = np.mean([generalised_performance(transfer, o) for o in orders], axis=0)
    curves["equidistant"] = np.asarray(
        [
            generalised_performance(transfer, equidistant(contexts, k))[-1]
            for k in range(1, budget + 1)
        ]
    )
    return Curves(
        curves,
        chosen,
        float(np.diag(transfer).mean()),
        float(transfer.max(axis=0).mean()),
    )


__all__ = [
    "Curves",
    "GPFit",
    "acquisition",
    "compare",
    "equidistant",
    "estimated_slopes",
    "fit_gp",
    "generalised_performance",
    "greedy_worst_target",
    "mbtl",
    "middle",
    "oracle_greedy",
]
