"""PQN: bad config, compile-once, determinism, vmap equivalence, and learning checks."""

import functools

import jax
import numpy as np
import pytest

import rljax
from rljax.agents import PQN, PQNConfig
from rljax.config import ConfigError
from tests import agent_contract

TINY = dict(total_timesteps=8 * 16 * 6, num_envs=8, num_steps=16, num_minibatches=4)


@functools.cache
def _tiny() -> PQN:
    """One algorithm object for the contract tests, so they share one compiled `train`."""
    return PQN(PQNConfig(**TINY))


def _train(config, seed=0):
    fn = jax.jit(functools.partial(rljax.train, PQN(config)))
    return fn(jax.random.PRNGKey(seed), config.hparams())


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (dict(env="Pendulum-v1"), "env", "PPO"),
        (dict(env="CartPole-v9"), "env", "Did you mean"),
        (dict(num_envs=3, num_steps=10, num_minibatches=4), "num_minibatches", "divisors of 30"),
        (dict(learning_rate=0.0), "learning_rate", "Fix:"),
        (dict(q_lambda=1.5), "q_lambda", "Fix:"),
        (dict(epsilon_finish=-0.1), "epsilon_finish", "Fix:"),
        (dict(total_timesteps=100), "total_timesteps", "Fix:"),
    ],
)
def test_bad_config_is_refused_before_compiling(changes, field, words, count_compilations):
    with count_compilations() as compiles, pytest.raises(ConfigError) as error:
        PQNConfig(**changes)
    message = str(error.value)
    assert field in message and words in message, message
    assert compiles.value == 0


def test_continuous_env_error_says_what_fits():
    with pytest.raises(ConfigError, match="continuous action space") as error:
        PQNConfig(env="Pendulum-v1")
    assert "discrete-action env" in str(error.value)


def test_run_compiles_one_chunk_program_for_a_partial_last_chunk(count_compilations):
    hparams = PQNConfig(**TINY).hparams()
    state = agent_contract.assert_run_compiles_one_chunk_program(
        _tiny(), hparams, count_compilations
    )
    assert (state.update_step == 5).all()  # chunks of 2, 2 and a partial 1


def test_vmapped_training_program_calls_no_lapack():
    agent_contract.assert_no_lapack(_tiny(), PQNConfig(**TINY).hparams())


def test_value_targets_bootstrap_on_truncation_only():
    ends = dict(total_timesteps=12, num_envs=2, num_steps=6, num_minibatches=1, q_lambda=0.0)
    agent_contract.assert_bootstraps_on_truncation_only(lambda env: PQN(PQNConfig(env=env, **ends)))


def test_same_seed_gives_identical_results():
    config = PQNConfig(**TINY)
    agent_contract.assert_same_seed_same_run(_tiny(), config.hparams())


def test_vmap_over_seeds_equals_separate_runs():
    config = PQNConfig(**TINY)
    agent_contract.assert_vmap_equals_separate_runs(_tiny(), config.hparams())


def test_epsilon_anneals_linearly_then_holds():
    config = PQNConfig(**TINY, exploration_fraction=0.5)  # 6 updates: decay over the first 3
    _, metrics = _train(config)
    np.testing.assert_allclose(
        metrics.epsilon, [1.0, 1 - 0.95 / 3, 1 - 2 * 0.95 / 3, 0.05, 0.05, 0.05], rtol=1e-6
    )


def test_minatar_network_builds():
    config = PQNConfig(env="Breakout-MinAtar", **TINY)
    algo = PQN(config)
    state = algo.init(jax.random.PRNGKey(0), config.hparams())
    assert state.rollout.obs.shape == (8, 10, 10, 4)
    _, metrics = jax.jit(algo.update)(state)
    assert np.isfinite(metrics.td_loss)


# --- learning checks ----------------------------------------------------------------------


def _final_eval(config, seeds):
    return agent_contract.final_eval_returns(PQN(config), config, seeds, chunk_size=512)


def test_cartpole_learns_at_ci_budget():
    # Reduced check for CI: 4 seeds x 1.5e5 steps at lr 3e-4 (the defaults' 1e-4 needs ~5e5).
    # Measured mean evaluation returns per seed: 500, 344, 500, 500 (mean 461; random play
    # scores ~22), in 31 s of training on a loaded 2-core machine. At 1e5 steps the same
    # config gave 301, 254, 215, 490 (mean 315): too close to call, hence 1.5e5.
    returns = _final_eval(
        PQNConfig(total_timesteps=150_000, learning_rate=3e-4), seeds=[0, 1, 2, 3]
    )
    assert returns.mean() >= 350.0, returns


@pytest.mark.slow
def test_cartpole_full_budget_8_seeds():
    # The PQNConfig defaults (32 envs x 64 steps, 4 epochs x 16 minibatches, lr 1e-4, lambda
    # 0.65, epsilon 1 -> 0.05 over the first 20%), 5e5 steps per seed.
    # Measured per seed: 500, 500, 500, 500, 464.3, 500, 500, 477.9 (mean 492.8; 7 of 8 at
    # >= 475; the last 10 updates' training return was 500 on every seed), 87 s for all 8
    # seeds in one vmapped batch on a loaded 2-core machine.
    returns = _final_eval(PQNConfig(), seeds=list(range(8)))
    assert returns.mean() >= 475.0, returns
    assert (returns >= 475.0).sum() >= 6, returns
