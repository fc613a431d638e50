"""`rljax.run_batch`: a switch or cond over a per-run predicate, inside a vmapped batch of
runs, computes only the branches some run takes, and every run gets its own branch's result
(checked against `lax.switch` / `lax.cond` by hand-worked numbers)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rljax import run_batch
from rljax.run_batch import RUNS


def _tagged(calls: list, tag: int, fn):
    def branch(x):
        jax.debug.callback(lambda: calls.append(tag))
        return fn(x)

    return branch


def test_switch_runs_one_branch_when_every_run_agrees_and_all_when_they_differ():
    calls: list[int] = []
    fns = [lambda x: x * 3.0, lambda x: x - 1.0, lambda x: x + 10.0]
    branches = [_tagged(calls, k, fn) for k, fn in enumerate(fns)]
    batched = jax.jit(jax.vmap(lambda i, x: run_batch.switch(i, branches, x), axis_name=RUNS))
    x = jnp.array([1.0, 2.0, 3.0])

    out = batched(jnp.array([1, 1, 1]), x)
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [0.0, 1.0, 2.0])
    assert set(calls) == {1}, "only the agreed branch runs"

    calls.clear()
    out = batched(jnp.array([0, 2, 1]), x)
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [3.0, 12.0, 2.0])  # each run its own branch
    assert set(calls) == {0, 1, 2}

    # Outside a named batch: plain lax.switch (one run, or a vmap without the name).
    assert not run_batch.in_run_batch()
    np.testing.assert_array_equal(run_batch.switch(2, branches, 1.0), 11.0)
    plain = jax.vmap(lambda i, x: run_batch.switch(i, branches, x))
    np.testing.assert_array_equal(plain(jnp.array([0, 2, 1]), x), [3.0, 12.0, 2.0])


def test_cond_if_any_computes_the_expensive_branch_only_when_some_run_takes_it():
    calls: list[int] = []
    expensive = _tagged(calls, 1, lambda x: x * 2.0)
    cheap = lambda x: x + 1.0
    batched = jax.jit(
        jax.vmap(lambda p, x: run_batch.cond_if_any(p, expensive, cheap, x), axis_name=RUNS)
    )
    x = jnp.array([1.0, 5.0])

    out = batched(jnp.array([False, False]), x)
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [2.0, 6.0])
    assert calls == []

    out = batched(jnp.array([True, False]), x)
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [2.0, 6.0])  # run 0: 1 * 2; run 1: 5 + 1
    assert calls == [1]

    out = batched(jnp.array([True, True]), x)
    jax.effects_barrier()
    np.testing.assert_array_equal(out, [2.0, 10.0])
    np.testing.assert_array_equal(run_batch.cond_if_any(True, expensive, cheap, 4.0), 8.0)


def test_cond_or_zeros_traces_its_function_once_and_zeros_its_aux_otherwise():
    traces = []

    def fn(operand):
        traces.append(1)
        carry, scale = operand
        return carry * 2.0, {"loss": carry.sum() * scale, "steps": jnp.arange(3)}

    @jax.jit
    def both(pred, carry):
        return run_batch.cond_or_zeros(pred, fn, lambda op: op[0] + 1.0, (carry, 0.5))

    carry = jnp.array([1.0, 2.0])
    new, aux = both(True, carry)
    np.testing.assert_array_equal(new, [2.0, 4.0])
    assert float(aux["loss"]) == 1.5 and aux["steps"].tolist() == [0, 1, 2]
    new, aux = both(False, carry)
    np.testing.assert_array_equal(new, [2.0, 3.0])  # keep(operand)
    assert float(aux["loss"]) == 0.0 and aux["steps"].tolist() == [0, 0, 0]
    assert aux["steps"].dtype == jnp.int32
    assert len(traces) == 1  # one trace for both calls' program: no eval_shape re-trace


def test_cond_if_any_can_hand_the_cheap_branch_the_expensive_ones_shapes():
    traces, seen = [], []

    def expensive(x):
        traces.append(1)
        return x * 2.0, {"loss": x.sum(), "n": jnp.arange(2)}

    def cheap(x, like):
        seen.append(like)
        return x, jax.tree.map(jnp.zeros_like, like[1])

    for batched in (False, True):
        call = lambda p, x: run_batch.cond_if_any(p, expensive, cheap, x, cheap_gets_shapes=True)
        fn = jax.jit(jax.vmap(call, axis_name=RUNS) if batched else call)
        pred = jnp.array([False, True]) if batched else jnp.array(False)
        x = jnp.ones((2, 3)) if batched else jnp.ones(3)
        out, aux = fn(pred, x)
        assert out.shape == x.shape and aux["n"].dtype == jnp.int32
    assert len(traces) == 2  # once per program: no eval_shape re-trace in `cheap`
    assert all(like is not None and like[1]["n"].shape == (2,) for like in seen)
