"""Overlay the learning curves of run folders: `python -m rljax.plot RUN_DIR [RUN_DIR ...]`.

    python -m rljax.plot runs/ppo-CartPole-v1-* runs/ppo-CartPole-v1-mdpo-* --out compare.png
    python -m rljax.plot runs/a runs/b --statistic iqm --metric value_loss

Each run folder (written by an experiment module) becomes one curve: the mean or IQM over
its seeds, with a 95% bootstrap band. Labels are `algorithm (drift) env` from config.json,
or the folder name.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rljax.plotting import plot_learning_curves
from rljax.results import load_metrics


def _label(run_dir: Path) -> str:
    try:
        saved = json.loads((run_dir / "config.json").read_text())
        config = saved["config"]
        drift = config.get("drift")
        extra = f" ({drift})" if drift and drift != "ppo_clip" else ""
        return f"{saved['algorithm']}{extra} {config['env']}"
    except (OSError, KeyError, ValueError):
        return run_dir.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run folders to overlay")
    parser.add_argument("--out", type=Path, default=Path("comparison.png"), help="PNG to write")
    parser.add_argument("--metric", default="episode_return", help="metric in metrics.npz")
    parser.add_argument("--statistic", choices=("mean", "iqm"), default="mean")
    args = parser.parse_args(argv)
    curves = {}
    for run_dir in args.run_dirs:
        try:
            metrics = load_metrics(run_dir)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.metric not in metrics:
            known = ", ".join(sorted(k for k in metrics if k != "env_steps"))
            print(
                f"error: {run_dir} has no metric {args.metric!r}; it has {known}", file=sys.stderr
            )
            return 2
        label = _label(run_dir)
        while label in curves:  # two runs of the same config: keep both, tell them apart
            label = f"{label} [{run_dir.name}]"
        curves[label] = (metrics["env_steps"], metrics[args.metric])
    plot_learning_curves(
        curves, args.out, ylabel=args.metric.replace("_", " "), statistic=args.statistic
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
