"""Checkpoints: a killed run resumes bitwise; another run's, truncated or corrupt checkpoints
are refused with a clear message, never loaded."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from test_dqn import TINY as DQN_TINY
from test_nan import cli_flags

from rljax.checkpoint import Checkpointer, CheckpointError
from rljax.results import load_metrics

# --- the Checkpointer on its own (no training) -----------------------------------------------


@struct.dataclass
class _State:
    params: dict
    key: jax.Array
    step: jax.Array
    window: jax.Array  # zero-size, as DQN's n-step window is for n = 1


def _state(i: int) -> _State:
    return _State(
        params={"w": jnp.arange(600.0).reshape(2, 300) + i, "b": jnp.ones(2)},
        key=jax.random.split(jax.random.PRNGKey(i), 2),
        step=jnp.int32(i),
        window=jnp.zeros((2, 0, 4)),
    )


FINGERPRINT = {"algorithm": "ppo", "config": {"learning_rate": 1e-3, "hidden": (64, 64)}}


def test_checkpointer_round_trip_keeps_the_last_n(tmp_path):
    with Checkpointer(tmp_path, FINGERPRINT, keep=2) as ckpt:
        for step in (1, 2, 3):
            ckpt.save(step, _state(step), {"updates_done": step})
        ckpt.wait()
        assert ckpt.all_steps() == [2, 3] and ckpt.latest_step() == 3
        step, state, extra = ckpt.restore(_state(0))
        assert step == 3 and extra == {"updates_done": 3} and isinstance(state, _State)
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(_state(3)), strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        assert ckpt.restore(_state(0), step=2)[1].step == 2


def test_resume_restores_the_latest_or_starts_over_without_a_checkpoint(tmp_path, capsys):
    """`restore_latest`, what every CLI's `--resume` calls: with no checkpoint yet the run
    starts over (and the template is never built); otherwise the latest step comes back."""
    from rljax.experiment import restore_latest

    def no_template():
        raise AssertionError("the template is not needed without a checkpoint")

    directory = tmp_path / "run" / "checkpoints"
    with Checkpointer(directory, FINGERPRINT) as ckpt:
        assert restore_latest(ckpt, 10, no_template) == (None, 0)
        assert "no checkpoint yet, starting over" in capsys.readouterr().out
        ckpt.save(4, _state(4), {"updates_done": 4})
        ckpt.wait()
        state, step = restore_latest(ckpt, 10, lambda: _state(0), announce=False)
        assert step == 4 and int(state.step) == 4
        assert capsys.readouterr().out == ""


def test_checkpointer_refuses_what_does_not_fit(tmp_path):
    with Checkpointer(tmp_path, FINGERPRINT) as ckpt:
        ckpt.save(1, _state(1))
        ckpt.save(2, _state(2))
    other = {**FINGERPRINT, "config": {"learning_rate": 1e-2, "hidden": (64, 64)}}
    with pytest.raises(CheckpointError, match=r"another run: config\.learning_rate \(0\.001"):
        Checkpointer(tmp_path, other)
    ckpt = Checkpointer(tmp_path, FINGERPRINT)
    wider = _state(0).replace(params={"w": jnp.zeros((3, 300)), "b": jnp.ones(2)})
    with pytest.raises(CheckpointError, match=r"\.params\['w'\]: float32\[2, 300\] there"):
        ckpt.restore(wider)
    with pytest.raises(CheckpointError, match="another state structure"):
        ckpt.restore({"w": jnp.zeros(2)})
    with pytest.raises(CheckpointError, match="no checkpoint 7"):
        ckpt.restore(_state(0), step=7)

    # A truncated file is caught by the size record; a damaged one without a size record
    # (the process died before writing it) by orbax or by the leaves' digests.
    data = max((tmp_path / "2" / "state").rglob("d/*"), key=lambda p: p.stat().st_size)
    original = data.read_bytes()
    data.write_bytes(original[: len(original) // 2])
    with pytest.raises(CheckpointError, match=r"corrupt or partial: .* is \d+ bytes.*checkpoint 1"):
        ckpt.restore(_state(0))
    (tmp_path / "sizes" / "2.json").unlink()
    middle = len(original) // 2
    data.write_bytes(original[:middle] + bytes(8) + original[middle + 8 :])
    with pytest.raises(CheckpointError, match=r"corrupt or partial: leaf .params\['w'\] does not"):
        ckpt.restore(_state(0))
    assert ckpt.restore(_state(0), step=1)[0] == 1  # the earlier checkpoint is still good
    ckpt.close()


# --- experiments killed with SIGKILL and resumed ----------------------------------------------

PPO_ARGS = [
    *("--total-timesteps", str(4 * 64 * 10), "--num-envs", "4", "--num-steps", "64"),
    *("--num-minibatches", "2", "--update-epochs", "2", "--hidden-sizes", "16", "16"),
]
DQN_ARGS = cli_flags({**DQN_TINY, "total_timesteps": 4 * 4 * 12})
COMMON = [
    *("--seeds", "2", "--chunk-size", "1", "--checkpoint-every", "1"),
    *("--keep-checkpoints", "2", "--no-progress", "--num-eval-episodes", "2"),
]


def _launch(module: str, args: list[str], cache: Path, devices: int = 1) -> subprocess.Popen:
    """`python -m experiments.MODULE ARGS` on the CPU, as `devices` forced CPU devices."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "RLJAX_COMPILATION_CACHE": str(cache)}
    if devices > 1:
        # Appended to conftest's flags (the test-suite optimisation level).
        flags = os.environ.get("XLA_FLAGS", "")
        env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    return subprocess.Popen(
        [sys.executable, "-m", f"experiments.{module}", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def _kill_after_first_checkpoint(proc: subprocess.Popen, out_dir: Path) -> Path:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        steps = [p for p in out_dir.glob("*/checkpoints/*") if p.name.isdigit()]
        if steps:
            proc.kill()
            proc.communicate()
            return steps[0].parent.parent
        time.sleep(0.01)
    raise AssertionError(f"no checkpoint appeared before the run ended: {proc.communicate()}")


def _final_state(run_dir: Path, module: str, updates: int):
    """The checkpointed state after the last update, restored with the run's own template."""
    from rljax import experiment
    from rljax.agents.dqn import DQN, DQNConfig
    from rljax.agents.ppo import PPO, PPOConfig

    algo_type, config_type = {"ppo": (PPO, PPOConfig), "dqn": (DQN, DQNConfig)}[module]
    stored = json.loads((run_dir / "config.json").read_text())
    config = experiment._config_from_json(config_type, stored["config"])
    algo = algo_type(config)
    seeds = list(range(stored["args"]["seeds"]))
    template = jax.eval_shape(
        jax.vmap(algo.init),
        jax.ShapeDtypeStruct((len(seeds), 2), jnp.uint32),
        jax.tree.map(lambda x: jax.ShapeDtypeStruct((len(seeds),), x.dtype), config.hparams()),
    )
    fingerprint = json.loads((run_dir / "checkpoints" / "fingerprint.json").read_text())
    with Checkpointer(run_dir / "checkpoints", fingerprint) as ckpt:
        step, state, extra = ckpt.restore(template)
    assert step == updates and extra["updates_done"] == updates
    return state


@pytest.mark.parametrize(
    ("module", "args", "updates"),
    [
        ("ppo", PPO_ARGS, 10),
        # Slow: the same CLI and checkpoint path as PPO's (25 s of the suite); DQN's state,
        # replay buffer included, resumes bitwise in process in tests/test_nan.py's SIGTERM
        # test.
        pytest.param("dqn", DQN_ARGS, 12, marks=pytest.mark.slow),
    ],
)
def test_killed_run_resumes_bitwise_and_bad_checkpoints_are_refused(
    module, args, updates, tmp_path, capsys
):
    cache = tmp_path / "cache"
    args = [*args, *COMMON]
    killed = _launch(module, [*args, "--out-dir", str(tmp_path / "killed")], cache)
    killed_dir = _kill_after_first_checkpoint(killed, tmp_path / "killed")
    done = sorted(int(p.name) for p in (killed_dir / "checkpoints").iterdir() if p.name.isdigit())
    assert done and done[-1] < updates and not (killed_dir / "eval.json").exists(), done

    # The uninterrupted run and the resumed one, side by side (both load compiled programs).
    whole = _launch(module, [*args, "--out-dir", str(tmp_path / "whole")], cache)
    resumed = _launch(module, ["--resume", str(killed_dir)], cache)
    assert "resuming" in _finish(resumed)
    _finish(whole)
    (whole_dir,) = (tmp_path / "whole").iterdir()

    for name, a in load_metrics(whole_dir).items():
        np.testing.assert_array_equal(load_metrics(killed_dir)[name], a, err_msg=name)
    assert (killed_dir / "metrics.jsonl").read_text() == (whole_dir / "metrics.jsonl").read_text()
    assert json.loads((killed_dir / "eval.json").read_text()) == json.loads(
        (whole_dir / "eval.json").read_text()
    )
    a, b = _final_state(whole_dir, module, updates), _final_state(killed_dir, module, updates)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)

    # Refusals, in this process: they come before anything compiles.
    from rljax import experiment

    main = lambda argv: experiment.main(module, *_types(module), argv)
    capsys.readouterr()
    assert main(["--resume", str(whole_dir), "--gamma", "0.5"]) == 2
    assert "changes the run: gamma (run: 0.99, command line: 0.5)" in capsys.readouterr().err

    config_file = whole_dir / "config.json"
    original = config_file.read_text()
    edited = json.loads(original)
    edited["config"]["gamma"] = 0.5  # config.json no longer matches the checkpoints
    config_file.write_text(json.dumps(edited))
    assert main(["--resume", str(whole_dir)]) == 2
    assert "belongs to another run: config.gamma (0.99 there, 0.5 here)" in capsys.readouterr().err
    config_file.write_text(original)

    latest = whole_dir / "checkpoints" / str(updates)
    data = max(latest.rglob("d/*"), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[:-10])
    assert main(["--resume", str(whole_dir)]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint {latest} is corrupt or partial" in err and str(data) in err
    assert f"delete {latest} to resume from checkpoint {updates - 1}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def _types(module: str):
    from rljax.agents.dqn import DQN, DQNConfig
    from rljax.agents.ppo import PPO, PPOConfig

    return {"ppo": (PPOConfig, PPO), "dqn": (DQNConfig, DQN)}[module]


def test_a_quoted_library_error_is_cut_at_a_word_boundary():
    """A corrupt checkpoint's message quotes the library's error (tensorstore's can run to
    kilobytes): its first line only, cut between words, never mid-word."""
    from rljax.checkpoint import _first_words

    first = "DATA_LOSS: Error reading local file: unexpected end of chunk data"
    text = f"{first}\nsecond line"
    assert _first_words(text, 100) == first
    assert _first_words(text, 30) == "DATA_LOSS: Error reading ..."
    assert _first_words(text, 42) == "DATA_LOSS: Error reading local file ..."
    assert _first_words("", 10) == ""
