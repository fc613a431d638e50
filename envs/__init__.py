"""rljax's own JAX environments. Importing this package registers them with `rljax.make`."""

from envs import (
    gridworld,  # noqa: F401  (registers Gridworld-tabular, Gridworld-symbolic, "gridworld")
    maze,  # noqa: F401  (registers Maze-13x13, Maze-13x13-DR, MazeAdversary-13x13)
    xland,  # noqa: F401  (registers XLand-R1-9x9-d2-r1-o2 and the xland task space)
)
