"""The learner interface: what a loop (a curriculum, PAIRED, an outer loop) needs of an agent.

A learner is an agent that a loop can drive on an env batch the loop hands it. The agent's
own training step is written with the same methods, so nothing here exists for one loop:

    update(state) = learn(*collect(state, agent.env, agent.env_params))

The methods, all pure functions over typed pytrees (`TrainState` from
`rljax.agents.common`):

    init_learner(key, hparams, obs_shape=None) -> TrainState
        fresh parameters and optimiser state; `rollout` is None (no env batch yet).
    vectorise(env, num_envs) -> env
        the learner's view of a batch of `num_envs` copies of `env` (its wrappers, e.g.
        episode statistics, observation normalisation).
    start(state, env_batch, env_params, key, reset=None) -> TrainState
        the state with a fresh rollout on `env_batch`: reset by `env_batch.reset` or by
        `reset(key) -> (obs, env_state)` (a loop resetting onto its own tasks); what the
        learner carries across resets (observation statistics) is kept.
    collect(state, env_batch, env_params) -> (TrainState, trajectory)
        `num_steps` steps from `state.rollout`; the trajectory is the learner's own type.
    transitions(trajectory) -> rljax.rollout.Transition      # leaves [num_steps, num_envs]
    score_inputs(state, trajectory) -> ScoreInputs
        what level scores are computed from (`rljax.curricula.scores`).
    learn(state, trajectory) -> (TrainState, metrics)
    skip(state, trajectory, like=None) -> (TrainState, metrics)
        the same outputs as `learn` without a gradient step (zeros for the losses), so a
        loop can `lax.cond` between them; `like`, where given, is `learn`'s output shapes
        (read off its trace by `run_batch.cond_if_any(..., cheap_gets_shapes=True)`).
    policy(greedy) -> rljax.rollout.RecurrentPolicy, and initial_carry(n)
        the acting policy in the recurrent signature, for evaluation on the loop's tasks.
    updates_per_learn: int
        gradient steps one `learn` takes (for counting gradient updates apart from env steps).

`PPO` and `RecurrentPPO` (any drift, learned drifts included) implement it. Each registers
its config type (`register_learner`), so every loop builds a learner from its config with
`make_learner(config)`.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax

from rljax import rollout
from rljax.config import ConfigError


class ScoreInputs(NamedTuple):
    """Per-step quantities of one rollout, `[num_steps, num_envs]`, for level scores.

    `value` and `advantage` are the learner's estimates (GAE for PPO); a learner without a
    critic leaves them None, and only scores that need no critic (e.g. learnability from
    returns) apply to it.
    """

    reward: jax.Array
    done: jax.Array
    value: jax.Array | None
    advantage: jax.Array | None
    success: jax.Array | None = None
    """`[T, N]` bool: True at a step that ends an episode which solved its task (the task
    space's `success` of the episode's return); filled in by the curriculum loop."""


class Learner(Protocol):
    num_steps: int
    updates_per_learn: int

    def init_learner(
        self, key: jax.Array, hparams: Any, obs_shape: tuple[int, ...] | None = None
    ) -> Any: ...

    def vectorise(self, env: Any, num_envs: int) -> Any: ...

    def start(self, state: Any, env: Any, env_params: Any, key: jax.Array, reset=None) -> Any: ...

    def collect(self, state: Any, env: Any, env_params: Any) -> tuple[Any, Any]: ...

    def transitions(self, trajectory: Any) -> rollout.Transition: ...

    def score_inputs(self, state: Any, trajectory: Any) -> ScoreInputs: ...

    def learn(self, state: Any, trajectory: Any) -> tuple[Any, Any]: ...

    def skip(self, state: Any, trajectory: Any, like: Any = None) -> tuple[Any, Any]: ...

    def policy(self, greedy: bool) -> rollout.RecurrentPolicy: ...

    def initial_carry(self, num_envs: int) -> Any: ...


LEARNERS: dict[type, type] = {}
"""Learner classes by config type (`register_learner`); `make_learner` matches a config by
its class, then by its base classes (a subclass of `PPOConfig` without its own entry gets
`PPO`)."""


def register_learner(config_type: type, learner_type: type) -> None:
    """Make `make_learner(config_type(...))` return `learner_type(config)`."""
    LEARNERS[config_type] = learner_type


def make_learner(config: Any) -> Any:
    """The learner for a learner config (`PPOConfig` -> `PPO`, `RecurrentPPOConfig` ->
    `RecurrentPPO`, ...)."""
    import rljax.agents  # noqa: F401  (the built-in learners register on import)

    for config_type in type(config).__mro__:
        if config_type in LEARNERS:
            return LEARNERS[config_type](config)
    raise ConfigError(
        f"{type(config).__name__} is not a learner config. Fix: pass one of "
        f"{', '.join(t.__name__ for t in LEARNERS)} (CLI: learner:...), or register yours "
        "with rljax.learner.register_learner."
    )


__all__ = ["LEARNERS", "Learner", "ScoreInputs", "make_learner", "register_learner"]
