"""SFL's evaluation protocol: the success rate on a policy's worst levels (CVaR).

Rutherford et al. 2024, "No Regrets: Investigating and Improving Regret Approximations for
Curriculum Discovery", sec. 5 ("a more robust evaluation"): sample a large set of (solvable)
levels, roll the policy out on each with one seed, take the worst alpha% of levels by that
success rate, and report their success rate under an independent rollout seed. Choosing and
scoring with different seeds keeps the estimate from rewarding levels that were merely
unlucky once. CVaR at alpha = 100% is the plain mean over the sampled levels.

It needs only the task space's `sample` and `success` (and its `solvable`, where the space
has one, to leave out levels nobody can solve), and the learner's policy, so it applies to
every curriculum on every task space: `cvar_evaluation(play, learner_state, key)` with
`play` a `rljax.curricula.runner.TaskPlay` (a `UED` is one).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rljax.curricula.dr import sample_tasks

ALPHAS = (0.01, 0.1, 0.5, 1.0)
"""The paper's alphas."""


class CVaRResult(NamedTuple):
    cvar: jax.Array
    """`[len(alphas)]` float32: the scoring-seed success rate of the worst `alpha` levels."""
    selection: jax.Array
    """`[num_levels]` float32: success rate per level under the selection seed."""
    scoring: jax.Array
    """`[num_levels]` float32: success rate per level under the scoring seed."""
    num_unsolvable: jax.Array
    """int32 scalar: levels in the set the space's `solvable` rejects (0 without one; the set
    is drawn from twice as many samples, solvable ones first)."""


def sample_levels(space: Any, key: jax.Array, num_levels: int) -> tuple[Any, jax.Array]:
    """`num_levels` tasks from `space.sample` (leaves `[num_levels, ...]`) and how many of them
    are unsolvable: with a `space.solvable`, the first solvable of `2 num_levels` draws."""
    solvable = getattr(space, "solvable", None)
    if solvable is None:
        return sample_tasks(space.sample, key, num_levels), jnp.zeros((), jnp.int32)
    drawn = sample_tasks(space.sample, key, 2 * num_levels)
    ok = jax.vmap(solvable)(drawn)
    order = jnp.argsort(~ok, stable=True)[:num_levels]
    tasks = jax.tree.map(lambda x: x[order], drawn)
    return tasks, (~ok[order]).sum(dtype=jnp.int32)


def success_rates(
    play: Any, learner_state: Any, tasks: Any, key: jax.Array, episodes: int, batch: int
) -> jax.Array:
    """`[num_levels]` the fraction of `episodes` first episodes per task that succeeded, the
    tasks evaluated `batch` at a time (`num_levels % batch == 0`) on keys split from `key`."""
    num_levels = jax.tree.leaves(tasks)[0].shape[0]
    env = play.learner.vectorise(play.level_env, batch * episodes)
    chunks = jax.tree.map(
        lambda x: jnp.repeat(x.reshape(num_levels // batch, batch, *x.shape[1:]), episodes, 1),
        tasks,
    )

    def one_chunk(args):
        chunk, chunk_key = args
        result = play.play_episodes(learner_state, env, chunk, chunk_key)
        solved = play.task_space.success(result.returns).reshape(batch, episodes)
        return solved.mean(axis=1, dtype=jnp.float32)

    keys = jax.random.split(key, num_levels // batch)
    return jax.lax.map(one_chunk, (chunks, keys)).reshape(num_levels)


def cvar_evaluation(
    play: Any,
    learner_state: Any,
    key: jax.Array,
    num_levels: int = 1000,
    alphas: tuple[float, ...] = ALPHAS,
    episodes: int = 1,
    batch: int = 250,
    selection_seed: int = 0,
    scoring_seed: int = 1,
) -> CVaRResult:
    """The protocol above on `num_levels` levels drawn with `key` (pure; jit it with the
    static arguments fixed). `batch` levels are evaluated at once; `num_levels` must be a
    multiple of it."""
    if num_levels % batch:
        raise ValueError(f"num_levels={num_levels} must be a multiple of batch={batch}")
    tasks, unsolvable = sample_levels(play.task_space, key, num_levels)
    # Both seeds' rollouts as one vmapped evaluation: one compiled loop, not two.
    seeds = jnp.stack([jax.random.PRNGKey(selection_seed), jax.random.PRNGKey(scoring_seed)])
    selection, scoring = jax.vmap(
        lambda k: success_rates(play, learner_state, tasks, k, episodes, batch)
    )(seeds)
    return CVaRResult(cvar_from_rates(selection, scoring, alphas), selection, scoring, unsolvable)


def cvar_from_rates(
    selection: jax.Array, scoring: jax.Array, alphas: tuple[float, ...] = ALPHAS
) -> jax.Array:
    """`[len(alphas)]`: the mean `scoring` rate of the `ceil(alpha n)` (at least 1) levels
    with the lowest `selection` rate (ties in level order), per alpha."""
    n = selection.shape[0]
    ranked = scoring[jnp.argsort(selection, stable=True)]
    return jnp.stack([ranked[: max(1, math.ceil(a * n))].mean() for a in alphas])


__all__ = [
    "ALPHAS",
    "CVaRResult",
    "cvar_evaluation",
    "cvar_from_rates",
    "sample_levels",
    "success_rates",
]
