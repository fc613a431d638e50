"""Shuffled minibatches over epochs, written once for every agent that does SGD on a batch:
of steps (`flatten_time`), or of whole env sequences for recurrent agents (`swap_time_env`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

Carry = TypeVar("Carry")


def flatten_time(tree: Any) -> Any:
    """`[T, N, ...] -> [T * N, ...]` for every leaf."""
    return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), tree)


def permutation(key: jax.Array, size: int) -> jax.Array:
    """A uniformly random permutation of `range(size)` (int32 `[size]`), drawn as
    `jax.random.permutation` draws it (Knuth 1997, TAOCP vol. 2, Sec. 3.4.2, Algorithm P's
    sorting variant: sort by random keys, in rounds so that ties between keys do not bias
    the order), but each round sorts one uint32 array instead of (key, value) pairs.

    A round packs random high bits and each element's position (the low
    `b = ceil(log2(size))` bits) into one uint32 and sorts that; the sorted low bits are the
    round's permutation. Elements whose random parts tie keep the order of the previous
    round, itself random, so an order is biased only where a pair ties in every round:
    `ceil((2 b + 4) / (32 - b))` rounds make that less likely than 1 in 32 per permutation
    (1 round up to 512 elements, 2 up to 32,768, 3 up to 262,144). Sorting a single
    primitive array is several times faster on XLA:CPU than `jax.random.permutation`'s pair
    sort (32,768 elements: 2 rounds ~4 ms against ~12 ms; benchmarks/RESULTS.md, "PPO against
    rejax").
    """
    index_bits = max(1, (size - 1).bit_length())
    random_bits = 32 - index_bits
    if random_bits < 8:  # more than 2**24 elements: too few random bits left per round
        return jax.random.permutation(key, size).astype(jnp.int32)
    rounds = -(-(2 * index_bits + 4) // random_bits)
    positions = jnp.arange(size, dtype=jnp.uint32)
    order = positions
    for _ in range(rounds):
        key, round_key = jax.random.split(key)
        bits = jax.random.bits(round_key, (size,), jnp.uint32)
        packed = jnp.left_shift(bits, jnp.uint32(index_bits)) | positions
        order = order[jnp.sort(packed) & jnp.uint32((1 << index_bits) - 1)]
    return order.astype(jnp.int32)


def shuffle_split(key: jax.Array, batch: Any, num_minibatches: int) -> Any:
    """Permute the leading axis of every leaf and split it: `[B, ...] -> [M, B // M, ...]`."""
    size = jax.tree.leaves(batch)[0].shape[0]
    permutation_ = permutation(key, size)
    return jax.tree.map(
        lambda x: x[permutation_].reshape((num_minibatches, size // num_minibatches, *x.shape[1:])),
        batch,
    )


def sgd_epochs(
    update: Callable[[Carry, Any], tuple[Carry, Any]],
    carry: Carry,
    batch: Any,
    key: jax.Array,
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Carry, Any]:
    """Run `update(carry, minibatch)` over `num_epochs` shuffled passes of `batch` (`[B, ...]`).

    Returns the final carry and the per-step outputs stacked `[num_epochs, num_minibatches]`.
    """

    def epoch(carry, epoch_key):
        return jax.lax.scan(update, carry, shuffle_split(epoch_key, batch, num_minibatches))

    return jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))


def swap_time_env(tree: Any) -> Any:
    """`[T, N, ...] <-> [N, T, ...]` for every leaf: to and from the batch of a recurrent agent.

    `shuffle_split` (and so `sgd_epochs`) permutes and splits the leading axis; with the env
    axis leading, each minibatch is `[N // M, T, ...]`: whole env sequences, each in time
    order, never shuffled steps, so a recurrent network can re-run over them from the hidden
    state each sequence started with.
    """
    return jax.tree.map(lambda x: x.swapaxes(0, 1), tree)
