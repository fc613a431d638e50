"""PPO training throughput against the random-action ceiling of the same env batch.

    python benchmarks/ppo_throughput.py [--env CartPole-v1] [--repeats 3] [--configs 4x128,256x128]

For each (num_envs x num_steps) config it prints env-steps/s of PPO's steady training loop
(compile excluded, reported apart) and of a random-action rollout with the same rollout code
over the same env batch: the ceiling a training loop could reach if learning were free. Both
run as one compiled `lax.scan` of the same number of rollouts, on the same device, in the
same process, so their ratio is meaningful even on a noisy shared machine.

It also prints a compute bound for the learning phase: PPO's minibatch epochs cost about
6 x (dense-layer multiply-adds per sample) x batch x epochs FLOPs per update (2 for the
forward pass, 4 for the backward). "best possible" is the ratio PPO would reach if learning
ran at the matmul rate this machine achieves on the same layer shapes and collecting cost no
more than the random rollout: an upper bound for any implementation of this config here.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from machine import describe

import rljax
from rljax import rollout
from rljax.training import run_chunk

CONFIGS = ((4, 128), (256, 128))


def timed(fn, *args, repeats: int = 3) -> tuple[float, float]:
    """(first call seconds incl. compile, best steady-call seconds)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return first, best


def matmul_gflops(batch: int, width: int, iterations: int = 2000) -> float:
    """Achieved GFLOP/s of a chain of `[batch, width] @ [width, width]` + tanh layers."""
    x = jnp.ones((batch, width))
    w = jnp.full((width, width), 0.01)
    chain = jax.jit(lambda x, w: jax.lax.fori_loop(0, iterations, lambda i, c: jnp.tanh(c @ w), x))
    _, seconds = timed(chain, x, w, repeats=3)
    return 2 * batch * width * width * iterations / seconds / 1e9


def measure(env_name: str, num_envs: int, num_steps: int, updates: int, repeats: int) -> dict:
    config = rljax.PPOConfig(
        env=env_name,
        num_envs=num_envs,
        num_steps=num_steps,
        total_timesteps=num_envs * num_steps * updates,
    )
    algo = rljax.PPO(config)
    state = jax.jit(algo.init)(jax.random.PRNGKey(0), config.hparams())
    train_chunk = jax.jit(lambda s: run_chunk(algo, s, jnp.int32(updates), updates))
    first, steady = timed(train_chunk, state, repeats=repeats)

    space = algo.env.action_space(algo.env_params)

    def random_policy(_, obs, key):
        keys = jax.random.split(key, obs.shape[0])
        return jax.vmap(space.sample)(keys), None

    def random_rollouts(rollout_state, key):
        def one(carry, k):
            carry, traj = rollout.collect(
                algo.env, algo.env_params, random_policy, None, carry, k, num_steps
            )
            return carry, traj.reward.sum()

        return jax.lax.scan(one, rollout_state, jax.random.split(key, updates))

    ceiling_fn = jax.jit(random_rollouts)
    _, ceiling = timed(ceiling_fn, state.rollout, jax.random.PRNGKey(1), repeats=repeats)
    steps = num_envs * num_steps * updates
    macs_per_sample = sum(
        leaf.size
        for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)
        if "kernel" in jax.tree_util.keystr(path)
    )
    batch = num_envs * num_steps
    learn_flops = 6 * macs_per_sample * batch * config.update_epochs
    minibatch = batch // config.num_minibatches
    gflops = matmul_gflops(minibatch, max(config.hidden_sizes))
    best_seconds_per_update = learn_flops / (gflops * 1e9) + batch / (steps / ceiling)
    return {
        "best_ratio": batch / best_seconds_per_update / (steps / ceiling),
        "gflops": gflops,
        "config": f"{num_envs} envs x {num_steps} steps",
        "ppo_sps": steps / steady,
        "compile_s": first - steady,
        "ceiling_sps": steps / ceiling,
        "ratio": ceiling / steady,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--updates", type=int, default=20, help="updates per timed call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--configs",
        default=",".join(f"{n}x{t}" for n, t in CONFIGS),
        help="num_envs x num_steps pairs, e.g. 4x128,256x128,4096x128 (a GPU wants more envs)",
    )
    args = parser.parse_args()
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    print(f"{describe()}; env {args.env}")
    columns = (
        "config",
        "PPO steps/s",
        "compile s",
        "random steps/s",
        "PPO / ceiling",
        "best possible",
    )
    header = "| " + " | ".join(f"{c:<22}" if i == 0 else c for i, c in enumerate(columns)) + " |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for num_envs, num_steps in configs:
        r = measure(args.env, num_envs, num_steps, args.updates, args.repeats)
        print(
            f"| {r['config']:<22} | {r['ppo_sps']:>11,.0f} | {r['compile_s']:>9.1f} | "
            f"{r['ceiling_sps']:>14,.0f} | {r['ratio']:>13.0%} | "
            f"{r['best_ratio']:>4.0%} @ {r['gflops']:>3.0f} GFLOP/s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
