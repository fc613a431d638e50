"""Drift functions: the part of a policy objective that keeps the new policy near the old one.

Mirror Learning (Kuba et al. 2022, "Mirror Learning: A Unifying Framework of Policy
Optimisation", Sec. 3) writes a family of policy objectives as

    L(theta) = -E[ r * A - D(r, A) ],     r = pi_theta(a|s) / pi_old(a|s),

with a drift `D >= 0`, `D(1, A) = 0` and `dD/dr = 0` at `r = 1`. PPO's clipped surrogate is
the drift `D = ReLU((r - clip(r, 1 - eps, 1 + eps)) * A)` (Lu et al. 2022, Sec. 4): then
`r * A - D = min(r * A, clip(r) * A)`, exactly PPO's objective.

A drift is a static (hashable) object; its meta-parameters are a traced pytree passed at call
time, so sweeping or meta-learning them never recompiles. `progress` is n / N, the fraction of
training done, for drifts that depend on it (MDPO, TA-LPO).

The built-in drifts live in files named after them: `ppo_clip` here, `dpo` in `dpo.py`,
`mdpo` in `mdpo.py`, `lpo` and `talpo` in `lpo.py`. Each registers itself in `DRIFTS` when the
`rljax.objectives` package is imported (which importing this module always does first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp


class Drift(Protocol):
    def init_params(self, clip_eps: float) -> Any:
        """Default meta-parameters, given the config's clip epsilon."""

    def __call__(
        self, params: Any, ratio: jax.Array, advantage: jax.Array, progress: jax.Array
    ) -> jax.Array:
        """`D(r, A)`, elementwise over `[B]`."""


@dataclass(frozen=True)
class PPOClipDrift:
    """PPO's clip (Schulman et al. 2017, eq. 7) as a drift; the meta-parameter is epsilon."""

    def init_params(self, clip_eps: float) -> jax.Array:
        return jnp.asarray(clip_eps, jnp.float32)

    def __call__(self, clip_eps, ratio, advantage, progress):
        clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
        return jax.nn.relu((ratio - clipped) * advantage)


DRIFTS: dict[str, Drift] = {"ppo_clip": PPOClipDrift()}


def register_drift(name: str, drift: Drift) -> Drift:
    """Add `drift` to `DRIFTS` under `name`, so `PPOConfig(drift=name)` accepts it."""
    if name in DRIFTS and DRIFTS[name] != drift:
        raise ValueError(f"drift={name!r} is already registered as {DRIFTS[name]!r}.")
    DRIFTS[name] = drift
    return drift


def make_drift(name: str) -> Drift:
    if name not in DRIFTS:
        raise ValueError(f"drift={name!r} is unknown; choose one of {sorted(DRIFTS)}.")
    return DRIFTS[name]


def policy_loss(
    drift: Drift, params: Any, ratio: jax.Array, advantage: jax.Array, progress: jax.Array
) -> jax.Array:
    """`-mean(r * A - D(r, A))` over a minibatch `[B]`."""
    return -jnp.mean(ratio * advantage - drift(params, ratio, advantage, progress))
