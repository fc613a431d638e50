"""Gradient steps, written once: clipped Adam with a traced, hand-applied learning rate.

The learning rate is applied outside optax, so the optimiser state carries no coefficient:
a traced (vmapped, annealed) learning rate costs nothing extra, and `optax.flatten` runs Adam
on one flat vector instead of every small leaf (measured ~8% faster PPO learning on CPU,
benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from rljax.minibatch import sgd_epochs


def clipped_adam(max_grad_norm: jax.Array, eps: float = 1e-8) -> optax.GradientTransformation:
    """Global-norm gradient clipping, then Adam's update direction (no learning rate)."""
    return optax.flatten(
        optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.scale_by_adam(eps=eps))
    )


def annealed(learning_rate: jax.Array, progress: jax.Array, anneal: bool) -> jax.Array:
    """Linear annealing to 0 over training (`progress` = fraction of updates done)."""
    return learning_rate * (1.0 - progress) if anneal else learning_rate


def gradient_step(
    loss: Callable[[Any, Any], tuple[jax.Array, Any]],
    optimizer: optax.GradientTransformation,
    learning_rate: jax.Array,
) -> Callable[[tuple[Any, optax.OptState], Any], tuple[tuple[Any, optax.OptState], Any]]:
    """One descent step on `loss(params, batch) -> (scalar, aux)`, as a `lax.scan` body over
    `(params, opt_state)`; returns the new carry and `aux`."""

    def step(carry, batch):
        params, opt_state = carry
        grads, aux = jax.grad(loss, has_aux=True)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, jax.tree.map(lambda u: -learning_rate * u, updates))
        return (params, opt_state), aux

    return step


def minibatch_epochs(
    loss: Callable[[Any, Any], tuple[jax.Array, Any]],
    optimizer: optax.GradientTransformation,
    learning_rate: jax.Array,
    params: Any,
    opt_state: optax.OptState,
    batch: Any,
    key: jax.Array,
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Any, optax.OptState, Any]:
    """Descend `loss(params, minibatch) -> (scalar, aux)` over shuffled minibatch epochs.

    `batch` leaves are `[B, ...]`. Returns the new params and optimiser state, and `aux`
    stacked `[num_epochs, num_minibatches, ...]`.
    """

    step = gradient_step(loss, optimizer, learning_rate)
    (params, opt_state), aux = sgd_epochs(
        step, (params, opt_state), batch, key, num_epochs, num_minibatches
    )
    return params, opt_state, aux
