"""Generated XLand-MiniGrid rulesets (envs.xland): every task well-formed and solvable under
its own rules (checked by a plain-Python search), the env keeping its task across episodes,
and a curriculum loop compiling once on XLand tasks."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from envs.xland import (
    RulesetConfig,
    XLandConfig,
    XLandTaskSpace,
    mutate_ruleset,
    reference_solvable,
    sample_ruleset,
    well_formed,
)
from experiments.ued import make_algorithm
from rljax.config import ConfigError
from rljax.curricula.plr import PLRConfig
from rljax.curricula.runner import UEDConfig
from tests.agent_contract import assert_run_compiles_one_chunk_program

_sample_batch = jax.jit(
    lambda keys, config: jax.vmap(lambda k: sample_ruleset(k, config))(keys), static_argnums=1
)


# Three shapes (each compiles its generator once), any seed.
CONFIGS = (RulesetConfig(0, 0, 0), RulesetConfig(), RulesetConfig(3, 2, 3))


@settings(max_examples=9, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), config=st.sampled_from(CONFIGS))
def test_every_generated_task_is_well_formed_and_solvable(seed, config):
    tasks = _sample_batch(jax.random.split(jax.random.PRNGKey(seed), 32), config)
    assert tasks.goal.shape == (32, 5) and tasks.goal.dtype == np.uint8
    assert tasks.rules.shape == (32, config.num_rules, 7)
    assert tasks.init_tiles.shape == (32, config.num_objects, 2)
    for i in range(32):
        task = (tasks.goal[i], tasks.rules[i], tasks.init_tiles[i])
        assert well_formed(*task) is None, (well_formed(*task), task)
        assert reference_solvable(*task), task
        # Exactly the drawn number of production and distractor rules, within the bounds.
        assert (np.asarray(tasks.rules[i])[:, 0] > 0).sum() <= (
            config.max_depth + config.max_distractor_rules
        )


def test_the_reference_search_refuses_unsolvable_and_malformed_tasks():
    ball, key, star = (3, 1), (7, 2), (12, 3)  # (tile, colour)
    hold_star = np.array([1, *star, 0, 0])
    key_to_star = np.array([[1, *key, *star, 0, 0]])  # picking the key up makes the star
    assert reference_solvable(hold_star, key_to_star, np.array([key]))
    assert not reference_solvable(hold_star, key_to_star, np.array([ball]))
    # TileNear needs both objects; putting the ball next to the key makes the star.
    make_star = np.array([[3, *ball, *key, *star]])
    assert reference_solvable(hold_star, make_star, np.array([ball, key]))
    assert not reference_solvable(hold_star, make_star, np.array([ball, (0, 0)]))
    assert well_formed(hold_star, make_star, np.array([ball, key])) is None
    assert well_formed(hold_star, make_star, np.array([ball, ball])) == "an initial object twice"
    assert "rule id" in well_formed(hold_star, np.array([[9, 0, 0, 0, 0, 0, 0]]), np.array([ball]))


def _unused_objects(goal, rules, init_tiles) -> int:
    """Initial objects neither the goal nor any rule takes."""
    taken = {tuple(int(v) for v in goal[i : i + 2]) for i in (1, 3)}
    taken |= {tuple(int(v) for v in r[i : i + 2]) for r in rules if r[0] for i in (1, 3)}
    return sum(tuple(int(v) for v in t) not in taken for t in init_tiles if t.any())


def test_edits_keep_every_task_well_formed_solvable_and_within_the_configs_bounds():
    """ACCEL's editor: 30 edits from the simplest tasks (a random walk that reaches every
    bound) and one edit of sampled tasks; the edits really deepen the chain and add
    distractors."""
    config = CONFIGS[2]
    keys = jax.random.split(jax.random.PRNGKey(config.max_depth), 64)

    @jax.jit
    def edited(keys):
        def one(key):
            start = sample_ruleset(jax.random.fold_in(key, 0), config, simplest=True)
            sampled = sample_ruleset(jax.random.fold_in(key, 1), config)
            return mutate_ruleset(key, start, config, 30), mutate_ruleset(key, sampled, config, 1)

        return jax.vmap(one)(keys)

    walked, once = edited(keys)
    for tasks in (walked, once):
        assert tasks.goal.dtype == tasks.rules.dtype == tasks.init_tiles.dtype == np.uint8
        assert tasks.rules.shape == (64, config.num_rules, 7)
        assert tasks.init_tiles.shape == (64, config.num_objects, 2)
        rules = np.asarray(tasks.rules)
        depth = (rules[:, : config.max_depth, 0] > 0).sum(1)
        distractors = (rules[:, config.max_depth :, 0] > 0).sum(1)
        assert depth.max() <= config.max_depth and distractors.max() <= (
            config.max_distractor_rules
        )
        for i in range(64):
            task = (tasks.goal[i], tasks.rules[i], tasks.init_tiles[i])
            assert well_formed(*task) is None, (well_formed(*task), task)
            assert reference_solvable(*task), task
            assert _unused_objects(*(np.asarray(a) for a in task)) <= (
                config.max_distractor_objects
            )
    depth = (np.asarray(walked.rules)[:, : config.max_depth, 0] > 0).sum(1)
    assert (depth == config.max_depth).any() and (depth < config.max_depth).any()
    assert (np.asarray(walked.rules)[:, config.max_depth :, 0] > 0).any()
    assert np.asarray(walked.init_tiles).any(-1).sum(1).max() > 2 + config.max_depth


def test_undoing_the_last_production_rule_places_its_product():
    """With depth at its bound, no distractors allowed and a TileNear goal, the only edit
    that applies is undoing the rule: the star it made is placed where the key was."""
    ball, key, star = (3, 1), (7, 2), (12, 3)
    config = RulesetConfig(max_depth=1, max_distractor_rules=0, max_distractor_objects=0)
    task = sample_ruleset(jax.random.PRNGKey(0), config).replace(
        goal=np.array([4, *star, *ball], np.uint8),
        rules=np.array([[1, *key, *star, 0, 0]], np.uint8),
        init_tiles=np.array([ball, key, (0, 0), (0, 0)], np.uint8),
    )
    edited = mutate_ruleset(jax.random.PRNGKey(1), task, config, 1)
    np.testing.assert_array_equal(edited.goal, task.goal)
    assert not np.asarray(edited.rules).any()
    np.testing.assert_array_equal(edited.init_tiles, [ball, star, (0, 0), (0, 0)])


def test_the_simplest_tasks_have_no_rules_and_only_the_goals_objects():
    config = RulesetConfig()
    tasks = jax.jit(jax.vmap(lambda k: sample_ruleset(k, config, simplest=True)))(
        jax.random.split(jax.random.PRNGKey(0), 16)
    )
    assert not np.asarray(tasks.rules).any()
    objects = np.asarray(tasks.init_tiles).any(axis=2).sum(axis=1)
    np.testing.assert_array_equal(objects, np.where(np.asarray(tasks.goal[:, 0]) == 4, 2, 1))


def test_the_env_keeps_its_task_across_episodes_and_ends_them_both_ways():
    space = XLandTaskSpace()
    env, params = space.env, space.env_params
    n = 32
    tasks = jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(0), n))
    _, state = jax.vmap(env.reset_to, in_axes=(0, 0, None))(
        jax.random.split(jax.random.PRNGKey(1), n), tasks, params
    )

    def body(state, key):
        action_key, step_key = jax.random.split(key)
        actions = jax.random.randint(action_key, (n,), 0, 6)
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(step_key, n), state, actions, params
        )
        return out[1], out[2:5]

    final, (reward, terminated, truncated) = jax.jit(
        lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.PRNGKey(2), 1000))
    )(state)
    assert int(terminated.sum()) > 0 and int(truncated.sum()) > 0
    assert (np.asarray(reward)[np.asarray(terminated)] > 0).all()
    assert (np.asarray(reward)[~np.asarray(terminated)] == 0).all()
    for got, want in ((final.ruleset.goal, tasks.goal), (final.inner.goal_encoding, tasks.goal)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(final.inner.rule_encoding, tasks.rules)


def test_trials_of_several_episodes_are_the_learners_episodes():
    """The meta-RL setting: `trial_episodes` episodes of a task form one episode of the
    registered env (the wrapper's semantics are tested on a toy env in test_envs.py)."""
    space = XLandTaskSpace(XLandConfig(trial_episodes=4))
    assert space.env_name == "XLand-R1-9x9-d2-r1-o2-t4"
    assert rljax.environment.max_episode_steps(space.env, space.env_params) == 4 * 243
    with pytest.raises(ConfigError, match=r"XLandConfig\.trial_episodes"):
        XLandConfig(trial_episodes=0)


def test_bad_task_space_config_is_refused():
    with pytest.raises(ConfigError, match="max_depth"):
        RulesetConfig(max_depth=-1)
    with pytest.raises(ConfigError, match=r"XLandConfig.size.*free cells"):
        XLandConfig(size=5, rulesets=RulesetConfig(max_depth=3))


@pytest.mark.slow
def test_plr_on_generated_xland_tasks_compiles_once(count_compilations):
    """The curriculum loop over XLand tasks: PLR with a tiny feed-forward learner, through
    `rljax.run` with a partial last chunk (the shared contract). Slow: xminigrid's XLand step
    (a scan over the rules, each a 12-way switch, and a 15-way switch over goals) is costly to
    compile, and the loop holds it three times (rollout, scoring, held-out evaluation):
    134 s here beside another job, against ~30 s for the maze loop. The env itself compiles
    inside a scan in `test_the_env_keeps_its_task_across_episodes_and_ends_them_both_ways`."""
    learner = rljax.PPOConfig(
        env="CartPole-v1",  # replaced by the task space's env
        num_envs=2,
        num_steps=64,
        total_timesteps=2 * 64 * 2 * 3,
        update_epochs=1,
        num_minibatches=1,
        hidden_sizes=(8,),
        num_eval_episodes=1,
    )
    config = UEDConfig(
        curriculum=PLRConfig(capacity=4, min_fill_ratio=0.5, replay_prob=0.5),
        learner=learner,
        steps_per_eval=2,
        task_space=XLandConfig(num_heldout=2),
        partial_episodes=True,
    )
    algo = make_algorithm(config)
    assert algo.learner.network.torso == "grid_cnn"
    assert_run_compiles_one_chunk_program(algo, algo.hparams(), count_compilations)


def test_es_outer_loop_meta_trains_on_generated_xland_tasks(count_compilations):
    """The ES outer loop (`rljax.meta`) on XLand tasks as data: each generation draws fresh
    rulesets from the task space, every member trains a recurrent PPO learner on each, and the
    second generation compiles nothing (30-40 s with compilation, session 17)."""
    from envs.xland import env_name
    from rljax.agents.recurrent_ppo import RecurrentPPOConfig
    from rljax.meta import ClipEpsilon, ESConfig, MetaTrainer
    from rljax.meta.inner import TaskDistribution

    space = XLandConfig(num_heldout=2)
    learner = RecurrentPPOConfig(
        env=env_name(space),
        num_envs=2,
        num_steps=64,
        total_timesteps=2 * 64 * 2,
        update_epochs=1,
        num_minibatches=1,
        hidden_sizes=(8,),
        gru_size=8,
        num_eval_episodes=1,
    )
    es = ESConfig(
        population_size=2,
        num_seeds=1,
        num_generations=2,
        pop_batch_size=0,
        objective="final_return",  # no 243-step episode ends in training
    )
    trainer = MetaTrainer(
        TaskDistribution(learner, space, tasks_per_generation=2), ClipEpsilon(0.2), es
    )
    state, first = trainer.step(trainer.init(), trainer.generation_key(0))
    with count_compilations() as compiles:
        state, second = trainer.step(state, trainer.generation_key(1))
    assert compiles.value == 0, f"{compiles.value} compilations in the second generation"
    assert state.generation == 2
    tasks = [np.asarray(jax.tree.leaves(m.tasks)[0]) for m in (first, second)]
    assert tasks[0].shape[0] == 2 and not np.array_equal(tasks[0], tasks[1])  # fresh rulesets
    assert all(np.isfinite(m.fitness_mean) for m in (first, second))


@pytest.mark.slow
def test_meta_gradient_outer_loop_runs_on_generated_xland_tasks(count_compilations):
    """LPG's meta-gradient loop (`rljax.meta.meta_gradient`) over the XLand task space: agents
    on generated rulesets, a finite meta-gradient that moves the rule, and a second meta-step
    that compiles nothing (44 s for the first with compilation, session 17)."""
    from envs.xland import env_name
    from rljax.agents.lpg import A2CConfig, LPGAgentConfig
    from rljax.meta import LPGRule, MetaGradient, MetaGradientConfig
    from rljax.objectives.lpg import LPGRuleConfig

    space = XLandConfig(num_heldout=2)
    common = dict(
        env=env_name(space), num_envs=2, num_steps=8, total_timesteps=2 * 8 * 4, num_eval_episodes=1
    )
    loop = MetaGradient(
        LPGAgentConfig(rule=LPGRuleConfig(hidden_size=16), **common),
        A2CConfig(**common),
        space,
        LPGRule(),
        MetaGradientConfig(num_agents=2, unroll=2, num_meta_steps=2),
    )
    init = loop.init()
    first, metrics = loop.step(init, loop.generation_key(0))
    with count_compilations() as compiles:
        loop.step(first, loop.generation_key(1))
    assert compiles.value == 0, f"{compiles.value} compilations in the second meta-step"
    assert np.isfinite(float(np.mean(metrics.meta_loss)))
    assert float(np.mean(metrics.meta_grad_norm)) > 0
    moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), init.meta_params, first.meta_params)
    assert any(jax.tree.leaves(moved))
