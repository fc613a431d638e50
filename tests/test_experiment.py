"""`python -m experiments.ppo`: the run folder it writes, and its handling of bad input."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from experiments import ppo as ppo_experiment
from rljax.results import load_metrics

TINY_ARGS = [
    "--total-timesteps",
    "3072",
    "--num-envs",
    "4",
    "--num-steps",
    "128",
    "--seeds",
    "2",
    "--chunk-size",
    "2",
    "--no-progress",
]


def test_cli_writes_a_complete_run_folder(tmp_path, capsys):
    cache = tmp_path / "cache"
    args = [*TINY_ARGS, "--out-dir", str(tmp_path / "runs"), "--compilation-cache", str(cache)]
    tensorboard = importlib.util.find_spec("tensorboardX") is not None
    args += ["--tensorboard"] * tensorboard
    assert ppo_experiment.main([*args, "--learning-rate", "1e-3"]) == 0
    assert any(cache.iterdir())  # compiled programs were cached for the next run
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "checkpoints" / "6").is_dir()  # the final state, for --resume
    assert not tensorboard or any((run_dir / "tensorboard").iterdir())
    assert f"run folder: {run_dir}" in capsys.readouterr().out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["learning_rate"] == 1e-3 and config["args"]["seeds"] == 2
    metrics = load_metrics(run_dir)
    assert metrics["episode_return"].shape == (2, 6)  # [seeds, updates]
    np.testing.assert_array_equal(metrics["env_steps"], np.arange(1, 7) * 512)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["updates"] == 6  # one line per chunk
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["seeds"] == [0, 1] and len(evaluation["per_run_mean_return"]) == 2
    assert (run_dir / "learning_curve.png").stat().st_size > 1000

    # A second method's run folder, then the plotting CLI overlays the two.
    from rljax import plot

    assert ppo_experiment.main([*args, "--drift", "mdpo"]) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    out = tmp_path / "compare.png"
    assert plot.main([*map(str, runs), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert {plot._label(r) for r in runs} == {"ppo CartPole-v1", "ppo (mdpo) CartPole-v1"}


def test_bad_cli_input_gives_a_clear_error_not_a_traceback():
    """As a real process: exit status 2, the error on stderr, nothing on stdout. (Every bad
    input of docs/errors.md is checked in process by tests/test_bad_inputs.py.)"""
    for args, field in (
        (["--env", "CartPol-v1"], "env"),
        (["--env", "brax/ant", "--learning-rate", "-1"], "learning_rate"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "experiments.ppo", *args, "--no-progress"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert field in proc.stderr and "error" in proc.stderr
        assert proc.stdout == ""  # no third-party noise (brax: "Failed to import warp")


def test_an_unusable_out_dir_or_out_of_memory_is_one_line_not_a_traceback(
    tmp_path, capsys, monkeypatch, count_compilations
):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out_dir in (str(a_file / "runs"), "/proc/rljax-runs"):
        with count_compilations() as compiles:
            assert ppo_experiment.main([*TINY_ARGS, "--out-dir", out_dir]) == 2
        err = capsys.readouterr().err
        assert f"out_dir={out_dir!r} cannot hold a run folder" in err, err
        assert "--out-dir" in err and len(err.strip().splitlines()) == 1
        assert compiles.value <= 3  # the env's tiny setup ops at most, no training program

    # XLA's RESOURCE_EXHAUSTED (e.g. --num-envs 100000000) is reported, not raised.
    import jax

    from rljax import experiment

    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError(
            "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 400.00GiB.\nmore"
        )

    monkeypatch.setattr(experiment, "run_experiment", exhausted)
    assert ppo_experiment.main([*TINY_ARGS, "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: the device ran out of memory (RESOURCE_EXHAUSTED")
        and "--num-envs" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plot_labels_name_every_folder_of_runs_that_share_a_config(tmp_path):
    from rljax import plot

    config = {"algorithm": "ppo", "config": {"env": "CartPole-v1", "drift": "ppo_clip"}}
    runs = []
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        drift = "mdpo" if name == "c" else "ppo_clip"
        saved = {**config, "config": {**config["config"], "drift": drift}}
        (tmp_path / name / "config.json").write_text(json.dumps(saved))
        runs.append(tmp_path / name)
    assert plot.curve_labels([*runs, runs[2]]) == [
        "ppo CartPole-v1 [a]",
        "ppo CartPole-v1 [b]",
        "ppo (mdpo) CartPole-v1 [c]",
        "ppo (mdpo) CartPole-v1 [c] (again)",
    ]
    assert plot.curve_labels(runs[1:]) == ["ppo CartPole-v1", "ppo (mdpo) CartPole-v1"]


def test_total_timesteps_that_are_not_whole_updates_are_noted_on_stderr(capsys):
    import rljax
    from experiments.ued import make_algorithm as make_ued_algorithm
    from rljax import experiment
    from rljax.curricula.runner import UEDConfig

    config = rljax.PPOConfig(total_timesteps=3100, num_envs=4, num_steps=128)
    experiment.note_rounding(config, rljax.PPO(config))
    err = capsys.readouterr().err
    assert "--total-timesteps 3,100 is not a whole number of updates of 512 env steps" in err
    assert "training 3,072 (6 updates)" in err
    exact = config.replace(total_timesteps=3072)
    experiment.note_rounding(exact, rljax.PPO(exact))
    assert capsys.readouterr().err == ""
    # UED's budget is its learner's: 1e7 steps are not whole updates of 8 x 16 x 256 steps.
    ued = UEDConfig()
    experiment.note_rounding(ued, make_ued_algorithm(ued))
    assert "--learner.total-timesteps 10,000,000 is not a whole number" in capsys.readouterr().err


def test_help_shows_the_whole_description_examples_choices_and_defaults(capsys):
    import importlib

    import pytest

    from rljax import plot

    for name, choice in (
        ("ppo", "--drift {dpo,lpo,mdpo,ppo_clip,talpo}"),
        ("dqn", "--activation {tanh,relu}"),
        ("sac", "--env {GYMNAX-NAME,brax/NAME,xminigrid/NAME,playground/NAME,REGISTERED-NAME}"),
        ("ued", "--score-function {learnability,max_mc,pvl,return,success_rate,value_l1}"),
        ("mbtl", "--env {CartPole-v1,Pendulum-v1,Acrobot-v1,"),
    ):
        module = importlib.import_module(f"experiments.{name}")
        with pytest.raises(SystemExit):
            module.main(["--help"])
        out = " ".join(capsys.readouterr().out.split())  # tyro wraps long lines
        first_paragraph = " ".join(module.__doc__.split("\n\n")[0].split())
        assert first_paragraph in out, name  # not cut mid-sentence
        assert f"python -m experiments.{name}" in out, name  # the usage examples
        assert choice in out, name
    with pytest.raises(SystemExit):
        plot.main(["--help"])
    out = capsys.readouterr().out
    assert "(default: comparison.png)" in out and "python -m rljax.plot runs/" in out


def test_command_lines_print_their_lines_as_they_go_to_a_pipe():
    """stdout to a file or pipe is block-buffered by Python; every CLI parses through
    `rljax.config.parse_cli`, which makes it line-buffered so a run's lines reach a log as
    they are printed."""
    import io
    import sys

    from rljax import config as cfg

    pipe = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    saved, sys.stdout = sys.stdout, pipe
    try:
        assert not pipe.line_buffering
        cfg.parse_cli(lambda: None, object, [])
        assert pipe.line_buffering
    finally:
        sys.stdout = saved


@pytest.mark.parametrize(
    ("module", "entry", "argv"),
    [
        ("experiments.lpo", "meta_train", ["meta-train", "--no-progress"]),
        ("experiments.neuroevolution", "run", ["ga", "--no-progress"]),
        ("experiments.sweep", "run_sweep", ["--no-progress"]),
        ("experiments.mbtl", "run", []),
    ],
)
def test_every_command_line_reports_running_out_of_memory_as_one_line(
    module, entry, argv, capsys, monkeypatch
):
    """The outer loops' (`rljax.experiment.subcommand_main`), the sweep's and MBTL's command
    lines turn XLA's RESOURCE_EXHAUSTED into the same one line as the experiment modules
    (they printed a traceback); any other XLA runtime error is still raised."""
    import importlib

    import jax

    cli = importlib.import_module(module)

    def exhausted(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 9TiB.\nx")

    monkeypatch.setattr(cli, entry, exhausted)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the device ran out of memory (RESOURCE_EXHAUSTED"), err
    assert "--num-envs" in err and len(err.strip().splitlines()) == 1

    def broken(*args, **kwargs):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(cli, entry, broken)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        cli.main(argv)
