"""What gradient-based agents over a `VecEnv` share: their training state, its
initialisation, rollout collection into it, the torso choice, the Q-learning helpers, and
the off-policy replay loop (DQN, SAC).

An algorithm file keeps only what is unique to it (its config, hparams, loss and `learn`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import replay, rollout, run_batch
from rljax.environment import SpaceSpec, action_spec, make, max_episode_steps
from rljax.evaluation import EvalResult, evaluate
from rljax.networks import QNetwork
from rljax.returns import n_step_returns
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
    reward_norm: Any = None
    """A `returns.RewardNormalizer` where the agent normalises rewards, else None."""


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


def setup_envs(
    agent: Any, config: Any, wrap: Callable[[Any, SpaceSpec], Any] | None = None
) -> None:
    """Give `agent` the static env structure its config asks for: `config`, `env_params`,
    `action` (the base env's `SpaceSpec`), the training batch `env` (`num_envs` copies with
    `EpisodeStatistics`), `eval_env` (`num_eval_episodes` copies), `max_episode_steps`,
    `obs_shape`, `steps_per_update` and `num_updates`. `wrap(base_env, action)` may wrap the
    base env first (e.g. in `RescaleAction`)."""
    agent.config = config
    base_env, agent.env_params = make(config.env)
    agent.action = action_spec(base_env, agent.env_params)
    if wrap is not None:
        base_env = wrap(base_env, agent.action)
    agent.env = VecEnv(EpisodeStatistics(base_env), config.num_envs)
    agent.eval_env = VecEnv(EpisodeStatistics(base_env), config.num_eval_episodes)
    agent.max_episode_steps = max_episode_steps(base_env, agent.env_params)
    agent.obs_shape = base_env.observation_space(agent.env_params).shape
    agent.steps_per_update = config.num_envs * config.num_steps
    agent.num_updates = config.total_timesteps // agent.steps_per_update


def resolve_torso(network: str, env: str) -> str:
    """`auto` picks the MinAtar CNN for MinAtar envs, the grid CNN for xminigrid envs (and the
    generated XLand tasks of `envs.xland`) and an MLP otherwise."""
    if network == "auto":
        if env.endswith("-MinAtar"):
            return "minatar_cnn"
        return "grid_cnn" if env.startswith(("xminigrid/", "XLand-")) else "mlp"
    return network


# --- Q-learning ----------------------------------------------------------------------------


ALGORITHMS_BY_ACTION_SPACE = {
    "discrete": ("PPO", "PQN", "DQN", "SAC (discrete variant)"),
    "continuous": ("PPO", "SAC"),
}
"""Which rljax algorithms fit each kind of action space, for error messages."""


def fitting_algorithms() -> str:
    """`discrete: PPO, PQN, ...; continuous: PPO, SAC`, for error messages."""
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in ALGORITHMS_BY_ACTION_SPACE.items())


def check_discrete_env(config: Any, algorithm: str) -> None:
    """Refuse, at config construction, an env whose actions are not a finite set (the name
    itself is checked first by `rljax.agents.settings.check_settings`).

    Q-learning acts by argmax_a Q(s, a), which needs one output per action. Building the env
    here is cheap for gymnax envs and catches the mistake before anything compiles.
    """
    if not action_spec(*make(config.env)).discrete:
        continuous = " or ".join(ALGORITHMS_BY_ACTION_SPACE["continuous"])
        cfg.fail(
            config,
            "env",
            f"has a continuous action space, but {algorithm} picks argmax_a Q(s, a) over a "
            "finite set of actions",
            "pick a discrete-action env (e.g. CartPole-v1, Acrobot-v1, Breakout-MinAtar), "
            f"or train this env with {continuous}, which handle continuous actions "
            f"(rljax algorithms by action space: {fitting_algorithms()})",
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
        setup_envs(self, config)
        self.network = QNetwork(
            num_actions=self.action.num_actions,
            hidden_sizes=tuple(config.hidden_sizes),
            activation=config.activation,
            layer_norm=config.layer_norm,
            torso=resolve_torso(config.network, config.env),
            obs_ndim=len(self.obs_shape),
        )

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


# --- off-policy learning from a replay buffer ---------------------------------------------


class ReplayTransition(NamedTuple):
    """One replayed (n-step) transition: its target is `reward + discount * V(next_obs)`.

    `reward` is the discounted sum of the window's rewards, `discount` is `gamma^m` for a
    window of m steps (0 after a termination) and `next_obs` the pre-reset observation after
    the window's last step, so a truncation bootstraps from it (see `n_step_returns`).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    discount: jax.Array
    next_obs: jax.Array


class NStepWindow(NamedTuple):
    """The last `n - 1` env steps, leaves `[n - 1, num_envs, ...]`: their n-step returns need
    rewards the next rollout collects."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array


def init_replay(
    obs: jax.Array, action: jax.Array, capacity: int, n_step: int = 1
) -> tuple[replay.ReplayBuffer, NStepWindow]:
    """An empty buffer of `ReplayTransition`s and an empty n-step window, shaped after one
    env batch's `obs [num_envs, ...]` and `action [num_envs, ...]`."""
    zero = jnp.zeros((), jnp.float32)
    example = ReplayTransition(obs[0], action[0], zero, zero, obs[0])

    def zeros(one: tuple[int, ...], dtype: Any) -> jax.Array:
        return jnp.zeros((n_step - 1, obs.shape[0], *one), dtype)

    window = NStepWindow(
        obs=zeros(obs.shape[1:], obs.dtype),
        action=zeros(action.shape[1:], action.dtype),
        reward=zeros((), jnp.float32),
        terminated=zeros((), bool),
        truncated=zeros((), bool),
        next_obs=zeros(obs.shape[1:], obs.dtype),
    )
    return replay.init(example, capacity), window


def replay_transitions(
    traj: rollout.Transition,
    gamma: jax.Array,
    window: NStepWindow | None = None,
    n_step: int = 1,
) -> tuple[ReplayTransition, NStepWindow]:
    """The n-step transitions of a rollout (`[num_steps, num_envs]`) as `store_rollout`
    writes them (leaves `[num_steps, num_envs, ...]`), and every step the window saw
    (the carried `window`'s `n - 1` steps, then the rollout's).

    `rljax.returns.n_step_returns` runs over the window followed by the new steps; row t of
    the result starts at the window's first step, so with a window every row is complete. A
    truncated step keeps `discount = gamma^m` (its final observation is bootstrapped); only
    a terminated one gets 0. Without a window (`None`) the rows are the rollout's own steps,
    their windows cut at the end of the rollout.
    """
    num_steps, num_envs = traj.reward.shape
    steps = NStepWindow(
        traj.obs, traj.action, traj.reward, traj.terminated, traj.truncated, traj.next_obs
    )
    if window is not None:
        steps = jax.tree.map(lambda w, x: jnp.concatenate([w, x]), window, steps)
    ret, discount, last = n_step_returns(
        steps.reward, steps.terminated, steps.truncated, gamma, n_step
    )
    stored = ReplayTransition(
        obs=steps.obs[:num_steps],
        action=steps.action[:num_steps],
        reward=ret[:num_steps],
        discount=discount[:num_steps],
        next_obs=steps.next_obs[last[:num_steps], jnp.arange(num_envs)[None, :]],
    )
    return stored, steps


def store_rollout(
    buffer: replay.ReplayBuffer,
    traj: rollout.Transition,
    gamma: jax.Array,
    update_step: jax.Array,
    window: NStepWindow | None = None,
    n_step: int = 1,
) -> tuple[replay.ReplayBuffer, NStepWindow | None]:
    """Write a rollout (`[num_steps, num_envs]`) into the buffer as n-step transitions
    (`replay_transitions`); returns the buffer and the window to carry to the next call
    (`None` for one-step).

    The transitions are computed right after each rollout over the carried window (the
    previous rollout's last `n - 1` steps) followed by the new steps; those whose window is
    complete are stored, and the last `n - 1` new steps are carried to the next call. So
    every stored transition has its full window, which never crosses an episode boundary,
    and the buffer, its sampling and the loss stay those of one-step learning; the price is
    that a step enters the buffer `n - 1` steps late. Storing sequences instead would tie
    the buffer to the env layout and force sampling to reject windows cut by the write
    position. `n_step = 1` (no window) stores one-step transitions with
    `discount = gamma * (1 - terminated)`. `update_step` counts earlier calls: before the
    first `n - 1` steps exist the window holds placeholders, which are dropped.
    """
    num_steps = traj.reward.shape[0]
    traj = traj._replace(action=traj.action.astype(buffer.data.action.dtype))
    stored, steps = replay_transitions(traj, gamma, window, n_step)
    first_step = update_step * num_steps - (n_step - 1)  # env step of `steps` row 0
    valid = (first_step + jnp.arange(num_steps) >= 0) if n_step > 1 else None
    buffer = replay.add_rollout(buffer, stored, valid)
    return buffer, None if window is None else jax.tree.map(lambda x: x[num_steps:], steps)


def check_replay_config(config: Any) -> None:
    """Refuse a replay config that cannot run: a buffer smaller than one minibatch or than
    one step of the env batch, or a run shorter than one update. (Each field's own range is
    `rljax.agents.settings.check_settings`'.)"""
    if config.buffer_size < config.batch_size:
        cfg.fail(
            config,
            "buffer_size",
            f"is smaller than one minibatch (batch_size={config.batch_size})",
            f"pass buffer_size >= {config.batch_size}, or a smaller batch_size",
        )
    if config.buffer_size < config.num_envs:
        cfg.fail(
            config,
            "buffer_size",
            f"cannot hold one step of num_envs={config.num_envs} envs",
            f"pass buffer_size >= {config.num_envs}",
        )
    steps_per_update = config.num_envs * config.num_steps
    if config.total_timesteps < steps_per_update:
        cfg.fail(
            config,
            "total_timesteps",
            f"is less than one update of num_envs * num_steps = {steps_per_update}",
            f"pass total_timesteps >= {steps_per_update}",
        )


def learning_started(update_step: jax.Array, steps_per_update: int, learning_starts: int):
    """Whether `update_step` updates have collected at least `learning_starts` env steps
    (Mnih et al. 2015, Methods, "replay start size"; Haarnoja et al. 2018, Alg. 1 fills
    the pool before its first gradient step)."""
    return update_step * steps_per_update >= learning_starts


def replay_gradient_steps(
    step: Callable[[Any, Any, jax.Array], tuple[Any, Any]],
    carry: Any,
    state: Any,
    config: Any,
    steps_per_update: int,
) -> tuple[Any, Any, jax.Array]:
    """The learning half of an off-policy update: `config.num_gradient_steps` calls of
    `step(carry, batch, key) -> (carry, aux)`, each on a fresh uniform minibatch of
    `config.batch_size` transitions from `state.buffer`, as one `lax.scan`, once this update
    completes `config.learning_starts` env steps. Returns the carry, `aux` stacked
    `[num_gradient_steps, ...]` and the state's next PRNG key. During the warm-up the carry
    is returned as it is and `aux` is zeros, so both branches of the `cond` have one shape
    and the program compiles once.
    """
    key, sgd_key = jax.random.split(state.key)
    learning = learning_started(state.update_step + 1, steps_per_update, config.learning_starts)

    def train(operand):
        carry, key = operand

        def body(carry, step_key):
            batch = replay.sample(state.buffer, step_key, config.batch_size)
            # A stream apart from the sampling key for whatever randomness `step` needs.
            return step(carry, batch, jax.random.fold_in(step_key, 1))

        return jax.lax.scan(body, carry, jax.random.split(key, config.num_gradient_steps))

    # The warm-up's zeros take their shapes from `train`'s own trace (one trace, not two).
    carry, aux = run_batch.cond_or_zeros(learning, train, lambda op: op[0], (carry, sgd_key))
    return carry, aux, key
