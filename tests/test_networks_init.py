"""The project's LAPACK-free orthogonal initialiser (`rljax.networks.orthogonal`): orthonormal
columns (or rows) at the given gain, and one cached, jitted function per gain, so that
flax's shape check of every parameter at every `apply` does not re-trace its loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import networks
from rljax.environment import SpaceSpec
from rljax.networks import ActorCritic, orthogonal


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 5)])
def test_orthogonal_is_orthonormal_at_its_gain(shape):
    gain = 1.5
    raw = orthogonal(gain)(jax.random.PRNGKey(3), shape)
    assert raw.shape == shape and raw.dtype == jnp.float32
    kernel = np.asarray(raw, np.float64)
    matrix = kernel.reshape(-1, shape[-1]) / gain  # [fan_in, fan_out]
    narrow = matrix if matrix.shape[0] >= matrix.shape[1] else matrix.T
    np.testing.assert_allclose(narrow.T @ narrow, np.eye(narrow.shape[1]), atol=1e-5)


def test_orthogonal_keeps_the_dtype_and_is_deterministic():
    init = orthogonal()
    a = init(jax.random.PRNGKey(0), (8, 8), jnp.bfloat16)
    b = init(jax.random.PRNGKey(0), [8, 8], jnp.bfloat16)  # a list shape is accepted too
    assert a.dtype == jnp.bfloat16
    assert bool(jnp.array_equal(a, b))
    assert not bool(jnp.array_equal(a, init(jax.random.PRNGKey(1), (8, 8), jnp.bfloat16)))


def test_applying_a_network_again_does_not_retrace_the_initialiser(monkeypatch):
    """flax's `apply` calls `jax.eval_shape` of every existing parameter's initialiser (its
    shape check); the initialiser's loop is traced once per shape, then cached by `jax.jit`.
    Counts the Gaussian draws traced (each trace of the loop's body draws one)."""
    network = ActorCritic(action=SpaceSpec(discrete=True, num_actions=2), hidden_sizes=(16, 16))
    obs = jnp.zeros((3, 4))
    params = network.init(jax.random.PRNGKey(0), obs)
    draws = []
    normal = jax.random.normal

    def counted(*args, **kwargs):
        draws.append(1)
        return normal(*args, **kwargs)

    monkeypatch.setattr(networks.jax.random, "normal", counted)
    jax.make_jaxpr(lambda p: network.apply(p, obs))(params)
    first = len(draws)
    jax.make_jaxpr(lambda p: network.apply(p, obs))(params)
    assert len(draws) == first, "the second apply re-traced the orthogonal initialiser"
    assert orthogonal(2.0) is orthogonal(2.0)  # one function per gain: jit's cache key
