"""Meta-parameter files: a drift's meta-parameters on disk, checked against the drift on load.

A file pair `NAME.npz` + `NAME.json`:

    NAME.npz   one array per leaf of the drift's meta-parameters, keyed by its path
               (`drift_params.w_hidden`, ...; `drift_params` for a scalar like PPO's epsilon)
    NAME.json  {"drift": name, "leaves": {path: shape}, ...}: the drift it is for, plus
               whatever the writer adds (the meta-training config, the generation, fitness)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rljax.config import ConfigError
from rljax.objectives.drift import make_drift
from rljax.results import write_json

_ROOT = "drift_params"


def _leaf_paths(params: Any) -> list[tuple[str, Any]]:
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    return [(_ROOT + jax.tree_util.keystr(path), leaf) for path, leaf in flat]


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
    if not path.exists():
        raise ConfigError(
            f"meta-parameter file {path} does not exist. Fix: pass a .npz that "
            "`meta-train` wrote (meta_params_mean.npz or meta_params_best.npz)."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as error:  # text, pickle, truncated zip, ...
        raise ConfigError(
            f"{path} is not a meta-parameter file (numpy cannot read it as .npz: "
            f"{str(error).splitlines()[0][:120]}). Fix: pass a .npz that `meta-train` wrote "
            "(meta_params_mean.npz or meta_params_best.npz)."
        ) from None
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
    leaves = []
    for name, leaf in _leaf_paths(template):
        expected = tuple(np.shape(leaf))
        if name not in arrays:
            raise ConfigError(
                f"{path} has no leaf {name} (it holds {sorted(arrays)}), which drift={drift!r} "
                f"needs with shape {expected}. Fix: pass a file saved for drift={drift!r}"
                + (f" (this one is for {saved_drift!r})" if saved_drift else "")
                + "."
            )
        found = arrays[name].shape
        if found != expected:
            raise ConfigError(
                f"{path}: leaf {name} has shape {found}, but drift={drift!r} expects "
                f"{expected}. Fix: pass a file saved for drift={drift!r}"
                + (f" (this one is for {saved_drift!r})" if saved_drift else "")
                + ", or the drift it was meta-trained with."
            )
        leaves.append(np.asarray(arrays[name], np.asarray(leaf).dtype))
    return drift, jax.tree.unflatten(jax.tree.structure(template), leaves)
