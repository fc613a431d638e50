"""The env adapters' overhead: random-action steps/s of `rljax.make("xminigrid/...")` against
xminigrid's own env with its gym-style auto-reset wrapper, and of
`rljax.make("playground/...")` against MuJoCo Playground's env under its brax training
wrapper, on the same env batch.

    python benchmarks/env_adapters.py [--envs MiniGrid-Empty-8x8 MiniGrid-DoorKey-5x5]
                                   [--playground-envs CartpoleBalance]
                                   [--num-envs 1024] [--steps 256] [--rounds 6]
                                   [--staggered]

Both sides run one jitted `lax.scan` of `steps` vmapped steps with uniformly random actions
(drawn before the loop, with the per-env step keys the gymnax interface takes);
calls alternate (raw, adapter, raw, ...) for `rounds` rounds in one process, so their time
ratio is meaningful on a noisy machine. The table gives each side's best steps/s, the
median of the per-round time ratios (adapter / raw: 1.00 = no overhead) and the compile
times. The raw side is what a user of xminigrid would run: `GymAutoResetWrapper`, which
discards the final observation; the adapter also returns it (and the two flags), which is
what it adds.

For playground the raw side is `mujoco_playground.wrapper.wrap_for_brax_training` (vmap,
the 1000-step time limit and an auto-reset to the cached first state of each env: it never
computes a reset after the first), both sides on MJX's JAX implementation (the adapter's
default). The adapter draws a fresh initial state from the step key at each episode end;
under `vmap` it computes the batch's resets only on steps where some env's episode ended
(`rljax.playground_adapter.PlaygroundEnvironment._reset_where`). DM Control episodes end at
the time limit (1000 steps), so with every env starting together `--steps` under 1000 times
no reset at all and `--steps 2048` two of them: run both. `--staggered` starts each env's
first episode at a random step of it (the same offsets on both sides), so some env ends on
almost every step: the adapter's worst case, a reset computed on every step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import xminigrid
from xminigrid.wrappers import GymAutoResetWrapper

import rljax
from rljax.playground_adapter import playground_registry


def _inputs(key, num_envs: int, steps: int, action_size: int = 0):
    """Per step: random actions, `[steps, num_envs]` discrete ones (`action_size` 0) or
    `[steps, num_envs, action_size]` in [-1, 1], and step keys `[steps, num_envs, 2]`,
    drawn before the loop, so both sides step the env and nothing else."""
    action_key, step_key = jax.random.split(key)
    if action_size:
        shape = (steps, num_envs, action_size)
        actions = jax.random.uniform(action_key, shape, minval=-1.0, maxval=1.0)
    else:
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


def _start_steps(key, num_envs: int, episode_length: int):
    """`--staggered`: each env's first episode starts at a random step `[num_envs]` of it."""
    return jax.random.randint(jax.random.fold_in(key, 1), (num_envs,), 0, episode_length)


def adapter_program(name: str, num_envs: int, steps: int, staggered: bool = False):
    """`steps` vmapped steps of `rljax.make(name)` (an `xminigrid/` or `playground/` name);
    `staggered` (playground only): episodes start at random steps (`_start_steps`)."""
    env, params = rljax.make(name)

    def run(key, actions, keys):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
        if staggered:
            state = state.replace(time=_start_steps(key, num_envs, env.max_episode_steps))

        def body(state, xs):
            actions, keys = xs
            obs, state, reward, _, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, state, actions, params
            )
            # The observation, as the raw side; and the final one, which the raw side lacks.
            first = (0,) * (obs.ndim - 1)
            used = obs[:, *first].sum() + info["final_observation"][:, *first].sum()
            return state, reward.sum() + used

        _, rewards = jax.lax.scan(body, state, (actions, keys))
        return rewards.sum()

    return jax.jit(run), getattr(env, "action_size", 0)


def playground_raw_program(name: str, num_envs: int, steps: int, staggered: bool = False):
    from mujoco_playground import wrapper

    registry = playground_registry()
    inner = registry.load(name, config_overrides={"impl": "jax"})
    episode_length = int(registry.get_default_config(name).episode_length)
    env = wrapper.wrap_for_brax_training(inner, episode_length=episode_length, action_repeat=1)

    def run(key, actions, keys):
        state = env.reset(jax.random.split(key, num_envs))  # the wrapper vmaps
        if staggered:
            start = _start_steps(key, num_envs, episode_length)
            state.info["steps"] = start.astype(state.info["steps"].dtype)

        def body(state, xs):
            actions, _ = xs  # the wrapper resets to its cached first state
            state = env.step(state, actions)
            return state, state.reward.sum() + state.obs[:, 0].sum()

        _, rewards = jax.lax.scan(body, state, (actions, keys))
        return rewards.sum()

    return jax.jit(run), inner.action_size


def timed(fn, key, num_envs: int, steps: int, action_size: int = 0) -> float:
    inputs = jax.block_until_ready(_inputs(key, num_envs, steps, action_size))
    start = time.perf_counter()
    jax.block_until_ready(fn(key, *inputs))
    return time.perf_counter() - start


def measure(
    name: str,
    num_envs: int,
    steps: int,
    rounds: int,
    family: str = "xminigrid",
    staggered: bool = False,
) -> dict:
    """Best steps/s of each side, the median of the per-round time ratios and the compile
    times, for the xminigrid env or (`family="playground"`) the playground env `name`."""
    if family == "playground":
        raw, action_size = playground_raw_program(name, num_envs, steps, staggered)
        adapted, _ = adapter_program(f"playground/{name}", num_envs, steps, staggered)
    else:
        raw, (adapted, _) = (
            raw_program(name, num_envs, steps),
            adapter_program(f"xminigrid/{name}", num_envs, steps),
        )
        action_size = 0
    programs = {"raw": raw, "rljax": adapted}
    compile_s = {
        side: timed(fn, jax.random.PRNGKey(0), num_envs, steps, action_size)
        for side, fn in programs.items()
    }
    seconds: dict[str, list[float]] = {side: [] for side in programs}
    for r in range(rounds):
        for side, fn in programs.items():
            seconds[side].append(timed(fn, jax.random.PRNGKey(r + 1), num_envs, steps, action_size))
    ratios = [a / b for a, b in zip(seconds["rljax"], seconds["raw"], strict=True)]
    total = num_envs * steps
    return {
        "env": name if family == "xminigrid" else f"{family}/{name}",
        "raw_sps": total / min(seconds["raw"]),
        "rljax_sps": total / min(seconds["rljax"]),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "raw_compile": compile_s["raw"],
        "rljax_compile": compile_s["rljax"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=["MiniGrid-Empty-8x8", "MiniGrid-DoorKey-5x5"])
    parser.add_argument("--playground-envs", nargs="*", default=["CartpoleBalance"])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--staggered",
        action="store_true",
        help="playground: start each env's episode at a random step (resets on most steps)",
    )
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    print(
        f"{platform}, {args.num_envs} envs x {args.steps} steps, {args.rounds} rounds"
        + (", playground episodes staggered" if args.staggered else "")
    )
    print(
        "| env | raw steps/s | rljax steps/s | time ratio rljax/raw (median) | per round "
        "| compile raw / rljax (s) |"
    )
    print("|---|---|---|---|---|---|")
    rows = [(name, "xminigrid") for name in args.envs]
    rows += [(name, "playground") for name in args.playground_envs]
    for name, family in rows:
        m = measure(name, args.num_envs, args.steps, args.rounds, family, args.staggered)
        rounds = " ".join(f"{r:.2f}" for r in m["ratios"])
        print(
            f"| {m['env']} | {m['raw_sps']:,.0f} | {m['rljax_sps']:,.0f} | {m['ratio']:.3f} "
            f"| {rounds} "
            f"| {m['raw_compile']:.1f} / {m['rljax_compile']:.1f} |"
        )


if __name__ == "__main__":
    main()
