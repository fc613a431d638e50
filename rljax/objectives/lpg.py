"""The Learned Policy Gradient rule network (Oh et al. 2020, "Discovering Reinforcement
Learning Algorithms", NeurIPS, Sec. 3 and Fig. 2), and its temporally-aware variant TA-LPG
(Jackson et al. 2024, "Discovering Temporally-Aware Reinforcement Learning Algorithms",
ICLR, Sec. 4).

LPG replaces an agent's hand-designed update by a network over the agent's own trajectory.
At every step t of a trajectory `[T, N]` (T steps of N envs) it reads

    x_t = [ r_t, d_t, gamma, pi(a_t|s_t), phi(y(s_t)), phi(y(s_{t+1})) ]      (Sec. 3, Fig. 2)

where `d_t` is 1 if step t terminated the episode, `y(s)` is the agent's categorical
prediction vector (width m) and `phi` a small MLP shared by both prediction inputs (m -> 16
relu -> 1, as the public reference has it); `phi(y(s_{t+1}))` is zeroed after a terminal
step, where no next state follows. A *backward* recurrent network runs over x in reverse
time, so its output at t summarises steps t, t+1, ... of the same episode: its carry is reset
wherever step t ended an episode (`terminated | truncated`: the next step of the rollout
belongs to another episode). From each step's hidden state (through a relu) two heads give

    pi_hat_t   a scalar: the policy target, in place of an advantage
    y_hat_t    a softmax of width m: the target for the agent's prediction y(s_t)

and the agent moves its policy along `pi_hat_t * grad log pi(a_t|s_t)` and its prediction
towards `y_hat_t` by KL (see `rljax.agents.lpg`). A truncated step (time limit) is not a
termination: `d_t = 0` and `phi(y(s_{t+1}))` is kept (y of the pre-reset final observation),
so the rule sees it as it sees the last step of a rollout.

Departures from the paper, each deliberate:

* The recurrent core is a GRU (Cho et al. 2014), as the public JAX reference
  (EmptyJackson/groove) uses; the paper uses an LSTM. Width 256 as in both.
* TA-LPG (static flag `temporally_aware`) adds two inputs, the training progress n/N and the
  log lifetime, both *normalised*: n/N in [0, 1] and `log N / log max_lifetime` (in [0, 1]
  for lifetimes up to `max_lifetime` updates). The reference passes the raw counts n and N,
  whose scale grows with the lifetime (`lifetime_features`).
* The discount gamma is an input, as in the paper; the reference omits it.

The rule's parameters are an ordinary pytree (`LPGRuleParams`) of traced arrays: nothing in
the network's structure is read from them except shapes, so `jax.vmap` over a population of
rules (evolution strategies) or `jax.grad` through them (meta-gradients) compiles once. No
linear algebra beyond matmuls: the recurrent kernel's orthogonal init is the project's
LAPACK-free Gram-Schmidt (`rljax.networks.orthogonal`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from rljax import config as cfg
from rljax.networks import orthogonal

NUM_BASE_INPUTS = 6
"""reward, done, discount, pi(a|s), phi(y(s_t)), phi(y(s_{t+1}))."""
NUM_LIFETIME_INPUTS = 2
"""TA-LPG's n/N and normalised log N."""


@dataclass(frozen=True)
class LPGRuleConfig:
    """The static structure of an LPG rule network (its sizes and inputs)."""

    prediction_size: int = 8
    """m, the width of the agent's categorical prediction y and of the target y_hat (the
    reference's 8; the paper reports widths up to about 30)."""
    embedding_size: int = 16
    """Hidden units of phi, the MLP that embeds a prediction vector into one scalar."""
    hidden_size: int = 256
    """Units of the backward GRU."""
    temporally_aware: bool = False
    """TA-LPG: also read n/N and the normalised log lifetime (`lifetime_features`)."""
    max_lifetime: int = 10_000
    """Updates at which the normalised log lifetime `log N / log max_lifetime` reaches 1."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_positive(self, "prediction_size", "embedding_size", "hidden_size")
        if self.prediction_size < 2:
            cfg.fail(
                self,
                "prediction_size",
                "must be at least 2 (y is a categorical distribution)",
                "pass e.g. 8",
            )
        if self.max_lifetime < 2:
            cfg.fail(
                self,
                "max_lifetime",
                "must be at least 2 (log N is divided by log max_lifetime)",
                "pass the longest lifetime in updates, e.g. 10000",
            )

    @property
    def num_inputs(self) -> int:
        return NUM_BASE_INPUTS + (NUM_LIFETIME_INPUTS if self.temporally_aware else 0)


@struct.dataclass
class EmbeddingParams:
    """phi: `[m] -> [1]`, relu hidden layer: `w_hidden [m, E]`, `b_hidden [E]`,
    `w_out [E]`, `b_out []`."""

    w_hidden: jax.Array
    b_hidden: jax.Array
    w_out: jax.Array
    b_out: jax.Array


@struct.dataclass
class GRUParams:
    """A GRU over inputs of width D with H units; gates stacked [reset, update, candidate]
    along the last axis: `w_input [D, 3H]`, `w_hidden [H, 3H]`, `b_input [3H]`,
    `b_hidden [3H]`."""

    w_input: jax.Array
    w_hidden: jax.Array
    b_input: jax.Array
    b_hidden: jax.Array


@struct.dataclass
class LPGRuleParams:
    """The meta-parameters of an LPG rule (all traced; under `vmap` every leaf gains a
    leading population axis): phi, the backward GRU, and the heads `w_pi [H]`, `b_pi []`
    (pi_hat) and `w_y [H, m]`, `b_y [m]` (y_hat's logits)."""

    embedding: EmbeddingParams
    gru: GRUParams
    w_pi: jax.Array
    b_pi: jax.Array
    w_y: jax.Array
    b_y: jax.Array


class RuleInputs(NamedTuple):
    """What the rule reads of one trajectory of T steps in N envs (time first).

    reward        float `[T, N]`: r_t
    terminated    bool `[T, N]`: step t terminated its episode (d_t; truncation is not)
    episode_end   bool `[T, N]`: step t ended its episode (`terminated | truncated`): the
                  backward carry is reset there
    discount      float `[T, N]`: gamma at every step (the paper's discount input)
    pi_taken      float `[T, N]`: pi(a_t|s_t), the probability of the action taken
    y             float `[T, N, m]`: the agent's prediction y(s_t), a distribution
    next_y        float `[T, N, m]`: y(s_{t+1}) of the pre-reset next observation
    progress      float `[]` or None: n/N in [0, 1] (TA-LPG only; see `lifetime_features`)
    log_lifetime  float `[]` or None: log N / log max_lifetime (TA-LPG only)
    """

    reward: jax.Array
    terminated: jax.Array
    episode_end: jax.Array
    discount: jax.Array
    pi_taken: jax.Array
    y: jax.Array
    next_y: jax.Array
    progress: jax.Array | None = None
    log_lifetime: jax.Array | None = None


def lifetime_features(
    update_step: jax.Array, num_updates: int | jax.Array, max_lifetime: int
) -> tuple[jax.Array, jax.Array]:
    """TA-LPG's inputs (Jackson et al. 2024, Sec. 4), normalised: `(n / N, log N / log
    max_lifetime)`, float32 scalars. n/N lies in [0, 1] over a lifetime of N updates; the
    log lifetime in [0, 1] for 1 <= N <= max_lifetime. (The reference passes n and N raw.)"""
    n = jnp.asarray(update_step, jnp.float32)
    lifetime = jnp.maximum(jnp.asarray(num_updates, jnp.float32), 1.0)
    return n / lifetime, jnp.log(lifetime) / math.log(max_lifetime)


def _normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    """LeCun-normal weights: N(0, 1 / fan_in)."""
    return jax.random.normal(key, shape, jnp.float32) / math.sqrt(fan_in)


def init_rule(key: jax.Array, config: LPGRuleConfig) -> LPGRuleParams:
    """Random rule parameters for `config`: LeCun-normal input and head weights, a
    LAPACK-free orthogonal recurrent kernel, zero biases. Pure in `key`, so a population is
    `jax.vmap(init_rule, in_axes=(0, None))(keys, config)`."""
    m, e, h = config.prediction_size, config.embedding_size, config.hidden_size
    d = config.num_inputs
    keys = jax.random.split(key, 6)
    zeros = lambda *shape: jnp.zeros(shape, jnp.float32)
    return LPGRuleParams(
        embedding=EmbeddingParams(
            w_hidden=_normal(keys[0], (m, e), m),
            b_hidden=zeros(e),
            w_out=_normal(keys[1], (e,), e),
            b_out=zeros(),
        ),
        gru=GRUParams(
            w_input=_normal(keys[2], (d, 3 * h), d),
            w_hidden=orthogonal()(keys[3], (h, 3 * h)),
            b_input=zeros(3 * h),
            b_hidden=zeros(3 * h),
        ),
        w_pi=_normal(keys[4], (h,), h),
        b_pi=zeros(),
        w_y=_normal(keys[5], (h, m), h),
        b_y=zeros(m),
    )


def embed_prediction(params: EmbeddingParams, y: jax.Array) -> jax.Array:
    """phi(y): `[..., m] -> [...]`, one scalar per prediction vector."""
    hidden = jax.nn.relu(y @ params.w_hidden + params.b_hidden)
    return hidden @ params.w_out + params.b_out


def gru_cell(params: GRUParams, hidden: jax.Array, x: jax.Array) -> jax.Array:
    """One GRU step (Cho et al. 2014): `hidden [N, H]`, `x [N, D]` -> the new hidden `[N, H]`.

    r = sigmoid(x W_r + h U_r + b_r)         reset gate
    z = sigmoid(x W_z + h U_z + b_z)         update gate
    n = tanh(x W_n + b_n + r * (h U_n + b'_n))
    h' = (1 - z) * n + z * h
    """
    gx = x @ params.w_input + params.b_input
    gh = hidden @ params.w_hidden + params.b_hidden
    xr, xz, xn = jnp.split(gx, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    reset = jax.nn.sigmoid(xr + hr)
    update = jax.nn.sigmoid(xz + hz)
    candidate = jnp.tanh(xn + reset * hn)
    return (1.0 - update) * candidate + update * hidden


def rule_features(params: LPGRuleParams, inputs: RuleInputs) -> jax.Array:
    """The per-step input vector x_t, `[T, N, num_inputs]` (module docstring)."""
    not_terminal = 1.0 - inputs.terminated.astype(jnp.float32)
    columns = [
        inputs.reward.astype(jnp.float32),
        inputs.terminated.astype(jnp.float32),
        jnp.broadcast_to(inputs.discount, inputs.reward.shape).astype(jnp.float32),
        inputs.pi_taken.astype(jnp.float32),
        embed_prediction(params.embedding, inputs.y),
        embed_prediction(params.embedding, inputs.next_y) * not_terminal,
    ]
    num_inputs = params.gru.w_input.shape[0]
    lifetime_given = inputs.progress is not None and inputs.log_lifetime is not None
    if num_inputs == NUM_BASE_INPUTS + NUM_LIFETIME_INPUTS:
        if not lifetime_given:
            raise ValueError(
                "These rule params are TA-LPG's (their GRU reads 8 inputs), but the RuleInputs "
                "have no progress / log_lifetime. Fix: pass lifetime_features(n, N, "
                "max_lifetime) as RuleInputs(progress=..., log_lifetime=...)."
            )
        ones = jnp.ones_like(columns[0])
        columns += [inputs.progress * ones, inputs.log_lifetime * ones]
    elif num_inputs != NUM_BASE_INPUTS or lifetime_given:
        raise ValueError(
            f"The rule params' GRU reads {num_inputs} inputs; RuleInputs "
            f"{'with' if lifetime_given else 'without'} lifetime features make "
            f"{NUM_BASE_INPUTS + (NUM_LIFETIME_INPUTS if lifetime_given else 0)}. Fix: "
            "init the rule with LPGRuleConfig(temporally_aware=...) matching the inputs."
        )
    return jnp.stack(columns, axis=-1)


def backward_hidden(params: LPGRuleParams, inputs: RuleInputs) -> jax.Array:
    """The backward GRU's hidden state at every step, `[T, N, H]`, run from t = T-1 down to
    0 from a zero carry; where step t ended an episode, the carry arriving from t+1 (the
    next episode) is dropped before step t is read."""
    features = rule_features(params, inputs)
    num_envs, hidden_size = inputs.reward.shape[1], params.gru.w_hidden.shape[0]

    def step(carry, xs):
        x, ended = xs
        carry = jnp.where(ended[:, None], jnp.zeros_like(carry), carry)
        carry = gru_cell(params.gru, carry, x)
        return carry, carry

    carry = jnp.zeros((num_envs, hidden_size), features.dtype)
    _, hidden = jax.lax.scan(step, carry, (features, inputs.episode_end), reverse=True)
    return hidden


def apply_rule(params: LPGRuleParams, inputs: RuleInputs) -> tuple[jax.Array, jax.Array]:
    """The LPG rule on one trajectory (Oh et al. 2020, Sec. 3, Fig. 2).

    Returns `pi_hat [T, N]` (the policy target) and `y_hat [T, N, m]` (the prediction
    target, a softmax over m). The output at step t depends only on steps t, t+1, ... up to
    the end of t's episode (or of the trajectory). Differentiable in `params`; the inputs'
    static structure (TA-LPG's or not) must match the params' (checked at trace time).
    """
    hidden = jax.nn.relu(backward_hidden(params, inputs))
    pi_hat = hidden @ params.w_pi + params.b_pi
    y_hat = jax.nn.softmax(hidden @ params.w_y + params.b_y, axis=-1)
    return pi_hat, y_hat


__all__ = [
    "EmbeddingParams",
    "GRUParams",
    "LPGRuleConfig",
    "LPGRuleParams",
    "RuleInputs",
    "apply_rule",
    "backward_hidden",
    "embed_prediction",
    "gru_cell",
    "init_rule",
    "lifetime_features",
    "rule_features",
]
