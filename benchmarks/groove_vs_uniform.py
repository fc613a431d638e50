"""GROOVE against uniform levels (Jackson et al. 2023, "Discovering General Reinforcement
Learning Algorithms with Adversarial Environment Design"): LPG rules meta-trained with
`--curriculum groove` and `--curriculum uniform` at equal meta-steps and seeds, each frozen
rule then training fresh agents on held-out levels; prints a table of the mean and the
bottom-decile return / optimal per curriculum (mean +- std over meta-training seeds).

    python benchmarks/groove_vs_uniform.py                       # 3 seeds x 2 curricula
    python benchmarks/groove_vs_uniform.py --out runs/groove-cmp --skip-training  # tables only

Meta-training runs `experiments.lpg meta-train` (8 agents, lifetime 50 updates of 8 envs x
20 steps, `--meta-steps` meta-steps, the CLI's other defaults) into `OUT/<curriculum>-<seed>`;
evaluation runs `experiments.lpg meta-eval` on `--heldout` levels sampled from GROOVE's space
with a fixed seed (the same for every rule), `--eval-seeds` agents each. Levels whose optimal
return is below `experiments.lpg.MIN_OPTIMAL` are left out. The bottom decile is the mean of
the lowest 10% of levels by the rule's return / optimal (at least one level).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from experiments import lpg

CURRICULA = ("uniform", "groove")


def _only_folder(parent: Path, prefix: str) -> Path:
    folders = sorted(parent.glob(f"{prefix}-*"))
    if not folders:
        raise SystemExit(f"error: no {prefix} run in {parent}; run without --skip-training")
    return folders[-1]


def rule_scores(results_csv: Path, method: str = "learned rule") -> tuple[float, float]:
    """(mean, bottom-decile mean) of `method`'s per-level return / optimal."""
    with open(results_csv) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:-1]  # the last row is the mean
    column = header.index(method)
    kept = np.array(
        [float(r[column]) for r in body if float(r[1]) >= lpg.MIN_OPTIMAL], dtype=np.float64
    )
    lowest = np.sort(kept)[: max(1, len(kept) // 10)]
    return float(kept.mean()), float(lowest.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--meta-steps", type=int, default=100)
    parser.add_argument("--heldout", type=int, default=64, help="held-out levels sampled")
    parser.add_argument("--eval-seeds", type=int, default=2, help="agents per held-out level")
    parser.add_argument("--out", default="runs/groove-vs-uniform")
    parser.add_argument("--skip-training", action="store_true", help="reuse OUT's runs")
    args = parser.parse_args()
    out = Path(args.out)
    agent = ["--agent.total-timesteps", "8000"]
    scores: dict[str, list[tuple[float, float]]] = {c: [] for c in CURRICULA}
    for seed in args.seeds:
        for curriculum in CURRICULA:
            folder = out / f"{curriculum}-{seed}"
            if not args.skip_training:
                flags = [
                    "meta-train", "--curriculum", curriculum, "--meta.seed", str(seed),
                    "--meta.num-agents", "8", "--meta.num-meta-steps", str(args.meta_steps),
                    "--eval-every", "50", "--out-dir", str(folder), "--no-progress", *agent,
                ]  # fmt: skip
                if lpg.main(flags) != 0:
                    raise SystemExit(f"error: meta-train failed: {' '.join(flags)}")
            run = _only_folder(folder, "lpg-meta-train")
            evals = folder / "eval"
            if not args.skip_training or not list(evals.glob("lpg-meta-eval-*")):
                flags = [
                    "meta-eval", "--rule-params", str(run / "rule_params.npz"),
                    "--seeds", str(args.eval_seeds),
                    "--task-space.num-heldout-sampled", str(args.heldout),
                    "--out-dir", str(evals), "--no-progress", *agent,
                ]  # fmt: skip
                if lpg.main(flags) != 0:
                    raise SystemExit(f"error: meta-eval failed: {' '.join(flags)}")
            results = _only_folder(evals, "lpg-meta-eval") / "results.csv"
            scores[curriculum].append(rule_scores(results))
    references = {m: rule_scores(results, m) for m in ("a2c", "random rule")}
    print(
        f"\nLPG rules after {args.meta_steps} meta-steps, {len(args.seeds)} meta-training seeds; "
        f"{args.heldout} held-out levels x {args.eval_seeds} agents (return / optimal):\n"
    )
    print("| curriculum | mean | bottom decile | per seed (mean / bottom decile) |")
    print("|---|---|---|---|")
    for curriculum, values in scores.items():
        v = np.array(values)
        per_seed = ", ".join(f"{m:.3f} / {b:.3f}" for m, b in values)
        print(
            f"| {curriculum} | {v[:, 0].mean():.3f} +- {v[:, 0].std():.3f} | "
            f"{v[:, 1].mean():.3f} +- {v[:, 1].std():.3f} | {per_seed} |"
        )
    for method, (mean, bottom) in references.items():
        print(f"| {method} (reference) | {mean:.3f} | {bottom:.3f} | |")


if __name__ == "__main__":
    main()
