"""First-run compile time of every experiment module: trace, lowering and XLA compile of the
programs that run before its first chunk (or first generation) ends, with no compilation cache.

    python benchmarks/compile_time.py                    # every module, one process each
    python benchmarks/compile_time.py --modules ppo dqn
    python benchmarks/compile_time.py --programs         # also list every compiled program
    python benchmarks/compile_time.py --before TREE      # TREE's code and this one's, alternated
    python benchmarks/compile_time.py --trace-ab ppo dqn # chunk trace: old masked branch vs now

Each module runs in a fresh process, exactly as `python -m experiments.<module>` runs it: its
default config and default command-line arguments (4 seeds, chunks of 64 updates; the outer
loops at their default population), with only the run folder moved to a temporary directory
and JAX's persistent compilation cache turned off (`jax_enable_compilation_cache` False and
`--compilation-cache ''`). Nothing is shrunk, so every compiled program is the one a real run
compiles. The process stops as soon as its first chunk's metrics reach the run folder writer
(`RunWriter.on_chunk`) or its outer loop's first generation reaches `on_generation`.

Measured in the child through `jax.monitoring` (the events jax itself records): for every
top-level `jit` program, the seconds spent tracing Python to a jaxpr, lowering the jaxpr to
StableHLO and compiling it with XLA. The table shows the program with the most XLA compile
time (the training chunk `jit(vmap(run_chunk))`, or an outer loop's generation; for lpg it is
the two held-out evaluators, both named `<lambda>`, with `--programs` listing `_meta_step`)
apart from all the others started from `main()` (init, op-by-op host work such as stacking
the seeds' hyperparameters and the arrays xminigrid builds when `envs` is imported: each small
jitted op compiles once), and how many times the algorithm's update (or inner `learn`) was
traced, by counting calls of the Python method: every call is one trace, since compiled code
never calls back into Python. "first chunk s" is from the module's `main()` to the end of its
first chunk (compilation and running the chunk's updates), with the process's CPU seconds
(every thread) beside it; "process start to first chunk s" counts from the parent's spawning
the process (interpreter start and imports included). The machine these numbers come from is
shared, so wall seconds move with its load (printed per row); counts and CPU seconds less so.

`--trace-ab` measures one cut in isolation, in one process with the variants alternated: the
CPU seconds to trace the chunk program with `run_chunk`'s masked branch as it was (zero
metrics from `jax.eval_shape(algo.update, s)`, a second trace of the whole update) and as it
is now (shapes read off the update's own trace).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

# name: (module, argv, counted methods "module:Class.method")
MODULES: dict[str, tuple[str, list[str], list[str]]] = {
    "ppo": ("experiments.ppo", [], ["rljax.agents.ppo:PPO.update"]),
    "dqn": ("experiments.dqn", [], ["rljax.agents.dqn:DQN.update"]),
    "pqn": ("experiments.pqn", [], ["rljax.agents.pqn:PQN.update"]),
    "sac": ("experiments.sac", [], ["rljax.agents.sac:SAC.update"]),
    "mdpo_off": ("experiments.mdpo_off", [], ["rljax.agents.mdpo_off:OffMDPO.update"]),
    "recurrent_ppo": (
        "experiments.recurrent_ppo",
        [],
        ["rljax.agents.recurrent_ppo:RecurrentPPO.update"],
    ),
    "ued": (
        "experiments.ued",
        [],
        ["rljax.curricula.runner:UED.update", "rljax.agents.ppo:PPO.learn"],
    ),
    "alp_gmm": (
        "experiments.ued",
        [
            *("curriculum:alp_gmm", "task-space:classic", "learner:feedforward"),
            *("--learner.env", "CartPole-v1-params", "--learner.num-steps", "500"),
        ],
        ["rljax.curricula.runner:UED.update", "rljax.agents.ppo:PPO.learn"],
    ),
    "sweep": (
        "experiments.sweep",
        ["--algo", "ppo", "--lr", "1e-4,3e-4"],
        ["rljax.agents.ppo:PPO.update"],
    ),
    "lpo": ("experiments.lpo", ["meta-train"], ["rljax.agents.ppo:PPO.learn"]),
    "neuroevolution-ga": ("experiments.neuroevolution", ["ga"], []),
    "neuroevolution-es": ("experiments.neuroevolution", ["es"], []),
    "lpg": ("experiments.lpg", ["meta-train"], ["rljax.agents.lpg:LPGAgent.learn"]),
    "mbtl": (
        "experiments.mbtl",
        [],
        ["rljax.curricula.runner:UED.update", "rljax.agents.ppo:PPO.learn"],
    ),
}

TRACE = "/jax/core/compile/jaxpr_trace_duration"
LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
COMPILE = "/jax/core/compile/backend_compile_duration"


class _FirstChunk(BaseException):
    """Raised in the child once the first chunk is done (a BaseException, so no `except
    Exception` on the way up swallows it)."""


def _count_calls(spec: str, counts: dict[str, int]) -> None:
    module_name, qualified = spec.split(":")
    class_name, method_name = qualified.split(".")
    owner = getattr(importlib.import_module(module_name), class_name)
    original = getattr(owner, method_name)  # (perhaps inherited: OffMDPO's is SAC's)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[qualified] += 1
        return original(*args, **kwargs)

    setattr(owner, method_name, counted)


def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stamp(stamp: dict[str, float]) -> None:
    stamp["first_chunk_end"] = time.time()
    stamp["first_chunk_cpu"] = _cpu_seconds()


def _stop_after_first(fn: Any, stamp: dict[str, float]) -> Any:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> None:
        fn(*args, **kwargs)
        _stamp(stamp)
        raise _FirstChunk

    return wrapped


def child(name: str, out_dir: str) -> None:
    """Runs in the measured process: the module up to its first chunk, then one JSON line."""
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    events: list[tuple[str, str, float, float]] = []

    def listen(event: str, duration: float, **kwargs: Any) -> None:
        if event in (TRACE, LOWER, COMPILE):
            # Tracing names the function (`init`), lowering and compiling the program
            # (`jit(init)`).
            name = str(kwargs.get("fun_name", "?"))
            if name.startswith("jit(") and name.endswith(")"):
                name = name[4:-1]
            events.append((event, name, duration, time.time()))

    jax.monitoring.register_event_duration_secs_listener(listen)
    module_name, argv, counted = MODULES[name]
    counts: dict[str, int] = defaultdict(int)
    stamp: dict[str, float] = {}
    module = importlib.import_module(module_name)
    for spec in counted:
        _count_calls(spec, counts)
    import rljax.results

    rljax.results.RunWriter.on_chunk = _stop_after_first(rljax.results.RunWriter.on_chunk, stamp)
    import rljax.meta.outer_loop as outer

    original_loop = outer.run_outer_loop

    def first_generation(*args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(original_loop).bind(*args, **kwargs)
        on_generation = bound.arguments.get("on_generation")

        def stop(*a: Any) -> None:
            if on_generation is not None:
                on_generation(*a)
            _stamp(stamp)
            raise _FirstChunk

        bound.arguments["on_generation"] = stop
        return original_loop(*bound.args, **bound.kwargs)

    for meta in ("es", "meta_gradient", "neuroevolution"):
        meta_module = importlib.import_module(f"rljax.meta.{meta}")
        meta_module.run_outer_loop = first_generation
    # The flags sit on the subcommand's args (after the subcommand word) or the module's;
    # before config choices (`curriculum:alp_gmm`), which take only their own flags after them.
    flags = ["--out-dir", out_dir, "--compilation-cache", ""]
    args = [*flags, *argv] if argv and ":" in argv[0] else [*argv, *flags]
    start, start_cpu = time.time(), _cpu_seconds()
    with contextlib.suppress(_FirstChunk):
        module.main(args)
    if "first_chunk_end" not in stamp:
        raise SystemExit(f"{name}: the module returned before its first chunk ended")
    print(
        json.dumps(
            {
                "main_start": start,
                "first_chunk_end": stamp["first_chunk_end"],
                "first_chunk_cpu": stamp["first_chunk_cpu"] - start_cpu,
                "events": events,
                "counts": dict(counts),
            }
        ),
        flush=True,
    )


HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(name: str, tree: str = HERE) -> dict[str, Any]:
    """One fresh process running module `name` from the source tree `tree` (this checkout,
    or another copy of the project for a before/after comparison)."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="rljax-compile-time-") as out_dir:
        spawned = time.time()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--out-dir", out_dir],
            capture_output=True,
            text=True,
            env=env,
        )
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["spawned"] = spawned
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Per program (jit's fun_name, in order of first appearance): trace, lower, compile
    seconds and how many times each happened; the largest by compile time is the chunk."""
    programs: dict[str, dict[str, float]] = {}
    start = result["main_start"]
    for event, fun, seconds, when in result["events"]:
        if when < start:  # at import (gymnax builds arrays when imported), not in main()
            fun = f"{fun} (import)"
        entry = programs.setdefault(fun, defaultdict(float))
        entry[event] += seconds
        entry[event + "#"] += 1
    main = max(programs, key=lambda f: programs[f][COMPILE]) if programs else "?"
    others = [p for f, p in programs.items() if f != main and not f.endswith("(import)")]
    return {
        "programs": programs,
        "main": main,
        "trace": programs[main][TRACE],
        "lower": programs[main][LOWER],
        "compile": programs[main][COMPILE],
        "main_compiles": int(programs[main][COMPILE + "#"]),
        "other_count": int(sum(p[COMPILE + "#"] for p in others)),
        "other_seconds": sum(p[TRACE] + p[LOWER] + p[COMPILE] for p in others),
        "first_chunk": result["first_chunk_end"] - result["main_start"],
        "first_chunk_cpu": result["first_chunk_cpu"],
        "to_first_chunk": result["first_chunk_end"] - result["spawned"],
        "counts": result["counts"],
    }


def _describe(name: str, row: dict[str, Any], programs: bool) -> None:
    print(
        f"{name}: chunk compile {row['compile']:.1f}s, first chunk {row['first_chunk']:.1f}s",
        file=sys.stderr,
        flush=True,
    )
    if programs:
        for fun, p in row["programs"].items():
            print(
                f"    {fun}: trace {p[TRACE]:.2f}s x{int(p[TRACE + '#'])}, lower "
                f"{p[LOWER]:.2f}s, compile {p[COMPILE]:.2f}s x{int(p[COMPILE + '#'])}",
                file=sys.stderr,
                flush=True,
            )


TRACE_AB = {
    "ppo": ("ppo", "PPO", "PPOConfig"),
    "dqn": ("dqn", "DQN", "DQNConfig"),
    "pqn": ("pqn", "PQN", "PQNConfig"),
    "sac": ("sac", "SAC", "SACConfig"),
    "mdpo_off": ("mdpo_off", "OffMDPO", "OffMDPOConfig"),
    "recurrent_ppo": ("recurrent_ppo", "RecurrentPPO", "RecurrentPPOConfig"),
}


def _run_chunk_before(algo: Any, state: Any, num_valid: Any, chunk_size: int) -> Any:
    """`rljax.training.run_chunk` as it was (with `check_finite`): its masked branch built
    zero metrics from `jax.eval_shape(algo.update, s)`, a second trace of the update."""
    import jax
    import jax.numpy as jnp

    from rljax.training import finite_flags

    def step(state, i):
        valid = i < num_valid
        state, metrics = jax.lax.cond(
            valid,
            algo.update,
            lambda s: (s, jax.tree.map(jnp.zeros_like, jax.eval_shape(algo.update, s)[1])),
            state,
        )
        return state, (metrics, finite_flags(metrics, state, algo) | ~valid)

    return jax.lax.scan(step, state, jnp.arange(chunk_size))


def trace_ab(names: list[str], rounds: int = 5) -> None:
    """CPU seconds to trace the default config's chunk program (4 seeds, 64 updates), the
    masked branch as it was vs `rljax.training.run_chunk` now, in this process, alternated
    (the first round is discarded); median of the rest. CPU time (`time.process_time`) rather
    than wall time: tracing is single-threaded Python, and CPU time is what other processes on
    the machine disturb least."""
    import jax
    import jax.numpy as jnp

    from rljax import training

    print("| algorithm | chunk trace CPU s, before | now | now / before | load avg |")
    print("|---|---|---|---|---|", flush=True)
    for name in names:
        module, algo_name, config_name = TRACE_AB[name]
        agents = importlib.import_module(f"rljax.agents.{module}")
        config = getattr(agents, config_name)()
        algo = getattr(agents, algo_name)(config)
        keys = training.seed_keys([0, 1, 2, 3])
        hparams = training.stack_hparams([config.hparams()] * 4)
        state = jax.eval_shape(jax.vmap(algo.init), keys, hparams)
        variants = {
            "before": lambda s, n, algo=algo: _run_chunk_before(algo, s, n, 64),
            "now": lambda s, n, algo=algo: training.run_chunk(algo, s, n, 64, True),
        }
        seconds: dict[str, list[float]] = {"before": [], "now": []}
        load = os.getloadavg()[0]
        for r in range(rounds):
            for variant in ("before", "now") if r % 2 == 0 else ("now", "before"):
                chunk = jax.jit(jax.vmap(variants[variant], in_axes=(0, None)))
                start = time.process_time()
                chunk.trace(state, jnp.int32(64))
                if r:
                    seconds[variant].append(time.process_time() - start)
        before, now = (statistics.median(seconds[v]) for v in ("before", "now"))
        print(
            f"| {name} | {before:.3f} | {now:.3f} | {now / before:.2f} | "
            f"{load:.1f}, {os.getloadavg()[0]:.1f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=MODULES)
    parser.add_argument("--programs", action="store_true", help="list every compiled program")
    parser.add_argument(
        "--before",
        metavar="TREE",
        help="another copy of the project (e.g. before a change): each module then runs from "
        "TREE and from this checkout, alternately, one row each",
    )
    parser.add_argument(
        "--trace-ab",
        nargs="+",
        choices=TRACE_AB,
        help="instead: the chunk's trace time with the masked branch as it was and as it is",
    )
    parser.add_argument("--child", choices=MODULES, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.out_dir)
        return
    if args.trace_ab:
        trace_ab(args.trace_ab)
        return
    trees = [("", HERE)] if not args.before else [(" (before)", args.before), ("", HERE)]
    print(
        "| module | chunk program: trace s | lower s | XLA compile s | compiles | update "
        "traces | other programs: count, s | first chunk s (CPU s) | process start to first "
        "chunk s | load avg (before, after) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    failed = []
    for i, name in enumerate(args.modules):
        for label, tree in trees if i % 2 == 0 else trees[::-1]:  # alternate which goes first
            load = os.getloadavg()[0]
            try:
                r = summarize(measure(name, tree))
            except SystemExit as failure:  # one module's failure leaves the others' rows
                print(failure, file=sys.stderr)
                failed.append(name + label)
                continue
            _describe(name + label, r, args.programs)
            counts = ", ".join(f"{k} {v}" for k, v in r["counts"].items()) or "-"
            print(
                f"| {name + label} | {r['trace']:.2f} | {r['lower']:.2f} | {r['compile']:.2f} | "
                f"{r['main_compiles']} | {counts} | {r['other_count']}, "
                f"{r['other_seconds']:.2f} | {r['first_chunk']:.1f} ({r['first_chunk_cpu']:.1f}) "
                f"| {r['to_first_chunk']:.1f} | {load:.2f}, {os.getloadavg()[0]:.2f} |",
                flush=True,
            )
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
