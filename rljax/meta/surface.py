"""The drift surface D(r, A): what a learned drift penalises, beside PPO's clip.

Lu et al. 2022 ("Discovered Policy Optimisation", section "Analysis of LPO", Fig. 2) read the
learned objective off heatmaps of the drift over the probability ratio r and the advantage A.
Here over r in [0.5, 1.5] and A in [-2, 2], at one or more values of training progress (only
TA-LPO depends on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rljax.objectives.drift import make_drift

RATIOS = np.linspace(0.5, 1.5, 101, dtype=np.float32)
ADVANTAGES = np.linspace(-2.0, 2.0, 101, dtype=np.float32)


def drift_surface(
    drift: str,
    params: Any,
    progress: float = 0.0,
    ratios: np.ndarray = RATIOS,
    advantages: np.ndarray = ADVANTAGES,
) -> np.ndarray:
    """`D(r, A)` on the grid, `[len(advantages), len(ratios)]` (rows: A, columns: r)."""
    r, a = np.meshgrid(ratios, advantages)
    d = make_drift(drift)(
        params, jnp.asarray(r.ravel()), jnp.asarray(a.ravel()), jnp.float32(progress)
    )
    return np.asarray(jax.device_get(d)).reshape(r.shape)


def plot_drift_surfaces(
    panels: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    ratios: np.ndarray = RATIOS,
    advantages: np.ndarray = ADVANTAGES,
    title: str = "",
) -> Path:
    """Heatmaps of `[(label, surface [A, r])]` side by side, on one colour scale, to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vmax = max(float(np.nanmax(s)) for _, s in panels) or 1.0
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.6 * len(panels), 3.4), dpi=120, squeeze=False
    )
    extent = (ratios[0], ratios[-1], advantages[0], advantages[-1])
    for ax, (label, surface) in zip(axes[0], panels, strict=True):
        image = ax.imshow(
            surface,
            origin="lower",
            extent=extent,
            aspect="auto",
            vmin=0.0,
            vmax=vmax,
            cmap="viridis",
        )
        ax.axvline(1.0, color="white", lw=0.5, alpha=0.6)
        ax.axhline(0.0, color="white", lw=0.5, alpha=0.6)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("ratio r")
    axes[0][0].set_ylabel("advantage A")
    fig.colorbar(image, ax=axes[0].tolist(), label="D(r, A)", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def surface_panels(
    drift: str, params: Any, clip_eps: float, progresses: Sequence[float] = (0.0,)
) -> list[tuple[str, np.ndarray]]:
    """PPO's clip drift at `clip_eps`, then the learned drift at each progress value
    (one value for a drift that ignores progress)."""
    ppo = make_drift("ppo_clip").init_params(clip_eps)
    panels = [(f"PPO clip (eps={clip_eps:g})", drift_surface("ppo_clip", ppo))]
    for p in progresses:
        label = f"{drift}" + (f" at n/N={p:g}" if len(progresses) > 1 else "")
        panels.append((label, drift_surface(drift, params, progress=p)))
    return panels
