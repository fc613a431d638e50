"""rljax: pure-functional JAX reinforcement learning.

A training run is a pure function `train(algo, key, hparams) -> (state, metrics)` that compiles
to one XLA program; `jax.vmap` over keys or hparams turns it into a seed study or a sweep.

Importing rljax makes XLA:CPU lower `jax.random`'s threefry unrolled, as JAX does on GPU (the
same random bits, less compile time; `rljax.cpu_random`, opt out with
`RLJAX_ROLLED_THREEFRY=1`).
"""

from rljax import cpu_random  # first: installs the CPU rule before anything is lowered
from rljax.agents import (
    A2C,
    DQN,
    PPO,
    PQN,
    SAC,
    A2CConfig,
    DQNConfig,
    LPGAgent,
    LPGAgentConfig,
    OffMDPO,
    OffMDPOConfig,
    PPOConfig,
    PPOHParams,
    PPOState,
    PQNConfig,
    RecurrentPPO,
    RecurrentPPOConfig,
    SACConfig,
    TrainState,
)
from rljax.config import ConfigError
from rljax.environment import make, register, registered_names
from rljax.training import RunResult, run, seed_keys, stack_hparams, train

__version__ = "0.1.0"

__all__ = [
    "A2C",
    "DQN",
    "PPO",
    "PQN",
    "SAC",
    "A2CConfig",
    "ConfigError",
    "DQNConfig",
    "LPGAgent",
    "LPGAgentConfig",
    "OffMDPO",
    "OffMDPOConfig",
    "PPOConfig",
    "PPOHParams",
    "PPOState",
    "PQNConfig",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "RunResult",
    "SACConfig",
    "TrainState",
    "cpu_random",
    "make",
    "register",
    "registered_names",
    "run",
    "seed_keys",
    "stack_hparams",
    "train",
]
