"""The behaviour every algorithm shares, as reusable assertions for its test file.

Each algorithm's tests call these with a tiny config: a training chunk compiles exactly once
(a partial last chunk included), the same seed gives bitwise the same run, `vmap` over
seeds equals separate runs, and the vmapped program calls no LAPACK. Learning checks share
`final_eval_returns`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rljax
from rljax.training import compiled_chunk


@functools.cache
def _jitted_train(algo: Any) -> Any:
    """One jitted `train` per algorithm object, so repeated runs reuse one compilation (a
    fresh `jit(partial(...))` per call would compile again every time)."""
    return jax.jit(functools.partial(rljax.train, algo))


def final_eval_returns(algo: Any, config: Any, seeds: list[int], chunk_size: int = 512) -> Any:
    """Train `config` on every seed in one vmapped batch; the last evaluation's mean return
    per seed `[len(seeds)]`."""
    result = rljax.run(
        algo,
        rljax.seed_keys(seeds),
        rljax.stack_hparams([config.hparams()] * len(seeds)),
        chunk_size=chunk_size,
        progress=False,
    )
    return result.eval_returns.mean(axis=1)


def assert_no_lapack(algo: Any, hparams: Any) -> None:
    """The vmapped training program calls no LAPACK routine: a vmapped LAPACK call (flax's
    orthogonal init, and the GRU's recurrent kernel init, use QR) can deadlock XLA:CPU's
    intra-op pool on 2-core machines; see rljax/networks.py."""
    lowered = jax.jit(jax.vmap(functools.partial(rljax.train, algo))).lower(
        rljax.seed_keys([0, 1]), rljax.stack_hparams([hparams] * 2)
    )
    assert "lapack" not in lowered.as_text().lower()


def network_params(algo: Any, state: Any) -> Any:
    """The state's network parameters: what the algorithm's NaN guard checks
    (`checked_leaves`), or `state.params`."""
    checked = getattr(algo, "checked_leaves", None)
    return checked(state) if checked is not None else state.params


def train_one(algo: Any, hparams: Any, seed: int) -> tuple[Any, Any]:
    return _jitted_train(algo)(jax.random.PRNGKey(seed), hparams)


def assert_chunk_compiles_once(algo: Any, hparams: Any, count_compilations: Any) -> Any:
    """Three chunks (full, partial, full) of a 2-run batch: one XLA compilation. Returns the
    batch's final state (leaves `[2, ...]`) for further checks."""
    state = jax.jit(jax.vmap(algo.init))(
        rljax.seed_keys([0, 1]), rljax.stack_hparams([hparams] * 2)
    )
    chunk = compiled_chunk(algo, chunk_size=2)
    # Made outside the count: the first int32 scalar of a process compiles a conversion.
    two, one = jnp.int32(2), jnp.int32(1)
    with count_compilations() as compiles:
        state, _ = chunk(state, two)
        state, _ = chunk(state, one)  # a partial last chunk reuses the same program
        state, metrics = chunk(state, two)
        jax.block_until_ready(metrics)
    assert compiles.value == 1, f"{compiles.value} compilations"
    assert chunk._cache_size() == 1
    return state


def assert_same_seed_same_run(algo: Any, hparams: Any) -> None:
    """Bitwise-equal state and metrics for the same seed; different params for another."""
    (state_a, metrics_a), (state_b, metrics_b) = (
        train_one(algo, hparams, 3),
        train_one(algo, hparams, 3),
    )
    for a, b in zip(
        jax.tree.leaves((state_a, metrics_a)), jax.tree.leaves((state_b, metrics_b)), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    state_c, _ = train_one(algo, hparams, 4)
    assert any(
        not np.array_equal(a, c)
        for a, c in zip(
            jax.tree.leaves(network_params(algo, state_a)),
            jax.tree.leaves(network_params(algo, state_c)),
            strict=True,
        )
    )


def assert_vmap_equals_separate_runs(
    algo: Any,
    hparams: Any,
    seeds: tuple[int, ...] = (0, 1, 2),
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """`vmap(train)` over seeds gives each seed's separate run (to float tolerance: batched
    matmuls may sum in another order)."""
    batched_state, batched_metrics = jax.jit(jax.vmap(functools.partial(rljax.train, algo)))(
        rljax.seed_keys(seeds), rljax.stack_hparams([hparams] * len(seeds))
    )
    for i, seed in enumerate(seeds):
        state, metrics = train_one(algo, hparams, seed)
        for a, b in zip(
            jax.tree.leaves((network_params(algo, batched_state), batched_metrics)),
            jax.tree.leaves((network_params(algo, state), metrics)),
            strict=True,
        ):
            np.testing.assert_allclose(a[i], b, rtol=rtol, atol=atol, equal_nan=True)
