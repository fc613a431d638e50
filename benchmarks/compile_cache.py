"""Time to first update with JAX's persistent compilation cache: a cold cache vs a warm one.

    python benchmarks/compile_cache.py                 # PPO, PQN, DQN on CartPole, MinAtar PPO
    python benchmarks/compile_cache.py --algos ppo dqn

For each experiment, a fresh cache folder, then the same experiment twice in new processes
(what `python -m experiments.<algo>` does: the default config, 4 seeds in one vmapped batch,
the default chunk of 64 updates). Each process reports the seconds from its start to the end of
its first update (interpreter start and imports included, measured by the parent), and the
part of that spent in `rljax.run` before the first update (init and the first chunk: mostly
compilation on a cold cache, cache loading on a warm one). The chunk is one update long here
so the first update ends as soon as it is compiled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

EXPERIMENTS = {
    "ppo": ("rljax.agents.ppo", "PPO", "PPOConfig", {}),
    "pqn": ("rljax.agents.pqn", "PQN", "PQNConfig", {}),
    "dqn": ("rljax.agents.dqn", "DQN", "DQNConfig", {}),
    "ppo-minatar": ("rljax.agents.ppo", "PPO", "PPOConfig", {"env": "Breakout-MinAtar"}),
}


class _FirstUpdate(Exception):
    pass


def child(name: str, cache: str) -> None:
    """Runs in the measured process: the experiment's first update, then a JSON line."""
    import importlib

    from rljax.experiment import enable_compilation_cache
    from rljax.training import run, seed_keys, stack_hparams

    module, algo_name, config_name, changes = EXPERIMENTS[name]
    agents = importlib.import_module(module)
    config = getattr(agents, config_name)(**changes)
    algo = getattr(agents, algo_name)(config)
    enable_compilation_cache(cache)
    seeds = [0, 1, 2, 3]
    start = time.perf_counter()

    def on_chunk(updates_done, metrics):
        raise _FirstUpdate

    with contextlib.suppress(_FirstUpdate):
        run(
            algo,
            seed_keys(seeds),
            stack_hparams([config.hparams()] * len(seeds)),
            chunk_size=1,
            progress=False,
            on_chunk=on_chunk,
        )
    print(json.dumps({"in_run": time.perf_counter() - start}), flush=True)


def measure(name: str, cache: str) -> tuple[float, float]:
    """`(seconds from process start to first update, seconds of it inside rljax.run)`."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--cache", cache],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
    )
    total = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return total, json.loads(proc.stdout.strip().splitlines()[-1])["in_run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--child", choices=EXPERIMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cache)
        return
    rows = []
    for name in args.algos:
        with tempfile.TemporaryDirectory(prefix="rljax-xla-") as cache:
            cold, warm = measure(name, cache), measure(name, cache)
        rows.append((name, cold, warm))
        print(f"{name}: cold {cold[0]:.1f}s, warm {warm[0]:.1f}s", file=sys.stderr)
    print("| experiment | first run: to first update (in `run`) | second run | speed-up |")
    print("|---|---|---|---|")
    for name, (cold, cold_run), (warm, warm_run) in rows:
        print(
            f"| {name} | {cold:.1f} s ({cold_run:.1f} s) | {warm:.1f} s ({warm_run:.1f} s) "
            f"| {cold / warm:.1f}x ({cold_run / warm_run:.1f}x) |"
        )


if __name__ == "__main__":
    main()
