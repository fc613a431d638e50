"""A pure-functional, fixed-size ring buffer of transitions that lives inside the training state.

The buffer is a typed pytree (`flax.struct.dataclass`), so it is carried through `lax.scan`,
vmapped over seeds and replaced like any other state leaf; nothing here touches the host.
It is DQN's experience replay (Mnih et al. 2015, "Human-level control through deep
reinforcement learning", Methods): the last `capacity` transitions, sampled uniformly.

Storage is flat: `data` leaves are `[capacity, ...]`. `add` writes a batch `[num_envs, ...]`
(one step of every env) into the slots `position, position + 1, ...` (mod `capacity`),
overwriting the oldest transitions once full. `sample` draws uniformly, with replacement,
from the `size` slots written so far, never from the zeros of unwritten slots.
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


def add(buffer: ReplayBuffer, batch: Any) -> ReplayBuffer:
    """Write a batch of transitions (leaves `[n, ...]`, `n <= capacity`), oldest first out."""
    n = jax.tree.leaves(batch)[0].shape[0]
    capacity = buffer.capacity
    if n > capacity:
        raise ValueError(f"a batch of {n} transitions does not fit a buffer of {capacity}")
    slots = (buffer.position + jnp.arange(n)) % capacity
    data = jax.tree.map(lambda d, x: d.at[slots].set(x), buffer.data, batch)
    return ReplayBuffer(
        data=data,
        position=(buffer.position + n) % capacity,
        size=jnp.minimum(buffer.size + n, capacity),
    )


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Any:
    """`batch_size` transitions drawn uniformly with replacement from the written slots;
    leaves `[batch_size, ...]`. Sampling an empty buffer returns slot 0 (zeros): callers
    gate learning on a warm-up."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda d: d[index], buffer.data)
