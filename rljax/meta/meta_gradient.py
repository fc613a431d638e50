"""Meta-gradients through unrolled agent updates: how LPG meta-trains its rule (Oh et al. 2020,
"Discovering Reinforcement Learning Algorithms", NeurIPS, Sec. 3 "Meta-training" and
Algorithm 1).

A population of `num_agents` agents lives on tasks (gridworld levels) drawn from a task space;
each agent persists across meta-steps and is replaced by a fresh one on a new task when its
lifetime (the learner config's `num_updates`) ends. One meta-step (`MetaGradient.step`), for
every agent at once (`vmap`):

  1. agents whose lifetime ended are re-initialised on new tasks (a select under `vmap`; the
     first lifetimes are staggered, agent i's ending after `(i + 1) / A` of a lifetime, so
     replacements spread over meta-steps instead of coming all at once);
  2. K = `unroll` agent updates with the meta-parameters placed in the learner's traced
     hyperparameters (`meta.apply`): collect a rollout, `learner.learn` it (the LPG agent
     moves along the rule's targets);
  3. a fresh rollout of the updated agent scores it: the meta-objective is the policy-gradient
     loss of the updated policy with advantages from a *separately trained* value critic
     (GAE, standardised over the batch), plus the paper's regularisers,

         L(eta) = -mean[A log pi_K(a|s)] - beta_pi mean H(pi_K) - beta_y mean H(y_K)
                  + beta_pihat mean_k mean pi_hat^2 + beta_yhat mean_k mean ||y_hat||^2

     (coefficients 0.05, 1e-3, 5e-3, 1e-3: the values PAPERS.md gives from the public
     reference; the paper writes the same terms), differentiated with respect to the
     meta-parameters eta through the K unrolled updates (`jax.checkpoint` around each, so
     memory grows with K only by one update's activations);
  4. the value critic trains on every rollout of the step (each of the K rollouts and the
     scoring one: one SGD step of A2C's value loss each, on GAE(lambda) targets), so it
     follows the agent. (The public reference computes its critic's update and discards it:
     there the critic never trains. Here the critic is A2C's learner with its policy head
     unused, and its state is carried.)
  5. the mean of L over agents is the meta-loss; its gradient goes to Adam on eta
     (`meta_learning_rate`, 1e-4 as in the reference), optionally clipped.

The agents' states after their K updates continue into the next meta-step (their
trajectories are data: the actions are sampled, so nothing from the past steps carries a
gradient into the next). The scoring rollout continues the agent's env batch too.

Everything is one compiled program per meta-step: the population is `vmap`ped (and split over
a mesh's devices with `mesh`), new tasks are drawn from the step's key inside it, and
nothing recompiles across meta-steps. Where new tasks come from is a level source
(`rljax.meta.level_sources`, `curriculum=`): `uniform` draws them from the task space (the
default: LPG's meta-training), `plr` and `groove` replay them from a PLR buffer, scored when an
agent's lifetime ends (by the positive value loss under the critic, or GROOVE's algorithmic
regret against a cached A2C antagonist; Jackson et al. 2023, GROOVE); the source's state is
`MetaGradientState.curriculum`, part of the compiled step and of checkpoints.
`MetaGradient` is an outer loop
(`rljax.meta.outer_loop.OuterLoop`): `init`, `generation_key`, `step`, and the shared host
driver `run` with checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import memory
from rljax.config import ConfigError
from rljax.learner import make_learner
from rljax.meta.inner import (
    TrainThenEvaluate,
    check_learner_fits,
    evaluate_on_task,
    repeat_task,
    task_env,
)
from rljax.meta.level_sources import CURRICULA, LevelSourceConfig, make_level_source
from rljax.meta.outer_loop import run_outer_loop
from rljax.meta.parameterisation import MetaParameterisation
from rljax.returns import gae
from rljax.rollout import mean_episode_return
from rljax.task_space import make_task_space, reset_to_tasks, task_space_name

_INIT_STREAM = 2**31 - 5
_OBSERVE_STREAM = 2**31 - 7


@dataclass(frozen=True)
class MetaGradientConfig:
    """The meta-gradient outer loop's settings (`--meta.*`)."""

    num_agents: int = 16
    """Agents in the population (the reference: 512 over 64 workers); each lives on its own
    task."""
    unroll: int = 5
    """K, agent updates unrolled per meta-step (the paper's 5)."""
    num_meta_steps: int = 300
    """Meta-steps of `run`."""
    meta_learning_rate: float = 1e-4
    """Adam's step size on the meta-parameters (the reference's 1e-4)."""
    meta_max_grad_norm: float = 0.0
    """Clip the meta-gradient to this global norm (0: no clipping, as the reference)."""
    entropy_coef: float = 0.05
    """beta_pi: weight of the updated policy's entropy in the meta-objective."""
    prediction_entropy_coef: float = 1e-3
    """beta_y: weight of the updated prediction y's entropy."""
    pi_hat_coef: float = 5e-3
    """beta_pihat: weight of mean pi_hat^2 (the rule's policy target)."""
    y_hat_coef: float = 1e-3
    """beta_yhat: weight of mean ||y_hat||^2 (the rule's prediction target)."""
    critic_gae_lambda: float = 0.95
    """GAE's lambda for the critic's advantages and value targets."""
    seed: int = 0
    """Seed of the initial agents, their tasks and every meta-step's key."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "num_agents", "unroll", "num_meta_steps", "meta_learning_rate")
        cfg.check_non_negative(
            self,
            "meta_max_grad_norm",
            "entropy_coef",
            "prediction_entropy_coef",
            "pi_hat_coef",
            "y_hat_coef",
            "seed",
        )
        cfg.check_unit_interval(self, "critic_gae_lambda")

    def replace(self, **changes: Any) -> MetaGradientConfig:
        return dataclasses.replace(self, **changes)


@struct.dataclass
class MetaGradientState:
    """The outer loop's state; leaves of `agents`, `critics`, `tasks`, `lifetime` have a
    leading `[num_agents]` axis."""

    meta_params: Any
    opt_state: Any
    agents: Any
    """The learners' states (their `hparams` hold the meta-parameters of the last step)."""
    critics: Any
    """The value critics' states (an A2C learner's, its policy head unused)."""
    tasks: Any
    """Each agent's task."""
    lifetime: jax.Array
    """int32 `[A]`: updates in each agent's current life (it is replaced at the first
    meta-step that finds `update_step >= lifetime`)."""
    curriculum: Any = None
    """The level source's state (`rljax.meta.level_sources`; None for `uniform`)."""
    generation: int = struct.field(pytree_node=False, default=0)


class MetaStepMetrics(NamedTuple):
    """One meta-step's scalars (means over agents)."""

    meta_loss: jax.Array
    policy_loss: jax.Array
    """-mean[A log pi_K(a|s)] of the scoring rollout."""
    entropy: jax.Array
    prediction_entropy: jax.Array
    pi_hat_square: jax.Array
    y_hat_square: jax.Array
    episode_return: jax.Array
    """Mean return of the episodes that ended in the step's rollouts (NaN if none)."""
    critic_loss: jax.Array
    """Mean squared error of the critic on its last rollout, before its step."""
    replaced: jax.Array
    """Agents replaced at the start of this step."""
    meta_grad_norm: jax.Array


def _mean_over(x: jax.Array) -> jax.Array:
    return jnp.nanmean(x) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.mean(x)


class MetaGradient:
    """LPG's meta-gradient outer loop (module doc) over `learner_config` (e.g.
    `LPGAgentConfig`, whose `num_updates` is the agents' lifetime), `critic_config` (an
    `A2CConfig` on the same env: its value head is the critic) and `task_space` (a registered
    task-space config or a TaskSpace: tasks are drawn by its `sample`). `meta` places the
    meta-parameters into the learner's hyperparameters (`rljax.meta.parameterisation.LPGRule`
    for the rule's). `mesh` (`rljax.sweep.runs_mesh`) splits the agents over devices.
    `curriculum` (`uniform`, `plr` or `groove`) picks the level source that gives reset agents
    their tasks, with `level_source` its settings (`rljax.meta.level_sources`); GROOVE's
    antagonist is an A2C learner of `critic_config` trained from scratch for its lifetime.

    Usage: `state = loop.init()`, then `state, metrics = loop.step(state,
    loop.generation_key(state.generation))`, or `loop.run(state, ...)`.
    """

    def __init__(
        self,
        learner_config: Any,
        critic_config: Any,
        task_space: Any,
        meta: MetaParameterisation,
        config: MetaGradientConfig = MetaGradientConfig(),
        mesh: Any = None,
        curriculum: str = "uniform",
        level_source: LevelSourceConfig | None = None,
    ):
        if curriculum not in CURRICULA:
            raise ConfigError(
                f"curriculum={curriculum!r} is not a level source. Fix: pass one of "
                f"{', '.join(CURRICULA)} (CLI flag --curriculum)."
            )
        self.config = config
        self.learner_config = learner_config
        self.critic_config = critic_config
        self.meta = meta
        self.task_space_config = task_space
        try:
            task_space_name(task_space)
            self.space = make_task_space(task_space)
        except KeyError:
            self.space = task_space
        self.learner = make_learner(learner_config)
        self.critic = make_learner(critic_config)
        check_learner_fits(self.learner, self.space, "learner_config.env")
        check_learner_fits(self.critic, self.space, "critic_config.env")
        if (critic_config.num_envs, critic_config.num_steps) != (
            learner_config.num_envs,
            learner_config.num_steps,
        ):
            raise ConfigError(
                f"critic_config has num_envs x num_steps = {critic_config.num_envs} x "
                f"{critic_config.num_steps}, learner_config "
                f"{learner_config.num_envs} x {learner_config.num_steps}: the critic learns "
                "from the agent's rollouts. Fix: build both with the same num_envs and num_steps."
            )
        if self.learner.num_updates < config.unroll:
            raise ConfigError(
                f"learner_config makes {self.learner.num_updates} updates per lifetime, fewer "
                f"than MetaGradientConfig.unroll={config.unroll}. Fix: raise "
                "learner_config.total_timesteps (--agent.total-timesteps) or lower --meta.unroll."
            )
        if mesh is not None and config.num_agents % mesh.size:
            raise ConfigError(
                f"MetaGradientConfig.num_agents={config.num_agents} does not split over "
                f"{mesh.size} devices. Fix: pass a multiple of {mesh.size}."
            )
        self.mesh = mesh
        self.num_envs = learner_config.num_envs
        base = task_env(self.space)
        self.env = self.learner.vectorise(base, self.num_envs)
        self.lifetime = self.learner.num_updates
        self.base_hparams = learner_config.hparams()
        self.critic_hparams = critic_config.hparams()
        self.initial_meta_params = meta.init(learner_config)
        self.env_steps_per_step = (
            config.num_agents * (config.unroll + 1) * self.learner.steps_per_update
        )
        level_source = LevelSourceConfig() if level_source is None else level_source
        self.curriculum = curriculum
        self.level_source_config = level_source
        if curriculum == "groove":
            self.eval_env = self.learner.vectorise(base, learner_config.num_eval_episodes)
            self._antagonist = TrainThenEvaluate(critic_config, self.space, self.critic)
        self.source = make_level_source(
            curriculum,
            level_source,
            self.space,
            config.num_agents,
            agent_return=self.agent_return,
            antagonist_return=self.antagonist_return,
        )
        self._step = memory.CheckedProgram(
            jax.jit(self._meta_step), "one meta-step", memory.SHRINK_META_GRADIENT
        )

    @property
    def num_generations(self) -> int:
        return self.config.num_meta_steps

    def optimizer(self) -> optax.GradientTransformation:
        adam = optax.adam(self.config.meta_learning_rate)
        if self.config.meta_max_grad_norm > 0:
            return optax.chain(optax.clip_by_global_norm(self.config.meta_max_grad_norm), adam)
        return adam

    def generation_key(self, generation: int) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.config.seed), generation)

    # --- agents ------------------------------------------------------------------------------

    def new_agent(self, key: jax.Array, task: Any, meta_params: Any) -> tuple[Any, Any]:
        """A fresh learner and critic on `task` (one agent; `vmap` for many), both env batches
        reset onto it; the critic shares the learner's env batch (it learns from the
        learner's rollouts), so only the learner's rollout state is used."""
        agent_key, critic_key, env_key, run_key = jax.random.split(key, 4)
        space = self.space
        obs_shape = space.env.observation_space(space.env_params).shape
        hparams = self.meta.apply(self.base_hparams, meta_params)
        agent = self.learner.init_learner(agent_key, hparams, obs_shape).replace(key=run_key)
        tasks = repeat_task(task, self.num_envs)
        base = task_env(space)
        agent = self.learner.start(
            agent,
            self.env,
            space.env_params,
            env_key,
            reset=lambda k: reset_to_tasks(space, tasks, k, env=base),
        )
        critic = self.critic.init_learner(critic_key, self.critic_hparams, obs_shape)
        return agent, critic

    def init(self) -> MetaGradientState:
        """The initial rule, Adam's state, and `num_agents` fresh agents on sampled tasks
        with staggered first lifetimes."""
        num = self.config.num_agents
        meta_params = self.initial_meta_params
        # One program for the level source's first state and draws, Adam's state and the
        # staggered lifetimes (run op by op, they compiled ~110 small XLA programs).
        agent_key, curriculum, tasks, opt_state, lifetime = jax.jit(self._start)(meta_params)
        # Checked like the meta-step: `num_agents` x `num_envs` env states can outgrow memory
        # before the first meta-step compiles.
        new_agents = memory.CheckedProgram(
            jax.jit(jax.vmap(self.new_agent, in_axes=(0, 0, None))),
            "the agents' first states",
            memory.SHRINK_META_GRADIENT,
            holds="env states, parameters, optimiser states",
        )
        agents, critics = new_agents(jax.random.split(agent_key, num), tasks, meta_params)
        state = MetaGradientState(
            meta_params=meta_params,
            opt_state=opt_state,
            agents=agents,
            critics=critics,
            tasks=tasks,
            lifetime=lifetime,
            curriculum=curriculum,
        )
        return self._place(state)

    def _start(self, meta_params: Any) -> tuple[jax.Array, Any, Any, Any, jax.Array]:
        """`init`'s jitted part: the new agents' key, the level source's state after its
        first `num_agents` draws, the tasks `[A, ...]`, the meta-optimiser's state and the
        first lifetimes `[A]`."""
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), _INIT_STREAM)
        task_key, agent_key = jax.random.split(key)
        num = self.config.num_agents
        example = jax.tree.map(
            lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(self.space.sample, task_key)
        )
        curriculum = self.source.init(task_key, example, num)
        curriculum, tasks = self.source.propose(curriculum, task_key, jnp.ones(num, bool))
        first = -(-self.lifetime * (jnp.arange(num) + 1) // num)  # ceil(N (i + 1) / A)
        lifetime = jnp.maximum(first, self.config.unroll).astype(jnp.int32)
        return agent_key, curriculum, tasks, self.optimizer().init(meta_params), lifetime

    def _place(self, state: MetaGradientState) -> MetaGradientState:
        if self.mesh is None:
            return state
        from rljax.sweep import shard_runs

        return state.replace(
            agents=shard_runs(state.agents, self.mesh),
            critics=shard_runs(state.critics, self.mesh),
            tasks=shard_runs(state.tasks, self.mesh),
            lifetime=shard_runs(state.lifetime, self.mesh),
        )

    # --- GROOVE's returns ----------------------------------------------------------------------

    def agent_return(self, agent: Any, task: Any, key: jax.Array) -> jax.Array:
        """A finished agent's mean return over `num_eval_episodes` fresh episodes on its task
        (GROOVE's reference evaluates the agent at the end of its lifetime)."""
        config = self.learner_config
        result = evaluate_on_task(
            self.learner,
            self.space,
            self.eval_env,
            config.num_eval_episodes,
            agent,
            task,
            key,
            config.greedy_eval,
        )
        return result.returns.mean()

    def antagonist_return(self, task: Any, key: jax.Array) -> jax.Array:
        """GROOVE's antagonist on `task`: an A2C learner of `critic_config` (the agent's
        settings, entropy 0.01) trained from scratch for its lifetime, then its mean return
        over `num_eval_episodes` episodes. Independent of the meta-parameters (cacheable)."""
        train_key, eval_key = jax.random.split(key)
        return self._antagonist(self.critic_hparams, task, train_key, eval_key)

    # --- one meta-step -----------------------------------------------------------------------

    def _critic_step(self, critic: Any, steps: Any) -> tuple[Any, jax.Array, jax.Array]:
        """GAE advantages `[T, N]` of a rollout under the critic, then one step of the
        critic's value loss on its GAE(lambda) targets. Returns (critic, advantages, loss)."""
        value_of = self.critic.value
        hp = critic.hparams
        value = value_of(critic.params, steps.obs)
        advantage, target = gae(
            steps.reward * hp.reward_scale,
            value,
            value_of(critic.params, steps.next_obs),
            steps.terminated,
            steps.truncated,
            hp.gamma,
            self.config.critic_gae_lambda,
        )

        def value_loss(params):
            return jnp.mean(jnp.square(value_of(params, steps.obs) - target))

        loss, grads = jax.value_and_grad(value_loss)(critic.params)
        return self.critic._step(critic, grads), advantage, loss

    def agent_objective(
        self, meta_params: Any, agent: Any, critic: Any
    ) -> tuple[jax.Array, tuple[Any, Any, MetaStepMetrics, jax.Array]]:
        """One agent's meta-loss after K updates under `meta_params` (module doc, steps 2-4),
        with its states after the step, its metrics and the positive value loss of its
        scoring rollout under the critic (PLR's score, mean max(GAE advantage, 0))."""
        learner, config = self.learner, self.config
        env, env_params = self.env, self.space.env_params
        agent = agent.replace(hparams=self.meta.apply(agent.hparams, meta_params))

        def collect(state):
            # Acting is data: the sampled actions carry no gradient, so the policy's
            # parameters are stopped here and the backward pass skips the env steps.
            acting = state.replace(params=jax.lax.stop_gradient(state.params))
            acting, traj = learner.collect(acting, env, env_params)
            return state.replace(rollout=acting.rollout, key=acting.key), traj

        @jax.checkpoint
        def inner(carry, _):
            state, critic = carry
            state, traj = collect(state)
            state, metrics = learner.learn(state, traj)
            critic, _, _ = self._critic_step(critic, jax.lax.stop_gradient(traj.steps))
            return (state, critic), metrics

        (agent, critic), metrics = jax.lax.scan(inner, (agent, critic), None, length=config.unroll)
        agent, scoring = collect(agent)
        steps = jax.lax.stop_gradient(scoring.steps)
        critic, advantage, critic_loss = self._critic_step(critic, steps)
        positive_value_loss = jnp.maximum(advantage, 0.0).mean()
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        pi, prediction = learner.heads(agent.params, steps.obs)
        log_y = jax.nn.log_softmax(prediction, axis=-1)
        policy_loss = -jnp.mean(advantage * pi.log_prob(steps.action))
        entropy = pi.entropy().mean()
        prediction_entropy = -jnp.sum(jnp.exp(log_y) * log_y, axis=-1).mean()
        pi_hat_square = metrics.pi_hat_square.mean()
        y_hat_square = metrics.y_hat_square.mean()
        loss = (
            policy_loss
            - config.entropy_coef * entropy
            - config.prediction_entropy_coef * prediction_entropy
            + config.pi_hat_coef * pi_hat_square
            + config.y_hat_coef * y_hat_square
        )
        returns = jnp.concatenate(
            [metrics.episode_return, mean_episode_return(scoring.steps)[None]], axis=0
        )
        out = MetaStepMetrics(
            meta_loss=loss,
            policy_loss=policy_loss,
            entropy=entropy,
            prediction_entropy=prediction_entropy,
            pi_hat_square=pi_hat_square,
            y_hat_square=y_hat_square,
            episode_return=jnp.nanmean(returns),
            critic_loss=critic_loss,
            replaced=jnp.float32(0.0),
            meta_grad_norm=jnp.float32(0.0),
        )
        return loss, (agent, critic, out, positive_value_loss)

    def _meta_step(
        self, state: MetaGradientState, key: jax.Array
    ) -> tuple[MetaGradientState, MetaStepMetrics]:
        num = self.config.num_agents
        task_key, agent_key = jax.random.split(key)
        # 1. replace the agents whose lifetime ended (every agent's fresh state is computed;
        # under vmap a branch would be a select anyway).
        ended = state.agents.update_step >= state.lifetime
        curriculum, new_tasks = self.source.propose(state.curriculum, task_key, ended)
        fresh_agents, fresh_critics = jax.vmap(self.new_agent, in_axes=(0, 0, None))(
            jax.random.split(agent_key, num), new_tasks, state.meta_params
        )

        def pick(fresh, old):
            where = ended.reshape(ended.shape + (1,) * (jnp.ndim(old) - 1))
            return jnp.where(where, fresh, old)

        agents = jax.tree.map(pick, fresh_agents, state.agents)
        critics = jax.tree.map(pick, fresh_critics, state.critics)
        tasks = jax.tree.map(pick, new_tasks, state.tasks)
        lifetime = jnp.where(ended, self.lifetime, state.lifetime)

        # 2-5. the meta-gradient of the mean meta-loss over agents.
        def mean_loss(meta_params):
            per_agent = jax.vmap(self.agent_objective, in_axes=(None, 0, 0))
            losses, aux = per_agent(meta_params, agents, critics)
            return losses.mean(), aux

        grads, (agents, critics, metrics, pvl) = jax.grad(mean_loss, has_aux=True)(
            state.meta_params
        )
        updates, opt_state = self.optimizer().update(grads, state.opt_state, state.meta_params)
        meta_params = optax.apply_updates(state.meta_params, updates)
        metrics = jax.tree.map(_mean_over, metrics)._replace(
            replaced=ended.sum().astype(jnp.float32),
            meta_grad_norm=optax.global_norm(grads),
        )
        if self.source.observes:
            # The agents whose lifetime ends with this step score their levels.
            finished = agents.update_step >= lifetime
            observe_key = jax.random.fold_in(key, _OBSERVE_STREAM)
            curriculum = self.source.observe(curriculum, observe_key, tasks, finished, agents, pvl)
        new_state = state.replace(
            meta_params=meta_params,
            opt_state=opt_state,
            agents=agents,
            critics=critics,
            tasks=tasks,
            lifetime=lifetime,
            curriculum=curriculum,
        )
        return new_state, metrics

    def step(
        self, state: MetaGradientState, key: jax.Array
    ) -> tuple[MetaGradientState, MetaStepMetrics]:
        """One meta-step (module doc)."""
        # The program sees generation 0 always: it is static, and would recompile per step.
        new_state, metrics = self._step(state.replace(generation=0), key)
        return new_state.replace(generation=state.generation + 1), metrics

    # --- host side -----------------------------------------------------------------------------

    def fingerprint(self) -> dict:
        try:
            task_space_name(self.task_space_config)
            space = self.task_space_config
        except KeyError:
            space = type(self.task_space_config).__name__
        curriculum = {}
        if self.curriculum != "uniform":  # (uniform runs keep their fingerprint from before)
            curriculum = {
                "curriculum": {
                    "name": self.curriculum,
                    **dataclasses.asdict(self.level_source_config),
                }
            }
        return {  # (the run's length is not what it is: a resumed run may go further)
            **curriculum,
            "meta_gradient": {
                k: v for k, v in dataclasses.asdict(self.config).items() if k != "num_meta_steps"
            },
            "meta": {"type": type(self.meta).__name__, **dataclasses.asdict(self.meta)},
            "learner": self.learner_config,
            "critic": self.critic_config,
            "task_space": space,
        }

    def save(self, checkpointer: Any, state: MetaGradientState) -> None:
        checkpointer.save(state.generation, state)

    def restore(self, checkpointer: Any) -> MetaGradientState | None:
        """The latest checkpointed state, or None if there is none. Meta-step g's key is
        fixed by (seed, g), so a resumed run continues exactly as an uninterrupted one."""
        if checkpointer.latest_step() is None:
            return None
        step, restored, _ = checkpointer.restore(jax.eval_shape(self.init))
        return self._place(restored.replace(generation=step))

    def run(
        self,
        state: MetaGradientState,
        num_generations: int | None = None,
        progress: bool = True,
        on_generation: Callable[[MetaGradientState, MetaStepMetrics], None] | None = None,
        checkpointer: Any = None,
    ) -> MetaGradientState:
        """Meta-steps from `state.generation` up to `num_generations` (the config's
        `num_meta_steps` by default), checkpointed after every step if a checkpointer is
        given, with a progress bar of the meta-loss and the agents' return."""
        return run_outer_loop(
            self,
            state,
            num_generations,
            progress=progress,
            on_generation=on_generation,
            checkpointer=checkpointer,
            describe=lambda m: (
                f"loss {float(m.meta_loss):+.3f} return {float(m.episode_return):.2f}"
            ),
            desc="meta-gradient"
            + ("" if self.curriculum == "uniform" else f" ({self.curriculum})"),
        )


__all__ = ["MetaGradient", "MetaGradientConfig", "MetaGradientState", "MetaStepMetrics"]
