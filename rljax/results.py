"""Run folders: what an experiment writes to disk, and how to read it back.

Layout of a run folder (all written by `RunWriter`):

    config.json        the experiment config, seeds and hyperparameters included
    metrics.jsonl      one JSON line per chunk: `updates` (done so far), `env_steps` (per run)
                       and each metric's mean over runs at the chunk's last update (NaN means
                       are written as null); appended as each chunk arrives
    metrics.npz        every metric as an array `[runs, updates]`, plus `env_steps` `[updates]`
                       (env steps per run after each update); rewritten atomically after every
                       chunk, so a crash loses at most one chunk
    eval.json          final evaluation: per-run mean return, and the overall mean
    learning_curve.png mean episode return over runs, with a band (see `rljax.plotting`)
    checkpoints/       the last few training states (`rljax.checkpoint`), when checkpointing
    tensorboard/       TensorBoard event files, with `--tensorboard` (`rljax.loggers`)

Update `u` (counted from 1) is column `u - 1` of every `[runs, updates]` array. A run resumed
from a checkpoint after `n` updates (`RunWriter.resume(n)`) first drops what was written after
update `n` (the npz columns and the jsonl lines, a half-written last line included), so the
files of a resumed run equal those of an uninterrupted one.

Load with `load_metrics(run_dir)`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from rljax.config import ConfigError


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """A fresh folder `root/name-YYYYmmdd-HHMMSS[-k]`; a `root` that cannot hold one (a file,
    /proc, no permission) raises `ConfigError` naming `--out-dir`."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name.replace('/', '_')}-{stamp}"
    path, k = base, 1
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    try:
        path.mkdir(parents=True)
    except OSError as error:
        from rljax.config import ConfigError

        raise ConfigError(
            f"out_dir={str(root)!r} cannot hold a run folder ({error.strerror}: "
            f"{error.filename}). Fix: pass a folder you can write to (CLI flag --out-dir)."
        ) from None
    return path


def jsonable(value: Any, nested: bool = False) -> Any:
    """`value` as JSON-ready values. A dataclass inside another (a nested config) records its
    class name as `__type__`, so `--resume` rebuilds the chosen kind (`rljax.experiment`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: jsonable(getattr(value, f.name), True) for f in dataclasses.fields(value)}
        return {"__type__": type(value).__name__, **fields} if nested else fields
    if isinstance(value, tuple | list):
        return [jsonable(v, nested) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v, nested) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_mean(values: np.ndarray) -> float | None:
    """Mean over runs of `values [runs]`, ignoring NaN; None if no run has a finite value."""
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(jsonable(value), indent=2) + "\n")
    tmp.replace(path)


class RunWriter:
    """Appends each chunk's metrics to the run folder as they arrive."""

    def __init__(self, run_dir: Path, steps_per_update: int):
        self.run_dir = Path(run_dir)
        self.steps_per_update = steps_per_update
        self._chunks: dict[str, list[np.ndarray]] = {}

    def write_config(self, config: Any) -> None:
        write_json(self.run_dir / "config.json", config)

    def on_chunk(self, updates_done: int, metrics: dict[str, np.ndarray]) -> None:
        for k, v in metrics.items():
            self._chunks.setdefault(k, []).append(v)
        line = {"updates": updates_done, "env_steps": updates_done * self.steps_per_update}
        for k, v in metrics.items():
            line[k] = run_mean(v[:, -1])
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        self._write_npz()

    def metrics(self) -> dict[str, np.ndarray]:
        """Every metric written so far, `[runs, updates]`."""
        return {k: np.concatenate(v, axis=1) for k, v in self._chunks.items()}

    def resume(self, updates_done: int) -> None:
        """Continue a run folder from a checkpoint taken after `updates_done` updates: drop
        what the files hold beyond it (written before the run stopped), keep the rest."""
        npz, jsonl = self.run_dir / "metrics.npz", self.run_dir / "metrics.jsonl"
        self._chunks = {}
        if updates_done and npz.exists():
            with np.load(npz) as data:
                arrays = {k: data[k] for k in data.files if k != "env_steps"}
            held = min(v.shape[1] for v in arrays.values()) if arrays else 0
            if held < updates_done:
                raise ConfigError(
                    f"{npz} holds {held} updates, fewer than the checkpoint's {updates_done}: "
                    "the run folder and its checkpoints do not belong together"
                )
            self._chunks = {k: [v[:, :updates_done]] for k, v in arrays.items()}
            self._write_npz()
        else:
            npz.unlink(missing_ok=True)
        if jsonl.exists():
            kept = []
            for line in jsonl.read_text().splitlines():
                try:
                    if json.loads(line)["updates"] <= updates_done:
                        kept.append(line + "\n")
                except (json.JSONDecodeError, KeyError, TypeError):
                    break  # a line cut short by a killed process: nothing after it is kept
            tmp = jsonl.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept))
            tmp.replace(jsonl)

    def _write_npz(self) -> None:
        arrays = self.metrics()
        num_updates = next(iter(arrays.values())).shape[1]
        arrays["env_steps"] = np.arange(1, num_updates + 1) * self.steps_per_update
        tmp = self.run_dir / "metrics.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(self.run_dir / "metrics.npz")

    def write_eval(self, eval_returns: np.ndarray, seeds: list[int]) -> dict[str, Any]:
        per_run = eval_returns.mean(axis=1)
        summary = {
            "seeds": seeds,
            "per_run_mean_return": per_run.tolist(),
            "mean_return": float(per_run.mean()),
            "std_return": float(per_run.std()),
            "episodes_per_run": int(eval_returns.shape[1]),
        }
        write_json(self.run_dir / "eval.json", summary)
        return summary


def read_generations(run_dir: str | os.PathLike, generations: int) -> list[dict]:
    """The records of `run_dir/generations.jsonl` (one JSON object per line, each with its
    `generation`) below `generations`, the number a resumed outer loop has done: the later
    ones are dropped from the file too, since the resumed run computes them again."""
    path = Path(run_dir) / "generations.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    kept = [x for x in lines if x["generation"] < generations]
    path.write_text("".join(json.dumps(x) + "\n" for x in kept))
    return kept


def load_metrics(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every metric `[runs, updates]` and `env_steps` `[updates]` of a run folder."""
    path = Path(run_dir) / "metrics.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: is {run_dir} a run folder written by rljax?"
        )
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
