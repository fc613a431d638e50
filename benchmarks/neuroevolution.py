"""Neuroevolution against PPO at the same env-step budget: Such et al.'s GA and OpenAI-ES over
the policy's weights (`rljax.meta.neuroevolution`) beside PPO (the `cartpole` preset for
classic control, `minatar` for MinAtar), per seed.

    cd benchmarks && ../.venv/bin/python neuroevolution.py --env Acrobot-v1 --steps 500000
    ../.venv/bin/python neuroevolution.py --env Breakout-MinAtar --steps 2000000 --seeds 3

Every method's env steps are the episode steps it played to learn (GA: the population's and
the elite candidates' re-evaluation episodes; ES: the population's; PPO: its rollouts); the
searches stop after the first generation that reaches the budget. The score is the deployed
policy's mean return on 64 held-out episodes (keys no method saw): the GA's elite, the ES's
mean, PPO's greedy policy (`PPO.evaluate` with 64 episodes). Prints a markdown table: mean +-
std over seeds (ddof 0), each seed's score, the env steps used and the wall time (compilation
included) per seed.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

HELD_OUT_EPISODES = 64
_HELD_OUT_STREAM = 2**31 - 5


def search(method: str, env: str, seed: int, budget: int, args) -> tuple[float, int]:
    from rljax.meta.es import ESConfig
    from rljax.meta.neuroevolution import (
        GA,
        GAConfig,
        PolicySearchConfig,
        WeightsES,
        WeightsESConfig,
    )

    minatar = env.endswith("-MinAtar")
    policy = PolicySearchConfig(
        env=env,
        hidden_sizes=(64, 64),
        activation="relu" if minatar else "tanh",
        network="auto",
    )
    if method == "GA":
        loop = GA(
            GAConfig(
                policy,
                population_size=args.population,
                truncation=args.truncation,
                sigma=args.ga_sigma,
                num_generations=10**6,
                seed=seed,
            )
        )
    else:
        es = ESConfig(
            population_size=args.population,
            sigma_init=args.es_sigma,
            learning_rate=args.es_lr,
            num_seeds=1,
            num_generations=10**6,
            seed=seed,
        )
        loop = WeightsES(WeightsESConfig(policy, es, eval_episodes=8))
    state, used = loop.init(), 0
    while used < budget:
        state, metrics = loop.step(state, loop.generation_key(state.generation))
        used += metrics.env_steps
    key = jax.random.fold_in(jax.random.PRNGKey(seed), _HELD_OUT_STREAM)
    score = loop.fitness.play(loop.best_weights(state), key, HELD_OUT_EPISODES).returns.mean()
    return float(score), used


def ppo(env: str, seed: int, budget: int) -> tuple[float, int]:
    import rljax
    from rljax.presets import preset

    name = "minatar" if env.endswith("-MinAtar") else "cartpole"
    config = preset(
        rljax.PPOConfig,
        name,
        env=env,
        total_timesteps=budget,
        num_eval_episodes=HELD_OUT_EPISODES,
        eval_seed=_HELD_OUT_STREAM,
    )
    algo = rljax.PPO(config)
    result = rljax.run(
        algo, rljax.seed_keys([seed]), rljax.stack_hparams([config.hparams()]), progress=False
    )
    steps = algo.num_updates * algo.steps_per_update
    return float(np.asarray(result.eval_returns).mean()), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=["GA", "ES", "PPO"])
    parser.add_argument("--population", type=int, default=256)
    parser.add_argument("--truncation", type=int, default=20)
    parser.add_argument("--ga-sigma", type=float, default=0.02)
    parser.add_argument("--es-sigma", type=float, default=0.02)
    parser.add_argument("--es-lr", type=float, default=0.01)
    args = parser.parse_args()
    print(
        f"{args.env}, {args.steps:,} env steps per seed, {args.seeds} seeds; population "
        f"{args.population} (GA: truncation {args.truncation}, sigma {args.ga_sigma}; ES: sigma "
        f"{args.es_sigma}, Adam {args.es_lr}); score: {HELD_OUT_EPISODES} held-out episodes"
    )
    print("| method | score | per seed | env steps used | s per seed |")
    print("|---|---|---|---|---|")
    for method in args.methods:
        scores, used, seconds = [], [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            if method == "PPO":
                score, steps = ppo(args.env, seed, args.steps)
            else:
                score, steps = search(method, args.env, seed, args.steps, args)
            seconds.append(time.perf_counter() - start)
            scores.append(score)
            used.append(steps)
        scores = np.asarray(scores)
        print(
            f"| {method} | {scores.mean():.1f} +- {scores.std():.1f} | "
            f"{', '.join(f'{s:.1f}' for s in scores)} | {np.mean(used):,.0f} | "
            f"{np.mean(seconds):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
