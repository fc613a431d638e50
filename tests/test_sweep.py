"""rljax.sweep and `python -m experiments.sweep`: grids, padding, static-field refusal, and
sharded sweeps equal to unsharded runs on 8 forced CPU devices and across two processes.

The test process already runs JAX on one CPU device, so the multi-device checks run
`tests/_sweep_devices.py` in subprocesses (once per module) and compare the arrays it saves.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import sweep as sweep_cli
from rljax.agents.dqn import DQNConfig
from rljax.agents.ppo import PPOConfig
from rljax.agents.pqn import PQNConfig
from rljax.config import ConfigError
from rljax.driver import Progress
from rljax.results import load_metrics
from rljax.sweep import (
    SweepRun,
    SweepSpec,
    grid,
    pad_runs,
    parse_axis,
    runs_list,
    spec_labels,
    summarize,
    sweepable_fields,
)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "_sweep_devices.py"
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6, "equal_nan": True}


# --- what to run: no compilation --------------------------------------------------------------


def test_grid_is_every_combination_with_every_seed_seed_fastest():
    spec = grid(PPOConfig(), range(3), learning_rate=(1e-4, 1e-3), gamma=(0.9, 0.99))
    assert len(spec.runs) == 12 and spec.seeds == [0, 1, 2] * 4
    assert spec.runs[3].overrides == (("learning_rate", 1e-4), ("gamma", 0.99))
    groups = spec.groups()
    assert list(groups) == [
        "learning_rate=0.0001 gamma=0.9",
        "learning_rate=0.0001 gamma=0.99",
        "learning_rate=0.001 gamma=0.9",
        "learning_rate=0.001 gamma=0.99",
    ]
    assert groups["learning_rate=0.001 gamma=0.9"] == [6, 7, 8]
    hparams = spec.hparams()
    np.testing.assert_allclose(hparams.learning_rate, [1e-4] * 6 + [1e-3] * 6)
    np.testing.assert_allclose(hparams.gamma[:6], [0.9] * 3 + [0.99] * 3)
    np.testing.assert_allclose(hparams.ent_coef, [PPOConfig().ent_coef] * 12)  # base config
    # A list of points rather than a grid; no axes at all is a seed study.
    points = [[("learning_rate", 1e-3)], [("learning_rate", 3e-3), ("gamma", 0.9)]]
    assert [r.label for r in runs_list(PPOConfig(), [5], points).runs] == [
        "learning_rate=0.001",
        "learning_rate=0.003 gamma=0.9",
    ]
    assert grid(PPOConfig(), range(16)).groups() == {"base": list(range(16))}


@pytest.mark.parametrize("config_type", [PPOConfig, PQNConfig, DQNConfig])
def test_sweepable_fields_are_the_traced_coefficients(config_type):
    fields = sweepable_fields(config_type())
    assert "learning_rate" in fields and "gamma" in fields
    assert not {"num_envs", "env", "total_timesteps", "hidden_sizes"} & set(fields)


@pytest.mark.parametrize(
    ("axis", "values"),
    [("num_envs", (4, 8)), ("hidden_sizes", ((64,), (32,))), ("env", ("Acrobot-v1",))],
)
def test_static_fields_are_refused_naming_the_field_and_the_sweepable_ones(axis, values):
    with pytest.raises(ConfigError) as error:
        grid(PPOConfig(), [0], **{axis: values})
    message = str(error.value)
    assert f"PPOConfig.{axis}=" in message and "static" in message and "shapes" in message
    sweepable = message.split("sweep one of the traced coefficients (")[1].split(")")[0]
    assert {"learning_rate", "gamma", "ent_coef"} <= set(sweepable.split(", ")), sweepable
    with pytest.raises(ConfigError, match="no field 'lr_typo'"):
        grid(PPOConfig(), [0], lr_typo=(1.0,))
    with pytest.raises(ConfigError, match="static"):  # a hand-built spec is checked too
        SweepSpec(PPOConfig(), (SweepRun(0, (("num_envs", 8),)),))
    with pytest.raises(ConfigError, match="at least one run"):
        grid(PPOConfig(), [])


def test_parse_axis_casts_to_the_field_type_and_rejects_bad_values():
    config = PPOConfig()
    assert parse_axis(config, "learning-rate=1e-4, 3e-4") == ("learning_rate", (1e-4, 3e-4))
    assert parse_axis(config, "--gamma=0.9") == ("gamma", (0.9,))
    for text, match in (
        ("learning-rate=1e-4,abc", "cannot read"),
        ("learning-rate", "FIELD=V1,V2"),
        ("num-steps=64,128", "static"),
    ):
        with pytest.raises(ConfigError, match=match):
            parse_axis(config, text)
    with pytest.raises(ConfigError, match="learning_rate"):  # values go through validation
        grid(config, [0], learning_rate=(-1.0,)).configs()


def test_padding_repeats_the_last_run_to_a_multiple_of_the_device_count():
    tree = {"key": np.arange(20).reshape(10, 2), "lr": np.linspace(0.1, 1.0, 10)}
    padded, num_runs = pad_runs(tree, 8)
    assert num_runs == 10 and padded["key"].shape == (16, 2) and padded["lr"].shape == (16,)
    np.testing.assert_array_equal(padded["key"][:10], tree["key"])
    np.testing.assert_array_equal(padded["key"][10:], np.repeat(tree["key"][-1:], 6, axis=0))
    same, n = pad_runs(tree, 5)
    assert n == 10 and same["lr"].shape == (10,)


def test_progress_shows_the_mean_latest_return_of_real_runs_across_chunks():
    progress = Progress(False, num_runs=3, num_updates=4, steps_per_update=8, desc="")
    progress.update(2, {"episode_return": np.array([[1.0, np.nan], [np.nan, np.nan], [3, 4]])})
    np.testing.assert_array_equal(progress.latest, [1.0, np.nan, 4.0])
    progress.update(4, {"episode_return": np.array([[np.nan] * 2, [np.nan, 5.0], [6.0, np.nan]])})
    np.testing.assert_array_equal(progress.latest, [1.0, 5.0, 6.0])
    assert progress.updates_done == 4


def test_sweep_runs_are_labelled_by_seed_and_overrides():
    spec = grid(PPOConfig(), range(2), learning_rate=(1e-3,), gamma=(0.9,))
    assert spec_labels(spec) == [
        "seed=0 learning_rate=0.001 gamma=0.9",
        "seed=1 learning_rate=0.001 gamma=0.9",
    ]
    assert spec_labels(grid(PPOConfig(), [7])) == ["seed=7"]


def test_summary_is_mean_and_std_over_seeds_per_grid_point():
    spec = grid(PPOConfig(), range(2), learning_rate=(1e-4, 1e-3))
    table = summarize(spec, np.array([[1.0, 3.0], [3.0, 5.0], [10.0, 10.0], [20.0, 20.0]]))
    assert table["learning_rate=0.0001"] == {"mean": 3.0, "std": 1.0, "runs": 2}
    assert table["learning_rate=0.001"] == {"mean": 15.0, "std": 5.0, "runs": 2}


def test_distributed_setup_is_detected_from_the_launcher_and_checked():
    detect = sweep_cli.launcher_started_several_processes
    assert not detect({})
    assert not detect({"SLURM_JOB_ID": "1", "SLURM_NTASKS": "4"})  # salloc shell, no srun step
    assert not detect({"SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1"})
    assert detect({"SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2"})
    assert detect({"TPU_WORKER_HOSTNAMES": "10.0.0.2,10.0.0.3"})
    assert not detect({"TPU_WORKER_HOSTNAMES": "localhost"})
    init = sweep_cli.initialize_distributed
    assert init(mode="off", env={"SLURM_STEP_NODELIST": "n", "SLURM_NTASKS": "2"}) is False
    assert init(env={}) is False
    refusals = [
        ({"coordinator_address": "h:1"}, "go together. Fix: pass all three or none"),
        ({"mode": "sometimes"}, "--distributed 'sometimes' is not valid. Fix: use auto, on or off"),
    ]
    for kwargs, message in refusals:
        with pytest.raises(sweep_cli.UsageError, match=message):
            init(**kwargs)
    with pytest.raises(sweep_cli.UsageError, match="process-id"):
        init("h:1", 2, 2)


# --- the command line -------------------------------------------------------------------------

TINY = [
    "--total-timesteps",
    "256",
    "--num-envs",
    "4",
    "--num-steps",
    "16",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--hidden-sizes",
    "16",
    "16",
    "--num-eval-episodes",
    "2",
    "--chunk-size",
    "3",
    "--no-progress",
]


def test_cli_sweeps_learning_rates_and_writes_a_run_folder(tmp_path, capsys):
    args = [*TINY, "--out-dir", str(tmp_path / "runs"), "--compilation-cache", ""]
    assert sweep_cli.main(["--algo", "ppo", "--seeds", "2", "--lr", "1e-3,3e-3", *args]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    out = capsys.readouterr().out
    assert f"run folder: {run_dir}" in out and "learning_rate=0.003" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algorithm"] == "ppo" and config["axes"] == {"learning_rate": [1e-3, 3e-3]}
    assert config["runs"][2] == {"seed": 0, "overrides": {"learning_rate": 3e-3}}
    assert load_metrics(run_dir)["episode_return"].shape == (4, 4)  # [runs, updates]
    assert len(json.loads((run_dir / "eval.json").read_text())["per_run_mean_return"]) == 4
    table = json.loads((run_dir / "sweep.json").read_text())
    assert list(table) == ["learning_rate=0.001", "learning_rate=0.003"]
    assert all(row["runs"] == 2 and np.isfinite(row["mean"]) for row in table.values())
    assert (run_dir / "learning_curve.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--algo", "a2c"], "unknown algorithm 'a2c'"),
        (["--lr", "1e-4,fast"], "cannot read"),
        (["--sweep", "num-envs=4,8"], "num_envs is static"),
        (["--sweep", "gamma=0.9", "--sweep", "gamma=0.99"], "swept twice"),
        (["--lr=-1e-3"], "learning_rate"),
        (["--num-processes", "two"], "--num-processes"),
        (["--lr"], "expected one argument"),
    ],
)
def test_bad_cli_input_exits_2_with_one_line(argv, needle, capsys):
    assert sweep_cli.main([*argv, *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


# --- checkpoints and --resume -----------------------------------------------------------------

# 6 updates in chunks of 2, a checkpoint after each chunk.
RESUMABLE = [*TINY, "--total-timesteps", "384", "--chunk-size", "2", "--checkpoint-every", "1"]
SWEEP = ["--algo", "ppo", "--seeds", "2", "--lr", "1e-3,3e-3"]


def _state_digests(run_dir: Path, step: int) -> list[str]:
    """BLAKE2b of every leaf of checkpoint `step`'s whole padded state (rljax.checkpoint)."""
    meta = json.loads((run_dir / "checkpoints" / str(step) / "meta" / "metadata").read_text())
    return [leaf["blake2b"] for leaf in meta["leaves"]]


@pytest.fixture(scope="module")
def resumed_sweep(tmp_path_factory) -> tuple[Path, Path]:
    """An uninterrupted sweep, and one stopped after update 2 (its later checkpoints deleted,
    as if killed then) and continued with `--resume`; one compilation cache serves all three."""
    tmp = tmp_path_factory.mktemp("resume")
    args = [*RESUMABLE, "--compilation-cache", str(tmp / "cache")]
    assert sweep_cli.main([*SWEEP, *args, "--out-dir", str(tmp / "whole")]) == 0
    assert sweep_cli.main([*SWEEP, *args, "--out-dir", str(tmp / "stopped")]) == 0
    (whole,) = (tmp / "whole").iterdir()
    (stopped,) = (tmp / "stopped").iterdir()
    for step in (4, 6):
        shutil.rmtree(stopped / "checkpoints" / str(step))
    assert sweep_cli.main(["--resume", str(stopped)]) == 0
    return whole, stopped


def test_a_resumed_sweep_is_bitwise_the_uninterrupted_one(resumed_sweep, capsys):
    whole, resumed = resumed_sweep
    want, got = load_metrics(whole), load_metrics(resumed)
    assert set(got) == set(want) and got["episode_return"].shape == (4, 6)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    for name in ("eval.json", "sweep.json"):
        assert json.loads((resumed / name).read_text()) == json.loads((whole / name).read_text())
    assert _state_digests(resumed, 6) == _state_digests(whole, 6)  # the final training state
    lines = (resumed / "metrics.jsonl").read_text()
    assert lines == (whole / "metrics.jsonl").read_text()
    assert [json.loads(line)["updates"] for line in lines.splitlines()] == [2, 4, 6]
    # Checkpoints 4 and 6 were deleted: the resumed sweep trained them again.
    assert sorted(int(p.name) for p in (resumed / "checkpoints").iterdir() if p.name.isdigit()) == [
        2,
        4,
        6,
    ]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--lr", "1e-3"], "changes the sweep axes"),
        (["--gamma", "0.9"], "changes the run: gamma"),
        (["--seeds", "3"], "changes the run: seeds"),
        (["--algo", "dqn"], "holds a ppo sweep, not dqn"),
        (["--tensorboard"], "tensorboard"),
    ],
)
def test_resume_refuses_a_command_line_that_changes_the_sweep(resumed_sweep, argv, needle, capsys):
    _, run_dir = resumed_sweep
    assert sweep_cli.main(["--resume", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1


def test_resume_refuses_a_folder_that_is_no_sweep(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"algorithm": "ppo", "args": {}}))
    assert sweep_cli.main(["--resume", str(tmp_path)]) == 2
    assert "holds no sweep" in capsys.readouterr().err
    assert sweep_cli.main(["--resume", str(tmp_path / "missing")]) == 2


# --- sharded over devices and processes (subprocesses) ----------------------------------------


def _run(args: list[str], devices: int, cache: str = "") -> subprocess.Popen:
    env = dict(os.environ)
    env |= {
        # Appended to conftest's flags (the test-suite optimisation level).
        "XLA_FLAGS": f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}",
        "JAX_PLATFORMS": "cpu",
        "RLJAX_COMPILATION_CACHE": cache,
    }
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict[str, np.ndarray]:
    """One process, 8 devices: grid/16 seeds sharded and unsharded, and 10 padded runs."""
    tmp = tmp_path_factory.mktemp("one")
    # The sharded and unsharded programs are each compiled once and served from this cache to
    # the later sweeps of the same shapes.
    _wait(_run([str(tmp / "out.npz")], 8, cache=str(tmp / "cache")))
    with np.load(tmp / "out.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> dict[str, np.ndarray]:
    """Two localhost processes with 4 devices each, joined by jax.distributed: the grid."""
    tmp = tmp_path_factory.mktemp("two")
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = str(s.getsockname()[1])
    procs = [
        _run(
            [str(tmp / "out.npz"), "--process-id", str(i), "--num-processes", "2", "--port", port],
            4,
        )
        for i in (1, 0)
    ]
    for proc in procs:
        _wait(proc)
    with np.load(tmp / "out.npz") as data:
        return dict(data)


def _assert_same_runs(data, sharded: str, reference: dict, unsharded: str, runs: int) -> None:
    keys = [k.split("/", 1)[1] for k in data if k.startswith(sharded + "/")]
    compared = [k for k in keys if k == "eval" or k.startswith(("metric/", "param/"))]
    assert "metric/episode_return" in compared and "param/0" in compared and "eval" in compared
    for key in compared:
        got, want = data[f"{sharded}/{key}"], reference[f"{unsharded}/{key}"][:runs]
        assert got.shape == want.shape, key
        np.testing.assert_allclose(got, want, err_msg=key, **TOLERANCE)


def test_16_seeds_sharded_over_8_devices_equal_the_unsharded_run(one_process):
    assert one_process["devices"] == 8
    _assert_same_runs(one_process, "seeds_sharded", one_process, "seeds_single", 16)


def test_4_learning_rates_x_4_seeds_sharded_equal_the_unsharded_run(one_process):
    assert one_process["grid_sharded/state_sharding_devices"] == 8  # really spread out
    # Chunks of 3 updates then 1, every metric [16 runs, updates]; on_chunk saw real runs only.
    np.testing.assert_array_equal(one_process["grid_sharded/chunks"], [[3, 16, 3], [4, 16, 1]])
    _assert_same_runs(one_process, "grid_sharded", one_process, "grid_single", 16)
    lrs = one_process["grid_sharded/metric/learning_rate"][:, 0]
    assert len(np.unique(lrs)) == 4  # four learning rates, annealed from their own start


def test_10_runs_on_8_devices_are_padded_and_the_padding_dropped(one_process):
    assert one_process["ten_sharded/eval"].shape[0] == 10
    assert one_process["ten_sharded/param/0"].shape[0] == 10
    _assert_same_runs(one_process, "ten_sharded", one_process, "grid_single", 10)


def _assert_resumed_bitwise(data, resumed: str, whole: str) -> None:
    """The sweep `resumed` (restored from the checkpoint after update 3 into 8 devices) ends
    bitwise where the uninterrupted `whole` did."""
    assert data[f"{resumed}/restored_sharding_devices"] == 8
    keys = [k for k in data if k.startswith(f"{resumed}/") and "sharding" not in k]
    assert f"{resumed}/param/0" in keys and f"{resumed}/metric/episode_return" in keys
    for key in keys:
        want = data[key.replace(f"{resumed}/", f"{whole}/")]
        if "/metric/" in key:
            want = want[:, 3:]  # the resumed sweep reports the updates after the checkpoint
        np.testing.assert_array_equal(data[key], want, err_msg=key)


def test_a_padded_sharded_sweep_resumes_bitwise_from_its_checkpoint(one_process):
    _assert_resumed_bitwise(one_process, "ten_resumed", "ten_sharded")


def test_two_processes_with_4_devices_each_equal_one_process(two_processes, one_process):
    assert two_processes["processes"] == 2 and two_processes["devices"] == 8
    assert two_processes["grid_sharded/state_sharding_devices"] == 8
    np.testing.assert_array_equal(two_processes["grid_sharded/chunks"], [[3, 16, 3], [4, 16, 1]])
    _assert_same_runs(two_processes, "grid_sharded", one_process, "grid_single", 16)
    _assert_same_runs(two_processes, "grid_sharded", one_process, "grid_sharded", 16)


def test_two_processes_checkpoint_and_resume_bitwise(two_processes):
    # Each process saved and restored its own shards of the 8-device state (orbax), and the
    # digests were checked on the gathered leaves.
    _assert_resumed_bitwise(two_processes, "grid_resumed", "grid_sharded")
