"""Config validation shared by every algorithm's config dataclass.

Configs are validated when constructed (on the host, before anything compiles), and every
error names the field, the bad value and what to do instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import io
import math
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any

import tyro


class ConfigError(ValueError):
    """A config field has a bad value. The message names the field and the fix."""


class CLIConfigError(Exception):
    """A `ConfigError` raised while the command line builds its (nested) configs. It is not a
    `ValueError`, so tyro lets it through instead of printing its own box, and the CLI names
    the full flag (`qualified_error`)."""

    def __init__(self, error: ConfigError, config_type: type, field: str):
        super().__init__(str(error))
        self.error, self.config_type, self.field = error, config_type, field


def choices(values: Iterable[str]) -> Any:
    """CLI metadata for a str field with a fixed set of values: `--help` shows them as
    `{a,b,c}` instead of a bare STR (`field: Annotated[str, choices(("a", "b"))]`)."""
    return tyro.conf.arg(metavar="{" + ",".join(values) + "}")


ACTIVATIONS = ("tanh", "relu")
NETWORKS = ("auto", "mlp", "minatar_cnn", "grid_cnn")
Activation = Annotated[str, choices(ACTIVATIONS)]
"""An MLP's activation (`--activation {tanh,relu}`)."""
GRAD_CLIPS = ("global_norm", "element")
GradClip = Annotated[str, choices(GRAD_CLIPS)]
"""How gradients are clipped (`--grad-clip {global_norm,element}`; `rljax.optim.gradient_clip`)."""
Network = Annotated[str, choices(NETWORKS)]
"""A torso (`--network {auto,mlp,minatar_cnn,grid_cnn}`)."""
EnvName = Annotated[
    str,
    tyro.conf.arg(metavar="{GYMNAX-NAME,brax/NAME,xminigrid/NAME,playground/NAME,REGISTERED-NAME}"),
]
"""An env name `rljax.make` resolves (a bad one is refused with the known names)."""


_PARSING = contextvars.ContextVar("rljax_cli_parsing", default=False)


@contextlib.contextmanager
def cli_parsing():
    """Within: `fail` raises `CLIConfigError` (see there), and tyro's own parse errors (a
    value that is not a number, an unknown flag, a flag before its subcommand) come out as one
    `error:` line on stderr (`tyro_error_line`) with exit status 2 instead of a box. `--help`
    and everything else written to stderr pass through unchanged."""
    token = _PARSING.set(True)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except SystemExit as stop:
        line = tyro_error_line(captured.getvalue()) if stop.code not in (0, None) else ""
        if not line:
            sys.stderr.write(captured.getvalue())
            raise
        print(f"error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise
    else:
        sys.stderr.write(captured.getvalue())
    finally:
        _PARSING.reset(token)


_RULE = set("│╭╮╰╯─-+|= ")


def tyro_error_line(text: str) -> str:
    """tyro's error box as one line: its message (lines joined; the box wraps them), then
    `Fix:` with the expected flag and type where the box shows them. "" if `text` holds no
    tyro box (recognised by its "For full helptext" footer, drawn with box characters on a
    terminal and with ASCII rules otherwise)."""
    if "For full helptext" not in text:
        return ""
    lines = [line.strip().strip("│|").strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not set(line) <= _RULE]
    message: list[str] = []
    expected: list[str] = []
    part = message
    for line in lines[1:]:  # lines[0] is the box's title, e.g. "Value error"
        if line.startswith("For full helptext"):
            break
        if line.startswith("Argument helptext"):
            part = expected
            continue
        part.append(line)
    if not message:
        return ""
    text = " ".join(message)
    if "directly preceding subcommand" in text:  # a subcommand's flag before the subcommand
        flags = list(dict.fromkeys(re.findall(r"(--[\w.-]+) \(applied to", text)))
        subcommands = list(dict.fromkeys(re.findall(r"\.py ([\w:-]+) --help", text)))
        if flags and subcommands:
            return (
                f"{', '.join(flags)} must come after the subcommand it belongs to. Fix: name "
                f"the subcommand first, e.g. `{subcommands[0]} {flags[0]} ...` (subcommands "
                f"with this flag: {', '.join(subcommands)})."
            )
    text, _, suggestion = text.partition(" Perhaps you meant:")
    fix = f"pass {expected[0]}" if expected else "check the flags and their order"
    meant = re.search(r"--[\w.-]+", suggestion)
    if meant:
        fix = f"did you mean {meant.group()}?"
    return f"{text.rstrip('.')}. Fix: {fix} (--help lists every flag)."


def fail(config: Any, field: str, problem: str, fix: str) -> None:
    value = getattr(config, field)
    flag = "--" + field.replace("_", "-")
    error = ConfigError(
        f"{type(config).__name__}.{field}={value!r} {problem}. Fix: {fix} (CLI flag {flag})."
    )
    if _PARSING.get():
        raise CLIConfigError(error, type(config), field)
    raise error


def dataclass_types(annotation: Any) -> list[type]:
    """The dataclasses an annotation admits (through Annotated, unions and Optional)."""
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return [annotation]  # (not a dataclass instance, e.g. tyro's subcommand marker)
    return [t for arg in typing.get_args(annotation) for t in dataclass_types(arg)]


def field_types(config_type: type) -> dict[str, Any]:
    """The resolved annotation of each field of a dataclass (the raw ones where a name cannot
    be resolved, e.g. in a class made at run time)."""
    try:
        return typing.get_type_hints(config_type, include_extras=True)
    except NameError:
        return {f.name: f.type for f in dataclasses.fields(config_type)}


def config_paths(root: type, target: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every field path from the dataclass `root` to a nested config of type `target` (the
    field named `config` of the CLI's argument class is flattened, as the CLI does)."""
    found = [prefix] if root is target else []
    hints = field_types(root)
    for field in dataclasses.fields(root):
        name = () if (not prefix and field.name == "config") else (field.name,)
        for kind in dataclass_types(hints.get(field.name)):
            if kind is not root:
                found += config_paths(kind, target, prefix + name)
    return found


def qualified_error(error: CLIConfigError, root: type, argv: list[str]) -> ConfigError:
    """`error` naming the full flag the user typed (`--learner.learning-rate`): the path to the
    failing config inside `root` whose flag is in `argv`, else the first path found."""
    paths = config_paths(root, error.config_type) or [()]
    flags = ["--" + ".".join((*p, error.field)).replace("_", "-") for p in paths]
    typed = [f for f in flags if any(a == f or a.startswith(f + "=") for a in argv)]
    flag = (typed or flags)[0]
    short = "--" + error.field.replace("_", "-")
    return ConfigError(str(error).replace(f"(CLI flag {short})", f"(CLI flag {flag})"))


def line_buffered_stdout() -> None:
    """Flush stdout at every newline when it is a file or a pipe (Python block-buffers it
    then); a terminal already is line-buffered."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and not sys.stdout.isatty():
        reconfigure(line_buffering=True)


def parse_cli(parse: Callable[[], Any], root: type, argv: list[str]) -> Any:
    """`parse()` (a tyro call) within `cli_parsing`; a nested config's error comes out naming
    the full flag inside `root` (`qualified_error`). Every command line comes through here,
    so stdout is made line-buffered here too: a run's summary lines reach a log file or a
    pipe as they are printed, not when the buffer fills or the run ends."""
    line_buffered_stdout()
    try:
        with cli_parsing():
            return parse()
    except CLIConfigError as error:
        raise qualified_error(error, root, argv) from None


def _type_name(kind: Any) -> str:
    kind = _unannotated(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(k) for k in typing.get_args(kind))
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return f"({', '.join(_type_name(a) for a in args)})"
    return "None" if kind is type(None) else getattr(kind, "__name__", str(kind))


def _a(noun: str) -> str:
    """`noun` with its indefinite article: "an int", "a float"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _unannotated(kind: Any) -> Any:
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _matches(value: Any, kind: Any) -> bool:
    """Whether `value` fits the field annotation `kind` (unknown kinds always fit)."""
    import numpy as np

    kind = _unannotated(kind)
    origin = typing.get_origin(kind)
    if kind is Any or isinstance(kind, (str, typing.TypeVar)):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, (bool, np.bool_))
    if kind is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if kind is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        )
    if kind is str:
        return isinstance(value, str)
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(map(_matches, value, args))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return isinstance(value, kind)
    return True


def check_types(config: Any) -> None:
    """Refuse a field whose value does not fit its annotation (`learning_rate='1e-3'`,
    `hidden_sizes=64`, `env=5`), naming the field and the type it needs; the first check of
    every config, so later checks never meet a wrong type."""
    hints = field_types(type(config))
    for field in dataclasses.fields(config):
        kind = hints.get(field.name, Any)
        if not _matches(getattr(config, field.name), kind):
            value = getattr(config, field.name)
            fail(
                config,
                field.name,
                f"is {_a(type(value).__name__)}, not {_a(_type_name(kind))}",
                f"pass {_a(_type_name(kind))}",
            )


def check_finite(config: Any, *fields: str) -> None:
    """Refuse nan and +-inf (a float field that passed `> 0` could still be inf)."""
    for field in fields:
        value = getattr(config, field)
        if value is None or isinstance(value, (str, bytes, tuple, list, dict)):
            fail(config, field, f"is {_a(type(value).__name__)}, not a number", "pass a number")
        if isinstance(value, float) and not math.isfinite(value):
            fail(config, field, "must be finite", f"pass a finite {field}")


def check_positive(config: Any, *fields: str) -> None:
    check_finite(config, *fields)
    for field in fields:
        if not getattr(config, field) > 0:
            fail(config, field, "must be > 0", f"pass a positive {field}")


def check_non_negative(config: Any, *fields: str) -> None:
    check_finite(config, *fields)
    for field in fields:
        if not getattr(config, field) >= 0:
            fail(config, field, "must be >= 0", f"pass a {field} of 0 or more")


def check_unit_interval(config: Any, *fields: str) -> None:
    check_finite(config, *fields)
    for field in fields:
        if not 0.0 <= getattr(config, field) <= 1.0:
            fail(config, field, "must lie in [0, 1]", f"pass a {field} between 0 and 1")


def check_choice(config: Any, field: str, allowed: tuple[str, ...]) -> None:
    if getattr(config, field) not in allowed:
        fail(config, field, "is not a valid choice", f"use one of {', '.join(allowed)}")


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
    check_one_rollout(config)


def check_one_rollout(config: Any) -> None:
    """total_timesteps covers at least one rollout of num_envs * num_steps."""
    batch = config.num_envs * config.num_steps
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
