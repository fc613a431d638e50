"""gymnax classic-control envs with their physical constants as tasks (`task_space.py`).

Importing this package registers, for each env in `PARAMETERS`, `<env>-params` (e.g.
`CartPole-v1-params`: a `TaskParamsEnv`, whose state carries its parameter vector) with
`rljax.make`, and the `"classic"` task space (`ClassicConfig`) with
`rljax.task_space.register_task_space`. Keyword arguments to `rljax.make` override fields of
the base `EnvParams` (e.g. `max_steps_in_episode`).
"""

from __future__ import annotations

from functools import partial

from envs.classic.task_space import (
    PARAMETERS,
    SUCCESS_THRESHOLDS,
    ClassicConfig,
    ClassicTaskSpace,
    TaskParamsEnv,
    TaskParamsState,
    default_task,
    make_params_env,
    params_from_task,
    params_name,
)
from rljax.environment import register

for _name in PARAMETERS:
    register(params_name(_name), partial(make_params_env, _name))

__all__ = [
    "PARAMETERS",
    "SUCCESS_THRESHOLDS",
    "ClassicConfig",
    "ClassicTaskSpace",
    "TaskParamsEnv",
    "TaskParamsState",
    "default_task",
    "make_params_env",
    "params_from_task",
    "params_name",
]
