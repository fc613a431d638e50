"""The training loop, written once: a pure `train(key, hparams)` and a chunked host driver.

An algorithm is an object with static configuration and pure methods over pytrees:

    init(key, hparams) -> state            # everything a run needs, PRNG key included
    update(state) -> (state, metrics)      # one collect + learn step
    evaluate(state) -> EvalResult          # N episodes on fixed evaluation keys
    num_updates, steps_per_update          # static ints

`train(algo, key, hparams)` scans `update` `num_updates` times: one XLA program for the whole
run. `jax.vmap(partial(train, algo))` over keys and/or hparams is a seed study or a sweep.

`run(algo, keys, hparams, RunOptions(...))` is the host driver for long runs: it compiles
`vmap(scan(update, chunk))` once and calls it repeatedly, so between chunks the host can show
progress, hand metrics to a callback (the run folder writer) and save checkpoints, while
nothing outside the compiled loop touches a step. Inside the loop each update also reduces its
losses and parameters to a few "is finite" flags, so a diverging run stops at the next chunk
boundary with `TrainingDiverged` instead of training on NaNs. The jobs between chunks
(progress, checkpoint policy, NaN guard, signals, timing) are small pieces in `rljax.driver`;
`run` is the loop that composes them.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from rljax import config as cfg
from rljax import memory, run_batch
from rljax.driver import (
    CheckpointPolicy,
    NanGuard,
    Progress,
    RunInterrupted,
    Throughput,
    TrainingDiverged,
    _describe_run,
    _stop_requests,
    interrupted,
)
from rljax.evaluation import EvalResult

if TYPE_CHECKING:
    from rljax.checkpoint import Checkpointer


class Algorithm(Protocol):
    """What `train` and `run` need of an algorithm (see the module docstring).

    Optional hook, looked up with `getattr`: `checked_leaves(state) -> pytree`, the part of
    the state whose float leaves the NaN guard checks once per update (e.g. the online and
    target networks, not a replay buffer or an evaluation cache). An algorithm without it is
    checked by `_parameter_leaves`: the state's fields named `*params` (not `hparams`), or the
    whole state if it has none.
    """

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
    `check_finite` the per-update output is `(metrics, finite_flags(metrics, state, algo))`
    (`[chunk_size, quantities]` after the scan; True for masked updates).
    """

    def step(state, i):
        valid = i < num_valid
        # Masked updates return zero metrics shaped like the update's, without a second
        # trace of the update (`run_batch.cond_or_zeros`).
        state, metrics = run_batch.cond_or_zeros(valid, algo.update, lambda s: s, state)
        if not check_finite:
            return state, metrics
        return state, (metrics, finite_flags(metrics, state, algo) | ~valid)

    return jax.lax.scan(step, state, jnp.arange(chunk_size))


def compiled_chunk(
    algo: Algorithm,
    chunk_size: int,
    check_finite: bool = False,
    runs_sharding: jax.sharding.Sharding | None = None,
) -> Callable[[Any, jax.Array], tuple[Any, Any]]:
    """Compiled `vmap(run_chunk)`: `(state [runs, ...], num_valid) -> (state, metrics)`
    (`(state, (metrics, finite [runs, chunk_size, quantities]))` with `check_finite`). The
    runs axis is named `rljax.run_batch.RUNS`, so an algorithm's branches can stay real
    branches where every run of the batch takes the same one (`rljax.run_batch`).
    `runs_sharding` (a batch split over devices, `runs_sharding_of`) is given to every
    output, so each chunk's state comes back sharded as the next chunk was compiled for."""
    return jax.jit(
        jax.vmap(
            lambda s, n: run_chunk(algo, s, n, chunk_size, check_finite),
            in_axes=(0, None),
            axis_name=run_batch.RUNS,
        ),
        **_placed(runs_sharding),
    )


def runs_sharding_of(tree: Any) -> jax.sharding.Sharding | None:
    """The sharding of a batch of runs split over several devices (that of `tree`'s first
    leaf: `rljax.sweep` shards keys, hparams and states over the runs axis); None on one
    device."""
    sharding = memory.sharding_of(tree)
    return sharding if sharding is not None and len(sharding.device_set) > 1 else None


def _placed(runs_sharding: jax.sharding.Sharding | None) -> dict[str, Any]:
    """`jax.jit` keywords placing every output (all batched over runs) like the runs.
    Without them XLA may replicate an output that is the same in every run (a zero bias
    after `init`), and the next program's inputs would be sharded unlike its first call's:
    `jit` compiles it again, an ahead-of-time program refuses them."""
    return {} if runs_sharding is None else {"out_shardings": runs_sharding}


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
    return _float_leaves(tree)


def _float_leaves(tree: Any) -> list[jax.Array]:
    """The floating-point (and complex) leaves of `tree`: counters, keys and masks are left out."""
    leaves = map(jnp.asarray, jax.tree.leaves(tree))
    return [x for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)]


def guarded_leaves(algo: Any, state: Any) -> list[jax.Array]:
    """The float leaves of `state` the NaN guard checks: those of `algo.checked_leaves(state)`
    if the algorithm has that hook, else `_parameter_leaves(state)` (also with `algo=None`)."""
    hook = getattr(algo, "checked_leaves", None)
    return _parameter_leaves(state) if hook is None else _float_leaves(hook(state))


def finite_flags(metrics: Any, state: Any, algo: Any = None) -> jax.Array:
    """`[len(checked_quantities(metrics))]` bool: is each loss metric finite, and is every
    checked leaf of the state finite (`guarded_leaves(algo, state)`: the parameters). One
    reduction per quantity, inside the compiled loop; a NaN or inf gradient shows up here as
    non-finite parameters after the optimiser step."""
    values = _metric_dict(metrics)
    losses = [jnp.isfinite(values[k]).all() for k in checked_quantities(metrics)[:-1]]
    params = [jnp.isfinite(x).all() for x in guarded_leaves(algo, state)]
    return jnp.stack([*losses, jnp.all(jnp.stack(params)) if params else jnp.bool_(True)])


def stack_hparams(hparams: Sequence[Any]) -> Any:
    """Stack per-run hyperparameter pytrees into one batched pytree `[runs, ...]`."""
    if not hparams:
        raise cfg.ConfigError(
            "stack_hparams got no runs. Fix: pass one hparams pytree per run, e.g. "
            "[config.hparams()] * num_seeds."
        )
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *hparams)


def seed_keys(seeds: Sequence[int]) -> jax.Array:
    """One PRNG key per seed, `[runs, 2]`; a run's randomness is fully fixed by its seed."""

    def bad(seed: Any) -> bool:
        try:
            return isinstance(seed, bool) or seed != int(seed) or not 0 <= int(seed) < 2**32
        except (TypeError, ValueError):
            return True

    if not len(seeds) or any(bad(s) for s in seeds):
        raise cfg.ConfigError(
            f"seed_keys got seeds {list(seeds)!r}. Fix: pass at least one whole number in "
            "[0, 2**32) per run (a negative seed would wrap around to another run's)."
        )
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


@dataclass(frozen=True)
class RunOptions:
    """How `run` (and `rljax.sweep.sweep`, `sweep_batch`) drives a batch of runs: everything
    besides what to train, where to start from, and where results go."""

    chunk_size: int = 32
    """Updates per compiled chunk (at most the run's `num_updates`); the host reports progress,
    hands metrics to `on_chunk` and may save a checkpoint between chunks."""
    progress: bool = True
    """Show a progress bar (env steps, steps/s, mean latest return)."""
    description: str = "train"
    """The progress bar's label."""
    checkpoint_every: int = 1
    """With a checkpointer: chunks between checkpoints (one is also saved after the last chunk
    and when SIGINT/SIGTERM stops the run)."""
    check_finite: bool = True
    """Check every update's losses and parameters for NaN/inf (`finite_flags`) and stop with
    `TrainingDiverged` at the first bad one."""
    check_memory: bool = True
    """Refuse a batch of runs whose training state, or whose chunk program's working memory,
    exceeds the free memory of its devices, before allocating or running it
    (`rljax.memory`)."""
    run_labels: tuple[str, ...] | None = None
    """A name per run of the batch (e.g. `seed 3`) for divergence messages; default `run i`."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "chunk_size", "checkpoint_every")
        if self.run_labels is not None:
            object.__setattr__(self, "run_labels", tuple(self.run_labels))


def run_options(
    options: RunOptions | None, keywords: dict[str, Any], default: RunOptions | None = None
) -> RunOptions:
    """`options` (None: `default`, itself by default `RunOptions()`) with `keywords` replacing
    its fields: how `run` and the sweep functions accept either a `RunOptions` or its fields as
    keyword arguments. Unknown keywords raise `TypeError` naming them."""
    if options is None:
        options = RunOptions() if default is None else default
    elif not isinstance(options, RunOptions):
        raise TypeError(
            f"options must be a RunOptions, not {type(options).__name__}; pass chunk_size and "
            "the other run options as keyword arguments, or as RunOptions(...)"
        )
    unknown = sorted(set(keywords) - {f.name for f in dataclasses.fields(RunOptions)})
    if unknown:
        raise TypeError(f"unknown run options {unknown}; RunOptions has {_option_names()}")
    return dataclasses.replace(options, **keywords) if keywords else options


def _option_names() -> str:
    return ", ".join(f.name for f in dataclasses.fields(RunOptions))


def run(
    algo: Algorithm,
    keys: jax.Array,
    hparams: Any,
    options: RunOptions | None = None,
    *,
    on_chunk: ChunkCallback | None = None,
    to_host: Callable[[Any], np.ndarray] = np.asarray,
    state: Any = None,
    updates_done: int = 0,
    checkpointer: Checkpointer | None = None,
    on_checkpoint: Callable[[int, Any], None] | None = None,
    **option_keywords: Any,
) -> RunResult:
    """Train `len(keys)` runs in one vmapped batch, in chunks of `options.chunk_size` updates.

    `options` is a `RunOptions`; its fields can also be passed as keywords (`run(algo, keys,
    hparams, chunk_size=64, progress=False)`), which replace those of `options`.
    `hparams` must be batched `[runs, ...]` (see `stack_hparams`). `on_chunk(updates_done,
    chunk_metrics)` gets each chunk's metrics `[runs, valid_updates]` as numpy arrays.
    `to_host` turns a device array into numpy; a multi-host sweep passes one that gathers the
    runs of every process.

    Long runs:
    - `checkpointer` (`rljax.checkpoint.Checkpointer`) saves the whole batched state, as step
      `updates_done`, after every `checkpoint_every` chunks, after the last one, and when
      SIGINT/SIGTERM arrives (the run then stops at that chunk boundary with `RunInterrupted`;
      a second signal kills at once). Saving happens after `on_chunk`, so a run folder's
      metrics always cover its latest checkpoint (`rljax.driver.CheckpointPolicy`).
    - `on_checkpoint(updates_done, state)` gets the batched state (on the device) after each
      chunk at which the checkpoint policy saves, with or without a checkpointer: a hook for
      host-side pictures of a run's state as it evolves (`experiments.ued`).
    - `state` and `updates_done` resume from a restored state instead of `init(keys,
      hparams)`. `updates_done` must be a chunk boundary (a multiple of `chunk_size`, or the
      end): the resumed run then makes the same compiled calls as an uninterrupted one, so it
      is bitwise the same.
    - `check_finite` checks, once per update inside the compiled loop, that every loss metric
      and every parameter is finite (`finite_flags`; the algorithm's `checked_leaves` hook says
      which leaves are its parameters); the host looks at the flags once per chunk and raises
      `TrainingDiverged` naming the first bad update, the run (its label from `run_labels` and
      its hyperparameters) and the quantity. The state before that chunk is kept (saved as a
      checkpoint if it was not already), and `on_chunk` never sees the chunk
      (`rljax.driver.NanGuard`).
    """
    options = run_options(options, option_keywords)
    num_runs = int(keys.shape[0])
    chunk_size = max(1, min(options.chunk_size, algo.num_updates))
    if updates_done % chunk_size and updates_done != algo.num_updates:
        raise ValueError(
            f"updates_done={updates_done} is not a chunk boundary (chunk_size={chunk_size}): "
            "resume from a checkpoint saved by `run` with the same chunk_size"
        )
    batch = keys if state is None else state
    devices, runs_sharding = memory.devices_of(batch), runs_sharding_of(batch)
    # One jitted init: the memory check's shapes come from the same trace that it compiles.
    init = jax.jit(jax.vmap(algo.init), **_placed(runs_sharding))
    if state is None and options.check_memory:
        memory.check_state_fits(init.eval_shape(keys, hparams), devices)
    chunk = compiled_chunk(algo, chunk_size, options.check_finite, runs_sharding)
    progress = Progress(
        options.progress,
        num_runs,
        algo.num_updates,
        algo.steps_per_update,
        options.description,
        initial=updates_done,
    )
    checkpoints = CheckpointPolicy(
        checkpointer, algo.num_updates, chunk_size, options.checkpoint_every
    )
    describe = functools.partial(
        _describe_run, labels=options.run_labels, hparams=hparams, to_host=to_host
    )
    guard = NanGuard(algo.num_updates, describe, checkpoints)
    timer = Throughput(num_runs * algo.steps_per_update)
    start = time.perf_counter()
    if state is None:
        state = init(keys, hparams)
    program = None  # the chunk program, compiled ahead of its first call
    first_update = updates_done
    collected: dict[str, list[np.ndarray]] = {}
    with _stop_requests(checkpointer is not None) as stop, checkpoints, progress:
        while updates_done < algo.num_updates:
            num_valid = min(chunk_size, algo.num_updates - updates_done)
            timer.chunk_started()
            if program is None and options.check_memory:
                # Compiled ahead of its first call, so its working memory is checked before
                # it runs, on one device or sharded over several (`init` and every chunk
                # place their outputs like the runs, so one program takes every chunk).
                # Compiling it on a second thread beside `init` showed no reliable gain on
                # 2 shared cores (benchmarks/RESULTS.md, "First-run compile time").
                program = chunk.lower(state, jnp.int32(chunk_size)).compile()
                memory.check_program_fits(program, memory.tree_bytes(state), devices)
            program = program or chunk
            new_state, out = program(state, jnp.int32(num_valid))
            metrics, finite = out if options.check_finite else (out, None)
            metrics = {k: to_host(v)[:, :num_valid] for k, v in _metric_dict(metrics).items()}
            if finite is not None:
                finite = to_host(finite)[:, :num_valid]
            guard.check(finite, metrics, checked_quantities(metrics), updates_done, state)
            state, updates_done = new_state, updates_done + num_valid
            timer.chunk_done(num_valid)
            for k, v in metrics.items():
                collected.setdefault(k, []).append(v)
            if on_chunk is not None:
                on_chunk(updates_done, metrics)
            due = checkpoints.after_chunk(updates_done, state, stop_requested=bool(stop))
            if on_checkpoint is not None and due:
                on_checkpoint(updates_done, state)
            progress.update(updates_done, metrics)
            if stop and updates_done < algo.num_updates:
                raise interrupted(stop[0], updates_done, algo.num_updates, checkpoints)
    train_seconds = time.perf_counter() - start
    steady_rate = timer.steady_steps_per_second()
    result = jax.jit(jax.vmap(algo.evaluate))(state)
    return RunResult(
        state=state,
        metrics={k: np.concatenate(v, axis=1) for k, v in collected.items()},
        eval_returns=to_host(result.returns),
        eval_lengths=to_host(result.lengths),
        compile_seconds=timer.compile_seconds,
        train_seconds=train_seconds,
        env_steps=num_runs * algo.num_updates * algo.steps_per_update,
        steady_steps_per_second=steady_rate,
        start_update=first_update,
    )


__all__ = [
    "Algorithm",
    "ChunkCallback",
    "RunInterrupted",
    "RunOptions",
    "RunResult",
    "TrainingDiverged",
    "checked_quantities",
    "compiled_chunk",
    "finite_flags",
    "guarded_leaves",
    "run",
    "run_chunk",
    "run_options",
    "runs_sharding_of",
    "seed_keys",
    "stack_hparams",
    "train",
]
