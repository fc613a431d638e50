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


def curve_labels(run_dirs: list[Path]) -> list[str]:
    """One legend label per run folder: `_label`, and where several runs share it, each of
    them followed by its folder's name."""
    labels = [_label(run_dir) for run_dir in run_dirs]
    out: list[str] = []
    for run_dir, label in zip(run_dirs, labels, strict=True):
        if labels.count(label) > 1:
            label = f"{label} [{run_dir.name}]"
        while label in out:  # the same folder twice
            label += " (again)"
        out.append(label)
    return out


def main(argv: list[str] | None = None) -> int:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        """The module docstring as written, and every option's default."""

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run folders to overlay")
    parser.add_argument("--out", type=Path, default=Path("comparison.png"), help="PNG to write")
    parser.add_argument("--metric", default="episode_return", help="metric in metrics.npz")
    parser.add_argument("--statistic", choices=("mean", "iqm"), default="mean")
    args = parser.parse_args(argv)
    found = []
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
        found.append((run_dir, metrics))
    labels = curve_labels([run_dir for run_dir, _ in found])
    curves = {
        label: (metrics["env_steps"], metrics[args.metric])
        for label, (_, metrics) in zip(labels, found, strict=True)
    }
    plot_learning_curves(
        curves, args.out, ylabel=args.metric.replace("_", " "), statistic=args.statistic
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
