"""The level buffer of Prioritized Level Replay as a typed, fixed-shape pytree.

Jiang et al. 2021, "Prioritized Level Replay" (PLR), sec. 3: the buffer holds levels with a
score S_i (how much the agent can still learn there) and the episode count C_i at which each
was last sampled. Conditional on replaying, level i is drawn with probability

    P_i = (1 - rho) * P_S(i) + rho * P_C(i)
    P_S(i) = h_i^(1/beta) / sum_j h_j^(1/beta),   h_i = 1 / rank(S_i)   (rank 1 = highest score)
    P_C(i) = (c - C_i) / sum_j (c - C_j)                                 (staleness)

with beta the temperature, rho the staleness coefficient and c the number of episodes sampled
so far (`episode_count`). The top-k variant keeps h_i for the k highest-ranked levels and sets
it to 0 for the rest (k = 1 is PLR's greedy "max" transform; k = capacity is plain rank).

A level is any pytree of fixed-shape arrays; `levels` stacks `capacity` of them. Every function
here is pure and jittable with fixed shapes, so a buffer lives inside a training state, is
carried through `lax.scan` and vmapped over seeds. Unfilled slots have weight 0 and are never
sampled.

Conventions (where the paper leaves a choice):
- Ties in score are ranked by slot index (a stable sort), so weights are deterministic.
- `episode_count` advances by one for every level handed out: `n` per `sample_replay` call and
  one per level offered to `insert` (accepted or not: the episode on it was played). A sampled
  or inserted level is stamped with the advanced count, so its staleness starts at 0.
- A replayed level's score is replaced by the new one (PLR Alg. 1/2 recompute the score from
  the latest trajectory); a level drawn twice in one batch gets the mean of its valid scores.
- If every filled level has staleness 0, P_C is uniform over the filled levels.
- An invalid score (an episode that never finished, see `rljax.curricula.scores`) never enters
  the buffer: no insertion, no score update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class LevelBuffer:
    levels: Any
    """Pytree of levels, every leaf `[capacity, ...]`; unfilled slots hold zeros."""
    scores: jax.Array
    """`[capacity]` float32, the latest valid score of each level (0 where unfilled)."""
    last_sampled: jax.Array
    """`[capacity]` int32, C_i: the `episode_count` when the level was last handed out."""
    filled: jax.Array
    """`[capacity]` bool, whether the slot holds a level."""
    max_returns: jax.Array
    """`[capacity]` float32, the best episode return ever achieved on the level (MaxMC);
    -inf until an episode on it finishes."""
    episode_count: jax.Array
    """int32 scalar, c: levels handed out so far (replays and insert offers)."""

    @property
    def capacity(self) -> int:
        return self.scores.shape[-1]

    @property
    def size(self) -> jax.Array:
        """Number of filled slots, int32 scalar."""
        return jnp.sum(self.filled, dtype=jnp.int32)


def init(example_level: Any, capacity: int) -> LevelBuffer:
    """An empty buffer of `capacity` levels shaped like `example_level` (no batch axis)."""
    levels = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example_level
    )
    return LevelBuffer(
        levels=levels,
        scores=jnp.zeros(capacity, jnp.float32),
        last_sampled=jnp.zeros(capacity, jnp.int32),
        filled=jnp.zeros(capacity, bool),
        max_returns=jnp.full(capacity, -jnp.inf, jnp.float32),
        episode_count=jnp.zeros((), jnp.int32),
    )


def score_weights(
    buffer: LevelBuffer, temperature: jax.Array, top_k: int | None = None
) -> jax.Array:
    """P_S `[capacity]`: rank prioritisation (PLR sec. 3), optionally cut to the top k."""
    capacity = buffer.capacity
    order = jnp.argsort(-jnp.where(buffer.filled, buffer.scores, -jnp.inf), stable=True)
    rank = jnp.zeros(capacity, jnp.int32).at[order].set(jnp.arange(1, capacity + 1))
    keep = buffer.filled if top_k is None else buffer.filled & (rank <= top_k)
    h = jnp.where(keep, (1.0 / rank) ** (1.0 / temperature), 0.0)
    return h / jnp.maximum(h.sum(), 1e-30)


def staleness_weights(buffer: LevelBuffer) -> jax.Array:
    """P_C `[capacity]` (PLR sec. 3); uniform over filled levels if none is stale."""
    staleness = jnp.where(buffer.filled, buffer.episode_count - buffer.last_sampled, 0)
    staleness = staleness.astype(jnp.float32)
    total = staleness.sum()
    uniform = buffer.filled / jnp.maximum(buffer.size, 1)
    return jnp.where(total > 0, staleness / jnp.maximum(total, 1e-30), uniform)


def weights(
    buffer: LevelBuffer,
    temperature: jax.Array,
    staleness_coef: jax.Array,
    top_k: int | None = None,
) -> jax.Array:
    """Replay distribution P = (1 - rho) P_S + rho P_C `[capacity]`; all zeros if empty."""
    return (1.0 - staleness_coef) * score_weights(
        buffer, temperature, top_k
    ) + staleness_coef * staleness_weights(buffer)


def sample_replay(
    buffer: LevelBuffer,
    key: jax.Array,
    n: int,
    temperature: jax.Array,
    staleness_coef: jax.Array,
    top_k: int | None = None,
) -> tuple[LevelBuffer, jax.Array, Any]:
    """Draw `n` levels from P (with replacement, one draw per env as in PLR) and stamp them.

    Returns `(buffer, indices [n] int32, levels [n, ...])`. The caller must only replay a
    buffer with at least one filled slot (the curricula gate on the minimum fill ratio).
    """
    return draw(buffer, key, n, weights(buffer, temperature, staleness_coef, top_k))


def draw(
    buffer: LevelBuffer, key: jax.Array, n: int, p: jax.Array
) -> tuple[LevelBuffer, jax.Array, Any]:
    """Draw `n` slots from the distribution `p [capacity]` (with replacement) and stamp them
    as sampled; `sample_replay` with a replay distribution of the caller's (DRED's mixture of
    two score rankings). Returns `(buffer, indices [n] int32, levels [n, ...])`."""
    indices = jax.random.choice(key, buffer.capacity, (n,), replace=True, p=p)
    buffer, levels = take(buffer, indices)
    return buffer, indices.astype(jnp.int32), levels


def take(buffer: LevelBuffer, indices: jax.Array) -> tuple[LevelBuffer, Any]:
    """Hand out the levels in slots `indices [n]`: `episode_count` advances by n and the slots
    are stamped with it (their staleness restarts). Returns `(buffer, levels [n, ...])`."""
    count = buffer.episode_count + indices.shape[0]
    buffer = buffer.replace(
        last_sampled=buffer.last_sampled.at[indices].set(count), episode_count=count
    )
    return buffer, jax.tree.map(lambda x: x[indices], buffer.levels)


def _no_max_returns(scores: jax.Array) -> jax.Array:
    return jnp.full(scores.shape, -jnp.inf, jnp.float32)


def insert(
    buffer: LevelBuffer,
    levels: Any,
    scores: jax.Array,
    valid: jax.Array,
    temperature: jax.Array,
    staleness_coef: jax.Array,
    top_k: int | None = None,
    max_returns: jax.Array | None = None,
    duplicate_check: bool = False,
    weights_fn: Callable[[LevelBuffer], jax.Array] | None = None,
) -> tuple[LevelBuffer, jax.Array]:
    """Offer `n` levels (leaves `[n, ...]`) with `scores`/`valid` `[n]`, one after another.

    Each valid level goes to the first empty slot; once the buffer is full it replaces the
    lowest-weight level (by P, computed just before the offer) only if its score is higher
    (PLR sec. 3). With `duplicate_check`, a level whose every leaf equals a stored level's
    updates that entry's score instead of taking a slot. `weights_fn(buffer) -> [capacity]`
    replaces P as the eviction order (a slot weighted +inf is never evicted). Returns
    `(buffer, slots [n] int32)`, the slot each level was written to, or -1 where it was
    rejected.
    """
    if max_returns is None:
        max_returns = _no_max_returns(scores)
    if weights_fn is None:
        weights_fn = lambda buf: weights(buf, temperature, staleness_coef, top_k)

    def offer(buf: LevelBuffer, item):
        level, score, ok, best_return = item
        p = weights_fn(buf)
        eviction = jnp.where(buf.filled, p, jnp.inf)
        lowest = jnp.argmin(eviction)
        empty = ~buf.filled
        slot = jnp.where(empty.any(), jnp.argmax(empty), lowest)
        evictable = jnp.isfinite(eviction[lowest]) & (score > buf.scores[lowest])
        accept = ok & (empty.any() | evictable)
        duplicate = jnp.zeros((), bool)
        if duplicate_check:
            same = buf.filled
            for stored, new in zip(
                jax.tree.leaves(buf.levels), jax.tree.leaves(level), strict=True
            ):
                same = same & jnp.all(stored == new, axis=tuple(range(1, stored.ndim)))
            duplicate = same.any()
            slot = jnp.where(duplicate, jnp.argmax(same), slot)
            accept = ok & (duplicate | accept)
        count = buf.episode_count + 1
        old_best = jnp.where(duplicate, buf.max_returns[slot], -jnp.inf)

        def put(stored: jax.Array, new: jax.Array) -> jax.Array:
            return stored.at[slot].set(jnp.where(accept, new, stored[slot]))

        buf = buf.replace(
            levels=jax.tree.map(put, buf.levels, level),
            scores=put(buf.scores, score),
            last_sampled=put(buf.last_sampled, count),
            filled=put(buf.filled, True),
            max_returns=put(buf.max_returns, jnp.maximum(old_best, best_return)),
            episode_count=count,
        )
        return buf, jnp.where(accept, slot, -1).astype(jnp.int32)

    return jax.lax.scan(offer, buffer, (levels, scores, valid, max_returns))


def update_scores(
    buffer: LevelBuffer,
    indices: jax.Array,
    scores: jax.Array,
    valid: jax.Array,
    max_returns: jax.Array | None = None,
) -> LevelBuffer:
    """Replace the scores of replayed levels `indices [n]` by their new valid `scores [n]`.

    A level replayed by several envs in the batch gets the mean of its valid scores; invalid
    scores leave the stored score untouched. `max_returns [n]` (best finished episode return
    of this rollout, -inf if none) raise the stored per-level maxima.
    """
    if max_returns is None:
        max_returns = _no_max_returns(scores)
    zeros = jnp.zeros(buffer.capacity, jnp.float32)
    total = zeros.at[indices].add(jnp.where(valid, scores, 0.0))
    hits = zeros.at[indices].add(valid.astype(jnp.float32))
    best = buffer.max_returns.at[indices].max(jnp.where(valid, max_returns, -jnp.inf))
    return buffer.replace(
        scores=jnp.where(hits > 0, total / jnp.maximum(hits, 1.0), buffer.scores),
        max_returns=best,
    )
