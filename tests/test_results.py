"""Host-side pieces: run-folder writing and reading, and the curve statistics behind plots."""

import json

import numpy as np
import pytest

from rljax.plotting import bootstrap_band, forward_fill, plot_learning_curves
from rljax.results import RunWriter, load_metrics, new_run_dir


def test_forward_fill_carries_the_last_finite_value_and_keeps_leading_nans():
    nan = np.nan
    values = np.array([[nan, 1.0, nan, nan, 3.0], [2.0, nan, nan, 4.0, nan]])
    filled = forward_fill(values)
    np.testing.assert_array_equal(filled[0, 1:], [1.0, 1.0, 1.0, 3.0])
    assert np.isnan(filled[0, 0])
    np.testing.assert_array_equal(filled[1], [2.0, 2.0, 2.0, 4.0, 4.0])


def test_bootstrap_band_brackets_the_mean_and_collapses_for_identical_runs():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(16, 5))
    mean, low, high = bootstrap_band(values)
    np.testing.assert_allclose(mean, values.mean(0))
    assert np.all(low <= mean) and np.all(mean <= high)
    same = np.tile(np.arange(5.0), (4, 1))
    mean, low, high = bootstrap_band(same)
    np.testing.assert_allclose(low, mean)
    np.testing.assert_allclose(high, mean)


def test_run_writer_appends_chunks_and_loads_back(tmp_path):
    run_dir = new_run_dir(tmp_path, "ppo-brax/ant")
    assert "brax_ant" in run_dir.name and run_dir.is_dir()
    writer = RunWriter(run_dir, steps_per_update=100)
    writer.write_config({"lr": 1e-3, "hidden": (64, 64)})
    writer.on_chunk(2, {"episode_return": np.array([[1.0, np.nan], [3.0, 4.0]])})
    writer.on_chunk(3, {"episode_return": np.array([[5.0], [6.0]])})
    metrics = load_metrics(run_dir)
    assert metrics["episode_return"].shape == (2, 3)
    np.testing.assert_array_equal(metrics["env_steps"], [100, 200, 300])
    first, last = (json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines())
    assert first == {"updates": 2, "env_steps": 200, "episode_return": 4.0}
    assert last["episode_return"] == 5.5
    summary = writer.write_eval(np.array([[1.0, 3.0], [5.0, 7.0]]), seeds=[0, 1])
    assert summary["per_run_mean_return"] == [2.0, 6.0] and summary["mean_return"] == 4.0
    png = plot_learning_curves(
        {"ppo": (metrics["env_steps"], metrics["episode_return"])}, run_dir / "curve.png"
    )
    assert png.stat().st_size > 1000


def test_load_metrics_names_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder"):
        load_metrics(tmp_path)


def test_iqm_against_worked_numbers():
    from rljax.plotting import iqm

    # 4 runs: the middle two (2, 3) -> 2.5, whatever the outlier.
    assert iqm(np.array([[1.0], [2.0], [3.0], [100.0]]))[0] == pytest.approx(2.5)
    # 5 runs: ranks 1.25..3.75 are kept -> (0.75*1 + 2 + 0.75*3) / 2.5 = 2.0.
    assert iqm(np.array([[0.0], [1.0], [2.0], [3.0], [4.0]]))[0] == pytest.approx(2.0)
    # NaN runs are ignored: 3 finite runs keep ranks 0.75..2.25 -> (0.25*1 + 3 + 0.25*5) / 1.5.
    assert iqm(np.array([[1.0], [np.nan], [3.0], [5.0]]))[0] == pytest.approx(3.0)


def _fake_run(root, name, drift, offset):
    run_dir = root / name
    run_dir.mkdir()
    writer = RunWriter(run_dir, steps_per_update=10)
    writer.write_config({"algorithm": "ppo", "config": {"env": "CartPole-v1", "drift": drift}})
    writer.on_chunk(5, {"episode_return": np.arange(15.0).reshape(3, 5) + offset})
    return run_dir


def test_plot_cli_overlays_two_methods(tmp_path, capsys):
    from rljax import plot

    a = _fake_run(tmp_path, "a", "ppo_clip", 0.0)
    b = _fake_run(tmp_path, "b", "mdpo", 5.0)
    out = tmp_path / "compare.png"
    assert plot.main([str(a), str(b), "--out", str(out), "--statistic", "iqm"]) == 0
    assert out.stat().st_size > 1000 and "wrote" in capsys.readouterr().out
    assert plot._label(b) == "ppo (mdpo) CartPole-v1"
    assert plot.main([str(a), "--metric", "nope", "--out", str(out)]) == 2
    assert "no metric 'nope'" in capsys.readouterr().err
    assert plot.main([str(tmp_path / "missing")]) == 2


def test_resume_drops_what_was_written_after_the_checkpoint(tmp_path):
    writer = RunWriter(tmp_path, steps_per_update=10)
    for updates in (2, 4, 6):
        writer.on_chunk(updates, {"loss": np.full((2, 2), float(updates))})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"updates": 8, "env_st')  # a line cut short by a killed process
    resumed = RunWriter(tmp_path, steps_per_update=10)
    resumed.resume(4)
    assert [json.loads(x)["updates"] for x in (tmp_path / "metrics.jsonl").open()] == [2, 4]
    np.testing.assert_array_equal(load_metrics(tmp_path)["loss"], [[2, 2, 4, 4]] * 2)
    resumed.on_chunk(6, {"loss": np.full((2, 2), 6.0)})
    np.testing.assert_array_equal(resumed.metrics()["loss"], writer.metrics()["loss"])
    with pytest.raises(ValueError, match="holds 6 updates, fewer than the checkpoint's 8"):
        RunWriter(tmp_path, steps_per_update=10).resume(8)


def test_wandb_logger_with_a_fake_module(tmp_path, monkeypatch):
    import sys
    import types

    from rljax import loggers

    calls = []

    class FakeRun:
        def log(self, values, step):
            calls.append((step, values))

        def finish(self):
            calls.append("finish")

    fake = types.ModuleType("wandb")
    fake.util = types.SimpleNamespace(generate_id=lambda: "abc123")
    fake.init = lambda **kwargs: calls.append(kwargs) or FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    logger = loggers.WandbLogger(tmp_path, "proj", {"lr": 1e-3, "sizes": (64, 64)}, 100)
    logger.on_chunk(2, {"episode_return": np.array([[np.nan, 1.0], [np.nan, 3.0]])})
    logger.close()
    init, first, second, finish = calls
    assert init["id"] == "abc123" and init["resume"] == "allow" and init["project"] == "proj"
    assert init["config"] == {"lr": 1e-3, "sizes": [64, 64]}
    assert first == (100, {"env_steps": 100})  # no run has a finite return at update 1
    assert second == (200, {"episode_return": 2.0, "env_steps": 200}) and finish == "finish"
    assert (tmp_path / "wandb_id.txt").read_text().strip() == "abc123"


def test_missing_logger_package_is_a_clear_config_error(monkeypatch):
    import sys

    from rljax import loggers
    from rljax.config import ConfigError

    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ConfigError, match=r"--wandb needs the `wandb` package.*rljax\[wandb\]"):
        loggers.require(tensorboard=False, wandb=True)


def test_tensorboard_logger_writes_events(tmp_path):
    pytest.importorskip("tensorboardX")
    from rljax import loggers

    logger = loggers.TensorBoardLogger(tmp_path, steps_per_update=10)
    logger.on_chunk(3, {"value_loss": np.arange(6.0).reshape(2, 3)})
    logger.close()
    (events,) = tmp_path.glob("events.out.tfevents.*")
    assert events.stat().st_size > 0
