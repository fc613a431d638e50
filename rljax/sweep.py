"""Sweeps of seeds x hyperparameters, sharded over every device of every host.

A sweep is one vmapped batch of runs (`rljax.training.run`), so it compiles one program
however many seeds and hyperparameter values it holds. This module spreads that batch's runs
axis over a device mesh with JAX's own sharding (`NamedSharding(mesh, P("runs"))`: XLA
partitions the vmapped program, each device trains its slice of runs, and no run talks to
another) and over hosts with `jax.distributed`:

    spec = grid(PPOConfig(), seeds=range(4), learning_rate=(1e-4, 3e-4, 1e-3, 3e-3))
    result = sweep(PPO(spec.config), spec)          # RunResult, metrics [16 runs, updates]
    spec.groups()                                   # {"learning_rate=0.0001": [0, 1, 2, 3], ...}

- Only traced coefficients can be swept (the fields of the algorithm's hparams dataclass,
  `sweepable_fields`): they are pytree leaves, so every value runs through the same compiled
  program. A static field (num_envs, hidden_sizes, env, ...) changes shapes, hence the
  program, and is refused with a `ConfigError`.
- A batch that does not divide by the device count is padded with copies of its last run;
  padded runs are dropped from everything returned and from the progress bar.
- Multi-host: every host runs the same program, after `jax.distributed.initialize()` has
  joined them (`experiments.sweep.initialize_distributed` does it from Slurm, Cloud TPU or
  explicit coordinator flags; it must run before `import rljax`, because gymnax creates
  arrays, hence JAX's backend, at import). Every host builds the same global batch and hands
  its own devices their slices (`jax.make_array_from_callback`); metrics and evaluations are
  gathered with `process_allgather`, and only process 0 shows progress and calls `on_chunk`
  (so only it writes files). See docs/cluster.md for launch recipes.
- Checkpoints (`sweep(..., checkpointer=...)`, as `rljax.run`) hold the padded, sharded
  state; `state_template` gives what `Checkpointer.restore` needs to read one back, and
  `sweep(..., state=state, updates_done=step)` continues bitwise on a mesh of the same size.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from rljax.config import ConfigError
from rljax.driver import Progress
from rljax.training import (
    Algorithm,
    ChunkCallback,
    RunOptions,
    RunResult,
    run,
    run_options,
    seed_keys,
    stack_hparams,
)

if TYPE_CHECKING:
    from rljax.checkpoint import Checkpointer

RUNS_AXIS = "runs"


# --- what to run ------------------------------------------------------------------------------


def sweepable_fields(config: Any) -> tuple[str, ...]:
    """Config fields that are traced leaves of `config.hparams()`, hence sweepable in one
    compiled program. Everything else in the config is static structure."""
    traced = {f.name for f in dataclasses.fields(type(config.hparams()))}
    return tuple(f.name for f in dataclasses.fields(config) if f.name in traced)


def check_sweepable(config: Any, field: str, values: Sequence[Any] = ()) -> None:
    """Raise `ConfigError` unless `field` is a traced coefficient of `config`."""
    name = type(config).__name__
    names = {f.name for f in dataclasses.fields(config)}
    sweepable = sweepable_fields(config)
    allowed = ", ".join(sweepable)
    if field not in names:
        raise ConfigError(
            f"{name} has no field {field!r} to sweep. Fix: sweep one of its traced "
            f"coefficients: {allowed}."
        )
    if field not in sweepable:
        # (values as typed; one quoted where it holds a newline or other unprintable text)
        shown = ",".join(str(v) if str(v).isprintable() else repr(str(v)) for v in values)
        shown = shown or "..."
        raise ConfigError(
            f"{name}.{field}={shown} cannot be swept: {field} is static (it changes shapes or "
            f"the compiled program, so its values cannot share one vmapped batch). Fix: sweep "
            f"one of the traced coefficients ({allowed}), and run a separate sweep per "
            f"{field} value (CLI flag --{field.replace('_', '-')} VALUE)."
        )


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: a seed and the config fields it overrides."""

    seed: int
    overrides: tuple[tuple[str, Any], ...]

    @property
    def label(self) -> str:
        """The overrides as `field=value` pairs: the same for every seed of a grid point."""
        return (
            " ".join(
                f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.overrides
            )
            or "base"
        )


@dataclass(frozen=True)
class SweepSpec:
    """A base config and the runs of a sweep (seed fastest within each grid point)."""

    config: Any
    runs: tuple[SweepRun, ...]

    def __post_init__(self) -> None:
        if not self.runs:
            raise ConfigError("a sweep needs at least one run. Fix: pass at least one seed.")
        for field in {field for r in self.runs for field, _ in r.overrides}:
            check_sweepable(self.config, field)

    def configs(self) -> list[Any]:
        """Each run's config (validated: a bad value raises `ConfigError` here)."""
        return [dataclasses.replace(self.config, **dict(r.overrides)) for r in self.runs]

    def hparams(self) -> Any:
        """The runs' traced coefficients, stacked `[runs, ...]`."""
        return stack_hparams([c.hparams() for c in self.configs()])

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def groups(self) -> dict[str, list[int]]:
        """Run indices per grid point (label), in order of first appearance."""
        out: dict[str, list[int]] = {}
        for i, r in enumerate(self.runs):
            out.setdefault(r.label, []).append(i)
        return out


def grid(config: Any, seeds: Iterable[int], **axes: Sequence[Any]) -> SweepSpec:
    """Every combination of the `axes` values (field -> values), each with every seed.

    `grid(PPOConfig(), range(4), learning_rate=(1e-4, 1e-3), gamma=(0.9, 0.99))` has
    2 * 2 * 4 = 16 runs.
    """
    for field, values in axes.items():
        check_sweepable(config, field, values)
    names = list(axes)
    points = [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]
    return runs_list(config, seeds, points)


def runs_list(
    config: Any, seeds: Iterable[int], points: Sequence[Sequence[tuple[str, Any]]]
) -> SweepSpec:
    """Each of `points` (a list of `(field, value)` overrides) with every seed."""
    seeds = [int(s) for s in seeds]
    runs = tuple(SweepRun(s, tuple(p)) for p in points for s in seeds)
    return SweepSpec(config, runs)


def parse_axis(config: Any, text: str) -> tuple[str, tuple[Any, ...]]:
    """`"learning-rate=1e-4,3e-4"` -> `("learning_rate", (1e-4, 3e-4))`, values cast to the
    field's type; raises `ConfigError` for an unknown or static field or an unparsable value."""
    field, sep, raw = text.partition("=")
    field = field.strip().lstrip("-").replace("-", "_")
    if not sep or not field or not raw.strip():
        raise ConfigError(
            f"sweep axis {text!r} is not FIELD=V1,V2,... Fix: e.g. learning-rate=1e-4,3e-4"
        )
    items = [v.strip() for v in raw.split(",") if v.strip()]
    check_sweepable(config, field, items)
    cast = type(getattr(config, field))
    try:
        values = tuple(cast(v) for v in items)
    except ValueError:
        raise ConfigError(
            f"{type(config).__name__}.{field}: cannot read {raw!r} as {cast.__name__} values. "
            f"Fix: pass comma-separated numbers, e.g. {field.replace('_', '-')}=0.1,0.2"
        ) from None
    return field, values


# --- devices ----------------------------------------------------------------------------------


def runs_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named "runs" over `devices` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (RUNS_AXIS,), axis_types=(AxisType.Auto,))


def even_mesh(num_runs: int) -> Mesh:
    """A runs mesh over the most local devices that split `num_runs` evenly: no padded runs,
    so a checkpoint does not depend on the device count (on 8 devices: 4 seeds use 4, 6 use
    6, 12 use 6, 16 use 8; 5 seeds on 4 devices use 1)."""
    devices = jax.local_devices()
    size = max(d for d in range(1, min(num_runs, len(devices)) + 1) if num_runs % d == 0)
    return runs_mesh(devices[:size])


def pad_runs(tree: Any, multiple: int) -> tuple[Any, int]:
    """Pad every leaf's leading runs axis to a multiple of `multiple` with copies of the last
    run. Returns the padded tree (numpy) and the number of real runs."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(tree)]
    num_runs = leaves[0].shape[0]
    extra = -num_runs % multiple

    def pad(x):
        x = np.asarray(x)
        return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)]) if extra else x

    return jax.tree.map(pad, tree), num_runs


def shard_runs(tree: Any, mesh: Mesh) -> Any:
    """Global arrays split along the runs axis over `mesh`, from host numpy data every process
    holds in full; each process materialises only its own devices' slices."""
    sharding = NamedSharding(mesh, PartitionSpec(RUNS_AXIS))

    def place(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(place, tree)


def gather_runs(x: jax.Array, num_runs: int | None = None) -> np.ndarray:
    """Numpy copy of a (possibly multi-host) sharded array, on every process, first
    `num_runs` runs only (the rest is padding)."""
    if jax.process_count() > 1 and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)[:num_runs]


def is_main_process() -> bool:
    return jax.process_index() == 0


# --- running ----------------------------------------------------------------------------------


SWEEP = RunOptions(description="sweep")
"""The sweep functions' default options: `rljax.run`'s, with the progress bar labelled "sweep"."""


def sweep(
    algo: Algorithm,
    spec: SweepSpec,
    mesh: Mesh | None = None,
    options: RunOptions | None = None,
    **keywords: Any,
) -> RunResult:
    """Train every run of `spec` as one vmapped batch sharded over `mesh` (default: all
    devices); `options` and `keywords` are `sweep_batch`'s (`run_labels` default to
    `spec_labels(spec)`). `algo` is built from `spec.config`; results are in `spec.runs` order
    (labels: `spec.runs[i].label`, grouped by `spec.groups()`)."""
    if (options or SWEEP).run_labels is None:
        keywords.setdefault("run_labels", spec_labels(spec))
    return sweep_batch(algo, seed_keys(spec.seeds), spec.hparams(), mesh, options, **keywords)


def spec_labels(spec: SweepSpec) -> list[str]:
    """`seed=3 learning_rate=0.001` per run: how divergence messages name a sweep's runs."""
    return [f"seed={r.seed}" + (f" {r.label}" if r.overrides else "") for r in spec.runs]


def _padded(keys: Any, hparams: Any, mesh: Mesh) -> tuple[Any, Any, int]:
    """Keys and hparams padded to a multiple of the mesh size and sharded over it."""
    (keys, hparams), num_runs = pad_runs((keys, hparams), mesh.size)
    keys, hparams = shard_runs((keys, hparams), mesh)
    return keys, hparams, num_runs


def state_template(algo: Algorithm, keys: Any, hparams: Any, mesh: Mesh | None = None) -> Any:
    """Shapes, dtypes and shardings of the padded, sharded batched state that `sweep_batch`
    trains (and checkpoints) for these keys and hparams, without computing it: the template
    `Checkpointer.restore` needs to resume a sweep on `mesh` (default: all devices).
    `Checkpointer.restore` places each leaf with the template's sharding, so the restored
    state is split over the runs axis exactly as a fresh sweep's is."""
    mesh = runs_mesh() if mesh is None else mesh
    keys, hparams, _ = _padded(keys, hparams, mesh)
    shapes = jax.eval_shape(jax.vmap(algo.init), keys, hparams)
    sharding = NamedSharding(mesh, PartitionSpec(RUNS_AXIS))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def sweep_batch(
    algo: Algorithm,
    keys: Any,
    hparams: Any,
    mesh: Mesh | None = None,
    options: RunOptions | None = None,
    *,
    on_chunk: ChunkCallback | None = None,
    state: Any = None,
    updates_done: int = 0,
    checkpointer: Checkpointer | None = None,
    on_checkpoint: Callable[[int, Any], None] | None = None,
    **option_keywords: Any,
) -> RunResult:
    """`rljax.run` over keys `[runs, 2]` and hparams `[runs, ...]`, padded to a multiple of
    the mesh size and sharded over it. The result holds only the real runs: metrics and
    evaluations as numpy on every process, the final state as (sharded) device arrays.
    Progress (one bar, env steps/s of the real runs, ETA, mean latest return) and `on_chunk`
    happen on process 0 only.

    `options` (default `SWEEP`; its fields can also be passed as keywords), `checkpointer`,
    `on_checkpoint` (single-process runs only; the state includes padded runs at the end),
    `state` and `updates_done` are `run`'s: checkpoints hold the padded, sharded state, so a
    resumed sweep restores with `state_template(algo, keys, hparams, mesh)` on a mesh of the
    same size. `run_labels` name the real runs in divergence messages (padded runs are named
    after their original).
    """
    options = run_options(options, option_keywords, SWEEP)
    mesh = runs_mesh() if mesh is None else mesh
    keys, hparams, num_runs = _padded(keys, hparams, mesh)
    padded_runs = keys.shape[0]
    run_labels = options.run_labels
    if run_labels is not None:
        run_labels += (f"{run_labels[-1]} (padding)",) * (padded_runs - num_runs)
    progress = Progress(
        options.progress and is_main_process(),
        num_runs,
        algo.num_updates,
        algo.steps_per_update,
        options.description,
        initial=updates_done,
    )

    def chunk_done(updates: int, metrics: dict[str, np.ndarray]) -> None:
        progress.update(updates, metrics)
        if on_chunk is not None and is_main_process():
            on_chunk(updates, metrics)

    with progress:
        result = run(
            algo,
            keys,
            hparams,
            dataclasses.replace(options, progress=False, run_labels=run_labels),
            on_chunk=chunk_done,
            to_host=lambda x: gather_runs(x, num_runs),
            state=state,
            updates_done=updates_done,
            checkpointer=checkpointer,
            # Host pictures of a state sharded over several processes would need every
            # process to take part: single-process runs only.
            on_checkpoint=on_checkpoint if jax.process_count() == 1 else None,
        )
    state = result.state
    if padded_runs != num_runs:
        state = jax.jit(lambda s: jax.tree.map(lambda x: x[:num_runs], s))(state)
    return dataclasses.replace(
        result,
        state=state,
        env_steps=num_runs * algo.num_updates * algo.steps_per_update,
        steady_steps_per_second=result.steady_steps_per_second * num_runs / padded_runs,
    )


def summarize(spec: SweepSpec, eval_returns: np.ndarray) -> dict[str, dict[str, float]]:
    """Per grid point: mean and std over seeds of each run's mean evaluation return."""
    per_run = np.asarray(eval_returns).mean(axis=1)
    return {
        label: {
            "mean": float(per_run[idx].mean()),
            "std": float(per_run[idx].std()),
            "runs": len(idx),
        }
        for label, idx in spec.groups().items()
    }


__all__ = [
    "SWEEP",
    "SweepRun",
    "SweepSpec",
    "check_sweepable",
    "even_mesh",
    "gather_runs",
    "grid",
    "is_main_process",
    "pad_runs",
    "parse_axis",
    "runs_list",
    "runs_mesh",
    "shard_runs",
    "spec_labels",
    "state_template",
    "summarize",
    "sweep",
    "sweep_batch",
    "sweepable_fields",
]
