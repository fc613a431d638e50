"""Seeds trained together: the UED loop's env steps/s over a vmapped batch of runs whose
step-kind coin is shared (`UEDConfig.step_kind_seed`, the default) against one coin per run
(`--step-kind-seed None`, the loop before `rljax.run_batch`: every branch of a vmapped batch
computed and selected).

    python benchmarks/ued_vmap.py [--seeds 4] [--methods robust_plr accel] [--updates 2]
    python benchmarks/ued_vmap.py --methods robust_plr --replay-prob 0.5   # Jiang et al. 2021b

Each row times `rljax.training.compiled_chunk` (what `experiments.ued` runs: `--seeds` runs
vmapped, `steps_per_eval` curriculum steps and one held-out evaluation per update) on the
13x13 maze with the loop's default learner (recurrent PPO, 16 levels x 256 steps), compile
excluded, the total over `--repeats` chunks, the modes alternated (`--modes`, default
`None:flax None 0`: a coin per run with flax's `GRUCell` scanned step by step, the loop as
issue #18 found it; a coin per run with `SequenceGRU`; the shared coin). With the
shared coin the kinds of a window of steps are one draw for every seed, so a short window's
mix can be off the expected one: time enough steps (`--updates`) and read the kinds column.
The buffer's `min_fill_ratio` is 0 by default (`--min-fill-ratio`), so replay starts on the
second step and the timed steps have the run's steady mix of kinds (robust PLR: 80% replay;
ACCEL: replay, then its edits) without a warm-up of thousands of new levels; the buffer keeps
its capacity of 4000, so every buffer operation costs what it costs in a real run.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import jax
import numpy as np

import rljax
from experiments.ued import make_algorithm
from rljax.curricula.runner import UEDConfig, curriculum_config, maze_learner
from rljax.training import compiled_chunk


def _mode(text: str) -> tuple[int | None, bool]:
    """`SEED[:flax]` -> (step_kind_seed, whether the learner's GRU is the flax reference)."""
    seed, _, cell = text.partition(":")
    if cell not in ("", "flax"):
        raise argparse.ArgumentTypeError(f"mode {text!r}: the suffix may only be ':flax'")
    return _none_or_int(seed), cell == "flax"


def _none_or_int(text: str) -> int | None:
    return None if text == "None" else int(text)


def build(method: str, mode: tuple[int | None, bool], args: argparse.Namespace):
    seed_mode, flax_gru = mode
    if flax_gru:  # the GRU as the loop ran it before session 16 (same parameters, one level deeper)
        with mock.patch.object(rljax.networks, "SequenceGRU", rljax.networks.ScannedGRUCell):
            return build(method, (seed_mode, False), args)  # traced and compiled in here
    learner = maze_learner(num_envs=args.num_levels)
    curriculum = curriculum_config(method).replace(min_fill_ratio=args.min_fill_ratio)
    if args.replay_prob is not None:
        curriculum = curriculum.replace(replay_prob=args.replay_prob)
    config = UEDConfig(curriculum=curriculum, learner=learner, step_kind_seed=seed_mode)
    algo = make_algorithm(config)
    keys = rljax.seed_keys(list(range(args.seeds)))
    hparams = rljax.stack_hparams([algo.hparams()] * args.seeds)
    state = jax.jit(jax.vmap(algo.init))(keys, hparams)
    chunk = compiled_chunk(algo, args.updates)
    valid = np.int32(args.updates)
    start = time.perf_counter()
    state, _ = chunk(state, valid)  # compile + a first chunk (the buffer starts filling)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    env_steps = args.seeds * args.updates * config.steps_per_update
    return chunk, state, compile_s, env_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["robust_plr", "accel"])
    parser.add_argument("--updates", type=int, default=2, help="updates per timed chunk")
    parser.add_argument("--num-levels", type=int, default=16)
    parser.add_argument("--min-fill-ratio", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--replay-prob", type=float, default=None, help="default: the configs' 0.8")
    parser.add_argument(
        "--modes",
        nargs="+",
        type=_mode,
        default=[(None, True), (None, False), (0, False)],
        help="step_kind_seed values to compare (None: a coin per run), each optionally with "
        "':flax' (the learner's GRU as flax's GRUCell scanned step by step, the cell before "
        "session 16); the first is the speed-up's base. Default: None:flax None 0",
    )
    args = parser.parse_args()
    rows = []
    for method in args.methods:
        built = {mode: build(method, mode, args) for mode in args.modes}
        total = {mode: 0.0 for mode in args.modes}
        kinds = {mode: np.zeros(3, np.int64) for mode in args.modes}
        for _ in range(args.repeats):
            for mode, (chunk, state, _, _) in built.items():
                start = time.perf_counter()
                state, metrics = chunk(state, np.int32(args.updates))
                jax.block_until_ready(state)
                total[mode] += time.perf_counter() - start
                built[mode] = (chunk, state, *built[mode][2:])
                m = jax.tree.map(np.asarray, metrics)
                kinds[mode] += [m.new_steps.sum(), m.replay_steps.sum(), m.mutate_steps.sum()]
        base = total[args.modes[0]]
        for mode in args.modes:
            env_steps = built[mode][3] * args.repeats
            rows.append(
                (
                    method,
                    mode,
                    env_steps / total[mode],
                    base / total[mode],
                    built[mode][2],
                    kinds[mode],
                )
            )
    print(
        f"\nreplay_prob {'default' if args.replay_prob is None else args.replay_prob}, "
        f"{args.seeds} seeds vmapped, "
        f"{args.num_levels} levels x 256 steps, "
        f"{args.updates} updates per chunk, {args.repeats} chunks timed per mode\n"
    )
    print(
        "| curriculum | step_kind_seed, GRU | env steps/s | speed-up | first chunk s (compile) "
        "| kinds in the timed chunks (new, replay, mutate), all seeds |"
    )
    print("|---|---|---|---|---|---|")
    for method, (seed, flax_gru), sps, ratio, compile_s, kinds in rows:
        mode = f"{seed}, {'flax GRUCell' if flax_gru else 'SequenceGRU'}"
        print(
            f"| {method} | {mode} | {sps:,.0f} | {ratio:.2f}x | {compile_s:.1f} "
            f"| {tuple(int(k) for k in kinds)} |"
        )


if __name__ == "__main__":
    main()
