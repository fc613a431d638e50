"""Train SAC (Haarnoja et al. 2018; discrete actions: Christodoulou 2019) over several seeds in
one vmapped batch and write a run folder.

    python -m experiments.sac                          # Pendulum-v1, 4 seeds, 1e4 steps each
    python -m experiments.sac --env CartPole-v1        # the discrete variant
    python -m experiments.sac --help                   # every field of SACConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.sac import SAC, SACConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main("sac", SACConfig, SAC, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
