"""Host-side rendering of levels and trajectories to uint8 RGB images (numpy), and a PNG
grid of levels (matplotlib, Agg backend). Not for jitted code."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from envs.maze.level import DIRECTION_VECTORS, Level

FLOOR = np.array([30, 30, 30], np.uint8)
WALL = np.array([128, 128, 128], np.uint8)
GOAL = np.array([40, 200, 70], np.uint8)
AGENT = np.array([230, 40, 40], np.uint8)
VIEW = np.array([75, 75, 40], np.uint8)
PATH_START = np.array([120, 170, 255], np.float32)
PATH_END = np.array([20, 60, 200], np.float32)


def _tile(image: np.ndarray, pos: Sequence[int], tile: int) -> np.ndarray:
    return image[pos[0] * tile : (pos[0] + 1) * tile, pos[1] * tile : (pos[1] + 1) * tile]


def _triangle(tile: int, direction: int) -> np.ndarray:
    """bool `[tile, tile]`: an arrowhead pointing in `direction` (0 east, 1 south, ...)."""
    centre = (np.arange(tile) + 0.5) / tile * 2.0 - 1.0  # pixel centres in [-1, 1]
    v, u = np.meshgrid(centre, centre, indexing="ij")
    east = (u >= -0.6) & (np.abs(v) <= 0.6 * (0.7 - u) / 1.3)
    return np.rot90(east, k=-direction)  # a clockwise quarter turn per direction step


def _view_cells(level: Level, view_size: int) -> np.ndarray:
    """int `[V*V, 2]` cells of the agent's view (numpy twin of `env.view_positions`)."""
    d = int(level.agent_dir)
    forward, right = DIRECTION_VECTORS[d], DIRECTION_VECTORS[(d + 1) % 4]
    ahead, lateral = np.meshgrid(
        np.arange(view_size), np.arange(view_size) - view_size // 2, indexing="ij"
    )
    cells = np.asarray(level.agent_pos) + ahead[..., None] * forward + lateral[..., None] * right
    return cells.reshape(-1, 2)


def render_level(level: Level, tile: int = 16, view_size: int | None = None) -> np.ndarray:
    """uint8 `[H * tile, W * tile, 3]`: walls grey, goal green, the agent a red arrowhead
    facing its direction; with `view_size`, the cells the agent sees are tinted."""
    walls = np.asarray(level.walls)
    height, width = walls.shape
    image = np.empty((height * tile, width * tile, 3), np.uint8)
    image[:] = FLOOR
    if view_size:
        for row, col in _view_cells(level, view_size):
            if 0 <= row < height and 0 <= col < width:
                _tile(image, (row, col), tile)[:] = VIEW
    image[np.repeat(np.repeat(walls, tile, 0), tile, 1)] = WALL
    _tile(image, np.asarray(level.goal_pos), tile)[:] = GOAL
    _tile(image, np.asarray(level.agent_pos), tile)[_triangle(tile, int(level.agent_dir))] = AGENT
    # Thin grid lines make single cells countable.
    image[::tile] //= 2
    image[:, ::tile] //= 2
    return image


def render_trajectory(level: Level, positions: Any, tile: int = 16) -> np.ndarray:
    """`render_level` with the path through `positions` (int `[T, 2]`, row/col per step)
    drawn as a line between cell centres, light blue at the start to dark blue at the end."""
    image = render_level(level, tile)
    positions = np.asarray(positions).reshape(-1, 2)
    half, width = tile // 2, max(tile // 8, 1)
    steps = max(len(positions) - 1, 1)
    for t, (a, b) in enumerate(itertools.pairwise(positions)):
        colour = (PATH_START + (PATH_END - PATH_START) * t / steps).astype(np.uint8)
        (r0, c0), (r1, c1) = sorted([a * tile + half, b * tile + half], key=tuple)
        image[r0 - width : r1 + width + 1, c0 - width : c1 + width + 1] = colour
    return image


def save_level_grid(
    levels: Mapping[str, Level] | Sequence[Level],
    path: str | Path,
    columns: int = 4,
    tile: int = 16,
) -> Path:
    """Save a grid of rendered levels (titled by name if `levels` is a mapping) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(levels.items()) if isinstance(levels, Mapping) else list(enumerate(levels))
    rows = -(-len(items) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, level) in zip(axes.flat, items, strict=False):
        ax.imshow(render_level(level, tile))
        ax.set_title(str(name), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
