"""Train DQN / Double DQN (Mnih et al. 2015; van Hasselt et al. 2016) over several seeds in one
vmapped batch and write a run folder.

    python -m experiments.dqn                          # CartPole-v1, 4 seeds, 2e5 steps each
    python -m experiments.dqn --env Acrobot-v1 --seeds 8 --no-double-dqn --tau 0.005
    python -m experiments.dqn --help                   # every field of DQNConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.dqn import DQN, DQNConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main("dqn", DQNConfig, DQN, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
