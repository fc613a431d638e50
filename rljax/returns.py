"""Advantage and return estimators.

Generalised Advantage Estimation (Schulman et al. 2016, "High-Dimensional Continuous Control
Using Generalized Advantage Estimation", eq. 16), with termination and truncation apart:

    delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}

where `s'_t` is the observation the step produced before any auto-reset. On truncation the
episode did not end in the MDP, so we bootstrap from V(s'_t); on termination the value of
what follows is 0. Either way the recursion stops at an episode boundary (`done_t`), because
`A_{t+1}` belongs to the next episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """GAE over a rollout. Every input is `[T, ...]`; returns `(advantages, value_targets)`.

    `next_values[t]` is V(s'_t), the value of the pre-reset next observation.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - (terminated | truncated).astype(jnp.float32)
    deltas = rewards + gamma * not_terminated * next_values - values

    def backward(next_advantage, inputs):
        delta, continues = inputs
        advantage = delta + gamma * gae_lambda * continues * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values
