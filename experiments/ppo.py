"""Train PPO over several seeds in one vmapped batch and write a run folder.

    python -m experiments.ppo                          # CartPole-v1, 4 seeds, 5e5 steps each
    python -m experiments.ppo --env Pendulum-v1 --seeds 8 --gamma 0.9 --learning-rate 1e-3
    python -m experiments.ppo --help                   # every field of PPOConfig

The run folder (see `rljax.results`) holds config.json, metrics.jsonl, metrics.npz, eval.json
and learning_curve.png; its path is printed at the end.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import tyro

from rljax.agents.ppo import PPO, PPOConfig
from rljax.config import ConfigError
from rljax.experiment import ExperimentArgs, run_experiment


@dataclass(frozen=True)
class Args(ExperimentArgs):
    ppo: Annotated[PPOConfig, tyro.conf.arg(name="")] = PPOConfig()


def main(argv: list[str] | None = None) -> int:
    try:
        args = tyro.cli(Args, args=argv, description=__doc__.split("\n")[0])
        args.validate()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_experiment("ppo", PPO(args.ppo), args.ppo, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
