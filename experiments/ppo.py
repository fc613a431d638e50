"""Train PPO over several seeds in one vmapped batch and write a run folder.

    python -m experiments.ppo                          # CartPole-v1, 4 seeds, 5e5 steps each
    python -m experiments.ppo --env Pendulum-v1 --seeds 8 --gamma 0.9 --learning-rate 1e-3
    python -m experiments.ppo --help                   # every field of PPOConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.ppo import PPO, PPOConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main("ppo", PPOConfig, PPO, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
