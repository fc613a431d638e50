"""The UED loop (rljax.curricula.runner) and PAIRED (rljax.curricula.paired) on the 13x13
maze: one compiled program per method with new, replay and mutate steps mixed, vmap over
seeds, env steps vs gradient updates, the held-out evaluation, bitwise resume from a
checkpoint, the sign of PAIRED's regret, bad input, and the `experiments.ued` CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from experiments import ued as ued_experiment
from experiments.ued import make_algorithm
from rljax import ConfigError
from rljax.checkpoint import Checkpointer
from rljax.curricula import scores
from rljax.curricula.paired import adversary_reward
from rljax.curricula.runner import ADVERSARY_STEPS, UED, UEDConfig
from rljax.experiment import enable_compilation_cache
from tests.agent_contract import (
    assert_chunk_compiles_once,
    assert_vmap_equals_separate_runs,
    train_one,
)

# Tiny but real: 256-step rollouts (episodes end by the 250-step limit, so every level gets a
# valid score), a buffer of 4 with 2 levels per step, so replay starts after one NEW step.
# The learner is the default recurrent PPO with a small GRU.
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
    gru_size=8,
)

# The feed-forward learner over a stack of two views: the same loop through PPO's interface.
FEEDFORWARD = TINY.replace(agent="feedforward", frame_stack=2)


# ACCEL with replay_prob 1: NEW, REPLAY, MUTATE, REPLAY, ... from the first steps on.
ACCEL_STEPS = 2 * 256 * 2 * 2
ACCEL = TINY.replace(method="accel", replay_prob=1.0, total_timesteps=ACCEL_STEPS)

# PAIRED, two updates: each step builds 2 levels (52 adversary steps each) and plays them with
# both students for 256 steps.
PAIRED_TINY = TINY.replace(method="paired", total_timesteps=2 * 2 * (2 * 256 + ADVERSARY_STEPS) * 2)


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


def test_paired_compiles_once_and_counts_three_agents(count_compilations):
    """PAIRED's chunk compiles once (two runs); its counters charge both students' rollouts
    and the adversary's placements as env steps, and three agents' gradient updates."""
    algo = make_algorithm(PAIRED_TINY)
    state = assert_chunk_compiles_once(algo, PAIRED_TINY.hparams(), count_compilations)
    counters = jax.tree.map(np.asarray, state.counters)
    steps = 5 * PAIRED_TINY.steps_per_eval  # the contract runs chunks of 2, 1 and 2 updates
    levels, rollout_steps = PAIRED_TINY.num_levels, PAIRED_TINY.num_steps
    np.testing.assert_array_equal(counters.student_env_steps, steps * levels * 2 * rollout_steps)
    np.testing.assert_array_equal(
        counters.env_steps, steps * levels * (2 * rollout_steps + ADVERSARY_STEPS)
    )
    np.testing.assert_array_equal(counters.grad_updates, steps * 3)  # 1 epoch x 1 minibatch
    # Three different networks: the protagonist is not the antagonist.
    assert not np.array_equal(
        jax.tree.leaves(state.protagonist_params)[0], jax.tree.leaves(state.antagonist_params)[0]
    )


def test_feedforward_agent_compiles_once_and_learns_only_on_replay(count_compilations):
    config = FEEDFORWARD.replace(method="accel", replay_prob=1.0, total_timesteps=ACCEL_STEPS)
    algo = make_algorithm(config)
    assert not hasattr(algo.ppo.network, "initial_carry")  # PPO's MLP, not the GRU
    state = assert_chunk_compiles_once(algo, config.hparams(), count_compilations)
    counters = jax.tree.map(np.asarray, state.curriculum.counters)
    assert (counters.mutate_steps > 0).all()
    np.testing.assert_array_equal(counters.grad_updates, counters.replay_steps)


@pytest.mark.parametrize("config", [TINY, FEEDFORWARD], ids=["recurrent", "feedforward"])
def test_heldout_pictures_follow_the_evaluated_episodes(config):
    """`experiments.ued.eval_positions` replays the held-out evaluation (the same keys, policy
    and, for the GRU, carry resets): an episode ends on its goal exactly where the evaluation
    scored a positive return, and starts on the level's start cell."""
    import envs.maze as maze

    # A goal two cells from the start, which a random policy often reaches, beside two named
    # levels it rarely solves.
    near = maze.Level.create(np.zeros((13, 13), bool), (6, 6), 0, (6, 8))
    named = maze.named_levels()
    held_out = {"near": near, "Labyrinth": named["Labyrinth"], "FourRooms": named["FourRooms"]}
    config = config.replace(eval_episodes=4)
    algo = UED(config, lambda k: maze.sample_level(k, maze.MazeParams(), 5), None, held_out)
    params = jax.jit(algo.init)(jax.random.PRNGKey(3), config.hparams()).params
    returns = np.asarray(jax.jit(algo.evaluate_params)(params).returns)
    paths = ued_experiment.eval_positions(algo, params)
    levels = jax.tree.map(np.asarray, algo.eval_levels)
    assert paths.shape == (returns.shape[0], algo.max_episode_steps + 1, 2)
    np.testing.assert_array_equal(paths[:, 0], levels.agent_pos)
    on_goal = (paths[:, -1] == levels.goal_pos).all(axis=-1)
    np.testing.assert_array_equal(on_goal, returns > 0)
    assert 0 < (returns > 0).sum() < returns.shape[0]  # some solved, some not: a real check


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
        ({"replay_prob": 1.5}, "replay_prob"),
        ({"replay_prob": -0.1}, "replay_prob"),
        ({"capacity": 8, "num_levels": 16}, "capacity"),
        ({"score_function": "regret"}, "score_function"),
        ({"total_timesteps": 100}, "total_timesteps"),
        ({"agent": "lstm"}, "agent"),
        ({"gru_size": 0}, "gru_size"),
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


def test_cli_refuses_bad_input_without_traceback(capsys):
    assert ued_experiment.main(["--replay-prob", "2"]) == 2
    assert "replay_prob" in capsys.readouterr().err


def test_cli_run_folder_robust_plr_gradients_and_bitwise_resume(cache, tmp_path):
    """The CLI writes the run folder and checkpoints after every update; a run resumed from
    the first checkpoint (`rljax.run(state=..., updates_done=1)`, what `--resume` does) ends
    bitwise on the final checkpoint, level buffer included, with the same metrics. The
    resumed run loads the CLI's compiled chunk from the compilation cache."""
    argv = ["--method", "robust_plr", "--seeds", "1", "--out-dir", str(tmp_path), "--no-progress"]
    argv += ["--compilation-cache", str(cache), "--checkpoint-every", "1", "--chunk-size", "1"]
    for field in ("num_levels", "num_steps", "steps_per_eval", "capacity", "total_timesteps"):
        argv += [f"--{field.replace('_', '-')}", str(getattr(TINY, field))]
    argv += ["--hidden-sizes", "8", "--update-epochs", "1", "--eval-episodes", "1"]
    argv += ["--gru-size", "8", "--replay-prob", "0.5"]
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

    config = TINY.replace(method="robust_plr", replay_prob=0.5)
    algo = make_algorithm(config)
    keys, hparams = rljax.seed_keys([0]), rljax.stack_hparams([config.hparams()])
    directory = run_dir / "checkpoints"
    stored = json.loads((directory / "fingerprint.json").read_text())
    template = jax.eval_shape(jax.vmap(algo.init), keys, hparams)
    with Checkpointer(directory, stored) as checkpointer:
        assert checkpointer.all_steps() == [1, 2, 3] and algo.num_updates == 3
        _, after_one, _ = checkpointer.restore(template, step=1)
        _, final, _ = checkpointer.restore(template, step=3)
    resumed = rljax.run(
        algo, keys, hparams, chunk_size=1, progress=False, state=after_one, updates_done=1
    )
    assert np.asarray(final.curriculum.buffer.filled).any()  # the level buffer came back
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(resumed.state), strict=True):
        np.testing.assert_array_equal(a, b)
    for name, values in resumed.metrics.items():
        np.testing.assert_array_equal(m[name][:, 1:], values, err_msg=name)


def test_paired_regret_and_the_adversary_reward():
    """Hand-made episodes: where only the antagonist reaches the goal the regret is positive
    (the adversary is rewarded), where only the protagonist does it is negative, and a level
    without a finished episode gives the adversary 0; the reward is on the last placement."""
    t = 6
    solved = jnp.zeros(t).at[2].set(0.9).at[5].set(0.5)  # two episodes: 0.9, then 0.5
    failed = jnp.zeros(t)
    done = jnp.zeros(t, bool).at[2].set(True).at[5].set(True)
    antagonist = jnp.stack([solved, failed, solved], axis=1)
    protagonist = jnp.stack([failed, solved, failed], axis=1)
    dones = jnp.stack([done, done, jnp.zeros(t, bool)], axis=1)
    regret = scores.paired_regret(antagonist, dones, protagonist, dones)
    np.testing.assert_allclose(regret.score[:2], [0.9, -0.7], rtol=1e-6)  # max 0.9 - mean 0.7
    assert regret.valid.tolist() == [True, True, False]
    reward = adversary_reward(regret, ADVERSARY_STEPS)
    assert reward.shape == (ADVERSARY_STEPS, 3)
    np.testing.assert_allclose(reward[-1], [0.9, -0.7, 0.0], rtol=1e-6)
    assert not reward[:-1].any()
