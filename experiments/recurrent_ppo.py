"""Train recurrent PPO (a GRU actor-critic) over several seeds in one vmapped batch.

    python -m experiments.recurrent_ppo                # MemoryChain-bsuite, 4 seeds
    python -m experiments.recurrent_ppo --env CartPole-v1-no-velocity --total-timesteps 1000000
    python -m experiments.recurrent_ppo --help         # every field of RecurrentPPOConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main(
        "recurrent_ppo",
        RecurrentPPOConfig,
        RecurrentPPO,
        argv,
        description=__doc__,
    )


if __name__ == "__main__":
    sys.exit(main())
