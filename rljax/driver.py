"""The host-side pieces of `rljax.run`'s chunk loop, each small enough to read and test alone.

`rljax.training.run` calls a compiled chunk of updates again and again; between two calls the
host does a few independent jobs, one class or function each:

- `Progress`: the tqdm bar (env steps, steps/s and ETA from tqdm, mean latest return);
- `CheckpointPolicy`: when the batched state is saved (every `checkpoint_every` chunks, after
  the last chunk, on a stop request) and waiting for the saves when the loop ends;
- `NanGuard`: turns the per-update "is finite" flags into `TrainingDiverged`, keeping the
  last good state as a checkpoint;
- `_stop_requests` and `interrupted`: SIGINT/SIGTERM become a request to stop at the next
  chunk boundary, then `RunInterrupted`;
- `Throughput`: the first chunk's time (compilation included) apart from the steady env
  steps/s of the later chunks.

Nothing here compiles or touches a step: each piece sees only host numpy arrays and the
batched state it passes on to the checkpointer.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from rljax.plotting import forward_fill

if TYPE_CHECKING:
    from rljax.checkpoint import Checkpointer


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


# --- progress ----------------------------------------------------------------------------------


class Progress:
    """One tqdm bar over the env steps of `num_runs` runs (tqdm shows steps/s and the ETA),
    with the mean over runs of each run's latest finished-episode return as its postfix.

    `latest` `[runs]` keeps each run's latest finite `episode_return` across chunks (a chunk in
    which a run finished no episode keeps its previous value). Disabled, it draws nothing but
    still tracks `updates_done` and `latest`. Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        enabled: bool,
        num_runs: int,
        num_updates: int,
        steps_per_update: int,
        desc: str,
        initial: int = 0,
    ):
        self.steps_per_run_update = num_runs * steps_per_update
        self.updates_done = initial
        self.latest = np.full(num_runs, np.nan)
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=num_updates * self.steps_per_run_update,
                initial=initial * self.steps_per_run_update,
                desc=desc,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
            )

    def update(self, updates_done: int, metrics: dict[str, np.ndarray]) -> None:
        """Advance to `updates_done` after a chunk whose metrics (`[runs, updates]`) are given."""
        returns = metrics.get("episode_return")
        if returns is not None and returns.size:
            last = forward_fill(returns)[:, -1]
            if last.shape != self.latest.shape:  # e.g. metrics of the real runs of a padded batch
                self.latest = np.full(last.shape, np.nan)
            self.latest = np.where(np.isfinite(last), last, self.latest)
        new_updates, self.updates_done = updates_done - self.updates_done, updates_done
        if self.bar is None:
            return
        self.bar.update(new_updates * self.steps_per_run_update)
        finite = self.latest[np.isfinite(self.latest)]
        self.bar.set_postfix_str(f"return {finite.mean():.1f}" if finite.size else "return -")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --- checkpoints -------------------------------------------------------------------------------


class CheckpointPolicy:
    """When `run` saves the whole batched state to `checkpointer` (None: never).

    After every `every` chunks (counted from update 0, so a resumed run saves at the same
    updates as an uninterrupted one), after the last chunk, and after the chunk in which a stop
    was requested; each step at most once. The step and `extra["updates_done"]` are the number
    of updates done. Leaving the `with` block waits until every started save is on disk.
    """

    def __init__(
        self, checkpointer: Checkpointer | None, num_updates: int, chunk_size: int, every: int
    ):
        self.checkpointer = checkpointer
        self.num_updates, self.chunk_size, self.every = num_updates, chunk_size, every
        self.last_saved: int | None = None

    def save(self, updates_done: int, state: Any) -> None:
        """Save `state` as checkpoint `updates_done`, unless it is already saved."""
        if self.checkpointer is None or self.last_saved == updates_done:
            return
        extra = {"updates_done": updates_done, "num_updates": self.num_updates}
        self.checkpointer.save(updates_done, state, extra)
        self.last_saved = updates_done

    def due(self, updates_done: int, stop_requested: bool) -> bool:
        """Whether the policy saves after the chunk that ended at `updates_done` (whether or
        not there is a checkpointer)."""
        return (
            updates_done // self.chunk_size % self.every == 0
            or updates_done == self.num_updates
            or stop_requested
        )

    def after_chunk(self, updates_done: int, state: Any, stop_requested: bool) -> bool:
        """Save if the policy says so for the chunk that ended at `updates_done`; return
        whether it did (or would have, without a checkpointer)."""
        due = self.due(updates_done, stop_requested)
        if due:
            self.save(updates_done, state)
        return due

    def kept_as(self, updates_done: int) -> str:
        """` as checkpoint N in DIR` for messages, or '' without a checkpointer."""
        if self.checkpointer is None:
            return ""
        return f" as checkpoint {updates_done} in {self.checkpointer.directory}"

    def __enter__(self) -> CheckpointPolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.checkpointer is not None:
            self.checkpointer.wait()


# --- the NaN guard -----------------------------------------------------------------------------


class NanGuard:
    """Turns a chunk's per-update finite flags into `TrainingDiverged`.

    `check` gets the flags `finite [runs, updates, quantities]` (see
    `rljax.training.finite_flags`) and the state before the chunk; if any flag is False it
    keeps that state, the last good one, through `checkpoints` (saved as checkpoint
    `updates_before` unless already on disk) and raises the error naming the first bad update,
    the run (`describe(index)`: its label and hyperparameters) and the quantities.
    """

    def __init__(
        self, num_updates: int, describe: Callable[[int], str], checkpoints: CheckpointPolicy
    ):
        self.num_updates, self.describe, self.checkpoints = num_updates, describe, checkpoints

    def check(
        self,
        finite: np.ndarray | None,
        metrics: dict[str, np.ndarray],
        quantities: list[str],
        updates_before: int,
        good_state: Any,
    ) -> None:
        """Raise `TrainingDiverged` if a flag of this chunk is False (None: not checked)."""
        if finite is None or finite.all():
            return
        self.checkpoints.save(updates_before, good_state)
        raise _divergence(
            finite,
            metrics,
            quantities,
            updates_before,
            self.num_updates,
            self.describe,
            self.checkpoints.kept_as(updates_before),
        )


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


# --- signals -----------------------------------------------------------------------------------


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


def interrupted(
    signal_number: int, updates_done: int, num_updates: int, checkpoints: CheckpointPolicy
) -> RunInterrupted:
    """The error for a run stopped by a signal after update `updates_done` (its checkpoint
    saved by `checkpoints`)."""
    name = signal.Signals(signal_number).name
    return RunInterrupted(
        f"{name}: stopped after update {updates_done} of {num_updates}; "
        f"checkpoint {updates_done} is in {checkpoints.checkpointer.directory}",
        signal_number,
        updates_done,
    )


# --- timing ------------------------------------------------------------------------------------


class Throughput:
    """The first chunk's wall time (it includes compilation) apart from the env steps/s of the
    later chunks. `steps_per_update` counts every run of the batch."""

    def __init__(self, steps_per_update: int):
        self.steps_per_update = steps_per_update
        self.compile_seconds = 0.0
        self._chunk_start = 0.0
        self._steady_start: float | None = None
        self._steady_steps = 0

    def chunk_started(self) -> None:
        self._chunk_start = time.perf_counter()

    def chunk_done(self, num_valid: int) -> None:
        """Count a chunk of `num_valid` updates whose results are on the host."""
        if self._steady_start is None:
            self.compile_seconds = time.perf_counter() - self._chunk_start
            self._steady_start = time.perf_counter()
        else:
            self._steady_steps += self.steps_per_update * num_valid

    def steady_steps_per_second(self) -> float:
        """Env steps/s after the first chunk, until now; NaN with one chunk only."""
        if not self._steady_steps:
            return float("nan")
        return self._steady_steps / (time.perf_counter() - self._steady_start)
