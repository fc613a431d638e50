"""Level sources of the meta-gradient loop (`rljax.meta.level_sources`) and GROOVE (Jackson et
al. 2023): regret scores, replay probability, the antagonist trained once per level, one
compilation per curriculum, uniform draws as before, and a GROOVE run resumes bitwise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs.gridworld  # noqa: F401  (registers the gridworld envs and task space)
from envs.gridworld import GridworldConfig
from rljax.agents.lpg import A2CConfig, LPGAgentConfig
from rljax.checkpoint import Checkpointer
from rljax.config import ConfigError
from rljax.meta import LPGRule, MetaGradient, MetaGradientConfig
from rljax.meta.level_sources import GrooveSource, LevelSourceConfig, map_selected
from rljax.objectives.lpg import LPGRuleConfig
from rljax.task_space import make_task_space

SPACE = GridworldConfig(observation="index")
COMMON = dict(
    env="Gridworld-index", num_envs=2, num_steps=5, total_timesteps=2 * 5 * 2, num_eval_episodes=2
)
"""Lifetimes of 2 updates of 2 envs x 5 steps (K = 1: every agent finishes every 2 steps)."""


def _loop(curriculum, **source):
    config = MetaGradientConfig(num_agents=2, unroll=1, num_meta_steps=4, meta_learning_rate=1e-2)
    agent = LPGAgentConfig(rule=LPGRuleConfig(hidden_size=8), **COMMON)
    settings = LevelSourceConfig(**{"capacity": 4, "replay_prob": 1.0, "eval_batch": 2, **source})
    return MetaGradient(
        agent, A2CConfig(**COMMON), SPACE, LPGRule(), config, None, curriculum, settings
    )


# --- the source alone, with stand-in returns (no RL: fast) -----------------------------------


def _stub_source(num_agents, **changes):
    """GROOVE's source with an agent 'state' that is its return and an antagonist whose
    return is a function of the level (its wall count)."""
    config = LevelSourceConfig(**{"capacity": 8, "eval_batch": 3, **changes})
    space = make_task_space(SPACE)
    return GrooveSource(
        config,
        space,
        num_agents,
        agent_return=lambda agent, level, key: agent,
        antagonist_return=lambda level, key: level.walls.sum().astype(jnp.float32) / 10.0,
    )


def _example(space):
    return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), space.sample(jax.random.PRNGKey(0)))


def test_regret_is_antagonist_minus_agent_on_hand_made_numbers():
    source = _stub_source(2)
    antagonist, agent = jnp.array([1.0, 0.5]), jnp.array([0.25, 0.75])
    np.testing.assert_allclose(source.regret(antagonist, agent), [0.75, -0.25])
    # normalised by the optimal return: (1 - 0.25) / 2, (0.5 - 0.75) / 0.5
    np.testing.assert_allclose(
        source.regret(antagonist, agent, jnp.array([2.0, 0.5])), [0.375, -0.5]
    )
    # Through observe: the finished agents' levels enter the buffer with score = regret and
    # their antagonist return stored beside them; the unfinished agent's level does not.
    state = source.init(None, _example(source.space), 2)
    state, levels = jax.jit(source.propose)(state, jax.random.PRNGKey(1), jnp.ones(2, bool))
    returns = jnp.array([0.2, 0.9])
    state = jax.jit(source.observe)(
        state, jax.random.PRNGKey(2), levels, jnp.array([True, False]), returns, jnp.zeros(2)
    )
    expected = levels.walls[0].sum() / 10.0
    assert int(state.buffer.size) == 1 and int(state.antagonist_trainings) == 1
    np.testing.assert_allclose(state.buffer.scores[0], expected - 0.2, rtol=1e-6)
    np.testing.assert_allclose(state.antagonist[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(state.buffer.levels.walls[0], levels.walls[0])


def test_map_selected_runs_only_the_selected_rows():
    mask = jnp.array([False, True, True, False, True])
    out = jax.jit(lambda m: map_selected(lambda x: x * 10.0, m, (jnp.arange(5.0),), 2))(mask)
    np.testing.assert_array_equal(out, [0.0, 10.0, 20.0, 0.0, 40.0])


def _cycle(source, steps, key):
    """`steps` rounds of: every agent reset (propose), then every agent finishes (observe)
    with return 0.1; jitted as the loop runs them."""
    space, num = source.space, source.num_agents

    @jax.jit
    def run(key):
        def one(state, key):
            propose_key, observe_key = jax.random.split(key)
            state, levels = source.propose(state, propose_key, jnp.ones(num, bool))
            state = source.observe(
                state, observe_key, levels, jnp.ones(num, bool), jnp.full(num, 0.1), jnp.zeros(num)
            )
            return state, None

        state = source.init(None, _example(space), num)
        return jax.lax.scan(one, state, jax.random.split(key, steps))[0]

    return run(key)


def test_buffer_replays_with_the_configured_probability():
    source = _stub_source(8, replay_prob=0.3)
    state = _cycle(source, 1, jax.random.PRNGKey(0))  # the buffer now holds 8 levels
    assert int(state.buffer.size) == 8 and int(state.replays) == 0  # (nothing to replay yet)
    ended = jnp.ones(8, bool)
    keys = jax.random.split(jax.random.PRNGKey(3), 400)
    after, levels = jax.jit(jax.vmap(source.propose, in_axes=(None, 0, None)))(state, keys, ended)
    fraction = float(np.mean(np.asarray(after.replays))) / 8
    assert abs(fraction - 0.3) < 0.03, fraction
    # A replayed agent holds its slot's level, a fresh one a task-space draw.
    slots, walls = np.asarray(after.agent_slot), np.asarray(levels.walls)
    stored = np.asarray(state.buffer.levels.walls)
    replayed = slots >= 0
    np.testing.assert_array_equal(walls[replayed], stored[slots[replayed]])
    # Only ended agents are reset: none ended, nothing replayed or proposed.
    none, _ = source.propose(state, keys[0], jnp.zeros(8, bool))
    assert int(none.replays) == 0 and int(none.proposals) == 8


@pytest.mark.parametrize("cache", [True, False])
def test_antagonist_is_trained_once_per_level(cache):
    source = _stub_source(4, replay_prob=1.0, cache_antagonist=cache)
    state = _cycle(source, 6, jax.random.PRNGKey(5))
    # Round 1 fills the buffer with 4 fresh levels; rounds 2-6 replay them all.
    assert int(state.scored) == 24 and int(state.replays) == 20
    fresh = int(state.proposals) - int(state.replays)
    assert int(state.antagonist_trainings) == (fresh if cache else 24)
    # The cache holds each stored level's own antagonist return.
    filled = np.asarray(state.buffer.filled)
    own = np.asarray(state.buffer.levels.walls).sum(axis=(1, 2)) / 10.0
    np.testing.assert_allclose(np.asarray(state.antagonist)[filled], own[filled], rtol=1e-6)


def test_bad_level_source_settings_are_refused():
    with pytest.raises(ConfigError, match=r"LevelSourceConfig.capacity=1 is smaller than"):
        _stub_source(2, capacity=1)
    with pytest.raises(ConfigError, match=r"curriculum='paired' is not a level source"):
        _loop("paired")
    with pytest.raises(ConfigError, match=r"replay_prob=1.5"):
        LevelSourceConfig(replay_prob=1.5)


# --- the loop ---------------------------------------------------------------------------------


def test_uniform_draws_the_levels_the_loop_drew_before():
    """`uniform` keeps the loop's draws (the pre-curriculum code: `vmap(sample)(split(key,
    A))` from the init key and every meta-step's task key), no state, the old fingerprint."""
    loop = _loop("uniform")
    space = loop.space
    key = jax.random.fold_in(jax.random.PRNGKey(0), 2**31 - 5)
    task_key, _ = jax.random.split(key)
    state = loop.init()
    assert state.curriculum is None and "curriculum" not in loop.fingerprint()
    np.testing.assert_array_equal(
        state.tasks.walls, jax.vmap(space.sample)(jax.random.split(task_key, 2)).walls
    )
    step_key, _ = jax.random.split(loop.generation_key(3))
    _, drawn = loop.source.propose(None, step_key, jnp.array([True, False]))
    np.testing.assert_array_equal(
        drawn.walls, jax.vmap(space.sample)(jax.random.split(step_key, 2)).walls
    )


@pytest.fixture(scope="module")
def groove():
    loop = _loop("groove")
    states = [loop.init()]
    for g in range(4):
        states.append(loop.step(states[-1], loop.generation_key(g))[0])
    return loop, states


def test_groove_loop_scores_finished_agents_and_trains_each_antagonist_once(groove):
    loop, states = groove
    first = states[0].curriculum
    assert int(first.proposals) == 2 and int(first.antagonist_trainings) == 0
    last = states[-1].curriculum
    # Lifetimes [1, 2] then 2 with K = 1: one agent finishes at every step (4 scores). The
    # levels of the initial agents and of the reset at step 1 (the buffer holds 1 < 2 levels)
    # are fresh; from step 2 on, every reset agent replays a buffer level (replay_prob 1)
    # and its score reuses the cached antagonist return: 3 antagonists for 4 scores.
    assert int(last.scored) == 4 and int(last.replays) == 2 and int(last.proposals) == 5
    assert int(last.antagonist_trainings) == 3 == int(last.proposals) - int(last.replays)
    assert int(last.buffer.size) == 3
    cached = np.asarray(last.antagonist)[np.asarray(last.buffer.filled)]
    assert np.isfinite(cached).all()
    assert np.isfinite(np.asarray(last.buffer.scores)).all()


def test_groove_meta_step_compiles_once(groove, count_compilations):
    loop, states = groove
    with count_compilations() as compiles:
        state, _ = loop.step(states[-1], loop.generation_key(4))
        jax.block_until_ready(state.meta_params)
    assert compiles.value == 0


def test_plr_meta_step_compiles_once_and_scores_by_positive_value_loss(count_compilations):
    loop = _loop("plr")
    state, _ = loop.step(loop.init(), loop.generation_key(0))
    with count_compilations() as compiles:
        for g in (1, 2):
            state, _ = loop.step(state, loop.generation_key(g))
        jax.block_until_ready(state.meta_params)
    assert compiles.value == 0
    source = state.curriculum
    assert int(source.scored) == 3 and int(source.antagonist_trainings) == 0
    scores = np.asarray(source.buffer.scores)[np.asarray(source.buffer.filled)]
    # (steps 0-2 score the two initial levels and agent 0's second, fresh one: 3 levels)
    assert len(scores) == 3 and (scores >= 0).all() and (scores > 0).any()


def test_groove_resume_from_checkpoint_equals_uninterrupted(groove, tmp_path):
    loop, states = groove
    with Checkpointer(tmp_path, loop.fingerprint()) as checkpointer:
        loop.save(checkpointer, states[2])
    with Checkpointer(tmp_path, loop.fingerprint()) as checkpointer:
        resumed = loop.restore(checkpointer)
    assert resumed.generation == 2
    for a, b in zip(jax.tree.leaves(states[2]), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)  # (the buffer, its cache and counters included)
    assert int(resumed.curriculum.antagonist_trainings) > 0
    # (Restored arrays are committed to a device, a new signature for jit: the host copy
    # runs the program the fixture compiled instead of compiling it again.)
    resumed = jax.tree.map(np.asarray, resumed)
    resumed = loop.run(resumed, num_generations=4, progress=False)
    leaves = jax.tree.leaves(states[4])
    assert len(leaves) == len(jax.tree.leaves(resumed))
    for a, b in zip(leaves, jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    # The curriculum is part of the run's identity.
    assert loop.fingerprint() != _loop("groove", cache_antagonist=False).fingerprint()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--curriculum", "groove", "--level-source.capacity", "4"],
            "LevelSourceConfig.capacity=4 is smaller than the population --meta.num-agents=16."
            " Fix: pass --level-source.capacity >= 16 (CLI flag --level-source.capacity).",
        ),
        (
            ["--curriculum", "plr", "--level-source.replay-prob", "1.5"],
            "(CLI flag --level-source.replay-prob)",
        ),
        (["--curriculum", "paired"], "is not a valid choice"),
    ],
)
def test_lpg_cli_refuses_bad_curriculum_flags_in_one_line(flags, message, tmp_path, capsys):
    from experiments import lpg

    assert lpg.main(["meta-train", "--out-dir", str(tmp_path), *flags]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and message in error
    assert not list(tmp_path.iterdir())
