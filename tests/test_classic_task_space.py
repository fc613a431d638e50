"""gymnax classic-control constants as a task space (envs/classic)."""

import functools

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from envs.classic import (
    PARAMETERS,
    ClassicConfig,
    ClassicTaskSpace,
    default_task,
    params_from_task,
)
from rljax.config import ConfigError
from rljax.task_space import make_task_space, reset_to_tasks, stack_tasks
from rljax.wrappers import VecEnv

LENGTH = PARAMETERS["CartPole-v1"].index("length")


def cartpole_tasks(lengths):
    space = ClassicTaskSpace(ClassicConfig())
    return space, stack_tasks([space.initial(None).at[LENGTH].set(x) for x in lengths])


def rollout(env, env_params, state, actions, key):
    """`(obs [T, n, ...], terminated, truncated, final_observation, state)` of a fixed action
    sequence `[T, n]` in a `VecEnv`."""

    def step(carry, action):
        state, key = carry
        key, step_key = jax.random.split(key)
        obs, state, _, terminated, truncated, info = env.step(step_key, state, action, env_params)
        return (state, key), (obs, terminated, truncated, info["final_observation"])

    (state, _), out = jax.lax.scan(step, (state, key), actions)
    return (*out, state)


def test_default_task_is_gymnax_defaults_and_registered():
    assert "CartPole-v1-params" in rljax.environment.registered_names()
    for name in PARAMETERS:
        space = make_task_space(ClassicConfig(env=name))
        _, defaults = gymnax.make(name)
        np.testing.assert_array_equal(
            space.initial(jax.random.PRNGKey(0)),
            np.float32([getattr(defaults, n) for n in PARAMETERS[name]]),
        )
        # Derived constants included (CartPole's total mass, Acrobot's centres of mass).
        rebuilt = params_from_task(name, defaults, jnp.asarray(default_task(name)))
        for a, b in zip(jax.tree.leaves(rebuilt), jax.tree.leaves(defaults), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        assert "default" in space.heldout() and space.adversary is None


def test_pole_lengths_in_one_batch_give_different_dynamics():
    space, tasks = cartpole_tasks([0.3, 0.5, 0.7, 0.9])
    env = VecEnv(space.env, 4)
    # The same start state and actions in every env: only the pole length differs.
    obs, state = jax.vmap(space.env.reset_to, in_axes=(None, 0, None))(
        jax.random.PRNGKey(0), tasks, space.env_params
    )
    np.testing.assert_array_equal(obs, np.broadcast_to(obs[:1], obs.shape))
    actions = jnp.ones((5, 4), jnp.int32)
    traj, terminated, *_ = jax.jit(rollout, static_argnums=0)(
        env, space.env_params, state, actions, jax.random.PRNGKey(1)
    )
    assert not np.asarray(terminated).any()  # no reset inside the window compared
    theta = np.asarray(traj[:, :, 2])  # [T, n]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(theta[-1, i] - theta[-1, j]) > 1e-3, (i, j, theta[-1])
    # A longer pole falls more slowly when pushed: |theta| decreases with length.
    assert np.all(np.diff(np.abs(theta[-1])) < 0), theta[-1]


def test_auto_reset_keeps_each_envs_task_bitwise_like_gymnax():
    space, tasks = cartpole_tasks([0.3, 0.7])
    base, defaults = gymnax.make("CartPole-v1")
    key = jax.random.PRNGKey(3)
    obs, state = reset_to_tasks(space, tasks, key)
    # Always pushing right: episodes end every ~10 steps, so 60 steps cross several resets.
    actions = jnp.ones((60, 2), jnp.int32)
    env = VecEnv(space.env, 2)
    traj, terminated, truncated, final, end = rollout(
        env, space.env_params, state.inner, actions, jax.random.PRNGKey(4)
    )
    assert np.asarray(terminated).sum(axis=0).min() >= 3  # several episodes per env
    np.testing.assert_array_equal(end.task, tasks)
    # Each env is plain gymnax stepped with its own params throughout, resets included.
    for i, length in enumerate([0.3, 0.7]):
        params = defaults.replace(length=length, polemass_length=defaults.masspole * length)
        keys = jax.random.split(key, 2)
        _, gstate = base.reset(keys[i], params)
        gstate_i = jax.tree.map(lambda x, i=i: x[i], state.inner.inner)
        for a, b in zip(jax.tree.leaves(gstate), jax.tree.leaves(gstate_i), strict=True):
            np.testing.assert_array_equal(a, b)

        def gstep(carry, step_key, params=params):
            s = carry
            o, s, _, term, trunc, info = base.step(step_key, s, jnp.int32(1), params)
            return s, (o, term, info["final_observation"])

        step_keys = []
        k = jax.random.PRNGKey(4)
        for _ in range(60):
            k, sk = jax.random.split(k)
            step_keys.append(jax.random.split(sk, 2)[i])
        _, (gobs, gterm, gfinal) = jax.lax.scan(gstep, gstate, jnp.stack(step_keys))
        np.testing.assert_allclose(traj[:, i], gobs, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(terminated[:, i], gterm)
        np.testing.assert_allclose(final[:, i], gfinal, rtol=1e-5, atol=1e-6)


def test_time_limit_is_truncation_not_termination():
    space = ClassicTaskSpace(ClassicConfig(env="Pendulum-v1"))
    tasks = jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(0), 3))
    _, state = reset_to_tasks(space, tasks, jax.random.PRNGKey(1))
    actions = jnp.zeros((201, 3, 1), jnp.float32)
    obs, terminated, truncated, final, end = rollout(
        VecEnv(space.env, 3), space.env_params, state.inner, actions, jax.random.PRNGKey(2)
    )
    assert not np.asarray(terminated).any()
    truncated = np.asarray(truncated)
    assert truncated[199].all() and truncated.sum() == 3  # step 200 of 200, once per env
    # The step's own observation is kept apart from the reset one that replaces it.
    assert not np.allclose(final[199], obs[199])
    np.testing.assert_array_equal(final[:199], obs[:199])
    np.testing.assert_array_equal(end.task, tasks)


@functools.cache
def jitted_space(env):
    """A wide box (spread 0.9, mutation steps of half its width, so clipping happens) and its
    jitted batch `sample`/`mutate` (the number of edits traced), built once per env:
    hypothesis then varies only data, which compiles nothing."""
    space = ClassicTaskSpace(ClassicConfig(env=env, spread=0.9, mutation_scale=0.5))
    sample = jax.jit(jax.vmap(space.sample))
    mutate = jax.jit(jax.vmap(space.mutate, in_axes=(0, 0, None)))
    return space, sample, mutate


@settings(max_examples=30, deadline=None)
@given(
    env=st.sampled_from(sorted(PARAMETERS)),
    seed=st.integers(0, 2**31 - 1),
    edits=st.integers(0, 6),
)
def test_sample_and_mutate_stay_in_the_box(env, seed, edits):
    space, sample, mutate = jitted_space(env)
    keys = jax.random.split(jax.random.PRNGKey(seed), 16)
    tasks = sample(keys)
    mutated = mutate(keys, tasks, edits)
    for batch in (tasks, mutated):
        assert batch.dtype == jnp.float32 and batch.shape == (16, len(PARAMETERS[env]))
        assert np.all(batch >= space.box.low) and np.all(batch <= space.box.high)
    if edits == 0:
        np.testing.assert_array_equal(mutated, tasks)
    else:
        assert not np.array_equal(mutated, tasks)
    for task in space.heldout().values():
        assert np.all(task >= space.box.low) and np.all(task <= space.box.high)


def test_ranges_and_success_thresholds():
    space = ClassicTaskSpace(ClassicConfig(spread=0.0, ranges=(("length", 0.4, 0.6),)))
    tasks = jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(0), 64))
    others = np.delete(np.asarray(tasks), LENGTH, axis=1)
    np.testing.assert_array_equal(others, np.broadcast_to(others[:1], others.shape))
    assert 0.4 <= float(tasks[:, LENGTH].min()) < 0.45 < 0.55 < float(tasks[:, LENGTH].max())
    assert set(space.heldout()) == {"default", "low", "high", "centre", "length_low", "length_high"}
    np.testing.assert_array_equal(
        space.success(jnp.float32([500.0, 475.0, 474.9, 9.0])), [True, True, False, False]
    )
    thresholds = {"Pendulum-v1": -200.0, "Acrobot-v1": -100.0, "MountainCar-v0": -110.0}
    for name, threshold in thresholds.items():
        other = ClassicTaskSpace(ClassicConfig(env=name))
        assert bool(other.success(jnp.float32(threshold)))
        assert not bool(other.success(jnp.float32(threshold - 1)))
    custom = ClassicTaskSpace(ClassicConfig(success_threshold=200.0))
    assert bool(custom.success(jnp.float32(200.0)))


def test_one_compilation_for_any_task_batch(count_compilations):
    space = ClassicTaskSpace(ClassicConfig())
    env = VecEnv(space.env, 8)

    @jax.jit
    def run(tasks, key):
        _, state = reset_to_tasks(space, tasks, key)
        actions = jnp.zeros((20, 8), jnp.int32)
        obs, *_ = rollout(env, space.env_params, state.inner, actions, key)
        return obs

    first = run(
        jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(0), 8)), jax.random.PRNGKey(0)
    )
    with count_compilations() as compiles:
        for seed in (1, 2):
            tasks = jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(seed), 8))
            other = run(tasks, jax.random.PRNGKey(0))
    assert compiles.value == 0, compiles.value
    assert not np.allclose(first, other)


def test_ppo_trains_on_the_params_env_and_bad_configs_are_refused():
    algo = rljax.PPO(
        rljax.PPOConfig(
            env="CartPole-v1-params", num_envs=2, num_steps=8, update_epochs=1, num_minibatches=1
        )
    )
    state = algo.init(jax.random.PRNGKey(0), algo.config.hparams())
    state, metrics = jax.jit(algo.update)(state)
    assert np.isfinite(float(metrics.policy_loss))
    np.testing.assert_array_equal(
        state.rollout.env_state.inner.task, np.broadcast_to(default_task("CartPole-v1"), (2, 5))
    )
    with pytest.raises(ConfigError, match=r"ClassicConfig\.env=.Breakout-MinAtar."):
        ClassicConfig(env="Breakout-MinAtar")
    with pytest.raises(ConfigError, match="not a parameter of CartPole-v1"):
        ClassicConfig(ranges=(("l", 0.1, 0.2),))
    with pytest.raises(ConfigError, match="spread"):
        ClassicConfig(spread=1.0)


def test_heldout_grid_and_return_range():
    """`heldout_grid` replaces the held-out set by a product grid (others at the default);
    `return_range` spans each env's worst and best returns over its time limit."""
    grid = (("masscart", (0.5, 4.0)), ("length", (0.3, 0.6, 1.0)))
    space = ClassicTaskSpace(ClassicConfig(spread=0.0, heldout_grid=grid))
    heldout = space.heldout()
    assert len(heldout) == 6 and "masscart=4,length=0.6" in heldout
    default = np.asarray(space.default)
    expected = default.copy()
    expected[1], expected[LENGTH] = 4.0, 0.6
    np.testing.assert_allclose(heldout["masscart=4,length=0.6"], expected)
    with pytest.raises(ConfigError, match="heldout_grid"):
        ClassicConfig(heldout_grid=(("mass", (1.0,)),))
    assert space.return_range == (0.0, 500.0)
    assert ClassicTaskSpace(ClassicConfig(env="Acrobot-v1")).return_range == (-500.0, 0.0)
