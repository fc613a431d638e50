"""Branches that stay branches when a batch of runs is vmapped.

Under `jax.vmap` a `lax.cond` or `lax.switch` whose predicate differs per run is lowered to a
`select`: every branch is computed for every run and one result kept per run. A UED run's
"no gradient step on new levels" (robust PLR, ACCEL) or ALP-GMM's occasional refit would
then cost as much as taking the step every time, as soon as seeds are trained together.

The training loop vmaps its runs under the axis name `RUNS` (`rljax.training.compiled_chunk`).
Inside it, these helpers ask the whole batch, with one `pmin`/`pmax` over that axis (an
unbatched scalar), whether the branch can stay a real one:

- `switch(index, branches, *operands)`: when every run's index is the same (UED runs whose
  step-kind coin is shared, `UEDConfig.step_kind_seed`), one real `lax.switch` on it;
  otherwise the per-run switch (every branch computed, selected per run).
- `cond_if_any(pred, expensive, cheap, *operands)`: `expensive` is computed only when some
  run of the batch takes it (then for every run, and selected per run); `cheap` always. Each
  branch is compiled once, so it suits a large branch such as a learner's gradient step.

Outside a vmap over `RUNS` (one run, or a `jax.vmap` without the name, as the agent contract's
checks use) they are plain `lax.switch` / `lax.cond`. Either way every run gets the result its
own predicate selects: which path runs changes the work, never a run's numbers (checked
bitwise in tests/test_run_batch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

RUNS = "rljax_runs"
"""The vmap axis name of a batch of runs (seeds x hyperparameters) in `rljax.training`."""


def _shape_of(x: jax.Array) -> jax.ShapeDtypeStruct:
    """What `jax.eval_shape` says of a traced value (weak type included)."""
    aval = jax.typeof(x)
    return jax.ShapeDtypeStruct(aval.shape, aval.dtype, weak_type=aval.weak_type)


def in_run_batch() -> bool:
    """Whether the code being traced is inside a vmap over `RUNS` (host side, at trace time)."""
    try:
        jax.lax.axis_index(RUNS)
    except NameError:
        return False
    return True


def switch(index: jax.Array, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """`lax.switch(index, branches, *operands)` that runs one branch for the whole batch of
    runs when every run's `index` (an int scalar per run) is the same."""
    if not in_run_batch():
        return jax.lax.switch(index, branches, *operands)
    index = jnp.asarray(index, jnp.int32)
    low, high = jax.lax.pmin(index, RUNS), jax.lax.pmax(index, RUNS)
    return jax.lax.cond(
        low == high,
        lambda *ops: jax.lax.switch(high, branches, *ops),
        lambda *ops: jax.lax.switch(index, branches, *ops),
        *operands,
    )


def cond_if_any(
    pred: jax.Array,
    expensive: Callable[..., Any],
    cheap: Callable[..., Any],
    *operands: Any,
    cheap_gets_shapes: bool = False,
) -> Any:
    """`lax.cond(pred, expensive, cheap, *operands)` whose `expensive` branch is computed only
    when `pred` (a bool scalar per run) holds for some run of the batch.

    With `cheap_gets_shapes`, `cheap` is called as `cheap(*operands, like=shapes)` with the
    shapes of `expensive`'s outputs, read off its trace (`lax.cond` traces its true branch
    first), so a cheap branch that must return outputs shaped like the expensive one's (a
    learner's `skip`) need not trace it again with `jax.eval_shape`; `like` is None should
    the branches ever be traced in the other order."""
    if cheap_gets_shapes:
        expensive, cheap = _shapes_to_cheap(expensive, cheap)
    if not in_run_batch():
        return jax.lax.cond(pred, expensive, cheap, *operands)
    pred = jnp.asarray(pred, bool)
    any_run = jax.lax.pmax(pred.astype(jnp.int32), RUNS) > 0
    return jax.lax.cond(
        any_run,
        lambda *ops: jax.lax.cond(pred, expensive, cheap, *ops),
        cheap,
        *operands,
    )


def cond_or_zeros(
    pred: jax.Array,
    fn: Callable[[Any], tuple[Any, Any]],
    keep: Callable[[Any], Any],
    operand: Any,
) -> tuple[Any, Any]:
    """`lax.cond(pred, fn, otherwise, operand)` for `fn(operand) -> (carry, aux)`, where
    `otherwise` returns `(keep(operand), zeros shaped like aux)`: a masked update, or a
    warm-up without gradient steps, with the outputs of the real one.

    `fn` is traced once. `lax.cond` traces its true branch first, so the false branch reads
    `aux`'s shapes (and weak types) off that trace; `jax.eval_shape(fn, operand)` there
    would trace all of `fn` a second time (e.g. 0.2 s of PPO's 0.4 s chunk trace, 0.18 s of
    SAC's). Should the branches ever be traced in the other order, it falls back to
    `eval_shape`.
    """

    def otherwise(op, like):
        like = jax.eval_shape(fn, op) if like is None else like
        return keep(op), jax.tree.map(jnp.zeros_like, like[1])

    return jax.lax.cond(pred, *_shapes_to_cheap(fn, otherwise), operand)


def _shapes_to_cheap(
    expensive: Callable[..., Any], cheap: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`expensive`, recording its output shapes when traced, and `cheap` called with them
    as `like` (None if `expensive` has not been traced yet)."""
    traced: list[Any] = []

    def recorded(*ops):
        out = expensive(*ops)
        traced.append(jax.tree.map(_shape_of, out))
        return out

    def given(*ops):
        return cheap(*ops, like=traced[-1] if traced else None)

    return recorded, given


__all__ = ["RUNS", "cond_if_any", "cond_or_zeros", "in_run_batch", "switch"]
