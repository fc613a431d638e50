"""A partially observed maze with levels (issue #3): the env, level generators and editor,
PAIRED's adversary env, BFS, held-out named levels and rendering.

Importing this package registers `Maze-13x13` (auto-reset to the same level, for curricula
that pin levels), `Maze-13x13-DR` (auto-reset to a fresh DR level, for plain DR training) and
`MazeAdversary-13x13` (PAIRED's level builder) with `rljax.make`. Keyword arguments to
`rljax.make` override `MazeParams`/`AdversaryParams` fields.
"""

from __future__ import annotations

from envs.maze.adversary import (
    AdversaryParams,
    AdversaryState,
    MazeAdversaryEnv,
    level_from_adversary_actions,
)
from envs.maze.bfs import distance_map, is_solvable, shortest_path_length
from envs.maze.env import FORWARD, LEFT, NUM_ACTIONS, RIGHT, Maze, MazeState, observe
from envs.maze.generators import mutate_level, sample_level
from envs.maze.level import (
    Level,
    MazeParams,
    check_level,
    check_level_structure,
    is_well_formed,
    level_from_ascii,
    level_to_ascii,
    stack_levels,
)
from envs.maze.named import NAMED_MAPS, named_level_batch, named_levels
from envs.maze.render import render_level, render_trajectory, save_level_grid
from rljax.environment import register


def _maze(**kwargs):
    params = MazeParams(**kwargs)
    return Maze(), params


def _maze_dr(**kwargs):
    return _maze(**{"auto_reset": "sample", **kwargs})


def _adversary(**kwargs):
    return MazeAdversaryEnv(), AdversaryParams(**kwargs)


register("Maze-13x13", _maze)
register("Maze-13x13-DR", _maze_dr)
register("MazeAdversary-13x13", _adversary)

from envs.maze.task_space import MazeConfig, MazeTaskSpace  # noqa: E402  (registers "maze")

__all__ = [
    "FORWARD",
    "LEFT",
    "NAMED_MAPS",
    "NUM_ACTIONS",
    "RIGHT",
    "AdversaryParams",
    "AdversaryState",
    "Level",
    "Maze",
    "MazeAdversaryEnv",
    "MazeConfig",
    "MazeParams",
    "MazeState",
    "MazeTaskSpace",
    "check_level",
    "check_level_structure",
    "distance_map",
    "is_solvable",
    "is_well_formed",
    "level_from_adversary_actions",
    "level_from_ascii",
    "level_to_ascii",
    "mutate_level",
    "named_level_batch",
    "named_levels",
    "observe",
    "render_level",
    "render_trajectory",
    "sample_level",
    "save_level_grid",
    "shortest_path_length",
    "stack_levels",
]
