"""Train off-policy MDPO (Tomar et al. 2020, Sec. 5.2; SAC's critics with a mirror-descent
policy step) over several seeds in one vmapped batch and write a run folder.

    python -m experiments.mdpo_off                          # Pendulum-v1, 4 seeds, 1e4 steps
    python -m experiments.mdpo_off --kl-schedule constant   # the public code's KL weight 1.0
    python -m experiments.mdpo_off --env brax/inverted_pendulum --total-timesteps 50000
    python -m experiments.mdpo_off --help                   # every field of OffMDPOConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys

from rljax import experiment
from rljax.agents.mdpo_off import OffMDPO, OffMDPOConfig


def main(argv: list[str] | None = None) -> int:
    return experiment.main("mdpo_off", OffMDPOConfig, OffMDPO, argv, description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
