"""Training throughput of every agent, and DQN's replay-buffer share.

    python benchmarks/agents_throughput.py [--env CartPole-v1] [--updates 50]

For each algorithm at its default config it prints env-steps/s of one run's steady training
loop (a compiled scan of `--updates` updates, compile excluded, best of 3) and the compile
time of that scan. For DQN it also times the buffer alone (the same number of `replay.add`
and `replay.sample` calls on the same shapes, in one compiled scan) and reports it as a
share of the update: the buffer must not dominate. All rows come from one process, so their
ratios are comparable on a noisy shared machine.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

# Run as a script, this folder is on sys.path: reuse the sibling benchmark's timer.
from machine import describe
from ppo_throughput import timed

from rljax import replay
from rljax.agents import (
    DQN,
    PPO,
    PQN,
    SAC,
    DQNConfig,
    PPOConfig,
    PQNConfig,
    RecurrentPPO,
    RecurrentPPOConfig,
    SACConfig,
)
from rljax.training import run_chunk


def measure(algo, updates: int) -> tuple[float, float, object]:
    """(env steps/s, compile seconds, a trained state) for `updates` updates of one run."""
    state = jax.jit(algo.init)(jax.random.PRNGKey(0), algo.config.hparams())
    # Time the steady loop: past any warm-up during which an agent does not learn yet.
    warm_up = -(-getattr(algo.config, "learning_starts", 0) // algo.steps_per_update)
    if warm_up:
        state = jax.jit(lambda s: run_chunk(algo, s, jnp.int32(warm_up), warm_up))(state)[0]
    chunk = jax.jit(lambda s: run_chunk(algo, s, jnp.int32(updates), updates))
    first, steady = timed(chunk, state)
    return algo.steps_per_update * updates / steady, first - steady, chunk(state)[0]


def dqn_buffer_seconds(algo: DQN, state, updates: int) -> float:
    """Seconds for the buffer work of `updates` DQN updates: the adds and the samples."""
    config = algo.config
    example = jax.tree.map(lambda x: x[0], replay.sample(state.buffer, jax.random.PRNGKey(0), 1))
    rows = jax.tree.map(lambda x: jnp.broadcast_to(x, (config.num_envs, *x.shape)), example)

    def one_update(buffer, key):
        for _ in range(config.num_steps):
            buffer = replay.add(buffer, rows)
        keys = jax.random.split(key, config.num_gradient_steps)
        batches = jax.vmap(lambda k: replay.sample(buffer, k, config.batch_size))(keys)
        return buffer, jax.tree.map(lambda x: x.sum(), batches)

    fn = jax.jit(lambda b, k: jax.lax.scan(one_update, b, jax.random.split(k, updates)))
    return timed(fn, state.buffer, jax.random.PRNGKey(1))[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument(
        "--continuous-env", default="Pendulum-v1", help="env for SAC's continuous variant"
    )
    parser.add_argument("--updates", type=int, default=50)
    args = parser.parse_args()
    print(f"{describe()}; env {args.env}")
    print(f"| {'algorithm':<16} | {'config':<34} | {'steps/s':>10} | {'compile s':>9} |")
    print(f"|{'-' * 18}|{'-' * 36}|{'-' * 12}|{'-' * 11}|")
    dqn_state = None
    for name, algo in (
        ("ppo", PPO(PPOConfig(env=args.env))),
        ("pqn", PQN(PQNConfig(env=args.env))),
        ("dqn", DQN(DQNConfig(env=args.env))),
        ("rppo", RecurrentPPO(RecurrentPPOConfig(env=args.env))),
        ("sac", SAC(SACConfig(env=args.env))),
        (f"sac {args.continuous_env}", SAC(SACConfig(env=args.continuous_env))),
    ):
        c = algo.config
        shape = f"{c.num_envs} envs x {c.num_steps} steps"
        sps, compile_s, state = measure(algo, args.updates)
        if hasattr(c, "num_gradient_steps"):
            shape += f", {c.num_gradient_steps} grad steps"
        if name == "dqn":
            dqn_state, dqn_algo = state, algo
            dqn_update_s = algo.steps_per_update * args.updates / sps
        print(f"| {name:<16} | {shape:<34} | {sps:>10,.0f} | {compile_s:>9.1f} |", flush=True)
    buffer_s = dqn_buffer_seconds(dqn_algo, dqn_state, args.updates)
    print(
        f"\nDQN buffer (add + sample) alone: {buffer_s * 1e3:.1f} ms for {args.updates} updates, "
        f"{buffer_s / dqn_update_s:.0%} of the training loop's {dqn_update_s * 1e3:.1f} ms."
    )


if __name__ == "__main__":
    main()
