"""Config validation shared by every algorithm's config dataclass.

Configs are validated when constructed (on the host, before anything compiles), and every
error names the field, the bad value and what to do instead.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config field has a bad value. The message names the field and the fix."""


def fail(config: Any, field: str, problem: str, fix: str) -> None:
    value = getattr(config, field)
    flag = "--" + field.replace("_", "-")
    raise ConfigError(
        f"{type(config).__name__}.{field}={value!r} {problem}. Fix: {fix} (CLI flag {flag})."
    )


def check_positive(config: Any, *fields: str) -> None:
    for field in fields:
        if not getattr(config, field) > 0:
            fail(config, field, "must be > 0", f"pass a positive {field}")


def check_non_negative(config: Any, *fields: str) -> None:
    for field in fields:
        if not getattr(config, field) >= 0:
            fail(config, field, "must be >= 0", f"pass a {field} of 0 or more")


def check_unit_interval(config: Any, *fields: str) -> None:
    for field in fields:
        if not 0.0 <= getattr(config, field) <= 1.0:
            fail(config, field, "must lie in [0, 1]", f"pass a {field} between 0 and 1")


def check_choice(config: Any, field: str, choices: tuple[str, ...]) -> None:
    if getattr(config, field) not in choices:
        fail(config, field, "is not a valid choice", f"use one of {', '.join(choices)}")


def check_hidden_sizes(config: Any, field: str = "hidden_sizes") -> None:
    sizes = getattr(config, field)
    if not sizes or min(sizes) <= 0:
        fail(config, field, "must be a non-empty list of positive sizes", "e.g. 64 64")


def check_rollout_batch(config: Any) -> None:
    """The batch of an on-policy rollout: num_envs * num_steps, split into num_minibatches."""
    batch = config.num_envs * config.num_steps
    if batch % config.num_minibatches:
        fail(
            config,
            "num_minibatches",
            f"does not divide the batch num_envs * num_steps = "
            f"{config.num_envs} * {config.num_steps} = {batch}",
            f"pick num_minibatches among the divisors of {batch}, or change num_envs/num_steps",
        )
    if config.total_timesteps < batch:
        fail(
            config,
            "total_timesteps",
            f"is less than one rollout of num_envs * num_steps = {batch}",
            f"pass total_timesteps >= {batch}",
        )


def traced_coefficients(config: Any, hparams_type: type, **overrides: Any) -> Any:
    """Build `hparams_type` (a flax.struct.dataclass of traced leaves) from the config fields
    of the same names, as float32 scalars; `overrides` supply fields the config does not
    hold by name (e.g. PPO's drift meta-parameters)."""
    import dataclasses

    import jax.numpy as jnp

    values = {
        f.name: jnp.asarray(getattr(config, f.name), jnp.float32)
        for f in dataclasses.fields(hparams_type)
        if f.name not in overrides
    }
    return hparams_type(**values, **overrides)
