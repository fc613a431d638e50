"""LPG's meta-gradient loop (`rljax.meta.meta_gradient`): meta-steps/s and env-steps/s of one
compiled meta-step at a few population sizes, beside A2C training alone on the same envs.

    python benchmarks/lpg_meta.py [--agents 16 64] [--num-envs 8] [--hidden 64] [--steps 10]

A meta-step collects (K + 1) rollouts per agent, makes K LPG updates and differentiates
through them; "A2C steps/s" is a plain A2C run (one rollout + one update per update) over the
same number of envs, so the ratio shows what the meta-gradient machinery costs per env step.
Compile time is reported apart. The population is one `vmap`ped program.

    python benchmarks/lpg_meta.py --groove [--agents 8] [--lifetime 50] [--warm 20] [--steps 20]

GROOVE's antagonist caching (`rljax.meta.level_sources`): meta-steps/s of the GROOVE loop with
the A2C antagonist's return cached per level against the reference's recomputation for every
score (`LevelSourceConfig(cache_antagonist=False)`), the same config and keys; after `--warm`
steps (the buffer fills and replays start), timed steps run in alternating blocks of 5 so
that a shared machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
from machine import describe

import envs.gridworld  # noqa: F401  (registers the gridworld envs and task space)
from envs.gridworld import GridworldConfig
from rljax.agents.lpg import A2C, A2CConfig, LPGAgentConfig
from rljax.meta import LevelSourceConfig, LPGRule, MetaGradient, MetaGradientConfig
from rljax.objectives.lpg import LPGRuleConfig
from rljax.training import train


def measure_meta(agents: int, num_envs: int, hidden: int, steps: int) -> dict:
    common = dict(
        env="Gridworld-index", num_envs=num_envs, num_steps=20, total_timesteps=num_envs * 2000
    )
    loop = MetaGradient(
        LPGAgentConfig(rule=LPGRuleConfig(hidden_size=hidden), **common),
        A2CConfig(**common),
        GridworldConfig(observation="index"),
        LPGRule(),
        MetaGradientConfig(num_agents=agents),
    )
    state = loop.init()
    start = time.perf_counter()
    state, _ = loop.step(state, loop.generation_key(0))
    jax.block_until_ready(state.meta_params)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for g in range(1, steps + 1):
        state, _ = loop.step(state, loop.generation_key(g))
    jax.block_until_ready(state.meta_params)
    per_step = (time.perf_counter() - start) / steps
    return {
        "meta_steps_per_s": 1 / per_step,
        "env_sps": loop.env_steps_per_step / per_step,
        "compile_s": first - per_step,
    }


def measure_a2c(runs: int, num_envs: int, updates: int = 50) -> float:
    config = A2CConfig(
        env="Gridworld-index-rand_dense",
        num_envs=num_envs,
        num_steps=20,
        total_timesteps=num_envs * 20 * updates,
    )
    fn = jax.jit(jax.vmap(functools.partial(train, A2C(config)), in_axes=(0, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), runs)
    jax.block_until_ready(fn(keys, config.hparams()))
    start = time.perf_counter()
    jax.block_until_ready(fn(jax.random.split(jax.random.PRNGKey(1), runs), config.hparams()))
    return runs * num_envs * 20 * updates / (time.perf_counter() - start)


def measure_groove(agents: int, lifetime: int, warm: int, timed: int, block: int = 5) -> None:
    """Print one table row per mode: meta-steps/s, antagonists trained, levels scored."""
    from experiments.lpg import _agent_default, _critic

    agent = _agent_default().replace(total_timesteps=8 * 20 * lifetime)
    config = MetaGradientConfig(num_agents=agents, meta_learning_rate=1e-3)
    space = GridworldConfig(observation="index", heldout="none", num_heldout_sampled=16)
    loops = {
        cache: MetaGradient(
            agent,
            _critic(agent),
            space,
            LPGRule(),
            config,
            curriculum="groove",
            level_source=LevelSourceConfig(cache_antagonist=cache),
        )
        for cache in (True, False)
    }
    states, elapsed = {}, dict.fromkeys(loops, 0.0)
    for cache, loop in loops.items():
        state = loop.init()
        for g in range(warm):
            state, _ = loop.step(state, loop.generation_key(g))
        states[cache] = jax.block_until_ready(state)
    before = {c: loops[c].source.stats(states[c].curriculum) for c in loops}
    for start in range(warm, warm + timed, block):
        for cache, loop in loops.items():
            state, begin = states[cache], time.perf_counter()
            for g in range(start, min(start + block, warm + timed)):
                state, _ = loop.step(state, loop.generation_key(g))
            states[cache] = jax.block_until_ready(state)
            elapsed[cache] += time.perf_counter() - begin
    print(f"GROOVE, {agents} agents, lifetime {lifetime} updates, steps {warm}..{warm + timed - 1}")
    print("| antagonist | meta-steps/s | antagonists trained | replayed share | speed-up |")
    print("|---|---|---|---|---|")
    for cache, loop in loops.items():
        after = loop.source.stats(states[cache].curriculum)
        trained = after["antagonists_trained"] - before[cache]["antagonists_trained"]
        print(
            f"| {'cached per level' if cache else 'recomputed per score'} | "
            f"{timed / elapsed[cache]:.3f} | {trained} | {after['replay_share']:.0%} | "
            f"{elapsed[False] / elapsed[cache]:.2f}x |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64, help="rule GRU units (paper: 256)")
    parser.add_argument("--steps", type=int, default=10, help="timed meta-steps")
    parser.add_argument("--groove", action="store_true", help="GROOVE: cached vs recomputed")
    parser.add_argument("--lifetime", type=int, default=50, help="--groove: updates per life")
    parser.add_argument("--warm", type=int, default=20, help="--groove: untimed first steps")
    args = parser.parse_args()
    print(describe())
    if args.groove:
        measure_groove(args.agents[0], args.lifetime, args.warm, args.steps)
        return
    print("| agents x envs | meta-steps/s | env steps/s | compile s | A2C steps/s | ratio |")
    print("|---|---|---|---|---|---|")
    for agents in args.agents:
        meta = measure_meta(agents, args.num_envs, args.hidden, args.steps)
        a2c = measure_a2c(agents, args.num_envs)
        print(
            f"| {agents} x {args.num_envs} | {meta['meta_steps_per_s']:.2f} | "
            f"{meta['env_sps']:,.0f} | {meta['compile_s']:.1f} | {a2c:,.0f} | "
            f"{meta['env_sps'] / a2c:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
