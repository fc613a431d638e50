"""Proximal Policy Optimisation (Schulman et al. 2017, "Proximal Policy Optimization
Algorithms", Alg. 1), with the policy loss written through a drift function (see
`rljax.objectives.drift`) so that PPO's clip, MDPO's KL or a learned objective plug in by name.

One update:
  1. collect `num_steps` steps from `num_envs` envs with the current policy (`rljax.rollout`);
  2. compute GAE advantages, bootstrapping through truncation only (`rljax.returns`);
  3. run `update_epochs` shuffled passes of `num_minibatches` minibatches of Adam steps on
     `policy_loss + vf_coef * value_loss - ent_coef * entropy`, with global-norm gradient
     clipping and a linearly annealed learning rate (Huang et al. 2022, "The 37
     implementation details of PPO", details 4, 7, 11).

Static config (shapes, counts, network) lives in `PPOConfig`; coefficients live in
`PPOHParams`, a pytree of traced leaves inside `PPOState`, so vmapping over them sweeps
without recompiling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import optim, rollout
from rljax.agents.common import TrainState, collect, resolve_torso
from rljax.agents.settings import (
    AnnealedLR,
    EvalSettings,
    OptimSettings,
    RunSettings,
    TorsoSettings,
    check_settings,
)
from rljax.environment import SpaceSpec, action_spec, make, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.learner import ScoreInputs, register_learner
from rljax.minibatch import flatten_time
from rljax.networks import ActorCritic
from rljax.objectives.drift import DRIFTS, make_drift, policy_loss
from rljax.returns import RewardNormalizer, gae, normalize_rewards, scale_rewards
from rljax.wrappers import ClipAction, EpisodeStatistics, NormalizeObservation, VecEnv


@dataclass(frozen=True)
class PPOConfig(EvalSettings, TorsoSettings, AnnealedLR, OptimSettings, RunSettings):
    """Everything that defines a PPO run. Defaults: the CartPole config of PureJaxRL/CleanRL."""

    update_epochs: int = 4
    """Passes of minibatch SGD over each rollout."""
    num_minibatches: int = 4
    """Minibatches per pass; must divide num_envs * num_steps."""
    anneal_lr: bool = True
    gae_lambda: float = 0.95
    """GAE's lambda: 1 is Monte Carlo, 0 is one-step TD."""
    clip_eps: float = 0.2
    """PPO's clip epsilon: the meta-parameter of the `ppo_clip` drift."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    clip_value: bool = True
    """Clip the value update to +-value_clip_eps around the old value, as PureJaxRL and CleanRL do.
    On CartPole at the default config it lifts the seeds at >= 475 from 6/16 to 16/16
    (benchmarks/RESULTS.md); Andrychowicz et al. (2021) found it neutral or harmful elsewhere."""
    value_clip_eps: float = 0.2
    """Half-width of the value clipping range (with clip_value)."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch."""
    normalize_observations: bool = False
    """Running observation normalisation, shared over the env batch."""
    normalize_rewards: bool = False
    """Divide rewards by a running standard deviation of the discounted return (with the
    traced `gamma`), shared over the env batch (`rljax.returns.normalize_rewards`;
    PureJaxRL's brax config does). Value estimates are then in those units."""
    drift: Annotated[str, cfg.choices(sorted(DRIFTS))] = "ppo_clip"
    """Policy objective as a drift function (see rljax.objectives)."""
    greedy_eval: bool = True
    """Evaluate with the policy's mode (True) or by sampling (False)."""

    def __post_init__(self) -> None:
        check_settings(self)
        cfg.check_positive(self, "update_epochs", "num_minibatches")
        cfg.check_non_negative(self, "ent_coef", "vf_coef", "clip_eps", "value_clip_eps")
        cfg.check_unit_interval(self, "gae_lambda")
        cfg.check_choice(self, "drift", tuple(sorted(DRIFTS)))
        cfg.check_rollout_batch(self)

    def replace(self, **changes: Any) -> PPOConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> PPOHParams:
        """The traced coefficients of this config, as a pytree for `train`/`vmap`."""
        return cfg.traced_coefficients(
            self,
            PPOHParams,
            drift_params=make_drift(self.drift).init_params(self.clip_eps),
        )


@struct.dataclass
class PPOHParams:
    """Traced coefficients; each leaf is a scalar (or `[runs]` under vmap)."""

    learning_rate: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array
    value_clip_eps: jax.Array
    reward_scale: jax.Array
    drift_params: Any
    """Meta-parameters of the drift: clip epsilon for `ppo_clip`, network weights for LPO."""


PPOState = TrainState


class PPOMetrics(NamedTuple):
    """Per-update scalars; `episode_return` is NaN for an update in which no episode ended."""

    episode_return: jax.Array
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    learning_rate: jax.Array


class PPOBatch(NamedTuple):
    """What PPO's loss needs at each step: every leaf `[B, ...]` (or `[T, N, ...]` for a
    recurrent agent's sequences)."""

    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


class PPOTrajectory(NamedTuple):
    """What `PPO.collect` returns: the rollout and V(s'_t) `[num_steps, num_envs]` of each
    step's pre-reset next observation, GAE's bootstrap on truncation. `steps` is a
    `rollout.Transition` (`[num_steps, num_envs, ...]`), or for the recurrent agent a
    `rollout.RecurrentRollout` holding one."""

    steps: Any
    next_value: jax.Array


class PPO:
    """PPO as pure functions over `PPOState`; the instance holds only static structure.

    It implements the learner interface (`rljax.learner`), and its own training step is
    written with it: `update = learn . collect` on its own env batch.
    """

    def __init__(self, config: PPOConfig):
        self.config = config
        base_env, self.env_params = make(config.env)
        self.action: SpaceSpec = action_spec(base_env, self.env_params)
        if not self.action.discrete:
            base_env = ClipAction(base_env)
        self.env = self.vectorise(base_env, config.num_envs)
        self.eval_env = self.vectorise(base_env, config.num_eval_episodes)
        self.max_episode_steps = max_episode_steps(base_env, self.env_params)
        self.obs_shape = base_env.observation_space(self.env_params).shape
        self.network = self._make_network(resolve_torso(config.network, config.env))
        self.drift = make_drift(config.drift)
        self.num_steps = config.num_steps
        self.num_updates = config.total_timesteps // (config.num_envs * config.num_steps)
        self.steps_per_update = config.num_envs * config.num_steps
        self.updates_per_learn = config.update_epochs * config.num_minibatches

    # --- the training step ----------------------------------------------------------------

    def init(self, key: jax.Array, hparams: PPOHParams) -> PPOState:
        net_key, env_key, key = jax.random.split(key, 3)
        state = self.init_learner(net_key, hparams).replace(key=key)
        return self.start(state, self.env, self.env_params, env_key)

    def update(self, state: PPOState) -> tuple[PPOState, PPOMetrics]:
        return self.learn(*self.collect(state, self.env, self.env_params))

    def evaluate(self, state: PPOState) -> EvalResult:
        """`num_eval_episodes` episodes on keys fixed by `eval_seed`."""
        return evaluate(
            self.eval_env,
            self.env_params,
            self.policy(self.config.greedy_eval),
            state.params,
            jax.random.PRNGKey(self.config.eval_seed),
            self.max_episode_steps,
            reset=self.reset_fn(state, self.eval_env, frozen=True),
            policy_carry=self.initial_carry(self.config.num_eval_episodes),
        )

    def act(
        self, params: Any, obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Sample actions `[num_envs, ...]`; extras are `(log_prob, value)`, both `[num_envs]`."""
        pi, value = self.network.apply(params, obs)
        action = pi.sample(seed=key)
        return action, (pi.log_prob(action), value)

    def act_greedy(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        pi, _ = self.network.apply(params, obs)
        return pi.mode(), None

    # --- the learner interface (`rljax.learner`) ------------------------------------------

    def vectorise(self, env: Any, num_envs: int) -> Any:
        """`num_envs` copies of `env` as this learner sees them: episode statistics, and the
        running observation normalisation where the config asks for it."""
        env = VecEnv(EpisodeStatistics(env), num_envs)
        return NormalizeObservation(env) if self.config.normalize_observations else env

    def init_learner(
        self, key: jax.Array, hparams: PPOHParams, obs_shape: tuple[int, ...] | None = None
    ) -> PPOState:
        """Fresh parameters (from `key`) for observations of `obs_shape` (default: the env's)
        and their optimiser state; no env batch yet (`rollout` is None: see `start`)."""
        dummy = jnp.zeros((1, *(obs_shape or self.obs_shape)))
        params = self._initialiser().init(key, dummy)
        normalizes = getattr(self.config, "normalize_rewards", False)
        return PPOState(
            params=params,
            opt_state=self._optimizer(hparams).init(params),
            rollout=None,
            key=key,
            hparams=hparams,
            update_step=jnp.zeros((), jnp.int32),
            reward_norm=RewardNormalizer.create(self.config.num_envs) if normalizes else None,
        )

    def start(
        self,
        state: PPOState,
        env: Any,
        env_params: Any,
        key: jax.Array,
        reset: Callable[[jax.Array], tuple[jax.Array, Any]] | None = None,
    ) -> PPOState:
        """`state` with a fresh rollout on `env` (a batch from `vectorise`): reset by
        `env.reset`, or by `reset(key) -> (obs, env_state)` of the batch without this
        learner's own wrappers on top (a loop resetting onto its own tasks:
        `rljax.task_space.reset_to_tasks`). Observation statistics in `state.rollout` carry
        on."""
        obs, env_state = self.reset_fn(state, env, reset)(key, env_params)
        start = rollout.RolloutState(env_state=env_state, obs=obs)
        if state.reward_norm is not None:  # every episode starts afresh; statistics carry on
            norm = state.reward_norm.replace(returns=jnp.zeros(obs.shape[:1]))
            state = state.replace(reward_norm=norm)
        return state.replace(rollout=self._start_carry(start))

    def reset_fn(
        self,
        state: PPOState,
        env: Any,
        reset: Callable[[jax.Array], tuple[jax.Array, Any]] | None = None,
        frozen: bool = False,
    ) -> Callable[[jax.Array, Any], tuple[jax.Array, Any]]:
        """`(key, env_params) -> (obs, env_state)` for `env` (a batch from `vectorise`):
        `env.reset`, or `reset` with this learner's wrappers on top. With observation
        normalisation the statistics of `state.rollout` (if any) carry on; `frozen` (for
        evaluation) normalises with them and never updates them."""
        if not self.config.normalize_observations:
            return env.reset if reset is None else (lambda k, p: reset(k))
        has_stats = state.rollout is not None
        if reset is None and not has_stats:
            return env.reset
        stats = state.rollout.env_state.stats if has_stats else None
        inner = reset or (lambda k: env.env.reset(k, self.env_params))
        return lambda k, p: env.reset_onto(*inner(k), stats=stats, frozen=frozen)

    def collect(self, state: PPOState, env: Any, env_params: Any) -> tuple[PPOState, PPOTrajectory]:
        """`num_steps` steps from `state.rollout` on `env`, and V(s'_t)."""
        state, traj = collect(env, env_params, self.act, state.params, state, self.num_steps)
        return state, PPOTrajectory(traj, self.network.apply(state.params, traj.next_obs)[1])

    def transitions(self, traj: PPOTrajectory) -> rollout.Transition:
        """The per-step record `[num_steps, num_envs, ...]` of a trajectory."""
        return traj.steps

    def score_inputs(self, state: PPOState, traj: PPOTrajectory) -> ScoreInputs:
        """Rewards, episode ends, values and GAE advantages `[num_steps, num_envs]`: what level
        scores are computed from (`rljax.curricula.scores`)."""
        steps = self._scaled_rewards(state, self.transitions(traj))
        batch = self._steps(state.hparams, steps, traj.next_value)
        done = steps.terminated | steps.truncated
        return ScoreInputs(steps.reward, done, batch.value, batch.advantage)

    def value_targets(self, state: PPOState, traj: PPOTrajectory) -> jax.Array:
        """What `learn` regresses V(s_t) onto, `[num_steps, num_envs]`: GAE's advantage plus
        the value (`_steps`, the code `learn` runs)."""
        steps = self._scaled_rewards(state, self.transitions(traj))
        return self._steps(state.hparams, steps, traj.next_value).target

    def learn(self, state: PPOState, traj: PPOTrajectory) -> tuple[PPOState, PPOMetrics]:
        """PPO's epochs on `traj`."""
        state, scaled = self._normalize_rewards(state, traj.steps)
        steps = self._steps(state.hparams, scaled, traj.next_value)
        return self._descend(state, flatten_time(steps), traj.steps)

    def skip(
        self, state: PPOState, traj: PPOTrajectory, like: Any = None
    ) -> tuple[PPOState, PPOMetrics]:
        """What `learn` returns, without learning: the state as it is, zero losses, and the
        trajectory's mean episode return. `like`: `learn`'s output shapes where the caller
        has them (`run_batch.cond_if_any(..., cheap_gets_shapes=True)`); otherwise they come
        from `jax.eval_shape`, a second trace of `learn`."""
        like = jax.eval_shape(self.learn, state, traj) if like is None else like
        zeros = jax.tree.map(jnp.zeros_like, like[1])
        returns = rollout.mean_episode_return(self.transitions(traj))
        return state, zeros._replace(episode_return=returns)

    def policy(self, greedy: bool) -> Callable:
        """The acting policy, its mode (`greedy`) or a sample: a `rollout.Policy`, or a
        `rollout.RecurrentPolicy` where `initial_carry` is not None."""
        return self.act_greedy if greedy else self.act

    def initial_carry(self, num_envs: int) -> Any:
        """The policy's state at the start of an episode in each of `num_envs` envs: None for
        a feed-forward policy."""
        return None

    def checked_leaves(self, state: PPOState) -> Any:
        """What the NaN guard checks besides the losses: the network parameters."""
        return state.params

    # --- pieces ---------------------------------------------------------------------------

    def _make_network(self, torso: str) -> Any:
        return ActorCritic(
            action=self.action,
            hidden_sizes=tuple(self.config.hidden_sizes),
            activation=self.config.activation,
            torso=torso,
            obs_ndim=len(self.obs_shape),
        )

    def _initialiser(self) -> Any:
        """What `init_learner` calls `.init(key, obs [1, *obs_shape])` on for parameters."""
        return self.network

    def _start_carry(self, state: rollout.RolloutState) -> Any:
        """The rollout state `collect` starts from, given a freshly reset env batch."""
        return state

    def _normalize_rewards(
        self, state: PPOState, steps: rollout.Transition
    ) -> tuple[PPOState, rollout.Transition]:
        """With `normalize_rewards`: the rollout's rewards scaled step by step, and the state
        with the statistics that took them in; otherwise both as they are."""
        if state.reward_norm is None:
            return state, steps
        done = steps.terminated | steps.truncated
        norm, reward = normalize_rewards(state.reward_norm, steps.reward, done, state.hparams.gamma)
        return state.replace(reward_norm=norm), steps._replace(reward=reward)

    def _scaled_rewards(self, state: PPOState, steps: rollout.Transition) -> rollout.Transition:
        """The rollout's rewards in the units the value function learns (scaled by the
        current statistics, which stay as they are): for level scores and value targets."""
        if state.reward_norm is None:
            return steps
        return steps._replace(reward=scale_rewards(state.reward_norm.stats, steps.reward))

    def _steps(self, hp: PPOHParams, traj: rollout.Transition, next_value: jax.Array) -> PPOBatch:
        """GAE over the rollout (`[T, N]`, bootstrapping from `next_value` = V(s'_t) on
        truncation only), and every per-step input of the loss, `[T, N, ...]`."""
        log_prob, value = traj.extras
        advantage, target = gae(
            traj.reward * hp.reward_scale,
            value,
            next_value,
            traj.terminated,
            traj.truncated,
            hp.gamma,
            hp.gae_lambda,
        )
        return PPOBatch(traj.obs, traj.action, log_prob, value, advantage, target)

    def _descend(
        self, state: PPOState, batch: Any, traj: rollout.Transition
    ) -> tuple[PPOState, PPOMetrics]:
        """`update_epochs` passes of `num_minibatches` shuffled minibatches of `batch` (leaves
        `[B, ...]`, split over `B`) on `self._loss`, and the update's metrics."""
        hp, config = state.hparams, self.config
        progress = state.update_step / self.num_updates
        lr = optim.annealed(hp.learning_rate, progress, config.anneal_lr)
        key, sgd_key = jax.random.split(state.key)
        params, opt_state, aux = optim.minibatch_epochs(
            lambda p, mb: self._loss(p, mb, hp, progress),
            self._optimizer(hp),
            lr,
            state.params,
            state.opt_state,
            batch,
            sgd_key,
            config.update_epochs,
            config.num_minibatches,
        )
        metrics = PPOMetrics(
            episode_return=rollout.mean_episode_return(traj),
            policy_loss=aux[0].mean(),
            value_loss=aux[1].mean(),
            entropy=aux[2].mean(),
            approx_kl=aux[3].mean(),
            learning_rate=lr,
        )
        new_state = state.replace(
            params=params, opt_state=opt_state, key=key, update_step=state.update_step + 1
        )
        return new_state, metrics

    def _optimizer(self, hp) -> optax.GradientTransformation:
        return optim.clipped_adam(hp.max_grad_norm, eps=1e-5, clip=self.config.grad_clip)

    def _loss(self, params: Any, mb: PPOBatch, hp: PPOHParams, progress: jax.Array):
        pi, value = self.network.apply(params, mb.obs)
        return self._objective(pi, value, mb, hp, progress)

    def _objective(
        self,
        pi: Any,
        value: jax.Array,
        mb: PPOBatch,
        hp: PPOHParams,
        progress: jax.Array,
    ) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """PPO's loss from the current policy `pi` and value at the minibatch's steps (any batch
        shape, the same as `mb`'s leaves): the drift's policy loss, the (optionally clipped)
        value loss and the entropy bonus, plus `(pg_loss, value_loss, entropy, approx_kl)`."""
        log_prob = pi.log_prob(mb.action)
        log_ratio = log_prob - mb.log_prob
        ratio = jnp.exp(log_ratio)
        advantage = mb.advantage
        if self.config.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        pg_loss = policy_loss(self.drift, hp.drift_params, ratio, advantage, progress)
        value_error = jnp.square(value - mb.target)
        if self.config.clip_value:
            clipped = mb.value + jnp.clip(value - mb.value, -hp.value_clip_eps, hp.value_clip_eps)
            value_error = jnp.maximum(value_error, jnp.square(clipped - mb.target))
        value_loss = 0.5 * value_error.mean()
        entropy = pi.entropy().mean()
        total = pg_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
        approx_kl = jnp.mean((ratio - 1.0) - log_ratio)
        return total, (pg_loss, value_loss, entropy, approx_kl)


register_learner(PPOConfig, PPO)
