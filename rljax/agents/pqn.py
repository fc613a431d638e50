"""Parallelised Q-Learning (Gallici et al. 2024, "Simplifying Deep Temporal Difference
Learning", Alg. 1): Q-learning over vectorised envs with no replay buffer and no target
network, made stable by LayerNorm in the Q-network (Sec. 3, Thm. 3.3; Sec. 4.1).

One update:
  1. collect `num_steps` steps from `num_envs` envs acting epsilon-greedily with the current
     Q-network, epsilon annealed linearly from `epsilon_start` to `epsilon_finish` over the
     first `exploration_fraction` of training (`rljax.rollout`);
  2. compute Q(lambda) targets backward over the rollout, bootstrapping from
     max_a Q(pre-reset next obs) on truncation and from 0 on termination (Sec. 4.2;
     `rljax.returns.q_lambda_returns`);
  3. run `update_epochs` shuffled passes of `num_minibatches` minibatches of Adam steps on
     `0.5 * (Q(s, a) - target)^2`, with global-norm gradient clipping and an optionally
     annealed learning rate (Sec. 4.3: the epochs over one rollout replace the replay buffer).

Static config (shapes, counts, network) lives in `PQNConfig`; coefficients live in
`PQNHParams`, a pytree of traced leaves inside `PQNState`, so vmapping over them sweeps
without recompiling.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import optim, rollout
from rljax.agents.common import (
    EpsilonGreedyAgent,
    TrainState,
    check_discrete_env,
    collect,
    init_train_state,
)
from rljax.agents.settings import (
    AnnealedLR,
    EpsilonGreedy,
    EvalSettings,
    OptimSettings,
    RunSettings,
    TorsoSettings,
    check_settings,
)
from rljax.minibatch import flatten_time
from rljax.returns import q_lambda_returns

# --- PQN ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PQNConfig(EvalSettings, TorsoSettings, EpsilonGreedy, AnnealedLR, OptimSettings, RunSettings):
    """Everything that defines a PQN run. Defaults: a PureJaxRL/purejaxql-style CartPole
    config (Gallici et al. 2024, App. B) that reaches 500 on CartPole-v1 in 5e5 steps."""

    num_envs: int = 32
    num_steps: int = 64
    update_epochs: int = 4
    """Shuffled passes over each rollout (Sec. 4.3)."""
    num_minibatches: int = 16
    """Minibatches per epoch; must divide num_envs * num_steps."""
    learning_rate: float = 1e-4
    max_grad_norm: float = 10.0
    q_lambda: float = 0.65
    """lambda of the Q(lambda) targets (Sec. 4.2); 0 is one-step Q-learning."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: cfg.Activation = "relu"
    layer_norm: bool = True
    """LayerNorm after every hidden layer; PQN's stabiliser (Sec. 3)."""

    def __post_init__(self) -> None:
        check_settings(self)
        check_discrete_env(self, "PQN")
        cfg.check_positive(self, "update_epochs", "num_minibatches")
        cfg.check_unit_interval(self, "q_lambda")
        cfg.check_rollout_batch(self)

    def replace(self, **changes: Any) -> PQNConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> PQNHParams:
        """The traced coefficients of this config, as a pytree for `train`/`vmap`."""
        return cfg.traced_coefficients(self, PQNHParams)


@struct.dataclass
class PQNHParams:
    """Traced coefficients; each leaf is a scalar (or `[runs]` under vmap)."""

    learning_rate: jax.Array
    max_grad_norm: jax.Array
    gamma: jax.Array
    q_lambda: jax.Array
    epsilon_start: jax.Array
    epsilon_finish: jax.Array
    exploration_fraction: jax.Array
    reward_scale: jax.Array


PQNState = TrainState


class PQNMetrics(NamedTuple):
    """Per-update scalars; `episode_return` is NaN for an update in which no episode ended."""

    episode_return: jax.Array
    td_loss: jax.Array
    q_mean: jax.Array
    """Mean Q(s, a) over the minibatches, against `target_mean` to spot over-estimation."""
    target_mean: jax.Array
    epsilon: jax.Array
    learning_rate: jax.Array


class _Minibatch(NamedTuple):
    obs: jax.Array
    action: jax.Array
    target: jax.Array


class PQN(EpsilonGreedyAgent):
    """PQN as pure functions over `PQNState`; the instance holds only static structure."""

    def __init__(self, config: PQNConfig):
        self._setup(config)

    # --- pure functions -------------------------------------------------------------------

    def init(self, key: jax.Array, hparams: PQNHParams) -> PQNState:
        return init_train_state(
            self.network,
            self.optimizer(hparams),
            self.env,
            self.env_params,
            self.obs_shape,
            key,
            hparams,
        )

    def collect(self, state: PQNState) -> tuple[PQNState, rollout.Transition]:
        policy_params = (state.params, self.epsilon(state))
        return collect(
            self.env, self.env_params, self.act, policy_params, state, self.config.num_steps
        )

    def learn(self, state: PQNState, traj: rollout.Transition) -> tuple[PQNState, PQNMetrics]:
        hp, config = state.hparams, self.config
        targets = self.value_targets(state, traj)
        batch = flatten_time(_Minibatch(traj.obs, traj.action, targets))
        progress = state.update_step / self.num_updates
        lr = optim.annealed(hp.learning_rate, progress, config.anneal_lr)
        key, sgd_key = jax.random.split(state.key)
        params, opt_state, aux = optim.minibatch_epochs(
            self._loss,
            self.optimizer(hp),
            lr,
            state.params,
            state.opt_state,
            batch,
            sgd_key,
            config.update_epochs,
            config.num_minibatches,
        )
        metrics = PQNMetrics(
            episode_return=rollout.mean_episode_return(traj),
            td_loss=aux[0].mean(),
            q_mean=aux[1].mean(),
            target_mean=targets.mean(),
            epsilon=self.epsilon(state),
            learning_rate=lr,
        )
        new_state = state.replace(
            params=params, opt_state=opt_state, key=key, update_step=state.update_step + 1
        )
        return new_state, metrics

    def update(self, state: PQNState) -> tuple[PQNState, PQNMetrics]:
        return self.learn(*self.collect(state))

    def value_targets(self, state: PQNState, traj: rollout.Transition) -> jax.Array:
        """The Q(lambda) returns `[num_steps, num_envs]` that `learn` regresses Q(s_t, a_t)
        onto. They are fixed for the whole rollout, computed once with the params that
        collected it (Alg. 1): the epochs then regress onto them, like a short-lived target
        network, without keeping a second copy of the weights."""
        hp = state.hparams
        next_q_max = self.network.apply(state.params, traj.next_obs).max(axis=-1)
        return q_lambda_returns(
            traj.reward * hp.reward_scale,
            next_q_max,
            traj.terminated,
            traj.truncated,
            hp.gamma,
            hp.q_lambda,
        )

    # --- pieces ---------------------------------------------------------------------------

    def optimizer(self, hp) -> optax.GradientTransformation:
        return optim.clipped_adam(hp.max_grad_norm, clip=self.config.grad_clip)

    def _loss(self, params: Any, mb: _Minibatch) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        q = self.network.apply(params, mb.obs)
        q_taken = jnp.take_along_axis(q, mb.action[:, None], axis=-1).squeeze(-1)
        loss = 0.5 * jnp.mean(jnp.square(q_taken - mb.target))
        return loss, (loss, q_taken.mean())
