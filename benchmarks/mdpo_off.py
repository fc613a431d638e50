"""Off-policy MDPO against SAC at the same env-step budget (`rljax.agents.mdpo_off`).

    cd benchmarks && ../.venv/bin/python mdpo_off.py --env Pendulum-v1 --steps 20000
    ../.venv/bin/python mdpo_off.py --env brax/inverted_pendulum --steps 30000 --seeds 3

Every method trains `--seeds` seeds as one vmapped batch with the same networks, batch size,
learning rate, replay and env steps (SAC's defaults with 64-unit layers and batches of 128,
as in tests/test_sac.py's CI check); MDPO adds its mirror-descent policy step, with the
paper's annealed KL weight (`paper`) and the public code's constant weight 1 (`constant`),
lambda 0.2 and m = 1,000 gradient steps per iteration. The score is the deterministic
policy's mean return over 16 evaluation episodes after training. Prints a markdown table:
mean +- std over seeds (ddof 0), each seed, and the wall time (compilation included).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import rljax
    from rljax.agents.mdpo_off import OffMDPO, OffMDPOConfig
    from rljax.agents.sac import SAC, SACConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=["SAC", "MDPO", "MDPO-constant"])
    args = parser.parse_args()
    shared = dict(env=args.env, total_timesteps=args.steps, hidden_sizes=(64, 64), batch_size=128)
    methods = {
        "SAC": lambda: (SAC, SACConfig(**shared)),
        "MDPO": lambda: (OffMDPO, OffMDPOConfig(**shared)),
        "MDPO-constant": lambda: (OffMDPO, OffMDPOConfig(**shared, kl_schedule="constant")),
    }
    seeds = list(range(args.seeds))
    print(f"{args.env}, {args.steps:,} env steps per seed, {args.seeds} seeds vmapped")
    print("| method | final return | per seed | wall s |")
    print("|---|---|---|---|")
    for name in args.methods:
        agent_type, config = methods[name]()
        agent = agent_type(config)
        start = time.perf_counter()
        result = rljax.run(
            agent,
            rljax.seed_keys(seeds),
            rljax.stack_hparams([config.hparams()] * len(seeds)),
            chunk_size=4096,
            progress=False,
        )
        returns = np.asarray(result.eval_returns).mean(axis=1)
        print(
            f"| {name} | {returns.mean():.1f} +- {returns.std():.1f} | "
            f"{', '.join(f'{r:.1f}' for r in returns)} | {time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
