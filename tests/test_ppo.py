"""PPO: bad config, compile-once, determinism, vmap equivalence, and learning checks."""

import functools

import jax
import numpy as np
import pytest

import rljax
from tests import agent_contract

TINY = dict(total_timesteps=4 * 128 * 6, num_envs=4, num_steps=128)
ENDS = dict(total_timesteps=12, num_envs=2, num_steps=6, num_minibatches=1)
"""One rollout of two 3-step episodes per env on `agent_contract.EndsAfterThree`."""


@functools.cache
def _tiny() -> rljax.PPO:
    """One algorithm object for the contract tests, so they share one compiled `train`."""
    return rljax.PPO(rljax.PPOConfig(**TINY))


def _train(config, seed=0, hparams=None):
    algo = rljax.PPO(config)
    fn = jax.jit(functools.partial(rljax.train, algo))
    return fn(jax.random.PRNGKey(seed), hparams if hparams is not None else config.hparams())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(env="CartPole-v9"), "env"),
        (dict(learning_rate=-1e-3), "learning_rate"),
        (dict(num_envs=3, num_steps=10, num_minibatches=4), "num_minibatches"),
        (dict(gamma=1.5), "gamma"),
        (dict(total_timesteps=100), "total_timesteps"),
        (dict(activation="gelu"), "activation"),
        (dict(learning_rate=float("inf")), "learning_rate=inf must be finite"),
        (dict(max_grad_norm=float("nan")), "max_grad_norm=nan must be finite"),
        (dict(gae_lambda=float("nan")), "gae_lambda=nan must be finite"),
        (dict(ent_coef=float("inf")), "ent_coef=inf must be finite"),
        (dict(learning_rate="1e-3"), "learning_rate='1e-3' is a str, not a float"),
        (dict(num_envs=4.0), "num_envs=4.0 is a float, not an int. Fix: pass an int"),
    ],
)
def test_bad_config_is_refused_before_compiling(changes, field, count_compilations):
    # A first validation imports the env registry, whose modules build small arrays at import
    # (XLA compilations that depend on which test ran first, not on this config).
    rljax.PPOConfig()
    with count_compilations() as compiles, pytest.raises(ValueError) as error:
        rljax.PPOConfig(**changes)
    message = str(error.value)
    assert field in message
    assert "Fix:" in message or "Did you mean" in message
    assert compiles.value == 0


def test_run_compiles_one_chunk_program_for_a_partial_last_chunk(count_compilations):
    hparams = rljax.PPOConfig(**TINY).hparams()
    state = agent_contract.assert_run_compiles_one_chunk_program(
        _tiny(), hparams, count_compilations
    )
    assert (state.update_step == 5).all()  # chunks of 2, 2 and a partial 1


def test_value_targets_bootstrap_on_truncation_only():
    agent_contract.assert_bootstraps_on_truncation_only(
        lambda env: rljax.PPO(rljax.PPOConfig(env=env, gae_lambda=0.0, **ENDS))
    )


def test_same_seed_gives_identical_results():
    config = rljax.PPOConfig(**TINY)
    agent_contract.assert_same_seed_same_run(_tiny(), config.hparams())


def test_vmap_over_seeds_equals_separate_runs():
    config = rljax.PPOConfig(**TINY)
    # atol 1e-4: on one 2-core machine type the vmapped run's parameters differ from the
    # separate run's by up to 1.05e-5 (float summation order, grown over the updates), e.g.
    # 0.0076329 against 0.0076263; seed 1's differ from seed 0's by up to 0.96.
    agent_contract.assert_vmap_equals_separate_runs(_tiny(), config.hparams(), rtol=1e-4, atol=1e-4)


def test_vmap_over_hyperparameters_does_not_recompile(count_compilations):
    config = rljax.PPOConfig(**TINY)
    algo = rljax.PPO(config)
    sweep = jax.jit(jax.vmap(functools.partial(rljax.train, algo)))
    keys = rljax.seed_keys([0, 0, 0, 0])

    def grid(lrs, gammas, lambdas, clips, ents):
        return rljax.stack_hparams(
            [
                config.replace(
                    learning_rate=a, gamma=b, gae_lambda=c, clip_eps=d, ent_coef=e
                ).hparams()
                for a, b, c, d, e in zip(lrs, gammas, lambdas, clips, ents, strict=True)
            ]
        )

    first = grid(
        [1e-4, 3e-4, 1e-3, 3e-3],
        [0.9, 0.95, 0.99, 0.999],
        [0.8, 0.9, 0.95, 1.0],
        [0.1, 0.2, 0.3, 0.4],
        [0.0, 0.01, 0.02, 0.05],
    )
    second = grid([2e-4, 5e-4, 2e-3, 5e-3], [0.97] * 4, [0.9] * 4, [0.25] * 4, [0.001] * 4)
    with count_compilations() as compiles:
        out_a = sweep(keys, first)
        out_b = sweep(keys, second)
        jax.block_until_ready((out_a, out_b))
    assert compiles.value == 1
    losses = np.asarray(out_a[1].value_loss[:, -1])
    assert len(np.unique(losses)) == 4  # the same seed, four different runs
    assert not np.allclose(out_a[1].value_loss, out_b[1].value_loss)


def test_continuous_and_image_networks_build():
    for env, shape in (("Pendulum-v1", (3,)), ("Breakout-MinAtar", (10, 10, 4))):
        algo = rljax.PPO(rljax.PPOConfig(env=env, **TINY))
        state = jax.jit(algo.init)(jax.random.PRNGKey(0), algo.config.hparams())
        assert state.rollout.obs.shape == (4, *shape)
        state, metrics = jax.jit(algo.update)(state)
        assert np.isfinite(metrics.value_loss)


# --- learning checks ----------------------------------------------------------------------


def _final_eval(config, seeds):
    return agent_contract.final_eval_returns(rljax.PPO(config), config, seeds, chunk_size=256)


@pytest.mark.parametrize("grad_clip", ["global_norm", "element"])
def test_cartpole_learns_at_ci_budget(grad_clip):
    # Reduced check for CI: 4 seeds x 1e5 steps, where we measured mean evaluation returns of
    # 420-455 with global-norm clipping and 441 (391.6, 372.8, 500, 500) with per-element
    # clipping (random play scores ~22). The full 16 x 5e5 check is the slow test below.
    config = rljax.PPOConfig(total_timesteps=100_000, grad_clip=grad_clip)
    returns = _final_eval(config, seeds=[0, 1, 2, 3])
    assert returns.mean() >= 300.0, returns


PENDULUM = dict(
    env="Pendulum-v1",
    num_envs=16,
    num_steps=128,
    update_epochs=10,
    num_minibatches=32,
    learning_rate=1e-3,
    gamma=0.95,
    gae_lambda=0.95,
    ent_coef=0.0,
    reward_scale=0.1,
    total_timesteps=300_000,
)


# Measured: mean -182 over 4 seeds (reward_scale 1.0 gives -264 at the same budget).


def test_pendulum_reaches_minus_250():
    returns = _final_eval(rljax.PPOConfig(**PENDULUM), seeds=[0, 1, 2, 3])
    assert returns.mean() >= -250.0, returns


def test_reward_normalisation_replaces_a_hand_set_reward_scale_on_pendulum():
    """`normalize_rewards` on Pendulum's raw rewards (reward_scale 1.0) at the budget above.
    Measured over seeds 0-3: -176.3, -180.7, -182.1, -183.5 (mean -180.7); with the scaling
    left out -429.6, -358.0, -428.8, -237.4 (session 19), and the hand-set reward_scale 0.1
    above gives -182. CI runs seeds 0 and 1 (session 20: the suite's time). The statistics
    take in every step of every env; the default carries no normaliser (a state's
    structure, and so its checkpoints, are unchanged)."""
    config = rljax.PPOConfig(**{**PENDULUM, "reward_scale": 1.0, "normalize_rewards": True})
    algo = rljax.PPO(config)
    result = rljax.run(
        algo,
        rljax.seed_keys([0, 1]),
        rljax.stack_hparams([config.hparams()] * 2),
        chunk_size=512,
        progress=False,
    )
    assert result.eval_returns.mean() >= -250.0, result.eval_returns.mean(axis=1)
    count = np.asarray(result.state.reward_norm.stats.count)
    np.testing.assert_allclose(count, algo.num_updates * algo.steps_per_update, rtol=1e-6)
    default = rljax.PPO(rljax.PPOConfig(**TINY)).init(jax.random.PRNGKey(0), config.hparams())
    assert default.reward_norm is None


# Measured: both seeds at the 1000 maximum after 2e5 steps; 1e5 steps gives ~250.
BRAX_INVERTED_PENDULUM = dict(
    env="brax/inverted_pendulum",
    num_envs=32,
    num_steps=32,
    update_epochs=4,
    num_minibatches=8,
    learning_rate=3e-4,
    gamma=0.97,
    gae_lambda=0.95,
    ent_coef=0.01,
    normalize_observations=True,
    total_timesteps=200_000,
    num_eval_episodes=8,
)


@pytest.mark.slow
def test_brax_inverted_pendulum_learns():
    # Brax's generalized pipeline. Slow since session 20 (79 s of the suite): CI's brax
    # learning check is tests/test_presets.py's positional hopper. Measured: 1000 (the
    # maximum) on seed 0 and on seed 1, each run alone, 50-60 s with compilation.
    returns = _final_eval(rljax.PPOConfig(**BRAX_INVERTED_PENDULUM), seeds=[0])
    assert returns.mean() >= 900.0, returns


@pytest.mark.slow
def test_cartpole_full_budget_16_seeds():
    # PAPERS.md's CartPole config (the PPOConfig defaults), 5e5 steps: >= 475 on 15 of 16 seeds.
    returns = _final_eval(rljax.PPOConfig(), seeds=list(range(16)))
    assert (returns >= 475.0).sum() >= 15, returns


def test_vmapped_training_program_calls_no_lapack():
    for env in ("CartPole-v1", "Pendulum-v1", "Breakout-MinAtar"):
        config = rljax.PPOConfig(env=env, **TINY)
        agent_contract.assert_no_lapack(rljax.PPO(config), config.hparams())


def test_hparams_carry_clip_eps_into_the_drift_parameters():
    """`clip_eps` is a traced coefficient: it reaches the drift's meta-parameters (PPO's
    clip drift is parameterised by epsilon alone; LPO keeps PPO's clip inside), so a sweep
    over clip_eps changes what is trained."""
    assert float(rljax.PPOConfig(clip_eps=0.1).hparams().drift_params) == np.float32(0.1)
    assert float(rljax.PPOConfig(clip_eps=0.3).hparams().drift_params) == np.float32(0.3)
    lpo = rljax.PPOConfig(drift="lpo", clip_eps=0.1).hparams().drift_params
    assert float(lpo.clip_eps) == np.float32(0.1)
    stacked = rljax.stack_hparams([rljax.PPOConfig(clip_eps=e).hparams() for e in (0.1, 0.2)])
    np.testing.assert_allclose(stacked.drift_params, [0.1, 0.2])


@pytest.mark.parametrize(
    ("ends_by", "expected"),
    # gamma 0.5, lambda 1; rewards 1; V(s_t) = 0.2, 0.4, 0.6; V(s'_t) = 0.4, 10, 0.8.
    # Truncation at t=1 bootstraps from V(s'_1) = 10: A_1 = 1 + 0.5 * 10 - 0.4 = 5.6, and the
    # episode ends there, so A_0 = (1 + 0.5 * 0.4 - 0.2) + 0.5 * 5.6 = 3.8; A_2 = 0.8.
    # Termination at t=1 does not: A_1 = 1 - 0.4 = 0.6, A_0 = 1.0 + 0.5 * 0.6 = 1.3.
    [("truncated", [3.8, 5.6, 0.8]), ("terminated", [1.3, 0.6, 0.8])],
)
def test_the_agent_bootstraps_on_truncation_not_on_termination(ends_by, expected):
    """PPO's own wiring of a trajectory into GAE (what `learn` optimises and `score_inputs`
    reports), by hand: an episode ending by its time limit is bootstrapped from the value of
    its last observation, one ending by termination is not."""
    from rljax.agents.ppo import PPOTrajectory
    from rljax.rollout import Transition

    config = rljax.PPOConfig(gamma=0.5, gae_lambda=1.0, **TINY)
    algo = rljax.PPO(config)
    state = algo.init(jax.random.PRNGKey(0), config.hparams())
    column = lambda *xs: np.asarray(xs, np.float32)[:, None]  # [T=3, N=1]
    ends = column(0, 1, 0).astype(bool)
    never = np.zeros_like(ends)
    steps = Transition(
        obs=np.zeros((3, 1, 4), np.float32),
        action=np.zeros((3, 1), np.int32),
        reward=column(1, 1, 1),
        terminated=ends if ends_by == "terminated" else never,
        truncated=ends if ends_by == "truncated" else never,
        next_obs=np.zeros((3, 1, 4), np.float32),
        extras=(column(0, 0, 0), column(0.2, 0.4, 0.6)),
        episode_return=column(0, 0, 0),
        episode_done=ends,
    )
    inputs = algo.score_inputs(state, PPOTrajectory(steps, column(0.4, 10.0, 0.8)))
    np.testing.assert_allclose(inputs.advantage[:, 0], expected, rtol=1e-6)
