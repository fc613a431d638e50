"""Meta-train a drift function by evolution strategies (LPO, TA-LPO), then evaluate it.

    python -m experiments.lpo meta-train                        # LPO on CartPole-v1
    python -m experiments.lpo meta-train --drift talpo --envs CartPole-v1 Breakout-MinAtar \\
        --es.population-size 32 --es.num-generations 64 --ppo.total-timesteps 100000
    python -m experiments.lpo meta-train --drift ppo_clip --init-clip-eps 0.005 \\
        --es.sigma-init 0.5 --es.learning-rate 0.4                 # evolve eps (log scale)
    python -m experiments.lpo meta-train --drift ppo_clip --tasks-per-generation 4 \\
        --task-space.env CartPole-v1 --task-space.ranges length 0.4 0.6   # tasks as data
    python -m experiments.lpo meta-train --resume runs/lpo-meta-train-...      # continue
    python -m experiments.lpo meta-eval --drift-params runs/.../meta_params_mean.npz \\
        --envs CartPole-v1 --held-out-envs Acrobot-v1 --seeds 16
    python -m experiments.lpo meta-train --help                # every flag

With `--tasks-per-generation N`, each generation draws N tasks (vectors of physical constants
of `--task-space.env`, in the box `--task-space.*` sets) inside the compiled program, instead
of training on the fixed `--envs`. Each population chunk is split over the most devices that
divide it evenly (a chunk of 8 members on 8 devices: one member each).

`meta-train` writes a run folder: config.json, generations.jsonl (one line per generation:
fitness, per-task returns, speed), meta_params_{mean,best}.{npz,json} (rewritten every
generation; see `rljax.meta.params_io`), fitness.png, drift_surface.png (the learned D(r, A)
beside PPO's) and checkpoints/ (the ES state, for --resume).

`meta-eval` trains fresh agents with the saved drift and with PPO and DPO on held-in and
held-out envs (TA-LPO also at 0.5x and 2x the horizon) and writes results.md, results.csv, one
learning-curve plot per env and horizon, and drift_surface.png.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np

from envs.classic import PARAMETERS, ClassicConfig
from envs.classic.task_space import default_task, make_box
from rljax import config as cfg
from rljax.agents.ppo import PPO, PPOConfig
from rljax.experiment import (
    OuterLoopArgs,
    default_compilation_cache,
    enable_compilation_cache,
    on_devices,
    subcommand_main,
)
from rljax.meta.es import ESConfig, ESState, GenerationMetrics, MetaTrainer
from rljax.meta.inner import TaskDistribution
from rljax.meta.parameterisation import ClipEpsilon, LPONetwork, drift_params
from rljax.meta.params_io import load_drift_params, save_drift_params
from rljax.meta.surface import plot_drift_surfaces, surface_panels
from rljax.plotting import plot_learning_curves
from rljax.results import new_run_dir, read_generations, write_json
from rljax.sweep import even_mesh
from rljax.training import run, seed_keys, stack_hparams

META_DRIFTS = ("lpo", "talpo", "ppo_clip")


def _inner_default() -> PPOConfig:
    """CartPole for 16k steps at Adam lr 1e-3: PPO is far from solving it (mean training
    return ~170) and its updates are large enough for a drift to shape them. ES on LPO from
    PPO improves held-out return here in a few CPU minutes (tests/test_meta.py, slow)."""
    return PPOConfig(total_timesteps=16_384, num_steps=64, learning_rate=1e-3, num_eval_episodes=4)


def _es_default() -> ESConfig:
    """The setup measured to improve LPO on CartPole (16 x 2 seeds, 15 generations). sigma and
    lr suit the LPO network's default start (a zero output layer over a random hidden layer);
    `--drift ppo_clip` evolves log epsilon, which needs ~100x larger steps (sigma 0.5, lr 0.4)."""
    return ESConfig(
        num_generations=15,
        objective="mean_training_return",
        sigma_init=0.005,
        learning_rate=0.003,
    )


@dataclass(frozen=True)
class MetaTrainArgs(OuterLoopArgs):
    """Meta-train a drift's meta-parameters by ES over PPO training runs."""

    drift: Annotated[str, cfg.choices(META_DRIFTS)] = "lpo"
    """lpo or talpo (evolve the drift network), or ppo_clip (evolve PPO's clip epsilon)."""
    envs: tuple[str, ...] = ("CartPole-v1",)
    """Meta-training tasks: one PPO training run per env, with the inner config below."""
    init_clip_eps: float = 0.005
    """With --drift ppo_clip: the epsilon ES starts from."""
    tasks_per_generation: int = 0
    """0: train on --envs. N > 0: draw N tasks of --task-space per generation instead."""
    task_space: ClassicConfig = field(default_factory=ClassicConfig)
    """With --tasks-per-generation: the box of physical constants tasks are drawn from."""
    es: ESConfig = field(default_factory=_es_default)
    """The outer loop."""
    ppo: PPOConfig = field(default_factory=_inner_default)
    """The inner training run (its env and drift are set by --envs and --drift)."""

    def validate(self) -> None:
        super().validate()
        cfg.check_choice(self, "drift", META_DRIFTS)
        cfg.check_non_negative(self, "tasks_per_generation")
        if not self.envs:
            cfg.fail(self, "envs", "is empty", "name at least one env, e.g. CartPole-v1")

    def tasks(self) -> list[PPOConfig] | TaskDistribution:
        if self.tasks_per_generation:
            learner = self.ppo.replace(env=self.task_space.env, drift=self.drift)
            return TaskDistribution(learner, self.task_space, self.tasks_per_generation)
        return [self.ppo.replace(env=env, drift=self.drift) for env in self.envs]

    def task_names(self) -> list[str]:
        """What a generation's `task_returns` are over."""
        if self.tasks_per_generation:
            env = self.task_space.env
            return [f"{env} task {i}" for i in range(self.tasks_per_generation)]
        return list(self.envs)

    def meta(self):
        if self.drift == "ppo_clip":
            return ClipEpsilon(self.init_clip_eps)
        return LPONetwork(drift=self.drift)


@dataclass(frozen=True)
class MetaEvalArgs:
    """Train fresh agents with a saved drift, and with PPO and DPO, and compare them."""

    drift_params: str
    """A meta-parameter file written by meta-train (meta_params_mean.npz or _best.npz)."""
    drift: Annotated[str, cfg.choices(("", *META_DRIFTS))] = ""
    """The drift the file is for ('': the one it names); its shapes must fit."""
    envs: tuple[str, ...] = ("CartPole-v1",)
    """Held-in envs (the ones meta-trained on)."""
    held_out_envs: tuple[str, ...] = ()
    """Held-out envs (never seen in meta-training)."""
    horizons: tuple[float, ...] = ()
    """Multiples of --ppo.total-timesteps to train for (default: 1; TA-LPO: 0.5 1 2)."""
    baselines: tuple[str, ...] = ("ppo_clip", "dpo")
    """Drifts to compare with, at their defaults."""
    seeds: int = 8
    """Seeds per env, method and horizon (one vmapped batch)."""
    first_seed: int = 0
    """Seeds are first_seed .. first_seed + seeds - 1 (meta-training derives its inner keys
    from its generation keys, so these are held out from it)."""
    ppo: PPOConfig = field(default_factory=_inner_default)
    """The training run (env, drift and total_timesteps are set per comparison)."""
    out_dir: str = "runs"
    """Parent folder of the run folder."""
    progress: bool = True
    """Show a progress bar per training batch."""
    compilation_cache: str = default_compilation_cache()
    """Folder of JAX's persistent compilation cache ('' to disable)."""

    def validate(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "seeds")
        cfg.check_non_negative(self, "first_seed")
        if not self.envs and not self.held_out_envs:
            cfg.fail(self, "envs", "and --held-out-envs are both empty", "name an env")
        if any(h <= 0 for h in self.horizons):
            cfg.fail(self, "horizons", "must all be > 0", "e.g. 0.5 1 2")
        for name in self.baselines:
            if name not in (*META_DRIFTS, "dpo", "mdpo"):
                cfg.fail(
                    self,
                    "baselines",
                    f"names an unknown drift {name!r}",
                    "use ppo_clip, dpo or mdpo",
                )


# --- meta-train ----------------------------------------------------------------------------


def meta_train(args: MetaTrainArgs) -> Path:
    from rljax.checkpoint import Checkpointer

    enable_compilation_cache(args.compilation_cache)
    tasks, meta = args.tasks(), args.meta()
    mesh = even_mesh(args.es.chunk_size)
    trainer = MetaTrainer(tasks, meta, args.es, mesh=mesh if mesh.size > 1 else None)
    run_dir = Path(args.resume) if args.resume else new_run_dir(args.out_dir, "lpo-meta-train")
    write_json(run_dir / "config.json", {"command": "meta-train", "args": args})
    checkpointer = Checkpointer(run_dir / "checkpoints", trainer.fingerprint(), keep=2)
    es_state = trainer.restore(checkpointer) or trainer.init()
    history = read_generations(run_dir, es_state.generation)
    print(
        f"meta-training {args.drift} on {describe_tasks(args)}: population "
        f"{args.es.population_size} x {args.es.num_seeds} seeds{on_devices(mesh)}, "
        f"{trainer.env_steps_per_generation:,} env steps per generation"
        + (f", resumed at generation {es_state.generation}" if es_state.generation else "")
    )

    def on_generation(state: ESState, metrics: GenerationMetrics) -> None:
        line = {
            "generation": metrics.generation,
            "fitness_mean": metrics.fitness_mean,
            "fitness_max": metrics.fitness_max,
            "fitness_min": metrics.fitness_min,
            "best_fitness_ever": metrics.best_fitness_ever,
            "task_returns": dict(
                zip(args.task_names(), metrics.task_returns.tolist(), strict=True)
            ),
            "seconds": metrics.seconds,
            "env_steps_per_second": metrics.env_steps / metrics.seconds,
        }
        if metrics.tasks is not None:
            line["tasks"] = np.asarray(metrics.tasks).tolist()
        if args.drift == "ppo_clip":
            line["mean_clip_eps"] = float(np.exp(trainer.mean_solution(state)))
        history.append(line)
        with open(run_dir / "generations.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        _save_solutions(run_dir, args, trainer, state, metrics)
        # One summary line per generation on stdout (the progress bar is on stderr).
        from tqdm.auto import tqdm

        tqdm.write(
            f"generation {metrics.generation}: fitness mean {metrics.fitness_mean:.3f}, "
            f"max {metrics.fitness_max:.3f}; best ever {metrics.best_fitness_ever:.3f}",
            file=sys.stdout,
        )

    with checkpointer:
        es_state = trainer.run(
            es_state, progress=args.progress, on_generation=on_generation, checkpointer=checkpointer
        )
    _plot_fitness(history, run_dir / "fitness.png", args)
    task = trainer.tasks[0]
    learned = drift_params(meta, task, trainer.mean_solution(es_state))
    progresses = (0.0, 0.5, 1.0) if args.drift == "talpo" else (0.0,)
    plot_drift_surfaces(
        surface_panels(args.drift, learned, task.clip_eps, progresses),
        run_dir / "drift_surface.png",
        title=f"learned drift (ES mean after {es_state.generation} generations) beside PPO's",
    )
    print(
        f"meta-parameters: {run_dir / 'meta_params_mean.npz'} (mean), "
        f"{run_dir / 'meta_params_best.npz'} (best member)"
    )
    print(f"run folder: {run_dir}")
    return run_dir


def describe_tasks(args: MetaTrainArgs) -> str:
    if args.tasks_per_generation:
        names = PARAMETERS[args.task_space.env]
        box = make_box(args.task_space, default_task(args.task_space.env))
        varied = [
            f"{n} {lo:g}..{hi:g}"
            for n, lo, hi in zip(names, np.asarray(box.low), np.asarray(box.high), strict=True)
            if hi > lo
        ]
        return (
            f"{args.tasks_per_generation} {args.task_space.env} tasks per generation "
            f"({', '.join(varied) or 'all constants at their defaults'})"
        )
    return ", ".join(args.envs)


def _save_solutions(
    run_dir: Path,
    args: MetaTrainArgs,
    trainer: MetaTrainer,
    state: ESState,
    metrics: GenerationMetrics,
) -> None:
    info = {
        "generation": state.generation,
        "fitness_mean": metrics.fitness_mean,
        "best_fitness_ever": metrics.best_fitness_ever,
        "envs": [args.task_space.env] if args.tasks_per_generation else list(args.envs),
        "es": args.es,
        "ppo": args.ppo,
    }
    task = trainer.tasks[0]
    for kind, solution in (
        ("mean", trainer.mean_solution(state)),
        ("best", trainer.best_solution(state)),
    ):
        params = drift_params(trainer.meta, task, solution)
        save_drift_params(
            run_dir / f"meta_params_{kind}.npz", args.drift, params, {"kind": kind, **info}
        )


def _plot_fitness(history: list[dict], path: Path, args: MetaTrainArgs) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gens = [h["generation"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key, label in (("fitness_mean", "population mean"), ("fitness_max", "best member")):
        ax.plot(gens, [h[key] for h in history], label=label)
    ax.set_xlabel("generation")
    ax.set_ylabel(f"fitness ({args.es.objective})")
    ax.set_title(f"ES on {args.drift}: {describe_tasks(args)}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --- meta-eval -----------------------------------------------------------------------------


def _horizon_config(base: PPOConfig, env: str, drift: str, horizon: float) -> PPOConfig:
    """`base` on `env` with `drift`, trained for `horizon` x its budget (whole rollouts)."""
    batch = base.num_envs * base.num_steps
    steps = max(batch, round(horizon * base.total_timesteps / batch) * batch)
    return base.replace(env=env, drift=drift, total_timesteps=steps)


def meta_eval(args: MetaEvalArgs) -> Path:
    enable_compilation_cache(args.compilation_cache)
    drift, learned = load_drift_params(args.drift_params, args.drift or None, args.ppo.clip_eps)
    horizons = args.horizons or ((0.5, 1.0, 2.0) if drift == "talpo" else (1.0,))
    run_dir = new_run_dir(args.out_dir, "lpo-meta-eval")
    write_json(run_dir / "config.json", {"command": "meta-eval", "args": args, "drift": drift})
    methods = [("learned", drift, learned)] + [(b, b, None) for b in args.baselines]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    rows = []
    envs = [(e, "held-in") for e in args.envs] + [(e, "held-out") for e in args.held_out_envs]
    for env, split in envs:
        for horizon in horizons:
            curves = {}
            for label, method_drift, params in methods:
                config = _horizon_config(args.ppo, env, method_drift, horizon)
                hparams = config.hparams()
                if params is not None:
                    hparams = hparams.replace(drift_params=params)
                algo = PPO(config)
                result = run(
                    algo,
                    seed_keys(seeds),
                    stack_hparams([hparams] * len(seeds)),
                    chunk_size=64,
                    progress=args.progress,
                    description=f"{label} {env} x{horizon:g}",
                )
                per_seed = result.eval_returns.mean(axis=1)
                # ES's mean_training_return objective: mean episode return over the run.
                training = np.nanmean(result.metrics["episode_return"], axis=1)
                steps = np.arange(1, algo.num_updates + 1) * algo.steps_per_update
                curves[label] = (steps, result.metrics["episode_return"])
                rows.append(
                    {
                        "env": env,
                        "split": split,
                        "horizon": horizon,
                        "total_timesteps": config.total_timesteps,
                        "method": label,
                        "drift": method_drift,
                        "mean_return": float(per_seed.mean()),
                        "std_return": float(per_seed.std()),
                        "stderr": _stderr(per_seed),
                        "mean_training_return": float(training.mean()),
                        "training_stderr": _stderr(training),
                        "seeds": len(seeds),
                    }
                )
            name = f"curves_{env.replace('/', '_')}_h{horizon:g}.png"
            plot_learning_curves(
                curves, run_dir / name, title=f"{env} ({split}), {horizon:g}x horizon"
            )
    _write_table(rows, run_dir)
    progresses = (0.0, 0.5, 1.0) if drift == "talpo" else (0.0,)
    plot_drift_surfaces(
        surface_panels(drift, learned, args.ppo.clip_eps, progresses),
        run_dir / "drift_surface.png",
        title=f"{Path(args.drift_params).parent.name}/{Path(args.drift_params).name} beside PPO",
    )
    print((run_dir / "results.md").read_text())
    print(f"run folder: {run_dir}")
    return run_dir


def _stderr(per_seed: np.ndarray) -> float:
    if len(per_seed) < 2:
        return float("nan")
    return float(per_seed.std(ddof=1) / np.sqrt(len(per_seed)))


def _write_table(rows: list[dict], run_dir: Path) -> None:
    with open(run_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "| env | split | horizon | steps | method | final return (mean +- s.e.) "
        "| mean training return (mean +- s.e.) | seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['env']} | {r['split']} | {r['horizon']:g}x | {r['total_timesteps']:,} "
            f"| {r['method']} ({r['drift']}) | {r['mean_return']:.1f} +- "
            f"{r['stderr']:.1f} | {r['mean_training_return']:.1f} +- "
            f"{r['training_stderr']:.1f} | {r['seeds']} |"
        )
    (run_dir / "results.md").write_text("\n".join(lines) + "\n")


# --- command line --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`meta-train` or `meta-eval`; bad input exits with status 2 and one line, no traceback."""

    def run(args: MetaTrainArgs | MetaEvalArgs) -> None:
        if isinstance(args, MetaTrainArgs):
            meta_train(args)
        else:
            meta_eval(args)

    commands = {"meta-train": MetaTrainArgs, "meta-eval": MetaEvalArgs}
    return subcommand_main(commands, argv, run, __doc__)


if __name__ == "__main__":
    sys.exit(main())
