"""Two learners with one parameterisation, for LPG's gridworlds (Oh et al. 2020, "Discovering
Reinforcement Learning Algorithms", NeurIPS) and GROOVE (Jackson et al. 2023, "Discovering
General Reinforcement Learning Algorithms with Adversarial Environment Design", NeurIPS):

* `A2C`: advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep
  Reinforcement Learning", Sec. 4, run synchronously) with GAE, the hand-designed baseline
  and GROOVE's antagonist (A2C trained from scratch with entropy 0.01, as
  the LPG/GROOVE notes of the project's paper digest and the reference's `--entropy_coeff` give it);
* `LPGAgent`: the same agent whose update is an LPG rule's (Oh et al. 2020, Sec. 3, the
  agent update):
  the rule (`rljax.objectives.lpg`) reads the agent's trajectory and returns per-step targets
  pi_hat and y_hat, and the agent minimises

      L(theta) = -mean_t[ pi_hat_t * log pi_theta(a_t|s_t) ]
                 + alpha_y * mean_t[ KL(y_theta(s_t) || y_hat_t) ]

  The paper writes the update as `grad log pi * pi_hat - alpha_y grad KL(y || y_hat)`,
  so pi_hat plays the advantage's part; the public reference minimises `+pi_hat * log pi`,
  which is the same family with the sign of the learned pi_hat flipped. The KL runs from the
  agent's prediction y to the target y_hat, as in the paper and the reference; alpha_y = 0.5
  (`prediction_coef`, the reference's).

The parameterisation (`GridAgentNetwork`): a policy head (logits over actions) and a critic
head over a shared torso. The torso is nothing for the tabular view (`Gridworld-tabular-*`:
both heads are linear maps of the one-hot state, without bias, i.e. tables, as the LPG
paper's tabular agents) and an MLP of `hidden_sizes` for the symbolic view. The critic head is
the categorical prediction y of width m for the LPG agent (a softmax) and the value V(s)
(width 1) for A2C: the reference's choice too (its critic is "an LPG critic if the target
width is > 1, a value critic otherwise"). A value read off y would tie A2C's value to an
arbitrary fixed support; a value head keeps A2C the untuned textbook baseline it must be
for GROOVE's regret.

Optimisation (the reference's tabular agents, PAPERS.md): plain SGD (`optimizer="sgd"`) with
learning rate 40 on the policy head (and the torso) and 4 on the critic head, each group's
gradient clipped to global norm 0.5 on its own (the reference trains actor and critic as two
networks, each with its own clipped optimiser). The rates are large because the losses are
means over the whole batch of `num_envs * num_steps` steps (1280 by default, the
reference's 64 x 20): a tabular row visited k times moves by `lr * k / 1280` times its
per-step gradient, about 0.03 per visit for the policy. `optimizer="adam"` (with small rates)
suits the MLP torso of the symbolic view.

One update = one rollout of `num_steps` steps in `num_envs` envs, then one gradient step
(`updates_per_learn = 1`). Both implement the learner interface (`rljax.learner`) through
PPO's plumbing (env batches, resets, evaluation), and run through `rljax.run`.

Meta-parameters: the LPG rule's parameters travel inside the traced hyperparameters
(`LPGHParams.rule_params`), as a learned drift's do in `PPOHParams.drift_params`, so
`train(key, hparams.replace(rule_params=eta))` is one inner run of an outer loop, `vmap` over
`eta` is a population, and `jax.grad` of a function of the updated agent with respect to
`eta` is LPG's meta-gradient: the targets are computed outside the agent's own `jax.grad`
(so the agent follows the paper's update with the targets held fixed) and nothing on the path
from `eta` to the updated parameters is `stop_gradient`-ed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax import config as cfg
from rljax import optim, rollout
from rljax.agents.common import collect
from rljax.agents.ppo import PPO, PPOBatch, PPOState, PPOTrajectory
from rljax.agents.settings import (
    EvalSettings,
    MLPSettings,
    OptimSettings,
    RunSettings,
    check_settings,
)
from rljax.environment import action_spec, make, max_episode_steps
from rljax.learner import ScoreInputs, register_learner
from rljax.networks import MLP, Dense, orthogonal, param
from rljax.objectives.lpg import (
    LPGRuleConfig,
    LPGRuleParams,
    RuleInputs,
    apply_rule,
    init_rule,
    lifetime_features,
)

TORSOS = ("auto", "linear", "mlp")
OPTIMIZERS = ("sgd", "adam")
_CRITIC = "critic"
"""The critic head's name in the parameters (its own learning rate and clipping group)."""
_init_rule = jax.jit(init_rule, static_argnums=1)
"""`init_rule` compiled once per rule config (eagerly, its orthogonal init's loop would
compile again at every call)."""


# --- configs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridAgentSettings(EvalSettings, MLPSettings, OptimSettings, RunSettings):
    """What A2C and the LPG agent share. Defaults: the LPG reference's tabular agents on
    the `dense` gridworld (64 envs x 20 steps per update, 2,500 updates)."""

    env: cfg.EnvName = "Gridworld-tabular-dense"
    total_timesteps: int = 64 * 20 * 2_500
    num_envs: int = 64
    num_steps: int = 20
    learning_rate: float = 40.0
    """Step size on the policy head and the torso (SGD on a batch mean: see the module doc)."""
    critic_learning_rate: float = 4.0
    """Step size on the critic head (A2C's value, the LPG agent's prediction y)."""
    max_grad_norm: float = 0.5
    """Clipping threshold: of the global norm, applied to the policy's (with the torso) and
    the critic head's gradients apart; or of each element (`grad_clip element`)."""
    torso: Annotated[str, cfg.choices(TORSOS)] = "auto"
    """`linear` (heads straight on the observation: tables for one-hot states), `mlp` (an MLP
    of hidden_sizes), or `auto`: linear for `Gridworld-tabular*` and
    `Gridworld-index*` (tables read by row), mlp otherwise."""
    optimizer: Annotated[str, cfg.choices(OPTIMIZERS)] = "sgd"
    """`sgd` (the reference's tabular agents) or `adam` (e.g. for the MLP torso)."""
    normalize_observations: bool = False
    """Running observation normalisation, shared over the env batch."""
    greedy_eval: bool = False
    """Evaluate with the policy's mode (True) or by sampling (False: a half-trained tabular
    policy's mode can walk back and forth forever)."""

    def __post_init__(self) -> None:
        check_settings(self)
        cfg.check_positive(self, "critic_learning_rate")
        cfg.check_choice(self, "torso", TORSOS)
        cfg.check_choice(self, "optimizer", OPTIMIZERS)
        cfg.check_one_rollout(self)
        if self.resolved_torso() != "linear" and self.env.startswith("Gridworld-index"):
            cfg.fail(
                self,
                "torso",
                f"is {self.torso!r} (an MLP), but {self.env} observes a state index, which "
                "only tables (torso 'linear') read",
                "pass --torso linear, or a one-hot / symbolic env (Gridworld-tabular-*, "
                "Gridworld-symbolic-*)",
            )
        if not action_spec(*make(self.env)).discrete:
            cfg.fail(
                self,
                "env",
                f"has a continuous action space, but {type(self).__name__} learns a "
                "categorical policy",
                "pick a discrete-action env, e.g. Gridworld-tabular-dense",
            )

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // (self.num_envs * self.num_steps)

    def resolved_torso(self) -> str:
        if self.torso == "auto":
            tabular = self.env.startswith(("Gridworld-tabular", "Gridworld-index"))
            return "linear" if tabular else "mlp"
        return self.torso


@dataclass(frozen=True)
class A2CConfig(GridAgentSettings):
    """Advantage actor-critic with GAE: the hand-designed baseline (GROOVE's antagonist)."""

    gae_lambda: float = 0.95
    """GAE's lambda: 1 is Monte Carlo, 0 is one-step TD."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus (GROOVE's antagonist: 0.01)."""
    vf_coef: float = 1.0
    """Weight of the value loss, mean (V - target)^2 (the reference's critic loss, no 1/2)."""
    normalize_advantages: bool = True
    """Standardise the advantages over the whole batch (the reference does)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_non_negative(self, "ent_coef", "vf_coef")
        cfg.check_unit_interval(self, "gae_lambda")
        super().__post_init__()  # (builds the env: after the cheap checks)

    def hparams(self) -> A2CHParams:
        """The traced coefficients of this config, as a pytree for `train`/`vmap`."""
        return cfg.traced_coefficients(self, A2CHParams)


@dataclass(frozen=True)
class LPGAgentConfig(GridAgentSettings):
    """The agent trained by an LPG rule (its loss: the module doc)."""

    rule: LPGRuleConfig = dataclasses.field(default_factory=LPGRuleConfig)
    """The rule network's structure; `rule.prediction_size` is also the width m of y."""
    prediction_coef: float = 0.5
    """alpha_y, the weight of KL(y || y_hat) (the reference's 0.5)."""
    rule_seed: int = 0
    """Seed of the random rule `hparams()` starts from (outer loops replace it)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        cfg.check_non_negative(self, "prediction_coef", "rule_seed")
        if self.rule.temporally_aware and self.num_updates > self.rule.max_lifetime:
            cfg.fail(
                self,
                "total_timesteps",
                f"makes {self.num_updates} updates, more than rule.max_lifetime = "
                f"{self.rule.max_lifetime}, so TA-LPG's normalised log lifetime would exceed 1",
                "raise rule.max_lifetime (CLI --rule.max-lifetime) or train for fewer updates",
            )

    def hparams(self, rule_params: LPGRuleParams | None = None) -> LPGHParams:
        """The traced coefficients, with `rule_params` (default: a random rule from
        `rule_seed`) as the meta-parameters."""
        if rule_params is None:
            rule_params = _init_rule(jax.random.PRNGKey(self.rule_seed), self.rule)
        lifetime = jnp.float32(self.num_updates)
        return cfg.traced_coefficients(self, LPGHParams, rule_params=rule_params, lifetime=lifetime)


@struct.dataclass
class A2CHParams:
    """A2C's traced coefficients; each leaf is a scalar (or `[runs]` under vmap)."""

    learning_rate: jax.Array
    critic_learning_rate: jax.Array
    max_grad_norm: jax.Array
    gamma: jax.Array
    reward_scale: jax.Array
    gae_lambda: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array


@struct.dataclass
class LPGHParams:
    """The LPG agent's traced coefficients and the rule's parameters (the meta-parameters)."""

    learning_rate: jax.Array
    critic_learning_rate: jax.Array
    max_grad_norm: jax.Array
    gamma: jax.Array
    reward_scale: jax.Array
    prediction_coef: jax.Array
    rule_params: LPGRuleParams
    lifetime: jax.Array
    """N, the updates of this agent's life (default: the config's `num_updates`): TA-LPG's
    n/N and log N read it, and updates from the N-th on leave the agent unchanged, so runs
    of one compiled length (the longest) with different traced lifetimes vmap together."""


class A2CMetrics(NamedTuple):
    """Per-update scalars; `episode_return` is NaN for an update in which no episode ended."""

    episode_return: jax.Array
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array


class LPGMetrics(NamedTuple):
    """Per-update scalars of the LPG agent: its two losses, the entropies of pi and y, and
    the mean squares of the rule's outputs (the meta-objective's regularisers, Oh et al.
    2020, Sec. 3, the LPG update): `pi_hat_square` = mean pi_hat^2, `y_hat_square` = mean
    ||y_hat||^2."""

    episode_return: jax.Array
    policy_loss: jax.Array
    prediction_loss: jax.Array
    entropy: jax.Array
    prediction_entropy: jax.Array
    pi_hat_square: jax.Array
    y_hat_square: jax.Array


class LPGTrajectory(NamedTuple):
    """What `LPGAgent.collect` returns: the rollout (`[num_steps, num_envs, ...]`, no
    extras); the rule's inputs are recomputed from the parameters at learning time."""

    steps: rollout.Transition


# --- the parameterisation ------------------------------------------------------------------


class GridAgentNetwork(nn.Module):
    """`obs [..., *obs_shape] -> (logits [..., num_actions], critic [..., critic_size])`.

    A shared torso (none for `linear`, an MLP of `hidden_sizes` for `mlp`), then the policy
    head (orthogonal init, gain 0.01) and the critic head (gain 1.0); no biases on the
    linear torso's heads (tables over one-hot states), zero biases otherwise.
    """

    num_actions: int
    critic_size: int
    torso: str = "linear"
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    obs_ndim: int = 1

    num_states: int = 0
    """If > 0, `obs [...]` is an int state index in `[0, num_states)` (`Gridworld-index-*`):
    the heads are tables whose row `obs` is read, with the parameters (`kernel
    [num_states, features]`, same init) and outputs of the linear heads on the one-hot of
    `obs`, at a row lookup's cost."""

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        if self.num_states:
            index = obs.astype(jnp.int32)
            return (
                _Table(self.num_actions, self.num_states, 0.01, name="policy")(index),
                _Table(self.critic_size, self.num_states, 1.0, name=_CRITIC)(index),
            )
        x = obs.astype(jnp.float32)
        x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
        if self.torso == "mlp":
            x = MLP(tuple(self.hidden_sizes), self.activation, name="torso")(x)
        bias = self.torso != "linear"

        def head(features: int, gain: float, name: str) -> Dense:
            return Dense(features, use_bias=bias, kernel_init=orthogonal(gain), name=name)

        logits = head(self.num_actions, 0.01, "policy")(x)
        return logits, head(self.critic_size, 1.0, _CRITIC)(x)


class _Table(nn.Module):
    """`index [...] -> kernel[index] [..., features]`: a bias-free `nn.Dense` on the one-hot
    of `index` (the same parameter name, shape and init), as a lookup."""

    features: int
    num_rows: int
    gain: float

    @nn.compact
    def __call__(self, index: jax.Array) -> jax.Array:
        kernel = param(self, "kernel", orthogonal(self.gain), (self.num_rows, self.features))
        return kernel[index]


def _is_critic(path: tuple[Any, ...]) -> bool:
    return any(getattr(key, "key", None) == _CRITIC for key in path)


def clip_groups(max_norm: jax.Array) -> optax.GradientTransformation:
    """Clip the critic head's gradient and the rest's (policy head and torso) to global norm
    `max_norm` each. The squared norm is floored at 1e-24 before its square root, so a zero
    gradient has a finite derivative (meta-gradients differentiate through this)."""

    def clip(updates: Any, params: Any = None) -> Any:
        leaves = jax.tree_util.tree_flatten_with_path(updates)[0]
        squares = {True: jnp.float32(0.0), False: jnp.float32(0.0)}
        for path, leaf in leaves:
            squares[_is_critic(path)] += jnp.sum(jnp.square(leaf))
        scale = {
            critic: jnp.minimum(1.0, max_norm / jnp.sqrt(jnp.maximum(sq, 1e-24)))
            for critic, sq in squares.items()
        }
        return jax.tree_util.tree_map_with_path(lambda p, u: u * scale[_is_critic(p)], updates)

    return optax.stateless(clip)


# --- the agents ----------------------------------------------------------------------------


class GridAgent(PPO):
    """What A2C and the LPG agent share: the network, acting, the optimiser, and (from PPO)
    the learner interface's env plumbing and evaluation. A subclass gives the critic head's
    width (`_critic_size`) and writes `act`, `collect`, `learn` and its loss."""

    def __init__(self, config: GridAgentSettings):
        self.config = config
        base_env, self.env_params = make(config.env)
        self.action = action_spec(base_env, self.env_params)
        self.env = self.vectorise(base_env, config.num_envs)
        self.eval_env = self.vectorise(base_env, config.num_eval_episodes)
        self.max_episode_steps = max_episode_steps(base_env, self.env_params)
        space = base_env.observation_space(self.env_params)
        self.obs_shape = space.shape
        self.num_states = 0
        if self.obs_shape == () and jnp.issubdtype(space.dtype, jnp.integer):
            self.num_states = int(space.high) + 1  # a state index: tables
        self.network = self._make_network(config.resolved_torso())
        self.num_steps = config.num_steps
        self.num_updates = config.num_updates
        self.steps_per_update = config.num_envs * config.num_steps
        self.updates_per_learn = 1

    def _critic_size(self) -> int:
        raise NotImplementedError

    def _make_network(self, torso: str) -> GridAgentNetwork:
        return GridAgentNetwork(
            num_actions=self.action.num_actions,
            critic_size=self._critic_size(),
            torso=torso,
            hidden_sizes=tuple(self.config.hidden_sizes),
            activation=self.config.activation,
            obs_ndim=len(self.obs_shape),
            num_states=self.num_states,
        )

    def heads(self, params: Any, obs: jax.Array) -> tuple[distrax.Categorical, jax.Array]:
        """The policy and the critic head's output `[..., critic_size]` at `obs`."""
        logits, critic = self.network.apply(params, obs)
        return distrax.Categorical(logits=logits), critic

    def act_greedy(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        return self.heads(params, obs)[0].mode(), None

    def _optimizer(self, hp: Any) -> optax.GradientTransformation:
        """Clipping (per group with `grad_clip` global_norm, per element with `element`),
        then SGD's or Adam's direction; the learning rates (one per group) are applied in
        `_step`. Adam's `eps_root` keeps its derivative finite where a table row's gradient is
        exactly zero (unvisited states), for meta-gradients."""
        direction = (
            optax.scale_by_adam(eps_root=1e-8)
            if self.config.optimizer == "adam"
            else optax.identity()
        )
        clip = (
            clip_groups(hp.max_grad_norm)
            if self.config.grad_clip == "global_norm"
            else optim.gradient_clip(hp.max_grad_norm, self.config.grad_clip)
        )
        return optax.chain(clip, direction)

    def _step(self, state: PPOState, grads: Any) -> PPOState:
        """One gradient step on `grads`: the critic head at `critic_learning_rate`, the rest
        at `learning_rate`; the update counter advances."""
        hp = state.hparams
        updates, opt_state = self._optimizer(hp).update(grads, state.opt_state, state.params)

        def descend(path, param, update):
            lr = hp.critic_learning_rate if _is_critic(path) else hp.learning_rate
            return param - lr * update

        params = jax.tree_util.tree_map_with_path(descend, state.params, updates)
        return state.replace(params=params, opt_state=opt_state, update_step=state.update_step + 1)


class A2C(GridAgent):
    """Advantage actor-critic (module doc) over `A2CConfig`. A trajectory is a
    `PPOTrajectory` (extras `(log_prob, value)`, and V(s'_t) for truncation), so PPO's GAE
    (`_steps`), `score_inputs` and `value_targets` apply as they are."""

    def _critic_size(self) -> int:
        return 1

    def value(self, params: Any, obs: jax.Array) -> jax.Array:
        """V(s) `[...]` at `obs [..., *obs_shape]`."""
        return self.heads(params, obs)[1][..., 0]

    def act(
        self, params: Any, obs: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Sampled actions `[num_envs]`; extras `(log_prob, value)`, both `[num_envs]`."""
        pi, critic = self.heads(params, obs)
        action = pi.sample(seed=key)
        return action, (pi.log_prob(action), critic[..., 0])

    def collect(self, state: PPOState, env: Any, env_params: Any) -> tuple[PPOState, PPOTrajectory]:
        """`num_steps` steps from `state.rollout` on `env`, and V(s'_t) `[T, N]`."""
        state, traj = collect(env, env_params, self.act, state.params, state, self.num_steps)
        return state, PPOTrajectory(traj, self.value(state.params, traj.next_obs))

    def loss(
        self, params: Any, batch: PPOBatch, hp: A2CHParams
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
        """`-mean(A log pi(a|s)) + vf_coef mean((V(s) - target)^2) - ent_coef mean H(pi)` over
        a batch of any shape (`PPOBatch` leaves `[T, N, ...]`), with the advantages A
        standardised over the batch if the config says so; aux `(policy_loss, value_loss,
        entropy)`."""
        pi, critic = self.heads(params, batch.obs)
        advantage = batch.advantage
        if self.config.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -jnp.mean(advantage * pi.log_prob(batch.action))
        value_loss = jnp.mean(jnp.square(critic[..., 0] - batch.target))
        entropy = pi.entropy().mean()
        total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
        return total, (policy_loss, value_loss, entropy)

    def learn(self, state: PPOState, traj: PPOTrajectory) -> tuple[PPOState, A2CMetrics]:
        """GAE over the rollout (bootstrapping from V(s'_t) on truncation only), then one
        gradient step on `loss`."""
        batch = self._steps(state.hparams, traj.steps, traj.next_value)
        grads, aux = jax.grad(self.loss, has_aux=True)(state.params, batch, state.hparams)
        metrics = A2CMetrics(rollout.mean_episode_return(traj.steps), *aux)
        return self._step(state, grads), metrics


class LPGAgent(GridAgent):
    """The agent an LPG rule trains (module doc) over `LPGAgentConfig`; the rule's parameters
    are `state.hparams.rule_params`."""

    def _critic_size(self) -> int:
        return self.config.rule.prediction_size

    def act(self, params: Any, obs: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
        """Sampled actions `[num_envs]`; no extras (learning recomputes what the rule reads)."""
        return self.heads(params, obs)[0].sample(seed=key), None

    def collect(self, state: PPOState, env: Any, env_params: Any) -> tuple[PPOState, LPGTrajectory]:
        """`num_steps` steps from `state.rollout` on `env`."""
        state, traj = collect(env, env_params, self.act, state.params, state, self.num_steps)
        return state, LPGTrajectory(traj)

    def score_inputs(self, state: PPOState, traj: LPGTrajectory) -> ScoreInputs:
        """Rewards and episode ends `[T, N]`; no value or advantage (the agent has no
        critic), so only critic-free level scores apply."""
        steps = traj.steps
        return ScoreInputs(steps.reward, steps.terminated | steps.truncated, None, None)

    def value_targets(self, state: PPOState, traj: LPGTrajectory) -> jax.Array:
        raise TypeError(
            "LPGAgent has no value function: its prediction y is trained towards the rule's "
            "y_hat, not a return. Use A2C for value targets."
        )

    def rule_inputs(
        self, params: Any, steps: rollout.Transition, hp: LPGHParams, update_step: jax.Array
    ) -> RuleInputs:
        """What the rule reads of a rollout `[T, N]`, from the agent's parameters `params`
        (differentiably: a meta-gradient through earlier updates flows through them)."""
        pi, critic = self.heads(params, steps.obs)
        _, next_critic = self.heads(params, steps.next_obs)
        lifetime = (None, None)
        if self.config.rule.temporally_aware:
            max_lifetime = self.config.rule.max_lifetime
            lifetime = lifetime_features(update_step, hp.lifetime, max_lifetime)
        return RuleInputs(
            reward=steps.reward * hp.reward_scale,
            terminated=steps.terminated,
            episode_end=steps.terminated | steps.truncated,
            discount=jnp.full(steps.reward.shape, hp.gamma, jnp.float32),
            pi_taken=jnp.exp(pi.log_prob(steps.action)),
            y=jax.nn.softmax(critic, axis=-1),
            next_y=jax.nn.softmax(next_critic, axis=-1),
            progress=lifetime[0],
            log_lifetime=lifetime[1],
        )

    def targets(self, state: PPOState, traj: LPGTrajectory) -> tuple[jax.Array, jax.Array]:
        """The rule's `(pi_hat [T, N], y_hat [T, N, m])` for `traj` under the current agent."""
        hp = state.hparams
        inputs = self.rule_inputs(state.params, traj.steps, hp, state.update_step)
        return apply_rule(hp.rule_params, inputs)

    def loss(
        self,
        params: Any,
        obs: jax.Array,
        action: jax.Array,
        pi_hat: jax.Array,
        y_hat: jax.Array,
        hp: LPGHParams,
    ) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        """Oh et al. (2020), Sec. 3's agent update, as a loss over steps of any batch shape `[...]`:
        `-mean(pi_hat * log pi(a|s)) + prediction_coef * mean(KL(y(s) || y_hat))`, with
        `KL(y || y_hat) = sum_i y_i (log y_i - log y_hat_i)`. aux: `(policy_loss,
        prediction_loss, entropy, prediction_entropy)`."""
        pi, critic = self.heads(params, obs)
        log_y = jax.nn.log_softmax(critic, axis=-1)
        log_y_hat = jnp.log(jnp.maximum(y_hat, 1e-30))
        policy_loss = -jnp.mean(pi_hat * pi.log_prob(action))
        kl = jnp.sum(jnp.exp(log_y) * (log_y - log_y_hat), axis=-1)
        prediction_loss = jnp.mean(kl)
        total = policy_loss + hp.prediction_coef * prediction_loss
        y_entropy = -jnp.sum(jnp.exp(log_y) * log_y, axis=-1).mean()
        return total, (policy_loss, prediction_loss, pi.entropy().mean(), y_entropy)

    def learn(self, state: PPOState, traj: LPGTrajectory) -> tuple[PPOState, LPGMetrics]:
        """The rule's targets for the rollout, then one gradient step on `loss` with them held
        fixed (they are computed outside the agent's `jax.grad`, not stopped: an outer
        `jax.grad` with respect to `state.hparams.rule_params` passes through them). From
        update `hparams.lifetime` on, the parameters and optimiser state stay as they are."""
        pi_hat, y_hat = self.targets(state, traj)
        steps = traj.steps
        grads, aux = jax.grad(self.loss, has_aux=True)(
            state.params, steps.obs, steps.action, pi_hat, y_hat, state.hparams
        )
        metrics = LPGMetrics(
            rollout.mean_episode_return(steps),
            *aux,
            pi_hat_square=jnp.mean(jnp.square(pi_hat)),
            y_hat_square=jnp.mean(jnp.sum(jnp.square(y_hat), axis=-1)),
        )
        stepped = self._step(state, grads)
        alive = state.update_step < state.hparams.lifetime  # past its lifetime: frozen
        frozen = stepped.replace(params=state.params, opt_state=state.opt_state)
        return jax.tree.map(lambda a, b: jnp.where(alive, a, b), stepped, frozen), metrics


register_learner(A2CConfig, A2C)
register_learner(LPGAgentConfig, LPGAgent)

__all__ = [
    "A2C",
    "A2CConfig",
    "A2CHParams",
    "A2CMetrics",
    "GridAgent",
    "GridAgentNetwork",
    "GridAgentSettings",
    "LPGAgent",
    "LPGAgentConfig",
    "LPGHParams",
    "LPGMetrics",
    "LPGTrajectory",
    "clip_groups",
]
