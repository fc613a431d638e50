"""Recurrent PPO: PPO (`rljax.agents.ppo`) with a GRU actor-critic, for partially observed tasks.

Everything PPO does is reused: its config and coefficients, the drift-based policy loss with
value clipping and the entropy bonus, GAE, the optimiser, learning-rate annealing and
evaluation. What is unique to the recurrent agent follows the recurrent-PPO details of Huang
et al. (2022, "The 37 implementation details of PPO", LSTM details 1-5) with a GRU:

  1. the hidden state starts at zero and is reset to zero exactly where the previous step
     ended an episode (`terminated | truncated`), inside the network's scan over time
     (`rljax.networks.RecurrentActorCritic`), in the rollout and in evaluation alike;
  2. the rollout stores the hidden state each env started it from
     (`rljax.rollout.collect_recurrent`), and learning re-runs the GRU over each env's whole
     sequence from there, so at the first epoch the recomputed log-probabilities and values
     are the rollout's (ratio 1 before any update);
  3. minibatches are sets of whole env sequences (`rljax.minibatch.swap_time_env`), never
     shuffled steps, so `num_minibatches` must divide `num_envs`.

The value bootstrap on truncation, V(s'_t), feeds the pre-reset final observation to the GRU
after step `t` without a reset: it is the value of the same episode's next state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rljax import config as cfg
from rljax import rollout
from rljax.agents.ppo import (
    PPO,
    PPOBatch,
    PPOConfig,
    PPOHParams,
    PPOMetrics,
    PPOState,
    PPOTrajectory,
)
from rljax.learner import register_learner
from rljax.minibatch import swap_time_env
from rljax.networks import RecurrentActorCritic


@dataclass(frozen=True)
class RecurrentPPOConfig(PPOConfig):
    """PPOConfig plus the GRU. Defaults: MemoryChain-bsuite (bsuite's memory chain, Osband
    et al. 2020: the sign shown at the first step must be recalled 5 steps later; return 1
    if recalled, -1 if not, so a memoryless policy scores 0 on average)."""

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
    """Widths of the MLP torso before the GRU; the actor and critic heads each have one hidden
    layer of the last width."""
    gru_size: int = 64
    """Units of the GRU's hidden state."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg.check_positive(self, "gru_size")
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
    initial_carry: jax.Array
    """`[num_envs, gru_size]`: the hidden state each sequence started from."""


class _OneStepInit:
    """`init_train_state` initialises a network from one dummy observation `[1, *obs_shape]`;
    the recurrent network reads it as one step of one env starting an episode."""

    def __init__(self, network: RecurrentActorCritic):
        self.network = network

    def init(self, key: jax.Array, obs: jax.Array) -> Any:
        first = jnp.ones((1, 1), bool)
        return self.network.init(key, self.network.initial_carry(1), obs[None], first)


class RecurrentPPO(PPO):
    """Recurrent PPO as pure functions over `PPOState` (whose rollout state carries the GRU's
    hidden state); the instance holds only static structure."""

    config: RecurrentPPOConfig

    def _make_network(self, torso: str) -> RecurrentActorCritic:
        return RecurrentActorCritic(
            action=self.action,
            hidden_sizes=tuple(self.config.hidden_sizes),
            gru_size=self.config.gru_size,
            activation=self.config.activation,
            torso=torso,
            obs_ndim=len(self.obs_shape),
        )

    # --- pure functions -------------------------------------------------------------------

    def act(
        self, params: Any, carry: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array, tuple[jax.Array, jax.Array]]:
        """One step: `carry [N, H]`, `obs [N, ...]`, `first [N]` -> the next carry, sampled
        actions `[N, ...]`, and extras `(log_prob, value)`, both `[N]`."""
        hiddens, pi, value = self.network.apply(params, carry, obs[None], first[None])
        action = pi.sample(seed=key)
        return hiddens[-1], action[0], (pi.log_prob(action)[0], value[0])

    def act_greedy(
        self, params: Any, carry: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array, None]:
        hiddens, pi, _ = self.network.apply(params, carry, obs[None], first[None])
        return hiddens[-1], pi.mode()[0], None

    # --- the learner interface (`rljax.learner`), where it differs from PPO's ------------

    def collect(self, state: PPOState, env: Any, env_params: Any) -> tuple[PPOState, PPOTrajectory]:
        """`num_steps` steps from `state.rollout` on `env`, carrying the GRU's hidden state,
        and V(s'_t): the GRU re-run over each env's sequence from its initial carry, then fed
        the pre-reset next observation without a reset."""
        key, collect_key = jax.random.split(state.key)
        new_rollout, sequences = rollout.collect_recurrent(
            env,
            env_params,
            self.act,
            state.params,
            state.rollout,
            collect_key,
            self.num_steps,
        )
        traj = sequences.transitions
        *_, next_value = self.network.apply(
            state.params, sequences.initial_carry, traj.obs, sequences.first, traj.next_obs
        )
        return state.replace(rollout=new_rollout, key=key), PPOTrajectory(sequences, next_value)

    def transitions(self, traj: PPOTrajectory) -> rollout.Transition:
        return traj.steps.transitions

    def learn(self, state: PPOState, traj: PPOTrajectory) -> tuple[PPOState, PPOMetrics]:
        """PPO's epochs over whole env sequences."""
        sequences = traj.steps
        steps = self._steps(state.hparams, sequences.transitions, traj.next_value)
        batch = _Sequences(
            swap_time_env(steps), swap_time_env(sequences.first), sequences.initial_carry
        )
        return self._descend(state, batch, sequences.transitions)

    def initial_carry(self, num_envs: int) -> jax.Array:
        return self.network.initial_carry(num_envs)

    # --- pieces ---------------------------------------------------------------------------

    def _start_carry(self, state: rollout.RolloutState) -> rollout.RecurrentRolloutState:
        carry = self.initial_carry(state.obs.shape[0])
        return rollout.RecurrentRolloutState.start(state, carry)

    def _initialiser(self) -> _OneStepInit:
        return _OneStepInit(self.network)

    def _loss(self, params: Any, mb: _Sequences, hp: PPOHParams, progress: jax.Array):
        """PPO's loss on a minibatch of whole sequences (`[B, T, ...]`), re-running the GRU
        over each from the hidden state it started the rollout with."""
        steps, first = swap_time_env((mb.steps, mb.first))
        _, pi, value = self.network.apply(params, mb.initial_carry, steps.obs, first)
        return self._objective(pi, value, steps, hp, progress)


register_learner(RecurrentPPOConfig, RecurrentPPO)
