"""XLand-MiniGrid rulesets generated inside JAX, as fixed-shape tasks.

xminigrid's XLand environments take a `RuleSet` (goal, rules, initial objects) from a
benchmark file that `xminigrid.load_benchmark` downloads. rljax must run offline, so this
module draws rulesets itself, in JAX, with the encodings `xminigrid.core` documents
(`AgentHoldGoal(...).encode()` and so on), following the generation procedure of the
XLand-MiniGrid paper (Nikulin et al. 2024, Sec. 3, "Benchmarks"): start from a goal over one
or two objects, then for each level of depth replace one object the task still needs by a
production rule that makes it from fresh objects, and add distractors.

Here, per task:
  * the goal is one of `AgentHold(a)` (pick `a` up), `AgentNear(a)` (step forward next to
    `a`) or `TileNear(a, b)` (put `a` down next to `b`), uniformly;
  * `depth ~ U{0..max_depth}` production rules, each `AgentHold(x -> y)` (picking `x` up
    turns it into `y`), `AgentNear(x -> y)` (stepping next to `x` turns it into `y`) or
    `TileNear(x, z -> y)` (putting `x` next to `z` makes `y`), where `y` is an object the
    task needs and `x`, `z` are fresh objects, which the task then needs instead;
  * `U{0..max_distractor_rules}` distractor rules of the same kinds whose inputs are fresh
    objects placed in the room and whose products appear nowhere else (dead ends), and
    `U{0..max_distractor_objects}` objects nothing uses.

Objects are the pickable tiles (ball, square, pyramid, key, star, hex) in 11 colours, all
distinct within a task (drawn without replacement), so no rule consumes an object another
part of the task needs: every generated task is solvable in an open room
(`reference_solvable` checks it without JAX). Unused slots hold xminigrid's padding (the empty
goal, the empty rule, the empty tile), which its env ignores.

Shapes (static, from `RulesetConfig`): `goal uint8 [5]`, `rules uint8 [R, 7]` with
`R = max(1, max_depth + max_distractor_rules)`, `init_tiles uint8 [N, 2]` with
`N = 2 + 2 max_depth + 2 max_distractor_rules + max_distractor_objects`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from xminigrid.types import RuleSet

from rljax import config as cfg

# xminigrid's ids (xminigrid.core.constants, goals, rules), as plain ints for static use.
PICKABLE_TILES = (3, 4, 5, 7, 11, 12)  # ball, square, pyramid, key, hex, star
COLOURS = tuple(range(1, 12))  # red ... pink (0 is the empty colour)
GOAL_AGENT_HOLD, GOAL_AGENT_NEAR, GOAL_TILE_NEAR = 1, 3, 4
RULE_AGENT_HOLD, RULE_AGENT_NEAR, RULE_TILE_NEAR = 1, 2, 3
GOAL_LEN, RULE_LEN = 5, 7
OBJECTS = np.array([(t, c) for t in PICKABLE_TILES for c in COLOURS], np.uint8)  # [66, 2]


@dataclass(frozen=True)
class RulesetConfig:
    """The sizes of generated XLand tasks (all static: they fix the task's shapes)."""

    max_depth: int = 2
    """Production rules between the initial objects and the goal: each task draws 0..this."""
    max_distractor_rules: int = 1
    """Dead-end rules on objects the task does not need: each task draws 0..this."""
    max_distractor_objects: int = 2
    """Objects nothing uses: each task draws 0..this."""

    def __post_init__(self) -> None:
        cfg.check_types(self)
        for name in ("max_depth", "max_distractor_rules", "max_distractor_objects"):
            if getattr(self, name) < 0:
                cfg.fail(self, name, "must be >= 0", "pass e.g. 2")
        if self.num_objects + self.max_distractor_rules > len(OBJECTS):
            cfg.fail(
                self,
                "max_depth",
                f"needs up to {self.num_objects + self.max_distractor_rules} distinct objects, "
                f"more than the {len(OBJECTS)} there are",
                "use fewer rules or distractor objects",
            )

    def replace(self, **changes) -> RulesetConfig:
        return dataclasses.replace(self, **changes)

    @property
    def num_rules(self) -> int:
        return max(1, self.max_depth + self.max_distractor_rules)

    @property
    def num_objects(self) -> int:
        """Initial-object slots: the goal's 2, 2 per production rule, 2 per distractor rule,
        the distractor objects."""
        return 2 + 2 * self.max_depth + 2 * self.max_distractor_rules + self.max_distractor_objects


def _goal(kind: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """The goal encoding `uint8 [5]`: `[id, a_tile, a_colour, (b_tile, b_colour)]`."""
    with_b = jnp.concatenate([kind[None], a, jnp.where(kind == GOAL_TILE_NEAR, b, 0)])
    return with_b.astype(jnp.uint8)


def _rule(kind: jax.Array, x: jax.Array, z: jax.Array, product: jax.Array) -> jax.Array:
    """The rule encoding `uint8 [7]`: `[id, x, product, 0, 0]` for the one-input rules,
    `[id, x, z, product]` for `TileNear`."""
    one_input = jnp.concatenate([kind[None], x, product, jnp.zeros(2, jnp.int32)])
    two_inputs = jnp.concatenate([kind[None], x, z, product])
    return jnp.where(kind == RULE_TILE_NEAR, two_inputs, one_input).astype(jnp.uint8)


def sample_ruleset(key: jax.Array, config: RulesetConfig, simplest: bool = False):
    """One task: an `xminigrid.types.RuleSet` with the shapes of the module doc. With
    `simplest`, depth 0 and no distractors (the goal's objects alone; same shapes)."""
    keys = jax.random.split(key, 8)
    n = config.num_objects
    drawn = jnp.asarray(OBJECTS, jnp.int32)[jax.random.permutation(keys[0], len(OBJECTS))]
    # The first n are the slots; distractor rules' products come after, appearing nowhere else.
    objects, products = drawn[:n], drawn[n:]
    # Slot layout: [goal a, goal b | chain x_k, z_k ... | distractor x_j, z_j ... | extra].
    chain0, dist0 = 2, 2 + 2 * config.max_depth
    extra0 = dist0 + 2 * config.max_distractor_rules

    goal_kind = jnp.asarray((GOAL_AGENT_HOLD, GOAL_AGENT_NEAR, GOAL_TILE_NEAR))[
        jax.random.randint(keys[1], (), 0, 3)
    ]
    goal = _goal(goal_kind, objects[0], objects[1])
    needed = jnp.zeros(n, bool).at[0].set(True).at[1].set(goal_kind == GOAL_TILE_NEAR)

    depth = 0 if simplest else jax.random.randint(keys[2], (), 0, config.max_depth + 1)
    rule_kinds = jnp.asarray((RULE_AGENT_HOLD, RULE_AGENT_NEAR, RULE_TILE_NEAR))
    rules = []
    for k in range(config.max_depth):
        pick_key, kind_key = jax.random.split(jax.random.fold_in(keys[3], k))
        target = jax.random.choice(pick_key, n, p=needed / needed.sum())
        kind = rule_kinds[jax.random.randint(kind_key, (), 0, 3)]
        x, z = chain0 + 2 * k, chain0 + 2 * k + 1
        active = k < depth
        rules.append(jnp.where(active, _rule(kind, objects[x], objects[z], objects[target]), 0))
        replaced = needed.at[target].set(False).at[x].set(True)
        replaced = replaced.at[z].set(kind == RULE_TILE_NEAR)
        needed = jnp.where(active, replaced, needed)

    num_distractor_rules = (
        0 if simplest else jax.random.randint(keys[4], (), 0, config.max_distractor_rules + 1)
    )
    present = needed
    for j in range(config.max_distractor_rules):
        kind = rule_kinds[jax.random.randint(jax.random.fold_in(keys[5], j), (), 0, 3)]
        x, z = dist0 + 2 * j, dist0 + 2 * j + 1
        active = j < num_distractor_rules
        rules.append(jnp.where(active, _rule(kind, objects[x], objects[z], products[j]), 0))
        present = present.at[x].set(active).at[z].set(active & (kind == RULE_TILE_NEAR))

    num_extra = (
        0 if simplest else jax.random.randint(keys[6], (), 0, config.max_distractor_objects + 1)
    )
    for i in range(config.max_distractor_objects):
        present = present.at[extra0 + i].set(i < num_extra)

    init_tiles = jnp.where(present[:, None], objects, 0).astype(jnp.uint8)
    # xminigrid scans over the rules, so a task without rule slots keeps one empty rule.
    rules = jnp.stack(rules).astype(jnp.uint8) if rules else jnp.zeros((1, RULE_LEN), jnp.uint8)
    return RuleSet(goal=goal, rules=rules, init_tiles=init_tiles)


# --- a plain-Python reference -----------------------------------------------------------------


def _pair(row: Iterable[int], i: int) -> tuple[int, int]:
    row = list(row)
    return int(row[i]), int(row[i + 1])


def well_formed(goal: np.ndarray, rules: np.ndarray, init_tiles: np.ndarray) -> str | None:
    """Why a generated task is malformed, or None: known ids, pickable objects in valid
    colours, padding that is all zeros, and every object distinct."""
    objects = {tuple(int(v) for v in o) for o in OBJECTS}
    goal, rules, init_tiles = (np.asarray(a).astype(int) for a in (goal, rules, init_tiles))
    if goal[0] not in (GOAL_AGENT_HOLD, GOAL_AGENT_NEAR, GOAL_TILE_NEAR):
        return f"goal id {goal[0]}"
    used = [_pair(goal, 1)] + ([_pair(goal, 3)] if goal[0] == GOAL_TILE_NEAR else [])
    if goal[0] != GOAL_TILE_NEAR and goal[3:].any():
        return "goal padding"
    for rule in rules:
        if rule[0] == 0:
            if rule.any():
                return "empty rule with content"
            continue
        if rule[0] not in (RULE_AGENT_HOLD, RULE_AGENT_NEAR, RULE_TILE_NEAR):
            return f"rule id {rule[0]}"
        width = 3 if rule[0] == RULE_TILE_NEAR else 2
        used += [_pair(rule, 1 + 2 * i) for i in range(width)]
        if rule[1 + 2 * width :].any():
            return "rule padding"
    tiles = [tuple(int(v) for v in t) for t in init_tiles if t.any()]
    if any(t not in objects for t in [*used, *tiles]):
        return "an object that is not a pickable tile in a colour"
    if len(set(tiles)) != len(tiles):
        return "an initial object twice"
    return None


def reference_solvable(goal: np.ndarray, rules: np.ndarray, init_tiles: np.ndarray) -> bool:
    """Whether the goal can be reached by applying rules to the initial objects, ignoring
    space (an open room): a breadth-first search over the multisets of objects in the world.
    `AgentHold(x -> y)` and `AgentNear(x -> y)` turn an `x` into a `y`; `TileNear(x, z -> y)`
    turns an `x` and a `z` into one `y`. The goal needs its object (two for `TileNear`)."""
    goal, rules = np.asarray(goal).astype(int), np.asarray(rules).astype(int)
    start = tuple(sorted(tuple(int(v) for v in t) for t in np.asarray(init_tiles) if t.any()))

    def done(world: tuple) -> bool:
        a = _pair(goal, 1)
        if goal[0] == GOAL_TILE_NEAR:
            b = _pair(goal, 3)
            return (a in world and b in world) if a != b else world.count(a) >= 2
        return a in world

    seen, frontier = {start}, [start]
    while frontier:
        world = frontier.pop()
        if done(world):
            return True
        for rule in rules:
            if rule[0] == 0:
                continue
            items = list(world)
            if rule[0] == RULE_TILE_NEAR:
                x, z, product = _pair(rule, 1), _pair(rule, 3), _pair(rule, 5)
                if x not in items:
                    continue
                items.remove(x)
                if z not in items:
                    continue
                items.remove(z)
            else:
                x, product = _pair(rule, 1), _pair(rule, 3)
                if x not in items:
                    continue
                items.remove(x)
            nxt = tuple(sorted([*items, product]))
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return False
