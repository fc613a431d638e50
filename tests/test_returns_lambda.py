"""Q(lambda) returns (rljax.returns.q_lambda_returns) against hand computations."""

import jax.numpy as jnp
import numpy as np

from rljax.returns import q_lambda_returns


def test_q_lambda_matches_hand_computation_with_termination_and_truncation():
    # t=0 ordinary, t=1 terminated, t=2 ordinary, t=3 truncated (bootstraps one-step from
    # max Q(final obs) = 2.0), t=4 ordinary, cut off by the rollout end (bootstraps from 0.4).
    gamma, lam = 0.9, 0.5
    rewards = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0])
    next_q = jnp.array([0.6, 5.0, 1.0, 2.0, 0.4])  # 5.0 must be ignored: termination
    terminated = jnp.array([False, True, False, False, False])
    truncated = jnp.array([False, False, False, True, False])
    returns = q_lambda_returns(rewards, next_q, terminated, truncated, gamma, lam)
    # R_4 = 1 + .9 * .4 = 1.36                          (end of rollout: one-step)
    # R_3 = 1 + .9 * 2.0 = 2.8                          (truncated: one-step, R_4 not used)
    # R_2 = 1 + .9 * (.5 * 1.0 + .5 * 2.8) = 2.71
    # R_1 = 1                                           (terminated: no bootstrap)
    # R_0 = 1 + .9 * (.5 * .6 + .5 * 1.0) = 1.72
    np.testing.assert_allclose(returns, [1.72, 1.0, 2.71, 2.8, 1.36], rtol=1e-6)


def test_q_lambda_zero_is_one_step_q_learning_target():
    rewards = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    next_q = jnp.array([[0.5, 1.5], [2.5, 3.5]])
    flags = jnp.zeros((2, 2), bool)
    returns = q_lambda_returns(rewards, next_q, flags, flags, 0.5, 0.0)
    np.testing.assert_allclose(returns, rewards + 0.5 * next_q)


def test_q_lambda_one_is_discounted_return_with_final_bootstrap():
    # lambda = 1 with no boundary: the Monte-Carlo return bootstrapped at the rollout end.
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    next_q = jnp.array([[100.0], [100.0], [4.0]])  # inner values unused when lambda = 1
    flags = jnp.zeros((3, 1), bool)
    returns = q_lambda_returns(rewards, next_q, flags, flags, 0.5, 1.0)
    # R_2 = 3 + .5 * 4 = 5; R_1 = 2 + .5 * 5 = 4.5; R_0 = 1 + .5 * 4.5 = 3.25
    np.testing.assert_allclose(returns[:, 0], [3.25, 4.5, 5.0])
