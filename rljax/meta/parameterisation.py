"""What an outer loop optimises: a pytree placed into a learner's traced hyperparameters
before each inner run.

A meta-parameterisation is a small static object with

    drift                                    the learner config's `drift` its tasks must use
    init(config) -> solution                 the pytree the outer loop starts from (its mean)
    apply(hparams, solution) -> hparams      the run's traced coefficients with it placed in

`config` is any learner config with `.hparams()` (a `PPOConfig`, a `RecurrentPPOConfig`, ...)
and `hparams` that learner's traced coefficients; the outer loops (`rljax.meta.es`,
`rljax.meta.outer_loop`) only call these three members, so they work for any learner whose
hyperparameters the parameterisation knows how to fill.

evosax flattens the solution pytree into one vector and unflattens each population member
back into it, so any pytree of float leaves works. `apply` is traced inside the vmapped
training program: changing the solution never recompiles. Two are built in:

- `ClipEpsilon`: PPO's clip epsilon alone, evolved as log(epsilon) so a step is relative and
  epsilon stays positive (the "does the outer loop learn" check: start at 0.005).
- `LPONetwork`: the LPO / TA-LPO drift network's weights (Lu et al. 2022, "Discovered Policy
  Optimisation", section "Learnt Policy Optimisation"): meta-training starts at PPO, with a
  zero output layer over a random hidden layer rather than the paper's all-zero weights (see
  `LPONetwork` for why); the clip epsilon and offset inside `LPOParams` stay fixed.

- `LPGRule`: the whole update rule of an LPG agent (`rljax.agents.lpg.LPGHParams.rule_params`,
  Oh et al. 2020), for the meta-gradient loop (`rljax.meta.meta_gradient`) and for ES
  (TA-LPG, Jackson et al. 2024).

Another leaf of `PPOHParams` (an entropy coefficient, a learning rate) is a third class with
the same three members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct

from rljax.config import ConfigError
from rljax.objectives.lpo import LPOParams

if TYPE_CHECKING:  # the built-in parameterisations fill PPO's (and RecurrentPPO's) hparams
    from rljax.agents.ppo import PPOConfig, PPOHParams


class MetaParameterisation(Protocol):
    drift: str

    def init(self, config: Any) -> Any: ...

    def apply(self, hparams: Any, solution: Any) -> Any: ...


def check_task(meta: MetaParameterisation, config: Any, index: int) -> None:
    """A task (a learner config) must train with the drift whose meta-parameters `meta`
    evolves."""
    drift = getattr(config, "drift", None)
    if drift != meta.drift:
        raise ConfigError(
            f"task {index} ({getattr(config, 'env', '?')}) has drift={drift!r}, but "
            f"{type(meta).__name__} evolves the meta-parameters of drift={meta.drift!r}. "
            f"Fix: build the task with {type(config).__name__}(..., drift={meta.drift!r})."
        )


def drift_params(meta: MetaParameterisation, config: Any, solution: Any) -> Any:
    """The drift's full meta-parameters for `solution` (what a meta-parameter file holds)."""
    return meta.apply(config.hparams(), solution).drift_params


@dataclass(frozen=True)
class ClipEpsilon:
    """PPO's clip epsilon, evolved as `log epsilon` (a scalar solution `[]`)."""

    init_eps: float = 0.005
    drift: str = "ppo_clip"

    def __post_init__(self) -> None:
        if not self.init_eps > 0:
            raise ConfigError(
                f"ClipEpsilon.init_eps={self.init_eps!r} must be > 0 (it is evolved as its "
                "log). Fix: pass a positive epsilon, e.g. 0.005."
            )

    def init(self, config: PPOConfig) -> jax.Array:
        del config
        return jnp.log(jnp.float32(self.init_eps))

    def apply(self, hparams: PPOHParams, solution: jax.Array) -> PPOHParams:
        return hparams.replace(drift_params=jnp.exp(solution))


@struct.dataclass
class LPOWeights:
    """The evolved part of `LPOParams`: `w_hidden [num_inputs, hidden]`, `w_out [hidden]`."""

    w_hidden: jax.Array
    w_out: jax.Array


@dataclass(frozen=True)
class LPONetwork:
    """The LPO (`drift="lpo"`) or TA-LPO (`drift="talpo"`) network weights.

    The default start is PPO exactly, but not at zero weights: `w_out` is zero (so
    `net(x) = tanh(x W) . 0 = 0` and the drift is PPO's clip drift bitwise) while `w_hidden`
    is drawn from `hidden_scale * N(0, 1)` with `init_seed`. The paper (Lu et al. 2022,
    section "Learnt Policy Optimisation") starts ES from all-zero weights, but with an odd
    activation and no biases `net` is even in the weights, `net(-theta) = net(theta)`: at zero
    every antithetic pair `+-sigma z` is the same drift, so the pair's fitness difference is
    only float noise, and zero is a stationary point of the smoothed objective
    `E f(mean + sigma z)`. With a random hidden layer the output layer enters linearly and
    the first ES step has a real gradient: from it, 15 generations of 16 x 2 runs beat PPO on
    held-out CartPole seeds (tests/test_meta.py, slow), where the all-zero start had lowered
    the held-out return (73.8 -> 51.4 at sigma 0.1). The output weights then act linearly on
    the drift's slope, so sigma must be small (~0.005: at 0.03 every member trains far worse
    than PPO). `hidden_scale=0` with `out_scale=0` is the paper's all-zero start;
    `out_scale > 0` starts off PPO.
    """

    drift: str = "lpo"
    hidden_scale: float = 1.0
    """Std of the initial hidden-layer weights `[num_inputs, hidden]` (0: zeros)."""
    out_scale: float = 0.0
    """Std of the initial output weights `[hidden]` (0: zeros, i.e. start at PPO)."""
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.drift not in ("lpo", "talpo"):
            raise ConfigError(
                f"LPONetwork.drift={self.drift!r} is not a learned drift. Fix: use 'lpo' or "
                "'talpo'."
            )
        for name in ("hidden_scale", "out_scale"):
            if not getattr(self, name) >= 0:
                raise ConfigError(
                    f"LPONetwork.{name}={getattr(self, name)!r} must be >= 0 (a std). "
                    "Fix: pass 0 for zeros or a positive scale, e.g. 1.0."
                )

    def init(self, config: PPOConfig) -> LPOWeights:
        params: LPOParams = config.hparams().drift_params
        keys = jax.random.split(jax.random.PRNGKey(self.init_seed))

        def draw(key: jax.Array, like: jax.Array, scale: float) -> jax.Array:
            if scale == 0.0:  # exact zeros (not -0.0 from 0 * negative draws)
                return jnp.zeros_like(like)
            return jnp.float32(scale) * jax.random.normal(key, like.shape, jnp.float32)

        return LPOWeights(
            w_hidden=draw(keys[0], params.w_hidden, self.hidden_scale),
            w_out=draw(keys[1], params.w_out, self.out_scale),
        )

    def apply(self, hparams: PPOHParams, solution: LPOWeights) -> PPOHParams:
        params = hparams.drift_params.replace(w_hidden=solution.w_hidden, w_out=solution.w_out)
        return hparams.replace(drift_params=params)


@dataclass(frozen=True)
class LPGRule:
    """An LPG rule network's parameters (`LPGRuleParams`), placed as the LPG agent's
    `rule_params`. The start is the config's random rule (`LPGAgentConfig.rule_seed`,
    `init_rule`'s initialisation); the agent config has no drift."""

    drift: str | None = None

    def init(self, config: Any) -> Any:
        return config.hparams().rule_params

    def apply(self, hparams: Any, solution: Any) -> Any:
        return hparams.replace(rule_params=solution)
