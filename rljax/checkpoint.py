"""Checkpoints of whole training states on orbax-checkpoint, refused when they do not fit.

A `Checkpointer` owns one folder of numbered checkpoints (the step is the number of updates
done) and keeps the last `keep` of them. `save` copies the state to the host and writes it in
the background (orbax's async `CheckpointManager`), so training goes on while it is written;
orbax writes each step into a temporary folder and renames it when complete, so a process
killed mid-save leaves no partial step behind.

Layout of a checkpoint folder:

    fingerprint.json        what the run is (algorithm, config, seeds, library versions)
    <step>/state/           the state's leaves (orbax `StandardSave`: OCDBT + metadata), as a
                            dict keyed by leaf index; zero-size leaves (which orbax refuses)
                            are left out and rebuilt from the template
    <step>/meta/metadata    JSON: the fingerprint, the caller's `extra`, and for each leaf of
                            the state its tree path, shape, dtype and a BLAKE2b digest of
                            its bytes
    sizes/<step>.json       the size of every file of step <step>, written once the step
                            is finished (at the next `save`, `wait` or `close`)

Nothing that does not fit is ever loaded silently:

- a folder whose fingerprint differs from the caller's is refused, naming the fields that
  differ (checked when the `Checkpointer` is made and again for the step restored);
- a template whose tree paths, shapes or dtypes differ from the stored ones is refused, naming
  the leaves;
- a corrupt or truncated step is refused: a file whose size differs from `sizes/<step>.json`,
  orbax's read errors (re-raised as `CheckpointError` naming the step's folder), and any
  restored leaf whose digest differs from the stored one. A process killed before a step's
  size record was written leaves that step to be checked by its digests alone, which catch
  every damage that would change what is loaded.

The state is any pytree of arrays (PRNG keys as raw `uint32` arrays), so every algorithm's
state, replay buffers and evolution-strategy states included, checkpoints without extra code.

Across processes (`jax.distributed`, arrays spread over several hosts) every process makes the
`Checkpointer` on the same folder of a filesystem they share and calls `save`, `wait`,
`restore` and `close` in step: orbax writes and reads each process's own shards, the digests
are taken on gathered copies (the same on every process), and process 0 alone writes
`fingerprint.json` and `sizes/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rljax.config import ConfigError
from rljax.results import jsonable, write_json

FORMAT_VERSION = 1


class CheckpointError(ConfigError):
    """A checkpoint cannot be used: another run's, corrupt, partial, or of another shape."""


def fingerprint_diff(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted names of the fields where two JSON-like values differ, with both values."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored:
                out.append(f"{name} (absent there, {current[key]!r} here)")
            elif key not in current:
                out.append(f"{name} ({stored[key]!r} there, absent here)")
            else:
                out.extend(fingerprint_diff(stored[key], current[key], name))
        return out
    if stored != current:
        return [f"{prefix or 'value'} ({stored!r} there, {current!r} here)"]
    return []


def _normalise(value: Any) -> Any:
    """The value as it reads back from JSON (tuples become lists, dataclasses dicts)."""
    return json.loads(json.dumps(jsonable(value)))


def _host_copy(leaf: Any) -> np.ndarray:
    """The whole leaf as a numpy array. A leaf spread over several processes is gathered, a
    collective: every process must call this for the same leaves in the same order."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
    return np.asarray(jax.device_get(leaf))


def _is_writer() -> bool:
    """Whether this process writes the side files (fingerprint, size records): process 0 of
    a multi-process job, while every process takes part in orbax's save and restore."""
    return jax.process_index() == 0


def _leaf_records(state: Any) -> list[dict[str, Any]]:
    """Path, shape, dtype and digest of every leaf; this copies the state to the host (the
    same records on every process; collective when leaves span several processes)."""
    records = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        array = _host_copy(leaf)
        digest = hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16)
        records.append(
            {
                "path": jax.tree_util.keystr(path),
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "blake2b": digest.hexdigest(),
            }
        )
    return records


@contextlib.contextmanager
def _quiet_orbax():
    """Orbax logs read errors before raising them; they are re-raised here as one clear
    `CheckpointError`, so the log lines would only repeat it."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _by_index(leaves: list[Any]) -> dict[str, Any]:
    """The non-empty leaves keyed by their index in the flattened state."""
    return {str(i): leaf for i, leaf in enumerate(leaves) if np.prod(leaf.shape) > 0}


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    """Shape, dtype and sharding to restore a leaf into (default device if none is given)."""
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.ShapeDtypeStruct(np.shape(leaf), np.result_type(leaf), sharding=sharding)


class Checkpointer:
    """The last `keep` checkpoints of one run in `directory`, saved asynchronously.

    `fingerprint` is a JSON-able description of the run (dataclasses are fine); a folder
    written with another fingerprint is refused. Use as a context manager, or call `close()`.
    """

    def __init__(self, directory: str | os.PathLike, fingerprint: dict, keep: int = 3):
        import orbax.checkpoint as ocp

        if keep < 1:
            raise CheckpointError(f"keep={keep} must be >= 1: the number of checkpoints kept")
        self._ocp = ocp
        self.directory = Path(directory).absolute()
        self.fingerprint = _normalise(fingerprint)
        self.directory.mkdir(parents=True, exist_ok=True)
        fingerprint_file = self.directory / "fingerprint.json"
        if fingerprint_file.exists():
            try:
                stored = json.loads(fingerprint_file.read_text())
            except json.JSONDecodeError as error:
                raise CheckpointError(
                    f"{fingerprint_file} is corrupt ({error}). Fix: restore it from the "
                    "run's config, or start a new run in another folder."
                ) from None
            self._check_fingerprint(stored, str(self.directory))
        elif _is_writer():
            write_json(fingerprint_file, self.fingerprint)
        self._sizes = self.directory / "sizes"
        self._sizes.mkdir(exist_ok=True)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                enable_async_checkpointing=True,
                cleanup_tmp_directories=True,
                create=True,
            ),
            item_names=("state", "meta"),
        )

    # --- saving ----------------------------------------------------------------------------

    def save(self, step: int, state: Any, extra: dict | None = None) -> None:
        """Start writing `state` (any pytree of arrays) as checkpoint `step`; returns once the
        state is copied to the host. `extra` is JSON (e.g. the number of updates done)."""
        ocp = self._ocp
        self._manager.wait_until_finished()
        self._record_sizes()
        meta = {
            "format": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "extra": _normalise(extra or {}),
            "leaves": _leaf_records(state),
        }
        self._manager.save(
            int(step),
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(_by_index(jax.tree.leaves(state))),
                meta=ocp.args.JsonSave(meta),
            ),
        )

    def _record_sizes(self) -> None:
        """Write `sizes/<step>.json` for every finished step that has none yet (called when no
        save is in flight, so each step folder is final); process 0 only."""
        if not _is_writer():
            return
        steps = {str(s) for s in self._manager.all_steps()}
        for step in steps:
            record = self._sizes / f"{step}.json"
            if not record.exists():
                step_dir = self.directory / step
                sizes = {
                    str(path.relative_to(step_dir)): path.stat().st_size
                    for path in sorted(step_dir.rglob("*"))
                    if path.is_file()
                }
                write_json(record, sizes)
        for record in self._sizes.glob("*.json"):
            if record.stem not in steps:
                record.unlink(missing_ok=True)

    def wait(self) -> None:
        """Block until every started save is on disk."""
        self._manager.wait_until_finished()
        self._record_sizes()

    def close(self) -> None:
        self.wait()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------

    def all_steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, oldest first."""
        with _quiet_orbax():
            self._manager.reload()
            return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.all_steps()
        return steps[-1] if steps else None

    def restore(self, template: Any, step: int | None = None) -> tuple[int, Any, dict]:
        """`(step, state, extra)` of checkpoint `step` (default: the latest).

        `template` is a pytree like the saved state (arrays or `jax.ShapeDtypeStruct`s); the
        state is restored into its tree structure, shapes, dtypes and shardings. Raises
        `CheckpointError` if there is no such checkpoint, if it belongs to another run, if its
        shapes differ from the template's, or if it is corrupt or partial.
        """
        ocp = self._ocp
        steps = self.all_steps()
        if step is None:
            if not steps:
                raise CheckpointError(f"there is no checkpoint in {self.directory}")
            step = steps[-1]
        elif step not in steps:
            raise CheckpointError(
                f"there is no checkpoint {step} in {self.directory} (it holds {steps or 'none'})"
            )
        where = self.directory / str(step)
        self._check_sizes(where, steps, step)
        try:
            with _quiet_orbax():
                meta = self._manager.restore(
                    step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
                ).meta
        except Exception as error:
            raise self._corrupt(where, steps, step, "its metadata cannot be read", error) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise self._corrupt(where, steps, step, "its metadata is not rljax's", None)
        self._check_fingerprint(meta["fingerprint"], str(where))
        self._check_template(template, meta["leaves"], where)

        leaves, treedef = jax.tree.flatten(jax.tree.map(_abstract, template))
        try:
            with _quiet_orbax():
                stored = self._manager.restore(
                    step,
                    args=ocp.args.Composite(state=ocp.args.StandardRestore(_by_index(leaves))),
                ).state
        except Exception as error:
            raise self._corrupt(where, steps, step, "its arrays cannot be read", error) from None
        state = treedef.unflatten(
            [
                stored.get(str(i))
                if str(i) in stored
                else jax.device_put(np.zeros(a.shape, a.dtype), a.sharding)
                for i, a in enumerate(leaves)
            ]
        )
        for record, actual in zip(meta["leaves"], _leaf_records(state), strict=True):
            if record["blake2b"] != actual["blake2b"]:
                raise self._corrupt(
                    where, steps, step, f"leaf {record['path']} does not match its checksum", None
                )
        return step, state, meta["extra"]

    # --- checks ----------------------------------------------------------------------------

    def _check_sizes(self, where: Path, steps: list[int], step: int) -> None:
        record = self._sizes / f"{step}.json"
        if not record.exists():
            return
        try:
            expected = json.loads(record.read_text())
        except json.JSONDecodeError as error:
            raise self._corrupt(where, steps, step, f"{record} is corrupt", error) from None
        for name, size in expected.items():
            path = where / name
            actual = path.stat().st_size if path.is_file() else None
            if actual != size:
                found = "missing" if actual is None else f"{actual} bytes"
                raise self._corrupt(
                    where, steps, step, f"{path} is {found}, but was written with {size}", None
                )

    def _check_fingerprint(self, stored: Any, where: str) -> None:
        differences = fingerprint_diff(stored, self.fingerprint)
        if differences:
            shown = "; ".join(differences[:8])
            more = f" (and {len(differences) - 8} more)" if len(differences) > 8 else ""
            raise CheckpointError(
                f"the checkpoint in {where} belongs to another run: {shown}{more}. Fix: resume "
                "with the run's own config, or write to another folder."
            )

    def _check_template(self, template: Any, records: list[dict], where: Path) -> None:
        flat = jax.tree_util.tree_flatten_with_path(template)[0]
        paths = [jax.tree_util.keystr(p) for p, _ in flat]
        stored_paths = [r["path"] for r in records]
        if paths != stored_paths:
            missing = [p for p in stored_paths if p not in paths][:4]
            extra = [p for p in paths if p not in stored_paths][:4]
            raise CheckpointError(
                f"the checkpoint in {where} has another state structure than the template "
                f"({len(stored_paths)} leaves there, {len(paths)} here; only there: {missing}; "
                f"only here: {extra}). Fix: restore with the algorithm and config that wrote it."
            )
        bad = [
            f"{r['path']}: {r['dtype']}{r['shape']} there, "
            f"{np.result_type(leaf)}{list(np.shape(leaf))} here"
            for r, (_, leaf) in zip(records, flat, strict=True)
            if r["shape"] != list(np.shape(leaf)) or r["dtype"] != str(np.result_type(leaf))
        ]
        if bad:
            raise CheckpointError(
                f"the checkpoint in {where} does not fit the template: {'; '.join(bad[:4])}. "
                "Fix: restore with the same config and number of runs that wrote it."
            )

    @staticmethod
    def _corrupt(
        where: Path, steps: list[int], step: int, problem: str, error: Exception | None
    ) -> CheckpointError:
        earlier = [s for s in steps if s < step]
        fix = (
            f"delete {where} to resume from checkpoint {earlier[-1]}"
            if earlier
            else "start the run again"
        )
        cause = f" ({type(error).__name__}: {_first_words(str(error), 200)})" if error else ""
        return CheckpointError(
            f"checkpoint {where} is corrupt or partial: {problem}{cause}. It was not loaded. "
            f"Fix: {fix}."
        )


def _first_words(text: str, limit: int) -> str:
    """`text`'s first line, cut at a word boundary to at most `limit` characters (with ...)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
