"""The maze level as a VAE code (`rljax.curricula.level_vae.LevelCodec`), for DRED.

A 13x13 level is 169 wall bits, the agent's cell and the goal's cell as one-hots of 169, and
the agent's direction as a one-hot of 4: a code of 511 entries. Decoding reads the most
likely valid level from the decoder's logits and repairs it, so every generated level is
well-formed and solvable:

1. walls where the wall logit is positive (p > 0.5);
2. the agent on the free cell of highest agent logit (the cell is cleared if every cell
   was a wall);
3. a start walled in on all sides gets its four neighbours cleared;
4. the goal on the cell of highest goal logit among those the agent can reach.

The reference (Garcin et al. 2024) decodes a graph and does not enforce solvability; rljax
repairs instead, so a generated level never wastes a rollout on an impossible task.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.maze.bfs import reachable_from
from envs.maze.generators import _cell
from envs.maze.level import Level
from rljax.curricula.level_vae import CodeBlock


class MazeCodec:
    """`encode(level) -> [3 H W + 4]`, `decode(logits) -> Level` for `height x width` mazes."""

    def __init__(self, height: int = 13, width: int = 13):
        self.height, self.width = height, width
        cells = height * width
        self.blocks = (
            CodeBlock("bernoulli", cells),
            CodeBlock("categorical", cells),
            CodeBlock("categorical", cells),
            CodeBlock("categorical", 4),
        )

    def encode(self, level: Level) -> jax.Array:
        cells = self.height * self.width

        def one_hot(pos: jax.Array) -> jax.Array:
            return jax.nn.one_hot(pos[0] * self.width + pos[1], cells)

        return jnp.concatenate(
            [
                level.walls.reshape(-1).astype(jnp.float32),
                one_hot(level.agent_pos),
                one_hot(level.goal_pos),
                jax.nn.one_hot(level.agent_dir, 4),
            ]
        )

    def decode(self, logits: jax.Array) -> Level:
        height, width, cells = self.height, self.width, self.height * self.width
        wall_logits, agent_logits, goal_logits = jnp.split(logits[: 3 * cells], 3)
        walls = wall_logits > 0
        # The agent's cell: the best free cell (the best cell if every cell is a wall).
        free = jnp.where(walls, -jnp.inf, agent_logits)
        agent = jnp.where(walls.all(), jnp.argmax(agent_logits), jnp.argmax(free))
        walls = walls.at[agent].set(False).reshape(height, width)
        agent_pos = _cell(agent, width)
        rows, cols = jnp.arange(height)[:, None], jnp.arange(width)[None, :]
        steps = jnp.abs(rows - agent_pos[0]) + jnp.abs(cols - agent_pos[1])
        alone = reachable_from(walls, agent_pos).sum() <= 1
        walls = jnp.where(alone & (steps == 1), False, walls)
        reachable = reachable_from(walls, agent_pos).reshape(-1)
        reachable = reachable.at[agent].set(False)
        goal = jnp.argmax(jnp.where(reachable, goal_logits, -jnp.inf))
        goal_pos = _cell(goal, width)
        return Level.create(walls, agent_pos, jnp.argmax(logits[3 * cells :]), goal_pos)


__all__ = ["MazeCodec"]
