"""`rljax.run`'s host driver in parts: its options, the `checked_leaves` hook of the NaN guard,
the checkpoint policy, and one compilation of the chunk program for a partial last chunk.

A toy algorithm (a counter and two float vectors, no environment) keeps these fast."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rljax
from rljax import training
from rljax.config import ConfigError
from rljax.driver import CheckpointPolicy
from rljax.evaluation import EvalResult
from rljax.training import RunOptions, TrainingDiverged, run


class ToyState(NamedTuple):
    weights: jax.Array  # what CheckedToy calls its parameters
    scratch: jax.Array  # e.g. a cache that may hold NaNs harmlessly
    step: jax.Array


class Toy:
    """5 updates; from update `nan_at` on, the field `nan_in` (if any) turns NaN."""

    num_updates = 5
    steps_per_update = 3

    def __init__(self, nan_in: str | None = None, nan_at: int = 3):
        self.nan_in, self.nan_at = nan_in, nan_at

    def init(self, key, hparams):
        return ToyState(jnp.full(2, hparams), jnp.float32(0.0), jnp.int32(0))

    def update(self, state):
        step = state.step + 1
        bad = jnp.where(step >= self.nan_at, jnp.nan, 0.0)
        weights = state.weights + 1.0 + (bad if self.nan_in == "weights" else 0.0)
        scratch = state.scratch + (bad if self.nan_in == "scratch" else 0.0)
        return ToyState(weights, scratch, step), {"episode_return": step.astype(jnp.float32)}

    def evaluate(self, state):
        return EvalResult(state.weights, jnp.zeros(2, jnp.int32))


class CheckedToy(Toy):
    def checked_leaves(self, state):
        return {"weights": state.weights, "step": state.step}  # the int leaf is skipped


KEYS = rljax.seed_keys([0, 1])
HPARAMS = rljax.stack_hparams([1.0, 2.0])


def test_a_partial_last_chunk_reuses_the_one_compiled_chunk(count_compilations, monkeypatch):
    chunks, compiled_chunk = [], training.compiled_chunk

    def recording(*args, **kwargs):
        chunks.append(compiled_chunk(*args, **kwargs))
        return chunks[-1]

    monkeypatch.setattr(training, "compiled_chunk", recording)
    jnp.int32(1)  # the first int32 scalar of a process compiles a conversion
    with count_compilations() as compiles:
        result = run(Toy(), KEYS, HPARAMS, chunk_size=2, progress=False)  # chunks of 2, 2, 1
    assert result.metrics["episode_return"].tolist() == [[1, 2, 3, 4, 5]] * 2
    assert len(chunks) == 1
    assert compiles.value == 3, "init, the chunk and evaluate, once each"


def test_options_and_their_keywords_are_the_same_run():
    by_keywords = run(Toy(), KEYS, HPARAMS, chunk_size=2, progress=False, check_finite=False)
    options = RunOptions(chunk_size=2, progress=False, check_finite=False)
    by_options = run(Toy(), KEYS, HPARAMS, options)
    overridden = run(Toy(), KEYS, HPARAMS, RunOptions(chunk_size=4), progress=False, chunk_size=2)
    for other in (by_options, overridden):
        leaves = zip(jax.tree.leaves(by_keywords.state), jax.tree.leaves(other.state), strict=True)
        for a, b in leaves:
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(
            by_keywords.metrics["episode_return"], other.metrics["episode_return"]
        )


def test_bad_options_are_refused():
    with pytest.raises(TypeError, match=r"unknown run options \['chunksize'\]"):
        run(Toy(), KEYS, HPARAMS, chunksize=2)
    with pytest.raises(TypeError, match="options must be a RunOptions"):
        run(Toy(), KEYS, HPARAMS, 2)
    with pytest.raises(ConfigError, match="chunk_size=0 must be > 0"):
        RunOptions(chunk_size=0)
    with pytest.raises(ConfigError, match="checkpoint_every=0 must be > 0"):
        RunOptions(checkpoint_every=0)
    assert RunOptions(run_labels=["a", "b"]).run_labels == ("a", "b")  # hashable


def test_the_guard_checks_what_checked_leaves_returns():
    # Without the hook the toy state (no `*params` field) is checked whole: NaN scratch stops it.
    with pytest.raises(TrainingDiverged, match=r"update 3 of 5, run 0 .*parameters are not finite"):
        run(Toy(nan_in="scratch"), KEYS, HPARAMS, chunk_size=2, progress=False)
    # With it only the weights count: NaN scratch is ignored, NaN weights are not.
    result = run(CheckedToy(nan_in="scratch"), KEYS, HPARAMS, chunk_size=2, progress=False)
    assert np.isnan(result.state.scratch).all() and np.isfinite(result.state.weights).all()
    with pytest.raises(TrainingDiverged, match="update 4 of 5") as diverged:
        run(CheckedToy(nan_in="weights", nan_at=4), KEYS, HPARAMS, chunk_size=2, progress=False)
    assert diverged.value.updates_kept == 2 and diverged.value.quantities == [
        "parameters are not finite"
    ]


class _Saves:
    """A stand-in checkpointer that records what it is asked to save."""

    directory = "/ckpt"

    def __init__(self):
        self.saved, self.waited = [], False

    def save(self, step, state, extra):
        self.saved.append((step, state, extra["updates_done"]))

    def wait(self):
        self.waited = True


def test_checkpoint_policy_saves_every_n_chunks_at_the_end_and_on_a_stop_request():
    saves = _Saves()
    with CheckpointPolicy(saves, num_updates=9, chunk_size=2, every=2) as policy:
        for updates in (2, 4, 6, 8, 9):
            policy.after_chunk(updates, f"state {updates}", stop_requested=updates == 6)
        policy.save(9, "again")  # already saved: not written twice
    assert [step for step, _, _ in saves.saved] == [4, 6, 8, 9]
    assert saves.saved[-1] == (9, "state 9", 9) and saves.waited
    assert policy.kept_as(4) == " as checkpoint 4 in /ckpt"
    nothing = CheckpointPolicy(None, num_updates=9, chunk_size=2, every=1)
    nothing.after_chunk(2, "state", stop_requested=True)
    assert nothing.kept_as(2) == ""


def test_seed_keys_and_stack_hparams_refuse_what_would_silently_go_wrong():
    with pytest.raises(ConfigError, match=r"seeds \[-1\].*\[0, 2\*\*32\)"):
        rljax.seed_keys([-1])  # would wrap around to seed 4294967295
    for seeds in ([], [1.5], ["a"], [True]):
        with pytest.raises(ConfigError, match="seed_keys got seeds"):
            rljax.seed_keys(seeds)
    assert rljax.seed_keys(range(3)).shape == (3, 2)
    with pytest.raises(ConfigError, match="stack_hparams got no runs"):
        rljax.stack_hparams([])
