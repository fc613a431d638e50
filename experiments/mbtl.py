"""Model-based transfer learning (MBTL, Cho et al. 2024) on a parametric classic-control env:
which source contexts to train on so that zero-shot transfer serves every context best.

    python -m experiments.mbtl                                   # CartPole, 20 pole lengths
    python -m experiments.mbtl --num-contexts 30 --budget 12 --learner.total-timesteps 200000
    python -m experiments.mbtl --parameter masscart --low 0.5 --high 10
    python -m experiments.mbtl --help

1. The full source-by-target transfer matrix, in one compiled program: a PPO policy per
   context (`num_contexts` evenly spaced values of `--parameter` in [low, high], the other
   constants at gymnax's defaults) trained on that context alone (`rljax.curricula.source`,
   the task a traced leaf, the contexts one vmapped batch), then evaluated zero-shot on every
   context. Returns are normalised to [0, 1] by the env's return range.
2. Source selection on that matrix (`rljax.transfer`): MBTL (GP + linear generalisation gap,
   expected marginal improvement), random order (mean of `random_orders` orders),
   equidistant, greedy (the worst-served target next), the oracle greedy on the true matrix,
   and the lines "independent" (every context trained on itself) and "oracle bound" (the best
   source for every target). A strategy's generalised performance after k sources is the mean
   over targets of the best chosen source's normalised return.

The run folder holds config.json, metrics.npz / metrics.jsonl (training, a row per context),
transfer.npz (`contexts`, `transfer [source, target]`), mbtl.json (every strategy's sources
and curve), mbtl_curve.png and transfer_matrix.png. The transfer matrix is trained from
scratch each time (no checkpoints: a run is minutes on a CPU at the default budget).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import jax
import numpy as np

import envs.classic  # noqa: F401  (registers the classic task space)
import rljax
from envs.classic.task_space import PARAMETERS, ClassicConfig, return_range
from rljax import config as cfg
from rljax import transfer
from rljax.curricula.runner import UED, UEDConfig
from rljax.curricula.source import SourceHParams, SourceTaskConfig
from rljax.evaluation import EvalResult
from rljax.experiment import (
    FAILURES,
    default_compilation_cache,
    enable_compilation_cache,
    frozen_heap,
    report_failure,
)
from rljax.presets import preset
from rljax.results import RunWriter, new_run_dir, write_json


def default_learner() -> rljax.PPOConfig:
    """PureJaxRL's CartPole PPO (the `cartpole` preset) at 100,000 steps per context."""
    return preset(rljax.PPOConfig, "cartpole", env="CartPole-v1-params", total_timesteps=100_000)


@dataclass(frozen=True)
class MBTLConfig:
    """An MBTL experiment: contexts, the per-context learner, and the selection budget."""

    env: Annotated[str, cfg.choices(PARAMETERS)] = "CartPole-v1"
    """The gymnax classic-control env whose constant is the context."""
    parameter: str = "length"
    """The constant that varies (one of the env's `envs.classic.PARAMETERS`)."""
    low: float = 0.1
    high: float = 2.0
    num_contexts: int = 20
    """Contexts evenly spaced in [low, high] (the sources and the targets)."""
    learner: rljax.PPOConfig = dataclasses.field(default_factory=default_learner)
    """PPO per context (`--learner.*`); its env is set to the parametric env."""
    eval_episodes: int = 4
    """Evaluation episodes per (source, target) pair."""
    updates: int = 5
    """Evaluations of the whole matrix during training (the metrics' resolution)."""
    budget: int = 10
    """Sources each strategy chooses."""
    slope: float | None = None
    """MBTL's generalisation-gap slope (normalised return per unit of the parameter); None:
    estimated from the trained sources' observed transfer."""
    random_orders: int = 100
    seed: int = 0
    out_dir: str = "runs"
    progress: bool = True
    compilation_cache: str = default_compilation_cache()
    """Folder of JAX's persistent compilation cache ('' disables); env RLJAX_COMPILATION_CACHE."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_choice(self, "env", tuple(PARAMETERS))
        if self.parameter not in PARAMETERS[self.env]:
            cfg.fail(
                self,
                "parameter",
                f"={self.parameter!r} is not a constant of {self.env}",
                f"pass one of {', '.join(PARAMETERS[self.env])}",
            )
        if not 0 < self.low < self.high:
            cfg.fail(self, "high", f"must exceed low={self.low} > 0", "pass 0 < low < high")
        cfg.check_positive(self, "num_contexts", "eval_episodes", "updates", "budget")
        cfg.check_positive(self, "random_orders")
        if self.budget > self.num_contexts:
            cfg.fail(
                self,
                "budget",
                f"={self.budget} exceeds the {self.num_contexts} contexts",
                f"pass budget <= {self.num_contexts}",
            )
        if self.slope is not None:
            cfg.check_non_negative(self, "slope")

    @property
    def contexts(self) -> np.ndarray:
        return np.linspace(self.low, self.high, self.num_contexts).astype(np.float32)

    def ued_config(self) -> UEDConfig:
        """The UED loop that trains one context per run and evaluates every context."""
        values = tuple(float(v) for v in self.contexts)
        space = ClassicConfig(
            env=self.env,
            spread=0.0,
            ranges=((self.parameter, self.low, self.high),),
            heldout_grid=((self.parameter, values),),
        )
        learner = self.learner.replace(
            env=f"{self.env}-params", num_eval_episodes=self.eval_episodes
        )
        per_step = learner.num_envs * learner.num_steps
        steps_per_eval = max(1, learner.total_timesteps // (per_step * self.updates))
        return UEDConfig(
            curriculum=SourceTaskConfig(),
            learner=learner,
            task_space=space,
            steps_per_eval=steps_per_eval,
            partial_episodes=True,
        )


def transfer_matrix(
    config: MBTLConfig, algo: UED | None = None, on_chunk: Any = None
) -> tuple[np.ndarray, Any]:
    """`[num_contexts sources, num_contexts targets]` normalised returns and the run result:
    every context trained (vmapped, common seed) and evaluated on every context (the run's
    final evaluation). `algo` defaults to `UED(config.ued_config())`."""
    algo = UED(config.ued_config()) if algo is None else algo
    base = algo.hparams()
    tasks = np.stack([np.asarray(t) for t in algo.task_space.heldout().values()])
    hparams = jax.tree.map(lambda x: np.broadcast_to(x, (len(tasks), *np.shape(x))), base)
    hparams = hparams.replace(curriculum=SourceHParams(jax.numpy.asarray(tasks)))
    keys = rljax.seed_keys([config.seed] * len(tasks))
    result = rljax.run(
        algo,
        keys,
        hparams,
        chunk_size=1,
        progress=config.progress,
        description=f"mbtl {config.env} x{len(tasks)} contexts",
        on_chunk=on_chunk,
    )
    per_level = algo.level_results(EvalResult(result.eval_returns, result.eval_lengths))
    low, high = return_range(config.env, int(algo.env_params.max_steps_in_episode))
    normalised = (np.asarray(per_level.mean_return) - low) / (high - low)
    return np.clip(normalised, 0.0, 1.0), result


def plot(run_dir: Any, config: MBTLConfig, curves: transfer.Curves, matrix: np.ndarray) -> None:
    from matplotlib import pyplot as plt

    k = np.arange(1, config.budget + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.curves.items():
        ax.plot(k, curve, marker="o", ms=3, label=name)
    ax.axhline(curves.independent, ls="--", c="grey", label="independent (all contexts)")
    ax.axhline(curves.oracle_bound, ls=":", c="black", label="oracle bound (all sources)")
    ax.set_xlabel("number of source contexts trained")
    ax.set_ylabel("generalised performance (normalised return)")
    ax.set_title(f"MBTL on {config.env}, {config.num_contexts} {config.parameter} contexts")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(run_dir / "mbtl_curve.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis", origin="lower")
    ticks = np.linspace(0, config.num_contexts - 1, 5).round().astype(int)
    labels = [f"{config.contexts[i]:.2g}" for i in ticks]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel(f"target {config.parameter}")
    ax.set_ylabel(f"source {config.parameter}")
    ax.set_title("zero-shot transfer (normalised return)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(run_dir / "transfer_matrix.png", dpi=100)
    plt.close(fig)


def run(config: MBTLConfig) -> dict[str, Any]:
    """The experiment (see the module docstring); returns mbtl.json's content."""
    enable_compilation_cache(config.compilation_cache)
    run_dir = new_run_dir(config.out_dir, f"mbtl-{config.env}-{config.parameter}")
    algo = UED(config.ued_config())
    writer = RunWriter(run_dir, algo.steps_per_update)
    writer.write_config({"algorithm": "mbtl", "config": config})
    matrix, _ = transfer_matrix(config, algo, on_chunk=writer.on_chunk)
    contexts = config.contexts
    np.savez(run_dir / "transfer.npz", contexts=contexts, transfer=matrix)
    curves = transfer.compare(
        matrix, contexts, config.budget, config.slope, config.random_orders, config.seed
    )
    summary = {
        "contexts": contexts.tolist(),
        "curves": {name: curve.tolist() for name, curve in curves.curves.items()},
        "sources": {name: [float(contexts[i]) for i in s] for name, s in curves.sources.items()},
        "independent": curves.independent,
        "oracle_bound": curves.oracle_bound,
    }
    write_json(run_dir / "mbtl.json", summary)
    plot(run_dir, config, curves, matrix)
    print(f"generalised performance after k sources (k = 1..{config.budget}):")
    for name, curve in curves.curves.items():
        print(f"  {name:>14}: " + " ".join(f"{v:.3f}" for v in curve))
    print(
        f"  independent training on all {config.num_contexts}: {curves.independent:.3f}; "
        f"oracle bound: {curves.oracle_bound:.3f}"
    )
    print(f"run folder: {run_dir}")
    return summary


def main(argv: list[str] | None = None) -> int:
    import tyro

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parse = lambda: tyro.cli(MBTLConfig, args=argv, description=__doc__)
        config = cfg.parse_cli(parse, MBTLConfig, argv)
        with frozen_heap():
            run(config)
    except FAILURES as failure:
        return report_failure(failure)
    return 0


if __name__ == "__main__":
    sys.exit(main())
