"""rljax's own JAX environments. Importing this package registers them with `rljax.make`."""

from envs import maze  # noqa: F401  (registers Maze-13x13, Maze-13x13-DR, MazeAdversary-13x13)
