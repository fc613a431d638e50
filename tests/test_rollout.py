"""`rljax.rollout.scan_packed`: the rollout's loop with its small arrays packed gives what
`lax.scan` gives for every kind of leaf it meets (up to float summation order: XLA may fuse
the two programs differently), and launches fewer kernels."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rljax import rollout


def _step(carry, key):
    """A step whose carry and outputs hold every kind of leaf `scan_packed` sorts: float,
    int and bool arrays of several shapes, a scalar, a typed PRNG key (not a number), and a
    leaf over `PACK_BYTES`; outputs `[N, ...]` plus a per-step scalar (no env axis)."""
    u = jax.random.uniform(key, (4, 3))
    state = carry["state"] * 0.9 + u
    count = carry["count"] + 1
    done = state.sum(-1) > carry["limit"]
    big = carry["big"] + state[:, :1]
    typed, sub = jax.random.split(carry["typed"])
    new = {
        "state": state,
        "count": count,
        "done": done,
        "limit": carry["limit"] + 0.01,
        "big": big,
        "typed": typed,
        "steps": carry["steps"] + 1,
    }
    out = {
        "obs": state,
        "reward": state.sum(-1),
        "action": jnp.argmax(state, -1),
        "done": done,
        "image": jnp.broadcast_to(state[:, :, None], (4, 3, 200)),  # 9.6 KB: left as it is
        "draw": jax.random.uniform(sub, (4,)),
        "total": state.sum(),  # no env axis: left as it is
    }
    return new, out


def _carry():
    return {
        "state": jnp.zeros((4, 3)),
        "count": jnp.zeros((4,), jnp.int32),
        "done": jnp.zeros((4,), bool),
        "limit": jnp.float32(1.5),
        "big": jnp.zeros((4, 300)),  # 4.8 KB
        "typed": jax.random.key(3),
        "steps": jnp.int32(0),
    }


def _assert_same(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert x.shape == y.shape and x.dtype == y.dtype
        if jnp.issubdtype(x.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("runs", [0, 3])
def test_scan_packed_equals_lax_scan(runs):
    keys = jax.random.split(jax.random.PRNGKey(0), 16)

    def plain(carry, keys):
        return jax.lax.scan(_step, carry, keys)

    def packed(carry, keys):
        return rollout.scan_packed(_step, carry, keys)

    carry = _carry()
    if runs:
        carry = jax.tree.map(lambda x: jnp.stack([x] * runs), carry)
        keys = jnp.stack([jax.random.split(k, 16) for k in jax.random.split(keys[0], runs)])
        plain, packed = jax.vmap(plain), jax.vmap(packed)
    _assert_same(jax.jit(packed)(carry, keys), jax.jit(plain)(carry, keys))


def test_ppo_rollout_loop_launches_fewer_kernels_packed(monkeypatch):
    """PPO's CartPole rollout at 4 envs: the optimised loop body has fewer instructions that
    launch work (fusions, copies, dots) than with `lax.scan`, and fewer copies."""
    import rljax

    agent = rljax.PPO(rljax.PPOConfig(num_envs=4, num_steps=8, total_timesteps=64))
    state = agent.init(jax.random.PRNGKey(0), agent.config.hparams())

    def body_ops():
        hlo = (
            jax.jit(lambda s: agent.collect(s, agent.env, agent.env_params))
            .lower(state)
            .compile()
            .as_text()
        )
        bodies = re.findall(r"body=%?([\w.\-]+)", hlo)
        counts = {}
        for body in bodies:
            block = re.search(rf"^%?{re.escape(body)} .*?\n\}}", hlo, re.M | re.S).group(0)
            ops = re.findall(r"= \S+ (fusion|copy|dot|dynamic-update-slice)\(", block)
            counts[body] = (len(ops), ops.count("copy"))
        return max(counts.values())  # the rollout's loop is the largest

    packed = body_ops()
    monkeypatch.setattr(rollout, "scan_packed", jax.lax.scan)
    plain = body_ops()
    assert packed[0] < plain[0] and packed[1] < plain[1], (packed, plain)
