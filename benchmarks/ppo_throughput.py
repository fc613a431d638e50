"""PPO training throughput against the random-action ceiling of the same env batch.

    python benchmarks/ppo_throughput.py [--env CartPole-v1] [--repeats 3]

For each (num_envs x num_steps) config it prints env-steps/s of PPO's steady training loop
(compile excluded, reported apart) and of a random-action rollout with the same rollout code
over the same env batch: the ceiling a training loop could reach if learning were free. Both
run as one compiled `lax.scan` of the same number of rollouts, on the same device, in the
same process, so their ratio is meaningful even on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import rljax
from rljax import rollout
from rljax.training import run_chunk

CONFIGS = ((4, 128), (256, 128))


def _timed(fn, *args, repeats: int) -> tuple[float, float]:
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
    first, steady = _timed(train_chunk, state, repeats=repeats)

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
    _, ceiling = _timed(ceiling_fn, state.rollout, jax.random.PRNGKey(1), repeats=repeats)
    steps = num_envs * num_steps * updates
    return {
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
    args = parser.parse_args()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), env {args.env}")
    columns = ("config", "PPO steps/s", "compile s", "random steps/s", "PPO / ceiling")
    header = "| " + " | ".join(f"{c:<22}" if i == 0 else c for i, c in enumerate(columns)) + " |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for num_envs, num_steps in CONFIGS:
        r = measure(args.env, num_envs, num_steps, args.updates, args.repeats)
        print(
            f"| {r['config']:<22} | {r['ppo_sps']:>11,.0f} | {r['compile_s']:>9.1f} | "
            f"{r['ceiling_sps']:>14,.0f} | {r['ratio']:>13.0%} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
