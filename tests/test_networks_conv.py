"""`rljax.networks.Conv3x3`, the MinAtar torso's conv written as a matmul over 3x3 patches:
flax `nn.Conv`'s parameters, initial values, outputs and gradients, at both paddings."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax.networks import Conv3x3, orthogonal


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv3x3_is_flax_conv(padding):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 6, 5, 4))  # leading batch axes [2, 3]
    mine = Conv3x3(8, padding=padding, kernel_init=orthogonal(np.sqrt(2)))
    flax_conv = nn.Conv(8, (3, 3), padding=padding, kernel_init=orthogonal(np.sqrt(2)))
    params = mine.init(jax.random.PRNGKey(1), x)
    reference = flax_conv.init(jax.random.PRNGKey(1), x)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    params = jax.tree.map(lambda p: p + 0.1, params)  # a non-zero bias too
    out, expected = mine.apply(params, x), flax_conv.apply(params, x)
    shape = (2, 3, 6, 5, 8) if padding == "SAME" else (2, 3, 4, 3, 8)
    assert out.shape == expected.shape == shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    weights = jax.random.normal(jax.random.PRNGKey(2), out.shape)

    def loss(module, p, x):
        return jnp.sum(jnp.tanh(module.apply(p, x)) * weights)

    grads = jax.grad(lambda p, x: loss(mine, p, x), argnums=(0, 1))(params, x)
    ref = jax.grad(lambda p, x: loss(flax_conv, p, x), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
