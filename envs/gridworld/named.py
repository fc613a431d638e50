"""LPG's reference gridworlds as named levels (Oh et al. 2020, "Discovering Reinforcement
Learning Algorithms", NeurIPS; its appendix lists the training gridworlds).

Tabular gridworlds (objects respawn at their own cells; `TABULAR_NAMES`), as
the project's paper notes give them and as the public JAX reference (EmptyJackson/groove,
`environments/gridworld/configs.py`, commit 0c091c0) configures them:

    name        grid   objects (type: count)   reward    p_terminate  p_respawn       steps
    dense       11x11  0: 2, 1: 1, 2: 1        1/-1/-1   0/.5/0       .05/.1/.5        500
    sparse      13x13  0: 1, 1: 1              1/-1      1/1          0/0               50
    long        11x11  0: 2, 1: 2              1/-1      0/.5         .01/1           1000
    longer       9x9   0: 2, 1: 5              1/-1      .1/.8        .01/1           2000
    long_dense  11x11  0: 4                    1         0            .005            2000

`longer` has a wall down column 4 with gaps in rows 1 and 7; `long_dense` a cross of walls
(column 5 with gaps in rows 0 and 7, row 4 with gaps in columns 2 and 8); the others have no
walls. These agree with the reference except:

* `longer` has 7 objects (2 positive, 5 negative) as in PAPERS.md and the paper; the
  reference cuts it to 5 (2 and 3) to fit its 5 object slots, recording the paper's counts
  in a comment. rljax pads to MAX_OBJECTS = 7 to keep the paper's level.
* Cells. Neither PAPERS.md nor the reference fixes where the start and the objects are: the
  reference draws them at random each time it builds a level (`reset_env_params`). Fixed
  held-out levels need fixed cells, so these are rljax's choice; `dense` uses the cells of
  the reference's `GridWorld.default_params` (start [0, 0]; objects [1, 3], [3, 7], [8, 7],
  [9, 2]).
* PAPERS.md gives `long` as "4 objects, 1/-1"; the split, two of each type, is the
  reference's.

Random gridworlds (`RANDOM_NAMES`; objects start every episode and respawn on random free
cells): PAPERS.md only says "random variants respawn objects at random positions". The
reference's random set, used here with its values, is not one random copy per tabular level:

    name             grid   objects         reward  p_terminate  p_respawn  steps  walls
    rand_dense       11x11  as dense                                          500
    rand_long        11x11  as long                                          1000
    rand_small        7x7   0: 2, 1: 2      1/-1    0/.5         .05/.1       500  [1,2],[3,4]
    rand_sparse       7x7   0: 1, 1: 2      1/-1    1/1          1/1           50
    rand_very_dense  11x11  0: 1            1       0            1           2000

(rand_small's walls are the reference's flat indices 9 and 25 read with its 7-cell rows.)
The reference has no random `longer` or `long_dense`. *(Check the paper's appendix table
before citing these five as the paper's.)* Their `obj_pos` is what `optimal_return` and
`render` use; the env places the objects at random.
"""

from __future__ import annotations

import functools

import numpy as np

from envs.gridworld.level import GridLevel, make_level

TABULAR_NAMES = ("dense", "sparse", "long", "longer", "long_dense")
RANDOM_NAMES = ("rand_dense", "rand_long", "rand_small", "rand_sparse", "rand_very_dense")


def _longer_walls() -> list[tuple[int, int]]:
    return [(r, 4) for r in range(9) if r not in (1, 7)]


def _long_dense_walls() -> list[tuple[int, int]]:
    column = {(r, 5) for r in range(11) if r not in (0, 7)}
    row = {(4, c) for c in range(11) if c not in (2, 8)}
    return sorted(column | row)


def _dense(random_respawn: bool) -> GridLevel:
    return make_level(
        11,
        11,
        start=(0, 0),
        objects=[(1, 3, 0), (3, 7, 0), (8, 7, 1), (9, 2, 2)],
        reward=(1.0, -1.0, -1.0),
        p_terminate=(0.0, 0.5, 0.0),
        p_respawn=(0.05, 0.1, 0.5),
        max_steps=500,
        random_respawn=random_respawn,
    )


def _long(random_respawn: bool) -> GridLevel:
    return make_level(
        11,
        11,
        start=(5, 5),
        objects=[(1, 1, 0), (9, 9, 0), (1, 9, 1), (9, 1, 1)],
        reward=(1.0, -1.0),
        p_terminate=(0.0, 0.5),
        p_respawn=(0.01, 1.0),
        max_steps=1000,
        random_respawn=random_respawn,
    )


def _build() -> dict[str, GridLevel]:
    levels = {
        "dense": _dense(False),
        "sparse": make_level(
            13,
            13,
            start=(0, 0),
            objects=[(10, 11, 0), (5, 6, 1)],
            reward=(1.0, -1.0),
            p_terminate=(1.0, 1.0),
            p_respawn=(0.0, 0.0),
            max_steps=50,
        ),
        "long": _long(False),
        "longer": make_level(
            9,
            9,
            start=(4, 0),
            objects=[(0, 8, 0), (8, 8, 0), (1, 2, 1), (4, 6, 1), (7, 2, 1), (2, 7, 1), (6, 7, 1)],
            reward=(1.0, -1.0),
            p_terminate=(0.1, 0.8),
            p_respawn=(0.01, 1.0),
            max_steps=2000,
            walls=_longer_walls(),
        ),
        "long_dense": make_level(
            11,
            11,
            start=(0, 0),
            objects=[(2, 2, 0), (2, 8, 0), (8, 2, 0), (8, 8, 0)],
            reward=(1.0,),
            p_terminate=(0.0,),
            p_respawn=(0.005,),
            max_steps=2000,
            walls=_long_dense_walls(),
        ),
        "rand_dense": _dense(True),
        "rand_long": _long(True),
        "rand_small": make_level(
            7,
            7,
            start=(0, 0),
            objects=[(5, 5, 0), (2, 5, 0), (5, 1, 1), (1, 4, 1)],
            reward=(1.0, -1.0),
            p_terminate=(0.0, 0.5),
            p_respawn=(0.05, 0.1),
            max_steps=500,
            walls=[(1, 2), (3, 4)],
            random_respawn=True,
        ),
        "rand_sparse": make_level(
            7,
            7,
            start=(0, 0),
            objects=[(6, 6, 0), (3, 3, 1), (0, 6, 1)],
            reward=(1.0, -1.0),
            p_terminate=(1.0, 1.0),
            p_respawn=(1.0, 1.0),
            max_steps=50,
            random_respawn=True,
        ),
        "rand_very_dense": make_level(
            11,
            11,
            start=(5, 5),
            objects=[(2, 8, 0)],
            reward=(1.0,),
            p_terminate=(0.0,),
            p_respawn=(1.0,),
            max_steps=2000,
            random_respawn=True,
        ),
    }
    assert tuple(levels) == TABULAR_NAMES + RANDOM_NAMES
    return levels


@functools.cache
def _cached() -> dict[str, GridLevel]:
    import jax

    return {name: jax.tree.map(np.asarray, level) for name, level in _build().items()}


def named_levels(names: tuple[str, ...] | None = None) -> dict[str, GridLevel]:
    """name -> level (numpy leaves, canonical dtypes) for `names` (default: all ten, the
    tabular ones first)."""
    levels = _cached()
    return {name: levels[name] for name in (names or tuple(levels))}
