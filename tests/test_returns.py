import jax.numpy as jnp
import numpy as np

from rljax.returns import RewardNormalizer, gae, normalize_rewards


def test_gae_matches_hand_computation_with_termination_and_truncation():
    # t=0 ordinary, t=1 terminated, t=2 truncated (bootstraps from V(final obs) = 2.0),
    # t=3 ordinary, cut off by the end of the rollout (bootstraps from V(s_4) = 0.4).
    gamma, lam = 0.9, 0.8
    rewards = jnp.array([1.0, 1.0, 1.0, 1.0])
    values = jnp.array([0.5, 0.6, 0.7, 0.8])
    next_values = jnp.array([0.6, 5.0, 2.0, 0.4])  # 5.0 must be ignored: termination
    terminated = jnp.array([False, True, False, False])
    truncated = jnp.array([False, False, True, False])
    adv, targets = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    # delta_0 = 1 + .9 * .6 - .5 = 1.04;  delta_1 = 1 - .6 = .4 (no bootstrap)
    # delta_2 = 1 + .9 * 2 - .7 = 2.1;    delta_3 = 1 + .9 * .4 - .8 = .56
    # A_3 = .56; A_2 = 2.1 (episode boundary); A_1 = .4; A_0 = 1.04 + .9 * .8 * .4 = 1.328
    np.testing.assert_allclose(adv, [1.328, 0.4, 2.1, 0.56], rtol=1e-6)
    np.testing.assert_allclose(targets, np.asarray(adv) + np.asarray(values), rtol=1e-6)


def test_gae_lambda_one_is_discounted_return_minus_value():
    rewards = jnp.array([[1.0], [2.0], [3.0]])
    values = jnp.zeros((3, 1))
    next_values = jnp.zeros((3, 1))
    flags = jnp.zeros((3, 1), bool)
    adv, _ = gae(rewards, values, next_values, flags, flags, 0.5, 1.0)
    np.testing.assert_allclose(adv[:, 0], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0])


def test_gae_batched_envs_are_independent():
    rewards = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    zeros = jnp.zeros((2, 2))
    flags = jnp.zeros((2, 2), bool)
    adv, _ = gae(rewards, zeros, zeros, flags, flags, 1.0, 1.0)
    np.testing.assert_allclose(adv, [[1.0, 1.0], [0.0, 1.0]])


def test_reward_normalisation_divides_by_the_running_std_of_the_discounted_return():
    """Two envs, gamma 0.5; env 0's episode ends at t = 1. Discounted returns
    R_t = r_t + 0.5 (1 - done_{t-1}) R_{t-1}: env 0: 1, 2.5, then 3 (restarted); env 1: 2, 1,
    2.5. The statistics take in each step's two R's (their 1e-4 prior count is negligible):
    after t = 1 the four R's have variance 0.421875, after t = 2 the six have mean 2 and
    variance 3.5 / 6. (PureJaxRL's order would give env 0 R_1 = 2 instead.)"""
    rewards = jnp.array([[1.0, 2.0], [2.0, 0.0], [3.0, 2.0]])
    done = jnp.array([[False, False], [True, False], [False, False]])
    norm, scaled = normalize_rewards(RewardNormalizer.create(2), rewards, done, 0.5)
    np.testing.assert_allclose(norm.stats.mean, 2.0, rtol=1e-3)
    np.testing.assert_allclose(norm.stats.var, 3.5 / 6, rtol=1e-3)
    np.testing.assert_allclose(norm.stats.count, 6.0, rtol=1e-3)
    np.testing.assert_allclose(norm.returns, [3.0, 2.5])  # env 0 restarted after t = 1
    np.testing.assert_allclose(scaled[0], np.array([1.0, 2.0]) / np.sqrt(0.25), rtol=1e-3)
    np.testing.assert_allclose(scaled[1], np.array([2.0, 0.0]) / np.sqrt(0.421875), rtol=1e-3)
    np.testing.assert_allclose(scaled[2], np.array([3.0, 2.0]) / np.sqrt(3.5 / 6), rtol=1e-3)
