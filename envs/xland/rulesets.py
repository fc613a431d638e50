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


# --- edits (ACCEL's mutations of a task) -------------------------------------------------------

EDITS = (
    "deepen",  # a needed object is now made by a new production rule from fresh objects
    "shallow",  # the last production rule is undone: its product is placed instead
    "add_distractor_rule",  # a dead-end rule on fresh objects, with a fresh product
    "remove_distractor_rule",  # the last distractor rule and its inputs go
    "add_object",  # a fresh object nothing uses
    "remove_object",  # an object nothing uses goes
    "flip_goal",  # AgentHold(a) <-> AgentNear(a) (a TileNear goal is kept)
)


def _matches(pairs: jax.Array, objects: jax.Array) -> jax.Array:
    """`[..., k]`: whether each pair `[..., 2]` equals each of `objects [k, 2]`."""
    return (pairs[..., None, :] == objects).all(-1)


def _task_objects(goal, rules, init_tiles) -> jax.Array:
    """`[k, 2]` every object slot of a task (goal's two, each rule's three, the initial
    objects); empty slots are `(0, 0)`, which is no object."""
    return jnp.concatenate(
        [goal[1:5].reshape(2, 2), rules[:, 1:7].reshape(-1, 2), init_tiles]
    ).astype(jnp.int32)


def _place(init_tiles: jax.Array, obj: jax.Array, apply: jax.Array) -> jax.Array:
    """`init_tiles` with `obj` in its first empty slot where `apply` (there is always one when
    the counts are within the config's bounds: see `mutate_ruleset`)."""
    slot = jnp.argmin(init_tiles.any(-1))
    return jnp.where(apply, init_tiles.at[slot].set(obj), init_tiles)


def _remove(init_tiles: jax.Array, obj: jax.Array, apply: jax.Array) -> jax.Array:
    """`init_tiles` without `obj` where `apply`."""
    here = (init_tiles == obj).all(-1) & apply
    return jnp.where(here[:, None], 0, init_tiles)


def mutate_ruleset(key: jax.Array, task, config: RulesetConfig, num_edits: int):
    """`num_edits` random edits of a task (ACCEL's editor, Parker-Holder et al. 2022, Sec. 3,
    for XLand rulesets): each draws one of the `EDITS` that applies to the task (uniformly
    among those) and keeps the task well-formed and solvable: every object stays distinct,
    new objects are fresh (in no slot of the task), and the counts stay within `config`
    (production rules <= max_depth, distractor rules <= max_distractor_rules, unused objects
    <= max_distractor_objects), so the shapes of `sample_ruleset` hold them. A task where
    no edit applies is returned unchanged.

    The edits keep `sample_ruleset`'s row layout (production rules in the first
    `max_depth` rows, active ones first; distractor rules after), which is how they tell
    production from distractor rules; initial objects may sit in any slot."""
    depth_rows = config.max_depth
    objects = jnp.asarray(OBJECTS, jnp.int32)
    rule_kinds = jnp.asarray((RULE_AGENT_HOLD, RULE_AGENT_NEAR, RULE_TILE_NEAR))

    def edit(task, key):
        goal, rules = task.goal.astype(jnp.int32), task.rules.astype(jnp.int32)
        init = task.init_tiles.astype(jnp.int32)
        kind_key, pick_key, fresh_key, rule_key = jax.random.split(key, 4)
        fresh_free = ~_matches(_task_objects(goal, rules, init), objects).any(0)  # [66]
        fresh = objects[
            jax.random.choice(fresh_key, len(OBJECTS), (3,), replace=False, p=fresh_free)
        ]
        rule_kind = rule_kinds[jax.random.randint(rule_key, (), 0, 3)]
        enough_fresh = fresh_free.sum() >= 3

        active = rules[:, 0] > 0
        depth = active[:depth_rows].sum()
        num_distractors = active[depth_rows:].sum() if config.max_distractor_rules else 0
        present = init.any(-1)
        # Objects a rule or the goal uses; the rest are the unused distractor objects.
        inputs = jnp.concatenate(
            [goal[1:5].reshape(2, 2), jnp.where(active[:, None], rules[:, 1:5], 0).reshape(-1, 2)]
        )
        used = _matches(init, inputs).any(-1) & present
        unused = present & ~used
        # Objects the goal needs (the goal's, the production rules' inputs), present now.
        chain_inputs = jnp.where(
            (jnp.arange(len(rules)) < depth_rows)[:, None] & active[:, None], rules[:, 1:5], 0
        ).reshape(-1, 2)
        needed_objects = jnp.concatenate([goal[1:5].reshape(2, 2), chain_inputs])
        needed = _matches(init, needed_objects).any(-1) & present

        # deepen: a needed object t is now made from fresh x (and z for TileNear).
        target = jax.random.choice(pick_key, len(init), p=needed / jnp.maximum(needed.sum(), 1))
        row = jnp.minimum(depth, max(depth_rows - 1, 0))
        deep_rules = rules.at[row].set(
            _rule(rule_kind, fresh[0], fresh[1], init[target]).astype(jnp.int32)
        )
        deep_init = init.at[target].set(fresh[0])
        deep_init = _place(deep_init, fresh[1], rule_kind == RULE_TILE_NEAR)

        # shallow: undo the last production rule: its product replaces its inputs.
        last = rules[jnp.maximum(depth - 1, 0)]
        last_two = last[0] == RULE_TILE_NEAR
        product = jnp.where(last_two, last[5:7], last[3:5])
        shallow_init = _remove(init, last[3:5], last_two)
        shallow_init = jnp.where(
            (shallow_init == last[1:3]).all(-1)[:, None], product, shallow_init
        )
        shallow_rules = rules.at[jnp.maximum(depth - 1, 0)].set(0)

        # distractor rules: rows depth_rows + j, active ones first.
        d_row = depth_rows + jnp.minimum(num_distractors, max(config.max_distractor_rules - 1, 0))
        add_d_rules = rules.at[d_row].set(
            _rule(rule_kind, fresh[0], fresh[1], fresh[2]).astype(jnp.int32)
        )
        add_d_init = _place(init, fresh[0], True)
        add_d_init = _place(add_d_init, fresh[1], rule_kind == RULE_TILE_NEAR)
        r_row = depth_rows + jnp.maximum(num_distractors - 1, 0)
        removed = rules[r_row]
        rm_d_init = _remove(init, removed[1:3], True)
        rm_d_init = _remove(rm_d_init, removed[3:5], removed[0] == RULE_TILE_NEAR)
        rm_d_rules = rules.at[r_row].set(0)

        # objects nothing uses.
        add_o_init = _place(init, fresh[0], True)
        drop = jax.random.choice(pick_key, len(init), p=unused / jnp.maximum(unused.sum(), 1))
        rm_o_init = init.at[drop].set(0)

        flipped = jnp.where(goal[0] == GOAL_AGENT_HOLD, GOAL_AGENT_NEAR, GOAL_AGENT_HOLD)
        flip_goal = goal.at[0].set(flipped)

        valid = jnp.stack(
            [
                (depth < config.max_depth) & enough_fresh,
                depth > 0,
                (num_distractors < config.max_distractor_rules) & enough_fresh,
                num_distractors > 0,
                (unused.sum() < config.max_distractor_objects) & enough_fresh,
                unused.sum() > 0,
                goal[0] != GOAL_TILE_NEAR,
            ]
        )
        choice = jax.random.choice(kind_key, len(EDITS), p=valid / jnp.maximum(valid.sum(), 1))
        candidates = [
            (goal, deep_rules, deep_init),
            (goal, shallow_rules, shallow_init),
            (goal, add_d_rules, add_d_init),
            (goal, rm_d_rules, rm_d_init),
            (goal, rules, add_o_init),
            (goal, rules, rm_o_init),
            (flip_goal, rules, init),
        ]
        candidates.append((goal, rules, init))  # where no edit applies
        pick = jnp.where(valid.any(), choice, len(EDITS))
        new_goal, new_rules, new_init = (
            jnp.stack(parts)[pick] for parts in zip(*candidates, strict=True)
        )
        new = task.replace(
            goal=new_goal.astype(jnp.uint8),
            rules=new_rules.astype(jnp.uint8),
            init_tiles=new_init.astype(jnp.uint8),
        )
        return new, None

    task, _ = jax.lax.scan(edit, task, jax.random.split(key, num_edits))
    return task


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
