"""What every experiment module shares: seed/output arguments and the host-side driver.

An experiment module (e.g. `experiments/ppo.py`) only declares its config and calls
`run_experiment`, which trains all seeds in one vmapped batch with a progress bar, writes the
run folder (`rljax.results`) and draws the learning curve (`rljax.plotting`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np

from rljax import config as cfg
from rljax.plotting import plot_learning_curves
from rljax.results import RunWriter, new_run_dir
from rljax.training import RunResult, run, seed_keys, stack_hparams


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
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


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

    def validate(self) -> None:
        cfg.check_positive(self, "seeds", "chunk_size")
        cfg.check_non_negative(self, "seed_offset")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.seeds))


def run_experiment(
    name: str, algo: Any, config: Any, args: ExperimentArgs
) -> tuple[Path, RunResult]:
    """Train `algo` on every seed of `args`, write the run folder and print where it is."""
    enable_compilation_cache(args.compilation_cache)
    run_dir = new_run_dir(args.out_dir, f"{name}-{config.env}")
    writer = RunWriter(run_dir, algo.steps_per_update)
    writer.write_config({"algorithm": name, "args": asdict(args), "config": config})
    seeds = args.seed_list
    result = run(
        algo,
        seed_keys(seeds),
        stack_hparams([config.hparams()] * len(seeds)),
        chunk_size=args.chunk_size,
        progress=args.progress,
        on_chunk=writer.on_chunk,
        description=f"{name} {config.env} x{len(seeds)} seeds",
    )
    summary = writer.write_eval(result.eval_returns, seeds)
    steps = np.arange(1, algo.num_updates + 1) * algo.steps_per_update
    plot_learning_curves(
        {name: (steps, result.metrics["episode_return"])},
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
        f"{name} on {config.env}: final evaluation return {summary['mean_return']:.1f} "
        f"+- {summary['std_return']:.1f} over {len(seeds)} seeds ({speed})"
    )
    print(f"run folder: {run_dir}")
    return run_dir, result


def main(
    name: str,
    config_type: type,
    make_algorithm: Callable[[Any], Any],
    argv: list[str] | None = None,
    description: str | None = None,
) -> int:
    """The command line of an experiment module: `ExperimentArgs` plus every field of
    `config_type` as flags (tyro), then `run_experiment`. Bad input exits with status 2 and
    one line naming the field and the fix, never a traceback."""
    import tyro

    from rljax.config import ConfigError

    args_type = dataclasses.make_dataclass(
        f"{name.capitalize()}Args",
        [
            (
                "config",
                Annotated[config_type, tyro.conf.arg(name="")],
                dataclasses.field(default_factory=config_type),
            )
        ],
        bases=(ExperimentArgs,),
        frozen=True,
    )
    try:
        args = tyro.cli(args_type, args=argv, description=description)
        args.validate()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_experiment(name, make_algorithm(args.config), args.config, args)
    return 0
