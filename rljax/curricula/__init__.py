"""Curricula over levels (unsupervised environment design): a typed level buffer, level
scores as pure functions of trajectories (registered by name in `SCORES`), and DR / PLR /
robust PLR / ACCEL / ALP-GMM / SFL / DRED behind one `init / propose / observe` interface, one file
per method, registered by name in `CURRICULA`. See `curriculum.py` for how a loop drives them."""

from rljax.curricula import (
    accel,
    alp_gmm,
    dr,
    dred,
    gmm,
    level_buffer,
    level_vae,
    plr,
    scores,
    sfl,
    source,
)
from rljax.curricula.accel import ACCEL, ACCELConfig, ACCELState
from rljax.curricula.alp_gmm import ALPGMM, ALPGMMConfig, ALPGMMState
from rljax.curricula.curriculum import (
    CURRICULA,
    MUTATE,
    NEW,
    REPLAY,
    Curriculum,
    CurriculumStats,
    ProposeInfo,
    curriculum_class,
    make_curriculum,
    register_curriculum,
)
from rljax.curricula.dr import DR, DRConfig, DRState
from rljax.curricula.dred import DRED, DREDConfig, DREDState
from rljax.curricula.level_buffer import LevelBuffer
from rljax.curricula.plr import (
    PLR,
    BufferedCurriculum,
    PLRConfig,
    PLRHParams,
    PLRState,
    RobustPLR,
    RobustPLRConfig,
)
from rljax.curricula.scores import SCORES, EpisodeReturns, LevelScore, register_score
from rljax.curricula.sfl import SFL, SFLConfig, SFLState

__all__ = [
    "ACCEL",
    "ALPGMM",
    "CURRICULA",
    "DR",
    "DRED",
    "MUTATE",
    "NEW",
    "PLR",
    "REPLAY",
    "SCORES",
    "SFL",
    "ACCELConfig",
    "ACCELState",
    "ALPGMMConfig",
    "ALPGMMState",
    "BufferedCurriculum",
    "Curriculum",
    "CurriculumStats",
    "DRConfig",
    "DREDConfig",
    "DREDState",
    "DRState",
    "EpisodeReturns",
    "LevelBuffer",
    "LevelScore",
    "PLRConfig",
    "PLRHParams",
    "PLRState",
    "ProposeInfo",
    "RobustPLR",
    "RobustPLRConfig",
    "SFLConfig",
    "SFLState",
    "accel",
    "alp_gmm",
    "curriculum_class",
    "dr",
    "dred",
    "gmm",
    "level_buffer",
    "level_vae",
    "make_curriculum",
    "plr",
    "register_curriculum",
    "register_score",
    "scores",
    "sfl",
    "source",
]
