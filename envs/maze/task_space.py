"""The 13x13 maze as a task space (`rljax.task_space`): a task is a `Level`.

New levels are domain randomisation's (`sample_level` with `num_walls` walls, Dennis et al.
2020, sec. 5); the simplest levels, where ACCEL's editor starts, are rooms with
`initial_num_walls` walls (Parker-Holder et al. 2022, sec. 4: ACCEL starts from empty
rooms); `mutate` is ACCEL's editor (`mutate_level`: each edit flips a wall or moves the
goal); the held-out set is chosen by `MazeConfig.heldout` among the named mazes
(`envs/maze/named.py`): the UED benchmark's 8 (default; JaxUED's evaluation set, so per-level
numbers compare with the papers'), rljax's own 14 designs, or all 22, and levels of the
structured generator (`structured`, `dred`); with `generator="dataset"` new levels come
uniformly from a fixed dataset of structured levels (rooms, braided mazes, caves:
`envs/maze/structured.py`), which is also the `dataset()` DRED starts from, and `codec`
is the level code of DRED's VAE (`envs/maze/codec.py`); an episode succeeds
when it reaches the goal, the only reward (return > 0); PAIRED's adversary builds a level in
`MazeAdversary-13x13`: goal, agent, then 50 walls, one cell per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jax
import jax.numpy as jnp
import numpy as np

from envs.maze.adversary import AdversaryParams, level_from_adversary_actions
from envs.maze.bfs import is_solvable
from envs.maze.codec import MazeCodec
from envs.maze.generators import mutate_level, sample_level
from envs.maze.level import Level
from envs.maze.named import BENCHMARK_NAMES, RLJAX_NAMES, named_levels
from envs.maze.structured import FAMILIES, dataset_family, structured_dataset
from rljax import config as cfg
from rljax.environment import make
from rljax.task_space import AdversarySpec, register_task_space

ADVERSARY_ENV = "MazeAdversary-13x13"
HELDOUT_SETS: dict[str, tuple[str, ...]] = {
    "benchmark": BENCHMARK_NAMES,
    "rljax": RLJAX_NAMES,
    "all": BENCHMARK_NAMES + RLJAX_NAMES,
    "structured": (),
    "dred": BENCHMARK_NAMES,
}
"""Named mazes of each held-out choice; `structured` and `dred` add the structured
generator's held-out levels (`MazeConfig.heldout`)."""
GENERATORS = ("random", "dataset")
STRUCTURED_HELDOUT = 24
"""Held-out levels of the structured generator: the 24 it draws after the dataset's."""


@dataclass(frozen=True)
class MazeConfig:
    """The maze family (`--task-space.*`)."""

    num_walls: int = 25
    """Wall budget of domain randomisation's new levels."""
    initial_num_walls: int = 0
    """Wall budget of the simplest levels (ACCEL's new levels; 0: empty rooms)."""

    heldout: Annotated[str, cfg.choices(HELDOUT_SETS)] = "benchmark"
    """The held-out mazes: `benchmark` (the UED literature's 8: SixteenRooms, ...,
    StandardMaze3, as JaxUED evaluates), `rljax` (rljax's own 14 designs, the held-out set
    before December 2026), `all` (both), `structured` (24 levels of the dataset's structured
    generator that are not in the dataset: rooms, mazes and caves) or `dred` (those 24 and
    the benchmark's 8)."""
    generator: Annotated[str, cfg.choices(GENERATORS)] = "random"
    """New levels (`sample`): `random` (domain randomisation: up to num_walls random walls)
    or `dataset` (uniformly from the fixed dataset of structured levels; DRED's setting)."""
    dataset_size: int = 512
    """Levels in the dataset (`envs/maze/structured.py`: rooms, braided mazes and caves in
    turn; DRED trains on a dataset of 512)."""
    dataset_seed: int = 0
    """Seed of the dataset; the structured held-out levels continue the same stream."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        cfg.check_non_negative(self, "num_walls", "initial_num_walls", "dataset_seed")
        cfg.check_positive(self, "dataset_size")
        cfg.check_choice(self, "heldout", tuple(HELDOUT_SETS))
        cfg.check_choice(self, "generator", GENERATORS)


class MazeTaskSpace:
    """Levels of `Maze-13x13`, whose episodes auto-reset onto the same level."""

    env_name = "Maze-13x13"
    box = None

    def __init__(self, config: MazeConfig):
        self.config = config
        self.env, self.env_params = make(self.env_name)
        self._structured_levels: tuple[Level, Level] | None = None
        self.codec = MazeCodec(self.env_params.height, self.env_params.width)
        """The level code of DRED's VAE."""
        adversary_params = AdversaryParams()

        def build(actions: jax.Array, start) -> Level:
            return level_from_adversary_actions(actions, start.level.agent_dir, adversary_params)

        self.adversary = AdversarySpec(
            env=ADVERSARY_ENV,
            num_steps=adversary_params.max_steps_in_episode,
            build=build,
            complexity=lambda levels: jnp.asarray(levels.walls, jnp.float32).sum(axis=(-2, -1)),
        )

    def sample(self, key: jax.Array) -> Level:
        if self.config.generator == "dataset":
            dataset = self.dataset()
            index = jax.random.randint(key, (), 0, self.config.dataset_size)
            return jax.tree.map(lambda x: jnp.asarray(x)[index], dataset)
        return sample_level(key, self.env_params, self.config.num_walls)

    def dataset(self) -> Level:
        """The dataset of structured levels, leaves `[dataset_size, ...]` (DRED's)."""
        return self._structured()[0]

    def _structured(self) -> tuple[Level, Level]:
        """(dataset, held-out levels) from one stream of the structured generator."""
        if self._structured_levels is None:
            size = self.config.dataset_size
            with jax.ensure_compile_time_eval():  # concrete even when first asked in a trace
                levels = structured_dataset(self.config.dataset_seed, size + STRUCTURED_HELDOUT)
                levels = jax.tree.map(np.asarray, levels)
            self._structured_levels = (
                jax.tree.map(lambda x: x[:size], levels),
                jax.tree.map(lambda x: x[size:], levels),
            )
        return self._structured_levels

    def initial(self, key: jax.Array) -> Level:
        return sample_level(key, self.env_params, self.config.initial_num_walls)

    def mutate(self, key: jax.Array, level: Level, num_edits: int) -> Level:
        return mutate_level(key, level, num_edits)

    def heldout(self) -> dict[str, Level]:
        levels = named_levels()
        chosen = {name: levels[name] for name in HELDOUT_SETS[self.config.heldout]}
        if self.config.heldout in ("structured", "dred"):
            size = self.config.dataset_size
            heldout = self._structured()[1]
            for i in range(STRUCTURED_HELDOUT):
                name = f"{FAMILIES[dataset_family(size + i)]}-{i}"
                chosen[name] = jax.tree.map(lambda x, i=i: x[i], heldout)
        return chosen

    def solvable(self, level: Level) -> jax.Array:
        """Whether the goal is reachable (BFS); evaluation protocols sample solvable levels."""
        return is_solvable(level)

    def success(self, returns: jax.Array) -> jax.Array:
        """The only reward is on reaching the goal."""
        return returns > 0


register_task_space("maze", MazeConfig, MazeTaskSpace)
