"""rljax.curricula: the PLR level buffer against worked numbers, level scores on hand-built
trajectories and their registry, and the registered curricula (DR, PLR, robust PLR, ACCEL) on
a toy task space (no maze needed)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from rljax import ConfigError
from rljax.curricula import (
    ACCEL,
    CURRICULA,
    DR,
    MUTATE,
    NEW,
    PLR,
    REPLAY,
    SCORES,
    ACCELConfig,
    DRConfig,
    LevelScore,
    PLRConfig,
    RobustPLR,
    RobustPLRConfig,
    curriculum_class,
    level_buffer,
    make_curriculum,
    scores,
)
from rljax.learner import ScoreInputs


@struct.dataclass
class ToyLevel:
    cells: jax.Array  # int32 [3]


EXAMPLE = ToyLevel(jnp.zeros(3, jnp.int32))


def sample_level(key: jax.Array) -> ToyLevel:
    return ToyLevel(jax.random.randint(key, (3,), 0, 10, jnp.int32))


def mutate_level(key: jax.Array, level: ToyLevel, num_edits: int) -> ToyLevel:
    """Each edit adds 1 to a random cell, so a child's sum is its parent's + num_edits."""
    cells = jax.random.randint(key, (num_edits,), 0, 3)
    return ToyLevel(level.cells.at[cells].add(1))


def initial_level(key: jax.Array) -> ToyLevel:
    """The editor's simplest levels: negative cells, so they are told apart from samples."""
    return ToyLevel(jax.random.randint(key, (3,), -3, 0, jnp.int32))


class ToySpace:
    """A task space with a generator, simple starting levels and an editor."""

    sample = staticmethod(sample_level)
    initial = staticmethod(initial_level)
    mutate = staticmethod(mutate_level)


class NoEditorSpace(ToySpace):
    mutate = None


SPACE = ToySpace()


def toy_buffer(score_list, last_sampled, episode_count, filled=None):
    capacity = len(score_list)
    buffer = level_buffer.init(EXAMPLE, capacity)
    return buffer.replace(
        levels=ToyLevel(jnp.arange(3 * capacity, dtype=jnp.int32).reshape(capacity, 3)),
        scores=jnp.asarray(score_list, jnp.float32),
        last_sampled=jnp.asarray(last_sampled, jnp.int32),
        filled=jnp.ones(capacity, bool) if filled is None else jnp.asarray(filled),
        episode_count=jnp.int32(episode_count),
    )


# Scores [0.5, 2.0, 1.0, 0.1] rank [3, 1, 2, 4]; last sampled [0, 2, 5, 1] at count c = 6.
BUFFER = toy_buffer([0.5, 2.0, 1.0, 0.1], [0, 2, 5, 1], 6)


# --- level buffer: worked numbers ------------------------------------------------------------


def test_rank_weights_with_temperature():
    # beta = 1: h = 1/rank = [1/3, 1, 1/2, 1/4], sum 25/12 -> [4, 12, 6, 3] / 25.
    np.testing.assert_allclose(
        level_buffer.score_weights(BUFFER, 1.0), [0.16, 0.48, 0.24, 0.12], rtol=1e-6
    )
    # beta = 0.5: h^(1/beta) = [1/9, 1, 1/4, 1/16] = [16, 144, 36, 9] / 144 -> / 205.
    np.testing.assert_allclose(
        level_buffer.score_weights(BUFFER, 0.5),
        np.array([16, 144, 36, 9]) / 205,
        rtol=1e-6,
    )


def test_topk_weights_with_temperature():
    # k = 2 keeps ranks 1 and 2 (slots 1, 2). beta = 1: [0, 1, 1/2, 0] / 1.5.
    np.testing.assert_allclose(
        level_buffer.score_weights(BUFFER, 1.0, top_k=2), [0, 2 / 3, 1 / 3, 0], rtol=1e-6
    )
    # beta = 0.5: [0, 1, 1/4, 0] / 1.25 = [0, 0.8, 0.2, 0].
    np.testing.assert_allclose(
        level_buffer.score_weights(BUFFER, 0.5, top_k=2), [0, 0.8, 0.2, 0], rtol=1e-6
    )


def test_staleness_weights_and_mixture():
    # c - C = [6, 4, 1, 5], sum 16.
    np.testing.assert_allclose(
        level_buffer.staleness_weights(BUFFER), [0.375, 0.25, 0.0625, 0.3125], rtol=1e-6
    )
    # rho = 0.5: 0.5 * [0.16, 0.48, 0.24, 0.12] + 0.5 * [0.375, 0.25, 0.0625, 0.3125].
    np.testing.assert_allclose(
        level_buffer.weights(BUFFER, 1.0, 0.5), [0.2675, 0.365, 0.15125, 0.21625], rtol=1e-6
    )


def test_unfilled_slots_get_no_weight():
    # Slots 1 and 3 empty: ranks among the filled [0.5, 1.0] are [2, 1] -> h = [1/2, 1] / 1.5;
    # staleness [6, 1] / 7.
    buffer = toy_buffer([0.5, 9.0, 1.0, 9.0], [0, 0, 5, 0], 6, filled=[True, False, True, False])
    np.testing.assert_allclose(
        level_buffer.score_weights(buffer, 1.0), [1 / 3, 0, 2 / 3, 0], rtol=1e-6
    )
    np.testing.assert_allclose(
        level_buffer.staleness_weights(buffer), [6 / 7, 0, 1 / 7, 0], rtol=1e-6
    )
    empty = level_buffer.init(EXAMPLE, 3)
    np.testing.assert_array_equal(level_buffer.weights(empty, 1.0, 0.5), [0, 0, 0])


def offer(buffer, cells, score, valid=True):
    level = ToyLevel(jnp.asarray([cells], jnp.int32))
    return level_buffer.insert(
        buffer, level, jnp.asarray([score], jnp.float32), jnp.asarray([valid]), 1.0, 0.5
    )


def test_full_buffer_rejects_lower_score_and_replaces_lowest_weight():
    # With rho = 0.5 the weights are [0.2675, 0.365, 0.15125, 0.21625] (previous test): the
    # lowest-weight level is slot 2 (score 1.0), not the lowest-score slot 3 (score 0.1).
    buffer, slots = offer(BUFFER, [7, 7, 7], 0.9)  # 0.9 < 1.0: rejected
    assert int(slots[0]) == -1
    np.testing.assert_array_equal(buffer.scores, BUFFER.scores)
    np.testing.assert_array_equal(buffer.levels.cells, BUFFER.levels.cells)
    assert int(buffer.episode_count) == 7  # the episode was played all the same

    buffer, slots = offer(BUFFER, [7, 7, 7], 50.0, valid=False)  # invalid: never enters
    assert int(slots[0]) == -1
    np.testing.assert_array_equal(buffer.scores, BUFFER.scores)

    buffer, slots = offer(BUFFER, [7, 7, 7], 1.5)  # 1.5 > 1.0: replaces slot 2
    assert int(slots[0]) == 2
    np.testing.assert_allclose(buffer.scores, [0.5, 2.0, 1.5, 0.1])
    np.testing.assert_array_equal(buffer.levels.cells[2], [7, 7, 7])
    others = np.array([0, 1, 3])
    np.testing.assert_array_equal(buffer.levels.cells[others], BUFFER.levels.cells[others])
    assert int(buffer.last_sampled[2]) == 7  # stamped with the advanced count


def test_insert_fills_empty_slots_then_duplicate_check_updates():
    levels = ToyLevel(jnp.asarray([[1, 2, 3], [4, 5, 6], [1, 2, 3]], jnp.int32))
    s = jnp.asarray([0.2, 0.1, 0.7], jnp.float32)
    valid = jnp.ones(3, bool)
    buffer, slots = level_buffer.insert(level_buffer.init(EXAMPLE, 4), levels, s, valid, 1.0, 0.5)
    np.testing.assert_array_equal(slots, [0, 1, 2])  # empty slots first, whatever the score
    buffer, slots = level_buffer.insert(
        level_buffer.init(EXAMPLE, 4), levels, s, valid, 1.0, 0.5, duplicate_check=True
    )
    np.testing.assert_array_equal(slots, [0, 1, 0])  # the copy updates slot 0's score
    np.testing.assert_array_equal(buffer.filled, [True, True, False, False])
    np.testing.assert_allclose(buffer.scores[:2], [0.7, 0.1])


def test_update_scores_replaces_and_skips_invalid():
    best = jnp.asarray([0.5, 0.9, -jnp.inf], jnp.float32)
    buffer = level_buffer.update_scores(
        BUFFER,
        jnp.asarray([1, 1, 3]),
        jnp.asarray([1.0, 3.0, 9.0]),
        jnp.asarray([True, True, False]),
        max_returns=best,
    )
    # Slot 1 drawn twice: mean(1, 3) = 2; slot 3's invalid score changes nothing.
    np.testing.assert_allclose(buffer.scores, [0.5, 2.0, 1.0, 0.1])
    np.testing.assert_allclose(buffer.max_returns, [-np.inf, 0.9, -np.inf, -np.inf])


def test_sampling_frequency_matches_weights():
    n = 20_000
    buffer, indices, levels = level_buffer.sample_replay(BUFFER, jax.random.PRNGKey(0), n, 1.0, 0.5)
    frequency = np.bincount(np.asarray(indices), minlength=4) / n
    # Binomial std at p = 0.365 is sqrt(p (1 - p) / n) ~ 0.0034; allow ~3 std.
    np.testing.assert_allclose(frequency, [0.2675, 0.365, 0.15125, 0.21625], atol=0.01)
    np.testing.assert_array_equal(levels.cells, BUFFER.levels.cells[np.asarray(indices)])
    assert int(buffer.episode_count) == 6 + n
    np.testing.assert_array_equal(buffer.last_sampled, [6 + n] * 4)  # every slot was drawn


# --- scores on hand-built trajectories --------------------------------------------------------

# Three levels (columns), T = 4. Level 0: two finished episodes (dones at t = 1 and 3).
# Level 1: one finished episode (t = 0..1), then one cut off by the end of the rollout.
# Level 2: one episode that never finishes.
F, T_ = False, True
DONE = jnp.asarray([[F, F, F], [T_, T_, F], [F, F, F], [T_, F, F]])
REWARD = jnp.asarray([[0.0, 0.0, 1.0], [1.0, 2.0, 1.0], [0.0, 0.0, 1.0], [0.5, 5.0, 1.0]])


def test_episode_returns():
    returns = scores.episode_returns(REWARD, DONE)
    # Level 0: episodes 0 + 1 = 1 and 0 + 0.5 = 0.5; level 1: 0 + 2 = 2 (the 5 is cut off).
    np.testing.assert_allclose(returns.mean, [0.75, 2.0, np.nan])
    np.testing.assert_allclose(returns.max, [1.0, 2.0, -np.inf])
    np.testing.assert_array_equal(returns.count, [2, 1, 0])


def test_positive_value_loss():
    advantage = jnp.asarray([[0.5, 1.0, 3.0], [-1.0, 3.0, 3.0], [2.0, 5.0, 3.0], [0.0, 7.0, 3.0]])
    score, valid = scores.positive_value_loss(advantage, DONE)
    # Level 0: mean(max(A, 0)) = (0.5 + 0 + 2 + 0) / 4 = 0.625.
    # Level 1: only the finished steps t = 0, 1: (1 + 3) / 2 = 2; level 2: invalid.
    np.testing.assert_array_equal(valid, [True, True, False])
    np.testing.assert_allclose(score, [0.625, 2.0, np.nan])


def test_max_mc():
    value = jnp.asarray([[0.2, 1.0, 0.0], [0.4, 2.0, 0.0], [0.1, 9.0, 0.0], [0.3, 9.0, 0.0]])
    stored_best = jnp.asarray([0.8, 3.0, 10.0])
    score, valid = scores.max_mc(REWARD, DONE, value, stored_best)
    # Level 0: R_max = max(0.8, 1.0) = 1.0; mean(1 - V) = 1 - (0.2 + 0.4 + 0.1 + 0.3) / 4 = 0.75.
    # Level 1: R_max = max(3, 2) = 3 over finished steps: ((3 - 1) + (3 - 2)) / 2 = 1.5.
    # Level 2: a stored best return does not make up for an unfinished episode: invalid.
    np.testing.assert_array_equal(valid, [True, True, False])
    np.testing.assert_allclose(score, [0.75, 1.5, np.nan])


def test_true_regret():
    score, valid = scores.true_regret(REWARD, DONE, jnp.asarray([1.0, 2.5, 1.0]))
    # Optimal minus mean finished return: 1 - 0.75 = 0.25, 2.5 - 2 = 0.5, level 2 invalid.
    np.testing.assert_array_equal(valid, [True, True, False])
    np.testing.assert_allclose(score, [0.25, 0.5, np.nan])


def test_paired_regret():
    # Protagonist: level 0 returns 0 and 0.25 (mean 0.125); level 1 returns 0.5 and 1.5
    # (mean 1); level 2 finishes, but the antagonist (REWARD/DONE above) never did there.
    p_done = jnp.asarray([[F, T_, F], [T_, F, T_], [F, F, F], [T_, T_, F]])
    p_reward = jnp.asarray([[0.0, 0.5, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.25, 1.5, 0.0]])
    score, valid = scores.paired_regret(REWARD, DONE, p_reward, p_done)
    # Antagonist max return minus protagonist mean: 1 - 0.125 = 0.875, 2 - 1 = 1.
    np.testing.assert_array_equal(valid, [True, True, False])
    np.testing.assert_allclose(score, [0.875, 1.0, np.nan])


def test_score_registry_wraps_the_score_functions():
    assert {"pvl", "max_mc"} <= set(SCORES)
    advantage = jnp.asarray([[0.5, 1.0, 3.0], [-1.0, 3.0, 3.0], [2.0, 5.0, 3.0], [0.0, 7.0, 3.0]])
    value = jnp.asarray([[0.2, 1.0, 0.0], [0.4, 2.0, 0.0], [0.1, 9.0, 0.0], [0.3, 9.0, 0.0]])
    stored_best = jnp.asarray([0.8, 3.0, 10.0])
    inputs = ScoreInputs(reward=REWARD, done=DONE, value=value, advantage=advantage)
    for got, want in (
        (SCORES["pvl"](inputs, stored_best), scores.positive_value_loss(advantage, DONE)),
        (SCORES["max_mc"](inputs, stored_best), scores.max_mc(REWARD, DONE, value, stored_best)),
    ):
        assert isinstance(got, LevelScore)
        np.testing.assert_array_equal(got.score, want.score)
        np.testing.assert_array_equal(got.valid, want.valid)
    # The worked numbers of test_max_mc: the stored best returns reach the registry's MaxMC.
    np.testing.assert_allclose(SCORES["max_mc"](inputs, stored_best).score, [0.75, 1.5, np.nan])
    with pytest.raises(ValueError, match="advantage"):
        SCORES["pvl"](inputs._replace(advantage=None), stored_best)


# --- curricula on the toy level ---------------------------------------------------------------


def compiled_step(curriculum):
    """One jitted curriculum step, scoring each level by the sum of its cells (so an edited
    child outscores its parent); `valid` `[n]` marks which scores were measured."""

    def step(cstate, key, valid):
        cstate, levels, info = curriculum.propose(cstate, key)
        s = levels.cells.sum(-1).astype(jnp.float32)
        best = jnp.where(valid, s, -jnp.inf)
        score = LevelScore(jnp.where(valid, s, jnp.nan), valid)
        return curriculum.observe(cstate, levels, info, score, best), levels, info

    return jax.jit(step)


class Counts:
    """What the loop counts from `ProposeInfo` (the curricula keep no counters)."""

    def __init__(self):
        self.kinds, self.trained = [], 0

    def add(self, info):
        self.kinds.append(int(info.step_type))
        self.trained += int(info.train)

    def of(self, kind):
        return self.kinds.count(kind)


ACCEL_CONFIG = ACCELConfig(capacity=4, min_fill_ratio=0.5, replay_prob=0.5, num_edits=3)
ACCEL_CURRICULUM = make_curriculum(ACCEL_CONFIG, SPACE, 2)
ACCEL_STEP = compiled_step(ACCEL_CURRICULUM)  # shared: the tests below reuse one program


def test_registry_lists_methods_with_their_configs():
    expected = {
        "dr": (DR, DRConfig),
        "plr": (PLR, PLRConfig),
        "robust_plr": (RobustPLR, RobustPLRConfig),
        "accel": (ACCEL, ACCELConfig),
    }
    for name, (cls, config_cls) in expected.items():
        assert CURRICULA[name] is cls
        assert cls.name == name and cls.Config is config_cls
        # The exact config type selects the method: RobustPLRConfig subclasses PLRConfig.
        assert curriculum_class(config_cls()) is cls
    assert isinstance(make_curriculum(RobustPLRConfig(capacity=4), SPACE, 2), RobustPLR)
    assert isinstance(ACCEL_CURRICULUM, ACCEL)


def test_robust_plr_replays_only_after_min_fill_and_never_trains_on_new():
    config = RobustPLRConfig(capacity=4, min_fill_ratio=0.5, replay_prob=1.0)
    curriculum = make_curriculum(config, SPACE, 1)
    step = compiled_step(curriculum)
    cstate = curriculum.init(jax.random.PRNGKey(0), EXAMPLE)
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    valid, invalid = jnp.ones(1, bool), jnp.zeros(1, bool)
    counts = Counts()

    # An invalid score is not inserted, so the buffer stays empty and the step stays NEW.
    cstate, _, info = step(cstate, keys[0], invalid)
    counts.add(info)
    assert int(info.step_type) == NEW and int(cstate.buffer.size) == 0
    assert np.isnan(float(cstate.mean_score))  # nothing valid was measured
    for i, expected_size in ((1, 1), (2, 2)):  # 0/4 and 1/4 filled: below 0.5, no replay
        cstate, levels, info = step(cstate, keys[i], valid)
        counts.add(info)
        assert int(info.step_type) == NEW
        assert not bool(info.train)  # PLR-perp: new levels are only evaluated
        assert int(cstate.buffer.size) == expected_size
        assert (np.asarray(levels.cells) >= 0).all()  # from `sample`, not `initial`
        np.testing.assert_array_equal(info.indices, [-1])
        np.testing.assert_array_equal(info.max_returns, [-np.inf])
    assert float(curriculum.stats(cstate).buffer_fill) == 0.5
    cstate, levels, info = step(cstate, keys[3], valid)  # 2/4 filled: replay
    counts.add(info)
    assert int(info.step_type) == REPLAY and bool(info.train)
    np.testing.assert_array_equal(levels.cells, cstate.buffer.levels.cells[info.indices])
    # A replayed level brings its stored best return (MaxMC's R_max): here its cell sum.
    np.testing.assert_array_equal(info.max_returns, levels.cells.sum(-1).astype(np.float32))
    assert (counts.of(NEW), counts.of(REPLAY), counts.trained) == (3, 1, 1)


@pytest.mark.parametrize(
    "config", [PLRConfig(capacity=2, min_fill_ratio=0.0, replay_prob=1.0), DRConfig()]
)
def test_plr_and_dr_train_on_new_levels(config):
    curriculum = make_curriculum(config, SPACE, 2)
    step = compiled_step(curriculum)
    cstate = curriculum.init(jax.random.PRNGKey(0), EXAMPLE, curriculum.hparams())
    counts = Counts()
    for key in jax.random.split(jax.random.PRNGKey(2), 3):
        cstate, levels, info = step(cstate, key, jnp.ones(2, bool))
        counts.add(info)
        assert bool(info.train)
        if int(info.step_type) == NEW:
            assert (np.asarray(levels.cells) >= 0).all()  # from `sample`, not `initial`
    # PLR replays as soon as one level is in (min fill 0); DR has no buffer and never replays.
    assert counts.kinds == ([NEW, REPLAY, REPLAY] if isinstance(config, PLRConfig) else [NEW] * 3)
    assert counts.trained == 3


def test_accel_mutates_the_replayed_levels_without_gradient():
    # replay_prob and min_fill_ratio are traced: new values reuse ACCEL_STEP's program.
    hparams = ACCEL_CONFIG.replace(replay_prob=1.0).hparams()
    cstate = ACCEL_CURRICULUM.init(jax.random.PRNGKey(0), EXAMPLE, hparams)
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    valid = jnp.ones(2, bool)
    counts = Counts()
    cstate, new_levels, info = ACCEL_STEP(cstate, keys[0], valid)
    counts.add(info)
    assert int(info.step_type) == NEW and not bool(info.train)
    assert (np.asarray(new_levels.cells) < 0).all()  # ACCEL starts from `initial` levels
    cstate, parents, info = ACCEL_STEP(cstate, keys[1], valid)
    counts.add(info)
    assert int(info.step_type) == REPLAY and bool(info.train)
    parent_slots = info.indices
    cstate, children, info = ACCEL_STEP(cstate, keys[2], valid)
    counts.add(info)
    assert int(info.step_type) == MUTATE and not bool(info.train)
    np.testing.assert_array_equal(info.indices, parent_slots)
    # A child has not been played: its parent's best return says nothing of it.
    np.testing.assert_array_equal(info.max_returns, [-np.inf, -np.inf])
    # Each child is its parent with num_edits = 3 unit edits, and scored (sum + 3) above
    # every stored level, so both children are in the buffer now.
    np.testing.assert_array_equal(children.cells.sum(-1) - parents.cells.sum(-1), [3, 3])
    stored = {tuple(c) for c in np.asarray(cstate.buffer.levels.cells)}
    assert {tuple(c) for c in np.asarray(children.cells)} <= stored
    cstate, _, info = ACCEL_STEP(cstate, keys[3], valid)
    counts.add(info)
    assert int(info.step_type) == REPLAY  # after a mutate step the coin decides again
    assert (counts.of(NEW), counts.of(REPLAY), counts.of(MUTATE)) == (1, 2, 1)
    assert counts.trained == 2


def test_one_compiled_step_serves_new_replay_and_mutate(count_compilations):
    cstate = ACCEL_CURRICULUM.init(jax.random.PRNGKey(0), EXAMPLE)
    keys = list(jax.random.split(jax.random.PRNGKey(4), 16))  # made outside the count
    valid = jnp.ones(2, bool)
    seen = []
    with count_compilations() as compiles:
        for key in keys:
            cstate, _, info = ACCEL_STEP(cstate, key, valid)
            seen.append(info.step_type)
        jax.block_until_ready(cstate)
    assert compiles.value <= 1, f"{compiles.value} compilations"  # 0 if an earlier test ran
    assert ACCEL_STEP._cache_size() == 1
    assert {int(s) for s in seen} == {NEW, REPLAY, MUTATE}


def test_vmap_over_seeds_equals_separate_runs():
    batched_step = jax.jit(jax.vmap(ACCEL_STEP))
    keys = jax.random.split(jax.random.PRNGKey(5), 12).reshape(6, 2, 2)  # [steps, seeds]
    valid = jnp.ones((2, 2), bool)
    single = ACCEL_CURRICULUM.init(None, EXAMPLE)
    batched = jax.tree.map(lambda x: jnp.stack([x, x]), single)
    singles = [single, single]
    mutated = 0
    for step_keys in keys:
        batched, _, info = batched_step(batched, step_keys, valid)
        mutated += int((info.step_type == MUTATE).sum())
        singles = [ACCEL_STEP(s, step_keys[i], valid[i])[0] for i, s in enumerate(singles)]
    assert mutated > 0  # every branch was exercised
    for i, single in enumerate(singles):
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-6)


def test_mean_score_averages_valid_scores_only():
    curriculum = make_curriculum(DRConfig(), SPACE, 3)
    cstate = curriculum.init(None, EXAMPLE)
    cstate, levels, info = curriculum.propose(cstate, jax.random.PRNGKey(0))
    score = LevelScore(jnp.asarray([1.0, jnp.nan, 2.0]), jnp.asarray([True, False, True]))
    no_returns = jnp.full(3, -jnp.inf)
    cstate = curriculum.observe(cstate, levels, info, score, no_returns)
    stats = curriculum.stats(cstate)
    assert float(stats.mean_score) == 1.5 and float(stats.buffer_fill) == 0.0
    none = LevelScore(jnp.full(3, jnp.nan), jnp.zeros(3, bool))
    unmeasured = curriculum.observe(cstate, levels, info, none, no_returns)
    assert np.isnan(float(curriculum.stats(unmeasured).mean_score))
    assert curriculum.top_tasks(cstate, 2) == ([], None)


def test_top_tasks_are_the_best_filled_levels():
    curriculum = make_curriculum(PLRConfig(capacity=4), SPACE, 2)
    cstate = curriculum.init(None, EXAMPLE)
    # Slot 1 (score 2.0) is the best but empty; then slots 2 (1.0), 0 (0.5), 3 (0.1).
    buffer = toy_buffer([0.5, 2.0, 1.0, 0.1], [0, 2, 5, 1], 6, filled=[True, False, True, True])
    best, tasks = curriculum.top_tasks(cstate.replace(buffer=buffer), 2)
    assert best == [1.0, 0.5]
    np.testing.assert_array_equal(tasks.cells, buffer.levels.cells[np.asarray([2, 0])])


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_cls, changes, field",
    [
        (PLRConfig, {"replay_prob": 1.5}, "replay_prob"),
        (PLRConfig, {"replay_prob": -0.1}, "replay_prob"),
        (PLRConfig, {"capacity": 0}, "capacity"),
        (PLRConfig, {"temperature": 0.0}, "temperature"),
        (RobustPLRConfig, {"staleness_coef": 1.2}, "staleness_coef"),
        (RobustPLRConfig, {"min_fill_ratio": -0.5}, "min_fill_ratio"),
        (ACCELConfig, {"prioritization": "softmax"}, "prioritization"),
        (ACCELConfig, {"num_edits": 0}, "num_edits"),
    ],
)
def test_bad_config_names_field_and_fix(config_cls, changes, field):
    with pytest.raises(ConfigError, match=f"{config_cls.__name__}.{field}=.*Fix:"):
        config_cls(**changes)


def test_unknown_prioritization_lists_valid_ones():
    with pytest.raises(ConfigError, match="rank, topk"):
        PLRConfig(prioritization="softmax")


@pytest.mark.parametrize("config_cls", [PLRConfig, RobustPLRConfig, ACCELConfig])
def test_capacity_below_the_batch_is_refused(config_cls):
    with pytest.raises(
        ConfigError, match=f"{config_cls.__name__}.capacity=8 .*num_levels=16.*Fix:"
    ):
        make_curriculum(config_cls(capacity=8), SPACE, 16)


def test_unregistered_config_lists_registered_curricula():
    @dataclass(frozen=True)
    class POETConfig:
        pass

    with pytest.raises(ConfigError, match=r"POETConfig.*Fix:.*dr \(DRConfig\), plr \(PLRConfig\)"):
        make_curriculum(POETConfig(), SPACE, 2)
    with pytest.raises(ConfigError, match=r"robust_plr \(RobustPLRConfig\), accel \(ACCELConfig\)"):
        curriculum_class(POETConfig())


def test_accel_without_editor_is_refused():
    with pytest.raises(
        ConfigError, match=r"ACCELConfig.num_edits=5 .*NoEditorSpace.*Fix: use robust_plr"
    ):
        make_curriculum(ACCELConfig(capacity=4), NoEditorSpace(), 2)
    make_curriculum(RobustPLRConfig(capacity=4), NoEditorSpace(), 2)  # needs no editor


def test_generator_dtype_mismatch_fails_at_trace_time():
    # A level whose dtype differs from the buffer's would otherwise mean a second compile.
    class Int16Space(ToySpace):
        sample = staticmethod(lambda k: ToyLevel(jax.random.randint(k, (3,), 0, 10, jnp.int16)))

    curriculum = make_curriculum(PLRConfig(capacity=4), Int16Space(), 2)
    cstate = curriculum.init(None, EXAMPLE)
    with pytest.raises(TypeError, match="equal output types"):
        jax.jit(curriculum.propose).lower(cstate, jax.random.PRNGKey(0))
