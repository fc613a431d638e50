"""PAIRED: an adversary builds levels, a protagonist and an antagonist play them (Dennis et al.
2020, "Emergent Complexity and Zero-shot Transfer via Unsupervised Environment Design",
sec. 4 and Alg. 1), as one `rljax.training.Algorithm`.

One PAIRED step, following Alg. 1:

  1. the adversary builds `num_levels` levels: one episode of its level-editor env
     (the maze's `MazeAdversary-13x13`: goal, agent, then 50 walls, one cell per step),
     collected with the adversary learner's rollout; the task space's `adversary.build(actions
     [T], start_state)` turns each episode's actions into the level it built;
  2. the protagonist and the antagonist each play every level for `num_steps` steps
     (`TaskPlay.play`); episodes auto-reset onto the same level, so each agent plays several
     episodes per level. Sec. 4 estimates the regret with the antagonist's *maximum* episode
     return against the protagonist's *mean* return, which needs more than one episode each;
  3. regret = max antagonist return - mean protagonist return per level
     (`scores.paired_regret`, over the episodes that finished);
  4. three learner updates (`learn`):
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

The students are the run's learner (`UEDConfig.learner`, recurrent PPO by default), played
and evaluated by `rljax.curricula.runner.TaskPlay` through the learner interface: the held-out
evaluation of the protagonist is the same function as every other method's. The adversary is
the learner of `PAIREDConfig.adversary` (`rljax.curricula.paired_adversary`) on the task
space's level-building env (`TaskSpace.adversary`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from rljax.agents.ppo import PPO, PPOMetrics
from rljax.config import ConfigError
from rljax.curricula import scores as level_scores
from rljax.curricula.paired_adversary import PAIREDConfig, adversary_reward
from rljax.curricula.runner import LevelResults, TaskPlay, UEDConfig
from rljax.evaluation import EvalResult
from rljax.learner import make_learner
from rljax.task_space import make_task_space


@struct.dataclass
class PAIREDHParams:
    """Traced coefficients: the students' learner (protagonist and antagonist) and the
    adversary's."""

    students: Any
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
    """One run: the three learners' states (`rljax.learner`), the counters and the loop's
    PRNG key. The adversary's env batch is always at the start of a build episode between
    steps (a rollout is exactly one episode and the env auto-resets)."""

    protagonist: Any
    antagonist: Any
    adversary: Any
    counters: PAIREDCounters
    key: jax.Array


class PAIREDRecord(NamedTuple):
    """One PAIRED step; stacked `[steps_per_eval]` inside an update."""

    regret: jax.Array
    """Mean valid regret over the step's levels (NaN if none valid)."""
    num_walls: jax.Array
    """Mean complexity of the built levels (`AdversarySpec.complexity`: walls on the maze)."""
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
    """The protagonist's held-out results, from `TaskPlay.evaluate`."""
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
    """The protagonist's losses."""
    antagonist_value_loss: jax.Array
    adversary_policy_loss: jax.Array
    adversary_value_loss: jax.Array
    adversary_entropy: jax.Array


class PAIRED(TaskPlay):
    """PAIRED on the task space of `config` (which must have an `adversary`), as an
    `rljax.training.Algorithm`; the students are `config.learner`, the adversary
    `config.curriculum.adversary` (a `PAIREDConfig`)."""

    def __init__(self, config: UEDConfig, task_space: Any = None):
        if not isinstance(config.curriculum, PAIREDConfig):
            raise ConfigError(
                f"UEDConfig.curriculum is {type(config.curriculum).__name__} for PAIRED. "
                "Fix: pass curriculum=PAIREDConfig() (CLI: curriculum:paired)."
            )
        task_space = make_task_space(config.task_space) if task_space is None else task_space
        spec = task_space.adversary
        if spec is None:
            raise ConfigError(
                f"the task space {type(task_space).__name__} has no level-building adversary "
                "env, which PAIRED needs. Fix: pick another curriculum, or a task space with "
                "one (the maze)."
            )
        students = make_learner(dataclasses.replace(config.learner, env=task_space.env_name))
        super().__init__(config, task_space, students)
        self.check_rollout_covers_episodes()  # regret needs the students' finished episodes
        adversary = config.curriculum.adversary
        if adversary.num_steps != spec.num_steps:
            raise ConfigError(
                f"UEDConfig.curriculum.adversary.num_steps={adversary.num_steps}, but the "
                f"adversary env {spec.env} builds a level in {spec.num_steps} steps. Fix: pass "
                f"--curriculum.adversary.num-steps {spec.num_steps}."
            )
        self.spec = spec
        self.adversary = PPO(
            dataclasses.replace(
                adversary,
                env=spec.env,
                total_timesteps=config.learner.total_timesteps,
                num_envs=config.learner.num_envs,
            )
        )
        if self.adversary.max_episode_steps != spec.num_steps:
            raise ConfigError(
                f"the adversary env {spec.env} ends its episodes after "
                f"{self.adversary.max_episode_steps} steps, not {spec.num_steps}. Fix: register "
                "an adversary env whose episode builds exactly one level."
            )
        self.steps_per_update = config.steps_per_update
        self.num_updates = config.learner.total_timesteps // self.steps_per_update

    def hparams(self) -> PAIREDHParams:
        return PAIREDHParams(self.config.learner.hparams(), self.adversary.config.hparams())

    # --- the Algorithm protocol -----------------------------------------------------------

    def init(self, key: jax.Array, hparams: PAIREDHParams) -> PAIREDState:
        protagonist_key, antagonist_key, adversary_key, key = jax.random.split(key, 4)
        tasks_key = jax.random.fold_in(adversary_key, 1)
        zero = jnp.zeros((), jnp.int32)
        return PAIREDState(
            protagonist=self.init_learner(protagonist_key, hparams.students, tasks_key),
            antagonist=self.init_learner(antagonist_key, hparams.students, tasks_key),
            adversary=self.adversary.init(adversary_key, hparams.adversary),
            counters=PAIREDCounters(zero, zero, zero),
            key=key,
        )

    def update(self, state: PAIREDState) -> tuple[PAIREDState, PAIREDMetrics]:
        state, record = jax.lax.scan(
            lambda s, _: self.step(s), state, None, length=self.config.steps_per_eval
        )
        return state, self._metrics(state, record, self.evaluate(state))

    def evaluate(self, state: PAIREDState) -> EvalResult:
        return super().evaluate(self.policy_params(state))

    def policy_params(self, state: PAIREDState) -> Any:
        """The protagonist's learner state: the policy PAIRED trains for transfer."""
        return state.protagonist

    def checked_leaves(self, state: PAIREDState) -> Any:
        """The NaN guard's leaves: all three networks' parameters."""
        return (state.protagonist.params, state.antagonist.params, state.adversary.params)

    def level_results(self, result: EvalResult) -> LevelResults:
        return super().level_results(result)

    # --- one PAIRED step ------------------------------------------------------------------

    def build(self, adversary: Any) -> tuple[Any, Any, Any]:
        """One build episode per level: `(adversary, trajectory, levels)`."""
        start = adversary.rollout.env_state.inner  # under EpisodeStatistics, batched
        adversary, traj = self.adversary.collect(
            adversary, self.adversary.env, self.adversary.env_params
        )
        actions = self.adversary.transitions(traj).action
        levels = jax.vmap(self.spec.build, in_axes=(1, 0))(actions, start)
        return adversary, traj, levels

    def step(self, state: PAIREDState) -> tuple[PAIREDState, PAIREDRecord]:
        """Build, play with both students, score the regret, train all three (Alg. 1)."""
        config = self.config
        key, build_key, reset_key, protagonist_key, antagonist_key = jax.random.split(state.key, 5)
        adversary, build_traj, levels = self.build(state.adversary.replace(key=build_key))
        # Both students start from the same resets of the same levels.
        protagonist, protagonist_traj = self.play(
            state.protagonist.replace(key=protagonist_key), levels, reset_key
        )
        antagonist, antagonist_traj = self.play(
            state.antagonist.replace(key=antagonist_key), levels, reset_key
        )
        steps = self.learner.transitions
        antagonist_steps, protagonist_steps = steps(antagonist_traj), steps(protagonist_traj)
        regret = level_scores.paired_regret(
            antagonist_steps.reward,
            antagonist_steps.terminated | antagonist_steps.truncated,
            protagonist_steps.reward,
            protagonist_steps.terminated | protagonist_steps.truncated,
        )
        protagonist, protagonist_metrics = self.learner.learn(protagonist, protagonist_traj)
        antagonist, antagonist_metrics = self.learner.learn(antagonist, antagonist_traj)
        reward = adversary_reward(regret, self.spec.num_steps)
        build_traj = build_traj._replace(steps=build_traj.steps._replace(reward=reward))
        adversary, adversary_metrics = self.adversary.learn(adversary, build_traj)

        c = state.counters
        num_levels, num_steps = config.learner.num_envs, config.learner.num_steps
        student_steps = 2 * num_levels * num_steps
        updates = 2 * self.learner.updates_per_learn + self.adversary.updates_per_learn
        counters = PAIREDCounters(
            env_steps=c.env_steps + student_steps + num_levels * self.spec.num_steps,
            student_env_steps=c.student_env_steps + student_steps,
            grad_updates=c.grad_updates + updates,
        )
        new_state = PAIREDState(protagonist, antagonist, adversary, counters, key)
        record = PAIREDRecord(
            level_scores.nanmean(regret.score),
            self.spec.complexity(levels).mean(),
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
        return self.build(state.adversary.replace(key=key))[2]


__all__ = [
    "PAIRED",
    "PAIREDCounters",
    "PAIREDHParams",
    "PAIREDMetrics",
    "PAIREDRecord",
    "PAIREDState",
]
