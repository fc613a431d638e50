"""Off-policy Mirror Descent Policy Optimization (Tomar et al. 2020, "Mirror Descent Policy
Optimization", arXiv:2005.09814, Sec. 5.2 "Off-policy MDPO"), built on SAC's
off-policy core (`rljax.agents.sac`: the replay buffer, the twin soft critics and their
targets, the squashed-Gaussian or categorical actor); only the policy step differs.

Mirror descent on the policy: iteration k keeps the policy pi_k it started from (`old_actor`)
and takes `kl_every` (m) gradient steps on

    L(theta) = E_{s ~ D} E_{a ~ pi_theta} [ (1/t_k) (log pi_theta(a|s) - log pi_k(a|s))
                                             + lambda log pi_k(a|s) - min_i Q_i(s, a) ],

a KL(pi_theta || pi_k) trust region of step size t_k, the entropy bonus lambda (a fixed
coefficient, `entropy_coef`: no temperature tuning) and the soft critics' value; then
pi_{k+1} = pi_theta. With a = tanh(u), u reparameterised, both log-densities share the tanh
correction, so the KL term is the Gaussians' log-ratio at u; for discrete actions every
expectation over actions is an exact sum. The step size follows the paper's schedule
t_k = 1 - (k - 1) / K over the run's K = G / m iterations (G gradient steps; the KL weight
1/t_k grows from 1 to K), or, with `kl_schedule="constant"`, the KL weight is `kl_coef`
throughout, as in the public code (mdpo_off/mdpo.py, whose annealing line is commented out
and whose example runs use 1.0). The critics learn as SAC's with alpha = lambda: targets
r + gamma (1 - terminated) (min_i Q_target_i(s', a') - lambda log pi(a'|s')).

Deviations from the public code, each a piece of SAC kept as it is: SAC-v2 critics (twin Q
and Polyak targets) without the separate state-value network V, min_i Q in the policy loss
(the public code uses Q_1), no 1e-3 penalty on the Gaussian's mean and log-std, and the
policy's Adam step `learning_rate` (the public code fixes 3e-4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax.agents.common import ReplayTransition
from rljax.agents.sac import SAC, SACConfig, SACHParams, SACOptState, SACParams, SACState

KL_SCHEDULES = ("paper", "constant")


@dataclass(frozen=True)
class OffMDPOConfig(SACConfig):
    """SAC's config with the mirror-descent policy step. SAC's temperature fields
    (`initial_alpha`, `target_entropy`, `entropy_fraction`) are not used: lambda is fixed."""

    entropy_coef: float = 0.2
    """lambda, the fixed entropy coefficient (the public code's example: 0.2)."""
    kl_every: int = 1000
    """m: gradient steps per mirror-descent iteration, after which pi_k <- pi_theta (the
    public code's example: 1000, one gradient step per env step)."""
    kl_schedule: Annotated[str, cfg.choices(KL_SCHEDULES)] = "paper"
    """paper: KL weight 1/t_k, t_k = 1 - (k - 1)/K; constant: KL weight `kl_coef`."""
    kl_coef: float = 1.0
    """The KL weight of the constant schedule (traced)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg.check_positive(self, "entropy_coef", "kl_every", "kl_coef")
        cfg.check_choice(self, "kl_schedule", KL_SCHEDULES)
        default = SACConfig()
        for name in ("initial_alpha", "target_entropy", "entropy_fraction"):
            if getattr(self, name) != getattr(default, name):
                cfg.fail(
                    self,
                    name,
                    "tunes SAC's temperature, which off-policy MDPO does not have",
                    "set the fixed entropy coefficient with --entropy-coef instead",
                )

    def replace(self, **changes: Any) -> OffMDPOConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> OffMDPOHParams:
        base = super().hparams()
        return OffMDPOHParams(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(SACHParams)},
            entropy_coef=jnp.float32(self.entropy_coef),
            kl_coef=jnp.float32(self.kl_coef),
        )


@struct.dataclass
class OffMDPOHParams(SACHParams):
    entropy_coef: jax.Array
    kl_coef: jax.Array


@struct.dataclass
class OffMDPOParams(SACParams):
    old_actor: Any
    """pi_k, the policy the current iteration started from."""
    gradient_steps: jax.Array
    """Gradient steps taken so far (int32): iteration k = gradient_steps // m + 1."""


class OffMDPO(SAC):
    """Off-policy MDPO as pure functions over `SACState` with `OffMDPOParams`."""

    def __init__(self, config: OffMDPOConfig):
        super().__init__(config)
        # G: the gradient steps of the run (updates after the warm-up x steps per update).
        warmup = -(-config.learning_starts // self.steps_per_update) - 1
        learning_updates = max(1, self.num_updates - max(warmup, 0))
        self.total_gradient_steps = learning_updates * config.num_gradient_steps

    def init(self, key: jax.Array, hparams: OffMDPOHParams) -> SACState:
        state = super().init(key, hparams)
        params = state.params
        fields = {f.name: getattr(params, f.name) for f in dataclasses.fields(SACParams)}
        return state.replace(
            params=OffMDPOParams(
                **{**fields, "log_alpha": jnp.log(hparams.entropy_coef)},
                old_actor=params.actor,
                gradient_steps=jnp.zeros((), jnp.int32),
            )
        )

    def kl_weight(self, gradient_steps: jax.Array, hp: OffMDPOHParams) -> jax.Array:
        """1/t_k with t_k = 1 - (k - 1)/K (paper), or `kl_coef` (constant)."""
        if self.config.kl_schedule == "constant":
            return hp.kl_coef
        m = self.config.kl_every
        iterations = max(1.0, self.total_gradient_steps / m)  # K
        done = jnp.minimum((gradient_steps // m).astype(jnp.float32), iterations - 1)  # k - 1
        return 1.0 / (1.0 - done / iterations)

    def _gradient_step(self, carry, batch, key, hp):
        params, opt_state = carry
        # A new iteration starts every m gradient steps: pi_k <- pi_theta.
        start = params.gradient_steps % self.config.kl_every == 0
        old = jax.tree.map(
            lambda new, old: jnp.where(start, new, old), params.actor, params.old_actor
        )
        carry = (params.replace(old_actor=old), opt_state)
        (params, opt_state), aux = super()._gradient_step(carry, batch, key, hp)
        return (params.replace(gradient_steps=params.gradient_steps + 1), opt_state), aux

    def _actor_loss(
        self,
        actor_params: Any,
        params: OffMDPOParams,
        critic: Any,
        batch: ReplayTransition,
        key: jax.Array,
        hp: OffMDPOHParams,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """L(theta) of the module docstring; returns `(loss, (loss, entropy [B]))`."""
        kl_weight = self.kl_weight(params.gradient_steps, hp)
        pi = self.actor.apply(actor_params, batch.obs)
        pi_old = self.actor.apply(params.old_actor, batch.obs)
        if self.action.discrete:
            log_p = jax.nn.log_softmax(pi.logits)
            log_old = jax.nn.log_softmax(pi_old.logits)
            q = self.critic.apply(critic, batch.obs).min(axis=0)  # [B, A]
            per_action = objective(log_p, log_old, q, kl_weight, hp.entropy_coef)
            loss = jnp.mean((jnp.exp(log_p) * per_action).sum(-1))  # exact E_{a ~ pi}
            entropy = -(jnp.exp(log_p) * log_p).sum(-1)
            return loss, (loss, entropy)
        u = pi.distribution.sample(seed=key)  # reparameterised, [B, A]
        log_det = tanh_log_det(u)
        log_p = pi.distribution.log_prob(u) - log_det
        log_old = pi_old.distribution.log_prob(u) - log_det
        q = self.critic.apply(critic, batch.obs, jnp.tanh(u)).min(axis=0)
        loss = jnp.mean(objective(log_p, log_old, q, kl_weight, hp.entropy_coef))
        return loss, (loss, -log_p)

    def _temperature_step(
        self, params: SACParams, opt_state: SACOptState, entropy: jax.Array, hp: SACHParams
    ) -> tuple[jax.Array, optax.OptState]:
        """lambda is fixed: log alpha stays log(entropy_coef)."""
        return params.log_alpha, opt_state.log_alpha


def objective(
    log_p: jax.Array,
    log_old: jax.Array,
    q: jax.Array,
    kl_weight: jax.Array,
    entropy_coef: jax.Array,
) -> jax.Array:
    """The policy loss at sampled (or, for discrete actions, every) actions a:
    `kl_weight (log pi_theta(a|s) - log pi_k(a|s)) + entropy_coef log pi_k(a|s) - Q(s, a)`;
    its expectation under pi_theta is L(theta) of the module docstring."""
    return kl_weight * (log_p - log_old) + entropy_coef * log_old - q


def tanh_log_det(u: jax.Array) -> jax.Array:
    """sum_j log(1 - tanh(u_j)^2) = sum_j 2 (log 2 - u_j - softplus(-2 u_j)), stable for
    large |u|; `[..., A] -> [...]`."""
    return (2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))).sum(-1)


__all__ = [
    "OffMDPO",
    "OffMDPOConfig",
    "OffMDPOHParams",
    "OffMDPOParams",
    "objective",
    "tanh_log_det",
]
