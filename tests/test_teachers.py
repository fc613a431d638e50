"""Teachers over continuous task spaces: the diagonal GMM fit, ALP-GMM's learning progress,
proposals and fit schedule, the learnability toy, and ALP-GMM against uniform sampling on it
(Portelas et al. 2019)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from envs.toy import LearnabilityToy, ToyConfig, run_teacher
from rljax.config import ConfigError
from rljax.curricula import (
    NEW,
    REPLAY,
    ALPGMMConfig,
    DRConfig,
    SFLConfig,
    gmm,
    make_curriculum,
    scores,
)
from rljax.curricula.alp_gmm import absolute_learning_progress
from rljax.curricula.scores import LevelScore
from tests.agent_contract import report

# --- the GMM fit -------------------------------------------------------------------------------


def three_clusters() -> np.ndarray:
    rng = np.random.default_rng(0)
    parts = [
        rng.normal([0.0, 0.0, 0.0], [0.1, 0.2, 0.05], (80, 3)),
        rng.normal([1.0, 2.0, 0.5], [0.3, 0.1, 0.1], (90, 3)),
        rng.normal([-1.0, 1.0, 0.0], [0.1, 0.1, 0.3], (80, 3)),
    ]
    return np.concatenate(parts).astype(np.float32)


def test_gmm_fit_matches_scikit_learn_and_aic_picks_the_same_k():
    """On fixed data with three clusters, `fit_best` over k = 2, 3 (one EM start each, as the
    reference) reaches scikit-learn's `GaussianMixture(covariance_type="diag")` AIC for each
    k, keeps k = 3 (the lowest AIC, as scikit-learn's), and its mixture has scikit-learn's
    mean log-likelihood."""
    sklearn = pytest.importorskip("sklearn.mixture")
    x = three_clusters()
    best = jax.jit(lambda key, x: gmm.fit_best(key, x, (2, 3)))(jax.random.PRNGKey(0), x)
    refs = [
        sklearn.GaussianMixture(k, covariance_type="diag", random_state=0).fit(x) for k in (2, 3)
    ]
    np.testing.assert_allclose(best.aics, [r.aic(x) for r in refs], rtol=1e-4)
    assert [gmm.num_parameters(k, 3) for k in (2, 3)] == [r._n_parameters() for r in refs]
    assert int(best.num_components) == 3 and int(best.mixture.active.sum()) == 3
    ll = float(gmm.log_likelihood(best.mixture, jnp.asarray(x)).mean())
    np.testing.assert_allclose(ll, refs[1].score(x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(best.mixture.weights.sum()), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        float(gmm.aic(best.mixture, jnp.asarray(x), 3)), best.aics[1], rtol=1e-5
    )


def test_gmm_fit_padded_to_more_components_equals_the_unpadded_fit():
    """`fit` with `num_components` (how `fit_best` runs every k as one compiled EM) keeps the
    padding at weight 0 through EM and gives the k-component fit, to float rounding."""
    x = jnp.asarray(three_clusters())
    key = jax.random.PRNGKey(1)
    plain = jax.jit(lambda key, x: gmm.fit(key, x, 2))(key, x)
    padded = jax.jit(lambda key, x, k: gmm.fit(key, x, k, num_components=5))(key, x, 2)
    assert np.asarray(padded.weights[2:]).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(padded.weights[:2], plain.weights, rtol=1e-5)
    np.testing.assert_allclose(padded.means[:2], plain.means, atol=1e-5)
    np.testing.assert_allclose(padded.variances[:2], plain.variances, rtol=1e-4)


# --- ALP-GMM -----------------------------------------------------------------------------------

FEW_K = ALPGMMConfig(max_components=3)
"""k = 2, 3 only: every k pads its EM to the largest k, and these tests are not about AIC."""


def reference_alps(tasks: np.ndarray, returns: np.ndarray) -> list[float]:
    """ALP as the reference computes it, one episode at a time, in plain Python: 0 while the
    history holds 5 tasks or fewer, else |r - r(nearest earlier task)| (Euclidean)."""
    alps, seen = [], []
    for task, r in zip(tasks.tolist(), returns.tolist(), strict=True):
        if len(seen) > 5:
            dists = [sum((a - b) ** 2 for a, b in zip(task, t, strict=True)) for t, _ in seen]
            alps.append(abs(r - seen[dists.index(min(dists))][1]))
        else:
            alps.append(0.0)
        seen.append((task, r))
    return alps


def drive(curriculum, tasks, returns, valid=None):
    state = curriculum.init(jax.random.PRNGKey(0), tasks[0])
    n = curriculum.num_levels
    observe = jax.jit(curriculum.observe)
    for i in range(0, len(tasks), n):
        ok = np.ones(n, bool) if valid is None else valid[i : i + n]
        score = LevelScore(jnp.asarray(returns[i : i + n]), jnp.asarray(ok))
        state = observe(state, jnp.asarray(tasks[i : i + n]), None, score, jnp.zeros(n))
    return state


def test_alp_matches_a_plain_python_reference_on_a_recorded_history():
    """The ALP column of ALP-GMM's window, driven one episode per proposal on the unit box,
    equals the plain-Python reference on a recorded history of 40 (task, return) pairs."""
    rng = np.random.default_rng(3)
    tasks = rng.uniform(size=(40, 3)).astype(np.float32)
    returns = rng.uniform(size=40).astype(np.float32)
    toy = LearnabilityToy(ToyConfig(dims=2, useless_dims=1))
    curriculum = make_curriculum(FEW_K.replace(fit_rate=40, history_size=64), toy, 1)
    state = drive(curriculum, tasks, returns)
    np.testing.assert_allclose(
        np.asarray(state.window)[:, -1], reference_alps(tasks, returns), atol=1e-6
    )
    np.testing.assert_allclose(np.asarray(state.window)[:, :3], tasks)
    assert int(state.episodes) == 40 and int(state.num_components) >= 2  # fitted at 40


def test_alp_of_a_batch_uses_the_history_before_it():
    """Hand-worked: history of 6 tasks on a line with returns 0.1..0.6; new tasks at 0.02 and
    0.49 with returns 0.9 and 0.5 -> nearest 0.0 (0.1) and 0.5 (0.6): ALP 0.8 and 0.1."""
    history = jnp.asarray([[0.0], [0.1], [0.2], [0.3], [0.4], [0.5], [0.0], [0.0]])
    returns = jnp.asarray([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.0, 0.0])
    alp = absolute_learning_progress(
        history, returns, jnp.int32(6), jnp.asarray([[0.02], [0.49]]), jnp.asarray([0.9, 0.5])
    )
    np.testing.assert_allclose(alp, [0.8, 0.1], atol=1e-6)
    short = absolute_learning_progress(
        history, returns, jnp.int32(5), jnp.asarray([[0.02]]), jnp.asarray([0.9])
    )
    assert float(short[0]) == 0.0


def test_fit_schedule_proposals_and_invalid_returns():
    """No fit before `fit_rate` episodes (every task uniform), a fit exactly when the count
    crosses it; tasks without a finished episode are left out of the count; after the fit,
    GMM tasks come from the component with the higher mean ALP."""
    toy = LearnabilityToy()
    curriculum = make_curriculum(FEW_K.replace(fit_rate=20, random_task_ratio=0.0), toy, 4)
    rng = np.random.default_rng(0)
    # Tasks near (0.2, 0.2) with returns that jump (high ALP), near (0.8, 0.8) constant.
    tasks = np.where(rng.uniform(size=(24, 1)) < 0.5, 0.2, 0.8) + rng.normal(0, 0.02, (24, 2))
    tasks = np.clip(tasks, 0, 1).astype(np.float32)
    returns = np.where(tasks[:, 0] < 0.5, rng.choice([0.0, 1.0], 24), 0.5).astype(np.float32)
    valid = np.ones(24, bool)
    valid[[1, 2]] = False  # 22 episodes with a return
    state = drive(curriculum, tasks[:16], returns[:16], valid[:16])
    assert int(state.episodes) == 14 and int(state.num_components) == 0
    _, proposed, info = curriculum.propose(state, jax.random.PRNGKey(1))
    assert bool(info.train) and proposed.shape == (4, 2)
    state = drive(curriculum, tasks, returns, valid)
    assert int(state.episodes) == 22 and int(state.num_components) >= 2
    draw = jax.jit(jax.vmap(lambda s, k: curriculum.propose(s, k)[1], in_axes=(None, 0)))
    keys = jax.random.split(jax.random.PRNGKey(2), 64)
    proposed = np.asarray(draw(state, keys)).reshape(-1, 2)
    assert (proposed[:, 0] < 0.5).mean() > 0.9, proposed[:, 0]
    state = state.replace(hparams=ALPGMMConfig(random_task_ratio=1.0).hparams())
    proposed = np.asarray(draw(state, keys)).reshape(-1, 2)
    assert 0.3 < (proposed[:, 0] < 0.5).mean() < 0.7


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ALPGMMConfig(fit_rate=5), "fit_rate"),
        (lambda: ALPGMMConfig(max_components=1), "max_components"),
        (lambda: ALPGMMConfig(random_task_ratio=1.5), "random_task_ratio"),
        (lambda: ALPGMMConfig(history_size=100), "history_size"),
        (lambda: make_curriculum(ALPGMMConfig(fit_rate=10), LearnabilityToy(), 16), "fit_rate"),
    ],
)
def test_bad_alp_gmm_config_is_a_clear_error(build, field):
    with pytest.raises(ConfigError, match=field):
        build()


def test_alp_gmm_needs_a_box():
    from envs.maze.task_space import MazeConfig, MazeTaskSpace

    with pytest.raises(ConfigError, match="box"):
        make_curriculum(ALPGMMConfig(), MazeTaskSpace(MazeConfig()), 4)


# --- success-rate scores and SFL --------------------------------------------------------------


def test_success_rate_and_learnability_scores_by_hand():
    """Rewards and dones of 3 envs over 6 steps; success = return >= 2. Env 0: episodes of
    return 2 (t=0..1), 1 (t=2..3), 3 (t=4..5): p = 2/3, p(1-p) = 2/9. Env 1: one episode of
    return 1: p = 0. Env 2: nothing finished: invalid."""
    from rljax.curricula import SCORES
    from rljax.learner import ScoreInputs

    reward = jnp.asarray([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1], [1, 1, 1], [2, 0, 1.0]])
    done = jnp.asarray([[0, 0, 0], [1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    successes = scores.episode_successes(reward, done, lambda r: r >= 2)
    assert np.asarray(successes).sum(axis=0).tolist() == [2, 0, 0]
    inputs = ScoreInputs(reward, done, None, None, successes)
    rate = SCORES["success_rate"](inputs, None)
    np.testing.assert_allclose(rate.score, [2 / 3, 0.0, np.nan], atol=1e-6)
    assert rate.valid.tolist() == [True, True, False]
    learn = SCORES["learnability"](inputs, None)
    np.testing.assert_allclose(learn.score, [2 / 9, 0.0, np.nan], atol=1e-6)
    with pytest.raises(ValueError, match="success"):
        SCORES["learnability"](inputs._replace(success=None), None)


def test_sfl_cycle_keeps_the_most_learnable_candidates_and_mixes_batches():
    """4 envs, 2 rollouts per candidate, 4 candidates, 2 kept, 3 training steps a cycle:
    steps go NEW, NEW (no gradient), then REPLAY x 3 (gradient), then a new cycle. Success
    rates per env (candidate pairs) 1/1, 0.5/0.5 in the first selection step and 0/0,
    1/0 in the second give p = 1, 0.5, 0, 0.5 and p(1-p) = 0, 0.25, 0, 0.25: the kept tasks
    are the 2nd and 4th candidates; a training batch has 2 kept tasks and 2 fresh ones; the
    next cycle's selection starts from an empty kept set."""
    toy = LearnabilityToy()
    config = SFLConfig(candidates=4, rollouts_per_level=2, kept=2, refresh_every=3)
    curriculum = make_curriculum(config, toy, 4)
    assert curriculum.selection_steps == 2 and curriculum.cycle == 5
    state = curriculum.init(jax.random.PRNGKey(0), toy.sample(jax.random.PRNGKey(0)))
    propose, observe = jax.jit(curriculum.propose), jax.jit(curriculum.observe)
    rates = [[1.0, 1.0, 0.5, 0.5], [0.0, 0.0, 1.0, 0.0]]
    seen, kinds, trains = [], [], []
    for step in range(6):
        state, tasks, info = propose(state, jax.random.PRNGKey(step))
        kinds.append(int(info.step_type))
        trains.append(bool(info.train))
        if step < 2:
            assert np.array_equal(tasks[0], tasks[1]) and np.array_equal(tasks[2], tasks[3])
            seen.append(np.asarray(tasks[::2]))
            score = LevelScore(jnp.asarray(rates[step]), jnp.ones(4, bool))
        else:
            score = LevelScore(jnp.zeros(4), jnp.ones(4, bool))
        if 2 <= step < 5:
            kept = np.asarray(state.kept)
            assert (np.asarray(info.indices)[:2] >= 0).all() and (info.indices[2:] == -1).all()
            for task in np.asarray(tasks)[:2]:
                assert any(np.array_equal(task, k) for k in kept)
        state = observe(state, tasks, info, score, jnp.zeros(4))
        if step == 1:
            np.testing.assert_allclose(np.sort(np.asarray(state.learnability)), [0.25, 0.25])
            expected = np.stack([seen[0][1], seen[1][1]])
            np.testing.assert_array_equal(np.sort(np.asarray(state.kept), 0), np.sort(expected, 0))
    assert kinds == [NEW, NEW, REPLAY, REPLAY, REPLAY, NEW]
    assert trains == [False, False, True, True, True, False]
    # The new cycle started from an empty kept set: its candidates (p = 0) replaced the 0.25s.
    np.testing.assert_array_equal(np.asarray(state.learnability), [0.0, 0.0])


def test_sfl_success_band_keeps_only_candidates_inside_it():
    """One selection step of 4 candidates with success rates 0.9, 0.5, 0.2, 0.05: with the
    band [0.1, 0.6] only the 2nd and 3rd are kept (learnabilities 0.25 and 0.16) and the other
    slots stay empty, though 0.9's p(1-p) = 0.09 would otherwise fill one; a bad band is
    refused."""
    toy = LearnabilityToy()
    config = SFLConfig(candidates=4, rollouts_per_level=1, kept=3, success_band=(0.1, 0.6))
    curriculum = make_curriculum(config, toy, 4)
    state = curriculum.init(jax.random.PRNGKey(0), toy.sample(jax.random.PRNGKey(0)))
    state, tasks, info = curriculum.propose(state, jax.random.PRNGKey(1))
    score = LevelScore(jnp.asarray([0.9, 0.5, 0.2, 0.05]), jnp.ones(4, bool))
    state = curriculum.observe(state, tasks, info, score, jnp.zeros(4))
    np.testing.assert_allclose(np.sort(np.asarray(state.learnability)), [-np.inf, 0.16, 0.25])
    kept = np.asarray(state.kept)[np.isfinite(np.asarray(state.learnability))]
    np.testing.assert_array_equal(np.sort(kept, 0), np.sort(np.asarray(tasks)[1:3], 0))
    with pytest.raises(ConfigError, match="success_band"):
        SFLConfig(success_band=(0.8, 0.2))


# --- the learnability toy ----------------------------------------------------------------------


def test_toy_unlocks_cells_from_mastered_lower_neighbours():
    """Hand-worked, 10x10 cells: only the origin cell learns at first; (1, 0), (0, 1) and the
    diagonal (1, 1) unlock once (0, 0) reaches 75; (2, 0) does not; rewards are competence /
    100 after the update, capped at 100; extra coordinates are ignored; 1.0 is in the last
    cell; a cell is mastered above 75."""
    toy = LearnabilityToy(ToyConfig(useless_dims=2))
    state = toy.init()
    episode = jax.jit(toy.episode)

    def at(x, y):
        return jnp.asarray([x, y, 0.9, 0.1], jnp.float32)

    state, r = episode(state, at(0.15, 0.05))
    assert float(r) == 0.0  # (1, 0) is locked
    for _ in range(75):
        state, r = episode(state, at(0.05, 0.05))
    assert float(r) == 0.75 and float(toy.mastered(state)) == 0.0
    for task in (at(0.15, 0.05), at(0.05, 0.15), at(0.15, 0.15)):
        state, r = episode(state, task)
        assert float(r) == pytest.approx(0.01)
    state, r = episode(state, at(0.25, 0.05))
    assert float(r) == 0.0
    state, _ = episode(state, at(0.05, 0.05))
    assert float(toy.mastered(state)) == pytest.approx(0.01)  # 76 > 75
    for _ in range(30):
        state, r = episode(state, at(0.0, 0.0))
    assert float(r) == 1.0
    assert np.asarray(toy.cell(jnp.asarray([1.0, 0.0, 0.0, 0.0]))).tolist() == [9, 0]


@pytest.mark.parametrize("useless_dims", [0, pytest.param(8, marks=pytest.mark.slow)])
def test_alp_gmm_masters_more_of_the_toy_than_uniform_sampling(useless_dims):
    """Portelas et al. 2019, sec. 5.1, at a reduced budget: 8,000 episodes, 2 seeds, one task
    per proposal. Uniform sampling masters about 1% of the cells; ALP-GMM finds the frontier
    (measured 10% and 11% without useless dimensions, 23% and 21% with 8, as the reference
    code also does better with them: 16% and 25% at 10,000 episodes). Asserted: ALP-GMM's
    mean > 3x uniform's and > 4%.
    `benchmarks/teachers.py` runs the paper's 20,000 episodes over 3+ seeds."""
    toy = LearnabilityToy(ToyConfig(useless_dims=useless_dims))
    results = {}
    for name, config in (("uniform", DRConfig()), ("alp_gmm", ALPGMMConfig())):
        curriculum = make_curriculum(config, toy, 1)
        run = jax.jit(
            lambda keys, c=curriculum: jax.lax.map(
                lambda k: run_teacher(c, toy, k, 8000, 1000).mastered, keys
            )
        )
        results[name] = np.asarray(run(jax.random.split(jax.random.PRNGKey(0), 2)))[:, -1]
    for name, mastered in results.items():
        report(f"{name}: fraction of cells mastered per seed", mastered)
    assert results["alp_gmm"].mean() > 3 * results["uniform"].mean() + 1e-9
    assert results["alp_gmm"].mean() > 0.04


# --- ALP-GMM in the UED loop -------------------------------------------------------------------


def cartpole_ued(total_timesteps: int, curriculum=None):
    import rljax
    from envs.classic.task_space import ClassicConfig
    from rljax.curricula.runner import UEDConfig, make_algorithm

    learner = rljax.PPOConfig(
        env="CartPole-v1-params",
        num_envs=4,
        num_steps=500,
        total_timesteps=total_timesteps,
        hidden_sizes=(8,),
        update_epochs=1,
        num_eval_episodes=1,
    )
    config = UEDConfig(
        curriculum=FEW_K.replace(fit_rate=8) if curriculum is None else curriculum,
        learner=learner,
        task_space=ClassicConfig(env="CartPole-v1", ranges=(("length", 0.1, 2.0),)),
        steps_per_eval=2,
    )
    return make_algorithm(config)


SFL_TINY = SFLConfig(candidates=4, rollouts_per_level=2, kept=2, refresh_every=2)


@pytest.mark.parametrize("teacher", ["alp_gmm", "sfl", "source"])
def test_teacher_runs_in_the_ued_loop_compiles_once_and_resumes_bitwise(
    teacher, count_compilations, tmp_path
):
    """A teacher proposes CartPole constants to PPO through `rljax.run`: one chunk program
    (the contract's 3 compilations) and a run resumed from its state after 2 updates ends
    bitwise equal to the uninterrupted one. ALP-GMM fits inside the program (8 episodes a
    fit, 8 a curriculum step) and reads the `return` score whatever the loop's; SFL reads
    success rates, alternates 2 selection steps without gradient with 2 training steps, and
    its selection rollouts count as env steps; MBTL's source-task curriculum trains every
    step on its one task (pole length 1.5, a traced leaf of the hyperparameters)."""

    from rljax.experiment import enable_compilation_cache

    previous = jax.config.jax_compilation_cache_dir
    enable_compilation_cache(str(tmp_path))  # the resumed runs load the chunk compiled here
    try:
        check_teacher_run(teacher, count_compilations)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)


def check_teacher_run(teacher, count_compilations):
    import rljax
    from envs.classic.task_space import PARAMETERS, default_task
    from rljax.curricula.source import SourceTaskConfig
    from tests.agent_contract import assert_run_compiles_one_chunk_program, check_resumes_bitwise

    source = default_task("CartPole-v1").tolist()
    source[PARAMETERS["CartPole-v1"].index("length")] = 1.5
    curricula = {"alp_gmm": None, "sfl": SFL_TINY, "source": SourceTaskConfig(task=tuple(source))}
    algo = cartpole_ued(4 * 500 * 2 * 5, curricula[teacher])
    state = assert_run_compiles_one_chunk_program(algo, algo.hparams(), count_compilations)
    steps = np.asarray(state.counters.env_steps)
    assert (steps == 5 * 2 * 4 * 500).all()
    if teacher == "source":
        assert (np.asarray(state.curriculum.task) == np.float32(source)).all()  # every run
        updates = algo.learner.updates_per_learn
        assert (np.asarray(state.counters.grad_updates) == 10 * updates).all()
    elif teacher == "alp_gmm":
        assert algo.score is rljax.curricula.SCORES["return"]
        assert (np.asarray(state.curriculum.episodes) == 5 * 2 * 4).all()
        assert (np.asarray(state.curriculum.num_components) >= 2).all()
    else:
        assert algo.score is rljax.curricula.SCORES["success_rate"]
        # 10 steps: S S T T S S T T S S (S: selection, T: training): 4 gradient steps.
        updates = algo.learner.updates_per_learn
        assert (np.asarray(state.counters.grad_updates) == 4 * updates).all()
        assert (np.asarray(state.curriculum.step) == 10).all()
    check_resumes_bitwise(algo, algo.hparams(), state)


# --- SFL's CVaR evaluation protocol ------------------------------------------------------------


def test_cvar_ranks_by_the_selection_seed_and_scores_with_the_other():
    """Hand-worked, 10 levels: the worst 10% by the selection rates is level 3 (0.0), scored
    0.5 under the other seed; the worst 50% are levels 3, 0, 7, 1, 5 (selection 0.0, 0.1, 0.2,
    0.3, 0.4) with scoring mean (0.5 + 0 + 1 + 0 + 1) / 5 = 0.5; 100% is the plain mean."""
    from rljax.curricula.cvar import cvar_from_rates

    selection = jnp.asarray([0.1, 0.3, 0.9, 0.0, 0.8, 0.4, 0.7, 0.2, 0.6, 0.5])
    scoring = jnp.asarray([0.0, 0.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    cvar = cvar_from_rates(selection, scoring, (0.01, 0.1, 0.5, 1.0))
    np.testing.assert_allclose(cvar, [0.5, 0.5, 0.5, 0.65], atol=1e-6)


def test_cvar_protocol_on_mazes_draws_solvable_levels_and_uses_two_seeds():
    """On the maze task space with an untrained recurrent policy: 10 levels (all solvable,
    drawn from 20), two independent rollout seeds (the per-level rates differ somewhere),
    CVaR at 1% the scoring rate of the worst selected level and at 100% the scoring mean."""
    from envs.maze.bfs import is_solvable
    from rljax.curricula import DRConfig
    from rljax.curricula.cvar import cvar_evaluation, sample_levels
    from rljax.curricula.runner import UED, UEDConfig, maze_learner

    learner = maze_learner(num_envs=2, num_steps=256, total_timesteps=4096, hidden_sizes=(8,))
    algo = UED(UEDConfig(curriculum=DRConfig(), learner=learner.replace(gru_size=8)))
    tasks, unsolvable = sample_levels(algo.task_space, jax.random.PRNGKey(0), 10)
    assert int(unsolvable) == 0 and bool(jax.vmap(is_solvable)(tasks).all())
    state = jax.jit(algo.init)(jax.random.PRNGKey(1), algo.hparams())
    result = jax.jit(
        lambda s, k: cvar_evaluation(algo, s.learner, k, num_levels=10, episodes=2, batch=5)
    )(state, jax.random.PRNGKey(0))
    cvar = np.asarray(result.cvar)
    assert result.selection.shape == result.scoring.shape == (10,)
    assert not np.array_equal(result.selection, result.scoring)
    # The worst 1% of 10 levels is the first level with the lowest selection rate, scored
    # under the other seed; 100% is the scoring mean.
    worst = int(np.argmin(np.asarray(result.selection)))
    assert cvar[0] == pytest.approx(float(result.scoring[worst]))
    assert cvar[-1] == pytest.approx(float(result.scoring.mean()))


def test_proposal_history_is_oldest_first_and_drawn_per_quarter(tmp_path, monkeypatch):
    """ALP-GMM's ring of tasks comes back oldest first after wrapping; the run folder's
    picture of proposals has a panel per quarter of the episodes over the box's widest
    parameters; the CLI parses `curriculum:alp_gmm task-space:classic` and its fields."""
    import tyro

    from experiments import ued as ued_experiment

    toy = LearnabilityToy()
    curriculum = make_curriculum(FEW_K.replace(fit_rate=10, history_size=10), toy, 2)
    tasks = np.stack([np.linspace(0, 1, 14), np.zeros(14)], axis=1).astype(np.float32)
    state = drive(curriculum, tasks, np.zeros(14, np.float32))
    np.testing.assert_allclose(curriculum.proposal_history(state), tasks[4:], atol=1e-6)

    titles = []
    monkeypatch.setattr(
        "matplotlib.axes.Axes.set_title", lambda ax, t, **k: titles.append(t), raising=True
    )
    path = ued_experiment.draw_proposals(tasks, toy.box, tmp_path, seed=0)
    assert path.exists() and titles == [
        "episodes 1-4",
        "episodes 5-8",
        "episodes 9-11",
        "episodes 12-14",
    ]
    args = ["curriculum:alp_gmm", "--curriculum.fit-rate", "50", "task-space:classic"]
    args += ["--task-space.ranges", "masscart", "0.5", "30"]
    config = tyro.cli(ued_experiment.UEDCLIConfig, args=args)
    assert config.curriculum == ALPGMMConfig(fit_rate=50)
    assert config.task_space.ranges == (("masscart", 0.5, 30.0),)
