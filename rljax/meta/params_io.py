"""Meta-parameter files: a drift's meta-parameters on disk, checked against the drift on load.

A file pair `NAME.npz` + `NAME.json`:

    NAME.npz   one array per leaf of the drift's meta-parameters, keyed by its path
               (`drift_params.w_hidden`, ...; `drift_params` for a scalar like PPO's epsilon)
    NAME.json  {"drift": name, "leaves": {path: shape}, ...}: the drift it is for, plus
               whatever the writer adds (the meta-training config, the generation, fitness)

An LPG rule's parameters use the same layout (`save_rule_params`, `load_rule_params`): leaves
under `rule_params`, and a .json naming the rule's structure (`{"rule": LPGRuleConfig
fields, ...}`) instead of a drift.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rljax.config import ConfigError
from rljax.objectives.drift import make_drift
from rljax.results import write_json

_ROOT = "drift_params"


def _leaf_paths(params: Any, root: str = _ROOT) -> list[tuple[str, Any]]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(root + jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a meta-parameter .npz, or a `ConfigError` saying what is wrong."""
    if not path.exists():
        raise ConfigError(
            f"meta-parameter file {path} does not exist. Fix: pass a .npz that "
            "`meta-train` wrote (meta_params_mean.npz or meta_params_best.npz)."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as error:  # text, pickle, truncated zip, ...
        raise ConfigError(
            f"{path} is not a meta-parameter file (numpy cannot read it as .npz: "
            f"{str(error).splitlines()[0][:120]}). Fix: pass a .npz that `meta-train` wrote "
            "(meta_params_mean.npz or meta_params_best.npz)."
        ) from None


def _fill(template: Any, arrays: dict, path: Path, root: str, what: str, fix: str) -> Any:
    """`template`'s tree with every leaf from `arrays` (by path), its shapes checked: a
    missing leaf or another shape is a `ConfigError` naming the leaf, `what` the template
    is for, and the `fix`."""
    leaves = []
    for name, leaf in _leaf_paths(template, root):
        expected = tuple(np.shape(leaf))
        if name not in arrays:
            raise ConfigError(
                f"{path} has no leaf {name} (it holds {sorted(arrays)}), which {what} needs "
                f"with shape {expected}. Fix: {fix}"
            )
        found = arrays[name].shape
        if found != expected:
            raise ConfigError(
                f"{path}: leaf {name} has shape {found}, but {what} expects {expected}. Fix: {fix}"
            )
        leaves.append(np.asarray(arrays[name], np.asarray(leaf).dtype))
    return jax.tree.unflatten(jax.tree.structure(template), leaves)


def save_drift_params(path: str | Path, drift: str, params: Any, info: Any = None) -> Path:
    """Write `params` (the drift's meta-parameters) to `path` (.npz) and its .json beside."""
    path = Path(path).with_suffix(".npz")
    arrays = {name: np.asarray(leaf) for name, leaf in _leaf_paths(params)}
    np.savez(path, **arrays)
    header = {"drift": drift, "leaves": {k: list(v.shape) for k, v in arrays.items()}}
    write_json(path.with_suffix(".json"), {**header, "info": info})
    return path


def load_drift_params(
    path: str | Path, drift: str | None = None, clip_eps: float = 0.2
) -> tuple[str, Any]:
    """`(drift name, meta-parameters)` from a file written by `save_drift_params`.

    The leaves must match `drift`'s own meta-parameters (`drift` defaults to the one the file
    names) leaf by leaf, in path and shape; a mismatch is a `ConfigError` naming the leaf.
    `clip_eps` builds the template (and fills nothing: every leaf comes from the file).
    """
    path = Path(path).with_suffix(".npz")
    arrays = _read_arrays(path)
    header_path = path.with_suffix(".json")
    saved_drift = None
    if header_path.exists():
        try:
            saved_drift = json.loads(header_path.read_text())["drift"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{header_path} does not name the drift of {path.name} (not the JSON "
                "`meta-train` writes). Fix: pass the drift explicitly (e.g. --drift lpo), or "
                "a file pair `meta-train` wrote."
            ) from None
    drift = drift or saved_drift
    if drift is None:
        raise ConfigError(
            f"{path} has no {header_path.name} naming its drift. Fix: pass the "
            "drift explicitly (e.g. --drift lpo)."
        )
    template = make_drift(drift).init_params(clip_eps)
    saved = f" (this one is for {saved_drift!r})" if saved_drift else ""
    fix = f"pass a file saved for drift={drift!r}{saved}, or the drift it was meta-trained with."
    return drift, _fill(template, arrays, path, _ROOT, f"drift={drift!r}", fix)


def save_rule_params(path: str | Path, rule: Any, params: Any, info: Any = None) -> Path:
    """Write an LPG rule's parameters (`LPGRuleParams`) to `path` (.npz) and a .json beside
    naming its structure (`rule`, an `LPGRuleConfig`)."""
    path = Path(path).with_suffix(".npz")
    arrays = {name: np.asarray(leaf) for name, leaf in _leaf_paths(params, "rule_params")}
    np.savez(path, **arrays)
    header = {
        "rule": dataclasses.asdict(rule),
        "leaves": {k: list(v.shape) for k, v in arrays.items()},
    }
    write_json(path.with_suffix(".json"), {**header, "info": info})
    return path


def load_rule_params(path: str | Path) -> tuple[Any, Any]:
    """`(LPGRuleConfig, LPGRuleParams)` from a file pair written by `save_rule_params`; every
    leaf's shape is checked against the structure the .json names (a `ConfigError` naming
    the leaf otherwise)."""
    from rljax.objectives.lpg import LPGRuleConfig, init_rule

    path = Path(path).with_suffix(".npz")
    arrays = _read_arrays(path)
    header_path = path.with_suffix(".json")
    try:
        rule = LPGRuleConfig(**json.loads(header_path.read_text())["rule"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{header_path} does not describe the rule of {path.name} ({type(error).__name__}: "
            f"{str(error)[:80]}). Fix: pass a rule_params.npz that `experiments.lpg "
            "meta-train` wrote, with its .json beside it."
        ) from None
    template = jax.eval_shape(lambda: init_rule(jax.random.PRNGKey(0), rule))
    template = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), template)
    what = f"the rule its .json names ({rule})"
    fix = "pass the .npz and .json as meta-train wrote them."
    return rule, _fill(template, arrays, path, "rule_params", what, fix)
