"""Policy objectives as drift functions (Mirror Learning, Kuba et al. 2022).

`DRIFTS` maps the names `PPOConfig.drift` accepts to drift objects: `ppo_clip` (drift.py),
`dpo` (dpo.py), `mdpo` (mdpo.py), `lpo` and `talpo` (lpo.py).
"""

from rljax.objectives.dpo import DPODrift, DPOParams
from rljax.objectives.drift import (
    DRIFTS,
    Drift,
    PPOClipDrift,
    make_drift,
    policy_loss,
    register_drift,
)
from rljax.objectives.lpo import LPODrift, LPOParams, TALPODrift, lpo_features
from rljax.objectives.mdpo import MDPODrift

__all__ = [
    "DRIFTS",
    "DPODrift",
    "DPOParams",
    "Drift",
    "LPODrift",
    "LPOParams",
    "MDPODrift",
    "PPOClipDrift",
    "TALPODrift",
    "lpo_features",
    "make_drift",
    "policy_loss",
    "register_drift",
]
