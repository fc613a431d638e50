"""One evolution-strategies generation: the vmapped population against sequential runs.

    python benchmarks/es_throughput.py [--drift lpo] [--population 16] [--timesteps 100000]

Meta-trains `--drift` on CartPole-v1 (PPO's default config, `--timesteps` env steps per run,
one seed per member). It times:

- one ES generation (`MetaTrainer.es_step`: ask, `vmap` of the population's training runs in
  one compiled program, tell), first call (compile) and a steady second call;
- the same members trained one after another: the single-run program (the same `member`
  function, jitted without the population `vmap`) called `--population` times.

and prints a table of seconds and env steps/s (compile apart). The vmapped generation must be
no slower per env step than the sequential runs on a CPU, and faster on an accelerator.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import rljax
from rljax.meta import ClipEpsilon, ESConfig, LPONetwork, MetaTrainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drift", default="lpo", choices=("lpo", "talpo", "ppo_clip"))
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--timesteps", type=int, default=100_000)
    args = parser.parse_args()

    task = rljax.PPOConfig(env="CartPole-v1", total_timesteps=args.timesteps, drift=args.drift)
    meta = ClipEpsilon(0.2) if args.drift == "ppo_clip" else LPONetwork(args.drift)
    es = ESConfig(population_size=args.population, num_seeds=1, sigma_init=0.03)
    trainer = MetaTrainer([task], meta, es)
    steps = trainer.env_steps_per_generation
    print(
        f"{jax.devices()[0].platform}: {args.drift} on CartPole-v1, population "
        f"{args.population} x 1 seed x {trainer.programs[0].env_steps_per_run:,} steps"
    )

    state = trainer.init()
    start = time.perf_counter()
    state, _ = trainer.es_step(state, trainer.generation_key(0))
    first = time.perf_counter() - start
    state, metrics = trainer.es_step(state, trainer.generation_key(1))
    vmapped = metrics.seconds

    # The same members, one run at a time, through one compiled single-run program.
    population, _ = trainer.strategy.ask(
        jax.random.PRNGKey(2), state.strategy, trainer.strategy_params
    )
    population = jax.device_get(population)
    single = jax.jit(trainer.programs[0].member)
    key = trainer.inner_keys(trainer.generation_key(2), 0)[0]
    member = lambda i: jax.tree.map(lambda x: x[i], population)
    start = time.perf_counter()
    jax.block_until_ready(single(member(0), key))
    single_first = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(args.population):
        jax.block_until_ready(single(member(i), key))
    sequential = time.perf_counter() - start

    rows = [
        ("vmapped generation (es_step)", first - vmapped, vmapped),
        (f"{args.population} sequential single runs", single_first, sequential),
    ]
    print("| mode | compile s (approx.) | steady s | env steps/s |\n|---|---|---|---|")
    for name, compile_s, seconds in rows:
        print(f"| {name} | {compile_s:.1f} | {seconds:.1f} | {steps / seconds:,.0f} |")
    print(f"vmapped / sequential speed: {sequential / vmapped:.2f}x")
    assert np.isfinite(metrics.fitness).all()


if __name__ == "__main__":
    main()
