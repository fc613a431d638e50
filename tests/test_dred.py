"""DRED (Garcin et al. 2024): the level VAE's pieces against hand computations, the maze's
level code and its repair, DRED's replay distribution, grounded scores and eviction by hand,
its step sequence, and VAE-DRED in the UED loop (compiles once, resumes bitwise, no
LAPACK)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.maze import is_solvable, is_well_formed, level_to_ascii
from envs.maze.codec import MazeCodec
from envs.maze.structured import structured_dataset
from envs.maze.task_space import MazeConfig, MazeTaskSpace
from rljax.config import ConfigError
from rljax.curricula import MUTATE, NEW, REPLAY, DREDConfig, make_curriculum
from rljax.curricula.level_vae import (
    CodeBlock,
    VAEConfig,
    interpolate_pairs,
    make_vae,
    reconstruction_nll,
    slerp,
    train_vae,
)
from rljax.curricula.scores import LevelScore

CODEC = MazeCodec()
SMALL = MazeTaskSpace(MazeConfig(generator="dataset", dataset_size=6))


# --- the VAE's pieces ----------------------------------------------------------------------


def test_slerp_by_hand():
    """Orthogonal unit vectors: the midpoint is (1, 1) / sqrt 2 (on the circle, not the
    chord's (0.5, 0.5)); the ends are the inputs; parallel vectors fall back to lerp."""
    z0, z1 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    np.testing.assert_allclose(slerp(z0, z1, 0.5), [2**-0.5, 2**-0.5], atol=1e-6)
    np.testing.assert_allclose(slerp(z0, z1, 0.0), z0, atol=1e-6)
    np.testing.assert_allclose(slerp(z0, z1, 1.0), z1, atol=1e-6)
    # 60 degrees apart, t = 1/2: sin(30)/sin(60) * (z0 + z1) = (z0 + z1) / sqrt 3.
    z2 = jnp.array([0.5, 3**0.5 / 2])
    np.testing.assert_allclose(slerp(z0, z2, 0.5), (z0 + z2) / 3**0.5, atol=1e-6)
    np.testing.assert_allclose(slerp(z0, 2 * z0, 0.5), [1.5, 0.0], atol=1e-6)


def test_interpolate_pairs_pairs_i_with_the_mirror_and_includes_the_ends():
    """4 encodings -> pairs (0, 3) and (1, 2), 3 points each (t = 0, 1/2, 1); with a tiny
    std the ends are the encodings themselves."""
    mean = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0]])
    log_std = jnp.full((4, 2), -30.0)
    z = np.asarray(interpolate_pairs(jax.random.PRNGKey(0), mean, log_std, 3))
    assert z.shape == (6, 2)
    np.testing.assert_allclose(z[[0, 2, 3, 5]], mean[jnp.array([0, 3, 1, 2])], atol=1e-6)
    # 90 degrees: sin(45)/sin(90) * (z0 + z3).
    np.testing.assert_allclose(z[1], [2**-0.5, 3 * 2**-0.5], atol=1e-5)
    np.testing.assert_allclose(z[4], [0.0, 1.5], atol=1e-6)  # parallel: lerp


def test_reconstruction_nll_by_hand():
    """A Bernoulli block of 2 cells and a categorical of 3: -log sigmoid(2) - log(1 -
    sigmoid(0)) - log softmax([0, ln 2, 0])[1] = log(1 + e^-2) + log 2 + log(4 / 2)."""
    blocks = (CodeBlock("bernoulli", 2), CodeBlock("categorical", 3))
    logits = jnp.array([2.0, 0.0, 0.0, np.log(2.0), 0.0])
    x = jnp.array([1.0, 0.0, 0.0, 1.0, 0.0])
    expected = np.log1p(np.exp(-2.0)) + np.log(2.0) + np.log(2.0)
    assert float(reconstruction_nll(logits, x, blocks)) == pytest.approx(expected, rel=1e-5)


def test_the_vae_learns_the_dataset_and_generates_valid_structured_levels():
    """300 Adam steps on 48 dataset levels: the loss falls, the walls are reconstructed far
    better than the all-free guess, and levels decoded between pairs are well-formed and
    solvable, with a wall count inside the dataset's range."""
    data = structured_dataset(0, 48)
    codes = jax.vmap(CODEC.encode)(data)
    config = VAEConfig(train_steps=300, hidden_sizes=(128,), latent_size=16)
    fit = jax.jit(lambda key: train_vae(key, codes, CODEC.blocks, config))
    params, losses = fit(jax.random.PRNGKey(0))
    assert float(losses[-20:].mean()) < 0.6 * float(losses[:20].mean())
    vae = make_vae(config, CODEC.blocks)
    mean, log_std = vae.apply(params, codes, method="encode")
    latents = interpolate_pairs(jax.random.PRNGKey(1), mean[:8], log_std[:8], 4)
    levels = jax.vmap(CODEC.decode)(
        vae.apply(params, jnp.concatenate([mean, latents]), method="decode")
    )  # one decode program: the 48 reconstructions, then the 16 interpolants
    rebuilt, made = (
        jax.tree.map(lambda x, s=s: x[s], levels) for s in (slice(48), slice(48, None))
    )
    accuracy = float((rebuilt.walls == data.walls).mean())
    all_free = 1.0 - float(data.walls.mean())
    assert accuracy > 0.85 and accuracy > all_free + 0.15, (accuracy, all_free)
    valid = jax.vmap(lambda level: is_well_formed(level) & is_solvable(level))(made)
    assert bool(valid.all())
    walls, data_walls = made.walls.sum((1, 2)), data.walls.sum((1, 2))
    assert data_walls.min() - 10 <= walls.mean() <= data_walls.max() + 10


# --- the maze's level code ------------------------------------------------------------------


def test_codec_round_trips_dataset_levels():
    data = SMALL.dataset()
    codes = jax.vmap(CODEC.encode)(data)
    assert codes.shape == (6, 3 * 169 + 4)
    assert (codes[:, 169:].sum(-1) == 3).all()  # three one-hots
    back = jax.vmap(CODEC.decode)(jnp.where(codes > 0.5, 8.0, -8.0))
    for a, b in zip(jax.tree.leaves(data), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)


decode = jax.jit(CODEC.decode)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), wall_bias=st.floats(-3.0, 3.0))
def test_any_logits_decode_to_a_valid_solvable_level(seed, wall_bias):
    logits = jax.random.normal(jax.random.PRNGKey(seed), (3 * 169 + 4,))
    level = decode(logits.at[:169].add(wall_bias))
    assert bool(is_well_formed(level)) and bool(is_solvable(level)), level_to_ascii(level)


def test_a_walled_in_start_gets_its_neighbours_cleared():
    """Every cell a wall, agent logit highest at (6, 6) and goal logit at (0, 0): the agent
    stands at (6, 6), its four neighbours are cleared, the goal is the best reachable cell."""
    logits = jnp.full(3 * 169 + 4, -1.0).at[:169].set(5.0)
    logits = logits.at[169 + 6 * 13 + 6].set(3.0).at[2 * 169 + 0].set(3.0)
    logits = logits.at[2 * 169 + 7 * 13 + 6].set(2.0)  # the best cell it can reach: south
    level = decode(logits)
    assert level.agent_pos.tolist() == [6, 6] and level.goal_pos.tolist() == [7, 6]
    assert int(level.walls.sum()) == 169 - 5


# --- DRED's replay, scores and steps by hand ---------------------------------------------------


def small_dred(**changes):
    """EL-DRED over the 6 levels of SMALL (slots 0-5), 2 generated slots, batches of 2."""
    config = DREDConfig(capacity=8, temperature=1.0, generator="edit", **changes)
    dred = make_curriculum(config, SMALL, 2)
    return dred, dred.init(jax.random.PRNGKey(0), SMALL.sample(jax.random.PRNGKey(1)))


def test_replay_distribution_by_hand():
    """Slots 0-2 dataset, 3-4 generated, 5 empty; T = T_g = 1, rho = 0.3, c = 0.5 (half
    the horizon). Value-loss ranks over the dataset 0.3 > 0.2 > 0.1: h = 1, 1/3, 1/2 (slots
    0, 1, 2) over 11/6. Grounded ranks over slots 0-4 (scores 0, 0.1, 0, 0.9, 0; ties by
    slot): h = 1/3, 1/2, 1/4, 1, 1/5 over 137/60. Staleness over the dataset: count 10 -
    last sampled (10, 6, 8) = 0, 4, 2 over 6."""
    dred, state = small_dred()
    dred.horizon = 10
    buffer = state.buffer.replace(  # a buffer of 6 slots (the weights read no levels)
        filled=jnp.array([1, 1, 1, 1, 1, 0], bool),
        scores=jnp.array([0.0, 0.1, 0.0, 0.9, 0.0, 0.0]),
        last_sampled=jnp.array([10, 6, 8, 0, 0, 0], jnp.int32),
        max_returns=jnp.zeros(6),
        episode_count=jnp.int32(10),
    )
    state = state.replace(
        buffer=buffer,
        from_dataset=jnp.array([1, 1, 1, 0, 0, 0], bool),
        played=buffer.filled,
        value_loss=jnp.array([0.3, 0.1, 0.2, 0.9, 0.5, 0.0]),
        step=jnp.int32(5),
    )
    value = np.array([1, 1 / 3, 1 / 2, 0, 0, 0]) / (11 / 6)
    grounded = np.array([20, 30, 15, 60, 12, 0]) / 137
    stale = np.array([0, 4, 2, 0, 0, 0]) / 6
    expected = 0.7 * (0.5 * value + 0.5 * grounded) + 0.3 * stale
    np.testing.assert_allclose(dred.replay_weights(state, buffer), expected, atol=1e-6)
    dred.horizon = None  # outside a loop c is its end value, 1
    expected = 0.7 * grounded + 0.3 * stale
    np.testing.assert_allclose(dred.replay_weights(state, buffer), expected, atol=1e-6)


def score(values, valid=(True, True)):
    return LevelScore(jnp.asarray(values, jnp.float32), jnp.asarray(valid))


def test_grounded_score_counts_only_solved_levels_and_dataset_levels_are_never_evicted():
    dred, state = small_dred()
    observe = jax.jit(dred.observe)
    tasks = jax.tree.map(lambda x: jnp.asarray(x)[:2], SMALL.dataset())
    # Dataset slots 0 and 1 played: slot 0 never solved (best return 0), slot 1 solved.
    info = dred.info(jnp.int32(NEW), jnp.array([0, 1], jnp.int32), state.buffer)
    state = observe(state, tasks, info, score([0.4, 0.2]), jnp.array([0.0, 0.8]))
    np.testing.assert_allclose(state.value_loss[:2], [0.4, 0.2])
    np.testing.assert_allclose(state.buffer.scores[:2], [0.0, 0.2])
    assert state.played.tolist() == [True, True] + [False] * 6
    # Two generated levels take the empty slots 6 and 7 (grounded 0.5; 0: never solved).
    info = dred.info(jnp.int32(MUTATE), jnp.full(2, -1, jnp.int32), state.buffer)
    state = observe(state, tasks, info, score([0.5, 0.7]), jnp.array([0.9, 0.0]))
    assert state.buffer.filled.all() and state.played[6:].all()
    np.testing.assert_allclose(state.buffer.scores[6:], [0.5, 0.0])
    # Full. P ranks by grounded score (c = 1 outside a loop): slot 7 (0.0) is the lowest
    # generated slot and a solved level of 0.6 replaces it; then slot 6 (0.5) is lowest and a
    # never-solved level (grounded 0) is refused. Dataset slots (unplayed ones weigh 0)
    # are never evicted.
    state = observe(state, tasks, info, score([0.6, 0.3]), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(state.buffer.scores, [0, 0.2, 0, 0, 0, 0, 0.5, 0.6])
    np.testing.assert_allclose(state.value_loss[6:], [0.5, 0.6])
    for kept, original in zip(
        jax.tree.leaves(state.buffer.levels), jax.tree.leaves(SMALL.dataset()), strict=True
    ):
        np.testing.assert_array_equal(kept[:6], original)


def test_warm_up_plays_every_dataset_level_once_then_replays_and_edits():
    """6 dataset levels, batches of 2: three NEW steps play each dataset level once, then
    REPLAY (trains) and MUTATE (edits of the replay batch's easier level: easy_levels 1)
    alternate."""
    dred, state = small_dred(easy_levels=1)
    propose, observe = jax.jit(dred.propose), jax.jit(dred.observe)
    seen, kinds, trains = [], [], []
    for step in range(7):
        state, tasks, info = propose(state, jax.random.PRNGKey(step))
        kinds.append(int(info.step_type))
        trains.append(bool(info.train))
        if kinds[-1] == NEW:
            seen += np.asarray(info.indices).tolist()
        if kinds[-1] == MUTATE:
            parents = jax.tree.map(lambda x, s=state: x[s.parents], state.buffer.levels)
            easier = int(jnp.argmax(state.easiness))
            changed = (tasks.walls != parents.walls[easier]).sum((1, 2))
            changed += (tasks.goal_pos != parents.goal_pos[easier]).any(-1)
            assert (changed <= 5).all()
        state = observe(state, tasks, info, score([0.3, 0.1]), jnp.array([1.0, 0.0]))
    assert sorted(seen) == [0, 1, 2, 3, 4, 5]
    assert kinds == [NEW, NEW, NEW, REPLAY, MUTATE, REPLAY, MUTATE]
    assert trains == [False, False, False, True, False, True, False]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"generator": "gan"}, "generator"),
        ({"capacity": 9}, "capacity"),
        ({"points_per_pair": 3}, "points_per_pair"),
        ({"grounded_coef_end": 1.5}, "grounded_coef_end"),
        ({"min_fill_ratio": 0.9}, "min_fill_ratio"),
    ],
)
def test_bad_dred_config_is_a_clear_error(changes, field):
    with pytest.raises(ConfigError, match=field):
        make_curriculum(DREDConfig(**changes), SMALL, 4)
    # 6 dataset levels + a batch of 4 need 10 slots; a batch of 8 needs 8 dataset levels.
    with pytest.raises(ConfigError, match="at least num_levels=8"):
        make_curriculum(DREDConfig(capacity=20), SMALL, 8)


def test_dred_needs_a_dataset():
    from envs.classic.task_space import ClassicConfig, ClassicTaskSpace

    with pytest.raises(ConfigError, match="dataset"):
        make_curriculum(DREDConfig(), ClassicTaskSpace(ClassicConfig()), 4)


# --- DRED in the UED loop --------------------------------------------------------------------


@pytest.mark.parametrize(
    "generator", ["vae", pytest.param("edit", marks=pytest.mark.slow)]
)  # EL-DRED's loop check is `slow` only for the CI budget (its step is tested above)
def test_dred_in_the_ued_loop_compiles_once_resumes_bitwise_and_has_no_lapack(
    generator, count_compilations, tmp_path
):
    """VAE-DRED (the VAE trained inside init) or EL-DRED drives a tiny learner through
    `rljax.run`: init, one chunk program and evaluate; 2 warm-up steps, then REPLAY/MUTATE;
    a run resumed after 2 updates ends bitwise equal to the uninterrupted one."""
    import rljax
    from rljax.curricula.runner import UED, UEDConfig, feedforward, maze_learner
    from rljax.experiment import enable_compilation_cache
    from tests.agent_contract import (
        assert_no_lapack,
        assert_run_compiles_one_chunk_program,
        check_resumes_bitwise,
    )

    learner = maze_learner(num_envs=4, num_steps=256, total_timesteps=4 * 256 * 2 * 5)
    learner = feedforward(learner, hidden_sizes=(8,), num_eval_episodes=1)  # compiles faster
    curriculum = DREDConfig(
        capacity=14,
        generator=generator,
        vae=VAEConfig(train_steps=20, hidden_sizes=(16,), latent_size=4),
    )
    config = UEDConfig(
        curriculum=curriculum,
        learner=learner,
        task_space=MazeConfig(generator="dataset", dataset_size=6),
        steps_per_eval=2,
    )
    algo = UED(config)
    assert algo.curriculum.horizon == 10 and algo.score is rljax.curricula.SCORES["value_l1"]
    previous = jax.config.jax_compilation_cache_dir
    enable_compilation_cache(str(tmp_path))
    try:
        state = assert_run_compiles_one_chunk_program(algo, algo.hparams(), count_compilations)
        cstate = state.curriculum
        # 10 steps: 2 warm-up steps (6 dataset levels in batches of 4), then R M R M ...
        assert (np.asarray(cstate.step) == 10).all() and np.asarray(cstate.played).all()
        assert (np.asarray(state.counters.grad_updates) == 4 * algo.learner.updates_per_learn).all()
        check_resumes_bitwise(algo, algo.hparams(), state)
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
    assert_no_lapack(algo, algo.hparams())


def test_a_dred_error_at_construction_names_the_full_flag(capsys):
    """Errors raised while the CLI builds the loop (a curriculum checked against its task
    space) name the nested flag, as parse-time ones do."""
    from experiments.ued import main

    assert main(["curriculum:dred", "--curriculum.capacity", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: DREDConfig.capacity=100") and len(err.splitlines()) == 1
    assert err.endswith("(CLI flag --curriculum.capacity).")


def test_value_l1_by_hand():
    """Mean |A| over the steps of finished episodes: column 0 ends at t=1 (t=2 is left out),
    (1 + 3) / 2 = 2; column 1 ends at t=2, (2 + 4 + 6) / 3 = 4."""
    from rljax.curricula.scores import value_l1

    advantage = jnp.array([[1.0, -2.0], [-3.0, 4.0], [5.0, 6.0]])
    done = jnp.array([[False, False], [True, False], [False, True]])
    result = value_l1(advantage, done)
    np.testing.assert_allclose(result.score, [2.0, 4.0])
    assert result.valid.tolist() == [True, True]
