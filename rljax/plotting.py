"""Learning-curve plots: mean or IQM over runs with a 95% bootstrap confidence band.

Per-update episode returns are NaN where no episode ended during the update; curves are
forward-filled per run before averaging, so a run contributes its latest known return.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Replace each NaN in `[runs, updates]` by the last finite value before it in its row."""
    out = np.array(values, dtype=np.float64)
    for row in out:
        finite = np.isfinite(row)
        if not finite.any():
            continue
        idx = np.where(finite, np.arange(row.size), 0)
        np.maximum.accumulate(idx, out=idx)
        filled = row[idx]
        filled[: np.argmax(finite)] = np.nan
        row[:] = filled
    return out


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along `axis`: the mean of the middle 50% (Agarwal et al. 2021).

    Runs are sorted per point and the lowest and highest quarters dropped, with fractional
    weights at the boundaries, so it is defined for any number of runs. NaNs are ignored.
    """
    values = np.moveaxis(np.asarray(values, dtype=np.float64), axis, 0)
    ordered = np.sort(values, axis=0)  # NaNs sort last
    count = np.isfinite(values).sum(axis=0)
    ranks = np.arange(values.shape[0]).reshape((-1,) + (1,) * (values.ndim - 1))
    low, high = 0.25 * count, 0.75 * count
    weights = np.clip(np.minimum(ranks + 1, high) - np.maximum(ranks, low), 0.0, None)
    weights = np.where(ranks < count, weights, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(np.where(weights > 0, ordered, 0.0) * weights, axis=0) / weights.sum(0)


def bootstrap_band(
    values: np.ndarray,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    statistic: str = "mean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`statistic` ("mean" or "iqm") over runs of `[runs, points]`, with its bootstrap band."""
    reduce = iqm if statistic == "iqm" else _nanmean
    rng = np.random.default_rng(seed)
    runs = values.shape[0]
    idx = rng.integers(0, runs, size=(num_resamples, runs))
    alpha = (1.0 - confidence) / 2.0
    # Points before any run finished an episode are NaN in every resample: expected, silent.
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        means = np.stack([reduce(values[i], axis=0) for i in idx])
        mean = reduce(values, axis=0)
        low, high = np.nanquantile(means, [alpha, 1.0 - alpha], axis=0)
    return mean, low, high


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.nanmean(values, axis=axis)


def plot_learning_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "",
    ylabel: str = "episode return",
    statistic: str = "mean",
) -> Path:
    """Plot `{label: (env_steps [updates], returns [runs, updates])}` to `path` (PNG).

    Each curve is `statistic` ("mean" or "iqm") over runs with a 95% bootstrap band.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (steps, returns) in curves.items():
        filled = forward_fill(returns)
        mean, low, high = bootstrap_band(filled, statistic=statistic)
        runs = returns.shape[0]
        ax.plot(steps, mean, label=f"{label} ({statistic}, n={runs})")
        ax.fill_between(steps, low, high, alpha=0.25)
    ax.set_xlabel("environment steps per run")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


class _quiet_nanmean:
    """Silence numpy's 'mean of empty slice' for columns where every run is still NaN."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
