"""Held-out named mazes for zero-shot evaluation, as 13x13 ASCII maps (legend: `envs.maze.level`).

Two groups, told apart by name:

* The UED benchmark's held-out mazes (`BENCHMARK_NAMES`): SixteenRooms, SixteenRooms2,
  Labyrinth, LabyrinthFlipped, Labyrinth2, StandardMaze, StandardMaze2, StandardMaze3. Their
  layouts (walls, start cell and direction, goal) are the benchmark's data, transcribed cell
  for cell from JaxUED (github.com/DramaCow/jaxued, `src/jaxued/environments/maze/level.py`,
  its prefab level strings, commit 0f8f128), whose default evaluation set is exactly these
  eight. They were checked cell for cell against the PLR/ACCEL code, facebookresearch/dcd
  (`envs/multigrid/maze.py`, commit 72991be: bit maps with start and goal positions), and
  against facebookresearch/minimax (`src/minimax/envs/maze/maze_ood.py`, commit d053054): the
  walls, start and goal agree in all three. Names in dcd: SixteenRoomsEnv, SixteenRoomsFewerDoorsEnv
  (= SixteenRooms2), LabyrinthEnv, Labyrinth2Env, MazeEnv (`MultiGrid-Maze-v0` =
  StandardMaze), HorizontalMazeEnv (`MultiGrid-Maze2-v0` = StandardMaze2), Maze3Env
  (`MultiGrid-Maze3-v0` = StandardMaze3); dcd has no LabyrinthFlipped (JaxUED and minimax
  have it: Labyrinth mirrored left-right).
* rljax's own designs (`RLJAX_NAMES`, every name prefixed `Rljax`), kept so earlier rljax
  runs stay reproducible; none is identical to a benchmark level, and no number measured on
  them is comparable with a paper's.

Conversion. The benchmark levels are the 13x13 interior of a 15x15 grid with an outer wall;
here the grid edge acts as that wall, so the interior is the level, unchanged. Positions:
JaxUED and dcd store (x, y) = (column, row), dcd 1-based on the bordered grid; rljax stores
[row, col] on the interior. Directions: JaxUED's `agent_dir` 0, 1, 2, 3 moves by (x, y) =
(+1, 0), (0, +1), (-1, 0), (0, -1), i.e. east, south, west, north, and its map characters are
`>`, `v`, `<`, `^` for 0..3; rljax's direction 0..3 is also east (+col), south (+row), west,
north with the same four characters, so a JaxUED map string reads here as it is. Start
directions follow JaxUED: east in every level but LabyrinthFlipped (west). dcd starts every
maze facing east too (its direction index 0, MiniGrid's east); minimax draws the start
direction at random on each reset in SixteenRooms2, Labyrinth2, StandardMaze2 and
StandardMaze3.

Left out, having no fixed 13x13 layout: SmallCorridor (13x13 walls, but the goal is drawn
from 10 cells on every reset), LargeCorridor (19x19), FourRooms (dcd 19x19 and minimax
17x17, doors and positions random), SimpleCrossing / Crossing (generated on every reset,
9x9 or 11x11), and PerfectMaze (generated on every reset; dcd's PerfectMazeSmall/Medium/
Large/XL are 11x11, 21x21, 51x51 and 101x101 grids). dcd's NineRooms and NineRoomsFewerDoors
are fixed 13x13 layouts but in neither paper's held-out set, so they are not here.

Every level here is well-formed and solvable within the 250-step limit (tested).
"""

from __future__ import annotations

import functools

from envs.maze.level import AGENT_CHARS, Level, level_from_ascii, stack_levels

# --- the UED benchmark's held-out mazes (JaxUED's level strings, see above) -------------

SIXTEEN_ROOMS = """
...#..#..#...
.>.......#...
...#..#......
#.###.##.###.
...#.........
......#..#...
##.#.##.###.#
...#.....#...
...#..#......
.####.##.#.##
...#..#..#...
......#....G.
...#.....#...
"""

SIXTEEN_ROOMS_2 = """
...#.....#...
.>....#..#...
...#..#..#...
####.##.###.#
...#..#......
......#..#...
#.#####.#####
...#..#..#...
...#.........
##.##.##.####
...#..#..#...
......#....G.
...#..#..#...
"""

LABYRINTH = """
.............
.###########.
.#.........#.
.#.#######.#.
.#.#.....#.#.
.#.#.###.#.#.
.#.#.#G#.#.#.
.#.#.#.#.#.#.
.#...#...#.#.
.#########.#.
.....#.....#.
####.#.#####.
>....#.......
"""

LABYRINTH_FLIPPED = """
.............
.###########.
.#.........#.
.#.#######.#.
.#.#.....#.#.
.#.#.###.#.#.
.#.#.#G#.#.#.
.#.#.#.#.#.#.
.#.#...#...#.
.#.#########.
.#.....#.....
.#####.#.####
.......#....<
"""

LABYRINTH_2 = """
>#...........
.#.#########.
.#.#.......#.
.#.#.#####.#.
.#.#.#...#.#.
...#.#.#.#.#.
####.#G#.#.#.
...#.###.#.#.
.#.#.....#.#.
.#.#######.#.
.#.........#.
.###########.
.............
"""

STANDARD_MAZE = """
.....#>...#..
.###.####.##.
.#...........
.########.###
........#....
######.#####.
....#..#.....
.##...##.####
..#.#..#...#.
#.#.##.###.#.
#.#..#...#...
#.##.###.###.
...#..G#.#...
"""

STANDARD_MAZE_2 = """
...#.#....#..
.#.#.####...#
.#........#..
.########.###
...#..#.#.#.G
##.#.##.#.#..
>#.#....#.##.
.#.##.###..#.
.#..#..###.#.
.##.##.#.#.#.
.#...#.#.#.#.
.#.#.#.#.#.#.
...#...#.....
"""

STANDARD_MAZE_3 = """
...>#.#......
.####.#.####.
.#....#.#....
...####.#.#.#
##.#....#.#..
...#.##.#.##.
.#.#.#..#..#G
.#.#.#.###.##
.#...#.#.#...
.###.#.#.###.
.#...#.#...#.
.#.###.#.#.#.
.#...#...#...
"""

# --- rljax's own designs (not the benchmark's; named Rljax* so they cannot be mistaken) --

# 4x4 rooms (walls on rows/cols 3, 6, 9), doors everywhere: many short routes.
RLJAX_SIXTEEN_ROOMS = """
>..#..#..#...
......#......
...#.....#...
#.##.###.##.#
......#......
...#.....#...
##.##.#.##.##
...#.....#...
......#......
.###.###.###.
...#.....#...
......#..#.G.
...#..#......
"""

# The same rooms with doors that force a serpentine through all sixteen.
RLJAX_SIXTEEN_ROOMS_2 = """
v..#.....#...
......#..#...
...#..#......
###########.#
...#.....#...
......#......
#.###########
......#......
...#.....#...
############.
...#..#......
.G.#.....#...
......#..#...
"""

# A square spiral: blockers beside each ring's opening force a full lap per ring.
RLJAX_LABYRINTH = """
>............
############.
...........#.
.#########.#.
.#.......#.#.
.#.#####.#.#.
.#.#..G#.#.#.
.#.#.###.#.#.
.#.#.....#.#.
.#.#######.#.
.#.........#.
.###########.
.............
"""

# Concentric rings opening alternately at the bottom and top, one way round each ring.
RLJAX_LABYRINTH_2 = """
......<......
.###########.
.#.....#...#.
.#.###.###.#.
.#.#.....#.#.
.#.#.###.#.#.
.#.#.#G#.#.#.
.#.#.#.#.#.#.
.#.#...#.#.#.
.#.#######.#.
.#.........#.
.#####.#####.
....#........
"""

# Perfect mazes (one path between any two cells) on the 7x7 lattice of even cells.
RLJAX_PERFECT_MAZE = """
>....#.......
####.###.####
...#...#.....
##.###.#####.
.....#.#.....
.###.#.#.###.
.#...#.#...#.
.#####.###.#.
.#.....#...#.
.#.#####.###.
.#...#...#...
.###.#.###.##
.......#....G
"""

RLJAX_PERFECT_MAZE_2 = """
.......#...#G
######.#.#.#.
.#...#...#...
.#.#.#######.
.#.#.......#.
.#.#######.#.
.#.#.....#...
.#.#.#.######
.#.#.#.......
.#.#.#####.#.
.#.#.#.....#.
.#.###.#####.
^......#.....
"""

# Standard mazes: perfect mazes with a few walls knocked out, so several routes exist.
RLJAX_STANDARD_MAZE = """
v....#.......
####.#.#.###.
.....#.#.....
.#####.###.##
...#.#.......
##.#.#.#####.
...#.#.....#.
.#.#.#.#.###.
...#...#.#...
.###.#.#.#.#.
...#.#...#.#.
##.#######.#.
...........#G
"""

RLJAX_STANDARD_MAZE_2 = """
...#...#.....
##.#.#.#####.
.#...#.......
.#######.###.
.....#.#.....
.#.#.#.#.#.##
>..#.#.....#G
.#.#.#.###.#.
.#.#.....#.#.
.#.#.###.#.#.
...#...#.#...
.#.#.#.#####.
.#...#.......
"""

RLJAX_STANDARD_MAZE_3 = """
.....#G......
.#.###.#.###.
.#.....#.....
.#####.###.#.
...#.......#.
##.#.#####.#.
.#...#.....#.
.#.###.#.#.#.
.....#.#.#...
.#.#.###.###.
...#.......#.
.#.#########.
......^......
"""

# Four rooms, one door in each dividing wall.
RLJAX_FOUR_ROOMS = """
......#......
.>....#......
.............
......#......
......#......
......#......
####.#####.##
......#......
......#......
.............
......#....G.
......#......
......#......
"""

# One wall across the grid with a single gap.
RLJAX_SIMPLE_CROSSING = """
......#......
.v....#......
......#......
......#......
......#......
......#......
......#......
......#......
......#......
.............
......#......
......#....G.
......#......
"""

# Two walls each way; gaps connect only some of the nine regions (with one dead end).
RLJAX_CROSSING = """
....#...#....
.>..#...#....
........#....
....#...#....
#.####.######
....#...#....
....#........
....#...#....
##.#######.##
....#...#....
........#....
....#...#..G.
....#...#....
"""

# A single serpentine corridor through the whole grid (96 moves).
RLJAX_CORRIDOR = """
>............
############.
.............
.############
.............
############.
.............
.############
.............
############.
.............
.############
............G
"""


def flip_horizontal(text: str) -> str:
    """Mirror a map left-right, turning east-facing agents west and vice versa."""
    swap = str.maketrans({AGENT_CHARS[0]: AGENT_CHARS[2], AGENT_CHARS[2]: AGENT_CHARS[0]})
    rows = text.strip().splitlines()
    return "\n".join(row.strip()[::-1].translate(swap) for row in rows)


BENCHMARK_MAPS: dict[str, str] = {
    "SixteenRooms": SIXTEEN_ROOMS,
    "SixteenRooms2": SIXTEEN_ROOMS_2,
    "Labyrinth": LABYRINTH,
    "LabyrinthFlipped": LABYRINTH_FLIPPED,
    "Labyrinth2": LABYRINTH_2,
    "StandardMaze": STANDARD_MAZE,
    "StandardMaze2": STANDARD_MAZE_2,
    "StandardMaze3": STANDARD_MAZE_3,
}

RLJAX_MAPS: dict[str, str] = {
    "RljaxSixteenRooms": RLJAX_SIXTEEN_ROOMS,
    "RljaxSixteenRooms2": RLJAX_SIXTEEN_ROOMS_2,
    "RljaxLabyrinth": RLJAX_LABYRINTH,
    "RljaxLabyrinthFlipped": flip_horizontal(RLJAX_LABYRINTH),
    "RljaxLabyrinth2": RLJAX_LABYRINTH_2,
    "RljaxStandardMaze": RLJAX_STANDARD_MAZE,
    "RljaxStandardMaze2": RLJAX_STANDARD_MAZE_2,
    "RljaxStandardMaze3": RLJAX_STANDARD_MAZE_3,
    "RljaxPerfectMaze": RLJAX_PERFECT_MAZE,
    "RljaxPerfectMaze2": RLJAX_PERFECT_MAZE_2,
    "RljaxFourRooms": RLJAX_FOUR_ROOMS,
    "RljaxSimpleCrossing": RLJAX_SIMPLE_CROSSING,
    "RljaxCrossing": RLJAX_CROSSING,
    "RljaxCorridor": RLJAX_CORRIDOR,
}

BENCHMARK_NAMES: tuple[str, ...] = tuple(BENCHMARK_MAPS)
"""The UED benchmark's held-out mazes (JaxUED's default evaluation set), in its order."""
RLJAX_NAMES: tuple[str, ...] = tuple(RLJAX_MAPS)
"""rljax's own designs: not the benchmark's layouts, so not comparable with a paper."""

# Every named level: the benchmark's first, then rljax's own.
NAMED_MAPS: dict[str, str] = {**BENCHMARK_MAPS, **RLJAX_MAPS}


@functools.cache
def named_levels() -> dict[str, Level]:
    """Every held-out level by name (13x13, checked on construction)."""
    return {name: level_from_ascii(text) for name, text in NAMED_MAPS.items()}


def named_level_batch() -> tuple[tuple[str, ...], Level]:
    """`(names, levels)` with every leaf of `levels` stacked `[num_named, ...]` in the order
    of `names`, for `jax.vmap(env.reset_to_level, in_axes=(0, 0, None))` in evaluation."""
    levels = named_levels()
    return tuple(levels), stack_levels(list(levels.values()))
