"""Shuffled minibatches over epochs, written once for every agent that does SGD on a batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax

Carry = TypeVar("Carry")


def flatten_time(tree: Any) -> Any:
    """`[T, N, ...] -> [T * N, ...]` for every leaf."""
    return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), tree)


def shuffle_split(key: jax.Array, batch: Any, num_minibatches: int) -> Any:
    """Permute the leading axis of every leaf and split it: `[B, ...] -> [M, B // M, ...]`."""
    size = jax.tree.leaves(batch)[0].shape[0]
    permutation = jax.random.permutation(key, size)
    return jax.tree.map(
        lambda x: x[permutation].reshape((num_minibatches, size // num_minibatches, *x.shape[1:])),
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
