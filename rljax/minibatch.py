"""Shuffled minibatches over epochs, written once for every agent that does SGD on a batch:
of steps (`flatten_time`), or of whole env sequences for recurrent agents (`swap_time_env`)."""

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


def swap_time_env(tree: Any) -> Any:
    """`[T, N, ...] <-> [N, T, ...]` for every leaf: to and from the batch of a recurrent agent.

    `shuffle_split` (and so `sgd_epochs`) permutes and splits the leading axis; with the env
    axis leading, each minibatch is `[N // M, T, ...]`: whole env sequences, each in time
    order, never shuffled steps, so a recurrent network can re-run over them from the hidden
    state each sequence started with.
    """
    return jax.tree.map(lambda x: x.swapaxes(0, 1), tree)
