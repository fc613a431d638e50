"""The training loop, written once: a pure `train(key, hparams)` and a chunked host driver.

An algorithm is an object with static configuration and pure methods over pytrees:

    init(key, hparams) -> state            # everything a run needs, PRNG key included
    update(state) -> (state, metrics)      # one collect + learn step
    evaluate(state) -> EvalResult          # N episodes on fixed evaluation keys
    num_updates, steps_per_update          # static ints

`train(algo, key, hparams)` scans `update` `num_updates` times: one XLA program for the whole
run. `jax.vmap(partial(train, algo))` over keys and/or hparams is a seed study or a sweep.

`run(...)` is the host driver for long runs: it compiles `vmap(scan(update, chunk))` once and
calls it repeatedly, so between chunks the host can show progress, hand metrics to a
callback (the run folder writer) and save checkpoints, while nothing outside the compiled loop
touches a step. Inside the loop each update also reduces its losses and parameters to a few
"is finite" flags, so a diverging run stops at the next chunk boundary with `TrainingDiverged`
instead of training on NaNs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from rljax.evaluation import EvalResult

if TYPE_CHECKING:
    from rljax.checkpoint import Checkpointer


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
    algo: Algorithm,
    state: Any,
    num_valid: jax.Array,
    chunk_size: int,
    check_finite: bool = False,
) -> tuple[Any, Any]:
    """`chunk_size` updates, of which only the first `num_valid` change the state.

    Masking (rather than a shorter last chunk) keeps one compiled program for every chunk.
    `num_valid` is not vmapped, so the `cond` stays a real branch under `vmap`. With
    `check_finite` the per-update output is `(metrics, finite_flags(metrics, state))`
    (`[chunk_size, quantities]` after the scan; True for masked updates).
    """

    def step(state, i):
        valid = i < num_valid
        state, metrics = jax.lax.cond(
            valid,
            algo.update,
            lambda s: (s, jax.tree.map(jnp.zeros_like, jax.eval_shape(algo.update, s)[1])),
            state,
        )
        if not check_finite:
            return state, metrics
        return state, (metrics, finite_flags(metrics, state) | ~valid)

    return jax.lax.scan(step, state, jnp.arange(chunk_size))


def compiled_chunk(
    algo: Algorithm, chunk_size: int, check_finite: bool = False
) -> Callable[[Any, jax.Array], tuple[Any, Any]]:
    """Compiled `vmap(run_chunk)`: `(state [runs, ...], num_valid) -> (state, metrics)`
    (`(state, (metrics, finite [runs, chunk_size, quantities]))` with `check_finite`)."""
    return jax.jit(
        jax.vmap(lambda s, n: run_chunk(algo, s, n, chunk_size, check_finite), in_axes=(0, None))
    )


# --- the finite check ----------------------------------------------------------------------


def _metric_dict(metrics: Any) -> dict[str, Any]:
    return metrics._asdict() if hasattr(metrics, "_asdict") else dict(metrics)


def checked_quantities(metrics: Any) -> list[str]:
    """What `finite_flags` checks, in order: each metric named like a loss, then the
    parameters (`"parameters"`)."""
    return [k for k in _metric_dict(metrics) if "loss" in k] + ["parameters"]


def _parameter_leaves(state: Any) -> list[jax.Array]:
    """The leaves of the state's fields named `*params` (not `hparams`): online and target
    networks, actors and critics. A state without such fields is checked whole."""
    if dataclasses.is_dataclass(state):
        names = [f.name for f in dataclasses.fields(state)]
    else:
        names = list(getattr(state, "_fields", ()))
    names = [n for n in names if n.endswith("params") and n != "hparams"]
    tree = [getattr(state, n) for n in names] if names else state
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]


def finite_flags(metrics: Any, state: Any) -> jax.Array:
    """`[len(checked_quantities(metrics))]` bool: is each loss metric finite, and is every
    parameter finite. One reduction per quantity, inside the compiled loop; a NaN or inf
    gradient shows up here as non-finite parameters after the optimiser step."""
    values = _metric_dict(metrics)
    losses = [jnp.isfinite(values[k]).all() for k in checked_quantities(metrics)[:-1]]
    params = [jnp.isfinite(x).all() for x in _parameter_leaves(state)]
    return jnp.stack([*losses, jnp.all(jnp.stack(params)) if params else jnp.bool_(True)])


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or inf. `update` counts from 1; `run` is the index in
    the batch; `quantities` say what was not finite (e.g. `"td_loss is nan"`);
    `updates_kept` is the number of updates of the state that was kept."""

    def __init__(self, message: str, update: int, run: int, quantities: list[str], kept: int):
        super().__init__(message)
        self.update, self.run, self.quantities, self.updates_kept = update, run, quantities, kept


class RunInterrupted(Exception):
    """SIGINT or SIGTERM stopped `run` at a chunk boundary, after saving a checkpoint."""

    def __init__(self, message: str, signal_number: int, updates_done: int):
        super().__init__(message)
        self.signal_number, self.updates_done = signal_number, updates_done


def _describe_run(index: int, labels: Sequence[str] | None, hparams: Any, to_host) -> str:
    """`seed 3; learning_rate=0.001, gamma=0.99, ...`: the run's label and its scalar
    hyperparameters (vector-valued ones, e.g. a learned drift's weights, are left out)."""
    parts = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(hparams)[0]:
        value = np.asarray(to_host(leaf))
        if value.ndim == 1:
            parts.append(f"{jax.tree_util.keystr(path).lstrip('.')}={value[index]:.4g}")
    label = labels[index] if labels is not None else f"run {index}"
    return f"{label}; {', '.join(parts)}" if parts else label


def _divergence(
    finite: np.ndarray,
    metrics: dict[str, np.ndarray],
    quantities: list[str],
    updates_before: int,
    num_updates: int,
    describe: Callable[[int], str],
    kept_where: str,
) -> TrainingDiverged:
    """The error for the first non-finite update of a chunk, `finite [runs, updates, q]`."""
    bad_update = int(np.argmin(finite.all(axis=(0, 2))))
    run_index = int(np.argmin(finite[:, bad_update].all(axis=1)))
    names = []
    for q, name in enumerate(quantities):
        if not finite[run_index, bad_update, q]:
            value = metrics[name][run_index, bad_update] if name in metrics else None
            names.append(f"{name} is {value}" if value is not None else f"{name} are not finite")
    update = updates_before + bad_update + 1
    message = (
        f"training diverged in update {update} of {num_updates}, run {run_index} "
        f"({describe(run_index)}): {' and '.join(names)} (NaN or inf). Stopped; the state "
        f"after update {updates_before} is kept{kept_where}."
    )
    return TrainingDiverged(message, update, run_index, names, updates_before)


@contextlib.contextmanager
def _stop_requests(enabled: bool):
    """Collect SIGINT/SIGTERM into a list instead of dying, so `run` can stop at the next
    chunk boundary with a checkpoint; a second signal gets the previous handler (dies)."""
    requested: list[int] = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous: dict[int, Any] = {}

    def handler(signum, frame):
        requested.append(signum)
        signal.signal(signum, previous[signum])

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler) or signal.SIG_DFL
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stack_hparams(hparams: Sequence[Any]) -> Any:
    """Stack per-run hyperparameter pytrees into one batched pytree `[runs, ...]`."""
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *hparams)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per seed, `[runs, 2]`; a run's randomness is fully fixed by its seed."""
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


@dataclass
class RunResult:
    """What `run` returns: `metrics[k]` is `[runs, updates]` (the updates this call ran, from
    `start_update` on), `eval_returns` `[runs, episodes]`."""

    state: Any
    metrics: dict[str, np.ndarray]
    eval_returns: np.ndarray
    eval_lengths: np.ndarray
    compile_seconds: float
    train_seconds: float
    env_steps: int
    steady_steps_per_second: float
    """Env steps/s over all runs after the first chunk, which includes compilation."""
    start_update: int = 0
    """Updates already done when this call started (0 unless resumed)."""


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
    *,
    state: Any = None,
    updates_done: int = 0,
    checkpointer: Checkpointer | None = None,
    checkpoint_every: int = 1,
    check_finite: bool = True,
    run_labels: Sequence[str] | None = None,
) -> RunResult:
    """Train `len(keys)` runs in one vmapped batch, in chunks of `chunk_size` updates.

    `hparams` must be batched `[runs, ...]` (see `stack_hparams`). `on_chunk(updates_done,
    chunk_metrics)` gets each chunk's metrics `[runs, valid_updates]` as numpy arrays.
    `to_host` turns a device array into numpy; a multi-host sweep passes one that gathers the
    runs of every process.

    Long runs:
    - `checkpointer` (`rljax.checkpoint.Checkpointer`) saves the whole batched state, as step
      `updates_done`, after every `checkpoint_every` chunks, after the last one, and when
      SIGINT/SIGTERM arrives (the run then stops at that chunk boundary with `RunInterrupted`;
      a second signal kills at once). Saving happens after `on_chunk`, so a run folder's
      metrics always cover its latest checkpoint.
    - `state` and `updates_done` resume from a restored state instead of `init(keys,
      hparams)`. `updates_done` must be a chunk boundary (a multiple of `chunk_size`, or the
      end): the resumed run then makes the same compiled calls as an uninterrupted one, so it
      is bitwise the same.
    - `check_finite` checks, once per update inside the compiled loop, that every loss metric
      and every parameter is finite (`finite_flags`); the host looks at the flags once per
      chunk and raises `TrainingDiverged` naming the first bad update, the run (its label from
      `run_labels` and its hyperparameters) and the quantity. The state before that chunk is
      kept (saved as a checkpoint if it was not already), and `on_chunk` never sees the chunk.
    """
    num_runs = int(keys.shape[0])
    chunk_size = max(1, min(chunk_size, algo.num_updates))
    if updates_done % chunk_size and updates_done != algo.num_updates:
        raise ValueError(
            f"updates_done={updates_done} is not a chunk boundary (chunk_size={chunk_size}): "
            "resume from a checkpoint saved by `run` with the same chunk_size"
        )
    chunk = compiled_chunk(algo, chunk_size, check_finite)
    evaluate = jax.jit(jax.vmap(algo.evaluate))
    steps_per_chunk_update = num_runs * algo.steps_per_update
    describe = functools.partial(_describe_run, labels=run_labels, hparams=hparams, to_host=to_host)
    kept_where = f" as checkpoint {{}} in {checkpointer.directory}" if checkpointer else ""
    last_saved = None

    def save(updates: int, state: Any) -> None:
        nonlocal last_saved
        if checkpointer is not None and last_saved != updates:
            extra = {"updates_done": updates, "num_updates": algo.num_updates}
            checkpointer.save(updates, state, extra)
            last_saved = updates

    bar = _progress_bar(
        progress,
        steps_per_chunk_update * algo.num_updates,
        description,
        initial=steps_per_chunk_update * updates_done,
    )
    start = time.perf_counter()
    if state is None:
        state = jax.jit(jax.vmap(algo.init))(keys, hparams)
    first_update = updates_done
    collected: dict[str, list[np.ndarray]] = {}
    compile_seconds, steady_start, steady_steps = 0.0, None, 0
    with _stop_requests(checkpointer is not None) as stop:
        try:
            while updates_done < algo.num_updates:
                num_valid = min(chunk_size, algo.num_updates - updates_done)
                chunk_start = time.perf_counter()
                new_state, out = chunk(state, jnp.int32(num_valid))
                metrics, finite = out if check_finite else (out, None)
                metrics = {k: to_host(v)[:, :num_valid] for k, v in _metric_dict(metrics).items()}
                if finite is not None:
                    finite = to_host(finite)[:, :num_valid]
                    if not finite.all():
                        save(updates_done, state)
                        raise _divergence(
                            finite,
                            metrics,
                            checked_quantities(metrics),
                            updates_done,
                            algo.num_updates,
                            describe,
                            kept_where.format(updates_done),
                        )
                state, updates_done = new_state, updates_done + num_valid
                if steady_start is None:
                    # The first call compiles; its time is reported apart from throughput.
                    compile_seconds = time.perf_counter() - chunk_start
                    steady_start = time.perf_counter()
                else:
                    steady_steps += steps_per_chunk_update * num_valid
                for k, v in metrics.items():
                    collected.setdefault(k, []).append(v)
                if on_chunk is not None:
                    on_chunk(updates_done, metrics)
                if (
                    updates_done // chunk_size % checkpoint_every == 0
                    or updates_done == algo.num_updates
                    or stop
                ):
                    save(updates_done, state)
                if bar is not None:
                    bar.update(steps_per_chunk_update * num_valid)
                    ret = _latest_finite(metrics.get("episode_return"))
                    bar.set_postfix_str(f"return {ret:.1f}" if ret is not None else "return -")
                if stop and updates_done < algo.num_updates:
                    name = signal.Signals(stop[0]).name
                    raise RunInterrupted(
                        f"{name}: stopped after update {updates_done} of {algo.num_updates}; "
                        f"checkpoint {updates_done} is in {checkpointer.directory}",
                        stop[0],
                        updates_done,
                    )
        finally:
            if bar is not None:
                bar.close()
            if checkpointer is not None:
                checkpointer.wait()
    train_seconds = time.perf_counter() - start
    steady_rate = float("nan")
    if steady_steps:
        steady_rate = steady_steps / (time.perf_counter() - steady_start)
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
        start_update=first_update,
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


def _progress_bar(enabled: bool, total: int, description: str, initial: int = 0):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
    )
