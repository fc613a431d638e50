"""`rljax.cpu_random`: importing rljax lowers threefry unrolled on XLA:CPU, with the same bits
as JAX's rolled loop, and the rolled loop stays available (per block, or by opt-out)."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

import rljax  # noqa: F401  (installs the rule)
from rljax import cpu_random


def _draws(key):
    keys = jax.random.split(key, 64)
    return (
        jax.vmap(lambda k: jax.random.bits(k, (5,)))(keys),
        jax.random.normal(key, (8, 8)),
        jax.vmap(lambda k: jax.random.categorical(k, jnp.log(jnp.arange(1.0, 5.0))))(keys),
        jax.random.permutation(key, 33),
    )


def _lowered(default: bool):
    fn = jax.jit(lambda key: _draws(key))  # a fresh function: no shared jit cache entry
    if default:
        with cpu_random.jax_default_lowering():
            return fn.lower(jax.random.PRNGKey(7))
    return fn.lower(jax.random.PRNGKey(7))


def test_rljax_lowers_threefry_without_a_loop_on_cpu():
    assert jax.default_backend() != "cpu" or cpu_random.enabled()
    unrolled = _lowered(default=False).as_text()
    rolled = _lowered(default=True).as_text()
    assert "stablehlo.while" in rolled
    assert "stablehlo.while" not in unrolled


def test_unrolled_and_rolled_threefry_give_the_same_bits():
    key = jax.random.PRNGKey(7)
    ours = _lowered(default=False).compile()(key)
    jaxs = _lowered(default=True).compile()(key)
    for a, b in zip(ours, jaxs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_opting_out_keeps_jaxs_rolled_loop():
    code = (
        "import jax, rljax\n"
        "from rljax import cpu_random\n"
        "text = jax.jit(lambda k: jax.random.split(k, 4)).lower(jax.random.PRNGKey(0)).as_text()\n"
        "print(cpu_random.enabled(), 'stablehlo.while' in text)\n"
    )
    env = dict(os.environ, RLJAX_ROLLED_THREEFRY="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr
