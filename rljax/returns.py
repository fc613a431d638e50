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
from flax import struct

from rljax.wrappers import RunningMeanStd


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


def q_lambda_returns(
    rewards: jax.Array,
    next_q_max: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    q_lambda: jax.Array | float,
) -> jax.Array:
    """Q(lambda) targets over a rollout, as PQN uses them (Gallici et al. 2024, "Simplifying
    Deep Temporal Difference Learning", Sec. 4.2 and Alg. 1; Peng & Williams 1996 without
    importance ratios). Every input is `[T, ...]` (typically `[T, N]`); returns `[T, ...]`.

        R_t = r_t + gamma * (1 - terminated_t) * ((1 - lambda) * q_t + lambda * R_{t+1})

    where `q_t = max_a Q(s'_t, a)` and `s'_t` is the pre-reset next observation. At an episode
    boundary (`terminated_t | truncated_t`) and at the last step of the rollout the recursion
    does not continue: `R_{t+1}` is replaced by `q_t`, so a truncated step bootstraps
    one-step from max_a Q(s'_t) and a terminated step bootstraps from 0. `R_{t+1}` after a
    boundary belongs to the next episode and must never leak into this one.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    done = terminated | truncated

    def backward(next_return, inputs):
        reward, q_next, cont, boundary = inputs
        # Cut the recursion at the boundary: use the one-step bootstrap instead of R_{t+1}.
        continuation = jnp.where(boundary, q_next, next_return)
        mixed = (1.0 - q_lambda) * q_next + q_lambda * continuation
        ret = reward + gamma * cont * mixed
        return ret, ret

    # Seeding the carry with q_{T-1} makes the last step the one-step target r + gamma * q.
    _, returns = jax.lax.scan(
        backward,
        next_q_max[-1],
        (rewards, next_q_max, not_terminated, done),
        reverse=True,
    )
    return returns


def n_step_returns(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    n: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """n-step returns over a rollout, cut at episode boundaries (Sutton & Barto 2018, Sec. 7.1;
    as DQN uses them in Hessel et al. 2018, "Rainbow", Sec. 2). Every input is `[T, ...]`
    (typically `[T, N]`); `n` is a static int >= 1.

    For step t the window runs over the m = min(n, steps to the end of the episode, T - t)
    steps t, ..., t + m - 1, and the target is

        G_t + bootstrap_discount_t * V(s'_{last_t}),   G_t = sum_{k<m} gamma^k r_{t+k},
        bootstrap_discount_t = gamma^m * (1 - terminated_{last_t}),   last_t = t + m - 1,

    with `s'_{last_t}` the pre-reset next observation of step `last_t`. The window stops at the
    first step that terminates or truncates: after termination nothing is bootstrapped, after
    truncation the value of the truncated step's final observation is, and no reward of the
    next episode ever enters. At the end of the rollout the window is shorter; callers who
    want full n-step windows use the first T - n + 1 steps (see `rljax.agents.dqn`).

    Returns `(G [T, ...], bootstrap_discount [T, ...], last [T, ...] int32)`; `last` indexes
    the time axis, e.g. `jnp.take_along_axis(next_obs, last[..., None], axis=0)` for `[T, N]`.
    """
    num_steps = rewards.shape[0]
    done = terminated | truncated
    t = jnp.arange(num_steps).reshape((num_steps,) + (1,) * (rewards.ndim - 1))
    ret = jnp.zeros_like(rewards)
    scale = jnp.ones_like(rewards)  # gamma^k for the next step still inside the window
    last = jnp.broadcast_to(t, rewards.shape).astype(jnp.int32)
    open_ = jnp.ones(rewards.shape, bool)  # the window has not hit a boundary yet
    for k in range(n):  # n is small and static: n shifted copies, no scan needed
        shifted = lambda x: jnp.concatenate([x[k:], jnp.zeros_like(x[:k])], axis=0)  # noqa: B023
        inside = open_ & (t + k < num_steps)
        ret = ret + jnp.where(inside, scale * shifted(rewards), 0.0)
        last = jnp.where(inside, t + k, last)
        scale = jnp.where(inside, scale * gamma, scale)
        open_ = inside & ~shifted(done)
    terminated_last = jnp.take_along_axis(terminated, last, axis=0)
    return ret, scale * (1.0 - terminated_last.astype(jnp.float32)), last


@struct.dataclass
class RewardNormalizer:
    """A running estimate of the discounted return's variance, and each env's discounted
    return so far `[num_envs]`: what reward normalisation divides by (Engstrom et al. 2020,
    "Implementation Matters in Deep Policy Gradients", sec. 3, "reward scaling"; PureJaxRL's
    `NormalizeVecReward`, which the brax preset follows)."""

    stats: RunningMeanStd
    returns: jax.Array

    @classmethod
    def create(cls, num_envs: int) -> RewardNormalizer:
        return cls(RunningMeanStd.create(()), jnp.zeros((num_envs,)))


def scale_rewards(stats: RunningMeanStd, rewards: jax.Array) -> jax.Array:
    """`rewards` over the standard deviation the return statistics `stats` hold."""
    return rewards / jnp.sqrt(stats.var + 1e-8)


def normalize_rewards(
    normalizer: RewardNormalizer,
    rewards: jax.Array,
    done: jax.Array,
    gamma: jax.Array | float,
) -> tuple[RewardNormalizer, jax.Array]:
    """Rewards `[T, N]` divided by the running standard deviation of the discounted return.

    Step by step: `R_t = r_t + gamma * (1 - done_{t-1}) * R_{t-1}` per env, the statistics
    take in the batch `R_t` `[N]`, then `r_t / sqrt(var + 1e-8)` (no mean is subtracted, so
    the rewards keep their sign). PureJaxRL zeroes `R` on the step that ends an episode,
    before adding that step's reward, so its `R` at an episode's last step holds that reward
    alone and the next episode starts from it; here `R` restarts after the last step."""

    def step(carry, inputs):
        stats, returns = carry
        reward, ended = inputs
        returns = gamma * returns + reward
        stats = stats.update(returns)
        return (stats, jnp.where(ended, 0.0, returns)), scale_rewards(stats, reward)

    (stats, returns), scaled = jax.lax.scan(
        step, (normalizer.stats, normalizer.returns), (rewards, done)
    )
    return RewardNormalizer(stats, returns), scaled
