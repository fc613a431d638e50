"""Deep Q-Networks (Mnih et al. 2015, "Human-level control through deep reinforcement
learning", Nature, Methods) and Double DQN (van Hasselt et al. 2016, "Deep Reinforcement
Learning with Double Q-learning", eq. 4), over vectorised envs.

One update:
  1. collect `num_steps` steps from `num_envs` envs acting epsilon-greedily with the online
     network, epsilon annealed linearly from `epsilon_start` to `epsilon_finish` over the
     first `exploration_fraction` of training (Methods), and write every transition into the
     replay buffer (`rljax.replay`), as an n-step transition when `n_step > 1` (see below);
  2. once `learning_starts` env steps have been collected (Methods, "replay start size"),
     take `num_gradient_steps` Adam steps, each on a fresh uniform minibatch, regressing
     Q(s, a) onto the fixed target
         y = r + gamma * (1 - terminated) * Q_target(s', a*),
     a* = argmax_a Q_target(s', a) for DQN, argmax_a Q_online(s', a) for Double DQN (eq. 4).
     `s'` is the pre-reset next observation, so a time-limit truncation bootstraps from it
     while a termination bootstraps from 0. The loss is the Huber loss (Methods: the TD error
     is clipped to [-1, 1]); no gradient flows into the target. With n-step returns
     (Hessel et al. 2018, "Rainbow", Sec. 2, "Multi-step learning") `r` is the discounted sum
     of up to n rewards and `gamma` becomes `gamma^m`, m <= n the steps the window spans;
  3. every `target_update_interval` updates, move the target network towards the online one:
     `target <- tau * online + (1 - tau) * target` (tau = 1 is DQN's hard copy every C steps;
     tau < 1 is Polyak averaging).

n-step transitions meet the replay buffer as ready-made transitions
`(s_t, a_t, G_t, gamma^m (1 - terminated), s'_{t+m-1})`, computed after each rollout over the
last `n - 1` steps of the previous one (carried in `DQNState.window`) and the new ones; see
`rljax.agents.common.store_rollout` for why. `n_step = 1` is one-step DQN, bitwise.

Static config (shapes, counts, network) lives in `DQNConfig`; coefficients live in
`DQNHParams`, a pytree of traced leaves inside `DQNState`, so vmapping over them sweeps
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
from rljax import optim, replay, rollout
from rljax.agents.common import (
    EpsilonGreedyAgent,
    NStepWindow,
    ReplayTransition,
    check_discrete_env,
    check_replay_config,
    collect,
    init_replay,
    replay_gradient_steps,
    replay_transitions,
    store_rollout,
)
from rljax.agents.settings import (
    AnnealedLR,
    EpsilonGreedy,
    EvalSettings,
    OptimSettings,
    ReplaySettings,
    RunSettings,
    TorsoSettings,
    check_settings,
)
from rljax.minibatch import flatten_time


@dataclass(frozen=True)
class DQNConfig(
    EvalSettings,
    TorsoSettings,
    EpsilonGreedy,
    AnnealedLR,
    OptimSettings,
    ReplaySettings,
    RunSettings,
):
    """Everything that defines a DQN run. Defaults: Double DQN on CartPole-v1 with a
    LayerNorm Q-network (see `layer_norm`), 8 envs, one gradient step per 8 env steps."""

    total_timesteps: int = 200_000
    num_envs: int = 8
    num_steps: int = 4
    learning_starts: int = 5_000
    """Env steps collected before the first gradient step (Methods, "replay start size")."""
    learning_rate: float = 5e-4
    max_grad_norm: float = 10.0
    n_step: int = 1
    """Steps of the return before bootstrapping (static: a window shape); 1 is one-step DQN.
    Rainbow (Hessel et al. 2018) uses 3."""
    double_dqn: bool = True
    """Pick the bootstrap action with the online network and evaluate it with the target
    network (van Hasselt et al. 2016, eq. 4); False is DQN's max over the target network."""
    target_update_interval: int = 32
    """Updates between target-network updates, C in Mnih et al. 2015 (static)."""
    tau: float = 1.0
    """Target update step: 1 copies the online weights (DQN), < 1 is Polyak averaging."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    activation: cfg.Activation = "relu"
    layer_norm: bool = True
    """LayerNorm after every hidden layer (on by default: it kept Q bounded on CartPole,
    where the plain MLP's Q-values diverged; Gallici et al. 2024, Sec. 3)."""

    def __post_init__(self) -> None:
        check_settings(self)
        check_discrete_env(self, "DQN")
        cfg.check_positive(self, "target_update_interval", "tau", "n_step")
        cfg.check_unit_interval(self, "tau")
        check_replay_config(self)

    def replace(self, **changes: Any) -> DQNConfig:
        return dataclasses.replace(self, **changes)

    def hparams(self) -> DQNHParams:
        """The traced coefficients of this config, as a pytree for `train`/`vmap`."""
        return cfg.traced_coefficients(self, DQNHParams)


@struct.dataclass
class DQNHParams:
    """Traced coefficients; each leaf is a scalar (or `[runs]` under vmap)."""

    learning_rate: jax.Array
    max_grad_norm: jax.Array
    gamma: jax.Array
    tau: jax.Array
    epsilon_start: jax.Array
    epsilon_finish: jax.Array
    exploration_fraction: jax.Array
    reward_scale: jax.Array


@struct.dataclass
class DQNState:
    """`TrainState`'s fields plus the target network, the replay buffer and the n-step
    window (`[n_step - 1, num_envs, ...]`; empty for one-step DQN)."""

    params: Any
    target_params: Any
    opt_state: optax.OptState
    buffer: replay.ReplayBuffer
    window: NStepWindow
    rollout: rollout.RolloutState
    key: jax.Array
    hparams: DQNHParams
    update_step: jax.Array


class DQNMetrics(NamedTuple):
    """Per-update scalars; `episode_return` is NaN for an update in which no episode ended.
    Loss and Q statistics are 0 during the warm-up."""

    episode_return: jax.Array
    td_loss: jax.Array
    q_mean: jax.Array
    """Mean Q(s, a) over the minibatches, against `target_mean` to spot over-estimation."""
    target_mean: jax.Array
    epsilon: jax.Array
    learning_rate: jax.Array


def td_targets(
    next_q_target: jax.Array,
    next_q_online: jax.Array,
    reward: jax.Array,
    discount: jax.Array,
    double_dqn: bool,
) -> jax.Array:
    """`y = r + discount * Q_target(s', a*)`, shapes `[B, A]`, `[B]` -> `[B]`; `discount` is
    `gamma * (1 - terminated)` for one step (`gamma^m (1 - terminated)` for m steps).

    DQN: a* = argmax Q_target(s') (Mnih et al. 2015, Alg. 1). Double DQN: a* = argmax
    Q_online(s') (van Hasselt et al. 2016, eq. 4). Gradients are stopped.
    """
    chooser = next_q_online if double_dqn else next_q_target
    next_action = jnp.argmax(chooser, axis=-1)
    next_value = jnp.take_along_axis(next_q_target, next_action[:, None], axis=-1).squeeze(-1)
    target = reward + discount * next_value
    return jax.lax.stop_gradient(target)


class DQN(EpsilonGreedyAgent):
    """DQN / Double DQN as pure functions over `DQNState`; the instance holds only static
    structure."""

    def __init__(self, config: DQNConfig):
        self._setup(config)

    # --- pure functions -------------------------------------------------------------------

    def init(self, key: jax.Array, hparams: DQNHParams) -> DQNState:
        net_key, env_key, key = jax.random.split(key, 3)
        params = self.network.init(net_key, jnp.zeros((1, *self.obs_shape)))
        rollout_state = rollout.reset(self.env, self.env_params, env_key)
        actions = jnp.zeros((self.config.num_envs,), jnp.int32)
        buffer, window = init_replay(
            rollout_state.obs, actions, self.config.buffer_size, self.config.n_step
        )
        return DQNState(
            params=params,
            target_params=params,
            opt_state=self.optimizer(hparams).init(params),
            buffer=buffer,
            window=window,
            rollout=rollout_state,
            key=key,
            hparams=hparams,
            update_step=jnp.zeros((), jnp.int32),
        )

    def collect(self, state: DQNState) -> tuple[DQNState, rollout.Transition]:
        """Step the envs `num_steps` times and write the rollout into the buffer as n-step
        transitions (`store_rollout`)."""
        policy_params = (state.params, self.epsilon(state))
        new_state, traj = collect(
            self.env, self.env_params, self.act, policy_params, state, self.config.num_steps
        )
        buffer, window = store_rollout(
            state.buffer,
            traj,
            state.hparams.gamma,
            state.update_step,
            window=state.window,
            n_step=self.config.n_step,
        )
        return new_state.replace(buffer=buffer, window=window), traj

    def learn(self, state: DQNState, traj: rollout.Transition) -> tuple[DQNState, DQNMetrics]:
        hp, config = state.hparams, self.config
        progress = state.update_step / self.num_updates
        lr = optim.annealed(hp.learning_rate, progress, config.anneal_lr)
        optimizer = self.optimizer(hp)

        step = optim.gradient_step(
            lambda p, batch: self._loss(p, state.target_params, batch, hp), optimizer, lr
        )
        (params, opt_state), (loss, q_mean, target_mean), key = replay_gradient_steps(
            lambda carry, batch, _: step(carry, batch),
            (state.params, state.opt_state),
            state,
            config,
            self.steps_per_update,
        )
        update_step = state.update_step + 1
        # Target update every C updates; in between, tau is 0 and the target stays put.
        due = (update_step % config.target_update_interval) == 0
        target_params = optax.incremental_update(
            params, state.target_params, jnp.where(due, hp.tau, 0.0)
        )
        metrics = DQNMetrics(
            episode_return=rollout.mean_episode_return(traj),
            td_loss=loss.mean(),
            q_mean=q_mean.mean(),
            target_mean=target_mean.mean(),
            epsilon=self.epsilon(state),
            learning_rate=lr,
        )
        new_state = state.replace(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            key=key,
            update_step=update_step,
        )
        return new_state, metrics

    def update(self, state: DQNState) -> tuple[DQNState, DQNMetrics]:
        return self.learn(*self.collect(state))

    def value_targets(self, state: DQNState, traj: rollout.Transition) -> jax.Array:
        """What `learn` regresses Q(s_t, a_t) onto for each step of `traj`, `[num_steps,
        num_envs]`: the TD target of the replay transition `store_rollout` makes of the step
        (`replay_transitions`; n-step windows here are cut at the end of `traj`)."""
        stored, _ = replay_transitions(traj, state.hparams.gamma, n_step=self.config.n_step)
        flat = flatten_time(stored)
        target = self._target(state.params, state.target_params, flat, state.hparams)
        return target.reshape(traj.reward.shape)

    # --- pieces ---------------------------------------------------------------------------

    def optimizer(self, hp: DQNHParams) -> optax.GradientTransformation:
        return optim.clipped_adam(hp.max_grad_norm, clip=self.config.grad_clip)

    def _loss(
        self, params: Any, target_params: Any, batch: ReplayTransition, hp: DQNHParams
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
        target = self._target(params, target_params, batch, hp)
        q = self.network.apply(params, batch.obs)
        q_taken = jnp.take_along_axis(q, batch.action[:, None], axis=-1).squeeze(-1)
        # Huber loss: Mnih et al. (2015, Methods) clip the TD error's gradient to [-1, 1].
        loss = jnp.mean(optax.huber_loss(q_taken, target, delta=1.0))
        return loss, (loss, q_taken.mean(), target.mean())

    def _target(
        self, params: Any, target_params: Any, batch: ReplayTransition, hp: DQNHParams
    ) -> jax.Array:
        """The TD target `[B]` of replay transitions with leaves `[B, ...]`."""
        return td_targets(
            self.network.apply(target_params, batch.next_obs),
            self.network.apply(params, batch.next_obs),
            batch.reward * hp.reward_scale,
            batch.discount,
            self.config.double_dqn,
        )
