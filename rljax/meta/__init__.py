"""Outer loops over whole training runs: evolution strategies on evosax (`es.py`), over what a
meta-parameterisation places into PPO's traced hyperparameters (`parameterisation.py`)."""

from rljax.meta.es import (
    STRATEGIES,
    ESConfig,
    ESState,
    GenerationMetrics,
    MetaTrainer,
    TaskProgram,
    make_strategy,
)
from rljax.meta.parameterisation import (
    ClipEpsilon,
    LPONetwork,
    LPOWeights,
    MetaParameterisation,
    drift_params,
)

__all__ = [
    "STRATEGIES",
    "ClipEpsilon",
    "ESConfig",
    "ESState",
    "GenerationMetrics",
    "LPONetwork",
    "LPOWeights",
    "MetaParameterisation",
    "MetaTrainer",
    "TaskProgram",
    "drift_params",
    "make_strategy",
]
