"""Algorithms: each file holds only what is unique to its algorithm."""

from rljax.agents.ppo import PPO, PPOConfig, PPOHParams, PPOMetrics, PPOState

__all__ = ["PPO", "PPOConfig", "PPOHParams", "PPOMetrics", "PPOState"]

from rljax.agents.pqn import PQN, PQNConfig, PQNHParams, PQNMetrics, PQNState

__all__ += ["PQN", "PQNConfig", "PQNHParams", "PQNMetrics", "PQNState"]
