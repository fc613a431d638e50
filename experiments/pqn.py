"""Train PQN (Gallici et al. 2024) over several seeds in one vmapped batch and write a run folder.

    python -m experiments.pqn                          # CartPole-v1, 4 seeds, 5e5 steps each
    python -m experiments.pqn --env Acrobot-v1 --seeds 8 --q-lambda 0.8 --learning-rate 3e-4
    python -m experiments.pqn --help                   # every field of PQNConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.pqn import PQN, PQNConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main("pqn", PQNConfig, PQN, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
