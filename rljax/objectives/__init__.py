"""Policy objectives as drift functions (Mirror Learning, Kuba et al. 2022).

`DRIFTS` maps the names `PPOConfig.drift` accepts to drift objects: `ppo_clip` (drift.py),
`dpo` (dpo.py), `mdpo` (mdpo.py), `lpo` and `talpo` (lpo.py). `lpg.py` holds the LPG rule
network (a learned update rule rather than a drift: `rljax.agents.lpg` trains by it).
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
from rljax.objectives.lpg import LPGRuleConfig, LPGRuleParams, RuleInputs, apply_rule, init_rule
from rljax.objectives.lpo import LPODrift, LPOParams, TALPODrift, lpo_features
from rljax.objectives.mdpo import MDPODrift

__all__ = [
    "DRIFTS",
    "DPODrift",
    "DPOParams",
    "Drift",
    "LPGRuleConfig",
    "LPGRuleParams",
    "LPODrift",
    "LPOParams",
    "MDPODrift",
    "PPOClipDrift",
    "RuleInputs",
    "TALPODrift",
    "apply_rule",
    "init_rule",
    "lpo_features",
    "make_drift",
    "policy_loss",
    "register_drift",
]
