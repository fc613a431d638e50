"""The project's LAPACK-free orthogonal initialiser (`rljax.networks.orthogonal`): orthonormal
columns (or rows) at the given gain, one cached, jitted function per gain; and
`networks.param` / `networks.Dense`, which check parameter shapes at `apply` without tracing
initialisers."""

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


def test_applying_a_network_traces_no_initialiser(monkeypatch):
    """flax's `param` calls every existing parameter's initialiser (under `jax.eval_shape`,
    its shape check) at every `apply`; `networks.param` compares shapes directly. Counts the
    calls of the kernels' initialiser during an `apply`."""
    network = ActorCritic(action=SpaceSpec(discrete=True, num_actions=2), hidden_sizes=(16, 16))
    obs = jnp.zeros((3, 4))
    params = network.init(jax.random.PRNGKey(0), obs)
    calls = []
    real = networks.orthogonal

    def counting(scale=1.0):
        init = real(scale)

        def counted(*args, **kwargs):
            calls.append(scale)
            return init(*args, **kwargs)

        return counted

    monkeypatch.setattr(networks, "orthogonal", counting)  # what `dense` builds layers with
    jax.make_jaxpr(lambda p: network.apply(p, obs))(params)
    assert not calls, "apply called an initialiser"
    assert real(2.0) is real(2.0)  # one function per gain: jit's cache key


def test_dense_is_flax_dense():
    """`networks.Dense`: flax `nn.Dense`'s parameter tree, initial values and outputs."""
    import flax.linen as nn

    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 5))
    for use_bias in (True, False):
        ours, flax_dense = (
            cls(7, use_bias=use_bias, kernel_init=orthogonal(1.3))
            for cls in (networks.Dense, nn.Dense)
        )
        params = ours.init(jax.random.PRNGKey(0), x)
        theirs = flax_dense.init(jax.random.PRNGKey(0), x)
        assert jax.tree.structure(params) == jax.tree.structure(theirs)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(theirs), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ours.apply(params, x), flax_dense.apply(theirs, x))
        ints = jnp.arange(10, dtype=jnp.int32).reshape(2, 5)  # promoted to float as flax does
        np.testing.assert_array_equal(ours.apply(params, ints), flax_dense.apply(theirs, ints))


def test_parameters_of_another_network_are_refused_by_name():
    small = ActorCritic(action=SpaceSpec(discrete=True, num_actions=2), hidden_sizes=(16, 16))
    large = ActorCritic(action=SpaceSpec(discrete=True, num_actions=2), hidden_sizes=(32, 16))
    obs = jnp.zeros((3, 4))
    params = small.init(jax.random.PRNGKey(0), obs)
    with pytest.raises(
        ValueError, match=r"Dense_0/kernel has shape \(4, 16\) where this network needs \(4, 32\)"
    ):
        large.apply(params, obs)
