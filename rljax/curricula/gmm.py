"""Gaussian mixtures with diagonal covariances, fitted by EM inside `jit` and `vmap`.

A teacher such as ALP-GMM (Portelas et al. 2019) refits a mixture every few hundred episodes
inside the compiled training program, for every seed of a vmapped sweep. A full covariance
needs a Cholesky factorisation, a LAPACK call on CPU, which can deadlock XLA:CPU when vmapped
(see `rljax.networks`); a diagonal covariance needs none, so this module fits diagonal
mixtures only (the reference ALP-GMM code fits full covariances: `benchmarks/teachers.py`
measures what the restriction changes).

EM's arithmetic is gmmx's (the E and M steps of `gmmx.EMFitter` on a
`gmmx.GaussianMixtureModelJax` with `covariance_type="diag"`, and its stopping rule).
Initialisation follows scikit-learn's default (`init_params="kmeans"`, one start): k-means++
seeding, a few Lloyd iterations, then the means, per-cluster variances (+ `reg_covar`) and
weights of the hard clusters. `fit_best` fits each k of a static range and keeps the one with
the lowest AIC (Akaike information criterion, as scikit-learn defines it:
`-2 n mean_log_likelihood + 2 p`); so that one compiled EM serves every k, each fit has the
largest k's shape, its extra components padding with weight 0 held there after every M step.

Shapes: data `x [n, D]`; a `Mixture` holds `weights [K]`, `means [K, D]`, `variances [K, D]`.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
from flax import struct
from gmmx import EMFitter, GaussianMixtureModelJax


@struct.dataclass
class Mixture:
    """A diagonal Gaussian mixture; padding components have weight 0."""

    weights: jax.Array
    """`[K]` float32, summing to 1 over the real components."""
    means: jax.Array
    """`[K, D]` float32."""
    variances: jax.Array
    """`[K, D]` float32, positive (padding: 1 in `empty`, `reg_covar` after a fit)."""

    @property
    def active(self) -> jax.Array:
        """`[K]` bool: the real (non-padding) components."""
        return self.weights > 0


def empty(num_components: int, dim: int) -> Mixture:
    """A mixture with no real component (weights all 0): the state before a first fit."""
    return Mixture(
        jnp.zeros(num_components, jnp.float32),
        jnp.zeros((num_components, dim), jnp.float32),
        jnp.ones((num_components, dim), jnp.float32),
    )


def log_likelihood(mixture: Mixture, x: jax.Array) -> jax.Array:
    """`[n]` log density of each row of `x [n, D]` (padding components contribute 0)."""
    var = mixture.variances
    sq = ((x[:, None, :] - mixture.means[None]) ** 2 / var[None]).sum(-1)
    log_norm = -0.5 * (x.shape[-1] * jnp.log(2 * jnp.pi) + jnp.log(var).sum(-1))
    log_w = jnp.where(mixture.active, jnp.log(jnp.maximum(mixture.weights, 1e-30)), -jnp.inf)
    return jax.scipy.special.logsumexp(log_w[None] + log_norm[None] - 0.5 * sq, axis=-1)


def num_parameters(num_components: int, dim: int) -> int:
    """Free parameters of a diagonal mixture: means and variances `2 k D`, weights `k - 1`."""
    return 2 * num_components * dim + num_components - 1


def aic(mixture: Mixture, x: jax.Array, num_components: int | jax.Array) -> jax.Array:
    """Akaike information criterion of `mixture` (with `num_components` real components) on
    `x [n, D]`, as scikit-learn's `GaussianMixture.aic`."""
    p = num_parameters(num_components, x.shape[-1])
    return -2.0 * log_likelihood(mixture, x).sum() + 2.0 * p


def kmeans_init(
    key: jax.Array,
    x: jax.Array,
    k: int | jax.Array,
    reg_covar: float,
    iterations: int = 10,
    num_components: int | None = None,
) -> Mixture:
    """A `k`-component starting mixture from k-means (k-means++ seeding, `iterations` Lloyd
    steps; an empty cluster keeps its centre), as scikit-learn's `init_params="kmeans"`.

    `k` may be traced when `num_components` (static, >= k) is given: the mixture then has
    `num_components` components, the last `num_components - k` of them padding (weight 0)."""
    size = k if num_components is None else num_components
    n = x.shape[0]
    real = jnp.arange(size) < k
    first_key, seed_key = jax.random.split(key)
    centres = (
        jnp.zeros((size, x.shape[1]), x.dtype).at[0].set(x[jax.random.randint(first_key, (), 0, n)])
    )

    def seed(i, centres):
        d2 = ((x[:, None] - centres[None]) ** 2).sum(-1)
        d2 = jnp.where(jnp.arange(size)[None] < i, d2, jnp.inf).min(-1)
        p = d2 / jnp.maximum(d2.sum(), 1e-30)
        p = jnp.where(d2.sum() > 0, p, jnp.full(n, 1.0 / n))
        j = jax.random.choice(jax.random.fold_in(seed_key, i), n, p=p)
        return centres.at[i].set(x[j])

    centres = jax.lax.fori_loop(1, k, seed, centres)

    def assign(centres):
        d2 = jnp.where(real[None], ((x[:, None] - centres[None]) ** 2).sum(-1), jnp.inf)
        return jax.nn.one_hot(d2.argmin(-1), size)

    def lloyd(_, centres):
        resp = assign(centres)
        count = resp.sum(0)
        means = (resp.T @ x) / jnp.maximum(count, 1)[:, None]
        return jnp.where(count[:, None] > 0, means, centres)

    centres = jax.lax.fori_loop(0, iterations, lloyd, centres)
    resp = assign(centres)
    count = resp.sum(0) + 10 * jnp.finfo(jnp.float32).eps
    means = (resp.T @ x) / count[:, None]
    variances = (resp.T @ x**2) / count[:, None] - means**2 + reg_covar
    weights = jnp.where(real, count, 0.0)
    return Mixture(weights / weights.sum(), means, jnp.maximum(variances, reg_covar))


def _model(mixture: Mixture) -> GaussianMixtureModelJax:
    return GaussianMixtureModelJax.from_squeezed(
        mixture.means, mixture.variances, mixture.weights, covariance_type="diag"
    )


def _mixture(model: GaussianMixtureModelJax, num_components: int, dim: int) -> Mixture:
    return Mixture(
        model.weights.reshape(num_components),
        model.means.reshape(num_components, dim),
        model.covariances.values.reshape(num_components, dim),
    )


def fit(
    key: jax.Array,
    x: jax.Array,
    k: int | jax.Array,
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    num_components: int | None = None,
) -> Mixture:
    """EM fit of a `k`-component diagonal mixture to `x [n, D]` from `kmeans_init`: gmmx's
    E and M steps (`gmmx.EMFitter.e_step`, `m_step`) and its stopping rule (the mean
    log-likelihood changes by less than `tol`, or `max_iter` steps).

    With `num_components` (static, >= k) the mixture has that many components and `k` may be
    traced: the padding components keep weight 0 after every M step (gmmx's M step would give
    them `10 eps` of the total, as scikit-learn's does), and the real ones are renormalised
    over themselves, which is the M step of the `k`-component mixture. So one compiled EM
    serves every k (`fit_best`)."""
    size = k if num_components is None else num_components
    dim = x.shape[1]
    real = (jnp.arange(size) < k).reshape(1, size, 1, 1)
    fitter = EMFitter(max_iter=max_iter, tol=tol, reg_covar=reg_covar)

    def step(carry):
        model, n_iter, previous, _ = carry
        log_likelihood, log_resp = fitter.e_step(x, model)
        model = fitter.m_step(x, model, log_resp)
        weights = jnp.where(real, model.weights, 0.0)
        model = replace(model, weights=weights / weights.sum())
        return model, n_iter + 1, log_likelihood, jnp.abs(log_likelihood - previous)

    def running(carry):
        _, n_iter, _, change = carry
        return (n_iter < max_iter) & (change >= tol)

    start = _model(kmeans_init(key, x, k, reg_covar, num_components=size))
    inf = jnp.asarray(jnp.inf, jnp.float32)
    model = jax.lax.while_loop(running, step, (start, 0, inf, inf))[0]
    return _mixture(model, size, dim)


class BestFit(struct.PyTreeNode):
    """`fit_best`'s result: the lowest-AIC mixture padded to the largest k, its k, and the AIC
    of every k tried."""

    mixture: Mixture
    num_components: jax.Array
    """int32 scalar."""
    aics: jax.Array
    """`[len(ks)]` float32, in the order of `ks`."""


def fit_best(
    key: jax.Array,
    x: jax.Array,
    ks: tuple[int, ...],
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
) -> BestFit:
    """Fit a mixture for every k in `ks` (static) on `x [n, D]` and keep the lowest AIC, as
    ALP-GMM's reference does over k = 2..10 (one EM start each).

    The fits run as one EM mapped (`lax.map`) over the ks, each padded to the largest k
    (`fit`): one compiled EM instead of one per k (k = 2..10: ~2.3 s of XLA compile against
    13-15 s; the arithmetic over the padding makes a refit 1.3-1.5x slower;
    benchmarks/RESULTS.md, "ALP-GMM's mixtures fitted as one EM")."""
    largest = max(ks)
    k = jnp.asarray(ks, jnp.int32)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(ks)))
    fits = jax.lax.map(
        lambda args: fit(args[0], x, args[1], max_iter, tol, reg_covar, largest), (keys, k)
    )
    aics = jax.vmap(lambda m, kc: aic(m, x, kc))(fits, k)
    best = jnp.argmin(aics)
    mixture = jax.tree.map(lambda leaf: leaf[best], fits)
    return BestFit(mixture, k[best], aics)


def sample_component(key: jax.Array, mixture: Mixture, component: jax.Array) -> jax.Array:
    """`[D]` a draw from the Gaussian `component` of `mixture`."""
    noise = jax.random.normal(key, mixture.means.shape[1:], jnp.float32)
    return mixture.means[component] + jnp.sqrt(mixture.variances[component]) * noise


__all__ = [
    "BestFit",
    "Mixture",
    "aic",
    "empty",
    "fit",
    "fit_best",
    "kmeans_init",
    "log_likelihood",
    "num_parameters",
    "sample_component",
]
