"""DPO: the closed-form drift that Lu et al. distilled from the learned LPO drift.

Lu, Kuba, Letcher, Metz, Schroeder de Witt & Foerster, "Discovered Policy Optimisation"
(NeurIPS 2022), section "Discovered Policy Optimisation" (the analysis of LPO), with the
published alpha = 2, beta = 0.6:

    A >= 0:  D = ReLU((r - 1) * A  -  alpha * tanh((r - 1) * A / alpha))
    A <  0:  D = ReLU(log(r) * A  -  beta * tanh(log(r) * A / beta))

Both branches are `g(u) = ReLU(u - c * tanh(u / c))`. u > 0 when the policy has moved the way
the advantage asks (r > 1 for A > 0, r < 1 for A < 0); there g grows like `u - c`, a soft trust
region that PPO's clip makes hard. For u <= 0, g = 0: as with PPO's clip, a move against the
advantage is already undone by the `r * A` term. Near u = 0, `g(u) ~ u^3 / (3 c^2)`, so
D(1, A) = 0 and dD/dr = 0 at r = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from rljax.objectives.drift import register_drift


@struct.dataclass
class DPOParams:
    """DPO's meta-parameters: traced scalars (or `[runs]` under vmap)."""

    alpha: jax.Array
    """Scale of the tanh for positive advantages (2.0 in the paper)."""
    beta: jax.Array
    """Scale of the tanh for negative advantages (0.6 in the paper)."""


@dataclass(frozen=True)
class DPODrift:
    """DPO's drift (Lu et al. 2022, section "Discovered Policy Optimisation")."""

    alpha: float = 2.0
    beta: float = 0.6

    def init_params(self, clip_eps: float) -> DPOParams:
        del clip_eps  # DPO has no clip; its trust region comes from alpha and beta.
        f32 = lambda x: jnp.asarray(x, jnp.float32)
        return DPOParams(alpha=f32(self.alpha), beta=f32(self.beta))

    def __call__(
        self, params: DPOParams, ratio: jax.Array, advantage: jax.Array, progress: jax.Array
    ) -> jax.Array:
        """`D` `[B]` from `ratio` `[B]` (> 0) and `advantage` `[B]`; `progress` is unused."""
        del progress
        positive = (ratio - 1.0) * advantage
        negative = jnp.log(ratio) * advantage
        # Both branches are finite for every r > 0, so `where` passes no NaN into the gradient.
        return jnp.where(
            advantage >= 0.0,
            jax.nn.relu(positive - params.alpha * jnp.tanh(positive / params.alpha)),
            jax.nn.relu(negative - params.beta * jnp.tanh(negative / params.beta)),
        )


register_drift("dpo", DPODrift())
