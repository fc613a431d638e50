"""Subprocess half of tests/test_sweep.py: sharded sweeps on forced CPU devices.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/_sweep_devices.py OUT.npz
    python tests/_sweep_devices.py OUT.npz --process-id I --num-processes 2 --port P

The first form (one process, 8 devices) trains a tiny PPO 4-learning-rates x 4-seeds grid
sharded over 8 devices and unsharded on one device, and a 10-run sweep (padded to 16) sharded
over 8 devices, also stopped after its first chunk and resumed from a checkpoint; the second
form (each process with 4 devices) trains the same grid across processes, checkpointed into
OUT's folder, and resumes it from its first checkpoint. Results go to
OUT.npz (process 0 only) for the test to compare.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def tiny_config():
    from rljax.agents.ppo import PPOConfig

    return PPOConfig(
        total_timesteps=4 * 16 * 4,
        num_envs=4,
        num_steps=16,
        num_minibatches=2,
        update_epochs=1,
        hidden_sizes=(16, 16),
        num_eval_episodes=2,
    )


LEARNING_RATES = (1e-4, 1e-3, 3e-3, 1e-2)
CHUNK = 3  # 4 updates: one full chunk and a masked partial one


def flat(prefix: str, result) -> dict:
    import jax
    import numpy as np

    from rljax.sweep import gather_runs

    out = {f"{prefix}/eval": result.eval_returns}
    out |= {f"{prefix}/metric/{k}": v for k, v in result.metrics.items()}
    for i, leaf in enumerate(jax.tree.leaves(result.state.params)):
        out[f"{prefix}/param/{i}"] = (
            gather_runs(leaf) if jax.process_count() > 1 else np.asarray(leaf)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--process-id", type=int)
    parser.add_argument("--num-processes", type=int)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()

    from experiments.sweep import initialize_distributed

    if args.process_id is not None:
        initialize_distributed(
            f"localhost:{args.port}", args.num_processes, args.process_id, mode="auto"
        )
    import jax
    import numpy as np

    import rljax

    if os.environ.get("RLJAX_COMPILATION_CACHE"):
        from rljax.experiment import enable_compilation_cache

        enable_compilation_cache(os.environ["RLJAX_COMPILATION_CACHE"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    from rljax.agents.ppo import PPO
    from rljax.sweep import SweepSpec, grid, is_main_process, runs_mesh, sweep

    config = tiny_config()
    algo = PPO(config)
    spec = grid(config, range(4), learning_rate=LEARNING_RATES)
    out = {"devices": np.int32(jax.device_count()), "processes": np.int32(jax.process_count())}
    from rljax.checkpoint import Checkpointer
    from rljax.sweep import state_template

    chunks = []
    # Across processes the grid is also checkpointed (every process writes its shards into
    # one folder beside OUT.npz), stopped after its first chunk and resumed below.
    ckpt = None
    if args.process_id is not None:
        ckpt = Checkpointer(os.path.join(os.path.dirname(args.out), "ckpt"), {"sweep": "grid"})
    sharded = sweep(
        algo,
        spec,
        chunk_size=CHUNK,
        progress=is_main_process(),
        on_chunk=lambda n, m: chunks.append((n, m["episode_return"].shape)),
        checkpointer=ckpt,
    )
    out |= flat("grid_sharded", sharded)
    if ckpt is not None:
        keys, hparams = rljax.seed_keys(spec.seeds), spec.hparams()
        with ckpt:
            step, state, _ = ckpt.restore(state_template(algo, keys, hparams), step=CHUNK)
        out["grid_resumed/restored_sharding_devices"] = np.int32(
            len(jax.tree.leaves(state.params)[0].sharding.device_set)
        )
        resumed = sweep(
            algo, spec, chunk_size=CHUNK, progress=False, state=state, updates_done=step
        )
        out |= flat("grid_resumed", resumed)
    out["grid_sharded/state_sharding_devices"] = np.int32(
        len(jax.tree.leaves(sharded.state.params)[0].sharding.device_set)
    )
    out["grid_sharded/chunks"] = np.array([(n, *s) for n, s in chunks])
    if args.process_id is None:
        # Reference: plain `rljax.run`, everything on one device.
        reference = rljax.run(
            algo, rljax.seed_keys(spec.seeds), spec.hparams(), chunk_size=CHUNK, progress=False
        )
        out |= flat("grid_single", reference)
        # 16 seeds at one learning rate, sharded and not. Same shapes as the grid, so the
        # persistent compilation cache (set by the test) serves both programs.
        seeds = grid(config, range(16))
        out |= flat("seeds_sharded", sweep(algo, seeds, chunk_size=CHUNK, progress=False))
        single = rljax.run(
            algo, rljax.seed_keys(seeds.seeds), seeds.hparams(), chunk_size=CHUNK, progress=False
        )
        out |= flat("seeds_single", single)
        # The grid's first 10 runs on 8 devices: padded to 16 with copies of the last run.
        ten = SweepSpec(config, spec.runs[:10])
        padded = sweep(algo, ten, mesh=runs_mesh(), chunk_size=CHUNK, progress=False)
        out |= flat("ten_sharded", padded)
        # The same padded sweep stopped after its first chunk and resumed from the checkpoint,
        # restored into the padded, sharded template.
        import tempfile

        keys, hparams = rljax.seed_keys(ten.seeds), ten.hparams()
        with tempfile.TemporaryDirectory() as folder, Checkpointer(folder, {"sweep": 10}) as ckpt:
            sweep(algo, ten, chunk_size=CHUNK, progress=False, checkpointer=ckpt)
            step, state, _ = ckpt.restore(state_template(algo, keys, hparams), step=CHUNK)
        out["ten_resumed/restored_sharding_devices"] = np.int32(
            len(jax.tree.leaves(state.params)[0].sharding.device_set)
        )
        resumed = sweep(algo, ten, chunk_size=CHUNK, progress=False, state=state, updates_done=step)
        out |= flat("ten_resumed", resumed)
    if is_main_process():
        np.savez(args.out, **out)


if __name__ == "__main__":
    sys.exit(main())
