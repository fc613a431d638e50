"""On-policy MDPO as a drift: the sampled KL(pi || pi_old), scaled by the annealed 1 / t_k.

Tomar, Shani, Efroni & Ghavamzadeh, "Mirror Descent Policy Optimization" (ICLR 2022), section
"On-Policy MDPO": each iteration k of K approximately solves, with several SGD steps,

    max_theta  E_{s, a ~ pi_old}[ r * A ]  -  (1 / t_k) * E_s[ KL(pi_theta(.|s) || pi_old(.|s)) ],

with the step size annealed as t_k = 1 - (k - 1) / K. No clipping. Written with samples from
pi_old, `E_{a ~ pi_old}[r log r] = KL(pi || pi_old)`, and `r log r - r + 1` is the
non-negative per-sample form of it (the `- r + 1` term has zero mean under pi_old), so

    D(r, A) = kl_coef * (r * log r - r + 1) / t_k,     t_k = 1 - progress.

It satisfies the drift conditions: `f(r) = r log r - r + 1 >= 0` (convex, minimum 0 at r = 1),
`f(1) = 0` and `f'(r) = log r` vanishes at r = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from rljax.objectives.drift import register_drift


@dataclass(frozen=True)
class MDPODrift:
    """On-policy MDPO's drift (Tomar et al. 2022, "On-Policy MDPO").

    Meta-parameter: `kl_coef`, a traced scalar multiplying the KL term (1.0, the paper's
    form; a sweep may change it without recompiling). `clip_eps` is unused: MDPO does not clip.
    `progress = (k - 1) / K` is at most `(K - 1) / K < 1` in `PPO.learn`, so `t_k >= 1 / K > 0`
    and the division is exact, with no guard.
    """

    def init_params(self, clip_eps: float) -> jax.Array:
        del clip_eps
        return jnp.asarray(1.0, jnp.float32)

    def __call__(
        self, kl_coef: jax.Array, ratio: jax.Array, advantage: jax.Array, progress: jax.Array
    ) -> jax.Array:
        """`D` `[B]` from `ratio` `[B]` (> 0); `advantage` is unused; `progress` a scalar."""
        del advantage
        step_size = 1.0 - progress  # t_k
        # `r - 1` is exact for r near 1 (Sterbenz), but `r log r` rounds, so the difference can
        # come out one rounding error below 0 within ~1e-7 of r = 1; clamp it to keep D >= 0.
        kl = jax.nn.relu(ratio * jnp.log(ratio) - (ratio - 1.0))
        return kl_coef * kl / step_size


register_drift("mdpo", MDPODrift())
