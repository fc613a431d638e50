"""The optimal return of a gridworld level by finite-horizon value iteration, in JAX.

`optimal_return(level)` is max over policies of the expected undiscounted return of one
episode from the level's start (the agent on `start_pos`, every valid object present) within
`level.max_steps` steps, under the dynamics of `envs.gridworld.env` (move, collect with
reward and termination probability, then respawn of the objects absent before the step).
GROOVE normalises returns by this quantity (Jackson et al. 2023, sec. 5; the reference's
`GridWorld.optimal_return`).

State: (agent cell, set of present objects), `MAX_CELLS x 2**MAX_OBJECTS` = `169 x 128`
values; time is the loop counter. With V_k the optimal value with k steps to go (V_0 = 0),

    V_k(c, m) = max_a [ r(c') + (1 - p_term(c')) E_R V_{k-1}(c', m') ]   c' = move(c, a)

where an object present in m on c' is collected (r, p_term its type's; otherwise r = 0,
p_term = 0), m' keeps the other present objects, and each object absent from m reappears
independently with its type's p_respawn. The expectation over the 2**K respawn patterns is
a product of K one-bit averages (each `[169, 128]` pass mixes masks with bit b off and on),
so one step costs O(K * 169 * 128) instead of O(169 * 128 * 2**K). The loop runs
`level.max_steps` times (a `while_loop`: under `vmap` it runs the batch's longest and holds
the finished levels), so it is jittable and vmappable over levels; no linear algebra.

Random-respawn levels: their state includes where every object is, which this state space
does not hold. For them `optimal_return` computes the same recursion with every object
starting and respawning at its own cell `obj_pos`: the optimal return of the level's
fixed-respawn counterpart. That is an approximation, not a bound, of the random level's
optimum: random placement can bring objects closer to the agent or farther away.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.gridworld.level import (
    ACTION_VECTORS,
    MAX_OBJECTS,
    MAX_SIZE,
    NUM_MASKS,
    GridLevel,
    move,
)

_MASKS = np.arange(NUM_MASKS, dtype=np.int32)
_BITS = 1 << np.arange(MAX_OBJECTS, dtype=np.int32)
_HAS = (_MASKS[:, None] & _BITS[None, :]) > 0  # [2**K, K]: slot k present in mask m
_WITHOUT = _MASKS[:, None] & ~_BITS[None, :]  # [2**K, K]: mask m with slot k removed


class Tables(NamedTuple):
    """Per-level constants of the recursion: `can_move` bool `[4, S, S]` (the move in each
    direction leaves the cell), `obj_cell` int32 `[K, 2]`, `present` float32 `[2**K, K]`
    (valid slot k present in mask m), per-slot `reward`, `p_term`, `p_resp` float32 `[K]`."""

    can_move: jax.Array
    obj_cell: jax.Array
    present: jax.Array
    reward: jax.Array
    p_term: jax.Array
    p_resp: jax.Array


def tables(level: GridLevel) -> Tables:
    rows, cols = jnp.meshgrid(jnp.arange(MAX_SIZE), jnp.arange(MAX_SIZE), indexing="ij")
    cells = jnp.stack([rows, cols], -1).reshape(-1, 2)

    def moves(action):
        return (jax.vmap(lambda c: move(level, c, action))(cells) != cells).any(-1)

    can_move = jax.vmap(moves)(jnp.arange(4)).reshape(4, MAX_SIZE, MAX_SIZE)
    valid = level.obj_valid

    def per_slot(values):
        return jnp.where(valid, values[level.obj_type], 0.0)

    return Tables(
        can_move=can_move,
        obj_cell=jnp.clip(level.obj_pos, 0, MAX_SIZE - 1),
        present=(jnp.asarray(_HAS) & valid[None, :]).astype(jnp.float32),
        reward=per_slot(level.reward),
        p_term=per_slot(level.p_terminate),
        p_resp=per_slot(level.p_respawn),
    )


def respawn_average(values: jax.Array, probs: jax.Array) -> jax.Array:
    """`values [2**K, *rest]` averaged over respawns: for each bit b, the masks with b off
    become `(1 - p_b) v(m) + p_b v(m | b)`, the masks with b on are kept. `probs [K, ...]`
    with `probs[b]` broadcastable to `rest`."""
    rest = values.shape[1:]
    for b in range(MAX_OBJECTS):
        split = values.reshape(NUM_MASKS // (2 * 2**b), 2, 2**b, *rest)
        off, on = split[:, 0], split[:, 1]
        values = jnp.stack([off + probs[b] * (on - off), on], 1).reshape(values.shape)
    return values


def bellman_step(values: jax.Array, t: Tables) -> jax.Array:
    """float32 `[2**K, S, S]`: V_k from V_{k-1} (module docstring), indexed (mask, row, col)."""
    rows, cols = t.obj_cell[:, 0], t.obj_cell[:, 1]
    no_collect = respawn_average(values, t.p_resp)  # nothing present on the cell moved to
    # Collecting object j (present in m, on its cell): j is gone next step and cannot respawn
    # yet, the other absent objects may, so average over every bit but j and read m - {j}.
    others = t.p_resp[:, None] * (1.0 - jnp.eye(MAX_OBJECTS))  # [b, j]
    after = respawn_average(values[:, rows, cols], others)  # [2**K, K]
    kept = jnp.take_along_axis(after, jnp.asarray(_WITHOUT), axis=0)
    collect = t.reward + (1.0 - t.p_term) * kept  # [2**K, K]
    # Where object j is present on its cell, entering the cell collects it.
    correction = (collect - no_collect[:, rows, cols]) * t.present
    entered = no_collect.at[:, rows, cols].add(correction)  # invalid slots add 0
    best = entered  # stay (a blocked move stays too)
    for d, (dr, dc) in enumerate(ACTION_VECTORS[:4]):
        ahead = jnp.roll(entered, (-int(dr), -int(dc)), axis=(1, 2))  # the cell moved to
        best = jnp.maximum(best, jnp.where(t.can_move[d], ahead, entered))
    return best


def value_table(level: GridLevel, steps: jax.Array | int | None = None) -> jax.Array:
    """float32 `[2**K, S, S]`: V_steps, the optimal return from every (present set, row, col)
    with `steps` steps to go (default `level.max_steps`)."""
    steps = level.max_steps if steps is None else steps
    constants = tables(level)

    def body(carry):
        k, values = carry
        return k + 1, bellman_step(values, constants)

    zeros = jnp.zeros((NUM_MASKS, MAX_SIZE, MAX_SIZE), jnp.float32)
    _, values = jax.lax.while_loop(lambda c: c[0] < steps, body, (jnp.int32(0), zeros))
    return values


def optimal_return(level: GridLevel) -> jax.Array:
    """float32 `[]`: the optimal expected return of one episode of `level` (module docstring;
    for a random-respawn level, that of its fixed-respawn counterpart). Host (numpy) levels,
    such as `named_levels()` returns, are taken too."""
    level = jax.tree.map(jnp.asarray, level)
    start_mask = (level.obj_valid.astype(jnp.int32) << jnp.arange(MAX_OBJECTS)).sum()
    return value_table(level)[start_mask, level.start_pos[0], level.start_pos[1]]
