"""Threefry on XLA:CPU, unrolled (rljax's lowering, `rljax.cpu_random`) against JAX's rolled
loop: compile and run time of the same programs, in one process, calls alternated.

    python benchmarks/cpu_random.py [--rounds 4] [--seeds 4] [--agents PPO SAC DQN RecurrentPPO]

Programs (each lowered afresh under both choices, so neither reuses the other's compile):
  * `random scan`: 128 steps of what a rollout step draws (a key split into three, 4 per-env
    keys, a categorical action per env, 4 uniforms per env), vmapped over 16 runs;
  * `<agent> init`: `vmap(init)` over `--seeds` runs (orthogonal init: one normal draw per
    kernel), the agent's default config (SAC on Pendulum-v1);
  * `<agent> chunk`: `rljax.training.compiled_chunk` of 16 updates over `--seeds` runs.
Compile is trace + lower + XLA compile in process CPU seconds (best of `--rounds`); run is the
best wall-clock seconds of `--rounds` calls. The last column checks that both programs return
the same bits.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from machine import describe

import rljax
from rljax import cpu_random, training


def random_scan():
    def step(carry, _):
        key, total = carry
        key, k1, k2 = jax.random.split(key, 3)
        keys = jax.random.split(k1, 4)
        actions = jax.vmap(lambda k: jax.random.categorical(k, jnp.zeros(2)))(keys)
        draws = jax.vmap(lambda k: jax.random.uniform(k, (4,)))(jax.random.split(k2, 4))
        return (key, total + actions.sum() + draws.sum()), actions

    def run(key):
        return jax.lax.scan(step, (key, 0.0), None, length=128)[1]

    return jax.vmap(run), (jax.random.split(jax.random.PRNGKey(0), 16),)


AGENTS = {
    "PPO": lambda: (rljax.PPOConfig(), rljax.PPO),
    "DQN": lambda: (rljax.DQNConfig(), rljax.DQN),
    "SAC": lambda: (rljax.SACConfig(env="Pendulum-v1"), rljax.SAC),
    "RecurrentPPO": lambda: (rljax.RecurrentPPOConfig(), rljax.RecurrentPPO),
}


def agent_programs(name: str, seeds: int):
    """`name`'s vmapped init and a chunk of 16 updates over `seeds` runs (default config)."""
    config, cls = AGENTS[name]()
    algo = cls(config)
    keys = rljax.seed_keys(list(range(seeds)))
    hparams = rljax.stack_hparams([config.hparams()] * seeds)
    init = jax.vmap(algo.init)
    state = jax.jit(init)(keys, hparams)
    chunk = training.compiled_chunk(algo, 16)
    return {
        f"{name} init": (init, (keys, hparams)),
        f"{name} chunk": (lambda s: chunk(s, 16), (state,)),
    }


def compile_under(fn, args, rolled: bool):
    start = time.process_time()
    with cpu_random.jax_default_lowering(rolled):
        compiled = jax.jit(lambda *a: fn(*a)).lower(*args).compile()
    return compiled, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--agents", nargs="+", default=["PPO", "SAC"], choices=list(AGENTS))
    args = parser.parse_args()
    if not cpu_random.enabled():
        raise SystemExit("rljax.cpu_random is not installed (RLJAX_ROLLED_THREEFRY set?)")
    programs = {"random scan (16 runs)": random_scan()}
    for name in args.agents:
        programs.update(agent_programs(name, args.seeds))
    print(f"{describe()}; {args.seeds} runs per agent")
    print(
        "| program | compile CPU s, rolled | unrolled | run ms, rolled | unrolled "
        "| run speed-up | same bits |\n|---|---|---|---|---|---|---|"
    )
    for name, (fn, fn_args) in programs.items():
        best = {True: [np.inf, np.inf], False: [np.inf, np.inf]}
        outs = {}
        for r in range(args.rounds):
            for rolled in (True, False) if r % 2 == 0 else (False, True):
                compiled, took = compile_under(fn, fn_args, rolled)
                outs[rolled] = jax.block_until_ready(compiled(*fn_args))
                start = time.perf_counter()
                jax.block_until_ready(compiled(*fn_args))
                ran = time.perf_counter() - start
                best[rolled] = [min(best[rolled][0], took), min(best[rolled][1], ran)]
        same = all(
            np.array_equal(np.asarray(a), np.asarray(b))
            for a, b in zip(jax.tree.leaves(outs[True]), jax.tree.leaves(outs[False]), strict=True)
        )
        print(
            f"| {name} | {best[True][0]:.2f} | {best[False][0]:.2f} | {best[True][1] * 1e3:.1f} "
            f"| {best[False][1] * 1e3:.1f} | {best[True][1] / best[False][1]:.2f}x | {same} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
