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
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, field
from typing import Annotated, Any

# Imported lazily: rljax imports gymnax, which creates arrays at import and so starts JAX's
# backend, after which `jax.distributed.initialize()` is refused.
ALGORITHMS: dict[str, tuple[str, str, str]] = {
    # name: (module, config class, algorithm class)
    "ppo": ("rljax.agents.ppo", "PPOConfig", "PPO"),
    "pqn": ("rljax.agents.pqn", "PQNConfig", "PQN"),
    "dqn": ("rljax.agents.dqn", "DQNConfig", "DQN"),
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
    flag("--algo", default="ppo", help=f"algorithm: {', '.join(ALGORITHMS)} (default ppo)")
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
    """The command line (see the module docstring). Bad input exits with status 2 and one
    line naming the flag and the fix, never a traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        flags, rest = _sweep_flags().parse_known_args(argv)
        if "-h" in rest or "--help" in rest:
            _sweep_flags().print_help()
            print()
        initialize_distributed(
            flags.coordinator_address,
            _optional_int(flags.num_processes, "--num-processes"),
            _optional_int(flags.process_id, "--process-id"),
            flags.distributed,
        )
        config_type, algo_type = _algorithm(flags.algo)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from rljax import sweep as sw
    from rljax.config import ConfigError

    try:
        args, config = _parse_config(config_type, rest, flags.algo)
        axes_text = [*flags.sweep, *([f"learning_rate={flags.lr}"] if flags.lr else [])]
        axes: dict[str, tuple[Any, ...]] = {}
        for text in axes_text:
            name, values = sw.parse_axis(config, text)
            if name in axes:
                raise ConfigError(f"{name} is swept twice. Fix: give its values once.")
            axes[name] = values
        spec = sw.grid(config, args.seed_list, **axes)
        spec.configs()  # validates every value (e.g. a negative learning rate) before compiling
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_sweep(flags.algo, algo_type(config), spec, args, axes)
    return 0


def _parse_config(config_type: type, argv: list[str], name: str) -> tuple[Any, Any]:
    """`ExperimentArgs` (seeds, output, chunking, cache) and the base config, from tyro."""
    import dataclasses

    import tyro

    from rljax.experiment import ExperimentArgs

    unprefixed = tyro.conf.arg(name="")
    command_type = dataclasses.make_dataclass(
        "SweepCommand",
        [
            (part, Annotated[part_type, unprefixed], field(default_factory=part_type))
            for part, part_type in (("args", ExperimentArgs), ("config", config_type))
        ],
        frozen=True,
    )
    command = tyro.cli(
        command_type, args=argv, description=f"{name} sweep: {__doc__.split(chr(10))[0]}"
    )
    command.args.validate()
    for unsupported in ("resume", "tensorboard", "wandb"):  # single-run features, not sweeps yet
        if getattr(command.args, unsupported, None):
            from rljax.config import fail

            fail(command.args, unsupported, "is not supported by experiments.sweep yet", "drop it")
    return command.args, command.config


def run_sweep(name: str, algo: Any, spec: Any, args: Any, axes: dict[str, tuple]) -> Any:
    """Train the sweep; on process 0 write the run folder, plot, and print the table."""
    import jax
    import numpy as np

    from rljax.experiment import enable_compilation_cache
    from rljax.plotting import plot_learning_curves
    from rljax.results import RunWriter, new_run_dir, write_json
    from rljax.sweep import is_main_process, summarize, sweep

    enable_compilation_cache(args.compilation_cache)
    config = spec.config
    main_process = is_main_process()
    writer = run_dir = None
    if main_process:
        run_dir = new_run_dir(args.out_dir, f"sweep-{name}-{config.env}")
        writer = RunWriter(run_dir, algo.steps_per_update)
        runs = [{"seed": r.seed, "overrides": dict(r.overrides)} for r in spec.runs]
        writer.write_config(
            {
                "algorithm": name,
                "args": asdict(args),
                "config": config,
                "axes": axes,
                "runs": runs,
                "processes": jax.process_count(),
                "devices": jax.device_count(),
            }
        )
    result = sweep(
        algo,
        spec,
        chunk_size=args.chunk_size,
        progress=args.progress,
        on_chunk=writer.on_chunk if writer is not None else None,
        description=f"{name} {config.env} x{len(spec.runs)} runs on {jax.device_count()} devices",
    )
    if not main_process:
        return result
    writer.write_eval(result.eval_returns, spec.seeds)
    table = summarize(spec, result.eval_returns)
    write_json(run_dir / "sweep.json", table)
    steps = np.arange(1, algo.num_updates + 1) * algo.steps_per_update
    returns = result.metrics["episode_return"]
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


if __name__ == "__main__":
    sys.exit(main())
