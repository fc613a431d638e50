"""The curriculum interface, the types it shares, and the registry of curricula by name.

A curriculum picks the tasks (levels) a learner trains on. It is three pure functions over
its own typed state, driven by a loop (`rljax.curricula.runner`):

    curriculum = make_curriculum(config, task_space, num_levels)
    state = curriculum.init(key, example_task, curriculum.hparams())
    state, tasks, info = curriculum.propose(state, key)       # tasks: leaves [num_levels, ...]
    ... reset envs onto `tasks`, collect, score (`rljax.curricula.scores.SCORES`) ...
    ... take a gradient step where `info.train` (and only there) ...
    state = curriculum.observe(state, tasks, info, score, max_returns)

Every step is one of three kinds (`info.step_type`): NEW tasks from the task space, a REPLAY
batch from a level buffer, or MUTATE (edited children of the last replay batch). A whole
batch shares the kind, as in PLR, and the kind is a traced value that selects a
`lax.switch` branch, so one compiled step serves them all. Where runs are vmapped together,
the branches go through `rljax.run_batch`, which keeps them real branches when every run of
the batch takes the same kind (the loop's shared step-kind coin makes that the rule). The
loop, not the curriculum, counts env steps, gradient updates and steps of each kind, from
`info`.

The methods live one per file and register themselves by name with their config class:

| name         | NEW tasks            | REPLAY         | MUTATE          | file      |
|--------------|----------------------|----------------|-----------------|-----------|
| `dr`         | `sample`, train      | never          | never           | dr.py     |
| `plr`        | `sample`, train      | train, rescore | never           | plr.py    |
| `robust_plr` | `sample`, no grad    | train, rescore | never           | plr.py    |
| `accel`      | `initial`, no grad   | train, rescore | no grad, insert | accel.py  |
| `alp_gmm`    | box or GMM, train    | never          | never           | alp_gmm.py|
| `sfl`        | candidates, no grad  | kept + new, train | never        | sfl.py    |
| `dred`       | dataset, no grad     | train, rescore | no grad, insert | dred.py   |

`make_curriculum(config, ...)` builds the curriculum registered for `type(config)`, so a run
config holds a curriculum config and nothing else names the method.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from rljax.config import ConfigError
from rljax.curricula.scores import LevelScore

NEW, REPLAY, MUTATE = 0, 1, 2
"""Values of `ProposeInfo.step_type`."""


@struct.dataclass
class ProposeInfo:
    """What `propose` tells the loop and `observe` about one batch."""

    step_type: jax.Array
    """int32 scalar: NEW, REPLAY or MUTATE."""
    train: jax.Array
    """bool scalar: whether the learner takes a gradient step on this batch."""
    indices: jax.Array
    """`[n]` int32: buffer slot of a replayed task, the parent's slot of a child, -1 if new."""
    max_returns: jax.Array
    """`[n]` float32: best return ever achieved on the task (MaxMC's R_max); -inf if
    unknown."""


@struct.dataclass
class CurriculumStats:
    """Scalars a loop reports about its curriculum."""

    buffer_fill: jax.Array
    """float32 scalar: filled fraction of the level buffer (0 without one)."""
    mean_score: jax.Array
    """float32 scalar: mean valid score of the last observed batch (NaN if none)."""


def new_tasks_info(num_levels: int, train: bool = True) -> ProposeInfo:
    """`ProposeInfo` of a batch of `num_levels` new tasks (no buffer slots, no known best
    returns) on which the learner trains (`train`)."""
    return ProposeInfo(
        step_type=jnp.int32(NEW),
        train=jnp.asarray(train),
        indices=jnp.full(num_levels, -1, jnp.int32),
        max_returns=jnp.full(num_levels, -jnp.inf, jnp.float32),
    )


def mean_valid_score(score: LevelScore) -> jax.Array:
    """float32 scalar: the mean of the valid scores `[n]`, NaN if none is valid."""
    num_valid = score.valid.sum()
    mean = jnp.where(
        num_valid > 0,
        jnp.where(score.valid, score.score, 0.0).sum() / jnp.maximum(num_valid, 1),
        jnp.nan,
    )
    return mean.astype(jnp.float32)


def no_score() -> jax.Array:
    """The `mean_score` of a curriculum that has observed nothing yet."""
    return jnp.full((), jnp.nan, jnp.float32)


class Curriculum:
    """Base class of the curricula: an instance holds static structure (config, task space,
    batch size); its methods are pure functions of a state pytree.

    Subclasses set `name` and `Config`, implement `init`, `propose` and `observe`, and are
    registered with `@register_curriculum`. `__init__` raises `rljax.ConfigError` when the
    config does not fit the task space or the batch size.
    """

    name: ClassVar[str]
    """Registry name, e.g. `robust_plr`."""
    Config: ClassVar[type]
    """The frozen config dataclass of the method."""
    ranks_by_score: ClassVar[bool] = True
    """Whether the method chooses tasks by their scores (then the loop refuses rollouts
    shorter than an episode unless `UEDConfig.partial_episodes`); DR does not."""

    step_coin: ClassVar[bool] = False
    """Whether the method draws each step's kind from a coin (PLR's replay-or-new) and its
    `propose` takes `coin_key=`: the loop passes a key shared by every run of a vmapped batch
    (`UEDConfig.step_kind_seed`), so the runs take the same kind and the batch computes only
    that kind's branch (`rljax.run_batch`)."""

    score_function: ClassVar[str | None] = None
    """The score (`rljax.curricula.scores.SCORES`) the method itself is defined by, which a
    loop uses instead of its configured one (ALP-GMM: `return`); None: the loop's choice."""

    def __init__(self, config: Any, task_space: Any, num_levels: int):
        self.config = config
        self.task_space = task_space
        self.num_levels = num_levels
        """Tasks per proposal: the env batch of one rollout (static: a shape)."""
        self.horizon: int | None = None
        """Curriculum steps in the whole run, set by the loop before it compiles (DRED
        anneals a weight over them); None outside a loop."""

    def hparams(self) -> Any:
        """The traced coefficients, a pytree that vmaps over runs."""
        return self.config.hparams()

    def init(self, key: jax.Array, example_task: Any, hparams: Any = None) -> Any:
        """An empty state for tasks shaped like `example_task` (no batch axis); `hparams`
        defaults to `self.hparams()`."""
        raise NotImplementedError

    def propose(self, state: Any, key: jax.Array) -> tuple[Any, Any, ProposeInfo]:
        """The next batch of `num_levels` tasks (leaves `[num_levels, ...]`) and what to do
        with them. A method with `step_coin` also takes `coin_key=` (None: drawn from
        `key`)."""
        raise NotImplementedError

    def observe(
        self,
        state: Any,
        tasks: Any,
        info: ProposeInfo,
        score: LevelScore,
        max_returns: jax.Array,
    ) -> Any:
        """Record the scores `[n]` of the proposed batch. `max_returns [n]` are the best
        finished-episode returns of this rollout (`scores.episode_returns(...).max`)."""
        raise NotImplementedError

    def stats(self, state: Any) -> CurriculumStats:
        """Scalars to report; without a buffer the fill is 0."""
        return CurriculumStats(jnp.zeros((), jnp.float32), state.mean_score)

    def top_tasks(self, state: Any, k: int) -> tuple[list[float], Any]:
        """Host side: the `k` best buffer tasks of one run (an unbatched state) and their
        scores, best first; `([], None)` without a buffer."""
        del state, k
        return [], None


# --- the registry ---------------------------------------------------------------------------

CURRICULA: dict[str, type] = {}
"""name -> curriculum class."""
_BY_CONFIG: dict[type, type] = {}
"""config class -> curriculum class."""


def register_curriculum(cls: type) -> type:
    """Class decorator: register `cls` under `cls.name` and its config class `cls.Config`."""
    CURRICULA[cls.name] = cls
    _BY_CONFIG[cls.Config] = cls
    return cls


def curriculum_class(config: Any) -> type:
    """The curriculum class registered for `type(config)` (the exact type: a subclass of a
    config is a different method)."""
    cls = _BY_CONFIG.get(type(config))
    if cls is None:
        known = ", ".join(f"{name} ({c.Config.__name__})" for name, c in CURRICULA.items())
        raise ConfigError(
            f"no curriculum is registered for the config type {type(config).__name__}. Fix: "
            f"pass the config of a registered curriculum, one of {known}, or register yours "
            "with @register_curriculum."
        )
    return cls


def make_curriculum(config: Any, task_space: Any, num_levels: int) -> Curriculum:
    """The curriculum for `config` over `task_space`, proposing `num_levels` tasks a step."""
    return curriculum_class(config)(config, task_space, num_levels)


__all__ = [
    "CURRICULA",
    "MUTATE",
    "NEW",
    "REPLAY",
    "Curriculum",
    "CurriculumStats",
    "ProposeInfo",
    "curriculum_class",
    "make_curriculum",
    "mean_valid_score",
    "new_tasks_info",
    "no_score",
    "register_curriculum",
]
