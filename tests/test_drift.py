"""Drift functions: the Mirror Learning conditions, DPO's closed form, LPO = PPO at zero
weights (pointwise and for a whole run), compile-once over LPO weights, and MDPO learning."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rljax
from rljax.objectives import DRIFTS, DPODrift, LPODrift, MDPODrift, PPOClipDrift, TALPODrift
from tests import agent_contract

TINY = dict(total_timesteps=4 * 128 * 6, num_envs=4, num_steps=128)

# float32 draws (the dtype the drifts see); the bounds must be float32 numbers themselves.
RATIO = st.floats(float(np.float32(0.05)), 5.0, allow_nan=False, width=32)
ADVANTAGE = st.floats(-10.0, 10.0, allow_nan=False, width=32)
# (k - 1) / K for K = 10: the first, a middle and the last update.
PROGRESS = st.sampled_from([0.0, 0.5, 0.9])

# The built-in closed-form drifts at their default meta-parameters (clip epsilon 0.2).
BUILT_IN = {name: DRIFTS[name] for name in ("ppo_clip", "dpo", "mdpo")}


def _drift_fn(name):
    """`D(r, A, progress)` on scalars at the drift's default meta-parameters, jitted once."""
    drift = DRIFTS[name]
    params = drift.init_params(0.2)
    return jax.jit(lambda r, a, p: drift(params, r, a, p))


_DRIFT_FNS = {name: _drift_fn(name) for name in BUILT_IN}
_DRIFT_GRADS = {name: jax.jit(jax.grad(fn)) for name, fn in _DRIFT_FNS.items()}


def test_registry_holds_every_drift():
    assert set(DRIFTS) >= {"ppo_clip", "dpo", "mdpo", "lpo", "talpo"}
    assert isinstance(DRIFTS["dpo"], DPODrift)
    assert isinstance(DRIFTS["mdpo"], MDPODrift)
    assert isinstance(DRIFTS["lpo"], LPODrift) and not DRIFTS["lpo"].temporally_aware
    assert isinstance(DRIFTS["talpo"], TALPODrift) and DRIFTS["talpo"].temporally_aware
    for drift in DRIFTS.values():
        hash(drift)  # static, so it can sit in a jitted closure


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=60, deadline=None)
@given(ratio=RATIO, advantage=ADVANTAGE, progress=PROGRESS)
def test_drift_is_non_negative(name, ratio, advantage, progress):
    d = _DRIFT_FNS[name](jnp.float32(ratio), jnp.float32(advantage), jnp.float32(progress))
    assert np.isfinite(d) and d >= 0.0, (ratio, advantage, progress, d)


@pytest.mark.parametrize("name", sorted(BUILT_IN))
@settings(max_examples=30, deadline=None)
@given(advantage=ADVANTAGE, progress=PROGRESS)
def test_drift_and_its_slope_vanish_at_ratio_one(name, advantage, progress):
    args = (jnp.float32(1.0), jnp.float32(advantage), jnp.float32(progress))
    assert _DRIFT_FNS[name](*args) == 0.0
    assert _DRIFT_GRADS[name](*args) == 0.0


@settings(max_examples=30, deadline=None)
@given(ratio=RATIO, advantage=ADVANTAGE, progress=PROGRESS)
def test_mdpo_is_the_annealed_kl_estimate(ratio, advantage, progress):
    # D = (r log r - r + 1) / (1 - progress), independent of A, in float64 on the host.
    expected = (ratio * np.log(ratio) - ratio + 1.0) / (1.0 - progress)
    d = _DRIFT_FNS["mdpo"](jnp.float32(ratio), jnp.float32(advantage), jnp.float32(progress))
    np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("ratio", "advantage", "expected"),
    [
        # A >= 0: u = (1.5 - 1) * 1 = 0.5; alpha * tanh(u / alpha) = 2 * tanh(0.25)
        # = 2 * 0.2449186624 = 0.4898373248; D = 0.5 - 0.4898373248 = 0.0101626752.
        (1.5, 1.0, 0.0101626752),
        # A >= 0: u = (3 - 1) * 2 = 4; 2 * tanh(2) = 2 * 0.9640275801 = 1.9280551602;
        # D = 4 - 1.9280551602 = 2.0719448398.
        (3.0, 2.0, 2.0719448398),
        # A < 0: u = log(0.5) * -1 = 0.6931471806; u / beta = 1.1552453009;
        # tanh(1.1552453009) = 0.8194842948; beta * that = 0.4916905769;
        # D = 0.6931471806 - 0.4916905769 = 0.2014566037.
        (0.5, -1.0, 0.2014566037),
        # A < 0, r > 1: u = log(2) * -1 < 0, a move against the advantage: D = 0.
        (2.0, -1.0, 0.0),
    ],
)
def test_dpo_closed_form_values(ratio, advantage, expected):
    d = _DRIFT_FNS["dpo"](jnp.float32(ratio), jnp.float32(advantage), jnp.float32(0.0))
    np.testing.assert_allclose(d, expected, rtol=2e-6, atol=1e-7)


def _random_lpo_params(drift, key, scale=0.3, offset=0.0):
    k1, k2 = jax.random.split(key)
    params = drift.init_params(0.2)
    return params.replace(
        w_hidden=scale * jax.random.normal(k1, params.w_hidden.shape),
        w_out=scale * jax.random.normal(k2, params.w_out.shape),
        offset=jnp.float32(offset),
    )


def _ratio_grad(drift, params, ratio, advantage, progress):
    """dD/dr `[B]`, elementwise (D's entries depend only on their own ratio)."""
    return jax.grad(lambda r: drift(params, r, advantage, progress).sum())(ratio)


@pytest.mark.parametrize("name", ["lpo", "talpo"])
def test_lpo_at_zero_weights_is_ppo_clip_bitwise(name):
    drift, ppo = DRIFTS[name], PPOClipDrift()
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    ratio = jnp.exp(0.5 * jax.random.normal(k1, (4096,)))
    advantage = 3.0 * jax.random.normal(k2, (4096,))
    for progress in (0.0, 0.37, 0.9):
        progress = jnp.float32(progress)
        for eps in (0.1, 0.2, 0.3):
            params = drift.init_params(eps)
            np.testing.assert_array_equal(
                drift(params, ratio, advantage, progress),
                ppo(ppo.init_params(eps), ratio, advantage, progress),
            )
            # Gradients too: a PPO run and a zero-weight LPO run take the same steps.
            np.testing.assert_array_equal(
                _ratio_grad(drift, params, ratio, advantage, progress),
                _ratio_grad(ppo, ppo.init_params(eps), ratio, advantage, progress),
            )


@pytest.mark.parametrize("name", ["lpo", "talpo"])
@settings(max_examples=30, deadline=None)
@given(ratio=RATIO, advantage=ADVANTAGE, progress=PROGRESS, seed=st.integers(0, 2**31 - 1))
def test_lpo_with_any_weights_is_a_drift_value(name, ratio, advantage, progress, seed):
    # Any weights give D >= 0 (outer ReLU) and D(1, A) = 0 (no biases, zero inputs at r = 1).
    drift = DRIFTS[name]
    params = _random_lpo_params(drift, jax.random.PRNGKey(seed))
    r, a = jnp.float32([ratio, 1.0]), jnp.float32([advantage, advantage])
    d = drift(params, r, a, jnp.float32(progress))
    assert np.all(np.isfinite(d)) and d[0] >= 0.0 and d[1] == 0.0


def _train(config, seed=0, hparams=None):
    fn = jax.jit(functools.partial(rljax.train, rljax.PPO(config)))
    return fn(jax.random.PRNGKey(seed), hparams if hparams is not None else config.hparams())


@functools.cache
def _tiny_ppo_run():
    """The PPO run both zero-weight LPO variants are compared with, compiled and run once."""
    return _train(rljax.PPOConfig(drift="ppo_clip", **TINY))


@pytest.mark.parametrize("name", ["lpo", "talpo"])
def test_zero_weight_lpo_trains_exactly_like_ppo(name):
    ppo_state, ppo_metrics = _tiny_ppo_run()
    lpo_state, lpo_metrics = _train(rljax.PPOConfig(drift=name, **TINY))
    for a, b in zip(
        jax.tree.leaves(ppo_state.params), jax.tree.leaves(lpo_state.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ppo_metrics.policy_loss, lpo_metrics.policy_loss)


def test_changing_lpo_weights_does_not_recompile(count_compilations):
    config = rljax.PPOConfig(drift="lpo", **TINY)
    drift = DRIFTS["lpo"]
    # Everything that itself compiles (PRNG ops) happens before counting starts.
    key = jax.random.PRNGKey(0)
    first = config.hparams().replace(
        drift_params=_random_lpo_params(drift, jax.random.PRNGKey(1), scale=0.1)
    )
    second = config.hparams().replace(
        drift_params=_random_lpo_params(drift, jax.random.PRNGKey(2), scale=0.1, offset=0.01)
    )
    jax.block_until_ready((key, first, second))
    train = jax.jit(functools.partial(rljax.train, rljax.PPO(config)))
    with count_compilations() as compiles:
        out_a = train(key, first)
        out_b = train(key, second)
        jax.block_until_ready((out_a, out_b))
    assert compiles.value == 1
    assert not np.array_equal(out_a[1].policy_loss, out_b[1].policy_loss)


def test_unknown_drift_is_refused():
    with pytest.raises(rljax.ConfigError) as error:
        rljax.PPOConfig(drift="nope")
    message = str(error.value)
    assert "drift" in message and "'nope'" in message
    for name in ("ppo_clip", "dpo", "mdpo", "lpo", "talpo"):
        assert name in message
    with pytest.raises(ValueError, match="unknown"):
        rljax.objectives.make_drift("nope")


def _final_eval(config, seeds):
    return agent_contract.final_eval_returns(rljax.PPO(config), config, seeds, chunk_size=256)


def test_mdpo_matches_ppo_on_cartpole():
    # 4 seeds x 1e5 steps, PPO's CartPole defaults otherwise (4 epochs x 4 minibatches,
    # lr 2.5e-4 annealed): MDPO needs no retuning. Measured mean evaluation returns per seed
    # [0, 1, 2, 3]: PPO 434.2, 478.5, 492.0, 387.5 (mean 448.1); MDPO 385.8, 466.6, 439.6, 404.0
    # (mean 424.0); random play ~22. Per-seed spread is ~40, so a difference of means has a
    # standard deviation of ~30: the margin of 75 is ~2.5 of them. (With update_epochs=10, the
    # paper's many-steps-per-batch regime, MDPO measured 500.0, 492.7, 500.0, 493.1; DPO at the
    # defaults 500.0, 491.1, 437.1, 399.6. Neither is asserted, to keep this test to two runs.)
    seeds = [0, 1, 2, 3]
    ppo = _final_eval(rljax.PPOConfig(total_timesteps=100_000), seeds)
    mdpo = _final_eval(rljax.PPOConfig(total_timesteps=100_000, drift="mdpo"), seeds)
    assert mdpo.mean() >= 300.0, (mdpo, ppo)
    assert mdpo.mean() >= ppo.mean() - 75.0, (mdpo, ppo)
