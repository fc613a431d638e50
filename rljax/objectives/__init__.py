"""Policy objectives as drift functions (Mirror Learning, Kuba et al. 2022)."""

from rljax.objectives.drift import DRIFTS, Drift, PPOClipDrift, make_drift, policy_loss

__all__ = ["DRIFTS", "Drift", "PPOClipDrift", "make_drift", "policy_loss"]
