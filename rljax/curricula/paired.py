"""PAIRED: an adversary builds levels, a protagonist and an antagonist play them (Dennis et al.
2020, "Emergent Complexity and Zero-shot Transfer via Unsupervised Environment Design",
sec. 4 and Alg. 1), as one `rljax.training.Algorithm`.

One PAIRED step, following Alg. 1:

  1. the adversary builds `num_levels` levels: one episode of its level-editor env
     (`MazeAdversary-13x13`: goal, agent, then 50 walls, one cell per step), collected with
     PPO's rollout; `build_level(actions [T], start_state)` turns each episode's actions into
     the level it built;
  2. the protagonist and the antagonist each play every level for `num_steps` steps
     (`UED.play`); episodes auto-reset onto the same level, so each agent plays several
     episodes per level. Sec. 4 estimates the regret with the antagonist's *maximum* episode
     return against the protagonist's *mean* return, which needs more than one episode each;
  3. regret = max antagonist return - mean protagonist return per level
     (`scores.paired_regret`, over the episodes that finished);
  4. three PPO updates (`PPO.learn`, the same loss for all three):
     - the adversary on its build episode, with reward 0 at every placement and the regret at
       the final one (`adversary_reward`): it maximises regret;
     - the protagonist and the antagonist on their own env rewards. Alg. 1 writes their
       rewards as -REGRET and +REGRET; within one level each agent controls only its own term
       of the regret, so the policy gradient of +-REGRET for that agent is the gradient of its
       own return. Training on its own return is what the paper's released implementation
       does; the antagonist's max-over-episodes is the estimator, not its objective.

Every step trains all three agents, so gradient updates per step are `3 * update_epochs *
num_minibatches`. Env steps count all three agents' rollouts, the adversary's placements
included; `student_env_steps` counts only the protagonist's and antagonist's.

The students are the UED runner's agent (recurrent PPO by default, `UED.ppo`), played
and evaluated by a `UED` instance (`play`, `evaluate_params`, `level_results`): the held-out
evaluation of the protagonist is the same function as every other method's. The adversary
is PPO with the MinAtar CNN over its `[13, 13, 4]` observation (the paper's adversary is an
LSTM over a conv embedding with a time step and noise input; see `envs/maze/adversary.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from rljax import rollout
from rljax.agents.common import TrainState
from rljax.agents.ppo import PPO, PPOConfig, PPOMetrics
from rljax.config import ConfigError
from rljax.curricula import scores as level_scores
from rljax.curricula.runner import ADVERSARY_STEPS, UED, LevelResults, PAIREDHParams, UEDConfig
from rljax.evaluation import EvalResult


class PAIREDParams(NamedTuple):
    """The three networks' parameters (`PAIREDState.params`)."""

    protagonist: Any
    antagonist: Any
    adversary: Any


class PAIREDCounters(NamedTuple):
    """Cumulative int32 counts."""

    env_steps: jax.Array
    """Every env step: both students' rollouts and the adversary's placements."""
    student_env_steps: jax.Array
    """The protagonist's and the antagonist's env steps only."""
    grad_updates: jax.Array
    """Gradient updates of all three agents (epochs x minibatches each per step)."""


@struct.dataclass
class PAIREDState:
    """One run. Parameter fields end in `params` so that `rljax.training`'s finite check
    looks at all three networks."""

    protagonist_params: Any
    antagonist_params: Any
    adversary_params: Any
    protagonist_opt_state: Any
    antagonist_opt_state: Any
    adversary_opt_state: Any
    update_step: jax.Array
    """int32, PAIRED steps so far (each agent's PPO learn calls)."""
    adversary_rollout: rollout.RolloutState
    """The adversary's env batch, always at the start of a build episode between steps (a
    rollout is exactly one episode and the env auto-resets)."""
    counters: PAIREDCounters
    key: jax.Array
    hparams: PAIREDHParams

    @property
    def params(self) -> PAIREDParams:
        """All three networks' parameters, as other algorithms' `state.params`."""
        return PAIREDParams(self.protagonist_params, self.antagonist_params, self.adversary_params)


class PAIREDRecord(NamedTuple):
    """One PAIRED step; stacked `[steps_per_eval]` inside an update."""

    regret: jax.Array
    """Mean valid regret over the step's levels (NaN if none valid)."""
    num_walls: jax.Array
    """Mean number of walls of the built levels."""
    protagonist: PPOMetrics
    antagonist: PPOMetrics
    adversary: PPOMetrics


class PAIREDMetrics(NamedTuple):
    """Per-update scalars; the names shared with `UEDMetrics` mean the same."""

    episode_return: jax.Array
    """Protagonist's mean training episode return (NaN if none ended)."""
    antagonist_return: jax.Array
    heldout_return: jax.Array
    heldout_solve_rate: jax.Array
    """The protagonist's held-out results, from `UED.evaluate_params`."""
    total_env_steps: jax.Array
    student_env_steps: jax.Array
    grad_updates: jax.Array
    regret: jax.Array
    """Mean regret estimate of the adversary's levels: its objective."""
    num_walls: jax.Array
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    """The protagonist's PPO losses."""
    antagonist_value_loss: jax.Array
    adversary_policy_loss: jax.Array
    adversary_value_loss: jax.Array
    adversary_entropy: jax.Array


def adversary_reward(regret: level_scores.LevelScore, num_steps: int) -> jax.Array:
    """The adversary's reward `[num_steps, num_levels]`: 0 for every placement but the last,
    which gets the level's regret (0 where it is not valid: no finished episode to measure
    it by). Dennis et al. 2020, Alg. 1: the adversary is trained with reward REGRET."""
    final = jnp.where(regret.valid, regret.score, 0.0)
    return jnp.zeros((num_steps, final.shape[0]), jnp.float32).at[-1].set(final)


class PAIRED:
    """PAIRED on the levels of `students` (a `UED` for the same `UEDConfig`, method
    `paired`), with the adversary env `adversary_env` (a registered name) and
    `build_level(actions [T], start_state) -> level`, where `start_state` is the adversary
    env's (unbatched) state at the start of its episode."""

    def __init__(
        self,
        config: UEDConfig,
        students: UED,
        adversary_env: str,
        build_level: Callable[[jax.Array, Any], Any],
    ):
        if config.method != "paired":
            raise ConfigError(
                f"UEDConfig.method={config.method!r} for PAIRED. Fix: pass method='paired'."
            )
        self.config = config
        self.students = students
        self.build_level = build_level
        self.adversary = PPO(
            PPOConfig(
                env=adversary_env,
                total_timesteps=config.total_timesteps,
                num_envs=config.num_levels,
                num_steps=ADVERSARY_STEPS,
                update_epochs=config.update_epochs,
                num_minibatches=config.num_minibatches,
                learning_rate=config.learning_rate,
                anneal_lr=False,
                gamma=config.gamma,
                gae_lambda=config.gae_lambda,
                clip_eps=config.clip_eps,
                ent_coef=config.ent_coef,
                vf_coef=config.vf_coef,
                max_grad_norm=config.max_grad_norm,
                network="minatar_cnn",
                num_eval_episodes=1,
            )
        )
        if self.adversary.max_episode_steps != ADVERSARY_STEPS:
            raise ConfigError(
                f"adversary_env={adversary_env!r} builds a level in "
                f"{self.adversary.max_episode_steps} steps, but a PAIRED rollout is "
                f"{ADVERSARY_STEPS}. Fix: use MazeAdversary-13x13 (50 wall steps)."
            )
        self.steps_per_update = config.steps_per_update
        self.num_updates = config.total_timesteps // self.steps_per_update

    # --- the Algorithm protocol -----------------------------------------------------------

    def init(self, key: jax.Array, hparams: PAIREDHParams) -> PAIREDState:
        protagonist_key, antagonist_key, adversary_key, key = jax.random.split(key, 4)
        ppo, obs_shape = self.students.ppo, self.students.obs_shape
        optimizer = ppo.optimizer(hparams.students)
        protagonist = ppo.init_params(protagonist_key, obs_shape)
        antagonist = ppo.init_params(antagonist_key, obs_shape)
        adversary = self.adversary.init(adversary_key, hparams.adversary)
        zero = jnp.zeros((), jnp.int32)
        return PAIREDState(
            protagonist_params=protagonist,
            antagonist_params=antagonist,
            adversary_params=adversary.params,
            protagonist_opt_state=optimizer.init(protagonist),
            antagonist_opt_state=optimizer.init(antagonist),
            adversary_opt_state=adversary.opt_state,
            update_step=zero,
            adversary_rollout=adversary.rollout,
            counters=PAIREDCounters(zero, zero, zero),
            key=key,
            hparams=hparams,
        )

    def update(self, state: PAIREDState) -> tuple[PAIREDState, PAIREDMetrics]:
        state, record = jax.lax.scan(
            lambda s, _: self.step(s), state, None, length=self.config.steps_per_eval
        )
        return state, self._metrics(state, record, self.evaluate(state))

    def evaluate(self, state: PAIREDState) -> EvalResult:
        return self.students.evaluate_params(self.policy_params(state))

    def policy_params(self, state: PAIREDState) -> Any:
        """The protagonist's parameters: the policy PAIRED trains for transfer."""
        return state.protagonist_params

    @property
    def eval_names(self) -> tuple[str, ...]:
        """The held-out levels' names, in `level_results` order (the students')."""
        return self.students.eval_names

    def level_results(self, result: EvalResult) -> LevelResults:
        return self.students.level_results(result)

    # --- one PAIRED step ------------------------------------------------------------------

    def _adversary(self, state: PAIREDState, key: jax.Array) -> TrainState:
        """The adversary's PPO state, at the start of its build episodes."""
        return TrainState(
            params=state.adversary_params,
            opt_state=state.adversary_opt_state,
            rollout=state.adversary_rollout,
            key=key,
            hparams=state.hparams.adversary,
            update_step=state.update_step,
        )

    def build(self, adversary: TrainState) -> tuple[TrainState, rollout.Transition, Any]:
        """One build episode per level: `(adversary, trajectory [T, num_levels], levels)`."""
        start = adversary.rollout.env_state.inner  # under EpisodeStatistics, batched
        adversary, traj = self.adversary.collect(adversary)
        levels = jax.vmap(self.build_level, in_axes=(1, 0))(traj.action, start)
        return adversary, traj, levels

    def step(self, state: PAIREDState) -> tuple[PAIREDState, PAIREDRecord]:
        """Build, play with both students, score the regret, train all three (Alg. 1)."""
        hp, config = state.hparams, self.config
        key, build_key, reset_key, protagonist_key, antagonist_key = jax.random.split(state.key, 5)

        def student(params, opt_state, agent_key):
            return TrainState(
                params=params,
                opt_state=opt_state,
                rollout=None,
                key=agent_key,
                hparams=hp.students,
                update_step=state.update_step,
            )

        adversary, build_traj, levels = self.build(self._adversary(state, build_key))
        # Both students start from the same resets of the same levels.
        protagonist, protagonist_traj = self.students.play(
            student(state.protagonist_params, state.protagonist_opt_state, protagonist_key),
            levels,
            reset_key,
        )
        antagonist, antagonist_traj = self.students.play(
            student(state.antagonist_params, state.antagonist_opt_state, antagonist_key),
            levels,
            reset_key,
        )
        steps = self.students.ppo.transitions
        antagonist_steps, protagonist_steps = steps(antagonist_traj), steps(protagonist_traj)
        regret = level_scores.paired_regret(
            antagonist_steps.reward,
            antagonist_steps.terminated | antagonist_steps.truncated,
            protagonist_steps.reward,
            protagonist_steps.terminated | protagonist_steps.truncated,
        )
        learn = self.students.ppo.learn
        protagonist, protagonist_metrics = learn(protagonist, protagonist_traj)
        antagonist, antagonist_metrics = learn(antagonist, antagonist_traj)
        build_traj = build_traj._replace(reward=adversary_reward(regret, ADVERSARY_STEPS))
        adversary, adversary_metrics = self.adversary.learn(adversary, build_traj)

        c = state.counters
        student_steps = 2 * config.num_levels * config.num_steps
        counters = PAIREDCounters(
            env_steps=c.env_steps + student_steps + config.num_levels * ADVERSARY_STEPS,
            student_env_steps=c.student_env_steps + student_steps,
            grad_updates=c.grad_updates + 3 * config.update_epochs * config.num_minibatches,
        )
        new_state = state.replace(
            protagonist_params=protagonist.params,
            antagonist_params=antagonist.params,
            adversary_params=adversary.params,
            protagonist_opt_state=protagonist.opt_state,
            antagonist_opt_state=antagonist.opt_state,
            adversary_opt_state=adversary.opt_state,
            update_step=protagonist.update_step,
            adversary_rollout=adversary.rollout,
            counters=counters,
            key=key,
        )
        walls = jnp.asarray(levels.walls, jnp.float32).sum(axis=(-2, -1)).mean()
        record = PAIREDRecord(
            level_scores.nanmean(regret.score),
            walls,
            protagonist_metrics,
            antagonist_metrics,
            adversary_metrics,
        )
        return new_state, record

    def _metrics(
        self, state: PAIREDState, record: PAIREDRecord, heldout: EvalResult
    ) -> PAIREDMetrics:
        nanmean = level_scores.nanmean
        protagonist, adversary = record.protagonist, record.adversary
        return PAIREDMetrics(
            episode_return=nanmean(protagonist.episode_return),
            antagonist_return=nanmean(record.antagonist.episode_return),
            heldout_return=heldout.returns.mean(),
            heldout_solve_rate=(heldout.returns > 0).mean(),
            total_env_steps=state.counters.env_steps,
            student_env_steps=state.counters.student_env_steps,
            grad_updates=state.counters.grad_updates,
            regret=nanmean(record.regret),
            num_walls=record.num_walls.mean(),
            policy_loss=protagonist.policy_loss.mean(),
            value_loss=protagonist.value_loss.mean(),
            entropy=protagonist.entropy.mean(),
            approx_kl=protagonist.approx_kl.mean(),
            antagonist_value_loss=record.antagonist.value_loss.mean(),
            adversary_policy_loss=adversary.policy_loss.mean(),
            adversary_value_loss=adversary.value_loss.mean(),
            adversary_entropy=adversary.entropy.mean(),
        )

    # --- host-side helpers ----------------------------------------------------------------

    def sample_levels(self, state: PAIREDState, key: jax.Array) -> Any:
        """`num_levels` levels built by one run's current adversary (leaves `[num_levels,
        ...]`), for pictures."""
        return self.build(self._adversary(state, key))[2]


__all__ = [
    "PAIRED",
    "PAIREDCounters",
    "PAIREDHParams",
    "PAIREDMetrics",
    "PAIREDParams",
    "PAIREDState",
    "adversary_reward",
]
