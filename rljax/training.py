"""The training loop, written once: a pure `train(key, hparams)` and a chunked host driver.

An algorithm is an object with static configuration and pure methods over pytrees:

    init(key, hparams) -> state            # everything a run needs, PRNG key included
    update(state) -> (state, metrics)      # one collect + learn step
    evaluate(state) -> EvalResult          # N episodes on fixed evaluation keys
    num_updates, steps_per_update          # static ints

`train(algo, key, hparams)` scans `update` `num_updates` times: one XLA program for the whole
run. `jax.vmap(partial(train, algo))` over keys and/or hparams is a seed study or a sweep.

`run(...)` is the host driver for long runs: it compiles `vmap(scan(update, chunk))` once and
calls it repeatedly, so between chunks the host can show progress and hand metrics to a
callback (the run folder writer), while nothing outside the compiled loop touches a step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from rljax.evaluation import EvalResult


class Algorithm(Protocol):
    num_updates: int
    steps_per_update: int

    def init(self, key: jax.Array, hparams: Any) -> Any: ...

    def update(self, state: Any) -> tuple[Any, Any]: ...

    def evaluate(self, state: Any) -> EvalResult: ...


def train(algo: Algorithm, key: jax.Array, hparams: Any) -> tuple[Any, Any]:
    """A whole run as one pure function. Metrics are stacked `[num_updates, ...]`."""

    def step(state, _):
        return algo.update(state)

    return jax.lax.scan(step, algo.init(key, hparams), None, length=algo.num_updates)


def run_chunk(
    algo: Algorithm, state: Any, num_valid: jax.Array, chunk_size: int
) -> tuple[Any, Any]:
    """`chunk_size` updates, of which only the first `num_valid` change the state.

    Masking (rather than a shorter last chunk) keeps one compiled program for every chunk.
    `num_valid` is not vmapped, so the `cond` stays a real branch under `vmap`.
    """

    def step(state, i):
        return jax.lax.cond(
            i < num_valid,
            algo.update,
            lambda s: (s, jax.tree.map(jnp.zeros_like, jax.eval_shape(algo.update, s)[1])),
            state,
        )

    return jax.lax.scan(step, state, jnp.arange(chunk_size))


def compiled_chunk(algo: Algorithm, chunk_size: int) -> Callable[[Any, jax.Array], tuple[Any, Any]]:
    """Compiled `vmap(run_chunk)`: `(state [runs, ...], num_valid) -> (state, metrics)`."""
    return jax.jit(jax.vmap(lambda s, n: run_chunk(algo, s, n, chunk_size), in_axes=(0, None)))


def stack_hparams(hparams: Sequence[Any]) -> Any:
    """Stack per-run hyperparameter pytrees into one batched pytree `[runs, ...]`."""
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *hparams)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per seed, `[runs, 2]`; a run's randomness is fully fixed by its seed."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


@dataclass
class RunResult:
    """What `run` returns: `metrics[k]` is `[runs, updates]`, `eval_returns` `[runs, episodes]`."""

    state: Any
    metrics: dict[str, np.ndarray]
    eval_returns: np.ndarray
    eval_lengths: np.ndarray
    compile_seconds: float
    train_seconds: float
    env_steps: int
    steady_steps_per_second: float
    """Env steps/s over all runs after the first chunk, which includes compilation."""


ChunkCallback = Callable[[int, dict[str, np.ndarray]], None]


def run(
    algo: Algorithm,
    keys: jax.Array,
    hparams: Any,
    chunk_size: int = 32,
    progress: bool = True,
    on_chunk: ChunkCallback | None = None,
    description: str = "train",
    to_host: Callable[[Any], np.ndarray] = np.asarray,
) -> RunResult:
    """Train `len(keys)` runs in one vmapped batch, in chunks of `chunk_size` updates.

    `hparams` must be batched `[runs, ...]` (see `stack_hparams`). `on_chunk(updates_done,
    chunk_metrics)` gets each chunk's metrics `[runs, valid_updates]` as numpy arrays.
    `to_host` turns a device array into numpy; a multi-host sweep passes one that gathers the
    runs of every process.
    """
    num_runs = int(keys.shape[0])
    chunk_size = max(1, min(chunk_size, algo.num_updates))
    num_chunks = -(-algo.num_updates // chunk_size)
    init = jax.jit(jax.vmap(algo.init))
    chunk = compiled_chunk(algo, chunk_size)
    evaluate = jax.jit(jax.vmap(algo.evaluate))

    bar = _progress_bar(progress, num_runs * algo.num_updates * algo.steps_per_update, description)
    start = time.perf_counter()
    state = init(keys, hparams)
    collected: dict[str, list[np.ndarray]] = {}
    compile_seconds = 0.0
    for c in range(num_chunks):
        num_valid = min(chunk_size, algo.num_updates - c * chunk_size)
        chunk_start = time.perf_counter()
        state, metrics = chunk(state, jnp.int32(num_valid))
        metrics = {k: to_host(v)[:, :num_valid] for k, v in metrics._asdict().items()}
        if c == 0:
            # The first call compiles; its time is reported apart from training throughput.
            compile_seconds = time.perf_counter() - chunk_start
            steady_start, steady_steps = time.perf_counter(), 0
        else:
            steady_steps += num_runs * num_valid * algo.steps_per_update
        for k, v in metrics.items():
            collected.setdefault(k, []).append(v)
        if on_chunk is not None:
            on_chunk((c * chunk_size) + num_valid, metrics)
        if bar is not None:
            bar.update(num_runs * num_valid * algo.steps_per_update)
            ret = _latest_finite(metrics.get("episode_return"))
            bar.set_postfix_str(f"return {ret:.1f}" if ret is not None else "return -")
    train_seconds = time.perf_counter() - start
    steady_seconds = time.perf_counter() - steady_start
    steady_rate = steady_steps / steady_seconds if steady_steps else float("nan")
    if bar is not None:
        bar.close()
    result = evaluate(state)
    return RunResult(
        state=state,
        metrics={k: np.concatenate(v, axis=1) for k, v in collected.items()},
        eval_returns=to_host(result.returns),
        eval_lengths=to_host(result.lengths),
        compile_seconds=compile_seconds,
        train_seconds=train_seconds,
        env_steps=num_runs * algo.num_updates * algo.steps_per_update,
        steady_steps_per_second=steady_rate,
    )


def _latest_finite(values: np.ndarray | None) -> float | None:
    """Mean over runs of the last finite value per run, for the progress bar."""
    if values is None:
        return None
    latest = []
    for row in values:
        finite = row[np.isfinite(row)]
        if finite.size:
            latest.append(finite[-1])
    return float(np.mean(latest)) if latest else None


def _progress_bar(enabled: bool, total: int, description: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="step", unit_scale=True, dynamic_ncols=True)
