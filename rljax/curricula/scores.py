"""Level scores as pure functions of a trajectory on a batch of levels.

Every input is `[T, num_envs]` (time first, as `rljax.rollout.Transition`), column `e` being
the rollout on level `e` from the start of an episode on it; episodes auto-reset onto the same
level. `done = terminated | truncated` (an episode cut by the env's own time limit ended; the
end of the rollout is not an episode end). Every score returns `LevelScore(score, valid)`,
both `[num_envs]`.

`SCORES` registers the scores a curriculum loop can use by name, all with one signature
`score(inputs: rljax.learner.ScoreInputs, max_returns [n]) -> LevelScore` (`max_returns`:
the best return stored for each level, -inf if unknown; only MaxMC reads it).

A score is computed only from episodes that finished inside the trajectory. A column in which
no episode finished gets `valid = False` and `score = NaN`: a made-up number there would enter
the level buffer as if it were evidence (Jiang et al. 2021b, "Replay-Guided Adversarial
Environment Design", and the PLR level buffer both only keep measured scores). The steps of
a last, unfinished episode are left out of the average for the same reason: their advantages
lean on a bootstrapped value, not on an outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rljax.learner import ScoreInputs


class LevelScore(NamedTuple):
    score: jax.Array
    """`[num_envs]` float32; NaN where not valid."""
    valid: jax.Array
    """`[num_envs]` bool: at least one episode on the level finished in the trajectory."""


class EpisodeReturns(NamedTuple):
    """Undiscounted returns of the episodes that finished, per column `[num_envs]`."""

    mean: jax.Array
    """Mean return over finished episodes; NaN where none finished."""
    max: jax.Array
    """Best return over finished episodes; -inf where none finished."""
    count: jax.Array
    """Number of finished episodes, int32."""


def nanmean(x: jax.Array) -> jax.Array:
    """Mean of the finite entries of `x` (NaN if there is none): averages scores and returns
    that are NaN where nothing was measured."""
    finite = jnp.isfinite(x)
    count = finite.sum()
    return jnp.where(count > 0, jnp.where(finite, x, 0.0).sum() / jnp.maximum(count, 1), jnp.nan)


def finished_steps(done: jax.Array) -> jax.Array:
    """`[T, N]` bool: step t belongs to an episode that ends at or after t inside the
    trajectory (a done at some t' >= t)."""
    return jax.lax.cummax(done.astype(jnp.int32), axis=0, reverse=True).astype(bool)


def running_returns(reward: jax.Array, done: jax.Array) -> jax.Array:
    """`[T, N]`: the return of the current episode up to and including step t (at a done
    step, the finished episode's return)."""

    def step(running, inputs):
        r, d = inputs
        running = running + r
        return jnp.where(d, 0.0, running), running

    _, running = jax.lax.scan(step, jnp.zeros(reward.shape[1:], jnp.float32), (reward, done))
    return running


def episode_returns(reward: jax.Array, done: jax.Array) -> EpisodeReturns:
    """Sum the rewards of each finished episode; the last unfinished one is dropped."""
    running = running_returns(reward, done)
    count = done.sum(axis=0, dtype=jnp.int32)
    total = jnp.where(done, running, 0.0).sum(axis=0)
    return EpisodeReturns(
        mean=jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan),
        max=jnp.where(done, running, -jnp.inf).max(axis=0),
        count=count,
    )


def episode_successes(
    reward: jax.Array, done: jax.Array, success: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """`[T, N]` bool: True at each step that ends an episode whose return satisfies
    `success(returns) -> bool` (a task space's success test)."""
    return done & success(running_returns(reward, done))


def success_rate(done: jax.Array, successes: jax.Array) -> LevelScore:
    """The fraction of the finished episodes `[N]` that succeeded (`successes [T, N]` from
    `episode_successes`); invalid where none finished."""
    count = done.sum(axis=0)
    valid = count > 0
    rate = successes.sum(axis=0) / jnp.maximum(count, 1)
    return LevelScore(jnp.where(valid, rate, jnp.nan).astype(jnp.float32), valid)


def learnability(done: jax.Array, successes: jax.Array) -> LevelScore:
    """p (1 - p), p the success rate of the finished episodes (Rutherford et al. 2024,
    "No Regrets: Investigating and Improving Regret Approximations for Curriculum Discovery",
    sec. 4: highest for tasks the agent solves sometimes)."""
    rate, valid = success_rate(done, successes)
    return LevelScore(rate * (1.0 - rate), valid)


def _mean_over_finished(per_step: jax.Array, done: jax.Array) -> LevelScore:
    mask = finished_steps(done)
    steps = mask.sum(axis=0)
    valid = steps > 0
    total = jnp.where(mask, per_step, 0.0).sum(axis=0)
    return LevelScore(jnp.where(valid, total / jnp.maximum(steps, 1), jnp.nan), valid)


def positive_value_loss(advantage: jax.Array, done: jax.Array) -> LevelScore:
    """Mean over finished steps of max(A_t, 0), with A_t the GAE advantage (Jiang et al. 2021,
    "Prioritized Level Replay", sec. 3, "positive value loss"; `rljax.returns.gae` gives A)."""
    return _mean_over_finished(jnp.maximum(advantage, 0.0), done)


def value_l1(advantage: jax.Array, done: jax.Array) -> LevelScore:
    """Mean over finished steps of |A_t|, the L1 value loss with A_t the GAE advantage (Jiang
    et al. 2021, "Prioritized Level Replay", sec. 3; the score DRED's replay ranks by,
    Garcin et al. 2024)."""
    return _mean_over_finished(jnp.abs(advantage), done)


def max_mc(
    reward: jax.Array, done: jax.Array, value: jax.Array, max_return: jax.Array
) -> LevelScore:
    """Mean over finished steps of R_max - V(s_t), R_max the best return ever achieved on the
    level: the stored `max_return [N]` (-inf if none yet) or a better one finished here
    (the MaxMC regret estimate of Jiang et al. 2021b, "Replay-Guided Adversarial Environment
    Design")."""
    best = jnp.maximum(max_return, episode_returns(reward, done).max)
    return _mean_over_finished(best[None] - value, done)


def true_regret(reward: jax.Array, done: jax.Array, optimal_return: jax.Array) -> LevelScore:
    """Optimal return `[N]` (known, e.g. from a maze's shortest path) minus the mean return
    of the finished episodes."""
    achieved = episode_returns(reward, done)
    valid = achieved.count > 0
    return LevelScore(jnp.where(valid, optimal_return - achieved.mean, jnp.nan), valid)


def paired_regret(
    antagonist_reward: jax.Array,
    antagonist_done: jax.Array,
    protagonist_reward: jax.Array,
    protagonist_done: jax.Array,
) -> LevelScore:
    """PAIRED's regret estimate: the antagonist's best episode return minus the protagonist's
    mean episode return on the same level (Dennis et al. 2020, "Emergent Complexity and
    Zero-shot Transfer via Unsupervised Environment Design", sec. 4). Valid only where both
    agents finished at least one episode."""
    antagonist = episode_returns(antagonist_reward, antagonist_done)
    protagonist = episode_returns(protagonist_reward, protagonist_done)
    valid = (antagonist.count > 0) & (protagonist.count > 0)
    return LevelScore(jnp.where(valid, antagonist.max - protagonist.mean, jnp.nan), valid)


# --- the registry ---------------------------------------------------------------------------

ScoreFunction = Callable[[ScoreInputs, jax.Array], LevelScore]

SCORES: dict[str, ScoreFunction] = {}
"""name -> `score(inputs: ScoreInputs, max_returns [n]) -> LevelScore`."""


def register_score(name: str) -> Callable[[ScoreFunction], ScoreFunction]:
    """Decorator: register a score function under `name` in `SCORES`."""

    def register(fn: ScoreFunction) -> ScoreFunction:
        SCORES[name] = fn
        return fn

    return register


def _require(inputs: ScoreInputs, field: str, score: str) -> jax.Array:
    value = getattr(inputs, field)
    if value is None:
        no_critic = "and this learner gives None (no critic): pick a score without a critic"
        filled_by_loop = "which the curriculum loop fills in from the task space's success test"
        why = filled_by_loop if field == "success" else no_critic
        raise ValueError(f"the {score} score needs ScoreInputs.{field}, {why}")
    return value


@register_score("pvl")
def pvl_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """Positive value loss of the learner's advantages (`positive_value_loss`)."""
    del max_returns
    return positive_value_loss(_require(inputs, "advantage", "pvl"), inputs.done)


@register_score("value_l1")
def value_l1_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """L1 value loss of the learner's advantages (`value_l1`)."""
    del max_returns
    return value_l1(_require(inputs, "advantage", "value_l1"), inputs.done)


@register_score("return")
def return_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """The mean undiscounted return of the episodes that finished on each task (what a
    teacher that models competence reads, e.g. ALP-GMM's episode reward)."""
    del max_returns
    returns = episode_returns(inputs.reward, inputs.done)
    return LevelScore(returns.mean, returns.count > 0)


@register_score("success_rate")
def success_rate_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """The fraction of finished episodes that solved the task (`success_rate`)."""
    del max_returns
    return success_rate(inputs.done, _require(inputs, "success", "success_rate"))


@register_score("learnability")
def learnability_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """p (1 - p) of the finished episodes' success rate (`learnability`)."""
    del max_returns
    return learnability(inputs.done, _require(inputs, "success", "learnability"))


@register_score("max_mc")
def max_mc_score(inputs: ScoreInputs, max_returns: jax.Array) -> LevelScore:
    """MaxMC against the stored best returns `max_returns [n]` (`max_mc`)."""
    value = _require(inputs, "value", "max_mc")
    return max_mc(inputs.reward, inputs.done, value, max_returns)
