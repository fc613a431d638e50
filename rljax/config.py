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
