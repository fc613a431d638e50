"""Generated XLand-MiniGrid rulesets as a task space (registered as `"xland"`).

A task is an `xminigrid.types.RuleSet` drawn by `envs.xland.rulesets.sample_ruleset` (fixed
shapes set by `RulesetConfig`), played in one open room by `envs.xland.env.XLandEnv`. Every
curriculum runs on it except PAIRED (there is no level-building adversary): ACCEL edits
tasks with `envs.xland.rulesets.mutate_ruleset` (deepen or undo the chain of production
rules, add or remove distractor rules and objects, flip the goal between holding and
nearing its object).

    sample(key)      a ruleset of depth 0..max_depth with distractors (DR's distribution)
    initial(key)     a ruleset of depth 0 without distractors
    mutate(key, task, n)  n edits (`mutate_ruleset`), each keeping the task solvable
    heldout()        `num_heldout` rulesets drawn from `heldout_seed` (fixed)
    success(return)  the goal was reached: xminigrid pays `1 - 0.9 t / T > 0` only then
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from envs.xland.env import XLandEnv
from envs.xland.rulesets import RulesetConfig, mutate_ruleset, sample_ruleset
from rljax import config as cfg
from rljax.environment import make, register
from rljax.task_space import register_task_space
from rljax.wrappers import Trials


@dataclass(frozen=True)
class XLandConfig:
    """Generated XLand rulesets in a `size` x `size` room."""

    rulesets: RulesetConfig = field(default_factory=RulesetConfig)
    """How deep and cluttered the generated tasks are (their shapes)."""
    size: int = 9
    """The room's side in cells, walls included (static: a shape)."""
    num_heldout: int = 8
    """Held-out rulesets evaluated after every update."""
    heldout_seed: int = 12345
    """The held-out rulesets are drawn from this seed (the same for every run)."""
    trial_episodes: int = 1
    """Episodes of a task per trial (`rljax.wrappers.Trials`): above 1, the meta-RL setting
    where a recurrent agent keeps its memory across the episodes of a trial; the trial is the
    learner's episode (its return, its time limit, its held-out evaluation)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        if self.size < 5:
            cfg.fail(self, "size", "must be >= 5 (walls around at least a 3x3 floor)", "pass 9")
        if self.trial_episodes < 1:
            cfg.fail(self, "trial_episodes", "must be >= 1", "pass 1 (no trials) or e.g. 4")
        if self.num_heldout < 1:
            cfg.fail(self, "num_heldout", "must be >= 1", "pass e.g. 8")
        free = (self.size - 2) ** 2
        if self.rulesets.num_objects + 1 > free:
            cfg.fail(
                self,
                "size",
                f"leaves {free} free cells, fewer than the up to {self.rulesets.num_objects} "
                "objects and the agent",
                "pass a larger size or fewer objects",
            )

    def replace(self, **changes: Any) -> XLandConfig:
        return dataclasses.replace(self, **changes)


def env_name(config: XLandConfig) -> str:
    """The registered env name of `config`'s tasks (the sizes fix the state's shapes)."""
    r = config.rulesets
    trials = f"-t{config.trial_episodes}" if config.trial_episodes > 1 else ""
    return (
        f"XLand-R1-{config.size}x{config.size}-d{r.max_depth}"
        f"-r{r.max_distractor_rules}-o{r.max_distractor_objects}{trials}"
    )


def register_env(config: XLandConfig) -> str:
    """Register `env_name(config)` with `rljax.make` and return it (registering again is
    harmless: the same name always builds the same env)."""

    def factory() -> tuple[Any, Any]:
        env = XLandEnv(config.rulesets, size=config.size)
        params = env.default_params
        return (Trials(env, config.trial_episodes) if config.trial_episodes > 1 else env), params

    name = env_name(config)
    register(name, factory)
    return name


class XLandTaskSpace:
    """See the module doc."""

    box = None
    adversary = None
    return_range = (0.0, 1.0)

    def __init__(self, config: XLandConfig = XLandConfig()):
        self.config = config
        self.env_name = register_env(config)
        self.env, self.env_params = make(self.env_name)

    def sample(self, key: jax.Array) -> Any:
        return sample_ruleset(key, self.config.rulesets)

    def initial(self, key: jax.Array) -> Any:
        return sample_ruleset(key, self.config.rulesets, simplest=True)

    def mutate(self, key: jax.Array, task: Any, num_edits: int) -> Any:
        return mutate_ruleset(key, task, self.config.rulesets, num_edits)

    def heldout(self) -> Mapping[str, Any]:
        keys = jax.random.split(
            jax.random.PRNGKey(self.config.heldout_seed), self.config.num_heldout
        )
        return {
            f"ruleset_{i}": jax.tree.map(np.asarray, self.sample(k)) for i, k in enumerate(keys)
        }

    def success(self, returns: jax.Array) -> jax.Array:
        return returns > 0


register_task_space("xland", XLandConfig, XLandTaskSpace)
