"""Gradient steps, written once: clipped Adam with a traced, hand-applied learning rate.

The learning rate is applied outside optax, so the optimiser state carries no coefficient:
a traced (vmapped, annealed) learning rate costs nothing extra. Under global-norm clipping
`optax.flatten` runs Adam on one flat vector instead of every small leaf (less compile time);
under per-element clipping Adam runs per leaf (faster, see `clipped_adam`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.extend import core as jex_core

from rljax import config as cfg
from rljax.minibatch import sgd_epochs


def gradient_clip(
    max_grad_norm: jax.Array, clip: str = "global_norm"
) -> optax.GradientTransformation:
    """`global_norm`: every gradient scaled by `min(1, max / ||g||)`, `||g||` the norm of all
    leaves together (PPO's `max_grad_norm` in the OpenAI baselines, CleanRL and PureJaxRL);
    `element`: each gradient element clipped to `[-max, max]` (`optax.clip`, rejax's choice).
    """
    if clip == "global_norm":
        return optax.clip_by_global_norm(max_grad_norm)
    if clip == "element":
        return optax.clip(max_grad_norm)
    raise ValueError(f"clip={clip!r}: use one of {', '.join(cfg.GRAD_CLIPS)}")


def clipped_adam(
    max_grad_norm: jax.Array, eps: float = 1e-8, clip: str = "global_norm"
) -> optax.GradientTransformation:
    """Gradient clipping (`gradient_clip`), then Adam's update direction (no learning rate).

    With `global_norm` clipping, which waits for every gradient anyway, Adam runs on one flat
    vector (`optax.flatten`). With `element` clipping nothing waits for all gradients, and
    Adam runs per leaf: on XLA:CPU a leaf's step (and the next minibatch's forward pass
    through it) can start while other leaves' gradients are still being computed. PPO on
    CartPole, whole updates: 1.07x at 16 vmapped seeds x 4 envs, 1.12x at 4 envs
    (benchmarks/RESULTS.md, "Session 32: rejax's clipping in rljax"); flattened, element
    clipping gains nothing.
    """
    transform = optax.chain(gradient_clip(max_grad_norm, clip), optax.scale_by_adam(eps=eps))
    return optax.flatten(transform) if clip == "global_norm" else transform


def annealed(learning_rate: jax.Array, progress: jax.Array, anneal: bool) -> jax.Array:
    """Linear annealing to 0 over training (`progress` = fraction of updates done)."""
    return learning_rate * (1.0 - progress) if anneal else learning_rate


def row_major_weight_gradients(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with every matmul that contracts all but the last axis of both operands (a dense
    layer's weight gradient, over a batch or a sequence of batches) computed as a plain
    row-major matmul of one operand's materialised transpose.

    A dense layer's weight gradient is `x^T g` (`x [B, in]`, `g [B, out]`): a `dot_general`
    contracting axis 0 of both operands. XLA:CPU (jax 0.10) sends row-major matmuls to its
    fast (YNNPACK) kernels but this form to a generic one, 2.5-4x slower on PPO's layer
    shapes: the three weight gradients of the 64-wide layers took 41% of the kernel time of
    PPO's learning phase at 4 envs x 128 steps (benchmarks/RESULTS.md, "PPO against
    rejax"). Here `x^T` is materialised behind an
    `optimization_barrier` (which keeps XLA from folding the transpose back into the dot)
    and multiplied as `[in, B] @ [B, out]`. Same arithmetic, same result up to float
    summation order. `fn` is re-traced to a jaxpr and evaluated equation by equation,
    rewriting such matmuls at its top level and inside nested `jit`s.
    """

    def wrapped(*args):
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*args)
        out = _eval_rewriting_dots(closed.jaxpr, closed.consts, jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(out_shape), out)

    return wrapped


def _eval_rewriting_dots(jaxpr: Any, consts: list[Any], args: list[Any]) -> list[Any]:
    env: dict[Any, Any] = {}

    def read(v):
        return v.val if isinstance(v, jex_core.Literal) else env[v]

    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for v, x in zip(jaxpr.invars, args, strict=True):
        env[v] = x
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name == "dot_general" and _contracts_leading_axes(eqn, ins):
            # lhs^T rhs = (rhs^T lhs)^T; autodiff transposes it back, and XLA cancels the two
            # transposes, leaving a row-major `[in, B] @ [B, out]` (whichever of the two
            # operands is the layer input, it is the one transposed here). A layer applied
            # over several leading axes (`[T, N, in]`) has them flattened into B first.
            lhs, rhs = (x.reshape(-1, x.shape[-1]) for x in ins)
            rhs_t = jax.lax.optimization_barrier(rhs.T)
            product = jax.lax.dot_general(
                rhs_t,
                lhs,
                (((1,), (0,)), ((), ())),
                precision=eqn.params.get("precision"),
                preferred_element_type=eqn.params.get("preferred_element_type"),
            )
            outs = [product.T]
        elif name in ("pjit", "jit"):
            inner = eqn.params["jaxpr"]
            outs = _eval_rewriting_dots(inner.jaxpr, inner.consts, ins)
        else:
            with eqn.ctx.manager:
                outs = eqn.primitive.bind(*ins, **eqn.primitive.get_bind_params(eqn.params))
            outs = outs if eqn.primitive.multiple_results else [outs]
        for v, x in zip(eqn.outvars, outs, strict=True):
            if not isinstance(v, jex_core.DropVar):
                env[v] = x
    return [read(v) for v in jaxpr.outvars]


def _contracts_leading_axes(eqn: Any, ins: list[Any]) -> bool:
    """A `dot_general` without batch axes contracting every axis but the last of both
    operands, which share those leading axes: a dense layer's weight gradient, `[B, in]` x
    `[B, out]`, or `[T, N, in]` x `[T, N, out]` for a layer applied over a sequence."""
    (lhs_contract, rhs_contract), (lhs_batch, _) = eqn.params["dimension_numbers"]
    lead = jnp.ndim(ins[0]) - 1
    return (
        lead >= 1
        and tuple(lhs_contract) == tuple(range(lead))
        and tuple(rhs_contract) == tuple(range(lead))
        and not lhs_batch
        and jnp.ndim(ins[1]) == lead + 1
        and jnp.shape(ins[0])[:lead] == jnp.shape(ins[1])[:lead]
    )


def gradient_step(
    loss: Callable[[Any, Any], tuple[jax.Array, Any]],
    optimizer: optax.GradientTransformation,
    learning_rate: jax.Array,
) -> Callable[[tuple[Any, optax.OptState], Any], tuple[tuple[Any, optax.OptState], Any]]:
    """One descent step on `loss(params, batch) -> (scalar, aux)`, as a `lax.scan` body over
    `(params, opt_state)`; returns the new carry and `aux`. On the CPU, gradients are taken
    with `row_major_weight_gradients` (same arithmetic, faster matmuls on XLA:CPU)."""

    def step(carry, batch):
        params, opt_state = carry
        grad_fn = jax.grad(loss, has_aux=True)
        if jax.default_backend() == "cpu":  # an XLA:CPU kernel choice; GPUs need no rewrite
            grad_fn = row_major_weight_gradients(grad_fn)
        grads, aux = grad_fn(params, batch)
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
