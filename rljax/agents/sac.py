"""Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications",
arXiv:1812.05905, Sec. 4.2, 5 and 6 with Alg. 1) for continuous actions, and its discrete-action
variant (Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings", Sec. 3), over
vectorised envs.

One update:
  1. collect `num_steps` steps from `num_envs` envs with a ~ pi(.|s) (uniformly random
     actions until `learning_starts` env steps, the "start steps" of common implementations)
     and write them into the replay buffer (`rljax.replay`, via `store_rollout`);
  2. once `learning_starts` env steps have been collected, take `num_gradient_steps` steps,
     each on a fresh uniform minibatch, in the order of Alg. 1:
       critics (Sec. 4.2, J_Q):  sum_i 1/2 (Q_i(s, a) - y)^2 with
           y = r + gamma (1 - terminated) V_target(s'),
           V_target(s') = E_{a' ~ pi(.|s')}[min_i Q_target_i(s', a') - alpha log pi(a'|s')],
         twin critics and their minimum against over-estimation (Sec. 6, "Practical
         algorithm", after Fujimoto et al. 2018); `s'` is the pre-reset next observation,
         so truncation bootstraps from it and termination from 0;
       actor (Sec. 4.2, J_pi):   E_{a ~ pi(.|s)}[alpha log pi(a|s) - min_i Q_i(s, a)], against
         the critics just updated;
       temperature (Sec. 5, J(alpha)): E_{a ~ pi}[-alpha (log pi(a|s) + H_target)], descended
         on log alpha so alpha stays positive;
       targets: Q_target <- tau Q + (1 - tau) Q_target (Polyak, tau = 0.005).

The two variants differ only in how E_{a ~ pi} is taken (`SAC._policy_value`):
  - continuous: pi is a tanh-squashed Gaussian, a = tanh(u), u ~ N(mu(s), sigma(s)), with
    log pi(a|s) = log N(u) - sum_j log(1 - tanh(u_j)^2) (App. C, "Enforcing action bounds");
    expectations use one reparameterised sample; actions in [-1, 1] are rescaled to the env's
    bounds by `RescaleAction`; H_target = -|A| (Sec. 5 and App. D, "-dim(A)");
  - discrete: pi is categorical, the critics output Q(s, .) for every action and every
    expectation over actions is an exact sum (Christodoulou 2019, Sec. 3, eqs. 10-12);
    H_target is a fraction of the maximum entropy log|A|: 0.98 in the paper (Sec. 4), 0.5 by
    default here (see `SACConfig.entropy_fraction`).
The variant follows the env's action space, so no config field can pick the wrong one.

Static config lives in `SACConfig`; coefficients in `SACHParams`, traced leaves inside
`SACState`, so vmapping over them sweeps without recompiling.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import optim, replay, rollout
from rljax.agents.common import (
    ReplayTransition,
    check_replay_config,
    collect,
    init_replay,
    learning_started,
    replay_gradient_steps,
    replay_transitions,
    setup_envs,
    store_rollout,
)
from rljax.agents.settings import (
    EvalSettings,
    MLPSettings,
    OptimSettings,
    ReplaySettings,
    RunSettings,
    check_settings,
)
from rljax.environment import SpaceSpec, action_spec, make
from rljax.evaluation import EvalResult, evaluate
from rljax.minibatch import flatten_time
from rljax.networks import MLP, dense
from rljax.wrappers import RescaleAction

LOG_STD_BOUNDS = (-20.0, 2.0)
"""Clip of the Gaussian's log standard deviation, as in Haarnoja et al.'s implementation."""


@dataclass(frozen=True)
class SACConfig(EvalSettings, MLPSettings, OptimSettings, ReplaySettings, RunSettings):
    """Everything that defines a SAC run. Defaults solve Pendulum-v1 in 1e4 steps (measured
    -178.8, -171.9, -172.3, -170.9 on seeds 0-3; tests/test_sac.py): App. D's settings but
    128-unit layers, 4 envs and lr 1e-3, for speed on CPU. The discrete variant runs on any
    discrete env, e.g. `env="CartPole-v1"`."""

    env: cfg.EnvName = "Pendulum-v1"
    total_timesteps: int = 10_000
    num_steps: int = 1
    batch_size: int = 256
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    """Env steps collected (with uniformly random actions) before the first gradient step."""
    learning_rate: float = 1e-3
    """Adam step size of actor, critics and temperature (App. D: 3e-4; 1e-3 learns
    Pendulum-v1 in fewer steps)."""
    max_grad_norm: float = 10.0
    """Global-norm gradient clipping, a safeguard absent from the paper (Adam rescales steps
    anyway, so it only bites on outlier gradients)."""
    tau: float = 0.005
    """Polyak step of the target critics per gradient step (App. D)."""
    initial_alpha: float = 1.0
    """Entropy temperature at the start; it is then tuned towards `target_entropy`."""
    target_entropy: float | None = None
    """Entropy the temperature tunes the policy towards; None: -|A| for continuous actions
    (Haarnoja et al. 2018, Sec. 5), `entropy_fraction * log|A|` for discrete ones."""
    entropy_fraction: float = 0.5
    """Discrete actions, unless `target_entropy` is set: the target entropy as a fraction of
    the maximum log|A|. Christodoulou (2019, Sec. 4) uses 0.98; on CartPole-v1 (4e4 steps,
    seeds 0 and 1) 0.98 drove alpha above 1e6 while the entropy hovered at the target and
    scored 128.9 and 91.8, where 0.5 kept alpha near 0.3 and scored 500 and 500."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Widths of the actor's and each critic's MLP layers (App. D: 256, 256)."""
    activation: cfg.Activation = "relu"
    num_eval_episodes: int = 16
    """Episodes played by `evaluate`, with the deterministic policy (tanh of the mean, or
    the most probable action)."""

    def __post_init__(self) -> None:
        check_settings(self)
        cfg.check_positive(self, "tau", "initial_alpha")
        cfg.check_unit_interval(self, "tau", "entropy_fraction")
        check_replay_config(self)
        action = action_spec(*make(self.env))
        if action.discrete and not self.resolved_target_entropy() < math.log(action.num_actions):
            max_entropy = math.log(action.num_actions)
            cfg.fail(
                self,
                "entropy_fraction" if self.target_entropy is None else "target_entropy",
                f"sets a target entropy {self.resolved_target_entropy():.3f} that is not below "
                f"the maximum log({action.num_actions}) = {max_entropy:.3f} of this env's "
                "actions, so the temperature would grow without bound",
                f"target an entropy below {max_entropy:.3f} (entropy_fraction < 1)",
            )

    def replace(self, **changes: Any) -> SACConfig:
        return dataclasses.replace(self, **changes)

    def resolved_target_entropy(self) -> float:
        """`target_entropy`, or the paper's default for this env's action space."""
        if self.target_entropy is not None:
            return float(self.target_entropy)
        action = action_spec(*make(self.env))
        if action.discrete:
            return self.entropy_fraction * math.log(action.num_actions)
        return -float(action.action_dim)  # Haarnoja et al. 2018, Sec. 5

    def hparams(self) -> SACHParams:
        """The traced coefficients of this config, as a pytree for `train`/`vmap`."""
        return cfg.traced_coefficients(
            self,
            SACHParams,
            target_entropy=jnp.asarray(self.resolved_target_entropy(), jnp.float32),
        )


@struct.dataclass
class SACHParams:
    """Traced coefficients; each leaf is a scalar (or `[runs]` under vmap)."""

    learning_rate: jax.Array
    max_grad_norm: jax.Array
    gamma: jax.Array
    tau: jax.Array
    initial_alpha: jax.Array
    target_entropy: jax.Array
    reward_scale: jax.Array


# --- networks ------------------------------------------------------------------------------


class Actor(nn.Module):
    """`obs [..., obs_dim] -> pi(.|s)`, a distrax distribution with batch shape `[...]`:
    a tanh-squashed diagonal Gaussian on [-1, 1]^A, or a categorical over A actions."""

    action: SpaceSpec
    hidden_sizes: tuple[int, ...]
    activation: str = "relu"
    obs_ndim: int = 1  # rank of one observation; leading axes beyond it are batch axes

    @nn.compact
    def __call__(self, obs: jax.Array) -> distrax.Distribution:
        x = MLP(self.hidden_sizes, self.activation)(_flatten(obs, self.obs_ndim))
        if self.action.discrete:
            return distrax.Categorical(logits=dense(self.action.num_actions, 0.01)(x))
        mean = dense(self.action.action_dim, 0.01)(x)
        log_std = jnp.clip(dense(self.action.action_dim, 0.01)(x), *LOG_STD_BOUNDS)
        gaussian = distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))
        # Tanh's log-det is computed from the pre-squash sample, stable near |a| = 1.
        return distrax.Transformed(gaussian, distrax.Block(distrax.Tanh(), ndims=1))


class TwinCritic(nn.Module):
    """Two independent soft Q-functions, stacked on a leading axis of 2.

    Continuous: `(obs [..., obs_dim], action [..., A]) -> Q [2, ...]`.
    Discrete: `obs [..., obs_dim] -> Q [2, ..., num_actions]` (the action argument unused).
    """

    action: SpaceSpec
    hidden_sizes: tuple[int, ...]
    activation: str = "relu"
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        x = _flatten(obs, self.obs_ndim)
        outputs = self.action.num_actions if self.action.discrete else 1
        if not self.action.discrete:
            x = jnp.concatenate([x, action], axis=-1)
        q = jnp.stack(
            [dense(outputs, 1.0)(MLP(self.hidden_sizes, self.activation)(x)) for _ in range(2)]
        )
        return q if self.action.discrete else q.squeeze(-1)


def _rescale_continuous(env: Any, action: SpaceSpec) -> Any:
    """The policy acts in [-1, 1]^A; `RescaleAction` maps that onto the env's bounds."""
    return env if action.discrete else RescaleAction(env)


def _flatten(obs: jax.Array, obs_ndim: int) -> jax.Array:
    """`[..., *obs_shape] -> [..., prod(obs_shape)]` float32, for an MLP."""
    return obs.astype(jnp.float32).reshape((*obs.shape[: obs.ndim - obs_ndim], -1))


# --- state and metrics ---------------------------------------------------------------------


@struct.dataclass
class SACParams:
    actor: Any
    critic: Any
    target_critic: Any
    log_alpha: jax.Array
    """log of the entropy temperature alpha, a scalar."""


@struct.dataclass
class SACOptState:
    actor: optax.OptState
    critic: optax.OptState
    log_alpha: optax.OptState


@struct.dataclass
class SACState:
    """One run's whole state; under `vmap` every leaf gains a leading `[runs]` axis."""

    params: SACParams
    opt_state: SACOptState
    buffer: replay.ReplayBuffer
    rollout: rollout.RolloutState
    key: jax.Array
    hparams: SACHParams
    update_step: jax.Array


class SACMetrics(NamedTuple):
    """Per-update scalars; `episode_return` is NaN for an update in which no episode ended.
    Losses, Q and entropy are 0 during the warm-up."""

    episode_return: jax.Array
    critic_loss: jax.Array
    actor_loss: jax.Array
    q_mean: jax.Array
    entropy: jax.Array
    """Policy entropy (estimated from one sample for continuous actions)."""
    alpha: jax.Array


class SAC:
    """SAC as pure functions over `SACState`; the instance holds only static structure."""

    def __init__(self, config: SACConfig):
        setup_envs(self, config, wrap=_rescale_continuous)
        sizes = tuple(config.hidden_sizes)
        obs_ndim = len(self.obs_shape)
        self.actor = Actor(self.action, sizes, config.activation, obs_ndim)
        self.critic = TwinCritic(self.action, sizes, config.activation, obs_ndim)

    # --- pure functions -------------------------------------------------------------------

    def init(self, key: jax.Array, hparams: SACHParams) -> SACState:
        actor_key, critic_key, env_key, key = jax.random.split(key, 4)
        rollout_state = rollout.reset(self.env, self.env_params, env_key)
        num_envs = self.config.num_envs
        actions = (
            jnp.zeros((num_envs,), jnp.int32)
            if self.action.discrete
            else jnp.zeros((num_envs, self.action.action_dim), jnp.float32)
        )
        params = SACParams(
            actor=self.actor.init(actor_key, rollout_state.obs),
            critic=self.critic.init(critic_key, rollout_state.obs, actions),
            target_critic=None,
            log_alpha=jnp.log(hparams.initial_alpha),
        )
        params = params.replace(target_critic=params.critic)
        optimizer = self.optimizer(hparams)
        buffer, _ = init_replay(rollout_state.obs, actions, self.config.buffer_size)
        return SACState(
            params=params,
            opt_state=SACOptState(
                actor=optimizer.init(params.actor),
                critic=optimizer.init(params.critic),
                log_alpha=optimizer.init(params.log_alpha),
            ),
            buffer=buffer,
            rollout=rollout_state,
            key=key,
            hparams=hparams,
            update_step=jnp.zeros((), jnp.int32),
        )

    def act(
        self, params_and_warmup: tuple[Any, jax.Array], obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, None]:
        """a ~ pi(.|s), `[num_envs, ...]`; uniformly random while the policy params' flag
        `warmup` is set."""
        actor_params, warmup = params_and_warmup
        policy_key, random_key = jax.random.split(key)
        action = self.actor.apply(actor_params, obs).sample(seed=policy_key)
        return jnp.where(warmup, self._random_actions(random_key, obs.shape[0]), action), None

    def act_deterministic(
        self, actor_params: Any, obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, None]:
        """The most probable action, or tanh of the Gaussian's mean (Haarnoja et al. 2018
        evaluate this deterministic policy)."""
        pi = self.actor.apply(actor_params, obs)
        if self.action.discrete:
            return pi.mode(), None
        return jnp.tanh(pi.distribution.mode()), None

    def collect(self, state: SACState) -> tuple[SACState, rollout.Transition]:
        """Step the envs `num_steps` times and write every transition into the buffer."""
        warmup = ~learning_started(
            state.update_step, self.steps_per_update, self.config.learning_starts
        )
        new_state, traj = collect(
            self.env,
            self.env_params,
            self.act,
            (state.params.actor, warmup),
            state,
            self.config.num_steps,
        )
        buffer, _ = store_rollout(state.buffer, traj, state.hparams.gamma, state.update_step)
        return new_state.replace(buffer=buffer), traj

    def learn(self, state: SACState, traj: rollout.Transition) -> tuple[SACState, SACMetrics]:
        (params, opt_state), aux, key = replay_gradient_steps(
            lambda carry, batch, step_key: self._gradient_step(
                carry, batch, step_key, state.hparams
            ),
            (state.params, state.opt_state),
            state,
            self.config,
            self.steps_per_update,
        )
        critic_loss, actor_loss, q_mean, entropy = aux
        metrics = SACMetrics(
            episode_return=rollout.mean_episode_return(traj),
            critic_loss=critic_loss.mean(),
            actor_loss=actor_loss.mean(),
            q_mean=q_mean.mean(),
            entropy=entropy.mean(),
            alpha=jnp.exp(params.log_alpha),
        )
        new_state = state.replace(
            params=params, opt_state=opt_state, key=key, update_step=state.update_step + 1
        )
        return new_state, metrics

    def update(self, state: SACState) -> tuple[SACState, SACMetrics]:
        return self.learn(*self.collect(state))

    def value_targets(self, state: SACState, traj: rollout.Transition) -> jax.Array:
        """What `learn` regresses both critics' Q(s_t, a_t) onto for each step of `traj`,
        `[num_steps, num_envs]`: the soft TD target of the replay transition `store_rollout`
        makes of the step (`replay_transitions`), next actions drawn with `state.key`."""
        stored, _ = replay_transitions(traj, state.hparams.gamma)
        flat = flatten_time(stored)
        target = self._critic_target(state.params, flat, state.key, state.hparams)
        return target.reshape(traj.reward.shape)

    def evaluate(self, state: SACState) -> EvalResult:
        """`num_eval_episodes` deterministic episodes on keys fixed by `eval_seed`."""
        return evaluate(
            self.eval_env,
            self.env_params,
            self.act_deterministic,
            state.params.actor,
            jax.random.PRNGKey(self.config.eval_seed),
            self.max_episode_steps,
        )

    # --- pieces ---------------------------------------------------------------------------

    def _gradient_step(
        self,
        carry: tuple[SACParams, SACOptState],
        batch: ReplayTransition,
        key: jax.Array,
        hp: SACHParams,
    ) -> tuple[tuple[SACParams, SACOptState], tuple[jax.Array, ...]]:
        """One pass of Alg. 1's inner loop: critics, actor, temperature, targets."""
        params, opt_state = carry
        optimizer = self.optimizer(hp)
        target_key, actor_key = jax.random.split(key)
        target = self._critic_target(params, batch, target_key, hp)

        def critic_loss(critic_params, _):
            q = self._q_taken(critic_params, batch.obs, batch.action)  # [2, B]
            loss = 0.5 * jnp.mean((q - target) ** 2, axis=1).sum()
            return loss, (loss, q.mean())

        (critic, critic_opt), (q_loss, q_mean) = optim.gradient_step(
            critic_loss, optimizer, hp.learning_rate
        )((params.critic, opt_state.critic), None)

        (actor, actor_opt), (pi_loss, entropy) = optim.gradient_step(
            lambda actor_params, _: self._actor_loss(
                actor_params, params, critic, batch, actor_key, hp
            ),
            optimizer,
            hp.learning_rate,
        )((params.actor, opt_state.actor), None)
        log_alpha, alpha_opt = self._temperature_step(params, opt_state, entropy, hp)

        # `replace` keeps the fields a subclass's params add (off-policy MDPO's old actor).
        new_params = params.replace(
            actor=actor,
            critic=critic,
            target_critic=optax.incremental_update(critic, params.target_critic, hp.tau),
            log_alpha=log_alpha,
        )
        new_opt = SACOptState(actor=actor_opt, critic=critic_opt, log_alpha=alpha_opt)
        return (new_params, new_opt), (q_loss, pi_loss, q_mean, entropy.mean())

    def _actor_loss(
        self,
        actor_params: Any,
        params: SACParams,
        critic: Any,
        batch: ReplayTransition,
        key: jax.Array,
        hp: SACHParams,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """J_pi = E[alpha log pi(a|s) - min_i Q_i(s, a)] against the critics just updated;
        returns `(loss, (loss, entropy [B]))`."""
        del hp
        q, entropy = self._policy_value(actor_params, critic, batch.obs, key)
        loss = -jnp.mean(q + jnp.exp(params.log_alpha) * entropy)
        return loss, (loss, entropy)

    def _temperature_step(
        self, params: SACParams, opt_state: SACOptState, entropy: jax.Array, hp: SACHParams
    ) -> tuple[jax.Array, optax.OptState]:
        """J(alpha) = E[alpha * (H(pi) - H_target)]: alpha falls while the entropy is above
        target. Returns the new log alpha and its optimiser state."""
        entropy_gap = jax.lax.stop_gradient(entropy - hp.target_entropy)

        def alpha_loss(log_alpha, _):
            return jnp.mean(jnp.exp(log_alpha) * entropy_gap), None

        (log_alpha, alpha_opt), _ = optim.gradient_step(
            alpha_loss, self.optimizer(hp), hp.learning_rate
        )((params.log_alpha, opt_state.log_alpha), None)
        return log_alpha, alpha_opt

    def _critic_target(
        self, params: SACParams, batch: ReplayTransition, key: jax.Array, hp: SACHParams
    ) -> jax.Array:
        """The soft TD target `y = r + discount * (min_i Q_target_i(s', a') - alpha log
        pi(a'|s'))`, `[B]`, of replay transitions with leaves `[B, ...]`. `discount` is
        `gamma * (1 - terminated)`: 0 after a termination, gamma after a truncation."""
        next_q, next_entropy = self._policy_value(
            params.actor, params.target_critic, batch.next_obs, key
        )
        alpha = jnp.exp(params.log_alpha)
        return jax.lax.stop_gradient(
            batch.reward * hp.reward_scale + batch.discount * (next_q + alpha * next_entropy)
        )

    def _policy_value(
        self, actor_params: Any, critic_params: Any, obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """`(E_{a~pi}[min_i Q_i(s, a)], H(pi(.|s)))`, both `[B]`, for `obs [B, ...]`.

        Discrete: exact sums over actions (Christodoulou 2019, eqs. 10-12). Continuous: one
        reparameterised sample a = tanh(mu + sigma * eps), so gradients reach the actor through
        a, and the entropy estimate -log pi(a|s) (Haarnoja et al. 2018, Sec. 4.2).
        """
        pi = self.actor.apply(actor_params, obs)
        if self.action.discrete:
            log_probs = jax.nn.log_softmax(pi.logits)
            probs = jnp.exp(log_probs)
            q = self.critic.apply(critic_params, obs).min(axis=0)  # [B, A]
            return (probs * q).sum(-1), -(probs * log_probs).sum(-1)
        action, log_prob = pi.sample_and_log_prob(seed=key)
        return self.critic.apply(critic_params, obs, action).min(axis=0), -log_prob

    def _q_taken(self, critic_params: Any, obs: jax.Array, action: jax.Array) -> jax.Array:
        """Both critics' Q(s, a) for the replayed actions, `[2, B]`."""
        if self.action.discrete:
            q = self.critic.apply(critic_params, obs)  # [2, B, A]
            return jnp.take_along_axis(q, action[None, :, None], axis=-1).squeeze(-1)
        return self.critic.apply(critic_params, obs, action)

    def _random_actions(self, key: jax.Array, num: int) -> jax.Array:
        """Uniform actions: `[num]` int32 indices, or `[num, A]` in [-1, 1]."""
        if self.action.discrete:
            return jax.random.randint(key, (num,), 0, self.action.num_actions)
        return jax.random.uniform(key, (num, self.action.action_dim), minval=-1.0, maxval=1.0)

    def optimizer(self, hp: SACHParams) -> optax.GradientTransformation:
        return optim.clipped_adam(hp.max_grad_norm, clip=self.config.grad_clip)
