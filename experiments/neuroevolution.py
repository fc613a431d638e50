"""Neuroevolution: a genetic algorithm (Such et al. 2017) or an evolution strategy (Salimans et
al. 2017) over the weights of a policy network (`rljax.meta.neuroevolution`).

    python -m experiments.neuroevolution ga                        # Acrobot-v1, 50 generations
    python -m experiments.neuroevolution ga --search.policy.env Breakout-MinAtar \\
        --search.policy.activation relu --search.num-generations 200
    python -m experiments.neuroevolution es --search.es.population-size 512
    python -m experiments.neuroevolution ga --resume runs/ga-Acrobot-v1-...
    python -m experiments.neuroevolution ga --help

The population is scored by one vmapped program per generation, split over the local devices
when there are several. The run folder holds config.json, generations.jsonl (per generation:
the deployed policy's score, the population's mean and best fitness, env steps, seconds),
checkpoints/ (every generation; `--resume FOLDER` continues bitwise), policy.npz (the
deployed policy's flat weights: the GA's elite or the ES's mean, rewritten every generation)
and curve.png (score and best member against env steps).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rljax.experiment import OuterLoopArgs, enable_compilation_cache, on_devices, subcommand_main
from rljax.meta.neuroevolution import GA, GAConfig, SearchMetrics, WeightsES, WeightsESConfig
from rljax.results import new_run_dir, read_generations, write_json


@dataclass(frozen=True)
class GAArgs(OuterLoopArgs):
    """Such et al.'s genetic algorithm over the policy's weights."""

    search: GAConfig = field(default_factory=GAConfig)


@dataclass(frozen=True)
class ESArgs(OuterLoopArgs):
    """An evosax strategy (OpenAI-ES by default) over the policy's weights."""

    search: WeightsESConfig = field(default_factory=WeightsESConfig)


def run(args: GAArgs | ESArgs) -> Path:
    from rljax.checkpoint import Checkpointer
    from rljax.sweep import even_mesh

    enable_compilation_cache(args.compilation_cache)
    kind = "ga" if isinstance(args, GAArgs) else "es"
    size = args.search.population_size if kind == "ga" else args.search.es.population_size
    mesh = even_mesh(size)
    loop = (GA if kind == "ga" else WeightsES)(args.search, mesh=mesh if mesh.size > 1 else None)
    env = args.search.policy.env
    run_dir = Path(args.resume) if args.resume else new_run_dir(args.out_dir, f"{kind}-{env}")
    write_json(run_dir / "config.json", {"command": kind, "args": args})
    checkpointer = Checkpointer(run_dir / "checkpoints", loop.fingerprint(), keep=2)
    state = loop.restore(checkpointer) or loop.init()
    history = read_generations(run_dir, state.generation)
    print(
        f"{kind.upper()} over {loop.fitness.num_weights:,} weights of a policy on {env}: "
        f"population {size}{on_devices(mesh)}"
        + (f", resumed at generation {state.generation}" if state.generation else "")
    )

    def on_generation(state, metrics: SearchMetrics) -> None:
        total = (history[-1]["total_env_steps"] if history else 0) + metrics.env_steps
        line = {
            "generation": metrics.generation,
            "score": metrics.score,
            "fitness_mean": metrics.fitness_mean,
            "fitness_max": metrics.fitness_max,
            "env_steps": metrics.env_steps,
            "total_env_steps": total,
            "seconds": metrics.seconds,
        }
        history.append(line)
        with open(run_dir / "generations.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        np.savez(run_dir / "policy.npz", weights=np.asarray(loop.best_weights(state)))
        from tqdm.auto import tqdm

        tqdm.write(
            f"generation {metrics.generation}: score {metrics.score:.2f}, population mean "
            f"{metrics.fitness_mean:.2f}, best {metrics.fitness_max:.2f}, {total:,} env steps",
            file=sys.stdout,
        )

    with checkpointer:
        state = loop.run(
            state, progress=args.progress, on_generation=on_generation, checkpointer=checkpointer
        )
    plot(history, run_dir / "curve.png", f"{kind.upper()} on {env}")
    if history:
        print(f"score after {state.generation} generations: {history[-1]['score']:.2f}")
    print(f"run folder: {run_dir}")
    return run_dir


def plot(history: list[dict], path: Path, title: str) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["total_env_steps"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(steps, [h["score"] for h in history], label="deployed policy (extra episodes)")
    ax.plot(steps, [h["fitness_max"] for h in history], label="best member", alpha=0.6)
    ax.plot(steps, [h["fitness_mean"] for h in history], label="population mean", alpha=0.6)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """`ga` or `es`; bad input exits with status 2 and one line, no traceback."""
    return subcommand_main({"ga": GAArgs, "es": ESArgs}, argv, run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
