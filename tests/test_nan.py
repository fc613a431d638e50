"""The NaN/inf guard: a diverging run stops with one line naming the update, the run and the
quantity, keeps its last good checkpoint, and the guard leaves finite runs bitwise unchanged."""

import os
import re
import signal
from typing import NamedTuple

import jax
import numpy as np
import pytest
from test_dqn import TINY as DQN_TINY

import rljax
from experiments import dqn as dqn_experiment
from rljax.agents.common import TrainState
from rljax.agents.dqn import DQN, DQNConfig
from rljax.checkpoint import Checkpointer
from rljax.driver import _divergence
from rljax.experiment import enable_compilation_cache
from rljax.results import load_metrics
from rljax.training import (
    RunInterrupted,
    TrainingDiverged,
    checked_quantities,
    finite_flags,
    run,
)

TINY = {**DQN_TINY, "num_eval_episodes": 2}  # 8 updates, learning from update 2


def cli_flags(config: dict) -> list[str]:
    """`--field value ...` for a dict of config fields (tuples as several values)."""
    flags = []
    for k, v in config.items():
        flags += [f"--{k.replace('_', '-')}", *map(str, v if isinstance(v, tuple) else (v,))]
    return flags


TINY_ARGS = [*cli_flags(TINY), "--seeds", "2", "--chunk-size", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A persistent compilation cache shared by this module's runs (they compile the same
    chunk program), restored afterwards."""
    previous = jax.config.jax_compilation_cache_dir
    path = tmp_path_factory.mktemp("xla")
    enable_compilation_cache(str(path))
    yield path
    jax.config.update("jax_compilation_cache_dir", previous)


def test_diverging_run_stops_with_one_line_and_its_last_good_checkpoint_resumes(
    cache, tmp_path, capsys
):
    # With this learning rate the Q-values overflow a few updates after learning starts.
    args = [*TINY_ARGS, "--learning-rate", "1e9", "--compilation-cache", str(cache)]
    assert dqn_experiment.main([*args, "--out-dir", str(tmp_path), "--checkpoint-every", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    found = re.fullmatch(
        r"error: training diverged in update (\d+) of 8, run (\d) \(seed \d; "
        r"learning_rate=1e\+09, .*\): (td_loss is (nan|inf)|parameters are not finite).* "
        r"\(NaN or inf\)\. Stopped; the state after update (\d+) is kept as checkpoint (\d+) in "
        r"(\S+)\.",
        err,
    )
    assert found, err
    update, kept, step = int(found[1]), int(found[5]), int(found[6])
    assert update > 1 and kept == step == update - 1
    (run_dir,) = tmp_path.iterdir()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == kept
    assert load_metrics(run_dir)["td_loss"].shape == (2, kept)

    # The kept checkpoint resumes, and (the run being deterministic) diverges in the same update.
    assert dqn_experiment.main(["--resume", str(run_dir), "--compilation-cache", str(cache)]) == 1
    captured = capsys.readouterr()
    assert f"from its checkpoint after update {kept} of 8" in captured.out
    assert captured.err.strip() == err


@pytest.fixture(scope="module")
def tiny_dqn(cache):
    """The tiny DQN batch and its guarded, uninterrupted run (the chunk program the CLI test
    compiled: the learning rate is a traced leaf)."""
    config = DQNConfig(**TINY)
    algo = DQN(config)
    keys, hparams = rljax.seed_keys([0, 1]), rljax.stack_hparams([config.hparams()] * 2)
    return algo, keys, hparams, run(algo, keys, hparams, chunk_size=1, progress=False)


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_guard_leaves_finite_runs_bitwise_unchanged(tiny_dqn):
    algo, keys, hparams, guarded = tiny_dqn
    plain = run(algo, keys, hparams, chunk_size=1, progress=False, check_finite=False)
    _assert_same(
        (guarded.state, guarded.metrics, guarded.eval_returns),
        (plain.state, plain.metrics, plain.eval_returns),
    )


def test_sigterm_stops_at_a_chunk_boundary_with_a_checkpoint_that_resumes(tiny_dqn, tmp_path):
    algo, keys, hparams, whole = tiny_dqn

    def terminate_after_update_3(updates_done, metrics):
        if updates_done == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    with Checkpointer(tmp_path, {"test": "sigterm"}) as ckpt:
        with pytest.raises(RunInterrupted, match="SIGTERM: stopped after update 3 of 8"):
            run(
                algo,
                keys,
                hparams,
                chunk_size=1,
                progress=False,
                on_chunk=terminate_after_update_3,
                checkpointer=ckpt,
                checkpoint_every=100,  # only the signal and the end save
            )
        assert ckpt.all_steps() == [3]
        step, state, _ = ckpt.restore(jax.eval_shape(jax.vmap(algo.init), keys, hparams))
    resumed = run(algo, keys, hparams, chunk_size=1, progress=False, state=state, updates_done=step)
    assert resumed.start_update == 3
    _assert_same(resumed.state, whole.state)
    _assert_same({k: v[:, 3:] for k, v in whole.metrics.items()}, resumed.metrics)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was put back


def test_the_kept_checkpoint_is_the_last_good_state_even_when_it_was_not_yet_on_disk(
    tiny_dqn, tmp_path
):
    # checkpoint_every=100: no checkpoint is due before the divergence, so the guard itself
    # must write the state before the bad chunk, not the diverged one.
    algo, keys, _, _ = tiny_dqn
    exploding = rljax.stack_hparams([DQNConfig(**{**TINY, "learning_rate": 1e9}).hparams()] * 2)
    with Checkpointer(tmp_path, {"test": "nan"}) as ckpt:
        with pytest.raises(TrainingDiverged) as diverged:
            run(
                algo,
                keys,
                exploding,
                chunk_size=1,
                progress=False,
                checkpointer=ckpt,
                checkpoint_every=100,
            )
        kept = diverged.value.updates_kept
        assert kept >= 1 and ckpt.all_steps() == [kept]
        assert f"is kept as checkpoint {kept} in {tmp_path}" in str(diverged.value)
        template = jax.eval_shape(jax.vmap(algo.init), keys, exploding)
        step, state, extra = ckpt.restore(template)
    assert step == kept and extra["updates_done"] == kept
    np.testing.assert_array_equal(state.update_step, [kept, kept])
    for leaf in jax.tree.leaves((state.params, state.target_params)):
        assert np.isfinite(leaf).all()


def test_divergence_names_the_first_bad_update_run_and_quantity():
    metrics = {"td_loss": np.array([[1.0, 2.0, np.inf], [1.0, np.nan, 3.0]])}
    quantities = checked_quantities(metrics)
    assert quantities == ["td_loss", "parameters"]
    finite = np.ones((2, 3, 2), bool)
    finite[1, 1] = [False, False]
    finite[0, 2, 0] = False
    error = _divergence(finite, metrics, quantities, 10, 40, lambda i: f"seed {i + 5}", "")
    assert isinstance(error, TrainingDiverged) and (error.update, error.run) == (12, 1)
    assert "update 12 of 40, run 1 (seed 6): td_loss is nan and parameters are not finite" in str(
        error
    )
    assert error.updates_kept == 10


def test_finite_flags_watch_losses_and_parameters_only():
    class M(NamedTuple):
        episode_return: jax.Array
        value_loss: jax.Array

    state = TrainState(
        params={"w": np.array([1.0, np.inf])},
        opt_state=(),
        rollout=None,
        key=np.zeros(2, np.uint32),
        hparams=np.array(np.nan),
        update_step=np.int32(0),
    )
    flags = finite_flags(M(np.float32(np.nan), np.float32(1.0)), state)
    np.testing.assert_array_equal(flags, [True, False])  # NaN returns and hparams are fine
