"""Sweep seeds x hyperparameters of any algorithm as one batch sharded over every device.

    python -m experiments.sweep --algo ppo --seeds 16 --lr 1e-4,3e-4,1e-3
    python -m experiments.sweep --algo pqn --seeds 8 --sweep q-lambda=0.5,0.9 --sweep gamma=0.9,0.99
    python -m experiments.sweep --algo ppo --help        # sweep flags, then every PPOConfig flag

`--sweep FIELD=V1,V2,...` (repeatable; `--lr` is short for `--sweep learning-rate=...`) adds a
grid axis over a traced coefficient; every combination runs with every seed, all in one
compiled program (`rljax.sweep`). Static fields (num_envs, hidden_sizes, env, ...) change
shapes and are refused. Any other config flag sets the base config for every run.

Multi-host (docs/cluster.md): run the same command on every host. Under Slurm (`srun`) or on a
multi-worker Cloud TPU slice the hosts join automatically; elsewhere pass
`--coordinator-address HOST:PORT --num-processes N --process-id I`. Process 0 writes the run
folder: config.json (every run's seed and overrides), metrics.npz (`[runs, updates]`),
metrics.jsonl, eval.json, sweep.json (mean +- std final return per grid point) and
learning_curve.png (one curve per grid point, mean over its seeds).

Checkpoints of the whole training state go to RUN_DIR/checkpoints every `--checkpoint-every`
chunks; a stopped sweep continues bitwise with `--resume RUN_DIR` (its config.json supplies the
algorithm, config, axes and seeds; flags that change them are refused). Exit status: 0 done,
1 training diverged, 2 bad input or an unusable checkpoint, 128 + the signal's number when
stopped by SIGINT/SIGTERM. Across hosts every process saves and restores its own shards of
the state into process 0's run folder, so RUN_DIR must be on a filesystem all hosts share.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import field, fields
from typing import Annotated, Any

# Imported lazily: rljax imports gymnax, which creates arrays at import and so starts JAX's
# backend, after which `jax.distributed.initialize()` is refused.
ALGORITHMS: dict[str, tuple[str, str, str]] = {
    # name: (module, config class, algorithm class)
    "ppo": ("rljax.agents.ppo", "PPOConfig", "PPO"),
    "pqn": ("rljax.agents.pqn", "PQNConfig", "PQN"),
    "dqn": ("rljax.agents.dqn", "DQNConfig", "DQN"),
    "sac": ("rljax.agents.sac", "SACConfig", "SAC"),
    "mdpo_off": ("rljax.agents.mdpo_off", "OffMDPOConfig", "OffMDPO"),
    "recurrent_ppo": ("rljax.agents.recurrent_ppo", "RecurrentPPOConfig", "RecurrentPPO"),
}


class UsageError(ValueError):
    """Bad sweep-level flags (algorithm, distributed setup), found before JAX starts."""


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    mode: str = "auto",
    env: Mapping[str, str] = os.environ,
) -> bool:
    """Join the processes of a multi-host job with `jax.distributed.initialize()`.

    Call it before `import rljax` (see ALGORITHMS). `mode`:
      - "auto": explicit coordinator arguments, else a Slurm step with several tasks
        (`srun`: SLURM_STEP_NODELIST set, SLURM_NTASKS > 1), else a multi-worker Cloud TPU
        slice (TPU_PROCESS_ADDRESSES / TPU_WORKER_HOSTNAMES listing several hosts);
        otherwise the run stays single-process.
      - "on": always initialise and let JAX detect the cluster (e.g. a TPU pod whose workers
        only the metadata server knows).
      - "off": never.
    Returns whether the distributed runtime was initialised.
    """
    if mode not in ("auto", "on", "off"):
        raise UsageError(f"--distributed {mode!r} is not valid. Fix: use auto, on or off.")
    explicit = (coordinator_address, num_processes, process_id)
    if any(v is not None for v in explicit) and None in explicit:
        raise UsageError(
            "--coordinator-address, --num-processes and --process-id go together. Fix: pass "
            "all three or none."
        )
    if mode == "off":
        return False
    import jax

    if coordinator_address is not None:
        if not 0 <= process_id < num_processes:
            raise UsageError(
                f"--process-id {process_id} is not in [0, --num-processes {num_processes}). "
                "Fix: number the processes 0 .. N-1."
            )
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
        return True
    if mode == "on" or launcher_started_several_processes(env):
        jax.distributed.initialize()
        return True
    return False


def launcher_started_several_processes(env: Mapping[str, str]) -> bool:
    """Whether a Slurm step or a Cloud TPU slice started this process as one of several."""
    if "SLURM_STEP_NODELIST" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        return True
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    return len([h for h in hosts.split(",") if h.strip()]) > 1


class _FlagParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message}. Fix: see python -m experiments.sweep --help")


def _sweep_flags() -> argparse.ArgumentParser:
    parser = _FlagParser(prog="python -m experiments.sweep", add_help=False, allow_abbrev=False)
    flag = parser.add_argument
    flag("--algo", help=f"algorithm: {', '.join(ALGORITHMS)} (default ppo, or the resumed run's)")
    flag("--sweep", action="append", default=[], metavar="FIELD=V1,V2", help="a grid axis")
    flag("--lr", metavar="V1,V2", help="short for --sweep learning-rate=V1,V2")
    flag("--distributed", default="auto", help="auto (Slurm/TPU detection), on, off")
    flag("--coordinator-address", metavar="HOST:PORT", help="process 0's address")
    flag("--num-processes", metavar="N", help="processes in the job")
    flag("--process-id", metavar="I", help="this process's index, 0 .. N-1")
    return parser


def _optional_int(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not an integer. Fix: e.g. {flag} 2") from None


def _algorithm(name: str) -> tuple[type, type]:
    if name not in ALGORITHMS:
        raise UsageError(
            f"unknown algorithm {name!r}. Fix: --algo one of {', '.join(sorted(ALGORITHMS))}."
        )
    module, config_name, algo_name = ALGORITHMS[name]
    module = importlib.import_module(module)
    return getattr(module, config_name), getattr(module, algo_name)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring). Bad input or an unusable checkpoint exits
    with status 2, a diverged run with 1, each with one line naming the problem and the fix,
    never a traceback; SIGINT/SIGTERM stop at the next chunk with a checkpoint (exit status
    128 + the signal's number) and `--resume RUN_DIR` continues from it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        flags, rest = _sweep_flags().parse_known_args(argv)
        if "-h" in rest or "--help" in rest:
            _sweep_flags().print_help()
            print()
        stored = _stored_sweep(rest)
        name = flags.algo or (stored["algorithm"] if stored else "ppo")
        if stored is not None and name != stored["algorithm"]:
            raise UsageError(
                f"--resume {stored['run_dir']} holds a {stored['algorithm']} sweep, not {name}. "
                "Fix: drop --algo."
            )
        initialize_distributed(
            flags.coordinator_address,
            _optional_int(flags.num_processes, "--num-processes"),
            _optional_int(flags.process_id, "--process-id"),
            flags.distributed,
        )
        config_type, algo_type = _algorithm(name)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from rljax import sweep as sw
    from rljax.config import ConfigError
    from rljax.experiment import FAILURES, frozen_heap, report_failure

    try:
        args = _parse_args(config_type, rest, name)
        config = args.config
        axes_text = [*flags.sweep, *([f"learning_rate={flags.lr}"] if flags.lr else [])]
        axes: dict[str, tuple[Any, ...]] = {}
        for text in axes_text:
            field_name, values = sw.parse_axis(config, text)
            if field_name in axes:
                raise ConfigError(f"{field_name} is swept twice. Fix: give its values once.")
            axes[field_name] = values
        if stored is not None:
            axes = _resumed_axes(stored, axes, bool(axes_text))
        spec = sw.grid(config, args.seed_list, **axes)
        spec.configs()  # validates every value (e.g. a negative learning rate) before compiling
        if stored is not None and _runs(spec) != stored["runs"]:
            raise ConfigError(
                f"--resume {args.resume}: the command line changes the sweep's runs. Fix: drop "
                "the flags that change seeds or axes."
            )
        with frozen_heap():
            run_sweep(name, algo_type(config), spec, args, axes)
    except FAILURES as failure:
        return report_failure(failure)
    return 0


def _stored_sweep(argv: list[str]) -> dict[str, Any] | None:
    """With `--resume RUN_DIR` in `argv`: RUN_DIR's config.json (plus `run_dir`), checked to
    be a sweep's. None without `--resume`."""
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--resume", default="")
    run_dir = parser.parse_known_args(argv)[0].resume
    if not run_dir:
        return None
    path = Path(run_dir) / "config.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(
            f"--resume {run_dir}: cannot read {path} ({type(error).__name__}). Fix: pass a run "
            "folder written by python -m experiments.sweep (printed at the end of a sweep)."
        ) from None
    if not isinstance(stored, dict) or not {"algorithm", "axes", "runs"} <= set(stored):
        raise UsageError(
            f"--resume {run_dir}: that folder holds no sweep. Fix: resume a single run with "
            "python -m experiments.ALGO --resume, or pass a folder written by "
            "python -m experiments.sweep."
        )
    if stored["algorithm"] not in ALGORITHMS:
        raise UsageError(f"--resume {run_dir}: unknown algorithm {stored['algorithm']!r}.")
    return {**stored, "run_dir": run_dir}


def _resumed_axes(
    stored: dict[str, Any], given: dict[str, tuple[Any, ...]], any_given: bool
) -> dict[str, tuple[Any, ...]]:
    """The resumed sweep's axes; axes on the command line must repeat them exactly."""
    from rljax.config import ConfigError

    axes = {k: tuple(v) for k, v in stored["axes"].items()}
    if any_given and given != axes:
        raise ConfigError(
            f"--resume {stored['run_dir']}: the command line changes the sweep axes (run: "
            f"{axes}, command line: {given}). Fix: drop --sweep/--lr to continue the sweep as "
            "it was, or start a new sweep without --resume."
        )
    return axes


def _runs(spec: Any) -> list[dict[str, Any]]:
    """Every run's seed and overrides, as config.json holds them."""
    return [{"seed": r.seed, "overrides": dict(r.overrides)} for r in spec.runs]


def _parse_args(config_type: type, argv: list[str], name: str) -> Any:
    """`ExperimentArgs` (seeds, output, chunking, checkpoints, cache) with the base config as
    its `config` field, from tyro; with `--resume RUN_DIR` the run folder supplies every
    default and a command line that changes the run is refused (as `rljax.experiment.main`)."""
    import dataclasses

    import tyro

    from rljax.config import fail, parse_cli
    from rljax.experiment import ExperimentArgs, _check_resume, _resume_defaults

    args_type = dataclasses.make_dataclass(
        "SweepArgs",
        [
            (
                "config",
                Annotated[config_type, tyro.conf.arg(name="")],
                field(default_factory=config_type),
            )
        ],
        bases=(ExperimentArgs,),
        frozen=True,
    )
    stored = _resume_defaults(name, config_type, args_type, argv)
    description = f"{name} sweep. {__doc__}"
    args = parse_cli(
        lambda: tyro.cli(args_type, args=argv, description=description, default=stored),
        args_type,
        argv,
    )
    args.validate()
    if stored is not None:
        _check_resume(args, stored)
    for unsupported in ("tensorboard", "wandb"):  # single-run loggers, not sweeps yet
        if getattr(args, unsupported):
            fail(args, unsupported, "is not supported by experiments.sweep yet", "drop it")
    return args


def _experiment_args(args: Any) -> dict[str, Any]:
    """`args` without its config, as config.json's "args" holds them."""
    from rljax.experiment import ExperimentArgs

    return {f.name: getattr(args, f.name) for f in fields(ExperimentArgs)}


def run_sweep(name: str, algo: Any, spec: Any, args: Any, axes: dict[str, tuple]) -> Any:
    """Train the sweep (or continue `args.resume` from its latest checkpoint), checkpointing
    every `args.checkpoint_every` chunks; on process 0 write the run folder, plot, and print
    the table."""
    from pathlib import Path

    import jax
    import numpy as np

    from rljax.checkpoint import Checkpointer
    from rljax.experiment import (
        enable_compilation_cache,
        experiment_run_options,
        fingerprint,
        restore_latest,
    )
    from rljax.plotting import plot_learning_curves
    from rljax.results import RunWriter, new_run_dir, write_json
    from rljax.sweep import is_main_process, runs_mesh, state_template, summarize, sweep
    from rljax.training import RunInterrupted, seed_keys

    enable_compilation_cache(args.compilation_cache)
    config = spec.config
    main_process = is_main_process()
    mesh = runs_mesh()
    checkpointing = bool(args.checkpoint_every or args.resume)
    writer = run_dir = None
    if args.resume:
        run_dir = Path(args.resume)
    elif main_process:
        run_dir = new_run_dir(args.out_dir, f"sweep-{name}-{config.env}")
    if checkpointing and not args.resume and jax.process_count() > 1:
        run_dir = _shared_path(run_dir)  # every process writes its shards under it
    if main_process:
        writer = RunWriter(run_dir, algo.steps_per_update)
    if main_process and not args.resume:
        writer.write_config(
            {
                "algorithm": name,
                "args": _experiment_args(args),
                "config": config,
                "axes": axes,
                "runs": _runs(spec),
                "processes": jax.process_count(),
                "devices": jax.device_count(),
            }
        )
    checkpointer = None
    if checkpointing:
        padded_runs = -(-len(spec.runs) // mesh.size) * mesh.size
        checkpointer = Checkpointer(
            run_dir / "checkpoints",
            {**fingerprint(name, config, args), "runs": _runs(spec), "padded_runs": padded_runs},
            keep=args.keep_checkpoints,
        )
    try:
        state, updates_done = None, 0
        if args.resume:
            state, updates_done = restore_latest(
                checkpointer,
                algo.num_updates,
                lambda: state_template(algo, seed_keys(spec.seeds), spec.hparams(), mesh),
                announce=main_process,
            )
            if writer is not None:
                writer.resume(updates_done)
        description = f"{name} {config.env} x{len(spec.runs)} runs on {mesh.size} devices"
        result = sweep(
            algo,
            spec,
            mesh,
            experiment_run_options(args, description),
            on_chunk=writer.on_chunk if writer is not None else None,
            state=state,
            updates_done=updates_done,
            checkpointer=checkpointer if args.checkpoint_every else None,
        )
    except RunInterrupted as stopped:
        raise RunInterrupted(
            f"{stopped}. Continue with: python -m experiments.sweep --resume {run_dir}",
            stopped.signal_number,
            stopped.updates_done,
        ) from None
    finally:
        if checkpointer is not None:
            checkpointer.close()
    if not main_process:
        return result
    writer.write_eval(result.eval_returns, spec.seeds)
    table = summarize(spec, result.eval_returns)
    write_json(run_dir / "sweep.json", table)
    returns = writer.metrics()["episode_return"]  # every update, those before a resume too
    steps = np.arange(1, returns.shape[1] + 1) * algo.steps_per_update
    plot_learning_curves(
        {label: (steps, returns[idx]) for label, idx in spec.groups().items()},
        run_dir / "learning_curve.png",
        title=f"{name} on {config.env}",
    )
    width = max(len(label) for label in table)
    print(
        f"{name} on {config.env}: final evaluation return per grid point (mean +- std over seeds)"
    )
    for label, row in table.items():
        print(f"  {label:<{width}}  {row['mean']:8.1f} +- {row['std']:6.1f}  ({row['runs']} seeds)")
    print(
        f"{len(spec.runs)} runs on {jax.device_count()} devices ({jax.process_count()} processes), "
        f"{result.env_steps:,} env steps in {result.train_seconds:.1f}s"
    )
    print(f"run folder: {run_dir}")
    return result


def _shared_path(path: Any) -> Any:
    """Process 0's `path` (a `Path`, None elsewhere) on every process, as an absolute `Path`
    (a collective: every process calls it)."""
    from pathlib import Path

    import numpy as np
    from jax.experimental import multihost_utils

    buffer = np.zeros(4096, np.uint8)  # Linux's PATH_MAX, its NUL included: every path fits
    if path is not None:
        encoded = np.frombuffer(str(path.absolute()).encode(), np.uint8)
        buffer[: encoded.size] = encoded
    shared = np.asarray(multihost_utils.broadcast_one_to_all(buffer))
    return Path(bytes(shared[shared > 0]).decode())


if __name__ == "__main__":
    sys.exit(main())
