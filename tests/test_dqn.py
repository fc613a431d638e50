"""DQN: replay buffer, TD and n-step targets, bad config, compile-once, determinism, vmap
equivalence, and learning checks."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax import replay
from rljax.agents import DQN, DQNConfig
from rljax.agents.dqn import td_targets
from rljax.config import ConfigError
from rljax.returns import n_step_returns
from tests import agent_contract

TINY = dict(
    total_timesteps=4 * 4 * 8,
    num_envs=4,
    num_steps=4,
    num_gradient_steps=2,
    batch_size=16,
    buffer_size=64,
    learning_starts=32,
    target_update_interval=3,
    hidden_sizes=(32, 32),
)


@functools.cache
def _tiny() -> DQN:
    """One algorithm object for the contract tests, so they share one compiled `train`."""
    return DQN(DQNConfig(**TINY))


def _train(config, seed=0):
    fn = jax.jit(functools.partial(rljax.train, DQN(config)))
    return fn(jax.random.PRNGKey(seed), config.hparams())


# --- replay buffer ------------------------------------------------------------------------


def _buffer_with(values, capacity):
    buffer = replay.init({"x": jnp.zeros((), jnp.int32)}, capacity)
    for batch in values:
        buffer = replay.add(buffer, {"x": jnp.asarray(batch, jnp.int32)})
    return buffer


def test_replay_add_fills_in_order():
    buffer = _buffer_with([[1, 2], [3, 4]], capacity=5)
    np.testing.assert_array_equal(buffer.data["x"], [1, 2, 3, 4, 0])
    assert int(buffer.position) == 4 and int(buffer.size) == 4


def test_replay_add_wraps_around_overwriting_the_oldest():
    # Capacity 5, batches of 2: slots 0-1, 2-3, then 4 and 0 (wrapped), then 1-2.
    buffer = _buffer_with([[1, 2], [3, 4], [5, 6], [7, 8]], capacity=5)
    np.testing.assert_array_equal(buffer.data["x"], [6, 7, 8, 4, 5])
    assert int(buffer.position) == 3 and int(buffer.size) == 5


def test_replay_add_with_a_mask_packs_the_valid_rows():
    buffer = replay.init({"x": jnp.zeros((), jnp.int32)}, 5)
    add = lambda b, x, valid: replay.add(b, {"x": jnp.asarray(x)}, jnp.asarray(valid))
    buffer = add(buffer, [1, 2, 3], [False, True, True])
    np.testing.assert_array_equal(buffer.data["x"], [2, 3, 0, 0, 0])
    assert int(buffer.position) == 2 and int(buffer.size) == 2
    buffer = add(buffer, [4, 5, 6, 7], [True, False, True, True])
    np.testing.assert_array_equal(buffer.data["x"], [2, 3, 4, 6, 7])
    buffer = add(buffer, [8, 9], [True, True])  # wraps around, overwriting the oldest
    np.testing.assert_array_equal(buffer.data["x"], [8, 9, 4, 6, 7])
    assert int(buffer.position) == 2 and int(buffer.size) == 5


def test_replay_samples_only_written_entries():
    buffer = _buffer_with([[1, 2, 3]], capacity=100)
    batch = replay.sample(buffer, jax.random.PRNGKey(0), 3000)
    drawn = np.asarray(batch["x"])
    assert set(np.unique(drawn)) == {1, 2, 3}  # never an unwritten zero slot
    np.testing.assert_allclose(np.bincount(drawn)[1:] / 3000, [1 / 3] * 3, atol=0.04)


def test_replay_sample_after_wraparound_covers_the_whole_buffer():
    buffer = _buffer_with([[1, 2], [3, 4], [5, 6], [7, 8]], capacity=5)
    drawn = np.asarray(replay.sample(buffer, jax.random.PRNGKey(1), 2000)["x"])
    assert set(np.unique(drawn)) == {4, 5, 6, 7, 8}


# --- targets ------------------------------------------------------------------------------


def test_td_targets_dqn_and_double_dqn():
    next_q_target = jnp.array([[1.0, 5.0], [2.0, 3.0], [4.0, 0.0]])
    next_q_online = jnp.array([[9.0, 0.0], [0.0, 9.0], [0.0, 9.0]])
    reward = jnp.array([1.0, 1.0, 1.0])
    discount = 0.5 * jnp.array([1.0, 0.0, 1.0])  # gamma * (1 - terminated), the 2nd terminated
    # DQN: max over the target net, 1 + 0.5 * [5, (terminated) 0, 4].
    np.testing.assert_allclose(
        td_targets(next_q_target, next_q_online, reward, discount, False), [3.5, 1.0, 3.0]
    )
    # Double DQN: the online net picks [0, 1, 1], the target net scores it: [1, -, 0].
    np.testing.assert_allclose(
        td_targets(next_q_target, next_q_online, reward, discount, True), [1.5, 1.0, 1.0]
    )


def test_n_step_returns_match_hand_computation():
    # n = 3, gamma = 0.5. Env 0 terminates at t=2 and truncates at t=4; env 1 never ends.
    rewards = jnp.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0], [5.0, 1.0]])
    rewards = jnp.concatenate([rewards, jnp.array([[6.0, 1.0], [7.0, 1.0]])])
    terminated = jnp.zeros((7, 2), bool).at[2, 0].set(True)
    truncated = jnp.zeros((7, 2), bool).at[4, 0].set(True)
    ret, discount, last = n_step_returns(rewards, terminated, truncated, 0.5, 3)
    # Env 0, t=0: 1 + .5*2 + .25*3 = 2.75, ends in the termination at 2: no bootstrap.
    # t=1: 2 + .5*3 = 3.5 and t=2: 3, both stop at the termination. t=3: 4 + .5*5 = 6.5 stops
    # at the truncation at 4 and bootstraps from its final observation with .5^2; t=4: 5,
    # bootstrap .5 from the same observation. t=5, 6: cut by the end of the rollout.
    np.testing.assert_allclose(ret[:, 0], [2.75, 3.5, 3.0, 6.5, 5.0, 9.5, 7.0])
    np.testing.assert_allclose(discount[:, 0], [0.0, 0.0, 0.0, 0.25, 0.5, 0.25, 0.5])
    np.testing.assert_array_equal(last[:, 0], [2, 2, 2, 4, 4, 6, 6])
    # Env 1: full windows 1 + .5 + .25 bootstrapped with .5^3, then the rollout's end.
    np.testing.assert_allclose(ret[:, 1], [1.75] * 5 + [1.5, 1.0])
    np.testing.assert_allclose(discount[:, 1], [0.125] * 5 + [0.25, 0.5])
    np.testing.assert_array_equal(last[:, 1], [2, 3, 4, 5, 6, 6, 6])


def test_n_step_one_is_the_one_step_target():
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    terminated = jnp.array([[False], [True], [False]])
    truncated = jnp.array([[False], [False], [True]])
    ret, discount, last = n_step_returns(rewards, terminated, truncated, 0.9, 1)
    np.testing.assert_array_equal(ret, rewards)
    np.testing.assert_allclose(discount[:, 0], [0.9, 0.0, 0.9])
    np.testing.assert_array_equal(last[:, 0], [0, 1, 2])


def test_n_step_transitions_in_the_buffer_span_rollouts():
    # 2 steps per rollout and n = 3: every window crosses into the next rollout. The buffer
    # must hold exactly the n-step transitions of the whole trajectory, n - 1 steps late.
    n, num_steps, num_envs, updates = 3, 2, 4, 12
    config = DQNConfig(**{**TINY, "num_steps": num_steps, "n_step": n, "buffer_size": 256})
    algo = DQN(config)
    state = algo.init(jax.random.PRNGKey(0), config.hparams())
    collect = jax.jit(algo.collect)
    trajs = []
    for _ in range(updates):
        state, traj = collect(state)
        trajs.append(traj)
        state = state.replace(update_step=state.update_step + 1)
    full = jax.tree.map(lambda *xs: jnp.concatenate(xs), *trajs)
    assert full.terminated.any()  # random play on CartPole ends episodes within 24 steps
    ret, discount, last = n_step_returns(
        full.reward, full.terminated, full.truncated, config.gamma, n
    )
    stored_steps = updates * num_steps - (n - 1)
    count = stored_steps * num_envs
    assert int(state.buffer.size) == count
    data = jax.tree.map(lambda x: np.asarray(x[:count]), state.buffer.data)
    flat = lambda x: np.asarray(x[:stored_steps]).reshape(count, *x.shape[2:])
    np.testing.assert_array_equal(data.obs, flat(full.obs))
    np.testing.assert_array_equal(data.action, flat(full.action))
    np.testing.assert_allclose(data.reward, flat(ret), rtol=1e-6)
    np.testing.assert_allclose(data.discount, flat(discount), rtol=1e-6)
    next_obs = full.next_obs[last, jnp.arange(num_envs)[None, :]]
    np.testing.assert_array_equal(data.next_obs, flat(next_obs))
    # The carried window is the last n - 1 steps, waiting for the rewards that complete them.
    np.testing.assert_array_equal(state.window.obs, full.obs[-(n - 1) :])


def test_target_network_updates_every_interval_only():
    config = DQNConfig(**TINY)  # 8 updates, learning from update 2, target copied every 3
    algo = DQN(config)
    state = algo.init(jax.random.PRNGKey(0), config.hparams())
    update = jax.jit(algo.update)
    first = lambda p: np.asarray(jax.tree.leaves(p)[0])
    for step in range(1, 8):
        previous_target = first(state.target_params)
        state, _ = update(state)
        if step % 3 == 0:
            np.testing.assert_array_equal(first(state.target_params), first(state.params))
        else:
            np.testing.assert_array_equal(first(state.target_params), previous_target)
    assert not np.array_equal(first(state.target_params), first(state.params))


# --- config, compilation, determinism -----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (dict(env="Pendulum-v1"), "env", "continuous action space"),
        (dict(buffer_size=64, batch_size=128), "buffer_size", "smaller than one minibatch"),
        (dict(learning_rate=0.0), "learning_rate", "Fix:"),
        (dict(tau=1.5), "tau", "Fix:"),
        (dict(total_timesteps=10), "total_timesteps", "Fix:"),
        (dict(n_step=0), "n_step", "Fix:"),
    ],
)
def test_bad_config_is_refused_before_compiling(changes, field, words, count_compilations):
    with count_compilations() as compiles, pytest.raises(ConfigError) as error:
        DQNConfig(**changes)
    message = str(error.value)
    assert field in message and words in message, message
    assert compiles.value == 0


def test_run_compiles_one_chunk_program_for_a_partial_last_chunk(count_compilations):
    hparams = DQNConfig(**TINY).hparams()
    state = agent_contract.assert_run_compiles_one_chunk_program(
        _tiny(), hparams, count_compilations
    )
    assert (state.update_step == 5).all()  # chunks of 2, 2 and a partial 1


def test_vmapped_training_program_calls_no_lapack():
    agent_contract.assert_no_lapack(_tiny(), DQNConfig(**TINY).hparams())


def test_value_targets_bootstrap_on_truncation_only():
    agent_contract.assert_bootstraps_on_truncation_only(
        lambda env: DQN(DQNConfig(env=env, **{**TINY, "num_steps": 6, "num_envs": 2}))
    )


def test_same_seed_gives_identical_results():
    config = DQNConfig(**TINY)
    agent_contract.assert_same_seed_same_run(_tiny(), config.hparams())
    _, metrics = agent_contract.train_one(_tiny(), config.hparams(), 3)  # cached: no new compile
    assert np.all(np.asarray(metrics.td_loss)[2:] > 0)  # learning started after warm-up


def test_vmap_over_seeds_equals_separate_runs():
    config = DQNConfig(**TINY)
    agent_contract.assert_vmap_equals_separate_runs(_tiny(), config.hparams())


# --- learning checks ----------------------------------------------------------------------


def _final_eval(config, seeds):
    return agent_contract.final_eval_returns(DQN(config), config, seeds, chunk_size=512)


def test_cartpole_learns_at_ci_budget():
    # Reduced check for CI: the DQNConfig defaults at 1.2e5 steps instead of 2e5.
    # Measured mean evaluation returns per seed: 164.8, 193.2, 359.3, 500 (mean 304; random
    # play scores ~22), in 28 s with compilation on a quiet 2-core machine. At 8e4 steps the
    # same config gave 492.3, 148.6, 103.4, 27.8 (mean 193): too spread, hence 1.2e5.
    # Session 29, seeds 0-15 in one batch (the outcome per seed hangs on the last bits of the
    # arithmetic): mean 232.9, means of four 173-288 (XLA's default preset); mean 176.9,
    # means of four 166-188 (the suite's FAST_COMPILE preset, where seeds 0-3 as this test
    # batches them gave 161.3). The threshold sits below every mean of four measured.
    returns = _final_eval(DQNConfig(total_timesteps=120_000), seeds=[0, 1, 2, 3])
    assert returns.mean() >= 150.0, returns


@pytest.mark.slow
def test_cartpole_full_budget_8_seeds():
    # The DQNConfig defaults (Double DQN, LayerNorm, 8 envs x 4 steps, 4 gradient steps of
    # 128 per update, lr 5e-4, hard target copy every 32 updates, epsilon 1 -> 0.05 over the
    # first 20%), 2e5 steps per seed. Measured per seed: 500 on all 8 seeds (Q(s, a) rose
    # steadily to 81-86 of a possible ~99, never above), 73 s with compilation for all 8
    # seeds in one vmapped batch on a quiet 2-core machine.
    returns = _final_eval(DQNConfig(), seeds=list(range(8)))
    assert returns.mean() >= 475.0, returns
    assert (returns >= 475.0).sum() >= 6, returns


@pytest.mark.slow
def test_cartpole_n_step_3_at_ci_budget():
    # 3-step Double DQN, otherwise the CI check's config (1.2e5 steps). Measured per seed:
    # 500, 197.6, 500, 500 (mean 424.4, against 304 for one-step at the same budget), 93 s
    # with compilation on a 2-core machine shared with other jobs.
    returns = _final_eval(DQNConfig(total_timesteps=120_000, n_step=3), seeds=[0, 1, 2, 3])
    assert returns.mean() >= 350.0, returns
