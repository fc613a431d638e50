"""Optional TensorBoard and Weights & Biases outputs, fed on the host between chunks.

Both are `on_chunk(updates_done, metrics)` callbacks for `rljax.run` (metrics `[runs,
updates]` numpy arrays) that log, for every update of the chunk, each metric's mean over runs
(NaN ignored; an update where no run has a finite value is skipped) at x = env steps per run.
Neither package is a dependency of rljax: each is imported only when its logger is made, and a
missing one is a `ConfigError` that says what to install.

A resumed run logs again from its checkpoint: TensorBoard drops the events after it
(`purge_step`), and W&B continues the same run (its id is kept in the run folder), ignoring
steps it already has.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rljax.config import ConfigError
from rljax.results import jsonable, run_mean


def _import(module: str, flag: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{flag} needs the `{module.split('.')[0]}` package, which is not installed. Fix: "
            f"pip install 'rljax[{extra}]' (or pip install {module.split('.')[0]}), or drop {flag}."
        ) from None


def require(tensorboard: bool, wandb: bool) -> None:
    """Fail early, before a run folder is made, if a requested logger's package is missing."""
    if tensorboard:
        _import("tensorboardX", "--tensorboard", "tensorboard")
    if wandb:
        _import("wandb", "--wandb", "wandb")


def chunk_points(
    updates_done: int, metrics: dict[str, np.ndarray], steps_per_update: int
) -> Iterator[tuple[int, dict[str, float]]]:
    """`(env_steps, {metric: mean over runs})` for each update of a chunk ending at
    `updates_done`, leaving out metrics with no finite value at that update."""
    num = next(iter(metrics.values())).shape[1] if metrics else 0
    for j in range(num):
        step = (updates_done - num + j + 1) * steps_per_update
        values = {k: run_mean(v[:, j]) for k, v in metrics.items()}
        yield step, {k: v for k, v in values.items() if v is not None}


class TensorBoardLogger:
    """Scalars `<metric>` in `log_dir`, through tensorboardX."""

    def __init__(self, log_dir: str | Path, steps_per_update: int, start_update: int = 0):
        tensorboardx = _import("tensorboardX", "--tensorboard", "tensorboard")
        self.steps_per_update = steps_per_update
        purge = start_update * steps_per_update + 1 if start_update else None
        self.writer = tensorboardx.SummaryWriter(str(log_dir), purge_step=purge)

    def on_chunk(self, updates_done: int, metrics: dict[str, np.ndarray]) -> None:
        for step, values in chunk_points(updates_done, metrics, self.steps_per_update):
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    """One W&B run per run folder (`name` = the folder's name); the id is kept in
    `run_dir/wandb_id.txt` so a resumed run continues the same W&B run."""

    def __init__(
        self,
        run_dir: str | Path,
        project: str,
        config: Any,
        steps_per_update: int,
    ):
        wandb = _import("wandb", "--wandb", "wandb")
        run_dir = Path(run_dir)
        id_file = run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        id_file.write_text(run_id + "\n")
        self.steps_per_update = steps_per_update
        self.run = wandb.init(
            project=project,
            name=run_dir.name,
            id=run_id,
            resume="allow",
            dir=str(run_dir),
            config=jsonable(config),
        )

    def on_chunk(self, updates_done: int, metrics: dict[str, np.ndarray]) -> None:
        for step, values in chunk_points(updates_done, metrics, self.steps_per_update):
            self.run.log({**values, "env_steps": step}, step=step)

    def close(self) -> None:
        self.run.finish()
