"""The env interface: names, the brax adapter's truncation handling, and the wrappers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from rljax.environment import UnknownEnvironmentError, action_spec, check_env_name
from rljax.wrappers import (
    ClipAction,
    EpisodeStatistics,
    EpisodeStatisticsState,
    NormalizeObservation,
    RescaleAction,
    RunningMeanStd,
    Trials,
    VecEnv,
)


def test_every_registered_name_resolves_offline():
    names = rljax.registered_names()
    assert "CartPole-v1" in names and "brax/ant" in names and "Breakout-MinAtar" in names
    assert "MNISTBandit-bsuite" not in names  # downloads MNIST on construction
    for name in names:
        if name.startswith(("brax/", "playground/")):
            # Constructing every MJX model is slow (the 25 playground envs: ~60 s); brax is
            # covered below; tests/test_playground.py checks the playground names against the
            # package's list and builds CartpoleBalance.
            continue
        env, params = rljax.make(name)
        # Traced, not run: executing every env op by op took ~30 s; the wiring is what is
        # checked here (each env's dynamics are covered by its own tests and by training).
        obs, state = jax.eval_shape(env.reset, jax.random.PRNGKey(0), params)
        assert obs.shape == env.observation_space(params).shape, name
        action = env.action_space(params).sample(jax.random.PRNGKey(1))
        out = jax.eval_shape(env.step, jax.random.PRNGKey(2), state, action, params)
        assert len(out) == 6, name
        assert "final_observation" in out[5], name
        assert out[5]["final_observation"].shape == obs.shape, name


def test_unknown_env_name_suggests_close_matches():
    with pytest.raises(
        UnknownEnvironmentError, match=r"env='CartPole-v2'.*Did you mean 'CartPole-v1'"
    ):
        check_env_name("CartPole-v2")


def test_brax_adapter_reports_truncation_and_true_final_observation():
    env, params = rljax.make("brax/inverted_pendulum", episode_length=5)
    assert params.max_steps_in_episode == 5
    assert not action_spec(env, params).discrete
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    zero = jnp.zeros((1,))
    for t in range(5):
        new_obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(t), state, zero, params
        )
        assert not bool(terminated)
        assert bool(truncated) == (t == 4)
        if t < 4:
            np.testing.assert_array_equal(info["final_observation"], new_obs)
    # On truncation the returned obs is a fresh reset, the final obs is the pre-reset one.
    assert not np.allclose(info["final_observation"], new_obs)
    assert int(state.time) == 0


@pytest.mark.parametrize("name", ["brax/inverted_pendulum", "brax/positional/inverted_pendulum"])
def test_brax_adapter_reports_termination_when_the_pole_falls(name):
    """On brax's generalized pipeline and on the positional one (`brax/positional/NAME`,
    PureJaxRL's): both step the same model."""
    env, params = rljax.make(name)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    step = jax.jit(env.step)
    for t in range(200):
        obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(t), state, jnp.ones((1,)), params
        )
        if bool(terminated):
            break
    assert bool(terminated) and not bool(truncated)
    assert abs(float(info["final_observation"][1])) > 0.2  # the pole angle that ended it


def test_a_brax_name_can_name_its_pipeline():
    """`brax/NAME` is brax's generalized pipeline, `brax/positional/NAME` PureJaxRL's."""
    generalized, _ = rljax.make("brax/inverted_pendulum")
    positional, _ = rljax.make("brax/positional/inverted_pendulum")
    assert (generalized.backend, positional.backend) == ("generalized", "positional")
    assert positional.name == "inverted_pendulum"
    assert "brax/spring/ant" in rljax.registered_names()
    with pytest.raises(UnknownEnvironmentError, match="'brax/swimmer'"):
        check_env_name("brax/positional/swimmer")  # brax builds swimmer with generalized only


def test_building_a_brax_env_leaves_no_mujoco_log_in_the_working_directory(
    tmp_path, monkeypatch, caplog
):
    """brax's halfcheetah model makes MuJoCo warn; without a handler MuJoCo writes the warning
    to a MUJOCO_LOG.TXT it creates in the working directory. It goes to the log instead."""
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("DEBUG", logger="rljax.brax"):
        rljax.make("brax/halfcheetah")
    assert not list(tmp_path.iterdir())
    assert any("settotalmass" in r.getMessage() for r in caplog.records)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_episode_statistics_return_is_sum_of_rewards(seed):
    env, params = rljax.make("CartPole-v1")
    env = EpisodeStatistics(env)
    key = jax.random.PRNGKey(seed)
    obs, state = env.reset(key, params)
    total, step = 0.0, jax.jit(env.step)
    for t in range(600):
        key, k = jax.random.split(key)
        obs, state, reward, term, trunc, info = step(
            k, state, jax.random.randint(k, (), 0, 2), params
        )
        total += float(reward)
        if bool(info["episode_done"]):
            assert float(info["episode_return"]) == pytest.approx(total)
            assert int(info["episode_length"]) == t + 1
            assert bool(term) or bool(trunc)
            return
    pytest.fail("a random CartPole episode should end within 500 steps")


def test_vec_env_steps_copies_apart_and_auto_resets_keeping_the_final_observation():
    """3 CartPole copies, always pushing left: each terminates when the pole passes 12 degrees
    (0.2095 rad) or the cart 2.4; at that step the returned obs is a fresh reset (every value
    within gymnax's +-0.05), `final_observation` is the pre-reset one past the threshold, and
    the episode statistics count 1 per step of that episode alone. With a 5-step limit and
    alternating pushes the episode ends by truncation instead, not termination."""
    env, params = rljax.make("CartPole-v1")
    venv = VecEnv(EpisodeStatistics(env), 3)
    obs, state = venv.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (3, 4) and len({tuple(np.asarray(o)) for o in obs}) == 3
    step = jax.jit(venv.step)
    episodes, start = np.zeros(3, int), np.zeros(3, int)  # episodes ended, step each began
    for t in range(1, 80):
        obs, state, reward, term, trunc, info = step(
            jax.random.PRNGKey(t), state, jnp.zeros(3, jnp.int32), params
        )
        assert reward.shape == term.shape == trunc.shape == (3,)
        assert info["final_observation"].shape == (3, 4)
        term, final = np.asarray(term), np.asarray(info["final_observation"])
        for i in np.flatnonzero(term):
            assert abs(final[i, 2]) > 0.2095 or abs(final[i, 0]) > 2.4, final[i]
            assert np.all(np.abs(np.asarray(obs[i])) <= 0.05), obs[i]
            length = t - start[i]
            assert int(info["episode_length"][i]) == length == float(info["episode_return"][i])
            assert not np.asarray(trunc)[i]
            episodes[i], start[i] = episodes[i] + 1, t
        not_done = ~(term | np.asarray(trunc))
        np.testing.assert_array_equal(np.asarray(obs)[not_done], final[not_done])
    assert (episodes >= 2).all(), episodes  # the statistics restart after an auto-reset

    short = params.replace(max_steps_in_episode=5)
    obs, state = venv.reset(jax.random.PRNGKey(1), short)
    for t in range(5):
        obs, state, _, term, trunc, info = step(
            jax.random.PRNGKey(t), state, jnp.full(3, t % 2, jnp.int32), short
        )
    assert np.asarray(trunc).all() and not np.asarray(term).any()
    assert np.asarray(info["episode_length"]).tolist() == [5, 5, 5]
    assert not np.array_equal(np.asarray(obs), np.asarray(info["final_observation"]))


@settings(max_examples=20, deadline=None)
@given(action=st.floats(-5, 5), seed=st.integers(0, 1000))
def test_clip_and_rescale_actions_stay_in_bounds(action, seed):
    env, params = rljax.make("Pendulum-v1")
    space = env.action_space(params)
    obs, state = env.reset(jax.random.PRNGKey(seed), params)
    a = jnp.array([action])
    # Pendulum's reward is -(theta^2 + .1 thetadot^2 + .001 u^2): the torque it applied is
    # visible through the reward, so both wrappers must give the bounded torque's reward.
    clipped = float(jnp.clip(a, space.low, space.high)[0])
    _, _, r_clip, *_ = ClipAction(env).step(jax.random.PRNGKey(1), state, a, params)
    _, _, r_ref, *_ = env.step(jax.random.PRNGKey(1), state, jnp.array([clipped]), params)
    assert float(r_clip) == pytest.approx(float(r_ref), rel=1e-6)
    rescaled = RescaleAction(env)
    assert float(rescaled.action_space(params).high[0]) == 1.0
    low, high = float(np.min(space.low)), float(np.max(space.high))  # gymnax: scalar bounds
    u = low + (np.clip(action, -1, 1) + 1) / 2 * (high - low)
    _, _, r_resc, *_ = rescaled.step(jax.random.PRNGKey(1), state, a, params)
    _, _, r_ref2, *_ = env.step(jax.random.PRNGKey(1), state, jnp.array([u]), params)
    assert float(r_resc) == pytest.approx(float(r_ref2), rel=1e-5)


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(6, 50, 2)).astype(np.float32)
    stats = RunningMeanStd.create((2,))
    for batch in data:
        stats = stats.update(jnp.asarray(batch))
    flat = data.reshape(-1, 2)
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-3)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-2)


def test_normalize_observation_shares_stats_and_freezes_for_evaluation():
    env, params = rljax.make("CartPole-v1")
    norm = NormalizeObservation(VecEnv(env, 8))
    obs, state = norm.reset(jax.random.PRNGKey(0), params)
    for t in range(20):
        obs, state, *_ = norm.step(jax.random.PRNGKey(t), state, jnp.zeros(8, jnp.int32), params)
    assert state.stats.mean.shape == (4,)  # one set of statistics for the whole batch
    frozen_obs, frozen = norm.reset_frozen(jax.random.PRNGKey(1), params, state.stats)
    _, after, *_ = norm.step(jax.random.PRNGKey(2), frozen, jnp.zeros(8, jnp.int32), params)
    np.testing.assert_array_equal(after.stats.mean, state.stats.mean)


def test_normalize_observation_statistics_are_those_of_every_observation_seen():
    """The running statistics equal the mean and variance of the raw observations of the
    reset and every step (8 envs x 21), and each returned observation is normalised with the
    statistics including it: hand-computed from the same steps of the unwrapped batch."""
    env, params = rljax.make("CartPole-v1")
    raw_env = VecEnv(env, 8)
    norm = NormalizeObservation(raw_env)
    obs, state = norm.reset(jax.random.PRNGKey(0), params)
    raw_obs, raw_state = raw_env.reset(jax.random.PRNGKey(0), params)
    seen = [np.asarray(raw_obs)]
    for t in range(20):
        action = jnp.asarray(np.arange(8) % 2, jnp.int32)
        obs, state, *_ = norm.step(jax.random.PRNGKey(t), state, action, params)
        raw_obs, raw_state, *_ = raw_env.step(jax.random.PRNGKey(t), raw_state, action, params)
        seen.append(np.asarray(raw_obs))
    seen = np.concatenate(seen)  # [168, 4]
    np.testing.assert_allclose(float(state.stats.count), 168 + 1e-4, rtol=1e-6)
    np.testing.assert_allclose(state.stats.mean, seen.mean(0), rtol=1e-4, atol=1e-6)
    # The prior (variance 1 at count 1e-4) weighs 1e-4 / 168 of the estimate.
    np.testing.assert_allclose(state.stats.var, seen.var(0), rtol=1e-3, atol=1e-6)
    expected = (seen[-8:] - seen.mean(0)) / np.sqrt(seen.var(0) + 1e-8)
    np.testing.assert_allclose(obs, np.clip(expected, -10, 10), rtol=1e-3, atol=1e-4)


class _Countdown:
    """A task env for `Trials`: the task is an episode length `n`; obs is the step count
    within the episode, reward 1 per step, terminated at step `n`, auto-reset onto `n`."""

    default_params = None
    max_episode_steps = 10

    def reset_to(self, key, task, params):
        return jnp.zeros((1,), jnp.float32), (jnp.int32(0), task)

    def step(self, key, state, action, params):
        t, n = state[0] + 1, state[1]
        end = t >= n
        obs = jnp.where(end, 0.0, t).astype(jnp.float32)[None]
        info = {"final_observation": t.astype(jnp.float32)[None]}
        return obs, (jnp.where(end, 0, t), n), jnp.float32(1), end, jnp.bool_(False), info


def test_trials_hide_every_episode_end_but_the_trials_last():
    """Three episodes of 2 steps make one trial of 6 steps: the inner ends (steps 2 and 4)
    are neither terminated nor truncated and continue into the next episode's first
    observation; the trial ends terminated at step 6 with return 6, then starts again."""
    env = EpisodeStatistics(Trials(_Countdown(), 3))
    assert env.max_episode_steps == 30
    obs, inner = env.env.reset_to(jax.random.PRNGKey(0), jnp.int32(2), None)
    state = EpisodeStatisticsState(inner, jnp.float32(0), jnp.int32(0))  # as reset_to_tasks
    seen = []
    for _ in range(8):
        obs, state, reward, terminated, truncated, info = env.step(None, state, 0, None)
        seen.append(
            (float(obs[0]), bool(terminated), bool(truncated), float(info["final_observation"][0]))
        )
        if terminated:
            assert float(info["episode_return"]) == 6.0 and int(info["episode_length"]) == 6
    assert seen == [
        (1.0, False, False, 1.0),
        (0.0, False, False, 0.0),  # the first episode's end, hidden: the next one's start
        (1.0, False, False, 1.0),
        (0.0, False, False, 0.0),
        (1.0, False, False, 1.0),
        (0.0, True, False, 2.0),  # the trial's end: the true final observation
        (1.0, False, False, 1.0),
        (0.0, False, False, 0.0),
    ]
