"""XLand-MiniGrid tasks generated in JAX (`rulesets.py`), the env that plays them
(`env.py`) and their task space (`task_space.py`, registered as `"xland"`). Importing this
package registers the default env, `XLand-R1-9x9-d2-r1-o2`, with `rljax.make`."""

from __future__ import annotations

from envs.xland.env import XLandEnv, XLandState
from envs.xland.rulesets import (
    EDITS,
    RulesetConfig,
    mutate_ruleset,
    reference_solvable,
    sample_ruleset,
    well_formed,
)
from envs.xland.task_space import XLandConfig, XLandTaskSpace, env_name, register_env

register_env(XLandConfig())

__all__ = [
    "EDITS",
    "RulesetConfig",
    "XLandConfig",
    "XLandEnv",
    "XLandState",
    "XLandTaskSpace",
    "env_name",
    "mutate_ruleset",
    "reference_solvable",
    "register_env",
    "sample_ruleset",
    "well_formed",
]
