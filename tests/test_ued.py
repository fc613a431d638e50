"""The UED loop (rljax.curricula.runner) on the 13x13 maze: one compiled program per method
with new, replay and mutate steps mixed, vmap over seeds, env steps vs gradient updates, the
held-out evaluation, bad input, and the `experiments.ued` CLI."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from experiments import ued as ued_experiment
from experiments.ued import make_algorithm
from rljax import ConfigError
from rljax.curricula.runner import UED, UEDConfig
from rljax.experiment import enable_compilation_cache
from tests.agent_contract import (
    assert_chunk_compiles_once,
    assert_vmap_equals_separate_runs,
    train_one,
)

# Tiny but real: 256-step rollouts (episodes end by the 250-step limit, so every level gets a
# valid score), a buffer of 4 with 2 levels per step, so replay starts after one NEW step.
TINY = UEDConfig(
    num_levels=2,
    num_steps=256,
    steps_per_eval=2,
    capacity=4,
    min_fill_ratio=0.5,
    replay_prob=0.5,
    total_timesteps=2 * 256 * 2 * 3,
    hidden_sizes=(8,),
    update_epochs=1,
    eval_episodes=1,
    frame_stack=2,
)


# ACCEL with replay_prob 1: NEW, REPLAY, MUTATE, REPLAY, ... from the first steps on.
ACCEL = TINY.replace(method="accel", replay_prob=1.0, total_timesteps=2 * 256 * 2 * 2)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A persistent compilation cache for this module: `assert_vmap_equals_separate_runs`
    compiles the same single-seed program once per seed, and the ACCEL test reuses it."""
    previous = jax.config.jax_compilation_cache_dir
    path = tmp_path_factory.mktemp("xla")
    enable_compilation_cache(str(path))
    yield path
    jax.config.update("jax_compilation_cache_dir", previous)


@pytest.mark.parametrize("method", ["dr", "plr", "robust_plr", "accel"])
def test_training_chunk_compiles_once(method, count_compilations):
    config = TINY.replace(method=method)
    assert_chunk_compiles_once(make_algorithm(config), config.hparams(), count_compilations)


def test_vmap_over_seeds_equals_separate_runs(cache):
    algo = make_algorithm(ACCEL)
    assert_vmap_equals_separate_runs(algo, ACCEL.hparams(), seeds=(0, 1), rtol=1e-4, atol=1e-5)


def test_accel_mixes_step_kinds_and_counts_env_steps_apart_from_gradient_updates(cache):
    algo = make_algorithm(ACCEL)
    state, metrics = train_one(algo, ACCEL.hparams(), 0)  # the program compiled just above
    m = jax.tree.map(np.asarray, metrics)
    assert (m.new_steps.sum(), m.replay_steps.sum(), m.mutate_steps.sum()) == (1, 2, 1)
    steps = algo.num_updates * ACCEL.steps_per_eval
    assert m.total_env_steps[-1] == steps * ACCEL.num_levels * ACCEL.num_steps
    # Only replay steps train (1 epoch x 1 minibatch each); new and mutated levels do not.
    assert m.grad_updates[-1] == m.replay_steps.sum() < steps
    # Held-out evaluation is part of every update; per level from `level_results`.
    assert m.heldout_solve_rate.shape == (algo.num_updates,)
    per_level = algo.level_results(algo.evaluate(state))
    assert per_level.solve_rate.shape == (len(algo.eval_names),) == (14,)
    assert np.all((per_level.solve_rate >= 0) & (per_level.solve_rate <= 1))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"method": "bogus"}, "method"),
        ({"method": "paired"}, "not built yet"),
        ({"replay_prob": 1.5}, "replay_prob"),
        ({"replay_prob": -0.1}, "replay_prob"),
        ({"capacity": 8, "num_levels": 16}, "capacity"),
        ({"score_function": "regret"}, "score_function"),
        ({"total_timesteps": 100}, "total_timesteps"),
    ],
)
def test_bad_config_is_a_clear_error(changes, field):
    with pytest.raises(ConfigError, match=field):
        TINY.replace(**changes)


def test_level_of_the_wrong_shape_is_a_clear_error():
    import envs.maze as maze

    small = maze.Level.create(np.zeros((9, 9), bool), (0, 0), 0, (1, 1))
    with pytest.raises(ConfigError, match=r"walls has shape \(9, 9\), expected \(13, 13\)"):
        UED(TINY, lambda k: maze.sample_level(k, maze.MazeParams(), 5), None, {"small": small})


def test_cli_refuses_paired_and_bad_input_without_traceback(capsys):
    assert ued_experiment.main(["--method", "paired"]) == 2
    assert "not built yet" in capsys.readouterr().err
    assert ued_experiment.main(["--replay-prob", "2"]) == 2
    assert "replay_prob" in capsys.readouterr().err


def test_cli_writes_run_folder_and_robust_plr_skips_gradients_on_new_levels(cache, tmp_path):
    argv = ["--method", "robust_plr", "--seeds", "1", "--out-dir", str(tmp_path), "--no-progress"]
    argv += ["--compilation-cache", str(cache), "--checkpoint-every", "0"]
    for field in ("num_levels", "num_steps", "steps_per_eval", "capacity", "total_timesteps"):
        argv += [f"--{field.replace('_', '-')}", str(getattr(TINY, field))]
    argv += ["--hidden-sizes", "8", "--update-epochs", "1", "--eval-episodes", "1"]
    argv += ["--frame-stack", "2", "--replay-prob", "0.5"]
    assert ued_experiment.main(argv) == 0
    (run_dir,) = tmp_path.iterdir()
    for name in ("config.json", "metrics.npz", "learning_curve.png", "heldout_curve.png"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "heldout_levels.png").exists() and (run_dir / "top_levels.png").exists()
    summary = json.loads((run_dir / "eval.json").read_text())
    assert len(summary["levels"]) == 14 and 0 <= summary["mean_solve_rate"] <= 1
    m = np.load(run_dir / "metrics.npz")
    # Robust PLR only evaluates new levels: gradient updates come from replay steps alone.
    assert m["new_steps"].sum() > 0
    assert (
        m["grad_updates"][0, -1] == m["replay_steps"].sum() < m["total_env_steps"][0, -1] / 256 / 2
    )
