"""Outer loops over whole training runs: the interface (`outer_loop.py`), evolution strategies
on evosax (`es.py`), meta-gradients through unrolled updates (`meta_gradient.py`, LPG's),
inner runs on tasks drawn as data (`inner.py`), and what a meta-parameterisation places into
a learner's traced hyperparameters (`parameterisation.py`)."""

from rljax.meta.es import (
    STRATEGIES,
    ESConfig,
    ESState,
    GenerationMetrics,
    MetaTrainer,
    TaskProgram,
    make_strategy,
)
from rljax.meta.inner import (
    SampledTaskProgram,
    TaskDistribution,
    evaluate_on_task,
    train_on_task,
)
from rljax.meta.level_sources import CURRICULA, LevelSourceConfig, make_level_source
from rljax.meta.meta_gradient import (
    MetaGradient,
    MetaGradientConfig,
    MetaGradientState,
    MetaStepMetrics,
)
from rljax.meta.outer_loop import OuterLoop, run_outer_loop
from rljax.meta.parameterisation import (
    ClipEpsilon,
    LPGRule,
    LPONetwork,
    LPOWeights,
    MetaParameterisation,
    drift_params,
)

__all__ = [
    "CURRICULA",
    "STRATEGIES",
    "ClipEpsilon",
    "ESConfig",
    "ESState",
    "GenerationMetrics",
    "LPGRule",
    "LPONetwork",
    "LPOWeights",
    "LevelSourceConfig",
    "MetaGradient",
    "MetaGradientConfig",
    "MetaGradientState",
    "MetaParameterisation",
    "MetaStepMetrics",
    "MetaTrainer",
    "OuterLoop",
    "SampledTaskProgram",
    "TaskDistribution",
    "TaskProgram",
    "drift_params",
    "evaluate_on_task",
    "make_level_source",
    "make_strategy",
    "run_outer_loop",
    "train_on_task",
]
