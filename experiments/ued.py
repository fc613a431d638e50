"""Train PPO on a curriculum of 13x13 mazes (DR, PLR, robust PLR or ACCEL) over several seeds
in one vmapped batch, evaluate on the held-out named mazes, and write a run folder.

    python -m experiments.ued --method accel                 # 4 seeds, 1e7 env steps each
    python -m experiments.ued --method dr --total-timesteps 2000000 --seeds 2
    python -m experiments.ued --help                         # every field of UEDConfig

The run folder holds what `experiments.ppo` writes (config.json, metrics.jsonl, metrics.npz,
eval.json, learning_curve.png: training-level return), plus:
- eval.json `levels`: per held-out level, the solve rate and mean return of every seed;
- heldout_curve.png: the mean held-out solve rate over training;
- heldout_levels.png: each held-out level with one evaluation trajectory of seed 0;
- top_levels.png: the highest-scoring levels in seed 0's buffer (PLR, robust PLR, ACCEL).
`--method paired` exits with "not built yet" (status 2).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np

import envs.maze as maze
from rljax import experiment
from rljax.config import ConfigError
from rljax.curricula.runner import UED, UEDConfig
from rljax.plotting import plot_learning_curves
from rljax.results import write_json
from rljax.training import TrainingDiverged

NAME = "ued"


def make_algorithm(config: UEDConfig) -> UED:
    """The maze wiring: DR generator (empty rooms for ACCEL), ACCEL's editor, the named
    held-out levels. `config.env` must be a maze whose episodes reset onto the same level."""
    _, params = maze.Maze(), maze.MazeParams()
    if config.env != "Maze-13x13":
        raise ConfigError(
            f"UEDConfig.env={config.env!r} is not supported here. Fix: use Maze-13x13 "
            "(the curriculum pins levels, so Maze-13x13-DR's resampling resets do not fit; "
            "CLI flag --env)."
        )
    walls = config.accel_num_walls if config.method == "accel" else config.num_walls
    return UED(
        config,
        sample_level=lambda key: maze.sample_level(key, params, walls),
        mutate_level=maze.mutate_level,
        eval_levels=maze.named_levels(),
    )


# --- run-folder extras ----------------------------------------------------------------------


def _maze_state(algo: UED, env_state: Any) -> Any:
    """The `MazeState` inside the eval batch's wrapper states."""
    inner = env_state.inner  # EpisodeStatistics
    return inner.inner if algo.config.frame_stack > 1 else inner


def eval_positions(algo: UED, state: Any) -> np.ndarray:
    """int `[episodes, T + 1, 2]` agent positions in one run's held-out evaluation (the same
    fixed keys and policy as `algo.evaluate`), the start included. After an episode's first
    end the position stays on its last cell (the goal if it was reached)."""
    policy = algo.ppo.act_greedy if algo.config.greedy_eval else algo.ppo.act
    reset_key, loop_key = jax.random.split(jax.random.PRNGKey(algo.config.eval_seed))
    obs, env_state = algo._reset_to_levels(algo.eval_levels, reset_key)
    start = _maze_state(algo, env_state).agent_pos

    def step(carry, _):
        obs, env_state, key, finished, last = carry
        key, act_key, env_key = jax.random.split(key, 3)
        action, _ = policy(state.params, obs, act_key)
        obs, env_state, _, terminated, truncated, _ = algo.eval_env.step(
            env_key, env_state, action, algo.env_params
        )
        after = _maze_state(algo, env_state)  # already reset where the episode ended
        pos = jnp.where(terminated[:, None], after.level.goal_pos, after.agent_pos)
        pos = jnp.where((finished | (truncated & ~terminated))[:, None], last, pos)
        return (obs, env_state, key, finished | terminated | truncated, pos), pos

    carry = (obs, env_state, loop_key, jnp.zeros(start.shape[0], bool), start)
    _, path = jax.jit(lambda c: jax.lax.scan(step, c, None, length=algo.max_episode_steps))(carry)
    return np.concatenate([np.asarray(start)[:, None], np.asarray(path).swapaxes(0, 1)], axis=1)


def _pick(levels: Any, i: int) -> Any:
    """Level `i` of a batch of levels."""
    return jax.tree.map(lambda x: x[i], levels)


def write_extras(run_dir: Path, algo: UED, state: Any, seeds: list[int]) -> dict[str, Any]:
    """Per-level held-out results into eval.json, the held-out curve and the level images."""
    from matplotlib import pyplot as plt

    result = jax.jit(jax.vmap(algo.evaluate))(state)
    per_level = algo.level_results(result)
    eval_path = run_dir / "eval.json"
    summary = __import__("json").loads(eval_path.read_text()) if eval_path.exists() else {}
    solve = np.asarray(per_level.solve_rate)  # [seeds, levels]
    ret = np.asarray(per_level.mean_return)
    summary["mean_solve_rate"] = float(solve.mean())
    summary["per_run_solve_rate"] = solve.mean(axis=1).tolist()
    summary["levels"] = {
        name: {
            "solve_rate": solve[:, i].tolist(),
            "mean_return": ret[:, i].tolist(),
            "mean_solve_rate": float(solve[:, i].mean()),
        }
        for i, name in enumerate(algo.eval_names)
    }
    write_json(eval_path, summary)

    one = jax.tree.map(lambda x: x[0], state)
    paths = eval_positions(algo, one)
    episodes = algo.config.eval_episodes
    images = [
        maze.render_trajectory(_pick(algo.eval_levels, i * episodes), p)
        for i, p in enumerate(paths[::episodes])
    ]
    columns = 5
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image)
        ax.set_title(f"{algo.eval_names[i]} {solve[0, i]:.0%}", fontsize=8)
    fig.suptitle(f"held-out levels, seed {seeds[0]} (solve rate over {episodes} episodes)")
    fig.tight_layout()
    fig.savefig(run_dir / "heldout_levels.png", dpi=100)
    plt.close(fig)

    scores, top = algo.top_levels(one.curriculum, 16)
    if top is not None and scores:
        named = {f"#{i + 1} score {s:.3f}": _pick(top, i) for i, s in enumerate(scores)}
        maze.save_level_grid(named, run_dir / "top_levels.png")
    return summary


def run(config: UEDConfig, args: experiment.ExperimentArgs) -> tuple[Path, dict[str, Any]]:
    """Train, write the shared run folder (`rljax.experiment.run_experiment`) and the extras."""
    algo = make_algorithm(config)
    run_dir, result = experiment.run_experiment(NAME, algo, config, args)
    summary = write_extras(run_dir, algo, result.state, args.seed_list)
    metrics = np.load(run_dir / "metrics.npz")
    if "heldout_solve_rate" in metrics.files:
        solve = metrics["heldout_solve_rate"]
        steps = np.arange(1, solve.shape[1] + 1) * algo.steps_per_update
        plot_learning_curves(
            {config.method: (steps, solve)},
            run_dir / "heldout_curve.png",
            title=f"{config.method}: held-out solve rate",
        )
    print(
        f"{config.method}: held-out solve rate {summary['mean_solve_rate']:.3f} (mean over "
        f"{len(algo.eval_names)} levels and {args.seeds} seeds); per level in {run_dir}/eval.json"
    )
    return run_dir, summary


def main(argv: list[str] | None = None) -> int:
    """`experiment.main` for UED: the same flags, errors and exit codes, plus the extras.

    `--resume` is refused for now: `experiment.main` has no hook to write files after
    training, so this mirrors its argument handling without its resume defaults."""
    import tyro

    args_type = dataclasses.make_dataclass(
        "UedArgs",
        [
            (
                "config",
                Annotated[UEDConfig, tyro.conf.arg(name="")],
                dataclasses.field(default_factory=UEDConfig),
            )
        ],
        bases=(experiment.ExperimentArgs,),
        frozen=True,
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = tyro.cli(args_type, args=argv, description=__doc__.split("\n")[0])
        args.validate()
        if args.resume:
            raise ConfigError(
                f"ExperimentArgs.resume={args.resume!r}: resuming a UED run is not built yet. "
                "Fix: start a new run (CLI flag --resume)."
            )
        run(args.config, args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
