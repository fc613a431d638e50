"""Per-seed final results of every learner, curriculum and outer loop at small budgets, to
check that a refactor changes no number (issue "Composable pieces", must-show 1).

    cd benchmarks && ../.venv/bin/python regression.py --out now.json
    ../.venv/bin/python regression.py --compare regression_baseline.json

`regression_baseline.json` was re-recorded at commit e8c1f5c (session 17: after session 15's
minibatch permutation, session 16's recurrent cells and session 17's threefry lowering); the
redesign's baseline, recorded on c25bfc7, is `git show cf7d1e1:benchmarks/regression_baseline.json`.
Values are stored exactly (float64 reprs of float32 numbers), so `--compare` reports any
bitwise difference; every difference must be explained in `benchmarks/RESULTS.md`.

Entries (2 seeds each, CPU):
- PPO, DQN, PQN, SAC (discrete), recurrent PPO and MDPO (PPO with `--drift mdpo`) on
  CartPole-v1: the final evaluation's mean return per seed;
- UED robust PLR, ACCEL and PAIRED on Maze-13x13 at a tiny budget: the held-out solve rate
  and return per seed after training (on rljax's own 14 held-out mazes, the baseline's);
- one LPO ES generation (population 4 x 2 seeds on CartPole): each member's fitness.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rljax

SEEDS = [0, 1]


def _train(algo, hparams):
    """`algo` on every seed of `SEEDS`, in chunks of 64 updates: the `RunResult`."""
    return rljax.run(
        algo,
        rljax.seed_keys(SEEDS),
        rljax.stack_hparams([hparams] * len(SEEDS)),
        chunk_size=64,
        progress=False,
    )


def _run(algo, config) -> dict:
    result = _train(algo, config.hparams())
    return {"final_eval_return": result.eval_returns.mean(axis=1).tolist()}


def ppo() -> dict:
    config = rljax.PPOConfig(total_timesteps=32_768)
    return _run(rljax.PPO(config), config)


def mdpo() -> dict:
    config = rljax.PPOConfig(total_timesteps=32_768, drift="mdpo")
    return _run(rljax.PPO(config), config)


def dqn() -> dict:
    config = rljax.DQNConfig(total_timesteps=20_000)
    return _run(rljax.DQN(config), config)


def pqn() -> dict:
    config = rljax.PQNConfig(total_timesteps=32_768)
    return _run(rljax.PQN(config), config)


def sac() -> dict:
    config = rljax.SACConfig(env="CartPole-v1", total_timesteps=2_000)
    return _run(rljax.SAC(config), config)


def recurrent_ppo() -> dict:
    config = rljax.RecurrentPPOConfig(env="CartPole-v1", total_timesteps=32_768)
    return _run(rljax.RecurrentPPO(config), config)


def _ued(method: str) -> dict:
    from envs.maze.task_space import MazeConfig
    from experiments.ued import make_algorithm
    from rljax.curricula.accel import ACCELConfig
    from rljax.curricula.paired_adversary import PAIREDConfig
    from rljax.curricula.plr import RobustPLRConfig
    from rljax.curricula.runner import UEDConfig, maze_learner

    steps = {"paired": 2 * 4 * (2 * 256 + 52) * 3}.get(method, 2 * 4 * 256 * 6)
    learner = maze_learner(
        num_envs=4,
        num_steps=256,
        total_timesteps=steps,
        hidden_sizes=(16,),
        gru_size=16,
        update_epochs=2,
        num_eval_episodes=1,
    )
    buffer = {"capacity": 8, "replay_prob": 0.5}
    curriculum = {
        "robust_plr": lambda: RobustPLRConfig(**buffer),
        "accel": lambda: ACCELConfig(**buffer),
        "paired": lambda: PAIREDConfig(adversary=PAIREDConfig().adversary.replace(update_epochs=2)),
    }[method]()
    # The baseline's held-out set: rljax's 14 own mazes (the default is now the benchmark's 8).
    space = MazeConfig(heldout="rljax")
    config = UEDConfig(curriculum=curriculum, learner=learner, steps_per_eval=2, task_space=space)
    algo = make_algorithm(config)
    result = _train(algo, algo.hparams())
    solve = (result.eval_returns > 0).mean(axis=1)
    return {
        "heldout_solve_rate": solve.tolist(),
        "heldout_return": result.eval_returns.mean(axis=1).tolist(),
        "grad_updates": result.metrics["grad_updates"][:, -1].tolist(),
        # Held-out returns are 0 at this budget; the losses tell whether training changed.
        "value_loss_sum": np.nansum(result.metrics["value_loss"], axis=1).tolist(),
        "entropy_sum": np.nansum(result.metrics["entropy"], axis=1).tolist(),
    }


def ued_robust_plr() -> dict:
    return _ued("robust_plr")


def ued_accel() -> dict:
    return _ued("accel")


def ued_paired() -> dict:
    return _ued("paired")


def lpo_es_generation() -> dict:
    from rljax.meta.es import ESConfig, MetaTrainer
    from rljax.meta.parameterisation import LPONetwork

    task = rljax.PPOConfig(
        total_timesteps=8_192, num_envs=4, num_steps=64, num_eval_episodes=4, drift="lpo"
    )
    es = ESConfig(population_size=4, num_seeds=2, sigma_init=0.005, learning_rate=0.003)
    trainer = MetaTrainer([task], LPONetwork("lpo"), es)
    state = trainer.init()
    state, metrics = trainer.es_step(state, trainer.generation_key(0))
    mean = jax.tree.leaves(trainer.mean_solution(state))
    return {
        "fitness": np.asarray(metrics.fitness).tolist(),
        "mean_solution_sum": [float(np.asarray(x, np.float64).sum()) for x in mean],
    }


ENTRIES: dict[str, Callable[[], dict]] = {
    "ppo": ppo,
    "mdpo": mdpo,
    "dqn": dqn,
    "pqn": pqn,
    "sac": sac,
    "recurrent_ppo": recurrent_ppo,
    "ued_robust_plr": ued_robust_plr,
    "ued_accel": ued_accel,
    "ued_paired": ued_paired,
    "lpo_es_generation": lpo_es_generation,
}


def compare(now: dict, before: dict) -> int:
    """Print a table of entries that differ; returns the number of differing entries."""
    differing = 0
    for name, values in before.items():
        if name not in now:
            print(f"{name:20s} not measured now")
            differing += 1
            continue
        for field, old in values.items():
            new = now[name].get(field)
            same = new is not None and np.array_equal(
                np.asarray(old), np.asarray(new), equal_nan=True
            )
            mark = "bitwise equal" if same else "DIFFERENT"
            differing += not same
            print(f"{name:20s} {field:20s} {mark:14s} before {old} now {new}")
    return differing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--out", default="regression_now.json")
    parser.add_argument("--compare", default=None, help="a baseline JSON to compare with")
    args = parser.parse_args()
    jax.config.update("jax_platforms", "cpu")
    results = {}
    for name in args.only:
        start = time.perf_counter()
        results[name] = ENTRIES[name]()
        print(f"{name:20s} {time.perf_counter() - start:6.1f} s  {results[name]}", flush=True)
        Path(args.out).write_text(json.dumps(results, indent=1))
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        before = {k: v for k, v in before.items() if k in results}
        return 1 if compare(results, before) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
