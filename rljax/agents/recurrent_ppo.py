"""Recurrent PPO: PPO (`rljax.agents.ppo`) with a GRU or LSTM actor-critic, for partially
observed tasks.

Everything PPO does is reused: its config and coefficients, the drift-based policy loss with
value clipping and the entropy bonus, GAE, the optimiser, learning-rate annealing and
evaluation. What is unique to the recurrent agent follows the recurrent-PPO details of Huang
et al. (2022, "The 37 implementation details of PPO", LSTM details 1-5), with a GRU (default)
or an LSTM (`cell`):

  1. the recurrent state (the LSTM's cell and hidden state both) starts at zero and is reset
     to zero exactly where the previous step ended an episode (`terminated | truncated`),
     inside the network's scan over time (`rljax.networks.RecurrentActorCritic`), in the
     rollout and in evaluation alike;
  2. the rollout stores the recurrent state each env started it from
     (`rljax.rollout.collect_recurrent`), and learning re-runs the cell over each env's whole
     sequence from there, so at the first epoch the recomputed log-probabilities and values
     are the rollout's (ratio 1 before any update);
  3. minibatches are sets of whole env sequences (`rljax.minibatch.swap_time_env`), never
     shuffled steps, so `num_minibatches` must divide `num_envs`.

The value bootstrap on truncation, V(s'_t), feeds the pre-reset final observation to the cell
after step `t` without a reset: it is the value of the same episode's next state.

The UED papers' maze agent (PLR, robust PLR, ACCEL; JaxUED's `examples/maze_plr.py`) is
`network="maze_conv", cell="lstm", gru_size=256, hidden_sizes=(32,), activation="relu"`
(`rljax.networks.MazeConv`; the `jaxued_maze` preset of `rljax.presets` uses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import jax
import jax.numpy as jnp

from rljax import config as cfg
from rljax import rollout, run_batch
from rljax.agents.ppo import (
    PPO,
    PPOBatch,
    PPOConfig,
    PPOHParams,
    PPOMetrics,
    PPOState,
    PPOTrajectory,
)
from rljax.environment import make
from rljax.learner import register_learner
from rljax.minibatch import swap_time_env
from rljax.networks import CELLS, RecurrentActorCritic, maze_observation_problem

RECURRENT_NETWORKS = (*cfg.NETWORKS, "maze_conv")
"""The torsos of the recurrent agent: the feed-forward agents' (`rljax.config.NETWORKS`) and
`maze_conv`, the UED papers' maze torso (`rljax.networks.MazeConv`)."""


@dataclass(frozen=True)
class RecurrentPPOConfig(PPOConfig):
    """PPOConfig plus the recurrent cell. Defaults: MemoryChain-bsuite (bsuite's memory
    chain, Osband et al. 2020: the sign shown at the first step must be recalled 5 steps
    later; return 1 if recalled, -1 if not, so a memoryless policy scores 0 on average)."""

    env: cfg.EnvName = "MemoryChain-bsuite"
    total_timesteps: int = 200_000
    num_envs: int = 16
    """Parallel environments per run (static: a shape); each is one sequence of a minibatch."""
    num_steps: int = 32
    """Steps per environment per rollout: the length of the sequences the GRU learns from."""
    num_minibatches: int = 4
    """Minibatches per pass, each of num_envs / num_minibatches whole env sequences; must
    divide num_envs."""
    learning_rate: float = 1e-3
    """Adam step size (traced: sweepable without recompiling)."""
    hidden_sizes: tuple[int, ...] = (64,)
    """Widths of the MLP torso before the cell (the CNN torsos have their own); the actor and
    critic heads each have one hidden layer of the last width."""
    network: Annotated[str, cfg.choices(RECURRENT_NETWORKS)] = "auto"
    """`mlp`, `minatar_cnn`, `grid_cnn`, `maze_conv` (the UED papers' maze torso: a 3x3 conv
    of 16 over the maze's view and a 5-unit direction embedding; maze observations only), or
    `auto` (the MinAtar CNN for MinAtar envs, the grid CNN for `xminigrid/` envs, an MLP
    otherwise)."""
    gru_size: int = 64
    """Units of the recurrent cell's state (the name is kept from when the GRU was the only
    cell): the GRU's hidden state, or each of the LSTM's cell and hidden states."""
    cell: Annotated[str, cfg.choices(CELLS)] = "gru"
    """The recurrent cell: `gru` (Cho et al. 2014) or `lstm` (Hochreiter & Schmidhuber 1997;
    the UED papers' maze agent uses an LSTM of 256)."""

    def __post_init__(self) -> None:
        network = self.network
        if network in RECURRENT_NETWORKS and network not in cfg.NETWORKS:
            # PPOConfig's checks know the feed-forward torsos only; this one is checked below.
            object.__setattr__(self, "network", "auto")
        try:
            super().__post_init__()
        finally:
            object.__setattr__(self, "network", network)
        cfg.check_choice(self, "network", RECURRENT_NETWORKS)
        cfg.check_choice(self, "cell", CELLS)
        cfg.check_positive(self, "gru_size")
        if self.network == "maze_conv":
            env, params = make(self.env)
            # The shape of a reset's observation, traced abstractly: nothing compiles.
            key = jax.ShapeDtypeStruct((2,), jnp.uint32)
            obs, _ = jax.eval_shape(env.reset, key, params)
            problem = maze_observation_problem(obs.shape)
            if problem:
                cfg.fail(
                    self,
                    "network",
                    f"{problem}, which {self.env} observes",
                    "use maze_conv with the maze (env Maze-*, task-space:maze), or pick "
                    "another torso (auto, mlp, minatar_cnn, grid_cnn)",
                )
        if self.num_envs % self.num_minibatches:
            cfg.fail(
                self,
                "num_minibatches",
                f"does not divide num_envs = {self.num_envs}: a recurrent minibatch is a set "
                "of whole env sequences, so the envs must split evenly",
                f"pick num_minibatches among the divisors of {self.num_envs}, or change num_envs",
            )


class _Sequences(NamedTuple):
    """The learning batch: each env's whole sequence, env axis leading."""

    steps: PPOBatch
    """Leaves `[num_envs, num_steps, ...]`."""
    first: jax.Array
    """`[num_envs, num_steps]`: where the hidden state was reset."""
    initial_carry: Any
    """The recurrent state each sequence started from, leaves `[num_envs, gru_size]` (the
    GRU's array, or the LSTM's `LSTMCarry`)."""


class _OneStepInit:
    """`init_train_state` initialises a network from one dummy observation `[1, *obs_shape]`;
    the recurrent network reads it as one step of one env starting an episode."""

    def __init__(self, network: RecurrentActorCritic):
        self.network = network

    def init(self, key: jax.Array, obs: jax.Array) -> Any:
        first = jnp.ones((1, 1), bool)
        return self.network.init(key, self.network.initial_carry(1), obs[None], first)


class RecurrentPPO(PPO):
    """Recurrent PPO as pure functions over `PPOState` (whose rollout state carries the cell's
    state); the instance holds only static structure."""

    config: RecurrentPPOConfig

    def _make_network(self, torso: str) -> RecurrentActorCritic:
        return RecurrentActorCritic(
            action=self.action,
            hidden_sizes=tuple(self.config.hidden_sizes),
            gru_size=self.config.gru_size,
            activation=self.config.activation,
            torso=torso,
            obs_ndim=len(self.obs_shape),
            cell=self.config.cell,
        )

    # --- pure functions -------------------------------------------------------------------

    def act(
        self, params: Any, carry: Any, obs: jax.Array, first: jax.Array, key: jax.Array
    ) -> tuple[Any, jax.Array, tuple[jax.Array, jax.Array]]:
        """One step: `carry` (leaves `[N, H]`), `obs [N, ...]`, `first [N]` -> the next carry,
        sampled actions `[N, ...]`, and extras `(log_prob, value)`, both `[N]`."""
        carries, pi, value = self.network.apply(params, carry, obs[None], first[None])
        action = pi.sample(seed=key)
        return self.network.last(carries), action[0], (pi.log_prob(action)[0], value[0])

    def act_greedy(
        self, params: Any, carry: Any, obs: jax.Array, first: jax.Array, key: jax.Array
    ) -> tuple[Any, jax.Array, None]:
        carries, pi, _ = self.network.apply(params, carry, obs[None], first[None])
        return self.network.last(carries), pi.mode()[0], None

    # --- the learner interface (`rljax.learner`), where it differs from PPO's ------------

    def collect(self, state: PPOState, env: Any, env_params: Any) -> tuple[PPOState, PPOTrajectory]:
        """`num_steps` steps from `state.rollout` on `env`, carrying the cell's state, and
        V(s'_t) (`_next_values`)."""
        key, collect_key = jax.random.split(state.key)
        new_rollout, sequences = rollout.collect_recurrent(
            env,
            env_params,
            self._act_keeping_carry,
            state.params,
            state.rollout,
            collect_key,
            self.num_steps,
        )
        log_prob, value, carries = sequences.transitions.extras
        traj = sequences.transitions._replace(extras=(log_prob, value))
        next_value = self._next_values(state.params, carries, traj, value)
        sequences = sequences._replace(transitions=traj)
        return state.replace(rollout=new_rollout, key=key), PPOTrajectory(sequences, next_value)

    def _act_keeping_carry(
        self, params: Any, carry: Any, obs: jax.Array, first: jax.Array, key: jax.Array
    ) -> tuple[Any, jax.Array, tuple[jax.Array, jax.Array, Any]]:
        """`act`, whose extras also keep the carry after the step (before any reset)."""
        carry, action, (log_prob, value) = self.act(params, carry, obs, first, key)
        return carry, action, (log_prob, value, carry)

    def _next_values(
        self, params: Any, carries: Any, traj: rollout.Transition, value: jax.Array
    ) -> jax.Array:
        """V(s'_t) `[T, N]`: the value of step `t`'s pre-reset next observation fed to the cell
        after step `t` without a reset (`carries`, leaves `[T, N, H]`: the carry after each
        step, as the rollout computed it).

        Where step `t` did not end an episode and is not the last, s'_t is the next step's
        observation and the cell's state the one the rollout acted from, so V(s'_t) is the
        rollout's own `value[t + 1]`. Only truncated steps and the last one need a network
        call (GAE multiplies a terminated step's V(s'_t) by 0). Their number per env is at
        most `k = ceil(T / max_episode_steps) + 1` (truncations are a time limit apart), so
        `k` steps per env are gathered and valued in one batched call: no re-run of the cell
        over the sequence. If some env has more (an env that truncates more often than its
        time limit says), every step is valued instead (`rljax.run_batch.cond_if_any`: only
        computed when some run of the batch needs it).
        """
        steps, envs = value.shape
        last = (jnp.arange(steps) == steps - 1)[:, None]
        needed = traj.truncated | last
        shifted = jnp.concatenate([value[1:], value[-1:]])  # value[t + 1]; row T-1 replaced
        k = min(steps, -(-steps // max(self.max_episode_steps, 1)) + 1)
        env_index = jnp.arange(envs)[None, :]

        def values_at(rows: jax.Array) -> jax.Array:
            """V(s'_t) at `rows [R, N]` (step indices per env) -> `[R, N]`."""
            carry = jax.tree.map(lambda c: c[rows, env_index], carries)
            carry = jax.tree.map(lambda c: c.reshape((-1, *c.shape[2:])), carry)
            obs = traj.next_obs[rows, env_index]
            obs = obs.reshape((1, -1, *obs.shape[2:]))
            no_reset = jnp.zeros(obs.shape[:2], bool)
            _, _, v = self.network.apply(params, carry, obs, no_reset)
            return v.reshape(rows.shape)

        def gathered() -> jax.Array:
            _, rows = jax.lax.top_k(needed.T.astype(jnp.int32), k)  # needed steps first
            rows = rows.T  # [k, N]
            picked = jnp.where(needed[rows, env_index], values_at(rows), shifted[rows, env_index])
            return shifted.at[rows, env_index].set(picked)

        def every_step() -> jax.Array:
            rows = jnp.broadcast_to(jnp.arange(steps)[:, None], (steps, envs))
            return jnp.where(needed, values_at(rows), shifted)

        if k == steps:
            return every_step()
        overflow = needed.sum(axis=0).max() > k
        return run_batch.cond_if_any(overflow, every_step, gathered)

    def transitions(self, traj: PPOTrajectory) -> rollout.Transition:
        return traj.steps.transitions

    def learn(self, state: PPOState, traj: PPOTrajectory) -> tuple[PPOState, PPOMetrics]:
        """PPO's epochs over whole env sequences."""
        sequences = traj.steps
        state, scaled = self._normalize_rewards(state, sequences.transitions)
        steps = self._steps(state.hparams, scaled, traj.next_value)
        batch = _Sequences(
            swap_time_env(steps), swap_time_env(sequences.first), sequences.initial_carry
        )
        return self._descend(state, batch, sequences.transitions)

    def initial_carry(self, num_envs: int) -> Any:
        return self.network.initial_carry(num_envs)

    # --- pieces ---------------------------------------------------------------------------

    def _start_carry(self, state: rollout.RolloutState) -> rollout.RecurrentRolloutState:
        carry = self.initial_carry(state.obs.shape[0])
        return rollout.RecurrentRolloutState.start(state, carry)

    def _initialiser(self) -> _OneStepInit:
        return _OneStepInit(self.network)

    def _loss(self, params: Any, mb: _Sequences, hp: PPOHParams, progress: jax.Array):
        """PPO's loss on a minibatch of whole sequences (`[B, T, ...]`), re-running the cell
        over each from the state it started the rollout with."""
        steps, first = swap_time_env((mb.steps, mb.first))
        _, pi, value = self.network.apply(params, mb.initial_carry, steps.obs, first)
        return self._objective(pi, value, steps, hp, progress)


register_learner(RecurrentPPOConfig, RecurrentPPO)
