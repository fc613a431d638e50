"""Curricula over levels (unsupervised environment design): a typed level buffer, level
scores as pure functions of trajectories, and DR / PLR / robust PLR / ACCEL / PAIRED behind one
`init / propose / observe` interface. See `curriculum.py` for how a learner drives them."""

from rljax.curricula import level_buffer, scores
from rljax.curricula.curriculum import (
    BUFFERED,
    METHODS,
    MUTATE,
    NEW,
    REPLAY,
    CState,
    Curriculum,
    CurriculumConfig,
    CurriculumCounters,
    CurriculumHParams,
    ProposeInfo,
)
from rljax.curricula.level_buffer import LevelBuffer
from rljax.curricula.scores import EpisodeReturns, LevelScore

__all__ = [
    "BUFFERED",
    "METHODS",
    "MUTATE",
    "NEW",
    "REPLAY",
    "CState",
    "Curriculum",
    "CurriculumConfig",
    "CurriculumCounters",
    "CurriculumHParams",
    "EpisodeReturns",
    "LevelBuffer",
    "LevelScore",
    "ProposeInfo",
    "level_buffer",
    "scores",
]
