"""Train a recurrent (GRU) PPO agent on a curriculum of 13x13 mazes (DR, PLR, robust PLR,
ACCEL, PAIRED, SFL or DRED) or of classic-control physical constants (DR, ALP-GMM, SFL, ...)
over several seeds in one vmapped batch (split over the devices), evaluate on the held-out
tasks, and write a run folder.

    python -m experiments.ued curriculum:accel          # 4 seeds, 1e7 env steps each
    python -m experiments.ued curriculum:dr --learner.total-timesteps 2000000 --seeds 2
    python -m experiments.ued --frame-stack 4 learner:feedforward   # an MLP over 4 views
    python -m experiments.ued curriculum:accel --curriculum.num-edits 3 --help
    python -m experiments.ued --partial-episodes task-space:classic --task-space.spread 0.3
    python -m experiments.ued curriculum:dred task-space:maze --task-space.heldout dred
    python -m experiments.ued --resume runs/ued-accel-Maze-13x13-...  # continue a stopped run
    python -m experiments.ued --preset jaxued_maze      # JaxUED's maze_plr.py settings
    python -m experiments.ued --help                    # every field and the choices

The config nests the learner's (`--learner.*`), the curriculum's (`--curriculum.*`) and the
task space's (`--task-space.*`) configs; subcommands pick their kinds (any registered task
space from Python: `rljax.task_space.register_task_space`).

The command line, progress bar, checkpoints and `--resume` are `rljax.experiment.main`'s;
checkpoints hold the whole state, level buffer included (PAIRED: all three agents).

The run folder holds what `experiments.ppo` writes (config.json, metrics.jsonl, metrics.npz,
eval.json, learning_curve.png: training-level return), plus:
- eval.json `levels`: per held-out level, the solve rate and mean return of every seed;
- heldout_curve.png: the mean held-out solve rate over training;
- teacher_samples.png (ALP-GMM on a parameter box): the tasks it proposed to seed 0, a panel
  per quarter of the episodes, over the two widest parameters;
- teacher/, a picture per checkpoint of seed 0's curriculum as it evolves: proposals_N.png
  (ALP-GMM: its latest proposals over the box), generated_N.png (DRED: levels its generator
  makes at update N), top_levels_N.png (maze curricula with a level buffer);
- cvar.json with `--cvar-levels N`: SFL's CVaR evaluation (the worst 1/10/50/100% of N fresh
  levels by one rollout seed, their success rate under another), per seed;
- maze only: heldout_levels.png, each held-out level with one evaluation trajectory of seed
  0; top_levels.png, the highest-scoring levels in seed 0's buffer (PLR, robust PLR, ACCEL,
  DRED), for PAIRED levels built by seed 0's final adversary; generated_levels.png (DRED),
  a batch of levels seed 0's final generator makes (VAE interpolants or edits).
For PAIRED the held-out results are the protagonist's.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Union

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs.classic  # noqa: F401  (registers the "classic" task space)
import envs.maze as maze
from rljax import config as cfg
from rljax import experiment, rollout
from rljax.curricula import runner
from rljax.curricula.cvar import ALPHAS, cvar_evaluation
from rljax.curricula.paired import PAIRED
from rljax.curricula.paired_adversary import PAIREDConfig
from rljax.curricula.plr import RobustPLRConfig
from rljax.curricula.runner import UED, CurriculumChoice, UEDConfig
from rljax.evaluation import EvalResult
from rljax.plotting import plot_learning_curves
from rljax.results import write_json
from rljax.task_space import TASK_SPACES
from rljax.training import RunResult

NAME = "ued"
CVAR_BATCH = 250
"""Levels evaluated at once by the CVaR evaluation."""


def task_space_choice() -> Any:
    """One subcommand per registered task space (`rljax.task_space.register_task_space`):
    `task-space:maze`, `task-space:classic`, and any registered before this module is
    imported."""
    kinds = tuple(
        Annotated[config_type, tyro.conf.subcommand(name)]
        for name, (config_type, _) in TASK_SPACES.items()
    )
    return Union[kinds] if len(kinds) > 1 else kinds[0]  # noqa: UP007 (built at run time)


TaskSpaceChoice = task_space_choice()


@dataclass(frozen=True)
class UEDCLIConfig(UEDConfig):
    """`UEDConfig` with the choices of the command line: the curriculum (`curriculum:dr`,
    `curriculum:plr`, `curriculum:robust_plr` (default), `curriculum:accel`,
    `curriculum:paired`, `curriculum:alp_gmm`, `curriculum:sfl`, `curriculum:dred`), the
    learner (`learner:recurrent` (default), `learner:feedforward`)
    and the task space (`task-space:maze` (default), `task-space:classic`, or any other
    registered one)."""

    presets_from: ClassVar[type] = UEDConfig
    """Its presets are UEDConfig's (`rljax.presets`: `--preset jaxued_maze`): it keeps
    UEDConfig's defaults and adds only the command line's choices."""

    curriculum: CurriculumChoice | Annotated[PAIREDConfig, tyro.conf.subcommand("paired")] = (
        dataclasses.field(default_factory=RobustPLRConfig)
    )
    task_space: TaskSpaceChoice = dataclasses.field(default_factory=maze.MazeConfig)
    cvar_levels: int = 0
    """After training, SFL's robust evaluation (`rljax.curricula.cvar`) on this many fresh
    (solvable) levels: the worst 1/10/50/100% by one rollout seed, scored with another, into
    cvar.json (0: off; up to 250, or a multiple of 250; the paper uses 10,000)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg.check_non_negative(self, "cvar_levels")
        if self.cvar_levels > CVAR_BATCH and self.cvar_levels % CVAR_BATCH:
            cfg.fail(
                self,
                "cvar_levels",
                f"= {self.cvar_levels} is above {CVAR_BATCH} and not a multiple of it",
                f"pass a multiple of {CVAR_BATCH}, e.g. {CVAR_BATCH * 4}",
            )


def make_algorithm(config: UEDConfig) -> UED | PAIRED:
    """The run's loop: `UED` under the config's curriculum, or `PAIRED`."""
    return runner.make_algorithm(config)


# --- run-folder extras ----------------------------------------------------------------------


def _maze_state(algo: UED, env_state: Any) -> Any:
    """The `MazeState` inside the eval batch's wrapper states."""
    if hasattr(env_state, "stats"):  # NormalizeObservation
        env_state = env_state.inner
    inner = env_state.inner  # EpisodeStatistics
    return inner.inner if algo.config.frame_stack > 1 else inner


def eval_positions(algo: UED, learner_state: Any) -> np.ndarray:
    """int `[episodes, T + 1, 2]` agent positions in one run's held-out evaluation of the
    policy with `params` (the same fixed keys and policy as `algo.evaluate`), the start
    included. After an episode's first end the position stays on its last cell (the goal if
    it was reached)."""
    policy = rollout.as_recurrent(algo.eval_policy, algo.eval_policy_carry)
    params = learner_state.params
    reset_key, loop_key = jax.random.split(jax.random.PRNGKey(algo.config.learner.eval_seed))
    obs, env_state = algo.learner.reset_fn(
        learner_state, algo.eval_env, lambda k: algo._reset(algo.eval_levels, k), frozen=True
    )(reset_key, algo.env_params)
    start = _maze_state(algo, env_state).agent_pos

    def step(carry, _):
        obs, env_state, key, finished, last, policy_carry, first = carry
        key, act_key, env_key = jax.random.split(key, 3)
        policy_carry, action, _ = policy(params, policy_carry, obs, first, act_key)
        obs, env_state, _, terminated, truncated, _ = algo.eval_env.step(
            env_key, env_state, action, algo.env_params
        )
        after = _maze_state(algo, env_state)  # already reset where the episode ended
        pos = jnp.where(terminated[:, None], after.level.goal_pos, after.agent_pos)
        pos = jnp.where((finished | (truncated & ~terminated))[:, None], last, pos)
        done = terminated | truncated
        return (obs, env_state, key, finished | done, pos, policy_carry, done), pos

    episodes = start.shape[0]
    no = jnp.zeros(episodes, bool)
    carry = (obs, env_state, loop_key, no, start, algo.eval_policy_carry, ~no)
    _, path = jax.jit(lambda c: jax.lax.scan(step, c, None, length=algo.max_episode_steps))(carry)
    return np.concatenate([np.asarray(start)[:, None], np.asarray(path).swapaxes(0, 1)], axis=1)


def _pick(levels: Any, i: int) -> Any:
    """Level `i` of a batch of levels."""
    return jax.tree.map(lambda x: x[i], levels)


def write_extras(
    run_dir: Path, algo: UED | PAIRED, result: RunResult, seeds: list[int]
) -> dict[str, Any]:
    """Per-level held-out results into eval.json (from the run's final evaluation,
    `algo.evaluate` of the final state), the held-out curve and the level images."""
    from matplotlib import pyplot as plt

    state = result.state
    per_level = algo.level_results(EvalResult(result.eval_returns, result.eval_lengths))
    students = algo
    eval_path = run_dir / "eval.json"
    summary = json.loads(eval_path.read_text()) if eval_path.exists() else {}
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
        for i, name in enumerate(students.eval_names)
    }
    write_json(eval_path, summary)
    one = jax.tree.map(lambda x: x[0], state)
    history = getattr(getattr(algo, "curriculum", None), "proposal_history", None)
    if history is not None and getattr(algo.task_space, "box", None) is not None:
        draw_proposals(history(one.curriculum), algo.task_space.box, run_dir, seeds[0])
    if not isinstance(algo.task_space, maze.MazeTaskSpace):
        return summary

    paths = eval_positions(students, algo.policy_params(one))
    episodes = algo.eval_episodes
    images = [
        maze.render_trajectory(_pick(students.eval_levels, i * episodes), p)
        for i, p in enumerate(paths[::episodes])
    ]
    columns = 5
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image)
        ax.set_title(f"{students.eval_names[i]} {solve[0, i]:.0%}", fontsize=8)
    fig.suptitle(f"held-out levels, seed {seeds[0]} (solve rate over {episodes} episodes)")
    fig.tight_layout()
    fig.savefig(run_dir / "heldout_levels.png", dpi=100)
    plt.close(fig)

    if isinstance(algo, PAIRED):
        key = jax.random.PRNGKey(algo.config.learner.eval_seed)
        built = jax.jit(algo.sample_levels)(one, key)
        count = min(16, algo.config.learner.num_envs)
        named = {f"adversary level {i + 1}": _pick(built, i) for i in range(count)}
        maze.save_level_grid(named, run_dir / "top_levels.png")
        return summary
    draw_top_levels(algo, one, 16, run_dir / "top_levels.png")
    draw_generated(algo, one, run_dir / "generated_levels.png")
    return summary


def draw_top_levels(algo: UED, one: Any, k: int, path: Path) -> None:
    """The `k` highest-scoring levels of seed 0's buffer (`one`: its state) with their scores,
    into `path`; nothing without a buffer or before a level is in it."""
    scores, top = algo.top_levels(one, k)
    if top is not None and scores:
        named = {f"#{i + 1} score {s:.3f}": _pick(top, i) for i, s in enumerate(scores)}
        maze.save_level_grid(named, path)


def draw_generated(algo: UED | PAIRED, one: Any, path: Path) -> None:
    """A batch of maze levels seed 0's generator makes now (DRED: VAE interpolants or edits),
    drawn into `path`; nothing for a curriculum without a generator."""
    generate = getattr(getattr(algo, "curriculum", None), "generate", None)
    if generate is None or getattr(algo.curriculum.config, "generator", "none") == "none":
        return
    key = jax.random.PRNGKey(algo.config.learner.eval_seed)
    made = jax.jit(generate)(one.curriculum, key)
    count = min(16, algo.config.learner.num_envs)
    maze.save_level_grid({f"generated {i + 1}": _pick(made, i) for i in range(count)}, path)


def on_checkpoint(run_dir: Path, algo: UED | PAIRED, updates_done: int, state: Any) -> None:
    """At every checkpoint, seed 0's curriculum as it is now, into `teacher/`: the tasks a
    teacher proposed lately over its parameter box (ALP-GMM), the levels a generator makes
    (DRED), the top of the level buffer (maze curricula with one)."""
    one = jax.tree.map(lambda x: x[0], state)
    folder = run_dir / "teacher"
    folder.mkdir(exist_ok=True)
    steps = updates_done * algo.steps_per_update
    label = f"update {updates_done} ({steps:,} env steps)"
    history = getattr(getattr(algo, "curriculum", None), "proposal_history", None)
    box = getattr(algo.task_space, "box", None)
    if history is not None and box is not None:
        path = folder / f"proposals_{updates_done:06d}.png"
        title = f"the teacher's latest proposals, seed 0, {label}"
        draw_proposals(history(one.curriculum), box, run_dir, 0, 1, path, title)
    if not isinstance(algo.task_space, maze.MazeTaskSpace) or isinstance(algo, PAIRED):
        return
    draw_generated(algo, one, folder / f"generated_{updates_done:06d}.png")
    draw_top_levels(algo, one, 8, folder / f"top_levels_{updates_done:06d}.png")


def draw_proposals(
    tasks: np.ndarray,
    box: Any,
    run_dir: Path,
    seed: int,
    panels: int = 4,
    path: Path | None = None,
    title: str = "",
) -> Path | None:
    """teacher_samples.png (or `path`): the tasks a teacher proposed (`tasks [m, D]`, oldest
    first), a panel per successive `m / panels` episodes, over the two parameters with the
    widest boxes (one parameter: against the episode index)."""
    from matplotlib import pyplot as plt

    low, high = np.asarray(box.low), np.asarray(box.high)
    varying = [i for i in np.argsort(-(high - low)) if high[i] > low[i]][:2]
    if len(tasks) < panels or not varying:
        return None
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.2), squeeze=False)
    chunks = np.array_split(np.arange(len(tasks)), panels)
    for ax, chunk in zip(axes[0], chunks, strict=True):
        x = tasks[chunk, varying[0]]
        y = tasks[chunk, varying[1]] if len(varying) > 1 else chunk
        ax.scatter(x, y, s=4, alpha=0.5)
        ax.set_xlim(low[varying[0]], high[varying[0]])
        ax.set_xlabel(box.names[varying[0]])
        if len(varying) > 1:
            ax.set_ylim(low[varying[1]], high[varying[1]])
        ax.set_ylabel(box.names[varying[1]] if len(varying) > 1 else "episode")
        ax.set_title(f"episodes {chunk[0] + 1}-{chunk[-1] + 1}", fontsize=9)
    fig.suptitle(title or f"tasks proposed by the teacher, seed {seed}")
    fig.tight_layout()
    path = path or run_dir / "teacher_samples.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def after_run(run_dir: Path, result: RunResult, algo: UED | PAIRED, args: Any) -> None:
    """`rljax.experiment.main`'s hook: the extras above and the held-out curve."""
    config = args.config
    summary = write_extras(run_dir, algo, result, args.seed_list)
    metrics = np.load(run_dir / "metrics.npz")
    if "heldout_solve_rate" in metrics.files:
        solve = metrics["heldout_solve_rate"]
        steps = np.arange(1, solve.shape[1] + 1) * algo.steps_per_update
        plot_learning_curves(
            {config.method: (steps, solve)},
            run_dir / "heldout_curve.png",
            title=f"{config.method}: held-out solve rate",
            ylabel="held-out solve rate",
        )
    print(
        f"{config.method}: held-out solve rate {summary['mean_solve_rate']:.3f} (mean over "
        f"{len(summary['levels'])} levels and {args.seeds} seeds); per level in "
        f"{run_dir}/eval.json"
    )
    if getattr(config, "cvar_levels", 0):
        write_cvar(run_dir, algo, result.state, config.cvar_levels)


def write_cvar(run_dir: Path, algo: UED | PAIRED, state: Any, num_levels: int) -> dict:
    """SFL's CVaR evaluation of every seed's policy (PAIRED: the protagonist's) on the same
    `num_levels` levels, into cvar.json."""
    batch = min(num_levels, CVAR_BATCH)
    key = jax.random.PRNGKey(algo.config.learner.eval_seed + 1)

    def one(run_state):
        learner = algo.policy_params(run_state)
        return cvar_evaluation(algo, learner, key, num_levels, ALPHAS, batch=batch)

    result = jax.jit(jax.vmap(one))(state)
    cvar = np.asarray(result.cvar)  # [seeds, alphas]
    summary = {
        "num_levels": num_levels,
        "unsolvable_levels": int(np.asarray(result.num_unsolvable)[0]),
        "cvar": {
            f"{alpha:.0%}": {"per_seed": cvar[:, i].tolist(), "mean": float(cvar[:, i].mean())}
            for i, alpha in enumerate(ALPHAS)
        },
    }
    write_json(run_dir / "cvar.json", summary)
    shown = ", ".join(f"{a}: {v['mean']:.3f}" for a, v in summary["cvar"].items())
    print(f"CVaR of the success rate on {num_levels} fresh levels (mean over seeds): {shown}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """The shared experiment CLI (`rljax.experiment.main`) with UED's extras."""
    description = __doc__
    return experiment.main(
        NAME, UEDCLIConfig, make_algorithm, argv, description, after_run, on_checkpoint
    )


if __name__ == "__main__":
    sys.exit(main())
