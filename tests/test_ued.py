"""The UED loop (rljax.curricula.runner) and PAIRED (rljax.curricula.paired) on the 13x13
maze: one compiled program per method with new, replay and mutate steps mixed, vmap over
seeds, env steps vs gradient updates, the held-out evaluation, bitwise resume from a
checkpoint, the sign of PAIRED's regret, bad input, and the `experiments.ued` CLI."""

from __future__ import annotations

import json
from pathlib import Path

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
from rljax.curricula.accel import ACCELConfig
from rljax.curricula.dr import DRConfig
from rljax.curricula.paired_adversary import PAIREDConfig, adversary_reward
from rljax.curricula.plr import PLRConfig, RobustPLRConfig
from rljax.curricula.runner import UED, UEDConfig, maze_learner
from rljax.experiment import enable_compilation_cache
from rljax.sweep import even_mesh, state_template, sweep_batch
from tests.agent_contract import (
    assert_run_compiles_one_chunk_program,
    assert_vmap_equals_separate_runs,
    report,
    train_one,
)

ADVERSARY_STEPS = 52
"""Steps of PAIRED's adversary per level on `MazeAdversary-13x13`: goal, agent, 50 walls."""

# Tiny but real: 256-step rollouts (episodes end by the 250-step limit, so every level gets a
# valid score), a buffer of 4 with 2 levels per step, so replay starts after one NEW step.
# The learner is the default recurrent PPO with a small GRU.
BUFFER = {"capacity": 4, "min_fill_ratio": 0.5, "replay_prob": 0.5}
LEARNER = maze_learner(
    num_envs=2,
    num_steps=256,
    total_timesteps=2 * 256 * 2 * 3,
    hidden_sizes=(8,),
    update_epochs=1,
    num_eval_episodes=1,
    gru_size=8,
)
TINY = UEDConfig(curriculum=RobustPLRConfig(**BUFFER), learner=LEARNER, steps_per_eval=2)
CURRICULA = {
    "dr": DRConfig(),
    "plr": PLRConfig(**BUFFER),
    "robust_plr": RobustPLRConfig(**BUFFER),
    "accel": ACCELConfig(**BUFFER),
}

# The feed-forward learner over a stack of two views: the same loop through the learner
# interface.
FF_LEARNER = rljax.PPOConfig(
    **{f: getattr(LEARNER, f) for f in ("env", "num_envs", "num_steps", "total_timesteps")},
    **{f: getattr(LEARNER, f) for f in ("update_epochs", "num_minibatches", "anneal_lr")},
    hidden_sizes=(8,),
    num_eval_episodes=1,
    greedy_eval=False,
)
FEEDFORWARD = TINY.replace(learner=FF_LEARNER, frame_stack=2)


# ACCEL with replay_prob 1: NEW, REPLAY, MUTATE, REPLAY, ... from the first steps on.
ACCEL_STEPS = 2 * 256 * 2 * 2
ACCEL = TINY.replace(
    curriculum=ACCELConfig(**{**BUFFER, "replay_prob": 1.0}),
    learner=LEARNER.replace(total_timesteps=ACCEL_STEPS),
)

# PAIRED, two updates: each step builds 2 levels (52 adversary steps each) and plays them with
# both students for 256 steps.
PAIRED_TINY = TINY.replace(
    curriculum=PAIREDConfig(adversary=PAIREDConfig().adversary.replace(update_epochs=1)),
    learner=LEARNER.replace(total_timesteps=2 * 2 * (2 * 256 + ADVERSARY_STEPS) * 2),
)


def hparams(config: UEDConfig):
    return make_algorithm(config).hparams()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A persistent compilation cache for this module: `assert_vmap_equals_separate_runs`
    compiles the same single-seed program once per seed, and the ACCEL test reuses it."""
    previous = jax.config.jax_compilation_cache_dir
    path = tmp_path_factory.mktemp("xla")
    enable_compilation_cache(str(path))
    yield path
    jax.config.update("jax_compilation_cache_dir", previous)


@pytest.mark.parametrize("method", list(CURRICULA))
def test_training_chunk_compiles_once(method, count_compilations):
    """Through `rljax.run`, a partial last chunk included (the shared contract)."""
    config = TINY.replace(curriculum=CURRICULA[method])
    algo = make_algorithm(config)
    assert_run_compiles_one_chunk_program(algo, algo.hparams(), count_compilations)


def test_paired_compiles_once_and_counts_three_agents(count_compilations):
    """PAIRED's chunk compiles once (two runs, through `rljax.run` with a partial last chunk);
    its counters charge both students' rollouts and the adversary's placements as env steps,
    and three agents' gradient updates."""
    algo = make_algorithm(PAIRED_TINY)
    state = assert_run_compiles_one_chunk_program(algo, algo.hparams(), count_compilations)
    counters = jax.tree.map(np.asarray, state.counters)
    steps = 5 * PAIRED_TINY.steps_per_eval  # the contract runs 5 updates
    levels, rollout_steps = LEARNER.num_envs, LEARNER.num_steps
    np.testing.assert_array_equal(counters.student_env_steps, steps * levels * 2 * rollout_steps)
    np.testing.assert_array_equal(
        counters.env_steps, steps * levels * (2 * rollout_steps + ADVERSARY_STEPS)
    )
    np.testing.assert_array_equal(counters.grad_updates, steps * 3)  # 1 epoch x 1 minibatch
    # Three different networks: the protagonist is not the antagonist.
    assert not np.array_equal(
        jax.tree.leaves(state.protagonist.params)[0], jax.tree.leaves(state.antagonist.params)[0]
    )


def test_feedforward_agent_compiles_once_and_learns_only_on_replay(count_compilations):
    config = FEEDFORWARD.replace(
        curriculum=ACCEL.curriculum, learner=FF_LEARNER.replace(total_timesteps=ACCEL_STEPS)
    )
    algo = make_algorithm(config)
    assert not hasattr(algo.learner.network, "initial_carry")  # PPO's MLP, not the GRU
    state = jax.jit(jax.vmap(algo.init))(
        rljax.seed_keys([0, 1]), rljax.stack_hparams([algo.hparams()] * 2)
    )
    state, metrics = rljax.training.compiled_chunk(algo, 2)(state, jnp.int32(2))
    m = jax.tree.map(np.asarray, metrics)
    assert (m.mutate_steps.sum(axis=1) > 0).all()
    np.testing.assert_array_equal(m.grad_updates[:, -1], m.replay_steps.sum(axis=1))


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
    held_out = {
        "near": near,
        "Labyrinth": named["Labyrinth"],
        "RljaxFourRooms": named["RljaxFourRooms"],
    }
    config = config.replace(learner=config.learner.replace(num_eval_episodes=4))
    space = HeldOut(maze.MazeTaskSpace(maze.MazeConfig(num_walls=5)), held_out)
    algo = UED(config, task_space=space)
    state = jax.jit(algo.init)(jax.random.PRNGKey(3), algo.hparams())
    returns = np.asarray(jax.jit(algo.evaluate)(state).returns)
    paths = ued_experiment.eval_positions(algo, state.learner)
    levels = jax.tree.map(np.asarray, algo.eval_levels)
    assert paths.shape == (returns.shape[0], algo.max_episode_steps + 1, 2)
    np.testing.assert_array_equal(paths[:, 0], levels.agent_pos)
    on_goal = (paths[:, -1] == levels.goal_pos).all(axis=-1)
    np.testing.assert_array_equal(on_goal, returns > 0)
    assert 0 < (returns > 0).sum() < returns.shape[0]  # some solved, some not: a real check


class HeldOut:
    """A task space with another held-out set: everything else is the wrapped space's."""

    def __init__(self, space, held_out):
        self.space, self.held_out = space, held_out

    def __getattr__(self, name):
        return getattr(self.space, name)

    def heldout(self):
        return self.held_out


def test_vmap_over_seeds_equals_separate_runs(cache):
    algo = make_algorithm(ACCEL)
    assert_vmap_equals_separate_runs(algo, algo.hparams(), seeds=(0, 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "step_kind_seed", [0, pytest.param(None, marks=pytest.mark.slow)], ids=["0", "None"]
)
def test_seeds_share_step_kinds_and_a_batch_computes_only_the_gradient_steps_it_takes(
    cache, step_kind_seed
):
    """Robust PLR over 3 vmapped seeds (`rljax.run`): with the shared step-kind coin every
    seed takes the same kinds and the learner's gradient step is computed only on the steps
    that train; with a coin per seed the kinds differ between seeds, and the gradient step
    runs wherever some seed trains (that case, not the default, is slow since session 20:
    24 s of the suite)."""
    algo = make_algorithm(TINY.replace(step_kind_seed=step_kind_seed))
    calls = []
    learn = algo.learner.learn

    def counting_learn(learner, traj):
        jax.debug.callback(lambda: calls.append(1))
        return learn(learner, traj)

    algo.learner.learn = counting_learn
    seeds = [0, 1, 2]
    result = rljax.run(
        algo,
        rljax.seed_keys(seeds),
        rljax.stack_hparams([algo.hparams()] * len(seeds)),
        chunk_size=algo.num_updates,
        progress=False,
    )
    jax.effects_barrier()
    replays = np.asarray(result.metrics["replay_steps"])  # [seeds, updates]
    trained = np.asarray(result.metrics["grad_updates"])[:, -1]  # 1 epoch x 1 minibatch
    steps = algo.num_updates * TINY.steps_per_eval
    np.testing.assert_array_equal(trained, replays.sum(axis=1))
    if step_kind_seed is None:
        assert (replays != replays[0]).any(), "each seed flips its own coin"
        assert len(calls) >= trained.max()
    else:
        assert (replays == replays[0]).all(), "the seeds share each step's kind"
        assert 0 < trained[0] < steps, "new and replay steps mixed"
        assert len(calls) == trained[0], "no gradient step computed on a step that skips it"


def test_accel_mixes_step_kinds_and_counts_env_steps_apart_from_gradient_updates(cache):
    algo = make_algorithm(ACCEL)
    state, metrics = train_one(algo, algo.hparams(), 0)  # the program compiled just above
    m = jax.tree.map(np.asarray, metrics)
    assert (m.new_steps.sum(), m.replay_steps.sum(), m.mutate_steps.sum()) == (1, 2, 1)
    steps = algo.num_updates * ACCEL.steps_per_eval
    assert m.total_env_steps[-1] == steps * LEARNER.num_envs * LEARNER.num_steps
    # Only replay steps train (1 epoch x 1 minibatch each); new and mutated levels do not.
    assert m.grad_updates[-1] == m.replay_steps.sum() < steps
    # Held-out evaluation is part of every update; per level from `level_results`.
    assert m.heldout_solve_rate.shape == (algo.num_updates,)
    result = algo.evaluate(state)
    per_level = algo.level_results(result)
    assert per_level.solve_rate.shape == (len(algo.eval_names),) == (8,)
    # Task by task: a maze episode succeeds when it reaches the goal (positive return).
    by_level = np.asarray(result.returns).reshape(8, algo.eval_episodes)
    np.testing.assert_array_equal(per_level.solve_rate, (by_level > 0).mean(axis=1))
    np.testing.assert_allclose(per_level.mean_return, by_level.mean(axis=1), rtol=1e-6)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TINY.replace(curriculum=PLRConfig(replay_prob=1.5)), "replay_prob"),
        (lambda: TINY.replace(curriculum=PLRConfig(replay_prob=-0.1)), "replay_prob"),
        (lambda: make_algorithm(TINY.replace(curriculum=PLRConfig(capacity=1))), "capacity"),
        (lambda: TINY.replace(score_function="regret"), "score_function"),
        (lambda: TINY.replace(learner=LEARNER.replace(total_timesteps=100)), "total_timesteps"),
        (lambda: LEARNER.replace(gru_size=0), "gru_size"),
        (lambda: TINY.replace(frame_stack=0), "frame_stack"),
    ],
)
def test_bad_config_is_a_clear_error(build, field):
    with pytest.raises(ConfigError, match=field):
        build()


def test_level_of_the_wrong_shape_is_a_clear_error():
    import envs.maze as maze

    small = maze.Level.create(np.zeros((9, 9), bool), (0, 0), 0, (1, 1))
    space = HeldOut(maze.MazeTaskSpace(maze.MazeConfig()), {"small": small})
    with pytest.raises(ConfigError, match=r"walls has shape \(9, 9\), expected \(13, 13\)"):
        UED(TINY, task_space=space)


def test_cli_refuses_bad_input_without_traceback(capsys):
    assert ued_experiment.main(["curriculum:plr", "--curriculum.replay-prob", "2"]) == 2
    assert "replay_prob" in capsys.readouterr().err
    # Rollouts shorter than the maze's 250-step episodes leave levels unscored: refused for a
    # curriculum that ranks levels by score, allowed for DR or with --partial-episodes.
    short = ["--learner.num-steps", "100", "--learner.total-timesteps", "1000000"]
    for curriculum in ("curriculum:robust_plr", "curriculum:paired"):
        assert ued_experiment.main([curriculum, "learner:recurrent", *short]) == 2
        err = capsys.readouterr().err
        assert "num_steps=100 is shorter than the task space's 250-step episodes" in err, err
        assert "--learner.num-steps 250" in err and "--partial-episodes" in err
        assert len(err.strip().splitlines()) == 1
    assert (
        make_algorithm(
            TINY.replace(learner=LEARNER.replace(num_steps=100), partial_episodes=True)
        ).check_rollout_covers_episodes()
        is None
    )
    assert make_algorithm(
        TINY.replace(curriculum=DRConfig(), learner=LEARNER.replace(num_steps=100))
    )


def test_cli_run_folder_robust_plr_gradients_and_bitwise_resume(cache, tmp_path, monkeypatch):
    """The CLI writes the run folder and checkpoints after every update; a run resumed from
    the first checkpoint (restored onto the CLI's mesh and trained by `sweep_batch(state=...,
    updates_done=1)`, what `--resume` does) ends bitwise on the final checkpoint, level
    buffer included, with the same metrics."""
    argv = ["--seeds", "1", "--out-dir", str(tmp_path), "--no-progress"]
    argv += ["--compilation-cache", str(cache), "--checkpoint-every", "1", "--chunk-size", "1"]
    argv += ["--steps-per-eval", str(TINY.steps_per_eval), "--cvar-levels", "8"]
    argv += ["curriculum:robust_plr", "--curriculum.capacity", "4"]
    argv += ["--curriculum.replay-prob", "0.5", "learner:recurrent"]
    for field in ("num_envs", "num_steps", "total_timesteps", "hidden_sizes", "update_epochs"):
        argv += [f"--learner.{field.replace('_', '-')}", str(getattr(LEARNER, field)).strip("(,)")]
    argv += ["--learner.num-eval-episodes", "1", "--learner.gru-size", "8"]
    plots, plot = [], ued_experiment.plot_learning_curves

    def recording(curves, path, **kwargs):
        plots.append((Path(path).name, curves, kwargs))
        return plot(curves, path, **kwargs)

    monkeypatch.setattr(ued_experiment, "plot_learning_curves", recording)
    assert ued_experiment.main(argv) == 0
    (run_dir,) = tmp_path.iterdir()
    ((_, curves, labels),) = [p for p in plots if p[0] == "heldout_curve.png"]
    assert labels["ylabel"] == "held-out solve rate" and "solve rate" in labels["title"]
    assert run_dir.name.startswith("ued-robust_plr-Maze-13x13-"), run_dir.name
    for name in ("config.json", "metrics.npz", "learning_curve.png", "heldout_curve.png"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "heldout_levels.png").exists() and (run_dir / "top_levels.png").exists()
    # A picture of the buffer per checkpoint (every update here), the last one among them.
    assert (run_dir / "teacher" / "top_levels_000003.png").exists()
    cvar = json.loads((run_dir / "cvar.json").read_text())  # SFL's protocol, 8 fresh levels
    assert cvar["num_levels"] == 8 and cvar["unsolvable_levels"] == 0
    means = [cvar["cvar"][a]["mean"] for a in ("1%", "10%", "50%", "100%")]
    assert all(len(cvar["cvar"][a]["per_seed"]) == 1 for a in cvar["cvar"])
    assert all(0.0 <= m <= 1.0 for m in means)  # not monotone: chosen and scored apart
    summary = json.loads((run_dir / "eval.json").read_text())
    m = np.load(run_dir / "metrics.npz")
    # eval.json evaluates the final state on the same fixed keys as the last held-out metric.
    levels = summary["levels"]
    assert len(levels) == 8
    assert summary["mean_solve_rate"] == pytest.approx(
        np.mean([level["solve_rate"] for level in levels.values()])
    )
    assert summary["mean_solve_rate"] == pytest.approx(m["heldout_solve_rate"][0, -1])
    np.testing.assert_array_equal(curves["robust_plr"][1], m["heldout_solve_rate"])
    # Robust PLR only evaluates new levels: gradient updates come from replay steps alone.
    assert m["new_steps"].sum() > 0
    assert (
        m["grad_updates"][0, -1] == m["replay_steps"].sum() < m["total_env_steps"][0, -1] / 256 / 2
    )

    # Resumed as `--resume` does (`rljax.experiment.run_experiment`): the state restored onto
    # the CLI's mesh of runs and trained by `sweep_batch`. (`rljax.run` on unplaced arrays
    # compiles a program without the mesh, whose numerics XLA need not keep to the last bit:
    # with the suite's FAST_COMPILE preset they differed in 12 of the state's 63 leaves.)
    algo = make_algorithm(TINY)
    keys, hparams = rljax.seed_keys([0]), rljax.stack_hparams([algo.hparams()])
    directory = run_dir / "checkpoints"
    stored = json.loads((directory / "fingerprint.json").read_text())
    mesh = even_mesh(1)
    with Checkpointer(directory, stored) as checkpointer:
        assert checkpointer.all_steps() == [1, 2, 3] and algo.num_updates == 3
        template = state_template(algo, keys, hparams, mesh)
        _, after_one, _ = checkpointer.restore(template, step=1)
        _, final, _ = checkpointer.restore(template, step=3)
    resumed = sweep_batch(
        algo, keys, hparams, mesh, chunk_size=1, progress=False, state=after_one, updates_done=1
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


# --- composition: any learner under any curriculum, a curriculum from outside the library ----


def test_ued_trains_recurrent_ppo_with_a_learned_drift_at_nonzero_meta_parameters():
    """The loop drives recurrent PPO with the `lpo` drift through the learner interface; its
    meta-parameters are traced leaves of the run's hparams, and non-zero weights change what
    it learns (zero weights are PPO's clip drift; with a zero hidden layer `w_out` is inert).
    Two epochs: in the first the ratio is 1, where the drift is zero with zero gradient (the
    outer ReLU at 0), so one epoch could not tell the meta-parameters apart."""
    config = TINY.replace(learner=LEARNER.replace(drift="lpo", learning_rate=3e-3, update_epochs=2))
    algo = make_algorithm(config)
    hp = algo.hparams()
    drift = hp.learner.drift_params
    off = hp.replace(
        learner=hp.learner.replace(
            drift_params=drift.replace(
                w_hidden=jnp.full_like(drift.w_hidden, 0.5), w_out=jnp.ones_like(drift.w_out)
            )
        )
    )
    run = jax.jit(lambda h: rljax.train(algo, jax.random.PRNGKey(0), h))
    (_, zero_metrics), (_, off_metrics) = run(hp), run(off)
    assert np.isfinite(np.asarray(off_metrics.policy_loss)).all()
    assert np.asarray(off_metrics.grad_updates)[-1] > 0
    assert not np.allclose(
        np.asarray(off_metrics.policy_loss), np.asarray(zero_metrics.policy_loss)
    )
    assert run._cache_size() == 1  # another meta-parameter value did not recompile


def test_ued_trains_feedforward_ppo_with_observation_normalisation():
    """Feed-forward PPO with running observation statistics under DR: the statistics carry
    across the resets onto new levels (their count grows with every step) and the held-out
    evaluation runs with them frozen."""
    learner = FF_LEARNER.replace(normalize_observations=True)
    config = TINY.replace(curriculum=DRConfig(), learner=learner)
    algo = make_algorithm(config)
    state, metrics = jax.jit(lambda k: rljax.train(algo, k, algo.hparams()))(jax.random.PRNGKey(0))
    stats = state.learner.rollout.env_state.stats
    steps_seen = algo.num_updates * config.steps_per_eval * (learner.num_steps + 1)
    assert float(stats.count) > steps_seen * learner.num_envs * 0.99
    assert np.isfinite(np.asarray(metrics.heldout_return)).all()
    assert np.asarray(metrics.grad_updates)[-1] == algo.num_updates * config.steps_per_eval


class FixedLevels:
    """A curriculum written outside the library, as one class: uniform sampling over a fixed
    list of levels, trained on every step."""

    name = "fixed_levels"

    def __init__(self, levels, num_levels):
        from rljax.task_space import stack_tasks

        self.levels, self.num_levels = stack_tasks(levels), num_levels
        self.count = len(levels)

    def hparams(self):
        return None

    def init(self, key, example_task, hparams=None):
        return jnp.zeros(self.count, jnp.int32)  # how often each level was proposed

    def propose(self, state, key):
        from rljax.curricula.curriculum import NEW, ProposeInfo

        picks = jax.random.randint(key, (self.num_levels,), 0, self.count)
        tasks = jax.tree.map(lambda x: x[picks], self.levels)
        n = self.num_levels
        info = ProposeInfo(
            step_type=jnp.int32(NEW),
            train=jnp.bool_(True),
            indices=picks,
            max_returns=jnp.full(n, -jnp.inf, jnp.float32),
        )
        return state.at[picks].add(1), tasks, info

    def observe(self, state, tasks, info, score, max_returns):
        return state

    def stats(self, state):
        from rljax.curricula.curriculum import CurriculumStats

        return CurriculumStats(jnp.float32(0.0), jnp.float32(jnp.nan))


def test_a_curriculum_defined_in_a_test_runs_in_the_loop():
    import envs.maze as maze

    named = maze.named_levels()
    levels = [named["Labyrinth"], named["RljaxFourRooms"], named["SixteenRooms"]]
    curriculum = FixedLevels(levels, LEARNER.num_envs)
    algo = UED(TINY, curriculum=curriculum)
    state, metrics = jax.jit(lambda k: rljax.train(algo, k, algo.hparams()))(jax.random.PRNGKey(0))
    proposed = np.asarray(state.curriculum)
    assert proposed.sum() == algo.num_updates * TINY.steps_per_eval * LEARNER.num_envs
    assert (proposed > 0).sum() >= 2
    assert np.asarray(metrics.grad_updates)[-1] == algo.num_updates * TINY.steps_per_eval


@pytest.mark.slow
def test_plr_trains_ppo_on_cartpole_pole_lengths_to_solve_held_out_tasks():
    """PLR over CartPole's physical constants (`envs/classic`), no maze code: each curriculum
    step trains PPO on 4 envs with 4 different pole lengths in one program, and the buffer
    holds continuous task vectors. The learning check a broken curriculum loop or learner
    fails: 3 seeds, 98,304 env steps each; on the 14 held-out tasks (the default constants,
    the box's corners and centre, each constant at its ends) the untrained agent solves none
    (return >= 475) and the trained one, averaged over the last 8 evaluations of 2 episodes
    per task, more than half (measured per seed: 0.67, 0.49, 0.67; asserted: mean > 0.4, each
    > 0.25). Slow: notebooks/curricula.ipynb runs the same check in CI
    (tests/test_notebook.py)."""
    from envs.classic.task_space import ClassicConfig

    space = ClassicConfig(env="CartPole-v1", ranges=(("length", 0.3, 0.9),))
    learner = rljax.PPOConfig(
        env="CartPole-v1-params",
        num_envs=4,
        num_steps=128,
        total_timesteps=4 * 128 * 4 * 48,
        num_eval_episodes=2,
    )
    config = UEDConfig(
        curriculum=PLRConfig(capacity=16, replay_prob=0.5),
        learner=learner,
        task_space=space,
        steps_per_eval=4,
        partial_episodes=True,  # 128-step rollouts: an episode that lasts 500 steps is unscored
    )
    algo = make_algorithm(config)
    keys = rljax.seed_keys([0, 1, 2])
    hparams = rljax.stack_hparams([algo.hparams()] * 3)
    untrained = jax.jit(jax.vmap(lambda k, h: algo.evaluate(algo.init(k, h))))(keys, hparams)
    state, metrics = jax.jit(jax.vmap(lambda k, h: rljax.train(algo, k, h)))(keys, hparams)
    m = jax.tree.map(np.asarray, metrics)
    assert algo.level_results(untrained).solve_rate.max() == 0.0
    trained = m.heldout_solve_rate[:, -8:].mean(axis=1)
    report("held-out solve rate, last 8 evaluations, per seed", trained)
    assert trained.mean() > 0.4 and trained.min() > 0.25, trained
    lengths = np.asarray(state.curriculum.buffer.levels)[..., 3]  # CartPole's task vector
    filled = np.asarray(state.curriculum.buffer.filled)
    assert (filled.sum(axis=1) >= 8).all()
    for seed_lengths, seed_filled in zip(lengths, filled, strict=True):
        assert np.ptp(seed_lengths[seed_filled]) > 0.2
    assert ((lengths[filled] >= 0.3) & (lengths[filled] <= 0.9)).all()
    assert (m.replay_steps.sum(axis=1) > 0).all() and (m.new_steps.sum(axis=1) > 0).all()
