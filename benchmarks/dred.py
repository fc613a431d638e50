"""DRED against its baselines on 13x13 mazes with a dataset of structured levels.

Garcin et al. 2024 ("DRED", ICML) train on a dataset of levels from structured generators and
compare, at one env-step budget, VAE-DRED and EL-DRED with uniform sampling over the
dataset, PLR over the dataset and domain randomisation. Here the dataset is 512 levels of
`envs/maze/structured.py` (rooms, braided mazes, caves), and every method is scored on two
held-out sets (`MazeConfig(heldout="dred")`): 24 levels of the same generator that are not
in the dataset, and the UED benchmark's 8 named mazes.

    python benchmarks/dred.py --total-timesteps 1500000 --seeds 3
    python benchmarks/dred.py --methods dred uniform --json out.json

| method       | curriculum                          | new levels (task space)        |
|--------------|-------------------------------------|--------------------------------|
| `dr`         | DR                                  | random walls (num_walls 25)    |
| `uniform`    | DR                                  | uniform over the dataset       |
| `dataset_plr`| DRED with generator none, c = 0,    | the dataset                    |
|              | capacity = dataset (robust PLR over |                                |
|              | the dataset, value-loss rank 0.1)   |                                |
| `dred`       | VAE-DRED                            | the dataset + VAE interpolants |
| `el_dred`    | EL-DRED                             | the dataset + edits            |

Every method spends the same env steps (rollouts without a gradient step count); the
learner is the loop's default recurrent PPO with the papers' maze settings (`maze_learner`).
DRED's reference settings (entropy 0, LSTM 256, 36 workers, 2.65e8 steps) are a GPU job;
the numbers in RESULTS.md are at a CPU budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from ued_learning import run_method

from envs.maze.task_space import MazeConfig
from rljax.curricula import DRConfig, DREDConfig
from rljax.curricula.runner import UEDConfig, maze_learner

METHODS = ("dr", "uniform", "dataset_plr", "dred", "el_dred")


def method_config(method: str, base: UEDConfig, capacity: int) -> UEDConfig:
    """The run config of one row of the module docstring's table."""
    space = base.task_space
    dataset = dataclasses.replace(space, generator="dataset")
    if method == "dr":
        return base.replace(curriculum=DRConfig())
    if method == "uniform":
        return base.replace(curriculum=DRConfig(), task_space=dataset)
    if method == "dataset_plr":
        curriculum = DREDConfig(
            generator="none", capacity=space.dataset_size, grounded_coef_end=0.0
        )
        return base.replace(curriculum=curriculum, task_space=dataset)
    generator = {"dred": "vae", "el_dred": "edit"}[method]
    curriculum = DREDConfig(generator=generator, capacity=capacity)
    return base.replace(curriculum=curriculum, task_space=dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=1_500_000)
    parser.add_argument("--num-levels", type=int, default=16)
    parser.add_argument("--steps-per-eval", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--capacity", type=int, default=4000)
    parser.add_argument("--eval-episodes", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    learner = maze_learner(
        total_timesteps=args.total_timesteps,
        num_envs=args.num_levels,
        learning_rate=args.learning_rate,
        num_eval_episodes=args.eval_episodes,
    )
    base = UEDConfig(
        learner=learner,
        task_space=MazeConfig(heldout="dred"),
        steps_per_eval=args.steps_per_eval,
    )
    rows = []
    for method in args.methods:
        row = run_method(
            method_config(method, base, args.capacity), list(range(args.seeds)), args.chunk_size
        )
        row["method"] = method
        rows.append(row)
        print(f"{method}: {row['solve_rate_per_seed']} in {row['wall_s']:.0f}s", flush=True)
    print(
        f"\n{args.total_timesteps:,} env steps per seed, {args.seeds} seeds, "
        f"{jax.devices()[0].platform}; held-out solve rate, mean +- std over seeds"
    )
    print(
        f"{'method':<12}{'structured (24)':>18}{'named mazes (8)':>18}{'grad upd':>10}{'wall s':>8}"
    )
    for row in rows:
        names = list(row["levels"])
        rates = np.asarray([row["levels"][n] for n in names])  # [levels, seeds]
        named = np.asarray([n[0].isupper() for n in names])
        structured, benchmark = rates[~named].mean(0), rates[named].mean(0)
        row["structured_per_seed"] = structured.tolist()
        row["named_per_seed"] = benchmark.tolist()
        print(
            f"{row['method']:<12}{structured.mean():>11.3f} +- {structured.std():.3f}"
            f"{benchmark.mean():>11.3f} +- {benchmark.std():.3f}"
            f"{row['grad_updates']:>10,}{row['wall_s']:>8.0f}"
        )
    print("\nper seed (structured / named):")
    for row in rows:
        pairs = zip(row["structured_per_seed"], row["named_per_seed"], strict=True)
        print(f"{row['method']:<12}" + "  ".join(f"{s:.3f}/{n:.3f}" for s, n in pairs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
