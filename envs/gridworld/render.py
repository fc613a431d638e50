"""Host-side rendering of gridworld levels and states to uint8 RGB images (numpy), following
`envs/maze/render.py`. Not for jitted code."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.gridworld.env import GridworldState
from envs.gridworld.level import GridLevel

FLOOR = np.array([30, 30, 30], np.uint8)
WALL = np.array([128, 128, 128], np.uint8)
AGENT = np.array([230, 40, 40], np.uint8)
TYPE_COLOURS = np.array(
    [[40, 200, 70], [240, 160, 30], [60, 120, 240], [200, 60, 200], [240, 230, 60]], np.uint8
)
"""Object colour per type (type 0, GROOVE's positive type, is green)."""


def _disc(tile: int, radius: float) -> np.ndarray:
    """bool `[tile, tile]`: a centred disc of `radius` (in half-tiles)."""
    centre = (np.arange(tile) + 0.5) / tile * 2.0 - 1.0
    v, u = np.meshgrid(centre, centre, indexing="ij")
    return u**2 + v**2 <= radius**2


def _diamond(tile: int) -> np.ndarray:
    """bool `[tile, tile]`: a centred diamond (an object)."""
    centre = (np.arange(tile) + 0.5) / tile * 2.0 - 1.0
    v, u = np.meshgrid(centre, centre, indexing="ij")
    return np.abs(u) + np.abs(v) <= 0.8


def render(level_or_state: GridLevel | GridworldState, tile: int = 16) -> np.ndarray:
    """uint8 `[height * tile, width * tile, 3]` of the level's grid (not the padding): walls
    grey, objects as diamonds coloured by type (`TYPE_COLOURS`), the agent a red disc. A
    level shows its start and every object at its own cell; a state shows where the agent and
    the present objects are now."""
    state: Any = level_or_state if isinstance(level_or_state, GridworldState) else None
    level = state.level if state is not None else level_or_state
    height, width = int(level.height), int(level.width)
    walls = np.asarray(level.walls)[:height, :width]
    if state is None:
        agent = np.asarray(level.start_pos)
        obj_pos, shown = np.asarray(level.obj_pos), np.asarray(level.obj_valid)
    else:
        agent = np.asarray(state.agent_pos)
        obj_pos, shown = np.asarray(state.obj_pos), np.asarray(state.present)
    types = np.asarray(level.obj_type)

    image = np.empty((height * tile, width * tile, 3), np.uint8)
    image[:] = FLOOR
    image[np.repeat(np.repeat(walls, tile, 0), tile, 1)] = WALL

    def cell(pos) -> np.ndarray:
        r, c = int(pos[0]), int(pos[1])
        return image[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile]

    diamond = _diamond(tile)
    for k in np.flatnonzero(shown):
        cell(obj_pos[k])[diamond] = TYPE_COLOURS[types[k] % len(TYPE_COLOURS)]
    cell(agent)[_disc(tile, 0.6)] = AGENT
    # Thin grid lines make single cells countable.
    image[::tile] //= 2
    image[:, ::tile] //= 2
    return image
