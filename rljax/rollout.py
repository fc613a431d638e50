"""Rollout collection, written once for every on-policy and off-policy agent.

`collect` runs `num_steps` steps of a `VecEnv` (wrapped in `EpisodeStatistics`) as one
`lax.scan`, acting with `policy(params, obs, key) -> (action, extras)`. Nothing here touches
the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

Policy = Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, Any]]


@struct.dataclass
class RolloutState:
    """Where the env batch stands between rollouts. `obs` is `[num_envs, *obs_shape]`."""

    env_state: Any
    obs: jax.Array


class Transition(NamedTuple):
    """One rollout, every leaf `[num_steps, num_envs, ...]`.

    `next_obs` is the observation the step produced *before* auto-reset (the env's
    `final_observation`), so `V(next_obs)` is the right bootstrap on truncation.
    `episode_return` is valid only where `episode_done`.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
    extras: Any
    episode_return: jax.Array
    episode_done: jax.Array


def reset(env: Any, env_params: Any, key: jax.Array) -> RolloutState:
    obs, env_state = env.reset(key, env_params)
    return RolloutState(env_state=env_state, obs=obs)


def collect(
    env: Any,
    env_params: Any,
    policy: Policy,
    policy_params: Any,
    rollout_state: RolloutState,
    key: jax.Array,
    num_steps: int,
) -> tuple[RolloutState, Transition]:
    """Step the env batch `num_steps` times. Returns the new rollout state and `Transition`."""

    def step(carry: RolloutState, step_key: jax.Array) -> tuple[RolloutState, Transition]:
        act_key, env_key = jax.random.split(step_key)
        action, extras = policy(policy_params, carry.obs, act_key)
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action, env_params
        )
        transition = Transition(
            obs=carry.obs,
            action=action,
            reward=reward.astype(jnp.float32),
            terminated=terminated,
            truncated=truncated,
            next_obs=info["final_observation"],
            extras=extras,
            episode_return=info["episode_return"],
            episode_done=info["episode_done"],
        )
        return RolloutState(env_state=env_state, obs=obs), transition

    return jax.lax.scan(step, rollout_state, jax.random.split(key, num_steps))


def mean_episode_return(traj: Transition) -> jax.Array:
    """Mean return of the episodes that ended during `traj`; NaN if none did."""
    done = traj.episode_done.astype(jnp.float32)
    count = done.sum()
    return jnp.where(
        count > 0, (traj.episode_return * done).sum() / jnp.maximum(count, 1.0), jnp.nan
    )
