"""Rollout collection, written once for every on-policy and off-policy agent.

`collect` runs `num_steps` steps of a `VecEnv` (wrapped in `EpisodeStatistics`) as one
`lax.scan`, acting with `policy(params, obs, key) -> (action, extras)`. `collect_recurrent`
does the same for a policy that carries a recurrent state from step to step. Nothing here
touches the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

Policy = Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, Any]]
RecurrentPolicy = Callable[[Any, Any, jax.Array, jax.Array, jax.Array], tuple[Any, jax.Array, Any]]
"""`policy(params, carry, obs, first, key) -> (carry, action, extras)`: `first [num_envs]` marks
an `obs` that starts an episode, where the policy must forget `carry` before acting."""


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
        return _env_step(env, env_params, carry, action, extras, env_key)

    return scan_packed(step, rollout_state, jax.random.split(key, num_steps))


PACK_BYTES = 4096
"""`scan_packed` packs leaves of at most this many bytes (per step, per run)."""
PACK_MIN_STEPS = 8
"""`scan_packed` packs loops of at least this many steps (packing costs a few kernels per
call, outside the loop)."""


class _Packing(NamedTuple):
    """Where each leaf of a pytree went: `slots[i] = (dtype, offset, size, shape)` into the
    packed array of its dtype, or None for a leaf left as it is; `lead` axes were kept."""

    treedef: Any
    slots: tuple[tuple[str, int, int, tuple[int, ...]] | None, ...]
    lead: int


def _pack(tree: Any, lead: int) -> tuple[dict[str, jax.Array], list[jax.Array], _Packing]:
    """`tree`'s small leaves as one array per dtype, `[*shape[:lead], k]` (each leaf reshaped
    to `[*shape[:lead], -1]` and concatenated along the last axis); the other leaves (large,
    not numbers, or without the common leading axes) in order."""
    leaves, treedef = jax.tree.flatten(tree)
    groups: dict[str, list[jax.Array]] = {}
    large, slots = [], []
    head = next((leaf.shape[:lead] for leaf in leaves if leaf.ndim >= lead), None)
    for leaf in leaves:
        numeric = jnp.issubdtype(leaf.dtype, jnp.number) or leaf.dtype == jnp.bool_
        if (
            not numeric
            or leaf.ndim < lead
            or leaf.shape[:lead] != head
            or leaf.size * leaf.dtype.itemsize > PACK_BYTES
        ):
            large.append(leaf)
            slots.append(None)
            continue
        flat = leaf.reshape(*leaf.shape[:lead], -1)
        group = groups.setdefault(leaf.dtype.name, [])
        slots.append((leaf.dtype.name, sum(g.shape[-1] for g in group), flat.shape[-1], leaf.shape))
        group.append(flat)
    packed = {dtype: jnp.concatenate(group, axis=-1) for dtype, group in groups.items()}
    return packed, large, _Packing(treedef, tuple(slots), lead)


def _unpack(packed: dict[str, jax.Array], large: list[jax.Array], packing: _Packing) -> Any:
    """`_pack`'s inverse; `packed` and `large` may have gained leading axes (stacked steps)."""
    large_leaves = iter(large)
    leaves = []
    for slot in packing.slots:
        if slot is None:
            leaves.append(next(large_leaves))
            continue
        dtype, start, size, shape = slot
        block = packed[dtype]
        part = jax.lax.slice_in_dim(block, start, start + size, axis=block.ndim - 1)
        leaves.append(part.reshape(*block.shape[: block.ndim - 1 - packing.lead], *shape))
    return jax.tree.unflatten(packing.treedef, leaves)


def scan_packed(
    step: Callable[[Any, Any], tuple[Any, Any]], carry: Any, xs: Any
) -> tuple[Any, Any]:
    """`jax.lax.scan(step, carry, xs)` with the loop's small arrays packed: the carry's leaves
    of at most `PACK_BYTES` bytes travel as one flat array per dtype, and the per-step outputs
    (leaves `[N, ...]`, N the env batch) are stacked as one `[T, N, k]` array per dtype; both
    are unpacked outside the loop. The same values, up to float summation order where XLA
    fuses the two programs differently (every run in `benchmarks/regression.py` is bitwise
    unchanged). Loops of fewer than `PACK_MIN_STEPS` steps are left as they are.

    Why: with a small env batch a rollout's loop is bound by the kernels XLA:CPU launches per
    step, not by arithmetic, and each loop-carried leaf costs a copy and each stacked output an
    in-place update per step. PPO's CartPole rollout at 4 envs: 51 kernels per step packed to
    41 (8 copies to 3), the update 4-20% faster; at 256 envs 12-16% (benchmarks/RESULTS.md,
    "Packed rollouts").
    """
    scanned = jax.tree.leaves(xs)
    if not scanned or scanned[0].shape[0] < PACK_MIN_STEPS:
        return jax.lax.scan(step, carry, xs)
    packed_carry, large_carry, carry_packing = _pack(carry, lead=0)
    out_packing: list[_Packing] = []

    def packed_step(loop_carry, x):
        carry, out = step(_unpack(*loop_carry, carry_packing), x)
        packed, large, _ = _pack(carry, lead=0)
        packed_out, large_out, packing = _pack(out, lead=1)
        out_packing[:] = [packing]
        return (packed, large), (packed_out, large_out)

    (packed, large), (packed_out, large_out) = jax.lax.scan(
        packed_step, (packed_carry, large_carry), xs
    )
    return _unpack(packed, large, carry_packing), _unpack(packed_out, large_out, out_packing[0])


def _env_step(
    env: Any, env_params: Any, carry: RolloutState, action: jax.Array, extras: Any, key: jax.Array
) -> tuple[RolloutState, Transition]:
    """Step the env batch from `carry` with `action`; the new rollout state and the record."""
    obs, env_state, reward, terminated, truncated, info = env.step(
        key, carry.env_state, action, env_params
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


# --- recurrent policies -------------------------------------------------------------------


@struct.dataclass
class RecurrentRolloutState:
    """`RolloutState` plus what a recurrent policy carries between steps and rollouts.

    `policy_carry` is the policy's state `[num_envs, ...]` after the last step; `first`
    `[num_envs]` marks envs whose `obs` starts an episode (the last step ended one, or the
    batch was just reset), where the policy resets its carry before acting.
    """

    env_state: Any
    obs: jax.Array
    policy_carry: Any
    first: jax.Array

    @classmethod
    def start(cls, state: RolloutState, policy_carry: Any) -> RecurrentRolloutState:
        """From a freshly reset env batch: every env starts an episode."""
        first = jnp.ones(state.obs.shape[:1], bool)
        return cls(state.env_state, state.obs, policy_carry, first)


class RecurrentRollout(NamedTuple):
    """A recurrent policy's rollout: enough to re-run the policy over each env's sequence.

    `transitions` leaves are `[num_steps, num_envs, ...]`; `first [num_steps, num_envs]` marks
    the steps where the policy reset its carry; `initial_carry [num_envs, ...]` is the carry
    the rollout started from (before any reset at step 0).
    """

    transitions: Transition
    first: jax.Array
    initial_carry: Any


def collect_recurrent(
    env: Any,
    env_params: Any,
    policy: RecurrentPolicy,
    policy_params: Any,
    rollout_state: RecurrentRolloutState,
    key: jax.Array,
    num_steps: int,
) -> tuple[RecurrentRolloutState, RecurrentRollout]:
    """`collect` for a policy that carries a state. After each step, `first` becomes that
    step's `terminated | truncated`, so the policy resets exactly at episode boundaries.
    Keys are drawn as in `collect`."""

    def step(carry: RecurrentRolloutState, step_key: jax.Array):
        act_key, env_key = jax.random.split(step_key)
        policy_carry, action, extras = policy(
            policy_params, carry.policy_carry, carry.obs, carry.first, act_key
        )
        plain = RolloutState(env_state=carry.env_state, obs=carry.obs)
        plain, transition = _env_step(env, env_params, plain, action, extras, env_key)
        done = transition.terminated | transition.truncated
        new_carry = RecurrentRolloutState(plain.env_state, plain.obs, policy_carry, done)
        return new_carry, (transition, carry.first)

    new_state, (transitions, first) = scan_packed(
        step, rollout_state, jax.random.split(key, num_steps)
    )
    return new_state, RecurrentRollout(transitions, first, rollout_state.policy_carry)


def as_recurrent(policy: Policy | RecurrentPolicy, policy_carry: Any) -> RecurrentPolicy:
    """`policy` in the `RecurrentPolicy` signature: itself when it carries a state
    (`policy_carry` is not None), else wrapped to pass an empty carry through unchanged, so
    one loop can drive either kind."""
    if policy_carry is not None:
        return policy
    return lambda params, carry, obs, first, key: (carry, *policy(params, obs, key))


def mean_episode_return(traj: Transition) -> jax.Array:
    """Mean return of the episodes that ended during `traj`; NaN if none did."""
    done = traj.episode_done.astype(jnp.float32)
    count = done.sum()
    return jnp.where(
        count > 0, (traj.episode_return * done).sum() / jnp.maximum(count, 1.0), jnp.nan
    )
