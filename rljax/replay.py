"""A pure-functional, fixed-size ring buffer of transitions that lives inside the training state.

The buffer is a typed pytree (`flax.struct.dataclass`), so it is carried through `lax.scan`,
vmapped over seeds and replaced like any other state leaf; nothing here touches the host.
It is the experience replay of DQN (Mnih et al. 2015, "Human-level control through deep
reinforcement learning", Methods) and SAC (Haarnoja et al. 2018, Alg. 1): the last
`capacity` transitions, sampled uniformly. What goes in (one-step or n-step transitions) is
decided by `rljax.agents.common.store_rollout`.

Storage is flat: `data` leaves are `[capacity, ...]`. `add` writes a batch `[num_envs, ...]`
(one step of every env) into the slots `position, position + 1, ...` (mod `capacity`),
overwriting the oldest transitions once full; with a `valid` mask only the valid rows are
written, packed. `add_rollout` writes a whole rollout `[num_steps, num_envs, ...]` a step at
a time. `sample` draws uniformly, with replacement, from the `size` slots written so far,
never from the zeros of unwritten slots.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    data: Any
    """Pytree of arrays `[capacity, ...]`; slots not yet written hold zeros."""
    position: jax.Array
    """Slot the next `add` writes first, int32 scalar."""
    size: jax.Array
    """Slots written so far, capped at `capacity`, int32 scalar."""

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(example: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer of `capacity` transitions shaped like one transition `example`
    (leaves without a batch axis)."""
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
    )
    zero = jnp.zeros((), jnp.int32)
    return ReplayBuffer(data=data, position=zero, size=zero)


def add(buffer: ReplayBuffer, batch: Any, valid: jax.Array | None = None) -> ReplayBuffer:
    """Write a batch of transitions (leaves `[n, ...]`, `n <= capacity`), oldest first out.

    `valid` (`[n]` bool) writes only the rows where it is True, packed into consecutive
    slots in their order; the others are dropped (e.g. the placeholder rows of an n-step
    window before the first n - 1 steps exist). Shapes stay static either way.
    """
    n = jax.tree.leaves(batch)[0].shape[0]
    capacity = buffer.capacity
    if n > capacity:
        raise ValueError(f"a batch of {n} transitions does not fit a buffer of {capacity}")
    if valid is None:
        count = n
        slots = (buffer.position + jnp.arange(n)) % capacity
    else:
        count = valid.sum(dtype=jnp.int32)
        rank = jnp.cumsum(valid, dtype=jnp.int32) - 1
        # Invalid rows get the out-of-range slot `capacity`, which the scatter drops.
        slots = jnp.where(valid, (buffer.position + rank) % capacity, capacity)
    data = jax.tree.map(lambda d, x: d.at[slots].set(x, mode="drop"), buffer.data, batch)
    return ReplayBuffer(
        data=data,
        position=(buffer.position + count) % capacity,
        size=jnp.minimum(buffer.size + count, capacity),
    )


def add_rollout(buffer: ReplayBuffer, rollout: Any, valid: jax.Array | None = None) -> ReplayBuffer:
    """Write a rollout (leaves `[num_steps, num_envs, ...]`) one env step at a time, oldest
    first, so a buffer only needs room for one step of the env batch; `valid` (`[num_steps]`
    bool) drops whole steps (see `add`)."""
    if valid is None:
        return jax.lax.scan(lambda b, row: (add(b, row), None), buffer, rollout)[0]
    num_envs = jax.tree.leaves(rollout)[0].shape[1]

    def add_step(b, step):
        row, ok = step
        return add(b, row, jnp.broadcast_to(ok, (num_envs,))), None

    return jax.lax.scan(add_step, buffer, (rollout, valid))[0]


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Any:
    """`batch_size` transitions drawn uniformly with replacement from the written slots;
    leaves `[batch_size, ...]`. Sampling an empty buffer returns slot 0 (zeros): callers
    gate learning on a warm-up."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda d: d[index], buffer.data)
