"""LPG's gridworlds as a task space (`rljax.task_space`, registered as `"gridworld"`): a task
is a `GridLevel`, played in `Gridworld-tabular` or `Gridworld-symbolic` (episodes auto-reset
onto the same level).

    sample(key)      GROOVE's level space (Jackson et al. 2023, sec. 5; `sample_level`):
                     4..10 grids, 1..5 objects, up to 15 walls, 20..750 steps
    initial(key)     the simplest levels, where ACCEL's editor starts (Parker-Holder et al.
                     2022, sec. 4): GROOVE's grid, probabilities and time limit, but one
                     object (the positive type 0) and no walls
    mutate           the editor (`mutate_level`, `generators.EDITS`): add / remove a wall,
                     move / add / remove an object, redraw a probability
    heldout()        LPG's named gridworlds (Oh et al. 2020, appendix; `named.py`), chosen by
                     `GridworldConfig.heldout`, plus `num_heldout_sampled` levels of GROOVE's
                     space drawn from `heldout_seed`
    success(return)  return > 0: the episode collected more reward than penalty. Every
                     sampled level has a positive object reachable from the start, so success
                     is possible wherever the time limit allows the walk; a return normalised
                     by `optimal_return` is the finer measure (GROOVE reports it)
    return_range     (-1, 1): one collection's reward range, a scale rather than a bound (an
                     episode can collect many objects; a teacher that clips, like ALP-GMM,
                     saturates above it)
    box, adversary   None (levels are discrete; no level-building env)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

import jax
import numpy as np

from envs.gridworld.generators import (
    MAX_GENERATED_OBJECTS,
    NUM_WALLS,
    WALL_REGION,
    mutate_level,
    sample_level,
)
from envs.gridworld.level import GridLevel
from envs.gridworld.named import RANDOM_NAMES, TABULAR_NAMES, named_levels
from envs.gridworld.optimal import optimal_return
from rljax import config as cfg
from rljax.environment import make
from rljax.task_space import register_task_space

OBSERVATIONS = ("tabular", "index", "symbolic")
_sample = jax.jit(sample_level, static_argnums=(1, 2, 3))
"""`sample_level` compiled once per (max_objects, num_walls, random_respawn)."""
HELDOUT_SETS: dict[str, tuple[str, ...]] = {
    "tabular": TABULAR_NAMES,
    "random": RANDOM_NAMES,
    "all": TABULAR_NAMES + RANDOM_NAMES,
    "none": (),
}
"""Named held-out levels of each `GridworldConfig.heldout` choice."""


@dataclass(frozen=True)
class GridworldConfig:
    """LPG's object gridworlds (`--task-space.*`)."""

    observation: Annotated[str, cfg.choices(OBSERVATIONS)] = "tabular"
    """What the agent sees: `tabular` (one-hot of agent cell x present objects, 21632 wide;
    LPG's tabular agents), `index` (the same state as one int32, which tabular agents read as
    a table row: the cheap form of `tabular`) or `symbolic` (13x13x7 wall / agent /
    object-type planes)."""
    random_respawn: bool = False
    """Sampled and initial levels place their objects at random each episode and respawn
    them at random cells (the reference's `rand_all`); False: at their own cells (`all`)."""
    max_objects: int = MAX_GENERATED_OBJECTS
    """Most objects in a sampled level (GROOVE: 5; object k has type k)."""
    num_walls: int = NUM_WALLS
    """Wall draws of a sampled level in the 10x10 region (GROOVE: 15)."""
    heldout: Annotated[str, cfg.choices(HELDOUT_SETS)] = "tabular"
    """Named held-out levels: `tabular` (dense, sparse, long, longer, long_dense), `random`
    (rand_dense, rand_long, rand_small, rand_sparse, rand_very_dense), `all` or `none`."""
    num_heldout_sampled: int = 0
    """Extra held-out levels drawn from GROOVE's space with `heldout_seed`."""
    heldout_seed: int = 12345
    """Seed of the sampled held-out levels (the same for every run)."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_choice(self, "observation", OBSERVATIONS)
        cfg.check_choice(self, "heldout", tuple(HELDOUT_SETS))
        if not 1 <= self.max_objects <= MAX_GENERATED_OBJECTS:
            cfg.fail(
                self,
                "max_objects",
                f"must lie in 1..{MAX_GENERATED_OBJECTS} (object k has type k, and there are "
                f"{MAX_GENERATED_OBJECTS} types)",
                f"pass 1 to {MAX_GENERATED_OBJECTS}",
            )
        if not 0 <= self.num_walls <= WALL_REGION**2:
            cfg.fail(
                self,
                "num_walls",
                f"must lie in 0..{WALL_REGION**2} (walls are drawn among the "
                f"{WALL_REGION}x{WALL_REGION} region's cells)",
                "pass e.g. 15 (GROOVE's)",
            )
        cfg.check_non_negative(self, "num_heldout_sampled", "heldout_seed")
        if not HELDOUT_SETS[self.heldout] and self.num_heldout_sampled == 0:
            cfg.fail(
                self,
                "heldout",
                "leaves no held-out level while num_heldout_sampled is 0",
                "pick a named set, or set num_heldout_sampled to e.g. 8",
            )

    def replace(self, **changes: Any) -> GridworldConfig:
        return dataclasses.replace(self, **changes)


class GridworldTaskSpace:
    """See the module doc."""

    box = None
    adversary = None
    return_range = (-1.0, 1.0)

    def __init__(self, config: GridworldConfig = GridworldConfig()):
        self.config = config
        self.env_name = f"Gridworld-{config.observation}"
        self.env, self.env_params = make(self.env_name)

    def sample(self, key: jax.Array) -> GridLevel:
        c = self.config
        return sample_level(key, c.max_objects, c.num_walls, c.random_respawn)

    def initial(self, key: jax.Array) -> GridLevel:
        return sample_level(key, 1, 0, self.config.random_respawn)

    def mutate(self, key: jax.Array, level: GridLevel, num_edits: int) -> GridLevel:
        return mutate_level(key, level, num_edits)

    def heldout(self) -> dict[str, GridLevel]:
        names = HELDOUT_SETS[self.config.heldout]
        levels = dict(named_levels(names)) if names else {}
        c = self.config
        if c.num_heldout_sampled:
            with jax.ensure_compile_time_eval():  # concrete even when first asked in a trace
                keys = jax.random.split(jax.random.PRNGKey(c.heldout_seed), c.num_heldout_sampled)
                for i, key in enumerate(keys):
                    level = _sample(key, c.max_objects, c.num_walls, c.random_respawn)
                    levels[f"sampled_{i}"] = jax.tree.map(np.asarray, level)
        return levels

    def success(self, returns: jax.Array) -> jax.Array:
        return returns > 0

    def optimal_return(self, level: GridLevel) -> jax.Array:
        """`optimal_return(level)` (vmap it over a batch): GROOVE's normaliser."""
        return optimal_return(level)


register_task_space("gridworld", GridworldConfig, GridworldTaskSpace)
