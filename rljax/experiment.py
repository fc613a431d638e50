"""What every experiment module shares: seed/output arguments and the host-side driver.

An experiment module (e.g. `experiments/ppo.py`) only declares its config and calls
`run_experiment`, which trains all seeds in one vmapped batch with a progress bar, writes the
run folder (`rljax.results`), saves checkpoints of the whole training state between chunks
(`rljax.checkpoint`), optionally logs to TensorBoard / W&B (`rljax.loggers`) and draws the
learning curve (`rljax.plotting`).

A stopped run (Ctrl-C, SIGTERM, a killed process) continues with `--resume RUN_DIR` from its
last checkpoint, bitwise as if it had not stopped. Exit status: 0 done, 1 training diverged
(NaN/inf; the last good checkpoint is kept), 2 bad input or an unusable checkpoint, 128 + the
signal's number when stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np

from rljax import config as cfg
from rljax import loggers, memory
from rljax.config import ConfigError
from rljax.plotting import plot_learning_curves
from rljax.results import RunWriter, new_run_dir
from rljax.training import (
    RunInterrupted,
    RunOptions,
    RunResult,
    TrainingDiverged,
    seed_keys,
    stack_hparams,
)


def default_compilation_cache() -> str:
    """`$RLJAX_COMPILATION_CACHE`, else `$XDG_CACHE_HOME/rljax/xla` (`~/.cache/rljax/xla`)."""
    if "RLJAX_COMPILATION_CACHE" in os.environ:
        return os.environ["RLJAX_COMPILATION_CACHE"]
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_home, "rljax", "xla")


def enable_compilation_cache(path: str) -> None:
    """Use JAX's persistent compilation cache in `path` ('' leaves it off).

    A second run of the same experiment then loads its compiled programs instead of
    compiling them (measured: the first chunk of a 4-seed CartPole run, compile included,
    went from 6.6 s to 1.4 s; see benchmarks/RESULTS.md).
    """
    if not path:
        return
    from jax.experimental.compilation_cache import compilation_cache

    if jax.config.jax_compilation_cache_dir != path:
        # JAX opens its cache once per process; a new folder needs the old one closed first.
        compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """While the block runs, Python's cyclic garbage collector skips every object that exists
    when it starts (the imported libraries: ~370,000 objects with jax, flax, brax and
    xminigrid loaded), and collects only what the run creates. Tracing and lowering allocate
    hundreds of thousands of objects, and each full collection walked the whole heap:
    `gc.freeze` took 0.1-0.25 s off the tracing and lowering of the first chunk of
    `experiments.ppo`, `sac` and `recurrent_ppo` (benchmarks/RESULTS.md, "Session 33").
    The objects are handed back to the collector when the block ends."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass(frozen=True)
class ExperimentArgs:
    seeds: int = 4
    """Number of seeds, trained together as one vmapped batch."""
    seed_offset: int = 0
    """Seeds are seed_offset, seed_offset + 1, ..."""
    out_dir: str = "runs"
    """Parent folder of the run folder."""
    chunk_size: int = 64
    """Updates per compiled chunk; progress and metrics are written between chunks."""
    progress: bool = True
    """Show a progress bar."""
    compilation_cache: str = default_compilation_cache()
    """Folder of JAX's persistent compilation cache ('' to disable); env RLJAX_COMPILATION_CACHE."""
    resume: str = ""
    """Run folder to continue from its last checkpoint. Its config.json supplies every default,
    so `--resume RUN_DIR` alone continues the run; flags that would change the run (config,
    seeds, chunk size) are refused."""
    checkpoint_every: int = 4
    """Chunks between checkpoints of the whole training state (0: none); one is also saved at
    the end and when SIGINT/SIGTERM stops the run."""
    keep_checkpoints: int = 3
    """How many of the latest checkpoints to keep."""
    tensorboard: bool = False
    """Also log metrics to RUN_DIR/tensorboard (needs tensorboardX)."""
    wandb: bool = False
    """Also log metrics to Weights & Biases (needs wandb)."""
    wandb_project: str = "rljax"
    """W&B project, with --wandb."""

    def validate(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "seeds", "chunk_size", "keep_checkpoints")
        cfg.check_non_negative(self, "seed_offset", "checkpoint_every")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.seeds))


RUN_DEFINING_ARGS = ("seeds", "seed_offset", "chunk_size")
"""Arguments besides the config that change what a run computes (chunk boundaries included),
so a resumed run must keep them."""


def fingerprint(name: str, config: Any, args: ExperimentArgs) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: algorithm, config, seeds, chunking and the
    versions of rljax and jax (another version may not reproduce the run bitwise)."""
    import rljax

    return {
        "algorithm": name,
        "config": config,
        "seeds": args.seed_list,
        "chunk_size": args.chunk_size,
        "versions": {"rljax": rljax.__version__, "jax": jax.__version__},
    }


def experiment_run_options(
    args: ExperimentArgs, description: str, run_labels: Sequence[str] | None = None
) -> RunOptions:
    """`rljax.run`'s options from the command line's: chunking, progress bar, checkpoint
    interval (`--checkpoint-every 0` saves none: the caller passes no checkpointer then)."""
    return RunOptions(
        chunk_size=args.chunk_size,
        progress=args.progress,
        description=description,
        checkpoint_every=max(1, args.checkpoint_every),
        run_labels=None if run_labels is None else tuple(run_labels),
    )


def run_experiment(
    name: str,
    algo: Any,
    config: Any,
    args: ExperimentArgs,
    on_checkpoint: Callable[[Path, Any, int, Any], None] | None = None,
) -> tuple[Path, RunResult]:
    """Train `algo` on every seed of `args` (or continue `args.resume`), the seeds split over
    the most devices that divide them evenly (`rljax.sweep.even_mesh`), write the run folder
    and print where it is. `on_checkpoint(run_dir, algo, updates_done, state)` runs at every
    checkpoint (`rljax.run`'s hook)."""
    from rljax.checkpoint import Checkpointer
    from rljax.sweep import even_mesh, state_template, sweep_batch

    loggers.require(args.tensorboard, args.wandb)
    enable_compilation_cache(args.compilation_cache)
    seeds = args.seed_list
    if args.resume:
        run_dir = Path(args.resume)
        writer = RunWriter(run_dir, algo.steps_per_update)
    else:
        # A loop over methods names its method too (`ued-accel-Maze-13x13-...`).
        method = getattr(config, "method", None)
        run_dir = new_run_dir(args.out_dir, "-".join(filter(None, (name, method, config.env))))
        writer = RunWriter(run_dir, algo.steps_per_update)
        writer.write_config({"algorithm": name, "args": asdict(args), "config": config})
    note_rounding(config, algo)
    # A loop over nested configs builds its coefficients from the built algorithm.
    coefficients = getattr(algo, "hparams", config.hparams)
    keys, hparams = seed_keys(seeds), stack_hparams([coefficients()] * len(seeds))
    mesh = even_mesh(len(seeds))
    checkpointer = None
    if args.checkpoint_every or args.resume:
        checkpointer = Checkpointer(
            run_dir / "checkpoints", fingerprint(name, config, args), keep=args.keep_checkpoints
        )
    outputs: list[Any] = []
    try:
        state, updates_done = None, 0
        if args.resume:
            state, updates_done = restore_latest(
                checkpointer,
                algo.num_updates,
                lambda: state_template(algo, keys, hparams, mesh),
            )
            writer.resume(updates_done)
        if args.tensorboard:
            outputs.append(
                loggers.TensorBoardLogger(
                    run_dir / "tensorboard", algo.steps_per_update, updates_done
                )
            )
        if args.wandb:
            run_config = {"algorithm": name, "seeds": seeds, "config": config}
            outputs.append(
                loggers.WandbLogger(run_dir, args.wandb_project, run_config, algo.steps_per_update)
            )

        def on_chunk(updates: int, metrics: dict[str, np.ndarray]) -> None:
            writer.on_chunk(updates, metrics)
            for output in outputs:
                output.on_chunk(updates, metrics)

        options = experiment_run_options(
            args, f"{name} {config.env} x{len(seeds)} seeds", [f"seed {s}" for s in seeds]
        )
        result = sweep_batch(
            algo,
            keys,
            hparams,
            mesh,
            options,
            on_chunk=on_chunk,
            state=state,
            updates_done=updates_done,
            checkpointer=checkpointer if args.checkpoint_every else None,
            on_checkpoint=None
            if on_checkpoint is None
            else lambda updates, state: on_checkpoint(run_dir, algo, updates, state),
        )
    except RunInterrupted as stopped:
        raise RunInterrupted(
            f"{stopped}. Continue with: python -m experiments.{name} --resume {run_dir}",
            stopped.signal_number,
            stopped.updates_done,
        ) from None
    finally:
        if checkpointer is not None:
            checkpointer.close()
        for output in outputs:
            output.close()
    summary = writer.write_eval(result.eval_returns, seeds)
    metrics = writer.metrics()
    steps = np.arange(1, metrics["episode_return"].shape[1] + 1) * algo.steps_per_update
    plot_learning_curves(
        {name: (steps, metrics["episode_return"])},
        run_dir / "learning_curve.png",
        title=f"{name} on {config.env}",
    )
    if np.isfinite(result.steady_steps_per_second):
        speed = (
            f"{result.steady_steps_per_second:,.0f} env steps/s after the first chunk, "
            f"which took {result.compile_seconds:.1f}s with compilation"
        )
    else:  # one chunk only: nothing to time apart from compilation
        speed = f"{result.env_steps:,} env steps in {result.train_seconds:.1f}s with compilation"
    print(
        f"{name} on {config.env}: final evaluation return {summary['mean_return']:.4g} "
        f"+- {summary['std_return']:.2g} over {len(seeds)} seeds{on_devices(mesh)} ({speed})"
    )
    print(f"run folder: {run_dir}")
    return run_dir, result


def note_rounding(config: Any, algo: Any) -> None:
    """Say on stderr when `--total-timesteps` is not a whole number of updates: the run
    trains the whole updates that fit, not the number asked for."""
    learner = getattr(config, "learner", config)  # UED nests it
    asked = getattr(learner, "total_timesteps", None)
    trained = algo.num_updates * algo.steps_per_update
    if asked is not None and trained != asked:
        flag = "--learner.total-timesteps" if learner is not config else "--total-timesteps"
        print(
            f"note: {flag} {asked:,} is not a whole number of updates of "
            f"{algo.steps_per_update:,} env steps; training {trained:,} "
            f"({algo.num_updates:,} updates)",
            file=sys.stderr,
        )


def on_devices(mesh: Any) -> str:
    """` on 4 devices` where the runs were split over more than one device, else ``."""
    return f" on {mesh.size} devices" if mesh.size > 1 else ""


def restore_latest(
    checkpointer: Any, num_updates: int, template: Callable[[], Any], announce: bool = True
) -> tuple[Any, int]:
    """The latest checkpoint's state and update count, or `(None, 0)` if the run stopped
    before its first checkpoint. `template()` gives the state's shapes, dtypes and shardings
    (called only if there is a checkpoint); `announce` prints what happened (one process of
    a multi-host sweep)."""
    where = checkpointer.directory.parent
    if checkpointer.latest_step() is None:
        if announce:
            print(f"resuming {where}: no checkpoint yet, starting over")
        return None, 0
    step, state, _ = checkpointer.restore(template())
    if announce:
        print(f"resuming {where} from its checkpoint after update {step} of {num_updates}")
    return state, step


def _config_from_json(config_type: type, values: dict[str, Any]) -> Any:
    """A config dataclass from its config.json form: lists back to tuples, nested configs
    rebuilt as the kind their `__type__` names (one of those the field admits)."""
    hints = cfg.field_types(config_type)
    kwargs = {}
    for field in dataclasses.fields(config_type):
        if field.name not in values:
            continue
        value = values[field.name]
        if isinstance(value, dict):
            kinds = cfg.dataclass_types(hints.get(field.name))
            if isinstance(field.default_factory, type) and not kinds:
                kinds = [field.default_factory]
            if not kinds and field.default_factory is not dataclasses.MISSING:
                kinds = [type(field.default_factory())]
            named = [k for k in kinds if k.__name__ == value.get("__type__")]
            value = _config_from_json((named or kinds)[0], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[field.name] = value
    return config_type(**kwargs)


def _flag_value(argv: list[str], flag: str) -> str:
    """The value of `flag` in `argv` ("" if absent), read before tyro parses the command
    line, because it decides the defaults tyro parses against."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(flag, default="")
    return getattr(parser.parse_known_args(argv)[0], flag.lstrip("-").replace("-", "_"))


def _resume_defaults(name: str, config_type: type, args_type: type, argv: list[str]) -> Any:
    """With `--resume RUN_DIR` in `argv`: the arguments RUN_DIR was trained with, to serve as
    the CLI's defaults. None without `--resume`."""
    run_dir = _flag_value(argv, "--resume")
    if not run_dir:
        return None
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(
            f"--resume {run_dir}: {path} does not exist. Fix: pass a run folder written by "
            f"python -m experiments.{name} (its path is printed at the end of a run)."
        )
    stored = json.loads(path.read_text())
    if stored.get("algorithm") != name:
        raise ConfigError(
            f"--resume {run_dir}: that folder holds a {stored.get('algorithm')} run, not {name}. "
            f"Fix: resume it with python -m experiments.{stored.get('algorithm')}."
        )
    arg_names = {f.name for f in dataclasses.fields(ExperimentArgs)}
    stored_args = {k: v for k, v in stored["args"].items() if k in arg_names}
    return args_type(
        **{**stored_args, "resume": run_dir},
        config=_config_from_json(config_type, stored["config"]),
    )


def _suggest_preset(config: Any) -> None:
    """A note on stderr when the env belongs to a preset's family but the run is not using
    that preset's hyperparameters (e.g. `--env Breakout-MinAtar` with CartPole's defaults)."""
    from rljax.presets import suggested_preset

    found = suggested_preset(config)
    if found is not None:
        print(
            f"note: {config.env} runs with {type(config).__name__}'s defaults, not with "
            f"published hyperparameters for it; --preset {found.name} starts from "
            f"{found.source.split(' (')[0]}",
            file=sys.stderr,
        )


def _preset_defaults(config_type: type, args_type: type, argv: list[str], stored: Any) -> Any:
    """With `--preset NAME` in `argv`: the CLI's defaults with the preset's config (flags
    given with it override it). `stored` (the defaults of `--resume`) unchanged otherwise."""
    name = _flag_value(argv, "--preset")
    if not name:
        return stored
    if stored is not None:
        raise ConfigError(
            f"--preset {name} with --resume: a resumed run keeps its own config. Fix: drop "
            "--preset."
        )
    from rljax.presets import preset

    return args_type(preset=name, config=preset(config_type, name))


def _check_resume(args: Any, stored: Any) -> None:
    """Refuse a command line that would change the run being resumed."""
    config_fields = [f.name for f in dataclasses.fields(args.config)]
    changed = [(k, getattr(stored.config, k), getattr(args.config, k)) for k in config_fields]
    changed += [(k, getattr(stored, k), getattr(args, k)) for k in RUN_DEFINING_ARGS]
    changed = [(k, a, b) for k, a, b in changed if a != b]
    if changed:
        shown = ", ".join(f"{k} (run: {a!r}, command line: {b!r})" for k, a, b in changed)
        raise ConfigError(
            f"--resume {args.resume}: the command line changes the run: {shown}. Fix: drop "
            "those flags to continue the run as it was, or start a new run without --resume."
        )


def main(
    name: str,
    config_type: type,
    make_algorithm: Callable[[Any], Any],
    argv: list[str] | None = None,
    description: str | None = None,
    after_run: Callable[[Path, RunResult, Any, Any], None] | None = None,
    on_checkpoint: Callable[[Path, Any, int, Any], None] | None = None,
) -> int:
    """The command line of an experiment module: `ExperimentArgs` plus every field of
    `config_type` as flags (tyro), then `run_experiment` (with `on_checkpoint` at every
    checkpoint, e.g. UED's teacher pictures), then `after_run(run_dir, result, algo, args)` if
    given (a module's extra outputs, e.g. UED's level images). Bad input or an
    unusable checkpoint exits with status 2, a diverged run with 1, each with one line naming
    the problem and the fix, never a traceback; SIGINT/SIGTERM stop at the next chunk with a
    checkpoint."""
    import tyro

    fields = [
        (
            "config",
            Annotated[config_type, tyro.conf.arg(name="")],
            dataclasses.field(default_factory=config_type),
        )
    ]
    from rljax.presets import presets_for

    named = presets_for(config_type)
    if named:
        described = " ".join(p.describe() for p in named.values())
        flag = tyro.conf.arg(
            help=f"Start from published hyperparameters; flags given with it override them. "
            f"{described}",
            metavar="{" + ",".join(named) + "}",
        )
        fields.append(("preset", Annotated[str, flag], dataclasses.field(default="")))
    args_type = dataclasses.make_dataclass(
        f"experiments.{name}", fields, bases=(ExperimentArgs,), frozen=True
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        stored = _resume_defaults(name, config_type, args_type, argv)
        defaults = _preset_defaults(config_type, args_type, argv, stored) if named else stored
        args = cfg.parse_cli(
            lambda: tyro.cli(args_type, args=argv, description=description, default=defaults),
            args_type,
            argv,
        )
        args.validate()
        if stored is not None:
            _check_resume(args, stored)
        # Building the algorithm checks the configs against each other (a curriculum against
        # its task space); its errors name the full flag too.
        algo = cfg.parse_cli(lambda: make_algorithm(args.config), args_type, argv)
        if named and stored is None and not args.preset:
            _suggest_preset(args.config)
        with frozen_heap():
            run_dir, result = run_experiment(name, algo, args.config, args, on_checkpoint)
            if after_run is not None:
                after_run(run_dir, result, algo, args)
    except FAILURES as failure:
        return report_failure(failure)
    return 0


def out_of_memory(error: Exception) -> ConfigError:
    """XLA's RESOURCE_EXHAUSTED as one line: what ran out and what to make smaller."""
    first = next((line for line in str(error).splitlines() if line.strip()), "")
    return ConfigError(
        f"the device ran out of memory ({first.strip()[:200]}). {memory.SHRINK} The run "
        "folder keeps what was written before (config.json, metrics and checkpoints of "
        "finished chunks)."
    )


@dataclass(frozen=True)
class OuterLoopArgs:
    """The host options of an outer loop's command line (ES meta-training, neuroevolution):
    where its run folder goes, resuming one, progress and the compilation cache."""

    out_dir: str = "runs"
    """Parent folder of the run folder."""
    resume: str = ""
    """A run folder to continue from its latest checkpoint (same flags)."""
    progress: bool = True
    """Show a progress bar per generation."""
    compilation_cache: str = default_compilation_cache()
    """Folder of JAX's persistent compilation cache ('' to disable)."""

    def validate(self) -> None:
        cfg.check_types(self)
        if self.resume and not Path(self.resume, "checkpoints").is_dir():
            cfg.fail(
                self,
                "resume",
                "is not a run folder with checkpoints/",
                "pass the folder the run printed",
            )


def subcommand_main(
    commands: dict[str, type],
    argv: list[str] | None,
    run: Callable[[Any], Any],
    description: str | None = None,
) -> int:
    """A command line of subcommands (`commands`: word -> args dataclass with `validate()`):
    parse `argv` (default `sys.argv[1:]`) with tyro, validate, `run(args)`. Bad input exits
    with status 2 and one `error:` line naming the full nested flag, no traceback."""
    import tyro

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # A nested config's error names the full flag (`--es.population-size`).
        root = next((commands[a] for a in argv if a in commands), next(iter(commands.values())))
        args = cfg.parse_cli(
            lambda: tyro.extras.subcommand_cli_from_dict(
                commands, args=argv, description=description
            ),
            root,
            argv,
        )
        args.validate()
        with frozen_heap():
            run(args)
    except FAILURES as failure:
        return report_failure(failure)
    return 0


FAILURES = (ConfigError, TrainingDiverged, RunInterrupted, jax.errors.JaxRuntimeError)
"""What every command line (`main`, `subcommand_main`, `experiments.sweep`, `experiments.mbtl`)
catches and hands to `report_failure`."""


def report_failure(failure: Exception) -> int:
    """Print a command line's failure (one of `FAILURES`) as one line on stderr (never a
    traceback) and return its exit status: 2 for bad input, an unusable checkpoint or XLA
    running out of memory (`out_of_memory`), 1 for a diverged run, 128 + the signal for a run
    stopped by SIGINT/SIGTERM. Any other XLA runtime error is raised again."""
    if isinstance(failure, jax.errors.JaxRuntimeError):
        if "RESOURCE_EXHAUSTED" not in str(failure):
            raise failure
        failure = out_of_memory(failure)
    if isinstance(failure, RunInterrupted):
        print(f"interrupted by {failure}", file=sys.stderr)
        return 128 + failure.signal_number
    print(f"error: {failure}", file=sys.stderr)
    return 1 if isinstance(failure, TrainingDiverged) else 2
