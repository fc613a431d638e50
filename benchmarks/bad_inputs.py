"""Feed rljax bad input through every command line and the Python API, and write what a user
sees to `docs/errors.md`: the input, the exit status (or exception) and the message.

    .venv/bin/python benchmarks/bad_inputs.py            # rewrites docs/errors.md

Each command line runs in this process through its `main(argv)`, the code path of
`python -m experiments.<name>` without a fresh interpreter per case. Nothing trains: every
input of `cli_cases` is refused before anything compiles; those of `memory_cases` (outer loops
too large for any machine's memory: terabytes) compile their first program, so XLA can say
how much memory it needs, and are refused before it runs (tens of seconds each; they are
left out of tests/test_bad_inputs.py, and tests/test_memory.py checks the same refusals with
the free memory made small). A row whose message is not one `error:` line (or one exception
line naming the field) is a bug to fix, not a row to keep.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = ["--no-progress", "--compilation-cache", ""]


def cli_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    garbage = tmp / "garbage.npz"
    garbage.write_text("not numpy")
    a_file = tmp / "file"
    a_file.write_text("")
    return [
        ("ppo", ["--env", "CartPol-v1"]),
        ("ppo", ["--learning-rate", "-0.1"]),
        ("ppo", ["--learning-rate", "inf"]),
        ("ppo", ["--learning-rate", "nan"]),
        ("ppo", ["--num-minibatches", "3"]),
        ("ppo", ["--seeds", "0"]),
        ("ppo", ["--gamma", "1.5"]),
        ("ppo", ["--activation", "gelu"]),
        ("ppo", ["--grad-clip", "norm"]),
        ("ppo", ["--network", "transformer"]),
        ("ppo", ["--drift", "foo"]),
        ("ppo", ["--hidden-sizes", "0"]),
        ("ppo", ["--total-timesteps", "100"]),
        ("ppo", ["--num-envs", "0"]),
        ("ppo", ["--chunk-size", "0"]),
        ("ppo", ["--preset", "atari"]),
        ("ppo", ["--learning-rate", "abc"]),
        ("ppo", ["--learning-rat", "3e-4"]),
        ("ppo", ["--hidden-sizes", "a", "b"]),
        ("ppo", ["--num-envs", str(10**9), "--num-steps", "1", "--total-timesteps", str(10**9)]),
        ("ppo", ["--out-dir", str(a_file / "runs")]),
        ("ppo", ["--out-dir", "/proc/rljax-runs"]),
        ("ppo", ["--resume", str(tmp / "no-such-run")]),
        ("ppo", ["--env", "brax/ant", "--learning-rate", "-1"]),
        ("dqn", ["--env", "Pendulum-v1"]),
        ("dqn", ["--buffer-size", "10"]),
        ("dqn", ["--epsilon-start", "2"]),
        ("pqn", ["--q-lambda", "-1"]),
        ("sac", ["--env", "CartPole-v1", "--entropy-fraction", "1.5"]),
        ("sac", ["--tau", "0"]),
        ("recurrent_ppo", ["--gru-size", "0"]),
        ("recurrent_ppo", ["--cell", "transformer"]),
        ("recurrent_ppo", ["--network", "maze_conv"]),
        ("ued", ["learner:recurrent", "--learner.cell", "gru2"]),
        ("ued", ["task-space:classic", "learner:recurrent", "--learner.network", "maze_conv"]),
        ("ued", ["curriculum:plr", "--curriculum.replay-prob", "2"]),
        ("ued", ["learner:recurrent", "--learner.num-steps", "100"]),
        ("ued", ["--score-function", "regret"]),
        ("ued", ["--frame-stack", "0"]),
        ("ued", ["--steps-per-eval", "0"]),
        ("ued", ["curriculum:accel", "--curriculum.num-edits", "-1"]),
        ("ued", ["task-space:classic", "--task-space.env", "Foo-v0"]),
        ("ued", ["task-space:classic", "--task-space.spread", "1.5"]),
        ("ued", ["task-space:xland", "--task-space.trial-episodes", "0"]),
        ("ued", ["task-space:gridworld", "--task-space.heldout", "none"]),
        ("ued", ["task-space:gridworld", "--task-space.observation", "pixels"]),
        ("ued", ["learner:recurrent", "--learner.learning-rate", "inf"]),
        ("ued", ["--learner.num-steps", "300"]),
        ("ued", ["curriculum:dred", "task-space:classic"]),
        ("ued", ["curriculum:dred", "--curriculum.capacity", "100"]),
        ("lpo", ["meta-train", "--es.population-size", "3"]),
        ("lpo", ["meta-train", "--es.pop-batch-size", "5"]),
        ("lpo", ["meta-train", "--es.strategy", "CMAES_typo"]),
        ("lpo", ["meta-train", "--ppo.num-minibatches", "3"]),
        ("lpo", ["meta-train", "--drift", "foo"]),
        ("lpo", ["meta-train", "--tasks-per-generation", "-1"]),
        ("lpo", ["meta-eval", "--drift-params", str(garbage)]),
        ("lpo", ["meta-eval", "--drift-params", str(tmp / "missing.npz")]),
        ("lpg", ["meta-train", "--meta.unroll", "500"]),
        ("lpg", ["meta-train", "--agent.total-timesteps", "10"]),
        ("lpg", ["meta-train", "--meta.num-agents", "0"]),
        ("lpg", ["meta-train", "--task-space.observation", "pixels"]),
        ("lpg", ["meta-eval", "--rule-params", str(garbage)]),
        ("lpg", ["meta-train", "--method", "talpg", "--curriculum", "groove"]),
        ("lpg", ["meta-train", "--method", "talpg", "--lifetimes", "10", "20000"]),
        ("lpg", ["meta-train", "--lifetimes", "50", "10"]),
        ("lpg", ["meta-train", "--method", "talpg", "--es.no-antithetic"]),
        ("lpg", ["meta-eval", "--rule-params", str(garbage), "--lifetimes", "4"]),
        ("mdpo_off", ["--initial-alpha", "0.5"]),
        ("neuroevolution", ["ga", "--search.truncation", "999"]),
        ("neuroevolution", ["ga", "--search.policy.env", "Acrobat"]),
        ("neuroevolution", ["es", "--search.es.num-seeds", "4"]),
        ("neuroevolution", ["es", "--resume", str(a_file)]),
        ("sweep", ["--algo", "ppo", "--sweep", "num-envs=4,8"]),
        ("sweep", ["--algo", "ppo", "--lr", "1e-3,abc"]),
        ("sweep", ["--algo", "nope"]),
        ("sweep", ["--algo", "ppo", "--gamma", "high"]),
    ]


def memory_cases() -> list[tuple[str, list[str]]]:
    """Outer loops whose first program needs terabytes: refused after it compiles."""
    return [
        (
            "lpo",
            [
                *("meta-train", "--es.population-size", "4096", "--es.pop-batch-size", "4096"),
                *("--ppo.num-envs", "65536", "--ppo.num-steps", "4096"),
                *("--ppo.total-timesteps", "268435456", "--ppo.num-minibatches", "64"),
            ],
        ),
        ("neuroevolution", ["ga", "--search.population-size", "20000000"]),
        (
            "lpg",
            [
                *("meta-train", "--meta.num-agents", "4096", "--agent.num-envs", "65536"),
                *("--agent.num-steps", "64", "--agent.total-timesteps", "200000000"),
            ],
        ),
    ]


def api_cases() -> list[tuple[str, Callable[[], object]]]:
    import rljax
    from envs.classic import ClassicConfig
    from envs.gridworld import make_level
    from envs.maze import MazeConfig
    from rljax.agents.lpg import LPGAgentConfig
    from rljax.curricula.plr import PLRConfig
    from rljax.curricula.runner import UEDConfig
    from rljax.meta.es import ESConfig
    from rljax.meta.params_io import load_drift_params

    return [
        ("PPOConfig(learning_rate='1e-3')", lambda: rljax.PPOConfig(learning_rate="1e-3")),
        ("PPOConfig(hidden_sizes=64)", lambda: rljax.PPOConfig(hidden_sizes=64)),
        ("PPOConfig(env=0)", lambda: rljax.PPOConfig(env=0)),
        ("DQNConfig(n_step=0)", lambda: rljax.DQNConfig(n_step=0)),
        ("seed_keys([-1])", lambda: rljax.seed_keys([-1])),
        ("stack_hparams([])", lambda: rljax.stack_hparams([])),
        ("UEDConfig(task_space=3)", lambda: UEDConfig(task_space=3)),
        ("PLRConfig(capacity=0)", lambda: PLRConfig(capacity=0)),
        ("ESConfig(objective='x')", lambda: ESConfig(objective="x")),
        ("ClassicConfig(ranges=(('foo', 0, 1),))", lambda: ClassicConfig(ranges=(("foo", 0, 1),))),
        ("MazeConfig(num_walls=-1)", lambda: MazeConfig(num_walls=-1)),
        ("MazeConfig(generator='gan')", lambda: MazeConfig(generator="gan")),
        ("load_drift_params('missing.npz')", lambda: load_drift_params("missing.npz")),
        (
            "LPGAgentConfig(env='Gridworld-tabular-nowhere')",
            lambda: LPGAgentConfig(env="Gridworld-tabular-nowhere"),
        ),
        (
            "make_level(20, 5, (0, 0), [(1, 1, 0)], [1.0], [1.0], [0.0], 50)",
            lambda: make_level(20, 5, (0, 0), [(1, 1, 0)], [1.0], [1.0], [0.0], 50),
        ),
    ]


def run_cli(module: str, argv: list[str]) -> tuple[str, str]:
    import importlib

    main = importlib.import_module(f"experiments.{module}").main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            # Top-level flags go before the subcommands (lpo, neuroevolution: after their
            # command word).
            first = module in ("lpo", "lpg", "neuroevolution")
            status = main([*argv, *TINY] if first else [*TINY, *argv])
        except SystemExit as stop:  # tyro's own parse errors
            status = stop.code
    return str(status), err.getvalue().strip()


def run_api(build: Callable[[], object]) -> tuple[str, str]:
    try:
        build()
    except Exception as error:  # the table records whatever it is
        return type(error).__name__, str(error)
    return "no error", ""


def cell(text: str) -> str:
    lines = [line.strip(" │╭╮╰╯─") for line in text.splitlines()]
    lines = [line for line in lines if line]
    first = lines[0] if lines else ""
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return (first + more).replace("|", "\\|")


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for module, argv in [*cli_cases(Path(folder)), *memory_cases()]:
            status, err = run_cli(module, argv)
            shown = " ".join(argv).replace(folder, "TMP")
            rows.append(
                (
                    f"`python -m experiments.{module} {shown}`",
                    status,
                    cell(err.replace(folder, "TMP")),
                )
            )
    for text, build in api_cases():
        status, err = run_api(build)
        rows.append((f"`{text}`", status, cell(err)))
    lines = [
        "# What a bad input gets",
        "",
        "Generated by `.venv/bin/python benchmarks/bad_inputs.py`; do not edit by hand. Command",
        "lines run through their `main(argv)` with `--no-progress --compilation-cache ''`; exit",
        "status 2 is bad input. API rows show the exception and its message. The rows asking",
        "for terabytes (`lpo`, `neuroevolution`, `lpg`) compile their first program and are",
        "refused before it runs; every other row is refused before anything compiles.",
        "",
        "| input | exit / exception | message (first line) |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
    ]
    out = ROOT / "docs" / "errors.md"
    out.write_text("\n".join(lines))
    multi = [r for r in rows if "(+" in r[2] or r[1] in ("0", "no error")]
    print(f"{len(rows)} inputs -> {out}; {len(multi)} not one error line")
    for row in multi:
        print("  ", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
