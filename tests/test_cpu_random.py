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
        jax.random.uniform(jax.random.fold_in(key, 5), (3, 5, 7)),
        jax.random.split(key, (2, 3)),
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


def test_the_unrolled_cipher_is_emitted_without_tracing_jaxs_rounds(monkeypatch):
    """rljax writes Threefry's rounds straight into the module (`_threefry_rounds`); JAX's
    unrolled rule traces them from Python, which took a fifth of PPO's lowering time. With
    JAX's round function broken, lowering (and the bits, checked against the rolled loop in
    the test above) still works."""
    if jax.default_backend() != "cpu":
        return
    from jax._src.random import threefry2x32

    def broken(*args, **kwargs):
        raise AssertionError("JAX's traced rounds were used")

    key = jax.random.PRNGKey(7)
    jaxs = _lowered(default=True).compile()(key)
    monkeypatch.setattr(threefry2x32, "apply_round", broken)
    ours = _lowered(default=False).compile()(key)
    for a, b in zip(ours, jaxs, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_draw_counters_are_built_in_32_bits():
    """JAX builds each draw's counters from a 64-bit iota; here they are a 32-bit iota (the
    same values, checked above), which XLA compiles in fewer simplification rounds."""
    if jax.default_backend() != "cpu":
        return
    assert "ui64" not in _lowered(default=False).as_text()
    assert "ui64" in _lowered(default=True).as_text()


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


def _xors(fn) -> int:
    """XOR instructions in `fn`'s optimised XLA program: 20 per threefry cipher computed."""
    text = jax.jit(fn).lower(jax.random.PRNGKey(3)).compile().as_text()
    return sum(" xor(" in line for line in text.splitlines())


def test_a_key_made_by_a_split_is_not_recomputed_inside_the_next_draw():
    """Without the barrier on key arrays, XLA fuses the first split's rounds into the second
    split's loop (three ciphers compiled, one of them per output element), which LLVM takes
    ~4x longer to compile (RESULTS.md, "Random bits on XLA:CPU")."""
    if jax.default_backend() != "cpu":
        return
    split, bits = (
        _xors(lambda k: jax.random.split(k, 128)),
        _xors(lambda k: jax.random.bits(k, (64,))),
    )
    assert split > 0 and bits > 0
    # Measured without the barrier: 65 and 66 (a third cipher); with it 44 and 45.
    assert _xors(lambda k: jax.random.split(jax.random.split(k)[1], 128)) == 2 * split
    assert _xors(lambda k: jax.random.bits(jax.random.split(k)[0], (64,))) == split + bits
