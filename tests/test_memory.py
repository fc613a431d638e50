"""`rljax.run` refuses a batch of runs too large for its devices before allocating or running
it (`rljax.memory`), with one line naming the sizes and what to shrink; on one device or
sharded over several; and so do the outer loops for their generation programs."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import rljax
from rljax import memory
from rljax.memory import InsufficientMemory

CONFIG = rljax.PPOConfig(num_envs=1000, num_steps=4, num_minibatches=1, total_timesteps=8000)


def test_tree_bytes_counts_every_leaf():
    tree = {"a": np.zeros((3, 4), np.float32), "b": jax.ShapeDtypeStruct((5,), np.int8)}
    assert memory.tree_bytes(tree) == 3 * 4 * 4 + 5


def _batch():
    """The algorithm, keys and hyperparameters of two runs, built (and their small host
    conversions compiled) before a test counts."""
    return (
        rljax.PPO(CONFIG),
        rljax.seed_keys([0, 1]),
        rljax.stack_hparams([CONFIG.hparams()] * 2),
    )


def _run(batch, **options):
    chunks = []
    result = rljax.run(
        *batch, progress=False, on_chunk=lambda done, metrics: chunks.append(done), **options
    )
    return result, chunks


def test_a_state_larger_than_free_memory_is_refused_before_anything_compiles(
    monkeypatch, count_compilations
):
    batch = _batch()
    monkeypatch.setattr(memory, "free_bytes", lambda devices: 10_000)
    with count_compilations() as compiles, pytest.raises(InsufficientMemory) as error:
        _run(batch)
    assert compiles.value == 0
    message = str(error.value)
    assert "training state alone" in message and "more than the 0.0 GiB free on 1 cpu" in message
    assert "--num-envs" in message and "--seeds" in message and len(message.splitlines()) == 1


def test_a_program_whose_working_memory_does_not_fit_is_refused_before_it_runs(monkeypatch):
    """Two runs of 1,000 envs: a state of ~0.3 MB fits in 2 MB; one chunk's rollout,
    activations and minibatches (XLA's buffer assignment: ~11 MB) do not, and no chunk runs."""
    batch = _batch()
    algo, keys, hparams = batch
    assert memory.tree_bytes(jax.eval_shape(jax.vmap(algo.init), keys, hparams)) < 2_000_000
    monkeypatch.setattr(memory, "free_bytes", lambda devices: 2_000_000)
    chunks = []
    with pytest.raises(InsufficientMemory, match="GiB of working memory for one chunk"):
        rljax.run(*batch, progress=False, on_chunk=lambda done, metrics: chunks.append(done))
    assert chunks == []


def test_the_check_can_be_turned_off_and_passes_when_memory_is_plentiful(monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda devices: 10_000)
    _, chunks = _run(_batch(), check_memory=False)
    assert chunks == [CONFIG.total_timesteps // (1000 * 4)]
    monkeypatch.setattr(memory, "free_bytes", lambda devices: 2**40)
    assert _run(_batch())[0].metrics["episode_return"].shape == (2, 2)


def test_free_memory_is_read_on_this_machine():
    """On Linux the host's free memory is read (a check that silently read nothing would
    refuse nothing), and it is at most the machine's total memory."""
    free = memory.free_bytes(jax.devices()[:1])
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo on this machine")
    total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal"))
    assert free is not None and 0 < free <= int(total.split()[1]) * 1024


SHARDED = """
import jax, jax.numpy as jnp
import rljax
from jax._src import monitoring
from rljax import memory
from rljax.memory import InsufficientMemory
from rljax.sweep import runs_mesh, shard_runs

assert jax.device_count() == 2
compiles = []
monitoring.register_event_duration_secs_listener(
    lambda event, secs, **kw: compiles.append(event)
    if event == "/jax/core/compile/backend_compile_duration" else None
)
config = rljax.PPOConfig(num_envs=1000, num_steps=4, num_minibatches=1, total_timesteps=8000)
algo = rljax.PPO(config)
keys, hparams = shard_runs(
    (rljax.seed_keys([0, 1]), rljax.stack_hparams([config.hparams()] * 2)), runs_mesh()
)
chunks = []
memory.free_bytes = lambda devices: 2_000_000
try:
    rljax.run(algo, keys, hparams, chunk_size=1, progress=False,
              on_chunk=lambda done, metrics: chunks.append(done))
except InsufficientMemory as error:
    print("REFUSED", chunks, error)
memory.free_bytes = lambda devices: 2**40
before = len(compiles)
result = rljax.run(algo, keys, hparams, chunk_size=1, progress=False)
print("COMPILES", len(compiles) - before, result.metrics["episode_return"].shape)
print("SHARDED", all(len(x.sharding.device_set) == 2 for x in jax.tree.leaves(result.state)))
"""


def test_a_batch_sharded_over_devices_gets_the_working_memory_check_and_one_chunk_program():
    """Two runs split over 2 forced CPU devices (a subprocess: the device count is fixed at
    start). The chunk program is compiled ahead of its first call here too, so a chunk too
    large for the devices is refused before it runs; and since `init` and each chunk place
    their outputs like the runs, the 2 chunks share that one program (before, a zero bias
    came out of `init` replicated, the first chunk sharded it, and the second chunk compiled
    again: 4 compilations, now 3: init, the chunk, the evaluation)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count=2".strip()
    out = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["REFUSED"].startswith("[] this run needs"), lines["REFUSED"]
    assert "working memory for one chunk" in lines["REFUSED"]
    assert "free on 2 cpu devices" in lines["REFUSED"]
    assert lines["COMPILES"] == "3 (2, 2)" and lines["SHARDED"] == "True"


@pytest.mark.parametrize("module", ["lpo", "neuroevolution", "lpg", "lpg-meta-step"])
def test_an_outer_loops_generation_too_large_for_memory_is_one_line_before_it_runs(
    module, tmp_path, capsys, monkeypatch
):
    """ES meta-training (`experiments.lpo`), the GA (`experiments.neuroevolution`) and LPG's
    meta-gradient (`experiments.lpg`) compile their generation program ahead of its first
    call (`rljax.memory.CheckedProgram`) and refuse it, naming their own flags to shrink,
    before any generation runs. LPG checks its agents' first states the same way before
    (`lpg`: 4,096 agents x 65,536 envs asked 587 GiB of a 21 GiB host, and were allocated
    before this check); `lpg-meta-step`: those fit, the meta-step does not."""
    import importlib

    from test_loop_devices import ES_ARGS, GA_ARGS
    from test_meta_gradient import TINY_CLI

    args = {
        "lpo": (ES_ARGS, "--es.pop-batch-size", "population chunk's training runs"),
        "neuroevolution": (GA_ARGS, "--search.population-size", "one generation"),
        "lpg": (["meta-train", *TINY_CLI, "--eval-every", "0"], "--meta.num-agents", "first"),
    }
    args["lpg-meta-step"] = (*args["lpg"][:2], "meta-step")
    argv, flag, what = args[module]
    readings = iter([None] if module == "lpg-meta-step" else [])  # None: cannot tell
    monkeypatch.setattr(memory, "free_bytes", lambda devices: next(readings, 1000))
    cli = importlib.import_module(f"experiments.{module.removesuffix('-meta-step')}")
    assert cli.main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this run needs") and what in err, err
    assert flag in err and len(err.strip().splitlines()) == 1
    assert not any(p.read_text() for p in tmp_path.glob("*/generations.jsonl"))  # none ran
