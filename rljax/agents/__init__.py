"""Algorithms: each file holds only what is unique to its algorithm; `common.py` the rest."""

from rljax.agents.common import TrainState
from rljax.agents.ppo import PPO, PPOConfig, PPOHParams, PPOMetrics, PPOState
from rljax.agents.pqn import PQN, PQNConfig, PQNHParams, PQNMetrics, PQNState

__all__ = [
    "PPO",
    "PQN",
    "PPOConfig",
    "PPOHParams",
    "PPOMetrics",
    "PPOState",
    "PQNConfig",
    "PQNHParams",
    "PQNMetrics",
    "PQNState",
    "TrainState",
]
