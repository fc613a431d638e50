"""Off-policy MDPO: its objective against a hand computation, the step-size schedule, the old
policy refreshed every m gradient steps, the shared agent contract, and a learning check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.agents.mdpo_off import OffMDPO, OffMDPOConfig, objective, tanh_log_det
from rljax.config import ConfigError
from tests import agent_contract

TINY = dict(
    total_timesteps=4 * 2 * 6,
    num_envs=4,
    num_steps=2,
    num_gradient_steps=2,
    batch_size=16,
    buffer_size=64,
    learning_starts=16,
    hidden_sizes=(16, 16),
    kl_every=2,
)


@pytest.fixture(scope="module")
def tiny():
    config = OffMDPOConfig(**TINY)
    return OffMDPO(config), config.hparams()


def test_objective_by_hand():
    """pi = (0.8, 0.2), pi_k = (0.5, 0.5), Q = (1, 0), KL weight 2, lambda 0.1:
    2 KL(pi || pi_k) = 2 (0.8 log 1.6 + 0.2 log 0.4) = 0.38549, lambda E_pi[log pi_k] =
    0.1 log 0.5 = -0.06931, -E_pi[Q] = -0.8: L = -0.48383."""
    log_p, log_old = jnp.log(jnp.array([0.8, 0.2])), jnp.log(jnp.array([0.5, 0.5]))
    per_action = objective(log_p, log_old, jnp.array([1.0, 0.0]), 2.0, 0.1)
    assert float((jnp.exp(log_p) * per_action).sum()) == pytest.approx(-0.48383, abs=1e-5)
    # The tanh correction: log(1 - tanh(u)^2), stable where tanh(u) rounds to 1.
    u = jnp.array([[0.3, -2.0]])
    np.testing.assert_allclose(tanh_log_det(u), np.log(1 - np.tanh([0.3, -2.0]) ** 2).sum(), 1e-5)
    assert np.isfinite(tanh_log_det(jnp.array([[30.0]])))


def test_step_size_schedule_is_the_papers():
    """G = 20 learning updates x 250 gradient steps = 5,000, m = 1,000: K = 5 iterations,
    KL weight 1/t_k = 1 / (1 - (k - 1)/5): 1, 1.25, 1.667, 2.5, 5, and 5 after the last."""
    config = OffMDPOConfig(
        total_timesteps=80, num_envs=4, num_steps=1, learning_starts=4, num_gradient_steps=250
    )
    agent, hp = OffMDPO(config), config.hparams()
    assert agent.total_gradient_steps == 5000
    weights = [float(agent.kl_weight(jnp.int32(g), hp)) for g in (0, 999, 1000, 2500, 3000, 4999)]
    np.testing.assert_allclose(weights, [1, 1, 1.25, 1 / 0.6, 2.5, 5], rtol=1e-6)
    assert float(agent.kl_weight(jnp.int32(7000), hp)) == pytest.approx(5.0)
    constant = OffMDPO(config.replace(kl_schedule="constant", kl_coef=0.3))
    assert float(constant.kl_weight(jnp.int32(4000), constant.config.hparams())) == pytest.approx(
        0.3
    )


def test_old_policy_is_the_policy_at_the_start_of_the_iteration(tiny):
    """With m = 2 gradient steps per update, the old actor after an update is the actor after
    the update before; the temperature stays lambda. (8 env steps per update, 16 to warm up:
    updates 1, 2 and 3 of 0-3 learn, 6 gradient steps.)"""
    agent, hp = tiny
    key = jax.random.PRNGKey(0)
    state = agent.init(key, hp)
    step = jax.jit(agent.update)
    for _ in range(4):
        before = state
        state, _ = step(state)
    assert int(state.params.gradient_steps) == 3 * 2
    for a, b in zip(
        jax.tree.leaves(state.params.old_actor), jax.tree.leaves(before.params.actor), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(state.params.actor), jax.tree.leaves(before.params.actor), strict=True
        )
    )
    assert float(jnp.exp(state.params.log_alpha)) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(initial_alpha=0.5), "initial_alpha"),
        (dict(kl_schedule="linear"), "kl_schedule"),
        (dict(kl_every=0), "kl_every"),
        (dict(entropy_coef=-1.0), "entropy_coef"),
    ],
)
def test_bad_config_is_refused(changes, field):
    with pytest.raises(ConfigError, match=field):
        OffMDPOConfig(**changes)


# --- the shared contract ----------------------------------------------------------------------


def test_run_compiles_one_chunk_program_for_a_partial_last_chunk(tiny, count_compilations):
    agent_contract.assert_run_compiles_one_chunk_program(*tiny, count_compilations)


def test_vmapped_training_program_calls_no_lapack(tiny):
    agent_contract.assert_no_lapack(*tiny)


def test_value_targets_bootstrap_on_truncation_only():
    agent_contract.assert_bootstraps_on_truncation_only(
        lambda env: OffMDPO(OffMDPOConfig(env=env, **{**TINY, "num_steps": 6, "num_envs": 2}))
    )


def test_same_seed_gives_identical_results(tiny):
    agent_contract.assert_same_seed_same_run(*tiny)


def test_vmap_over_seeds_equals_separate_runs(tiny):
    agent_contract.assert_vmap_equals_separate_runs(*tiny, rtol=1e-4, atol=1e-5)


# --- learning checks ------------------------------------------------------------------------


def _final_eval(config, seeds):
    return agent_contract.final_eval_returns(OffMDPO(config), config, seeds, chunk_size=4096)


def test_pendulum_learns_at_ci_budget():
    # SAC's CI setting (64-unit layers, batches of 128) at 15,000 steps, the paper's KL
    # schedule (K = 14 iterations of m = 1,000 gradient steps). Random play is about -1200;
    # -250 counts as solved, as for SAC; at least 3 of 4 seeds must reach it. A seed's outcome
    # is bimodal and depends on float code generation: at 12,000 steps seeds 0 and 1 gave
    # -177.8, -179.4 on earlier sessions' machine but -332.7, -179.5 on an AVX2-only one; at
    # 15,000 steps seeds 0-3 give -176.6, -176.9, -174.4, -175.5 there, and -334.0, -176.3,
    # -174.4, -175.3 with XLA's older fusion emitters (`--xla_cpu_use_fusion_emitters=false`),
    # which failed the earlier check (the mean of seeds 0 and 1 >= -250). At 6,000 steps (5
    # iterations) it has not learned yet, and this check fails: -364.4, -801.7, -418.5, -226.8.
    config = OffMDPOConfig(total_timesteps=15_000, hidden_sizes=(64, 64), batch_size=128)
    returns = _final_eval(config, seeds=[0, 1, 2, 3])
    assert (returns >= -250.0).sum() >= 3, returns


@pytest.mark.slow
def test_pendulum_full_budget_4_seeds():
    # 20,000 steps, both KL schedules; see benchmarks/mdpo_off.py for SAC beside them.
    for schedule in ("paper", "constant"):
        config = OffMDPOConfig(
            total_timesteps=20_000, hidden_sizes=(64, 64), batch_size=128, kl_schedule=schedule
        )
        returns = _final_eval(config, seeds=[0, 1, 2, 3])
        assert (returns >= -250.0).sum() >= 3, (schedule, returns)
