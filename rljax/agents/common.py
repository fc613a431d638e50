"""What gradient-based agents over a `VecEnv` share: their training state, its
initialisation, rollout collection into it, the torso choice, and the Q-learning helpers.

An algorithm file keeps only what is unique to it (its config, hparams, loss and `learn`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import rollout
from rljax.environment import action_spec, check_env_name, make, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.networks import QNetwork
from rljax.wrappers import EpisodeStatistics, VecEnv


@struct.dataclass
class TrainState:
    """One run's whole state; under `vmap` every leaf gains a leading `[runs]` axis.

    `hparams` (the traced coefficients) travel inside the state so that a sweep is a plain
    `vmap` over states; `key` is the run's PRNG key, so a run is a pure function of its seed.
    """

    params: Any
    opt_state: optax.OptState
    rollout: rollout.RolloutState
    key: jax.Array
    hparams: Any
    update_step: jax.Array


def init_train_state(
    network: Any,
    optimizer: optax.GradientTransformation,
    env: Any,
    env_params: Any,
    obs_shape: tuple[int, ...],
    key: jax.Array,
    hparams: Any,
) -> TrainState:
    """Fresh network parameters and optimiser state, and a reset env batch."""
    net_key, env_key, key = jax.random.split(key, 3)
    params = network.init(net_key, jnp.zeros((1, *obs_shape)))
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        rollout=rollout.reset(env, env_params, env_key),
        key=key,
        hparams=hparams,
        update_step=jnp.zeros((), jnp.int32),
    )


def collect(
    env: Any,
    env_params: Any,
    policy: rollout.Policy,
    policy_params: Any,
    state: TrainState,
    num_steps: int,
) -> tuple[TrainState, rollout.Transition]:
    """`rollout.collect` from the state's env batch, advancing its key and rollout state."""
    key, collect_key = jax.random.split(state.key)
    new_rollout, traj = rollout.collect(
        env, env_params, policy, policy_params, state.rollout, collect_key, num_steps
    )
    return state.replace(rollout=new_rollout, key=key), traj


def resolve_torso(network: str, env: str) -> str:
    """`auto` picks the MinAtar CNN for MinAtar envs and an MLP otherwise."""
    if network == "auto":
        return "minatar_cnn" if env.endswith("-MinAtar") else "mlp"
    return network


# --- Q-learning ----------------------------------------------------------------------------


def check_discrete_env(config: Any, algorithm: str) -> None:
    """Refuse, at config construction, an env whose actions are not a finite set.

    Q-learning acts by argmax_a Q(s, a), which needs one output per action. Building the env
    here is cheap for gymnax envs and catches the mistake before anything compiles.
    """
    check_env_name(config.env)
    if not action_spec(*make(config.env)).discrete:
        cfg.fail(
            config,
            "env",
            f"has a continuous action space, but {algorithm} picks argmax_a Q(s, a) over a "
            "finite set of actions",
            "pick a discrete-action env (e.g. CartPole-v1, Acrobot-v1, Breakout-MinAtar), "
            "or train this env with PPO, which handles continuous actions",
        )


def linear_epsilon(
    update_step: jax.Array,
    num_updates: int,
    start: jax.Array,
    finish: jax.Array,
    fraction: jax.Array,
) -> jax.Array:
    """Epsilon annealed linearly from `start` to `finish` over the first `fraction` of the
    `num_updates` updates, then held (Mnih et al. 2015, "Human-level control through deep
    reinforcement learning", Methods). Every argument may be traced."""
    decay_updates = jnp.maximum(fraction * num_updates, 1e-6)  # fraction 0: finish at once
    progress = jnp.clip(update_step / decay_updates, 0.0, 1.0)
    return start + progress * (finish - start)


def epsilon_greedy(q_values: jax.Array, epsilon: jax.Array, key: jax.Array) -> jax.Array:
    """`q_values [..., A] -> action [...]`: uniform with probability epsilon, else argmax.

    Each env draws its own coin, so the batch explores independently.
    """
    explore_key, action_key = jax.random.split(key)
    greedy = jnp.argmax(q_values, axis=-1)
    random = jax.random.randint(action_key, greedy.shape, 0, q_values.shape[-1])
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy)


class EpsilonGreedyAgent:
    """Acting and evaluation shared by the Q-learning agents (PQN, DQN).

    A subclass sets `config` (with `eval_seed`), `network` (Q-values `[..., A]` from obs),
    `env_params`, `eval_env`, `max_episode_steps` and `num_updates`; its hparams carry
    `epsilon_start`, `epsilon_finish` and `exploration_fraction`.
    """

    def _setup(self, config: Any) -> None:
        """The static structure every Q-learning agent builds from its config: the env batch
        for training and for evaluation, and the Q-network."""
        self.config = config
        base_env, self.env_params = make(config.env)
        self.action = action_spec(base_env, self.env_params)
        self.env = VecEnv(EpisodeStatistics(base_env), config.num_envs)
        self.eval_env = VecEnv(EpisodeStatistics(base_env), config.num_eval_episodes)
        self.max_episode_steps = max_episode_steps(base_env, self.env_params)
        self.obs_shape = base_env.observation_space(self.env_params).shape
        self.network = QNetwork(
            num_actions=self.action.num_actions,
            hidden_sizes=tuple(config.hidden_sizes),
            activation=config.activation,
            layer_norm=config.layer_norm,
            torso=resolve_torso(config.network, config.env),
            obs_ndim=len(self.obs_shape),
        )
        self.steps_per_update = config.num_envs * config.num_steps
        self.num_updates = config.total_timesteps // self.steps_per_update

    def act(
        self, params_and_epsilon: tuple[Any, jax.Array], obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, None]:
        """Epsilon-greedy actions `[num_envs]`; the policy params are `(params, epsilon)`."""
        params, epsilon = params_and_epsilon
        return epsilon_greedy(self.network.apply(params, obs), epsilon, key), None

    def act_greedy(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        return jnp.argmax(self.network.apply(params, obs), axis=-1), None

    def epsilon(self, state: Any) -> jax.Array:
        hp = state.hparams
        return linear_epsilon(
            state.update_step,
            self.num_updates,
            hp.epsilon_start,
            hp.epsilon_finish,
            hp.exploration_fraction,
        )

    def evaluate(self, state: Any) -> EvalResult:
        """`num_eval_episodes` greedy episodes on keys fixed by `eval_seed`."""
        return evaluate(
            self.eval_env,
            self.env_params,
            self.act_greedy,
            state.params,
            jax.random.PRNGKey(self.config.eval_seed),
            self.max_episode_steps,
        )
