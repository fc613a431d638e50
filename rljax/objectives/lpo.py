"""LPO and TA-LPO: a learned drift, an MLP over functions of (r, A), that starts as PPO.

LPO: Lu, Kuba, Letcher, Metz, Schroeder de Witt & Foerster, "Discovered Policy Optimisation"
(NeurIPS 2022), section "Learnt Policy Optimisation". The drift network D_phi takes

    x = [r - 1, (r - 1)^2, log r, (log r)^2,  A (r - 1), A (r - 1)^2, A log r, A (log r)^2]

(8 inputs) through 8 -> 128 tanh -> 1 with no biases. Its weights are meta-trained (by
OpenAI-ES in the paper) from zero, so meta-training starts at PPO. Following the public form
that keeps PPO's drift inside the learned one, here

    D = ReLU(net(x) + ReLU(PPO clip drift) + offset).

The outer ReLU keeps D >= 0 for any weights. With no biases, x = 0 at r = 1 gives net = 0 there,
so D(1, A) = offset (0 by default). dD/dr = 0 at r = 1 is not guaranteed for learned weights
(the net's slope there is generally nonzero; the outer ReLU hides it on one side only), so the
Mirror Learning conditions hold exactly only where meta-training keeps them. At zero weights
and offset 0, `net(x)` is exactly 0 and D is PPO's clip drift bitwise, gradients included, so a
run with these parameters is a PPO run.

TA-LPO: Jackson, Lu, Kirsch, Lange, Whiteson & Foerster, "Discovering Temporally-Aware
Reinforcement Learning Algorithms" (ICLR 2024), section on temporally-aware LPO: the same drift
with inputs `[x, (n / N) x]` (16 inputs), where `n / N` is training progress, so the learned
objective can change over training (e.g. a schedule on the trust region).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from rljax.objectives.drift import PPOClipDrift, register_drift


@struct.dataclass
class LPOParams:
    """LPO's meta-parameters, all traced: ES or a sweep changes them without recompiling.

    Shapes are for one run; under `vmap` over runs each leaf gains a leading `[runs]` axis.
    """

    w_hidden: jax.Array
    """`[num_inputs, hidden_size]`: 8 inputs for LPO, 16 for TA-LPO."""
    w_out: jax.Array
    """`[hidden_size]`: the output layer to one scalar."""
    clip_eps: jax.Array
    """`[]`: epsilon of the PPO clip drift kept inside the learned drift."""
    offset: jax.Array
    """`[]`: added before the outer ReLU (0: D(1, A) = 0 and zero weights give exactly PPO)."""


def lpo_features(ratio: jax.Array, advantage: jax.Array) -> jax.Array:
    """LPO's 8 inputs `[B, 8]` from `ratio` `[B]` (> 0) and `advantage` `[B]`."""
    log_ratio = jnp.log(ratio)
    x = jnp.stack([ratio - 1.0, jnp.square(ratio - 1.0), log_ratio, jnp.square(log_ratio)], -1)
    return jnp.concatenate([x, x * advantage[..., None]], axis=-1)


@dataclass(frozen=True)
class LPODrift:
    """LPO's drift (Lu et al. 2022); with `temporally_aware`, TA-LPO's (Jackson et al. 2024).

    Static fields fix the network's shape; the weights are `LPOParams`, passed at call time.
    """

    hidden_size: int = 128
    temporally_aware: bool = False

    @property
    def num_inputs(self) -> int:
        return 16 if self.temporally_aware else 8

    def init_params(self, clip_eps: float) -> LPOParams:
        """Zero weights and offset: the drift is PPO's clip drift with this `clip_eps`."""
        return LPOParams(
            w_hidden=jnp.zeros((self.num_inputs, self.hidden_size), jnp.float32),
            w_out=jnp.zeros((self.hidden_size,), jnp.float32),
            clip_eps=jnp.asarray(clip_eps, jnp.float32),
            offset=jnp.zeros((), jnp.float32),
        )

    def features(self, ratio: jax.Array, advantage: jax.Array, progress: jax.Array) -> jax.Array:
        """The network's inputs `[B, num_inputs]`."""
        x = lpo_features(ratio, advantage)
        if self.temporally_aware:
            x = jnp.concatenate([x, progress * x], axis=-1)
        return x

    def __call__(
        self, params: LPOParams, ratio: jax.Array, advantage: jax.Array, progress: jax.Array
    ) -> jax.Array:
        """`D` `[B]` from `ratio` `[B]` (> 0), `advantage` `[B]` and scalar `progress`."""
        hidden = jnp.tanh(self.features(ratio, advantage, progress) @ params.w_hidden)
        learned = hidden @ params.w_out
        ppo = PPOClipDrift()(params.clip_eps, ratio, advantage, progress)
        # PPO's drift is already >= 0; the inner ReLU is the published form's and changes
        # nothing here. At zero weights `learned` is +-0, so the sum is `ppo` bitwise.
        return jax.nn.relu(learned + jax.nn.relu(ppo) + params.offset)


@dataclass(frozen=True)
class TALPODrift(LPODrift):
    """TA-LPO's drift (Jackson et al. 2024): LPO with inputs `[x, progress * x]`."""

    temporally_aware: bool = True


register_drift("lpo", LPODrift())
register_drift("talpo", TALPODrift())
