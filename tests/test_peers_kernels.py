"""The two pieces PPO's update was sped up with (benchmarks/RESULTS.md, "PPO against rejax"):
the single-array-sort permutation of `rljax.minibatch` and the row-major weight gradients of
`rljax.optim`. Both must compute what they replace."""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend import core as jex_core

from rljax.minibatch import permutation, shuffle_split
from rljax.optim import row_major_weight_gradients


@pytest.mark.parametrize("size", [1, 2, 3, 7, 512, 1000, 32768])
def test_permutation_is_a_permutation_and_a_function_of_its_key(size):
    draw = jax.jit(permutation, static_argnums=1)
    p = np.asarray(draw(jax.random.PRNGKey(3), size))
    assert p.dtype == np.int32
    assert sorted(p.tolist()) == list(range(size))
    np.testing.assert_array_equal(p, np.asarray(draw(jax.random.PRNGKey(3), size)))
    if size > 2:
        assert not np.array_equal(p, np.asarray(draw(jax.random.PRNGKey(4), size)))


def test_permutation_is_uniform_over_the_permutations_of_four():
    keys = jax.random.split(jax.random.PRNGKey(0), 24_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: permutation(k, 4)))(keys))
    counts = Counter(map(tuple, perms.tolist()))
    assert len(counts) == 24
    observed = np.array(list(counts.values()))
    chi2 = ((observed - 1000) ** 2 / 1000).sum()
    assert chi2 < 60  # 23 degrees of freedom: P(chi2 > 60) < 1e-4


def test_shuffle_split_keeps_every_row_once():
    batch = {"x": jnp.arange(24.0).reshape(12, 2), "y": jnp.arange(12)}
    split = shuffle_split(jax.random.PRNGKey(1), batch, 3)
    assert split["x"].shape == (3, 4, 2) and split["y"].shape == (3, 4)
    y = np.asarray(split["y"]).ravel()
    assert sorted(y.tolist()) == list(range(12))
    np.testing.assert_array_equal(np.asarray(split["x"]).reshape(12, 2)[:, 0], 2 * y)


def _mlp_loss(params, x, scale):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jnp.tanh(x)
    return scale * jnp.mean(x**2), x.sum()


def _params(key, sizes=(4, 16, 16, 3)):
    keys = jax.random.split(key, len(sizes))
    return [
        (jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.full((b,), 0.1))
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=False)
    ]


def _leading_contractions(jaxpr) -> int:
    count = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (lhs, rhs), _ = eqn.params["dimension_numbers"]
            count += bool(lhs) and tuple(lhs) == tuple(rhs) == tuple(range(len(lhs)))
        for sub in jex_core.jaxprs_in_params(eqn.params):
            count += _leading_contractions(sub)
    return count


def test_row_major_weight_gradients_equal_plain_gradients():
    params = _params(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (32, 4))
    scale = jnp.float32(0.7)  # closed over below, as PPO's loss closes over its coefficients
    grad = jax.grad(lambda p, x: _mlp_loss(p, x, scale), has_aux=True)
    fast = row_major_weight_gradients(grad)
    (g_plain, aux_plain), (g_fast, aux_fast) = jax.jit(grad)(params, x), jax.jit(fast)(params, x)
    for a, b in zip(jax.tree.leaves(g_plain), jax.tree.leaves(g_fast), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aux_plain, aux_fast, rtol=1e-6)
    # Autodiff's weight gradients contract the batch axis of both operands; none is left.
    assert _leading_contractions(jax.make_jaxpr(grad)(params, x).jaxpr) == 3
    assert _leading_contractions(jax.make_jaxpr(fast)(params, x).jaxpr) == 0


def test_row_major_weight_gradients_of_layers_over_sequences():
    """A dense layer applied to `[T, N, in]` (recurrent PPO's heads and input projections,
    a conv written as a matmul of patches `[B, H, W, 9C]`): its weight gradient contracts
    every leading axis; rewritten, none is left, and the gradients are the plain ones."""
    params = _params(jax.random.PRNGKey(4))
    x = jax.random.normal(jax.random.PRNGKey(5), (6, 5, 4))  # [T, N, in]
    grad = jax.grad(lambda p, x: _mlp_loss(p, x, 0.3), has_aux=True)
    fast = row_major_weight_gradients(grad)
    (g_plain, _), (g_fast, _) = jax.jit(grad)(params, x), jax.jit(fast)(params, x)
    for a, b in zip(jax.tree.leaves(g_plain), jax.tree.leaves(g_fast), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert _leading_contractions(jax.make_jaxpr(grad)(params, x).jaxpr) == 3
    assert _leading_contractions(jax.make_jaxpr(fast)(params, x).jaxpr) == 0


def test_row_major_weight_gradients_under_vmap_and_scan():
    params = jax.vmap(_params)(jax.random.split(jax.random.PRNGKey(2), 3))
    x = jax.random.normal(jax.random.PRNGKey(3), (3, 16, 4))
    grad = jax.grad(lambda p, x: _mlp_loss(p, x, 1.0)[0])

    def descend(grad_fn):
        def run(p, x):
            def step(p, _):
                return jax.tree.map(lambda w, g: w - 0.1 * g, p, grad_fn(p, x)), None

            return jax.lax.scan(step, p, None, length=5)[0]

        return jax.jit(jax.vmap(run))

    plain, fast = descend(grad)(params, x), descend(row_major_weight_gradients(grad))(params, x)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(fast), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
