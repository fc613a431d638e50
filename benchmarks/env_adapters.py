"""The xminigrid adapter's overhead: random-action steps/s of `rljax.make("xminigrid/...")`
against xminigrid's own env with its gym-style auto-reset wrapper, on the same env batch.

    python benchmarks/env_adapters.py [--envs MiniGrid-Empty-8x8 MiniGrid-DoorKey-5x5]
                                   [--num-envs 1024] [--steps 256] [--rounds 6]

Both sides run one jitted `lax.scan` of `steps` vmapped steps with uniformly random actions
(drawn before the loop, with the per-env step keys the gymnax interface takes);
calls alternate (raw, adapter, raw, ...) for `rounds` rounds in one process, so their time
ratio is meaningful on a noisy machine. The table gives each side's best steps/s, the
median of the per-round time ratios (adapter / raw: 1.00 = no overhead) and the compile
times. The raw side is what a user of xminigrid would run: `GymAutoResetWrapper`, which
discards the final observation; the adapter also returns it (and the two flags), which is
what it adds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import xminigrid
from xminigrid.wrappers import GymAutoResetWrapper

import rljax


def _inputs(key, num_envs: int, steps: int):
    """Per step: random actions `[steps, num_envs]` and step keys `[steps, num_envs, 2]`,
    drawn before the loop, so both sides step the env and nothing else."""
    action_key, step_key = jax.random.split(key)
    actions = jax.random.randint(action_key, (steps, num_envs), 0, 6)
    keys = jax.random.split(step_key, (steps, num_envs))
    return actions, keys


def raw_program(name: str, num_envs: int, steps: int):
    env, params = xminigrid.make(name)
    env = GymAutoResetWrapper(env)

    def run(key, actions, keys):
        timestep = jax.vmap(env.reset, in_axes=(None, 0))(params, jax.random.split(key, num_envs))

        def body(timestep, xs):
            actions, _ = xs  # the wrapper resets from the key in its state
            timestep = jax.vmap(env.step, in_axes=(None, 0, 0))(params, timestep, actions)
            # Consume the observation as a policy would (else XLA drops its computation).
            return timestep, timestep.reward.sum() + timestep.observation[:, 0, 0, 0].sum()

        _, rewards = jax.lax.scan(body, timestep, (actions, keys))
        return rewards.sum()

    return jax.jit(run)


def adapter_program(name: str, num_envs: int, steps: int):
    env, params = rljax.make(f"xminigrid/{name}")

    def run(key, actions, keys):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, xs):
            actions, keys = xs
            obs, state, reward, _, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, state, actions, params
            )
            # The observation, as the raw side; and the final one, which the raw side lacks.
            used = obs[:, 0, 0, 0].sum() + info["final_observation"][:, 0, 0, 0].sum()
            return state, reward.sum() + used

        _, rewards = jax.lax.scan(body, state, (actions, keys))
        return rewards.sum()

    return jax.jit(run)


def timed(fn, key, num_envs: int, steps: int) -> float:
    inputs = jax.block_until_ready(_inputs(key, num_envs, steps))
    start = time.perf_counter()
    jax.block_until_ready(fn(key, *inputs))
    return time.perf_counter() - start


def measure(name: str, num_envs: int, steps: int, rounds: int) -> dict:
    programs = {
        "raw": raw_program(name, num_envs, steps),
        "rljax": adapter_program(name, num_envs, steps),
    }
    compile_s = {
        side: timed(fn, jax.random.PRNGKey(0), num_envs, steps) for side, fn in programs.items()
    }
    seconds: dict[str, list[float]] = {side: [] for side in programs}
    for r in range(rounds):
        for side, fn in programs.items():
            seconds[side].append(timed(fn, jax.random.PRNGKey(r + 1), num_envs, steps))
    ratios = [a / b for a, b in zip(seconds["rljax"], seconds["raw"], strict=True)]
    total = num_envs * steps
    return {
        "env": name,
        "raw_sps": total / min(seconds["raw"]),
        "rljax_sps": total / min(seconds["rljax"]),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "raw_compile": compile_s["raw"],
        "rljax_compile": compile_s["rljax"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["MiniGrid-Empty-8x8", "MiniGrid-DoorKey-5x5"])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    print(f"{platform}, {args.num_envs} envs x {args.steps} steps, {args.rounds} rounds")
    print(
        "| env | raw steps/s | rljax steps/s | time ratio rljax/raw (median) | per round "
        "| compile raw / rljax (s) |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.envs:
        m = measure(name, args.num_envs, args.steps, args.rounds)
        rounds = " ".join(f"{r:.2f}" for r in m["ratios"])
        print(
            f"| {name} | {m['raw_sps']:,.0f} | {m['rljax_sps']:,.0f} | {m['ratio']:.3f} | {rounds} "
            f"| {m['raw_compile']:.1f} / {m['rljax_compile']:.1f} |"
        )


if __name__ == "__main__":
    main()
