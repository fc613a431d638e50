"""Evaluation: run N complete episodes with a fixed policy and report their returns.

Evaluation keys are fixed by the caller (see `Algorithm.evaluate`), so the same policy is
always scored on the same episodes: curves are comparable across updates, and members of a
population see common random numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rljax.rollout import Policy, RecurrentPolicy, as_recurrent


class EvalResult(NamedTuple):
    """`returns` and `lengths` are `[num_episodes]`: one first episode per env copy."""

    returns: jax.Array
    lengths: jax.Array


def evaluate(
    env: Any,
    env_params: Any,
    policy: Policy | RecurrentPolicy,
    policy_params: Any,
    key: jax.Array,
    max_steps: int,
    reset: Callable[[jax.Array, Any], tuple[jax.Array, Any]] | None = None,
    policy_carry: Any = None,
) -> EvalResult:
    """Play one episode in each copy of `env` (a `VecEnv` of `num_episodes` copies).

    Stops when every copy has finished its first episode, or after `max_steps` steps.
    `reset` overrides `env.reset`, e.g. to start with frozen normalisation statistics.
    Episodes cut off by `max_steps` report their partial return.

    With `policy_carry` (a recurrent policy's initial state `[num_episodes, ...]`), `policy`
    is a `RecurrentPolicy`: its carry goes from step to step and `first` is set at the first
    step and after every episode boundary, as in `rollout.collect_recurrent`.
    """
    recurrent = as_recurrent(policy, policy_carry)
    reset_key, loop_key = jax.random.split(key)
    obs, env_state = (reset or env.reset)(reset_key, env_params)
    num_episodes = obs.shape[0]
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    running = zeros

    def cond(carry):
        t, _, _, _, finished, _, _, _, _, _ = carry
        return (t < max_steps) & ~finished.all()

    def body(carry):
        t, obs, env_state, k, finished, returns, lengths, running, policy_carry, first = carry
        k, act_key, env_key = jax.random.split(k, 3)
        policy_carry, action, _ = recurrent(policy_params, policy_carry, obs, first, act_key)
        obs, env_state, reward, terminated, truncated, _ = env.step(
            env_key, env_state, action, env_params
        )
        running = running + reward * ~finished
        first = terminated | truncated
        done = first & ~finished
        returns = jnp.where(done, running, returns)
        lengths = jnp.where(done, t + 1, lengths)
        return (
            t + 1,
            obs,
            env_state,
            k,
            finished | done,
            returns,
            lengths,
            running,
            policy_carry,
            first,
        )

    init = (
        jnp.int32(0),
        obs,
        env_state,
        loop_key,
        jnp.zeros((num_episodes,), bool),
        zeros,
        zeros,
        running,
        policy_carry,
        jnp.ones((num_episodes,), bool),
    )
    t, _, _, _, finished, returns, lengths, running, _, _ = jax.lax.while_loop(cond, body, init)
    returns = jnp.where(finished, returns, running)
    lengths = jnp.where(finished, lengths, t)
    return EvalResult(returns=returns, lengths=lengths)
