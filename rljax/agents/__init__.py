"""Algorithms: each file holds only what is unique to its algorithm; `common.py` the rest."""

from rljax.agents.common import TrainState
from rljax.agents.dqn import DQN, DQNConfig, DQNHParams, DQNMetrics, DQNState
from rljax.agents.lpg import A2C, A2CConfig, LPGAgent, LPGAgentConfig
from rljax.agents.mdpo_off import OffMDPO, OffMDPOConfig
from rljax.agents.ppo import PPO, PPOConfig, PPOHParams, PPOMetrics, PPOState
from rljax.agents.pqn import PQN, PQNConfig, PQNHParams, PQNMetrics, PQNState
from rljax.agents.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig
from rljax.agents.sac import SAC, SACConfig, SACHParams, SACMetrics, SACState

__all__ = [
    "A2C",
    "DQN",
    "PPO",
    "PQN",
    "SAC",
    "A2CConfig",
    "DQNConfig",
    "DQNHParams",
    "DQNMetrics",
    "DQNState",
    "LPGAgent",
    "LPGAgentConfig",
    "OffMDPO",
    "OffMDPOConfig",
    "PPOConfig",
    "PPOHParams",
    "PPOMetrics",
    "PPOState",
    "PQNConfig",
    "PQNHParams",
    "PQNMetrics",
    "PQNState",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "SACConfig",
    "SACHParams",
    "SACMetrics",
    "SACState",
    "TrainState",
]
