"""Learning-curve plots: mean over runs with a 95% bootstrap confidence band.

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


def bootstrap_band(
    values: np.ndarray, num_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs of `[runs, points]` and its bootstrap confidence band `(mean, low, high)`."""
    rng = np.random.default_rng(seed)
    runs = values.shape[0]
    idx = rng.integers(0, runs, size=(num_resamples, runs))
    with np.errstate(invalid="ignore"), _quiet_nanmean():
        means = np.nanmean(values[idx], axis=1)
        mean = np.nanmean(values, axis=0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(means, [alpha, 1.0 - alpha], axis=0)
    return mean, low, high


def plot_learning_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str = "",
    ylabel: str = "episode return",
) -> Path:
    """Plot `{label: (env_steps [updates], returns [runs, updates])}` to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, (steps, returns) in curves.items():
        filled = forward_fill(returns)
        mean, low, high = bootstrap_band(filled)
        runs = returns.shape[0]
        ax.plot(steps, mean, label=f"{label} (n={runs})")
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
