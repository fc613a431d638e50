"""DR vs robust PLR vs ACCEL (and PAIRED) on 13x13 mazes at one env-step budget: the mean
held-out solve rate over seeds (vmapped), per-level rates for a few levels, env steps,
gradient updates and wall time.

    python benchmarks/ued_learning.py --total-timesteps 1000000 --seeds 3
    python benchmarks/ued_learning.py --methods dr accel --json out.json
    python benchmarks/ued_learning.py --methods robust_plr accel --step-kind-seed None

`--step-kind-seed` is `UEDConfig.step_kind_seed` (default 0: the seeds share each step's kind,
so the vmapped batch runs only that kind; None: a coin per seed); per seed the script prints
the fraction of replay and mutate steps and the mean level score, the curriculum statistics
that must not depend on it.

Per seed it also prints what tells a slow learner from a broken one: the held-out rate
averaged over the last 10 evaluations (one evaluation is only 4 episodes a level, so an
exact 0 is common at low solve rates), the final policy entropy, the update at which replay
began, and what the level buffer holds at the end (mean wall count, the fraction of
unsolvable levels, the median shortest path of the 10 highest-scoring levels).

Every method gets the same `UEDConfig` except the method (and ACCEL's empty-room starts,
`accel_num_walls`), so they spend the same env steps; robust PLR and ACCEL take gradient
steps on replayed levels only, so their gradient updates differ (printed). The final
evaluation is the runner's own held-out evaluation (`UED.evaluate`, `eval_episodes` sampled
episodes per named level on fixed keys). The papers' full budget (Jiang et al. 2021b; Parker-
Holder et al. 2022: hundreds of millions of steps, 32 envs x 256 steps) is a GPU job:

    python benchmarks/ued_learning.py --total-timesteps 250000000 --num-levels 32 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import rljax
from envs.maze.bfs import shortest_path_length
from envs.maze.task_space import MazeConfig
from experiments.ued import make_algorithm
from rljax.curricula.runner import UEDConfig, curriculum_config, feedforward, maze_learner

SHOWN_LEVELS = ("SixteenRooms", "SixteenRooms2", "Labyrinth", "StandardMaze", "StandardMaze3")


def buffer_summary(algo, state, seed_index: int) -> dict | None:
    """One run's level buffer at the end: mean walls, unsolvable fraction, and the median
    shortest path of its 10 highest-scoring levels (None without a buffer)."""
    buffer = getattr(getattr(state, "curriculum", None), "buffer", None)
    if buffer is None:
        return None
    scores, levels = algo.top_levels(jax.tree.map(lambda x: x[seed_index], state), 10)
    filled = np.asarray(buffer.filled[seed_index])
    walls = np.asarray(buffer.levels.walls[seed_index])[filled]
    all_levels = jax.tree.map(lambda x: np.asarray(x[seed_index])[filled], buffer.levels)
    paths = np.asarray(jax.vmap(shortest_path_length)(all_levels))
    top_paths = np.asarray(jax.vmap(shortest_path_length)(levels))
    return {
        "size": int(filled.sum()),
        "mean_walls": float(walls.sum(axis=(1, 2)).mean()),
        "unsolvable": float((paths < 0).mean()),
        "top10_median_path": float(np.median(top_paths)),
        "top10_scores": scores,
    }


def _fraction(metrics: dict, kind: str) -> list[float]:
    """Per seed, the fraction of curriculum steps of one kind over the whole run."""
    steps = sum(np.asarray(metrics[k]) for k in ("new_steps", "replay_steps", "mutate_steps"))
    return (np.asarray(metrics[kind]).sum(axis=1) / steps.sum(axis=1)).tolist()


def run_method(config: UEDConfig, seeds: list[int], chunk_size: int) -> dict:
    """Train `config` on every seed in one vmapped batch; the final held-out results."""
    algo = make_algorithm(config)
    start = time.perf_counter()
    result = rljax.run(
        algo,
        rljax.seed_keys(seeds),
        rljax.stack_hparams([algo.hparams()] * len(seeds)),
        chunk_size=chunk_size,
        progress=False,
    )
    per_level = algo.level_results(jax.jit(jax.vmap(algo.evaluate))(result.state))
    solve = np.asarray(per_level.solve_rate)  # [seeds, levels]
    curve = result.metrics["heldout_solve_rate"]  # [seeds, updates]
    replay = np.asarray(result.metrics["replay_steps"]) > 0
    return {
        "method": config.method,
        "solve_rate_per_seed": solve.mean(axis=1).tolist(),
        "levels": {n: solve[:, i].tolist() for i, n in enumerate(algo.eval_names)},
        "curve_mean": curve.mean(axis=0).tolist(),
        "last10_per_seed": np.asarray(curve)[:, -10:].mean(axis=1).tolist(),
        "final_entropy_per_seed": np.asarray(result.metrics["entropy"])[:, -1].tolist(),
        "first_replay_update": [int(r.argmax()) if r.any() else -1 for r in replay],
        "replay_fraction_per_seed": _fraction(result.metrics, "replay_steps"),
        "mutate_fraction_per_seed": _fraction(result.metrics, "mutate_steps"),
        "mean_score_per_seed": np.nanmean(
            np.asarray(result.metrics["mean_score"]), axis=1
        ).tolist(),
        "buffer": [buffer_summary(algo, result.state, i) for i in range(len(seeds))],
        "env_steps": int(result.metrics["total_env_steps"][0, -1]),
        "grad_updates": int(result.metrics["grad_updates"][0, -1]),
        "wall_s": time.perf_counter() - start,
        "compile_s": result.compile_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=["dr", "robust_plr", "accel"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--total-timesteps", type=int, default=1_000_000)
    parser.add_argument("--num-levels", type=int, default=16)
    parser.add_argument("--steps-per-eval", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--capacity", type=int, default=4000)
    parser.add_argument("--eval-episodes", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=8)
    parser.add_argument("--agent", default="recurrent", choices=["recurrent", "feedforward"])
    parser.add_argument("--frame-stack", type=int, default=1, help="4 suits feedforward")
    parser.add_argument("--gru-size", type=int, default=128)
    parser.add_argument("--num-walls", type=int, default=25, help="DR generator's wall budget")
    parser.add_argument(
        "--step-kind-seed",
        default="0",
        help="UEDConfig.step_kind_seed: an int (the seeds share each step's kind) or None "
        "(a coin per seed)",
    )
    parser.add_argument("--replay-prob", type=float, default=None, help="default: the papers'")
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    learner = maze_learner(
        total_timesteps=args.total_timesteps,
        num_envs=args.num_levels,
        learning_rate=args.learning_rate,
        num_eval_episodes=args.eval_episodes,
        gru_size=args.gru_size,
    )
    if args.agent == "feedforward":
        learner = feedforward(learner, hidden_sizes=(64, 64))
    space = MazeConfig(num_walls=args.num_walls)
    base = UEDConfig(
        learner=learner,
        task_space=space,
        steps_per_eval=args.steps_per_eval,
        frame_stack=args.frame_stack,
        step_kind_seed=None if args.step_kind_seed == "None" else int(args.step_kind_seed),
    )
    # The papers' replay probabilities: 0.5 for robust PLR (Jiang et al. 2021b, app.), 0.8
    # for ACCEL (Parker-Holder et al. 2022, app.).
    replay = {"robust_plr": 0.5, "plr": 0.5, "accel": 0.8}
    rows = []
    for method in args.methods:
        curriculum = curriculum_config(
            method, capacity=args.capacity, replay_prob=args.replay_prob or replay.get(method, 0.8)
        )
        config = base.replace(curriculum=curriculum)
        rows.append(run_method(config, seeds, args.chunk_size))
        row = rows[-1]
        print(f"{method}: {row['solve_rate_per_seed']} in {row['wall_s']:.0f}s", flush=True)
    print(
        f"\n{args.total_timesteps:,} env steps per seed, {args.seeds} seeds, {args.agent} agent, "
        f"{jax.devices()[0].platform}; held-out solve rate over {len(rows[0]['levels'])} levels"
    )
    header = f"{'method':<12}{'solve mean':>11}{'std':>7}{'env steps':>12}{'grad upd':>9}"
    shown = [n for n in SHOWN_LEVELS if n in rows[0]["levels"]]
    print(header + "".join(f"{n[:12]:>13}" for n in shown) + f"{'wall s':>8}")
    for row in rows:
        per_seed = np.asarray(row["solve_rate_per_seed"])
        levels = "".join(f"{np.mean(row['levels'][n]):>13.3f}" for n in shown)
        print(
            f"{row['method']:<12}{per_seed.mean():>11.3f}{per_seed.std():>7.3f}"
            f"{row['env_steps']:>12,}{row['grad_updates']:>9,}{levels}{row['wall_s']:>8.0f}"
        )
    print("\nper seed: held-out now / mean of last 10 evaluations, final entropy, first replay")
    print("update, buffer (size, mean walls, unsolvable, top-10 median shortest path)")
    for row in rows:
        for i, now in enumerate(row["solve_rate_per_seed"]):
            line = (
                f"{row['method']:<12}seed {i}: {now:.3f} / {row['last10_per_seed'][i]:.3f}, "
                f"entropy {row['final_entropy_per_seed'][i]:.2f}, "
                f"replay from {row['first_replay_update'][i]}, "
                f"replay {row['replay_fraction_per_seed'][i]:.3f} / mutate "
                f"{row['mutate_fraction_per_seed'][i]:.3f} of steps, "
                f"mean score {row['mean_score_per_seed'][i]:.4f}"
            )
            b = row["buffer"][i]
            if b is not None:
                line += (
                    f", buffer {b['size']} levels, {b['mean_walls']:.1f} walls, "
                    f"{b['unsolvable']:.2f} unsolvable, top-10 path {b['top10_median_path']:.0f}"
                )
            print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
