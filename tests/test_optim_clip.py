"""Gradient clipping (`--grad-clip`): global norm or per element, against hand-worked
numbers and in every agent's optimiser. PPO learning CartPole with per-element clipping is
tests/test_ppo.py's CI-budget check, run for both clips."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rljax
import rljax.agents
from rljax import optim
from rljax.agents.lpg import GridAgentSettings
from rljax.agents.settings import OptimSettings

GRADS = {"a": jnp.array([3.0, -0.2]), "b": jnp.array([[-4.0]])}


def _clipped(clip: str):
    transform = optim.gradient_clip(jnp.float32(0.5), clip)
    return transform.update(GRADS, transform.init(GRADS))[0]


def test_global_norm_scales_every_gradient_by_one_factor():
    # ||g|| = sqrt(9 + 0.04 + 16) = 5.004; each element times 0.5 / 5.004.
    out = _clipped("global_norm")
    scale = 0.5 / np.sqrt(25.04)
    np.testing.assert_allclose(out["a"], [3.0 * scale, -0.2 * scale], rtol=1e-6)
    np.testing.assert_allclose(out["b"], [[-4.0 * scale]], rtol=1e-6)


def test_element_clips_each_gradient_element_alone():
    out = _clipped("element")
    np.testing.assert_allclose(out["a"], [0.5, -0.2])
    np.testing.assert_allclose(out["b"], [[-0.5]])


def test_an_unknown_clip_is_refused():
    with pytest.raises(ValueError, match="use one of global_norm, element"):
        optim.gradient_clip(jnp.float32(0.5), "norm")


def _adam_direction(c1, c2):
    """Adam's second direction (b1 0.9, b2 0.999, eps 0) after clipped gradients c1, c2."""
    m = (0.1 * 0.9 * c1 + 0.1 * c2) / (1 - 0.9**2)
    v = (0.001 * 0.999 * c1**2 + 0.001 * c2**2) / (1 - 0.999**2)
    return m / np.sqrt(v)


@pytest.mark.parametrize("clip", ["global_norm", "element"])
def test_clipped_adam_steps_adam_on_the_clipped_gradients(clip):
    # Gradients g, then 2g. Global norm: both clip to norm 0.5, the same vector, so the
    # direction is sign(g). Element: a = [3, -0.2] clips to [0.5, -0.2] then [0.5, -0.4].
    transform = optim.clipped_adam(jnp.float32(0.5), eps=0.0, clip=clip)
    state = transform.init(GRADS)
    _, state = transform.update(GRADS, state)
    direction, _ = transform.update(jax.tree.map(lambda g: 2 * g, GRADS), state)
    if clip == "global_norm":
        expected_a, expected_b = [1.0, -1.0], [[-1.0]]
    else:
        expected_a = _adam_direction(np.array([0.5, -0.2]), np.array([0.5, -0.4]))
        expected_b = [[-1.0]]
        assert expected_a[1] == pytest.approx(-0.96518, abs=1e-5)
    np.testing.assert_allclose(direction["a"], expected_a, rtol=1e-4)
    np.testing.assert_allclose(direction["b"], expected_b, rtol=1e-4)


def _adam_moments(opt_state) -> list:
    """The first moments of every Adam in `opt_state` (SAC has one per network)."""
    is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
    return [s.mu for s in jax.tree.leaves(opt_state, is_leaf=is_adam) if is_adam(s)]


def _shapes(tree) -> list:
    return sorted(x.shape for x in jax.tree.leaves(tree))


AGENT_CONFIGS = [
    getattr(rljax.agents, name)
    for name in rljax.agents.__all__
    if name.endswith("Config") and issubclass(getattr(rljax.agents, name), OptimSettings)
]
"""Every exported agent config with the optimiser settings (so every agent that clips)."""


def test_every_agent_config_has_the_clip():
    names = {c.__name__ for c in AGENT_CONFIGS}
    assert {"PPOConfig", "DQNConfig", "PQNConfig", "SACConfig", "A2CConfig"} <= names, names


@pytest.mark.parametrize("config_type", AGENT_CONFIGS, ids=lambda c: c.__name__)
def test_every_agent_takes_the_clip_and_steps_adam_per_leaf_when_clipping_per_element(
    config_type,
):
    """With element clipping nothing waits for all gradients, so Adam's moments are kept per
    parameter leaf (not as `optax.flatten`'s one vector): the point of the option."""
    grid = issubclass(config_type, GridAgentSettings)
    kwargs = {"optimizer": "adam"} if grid else {}
    agent_type = getattr(rljax.agents, config_type.__name__.removesuffix("Config"))
    moments = {}
    for clip in ("global_norm", "element"):
        config = config_type(grad_clip=clip, **kwargs)
        state = jax.eval_shape(agent_type(config).init, jax.random.PRNGKey(0), config.hparams())
        moments[clip] = _adam_moments(state.opt_state)
        assert moments[clip], state.opt_state
    params = set(_shapes(state.params))
    per_leaf = [_shapes(mu) for mu in moments["element"]]
    assert all(set(shapes) <= params for shapes in per_leaf), (per_leaf, params)
    assert sum(len(shapes) for shapes in per_leaf) > len(per_leaf)
    # PPO, DQN, PQN and SAC flatten under global-norm clipping (one vector per Adam); the
    # LPG agents (A2C, LPGAgent) clip per group and keep their moments per leaf either way.
    if not grid:
        assert all(len(jax.tree.leaves(mu)) == 1 for mu in moments["global_norm"])


@pytest.mark.parametrize("config_type", [rljax.A2CConfig, rljax.LPGAgentConfig])
def test_the_lpg_agents_clip_each_element_or_each_group(config_type):
    """With SGD the LPG agents' optimiser returns the clipped gradient itself: every element
    of a gradient of 3s clips to 0.5 alone, or is scaled by its group's global norm."""
    for clip in ("element", "global_norm"):
        config = config_type(grad_clip=clip, optimizer="sgd", max_grad_norm=0.5)
        agent = getattr(rljax.agents, config_type.__name__.removesuffix("Config"))(config)
        state = agent.init(jax.random.PRNGKey(0), config.hparams())
        grads = jax.tree.map(lambda p: jnp.full_like(p, 3.0), state.params)
        out = agent._optimizer(state.hparams).update(grads, state.opt_state, state.params)[0]
        values = np.concatenate([np.ravel(x) for x in jax.tree.leaves(out)])
        if clip == "element":
            np.testing.assert_allclose(values, 0.5)
        else:
            # Two groups (the critic head, the rest), each scaled to norm 0.5.
            assert values.max() < 0.5
            np.testing.assert_allclose(np.linalg.norm(values), np.sqrt(2 * 0.5**2), rtol=1e-4)


def test_a_bad_clip_in_a_config_names_the_flag():
    with pytest.raises(ValueError, match=r"grad_clip.*Fix: use one of global_norm, element"):
        rljax.PPOConfig(grad_clip="norm")
