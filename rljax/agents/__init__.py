"""Algorithms: each file holds only what is unique to its algorithm; `common.py` the rest."""

from rljax.agents.common import TrainState
from rljax.agents.dqn import DQN, DQNConfig, DQNHParams, DQNMetrics, DQNState
from rljax.agents.ppo import PPO, PPOConfig, PPOHParams, PPOMetrics, PPOState
from rljax.agents.pqn import PQN, PQNConfig, PQNHParams, PQNMetrics, PQNState

__all__ = [
    "DQN",
    "PPO",
    "PQN",
    "DQNConfig",
    "DQNHParams",
    "DQNMetrics",
    "DQNState",
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
