"""rljax's UED loop against JaxUED's `examples/maze_plr.py` on JaxUED's maze config, with the
UED papers' maze agent on both sides, in one process with calls alternated.

    .venv/bin/python benchmarks/jaxued_maze.py                          # rljax alone
    .venv/bin/python benchmarks/jaxued_maze.py --jaxued /tmp/jaxued     # side by side

The config (JaxUED's `maze_plr.py` defaults, commit 0f8f128, but `--num-envs`, 16 by default
as issue #18 states; JaxUED's default is 32): robust PLR (no gradient step on new levels),
buffer 4000, replay probability 0.8 once the buffer is half full, staleness 0.3, rank
temperature 0.3, duplicate check, MaxMC scores; PPO 256 steps per level, 5 epochs of 1
minibatch, lr 1e-4 annealed, gamma 0.995, lambda 0.98, clip 0.2, entropy 1e-3; 13x13 mazes
of 25 walls, a 5x5 view, 250-step episodes. rljax runs the `jaxued_maze` preset
(`rljax.presets`): `maze_conv` torso, LSTM of 256, relu heads of 32 (the remaining
differences are in the preset's note; none changes the arithmetic's size).

What is timed, on each side: one jitted call that runs `--steps-per-call` curriculum steps
(propose, reset, roll out 256 steps of every env, score, learn where the step trains,
update the buffer) in a `lax.scan`, returning what each loop's own training step returns
(the new state and the per-step metrics it logs); no held-out evaluation (rljax:
`UED.curriculum_step`; JaxUED: `train_step` from inside `maze_plr.main`, without
`train_and_eval_step`'s evaluation and rendering). Env steps per call: steps_per_call *
num_envs * 256 on both. Compilation is excluded (two untimed calls first: JaxUED's level
buffer flips a dtype after its first call and compiles its step again, see
../shared/DESIGN.md), and the last table counts the programs each side compiled. Rounds
alternate the two sides (ABBA...); each round's ratio is printed and the median taken.

Two phases, timed apart, because the two step kinds cost differently. `fill`: from a fresh
start, while the buffer is under half full, every step plays new levels, and robust PLR
takes no gradient step on them: rljax's `lax.cond` skips `learn`; JaxUED's
`update_actor_critic_rnn(update_grad=False)` still runs its 5 epochs of loss passes, whose
losses it logs, and drops the gradients. `replay`: after both buffers are half full (the
untimed steps in between are run first), a coin picks replay (80%: learn) or new levels
(20%) per step, so a round's work depends on its draws: each round's count of replay steps
is printed beside its rate, and the last table fits per-kind seconds per step by least
squares over all rounds (seconds = new steps * a + replay steps * b) and projects the
steady-state rate at the config's 80% replay.

Setting JaxUED up (outside the repository; nothing of it is copied here):

    mkdir -p /tmp/jaxued && git --git-dir=/work/.mirror/DramaCow+jaxued/repo archive \\
        0f8f128 | tar -x -C /tmp/jaxued

(or `git clone https://github.com/DramaCow/jaxued /tmp/jaxued && git -C /tmp/jaxued checkout
0f8f128`). It needs no install: this script puts `/tmp/jaxued/src` and `/tmp/jaxued/examples`
on `sys.path`, and its imports resolve in rljax's venv (jax 0.10.2, flax 0.12.8, chex,
distrax, optax, orbax-checkpoint, gymnax) except `wandb`, which `maze_plr` imports but this
benchmark never calls: a stub module stands in for it. `maze_plr.main` defines its training
step as a closure; the script runs `main` with an evaluation interval above the run's length
(so its loop runs zero times and nothing is logged or saved) and reads `train_step` and the
initial state from `main`'s frame as it returns (`sys.setprofile`).

Random bits: importing rljax makes XLA:CPU lower threefry unrolled (`rljax.cpu_random`, the
same bits as JAX's rolled loop). JaxUED's programs are compiled with JAX's own rolled loop by
default, as JaxUED's users get them (`--jaxued-lowering jax`); `--jaxued-lowering rljax`
gives both sides the unrolled one, which compares the two loops alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
from machine import describe, load_average  # noqa: E402

from rljax import cpu_random  # noqa: E402

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compiles = [0]


def _on_event(event: str, duration: float, **kwargs: Any) -> None:
    if event == _COMPILE_EVENT:
        _compiles[0] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


class Side:
    """One implementation: `run(k)` advances its state by one jitted call; `steps` env steps
    per call; `compiles` XLA programs compiled for its calls."""

    name: str
    steps: int

    jax_lowering = False
    """Lower (compile) this side's programs with JAX's own CPU threefry loop instead of
    rljax's unrolled one (`rljax.cpu_random`)."""

    def __init__(self) -> None:
        self.compiles = 0
        self.times: list[float] = []

    def lowering(self) -> Any:
        return cpu_random.jax_default_lowering(self.jax_lowering)

    def call(self) -> float:
        before = _compiles[0]
        replays = self.replay_steps()
        start = time.perf_counter()
        with self.lowering():  # compiles happen at the first calls
            self.state, _ = jax.block_until_ready(self.chunk(self.state))
        seconds = time.perf_counter() - start
        self.compiles += _compiles[0] - before
        self.last_replays = self.replay_steps() - replays
        return seconds


class RljaxSide(Side):
    name = "rljax"

    def __init__(self, num_envs: int, steps_per_call: int, seed: int) -> None:
        super().__init__()
        from rljax.curricula.runner import UED, UEDConfig
        from rljax.presets import preset

        config = preset(
            UEDConfig,
            "jaxued_maze",
            learner={"num_envs": num_envs, "num_eval_episodes": 1},
            steps_per_eval=steps_per_call,
        )
        self.algo = UED(config)
        self.steps_per_step = num_envs * config.learner.num_steps
        self.steps = steps_per_call * self.steps_per_step

        def chunk(state):
            return jax.lax.scan(
                lambda s, _: self.algo.curriculum_step(s), state, None, length=steps_per_call
            )

        self.chunk = jax.jit(chunk)
        before = _compiles[0]
        self.state = jax.jit(self.algo.init)(jax.random.PRNGKey(seed), config.hparams())
        self.init_compiles = _compiles[0] - before
        self.capacity = config.curriculum.capacity

    def buffer_fill(self) -> float:
        return float(self.algo.curriculum.stats(self.state.curriculum).buffer_fill)

    def replay_steps(self) -> int:
        return int(self.state.counters.grad_updates) // self.algo.learner.updates_per_learn


def _wandb_stub() -> types.ModuleType:
    """What `maze_plr` touches of wandb before its training loop: `init` (whose `config`
    becomes `wandb.config`) and `define_metric`."""
    stub = types.ModuleType("wandb")

    def init(config: Any = None, **kwargs: Any) -> Any:
        stub.config = config
        return stub

    stub.init = init
    stub.define_metric = lambda *args, **kwargs: None
    stub.log = lambda *args, **kwargs: None
    stub.Image = stub.Video = lambda *args, **kwargs: None
    return stub


def jaxued_config(num_envs: int, seed: int) -> dict[str, Any]:
    """`maze_plr.py`'s argparse defaults (commit 0f8f128) with `num_envs` training levels, no
    checkpoints and an evaluation interval that `main`'s loop never reaches."""
    return {
        "project": "bench",
        "run_name": "bench",
        "seed": seed,
        "mode": "train",
        "checkpoint_directory": None,
        "checkpoint_to_eval": -1,
        "checkpoint_save_interval": 0,
        "max_number_of_checkpoints": 60,
        "eval_freq": 10**9,
        "eval_num_attempts": 10,
        "eval_levels": ["SixteenRooms"],
        "lr": 1e-4,
        "max_grad_norm": 0.5,
        "num_updates": 30000,
        "num_env_steps": None,
        "num_steps": 256,
        "num_train_envs": num_envs,
        "num_minibatches": 1,
        "gamma": 0.995,
        "epoch_ppo": 5,
        "clip_eps": 0.2,
        "gae_lambda": 0.98,
        "entropy_coeff": 1e-3,
        "critic_coeff": 0.5,
        "score_function": "MaxMC",
        "exploratory_grad_updates": False,
        "level_buffer_capacity": 4000,
        "replay_prob": 0.8,
        "staleness_coeff": 0.3,
        "temperature": 0.3,
        "topk_k": 4,
        "minimum_fill_ratio": 0.5,
        "prioritization": "rank",
        "buffer_duplicate_check": True,
        "use_accel": False,
        "num_edits": 5,
        "agent_view_size": 5,
        "n_walls": 25,
    }


class JaxUEDSide(Side):
    name = "JaxUED"

    def __init__(
        self, path: str, num_envs: int, steps_per_call: int, seed: int, jax_lowering: bool
    ) -> None:
        super().__init__()
        self.jax_lowering = jax_lowering
        for sub in ("src", "examples"):
            sys.path.insert(0, str(Path(path) / sub))
        sys.modules.setdefault("wandb", _wandb_stub())
        import maze_plr

        config = jaxued_config(num_envs, seed)
        frame_locals: dict[str, Any] = {}

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is maze_plr.main.__code__:
                frame_locals.update(frame.f_locals)

        before = _compiles[0]
        sys.setprofile(profile)
        try:
            with self.lowering():
                maze_plr.main(config, project="bench")
        finally:
            sys.setprofile(None)
        self.init_compiles = _compiles[0] - before
        train_step = frame_locals["train_step"]
        self.level_sampler = frame_locals["level_sampler"]
        self.state = frame_locals["runner_state"]
        self.steps_per_step = num_envs * config["num_steps"]
        self.steps = steps_per_call * self.steps_per_step
        self.chunk = jax.jit(lambda state: jax.lax.scan(train_step, state, None, steps_per_call))
        self.capacity = config["level_buffer_capacity"]

    def buffer_fill(self) -> float:
        return float(self.state[1].sampler["size"]) / self.capacity

    def replay_steps(self) -> int:
        return int(self.state[1].num_replay_updates)


def rounds(sides: list[Side], count: int) -> list[dict[str, float]]:
    """`count` rounds, each one timed call per side in alternating order; each round records
    the seconds of each side's call and how many of its curriculum steps replayed."""
    out = []
    for r in range(count):
        order = sides if r % 2 == 0 else sides[::-1]
        record: dict[str, float] = {}
        for side in order:
            record[side.name] = side.call()
            record[side.name + " replays"] = side.last_replays
        out.append(record)
    return out


def advance_to_half_full(sides: list[Side]) -> None:
    """Untimed calls until every side's buffer is at least half full (replay may start)."""
    for side in sides:
        while side.buffer_fill() < 0.5:
            side.call()


def report(phase: str, sides: list[Side], results: list[dict[str, float]]) -> list[str]:
    lines = [f"phase `{phase}`, load average before: {load_average()}", ""]
    names = [s.name for s in sides]
    header = "| round | " + " | ".join(f"{n} steps/s (replays)" for n in names)
    if len(sides) == 2:
        header += " | rljax / JaxUED"
    lines += [header + " |", "|" + "---|" * (len(names) + 1 + (len(sides) == 2))]
    ratios = []
    for i, r in enumerate(results):
        rates = [s.steps / r[s.name] for s in sides]
        row = f"| {i + 1} | " + " | ".join(
            f"{x:,.0f} ({r[s.name + ' replays']})" for x, s in zip(rates, sides, strict=True)
        )
        if len(sides) == 2:
            ratios.append(rates[0] / rates[1])
            row += f" | {ratios[-1]:.2f}x"
        lines.append(row + " |")
    medians = [statistics.median(s.steps / r[s.name] for r in results) for s in sides]
    row = "| median | " + " | ".join(f"{x:,.0f}" for x in medians)
    if ratios:
        row += f" | **{statistics.median(ratios):.2f}x**"
    totals = [len(results) * s.steps / sum(r[s.name] for r in results) for s in sides]
    replays = [sum(r[s.name + " replays"] for r in results) for s in sides]
    total = "| all rounds | " + " | ".join(
        f"{x:,.0f} ({n})" for x, n in zip(totals, replays, strict=True)
    )
    if ratios:
        total += f" | {totals[0] / totals[1]:.2f}x"
    lines += [row + " |", total + " |", "", f"load average after: {load_average()}", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jaxued", default="", help="a JaxUED checkout (see the docstring)")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--steps-per-call", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--phases", default="fill,replay")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jaxued-lowering",
        choices=("jax", "rljax"),
        default="jax",
        help="random bits in JaxUED's programs: JAX's own CPU lowering (a rolled loop, what "
        "JaxUED's users get) or rljax's unrolled one (rljax.cpu_random; both sides the same)",
    )
    args = parser.parse_args(argv)

    sides: list[Side] = [RljaxSide(args.num_envs, args.steps_per_call, args.seed)]
    if args.jaxued:
        sides.append(
            JaxUEDSide(
                args.jaxued,
                args.num_envs,
                args.steps_per_call,
                args.seed,
                jax_lowering=args.jaxued_lowering == "jax",
            )
        )
    for side in sides:  # compile; JaxUED compiles its chunk twice (dtype flip), see above
        for _ in range(2):
            side.call()
    lines = [
        f"{args.num_envs} levels x 256 steps, {args.steps_per_call} curriculum steps per "
        f"call ({sides[0].steps:,} env steps), {args.rounds} alternated rounds per phase; "
        f"{describe()}",
        "",
    ]
    all_results = []
    for phase in args.phases.split(","):
        if phase == "replay":
            advance_to_half_full(sides)
        results = rounds(sides, args.rounds)
        all_results += results
        lines += report(phase, sides, results)
    lines += [
        "| side | new step s | replay step s | steady state (80% replay) steps/s | "
        "init programs | chunk programs (2 warm-up calls + all rounds) |",
        "|---|---|---|---|---|---|",
    ]
    steady = []
    for side in sides:
        new, replay = per_kind_seconds(side, all_results)
        rate = side.steps_per_step / (0.2 * new + 0.8 * replay)
        steady.append(rate)
        lines.append(
            f"| {side.name} | {new:.3f} | {replay:.3f} | {rate:,.0f} | {side.init_compiles} "
            f"| {side.compiles} |"
        )
    if len(sides) == 2:
        lines += ["", f"steady-state ratio rljax / JaxUED: **{steady[0] / steady[1]:.2f}x**"]
    print("\n".join(lines))
    return 0


def per_kind_seconds(side: Side, results: list[dict[str, float]]) -> tuple[float, float]:
    """Least-squares seconds per new-level step and per replay step of `side` over `results`
    (each round: its call's seconds and replay count; its other steps played new levels).
    Without a replay step in `results`, the replay cost is NaN."""
    import numpy as np

    steps = side.steps // side.steps_per_step
    replays = np.array([r[side.name + " replays"] for r in results], float)
    seconds = np.array([r[side.name] for r in results])
    if not replays.any():
        return float(seconds.sum() / (steps * len(results))), float("nan")
    kinds = np.stack([steps - replays, replays], axis=1)
    (new, replay), *_ = np.linalg.lstsq(kinds, seconds, rcond=None)
    return float(new), float(replay)


if __name__ == "__main__":
    sys.exit(main())
