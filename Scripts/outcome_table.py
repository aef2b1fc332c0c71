#!/usr/bin/env python3
"""Prints the outcome-agreement table from the run folders that Scripts/outcome_agreement.sh wrote.

  python3 Scripts/outcome_table.py OUT      # OUT/clipguard-seedN/eval.json, OUT/pytorch-seedN/result.json

Per seed and side: clean zero-shot top-1, ASR (successes / denominator), final loss and seconds
per epoch; then mean ± sample std per side, and whether the two means agree within the seed
spread: |Δ mean| ≤ 2 × the larger of the two sides' sample standard deviations (printed with the
numbers, so another criterion can be applied by eye). Standard library only.
"""
import glob
import json
import os
import re
import statistics
import sys


def finished_runs(out, prefix, result_file):
    """(folder, parsed result) of every OUT/PREFIX-seedN folder holding its result file."""
    for folder in sorted(glob.glob(os.path.join(out, prefix + "-seed*"))):
        path = os.path.join(folder, result_file)
        if os.path.exists(path):
            with open(path) as f:
                yield folder, json.load(f)


def clipguard_rows(out):
    rows = []
    for folder, result in finished_runs(out, "clipguard", "eval.json"):
        records = [json.loads(line) for line in open(os.path.join(folder, "run", "metrics.jsonl"))]
        steps = [r for r in records if "loss" in r]
        ends = [r["elapsed_s"] for r in records if "epoch_end" in r]
        epoch_seconds = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
        rows.append({
            "side": "ClipGuard", "seed": int(re.sub(r"\D", "", os.path.basename(folder))),
            "top1": result["top1"], "asr": result["asr"], "successes": result["asr_successes"],
            "denominator": result["asr_denominator"], "loss": steps[-1]["loss"] if steps else float("nan"),
            "epoch_seconds": epoch_seconds,
        })
    return rows


def pytorch_rows(out):
    rows = []
    for _, result in finished_runs(out, "pytorch", "result.json"):
        rows.append({
            "side": "PyTorch", "seed": result["seed"], "top1": result["top1"], "asr": result["asr"],
            "successes": result["asr_successes"], "denominator": result["asr_denominator"],
            "loss": result["final_loss"], "epoch_seconds": result["epoch_seconds"],
        })
    return rows


def mean_std(values):
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: outcome_table.py OUT")
    out = sys.argv[1]
    rows = clipguard_rows(out) + pytorch_rows(out)
    if not rows:
        sys.exit(f"error: {out}: no finished run (clipguard-seedN/eval.json or pytorch-seedN/result.json)")
    print(f"{'side':<10} {'seed':>4} {'clean top-1 %':>14} {'ASR %':>7} {'ASR n':>13} {'final loss':>11} {'s/epoch':>8}")
    for r in rows:
        per_epoch = statistics.mean(r["epoch_seconds"]) if r["epoch_seconds"] else float("nan")
        print(f"{r['side']:<10} {r['seed']:>4} {100 * r['top1']:>14.2f} {100 * r['asr']:>7.2f} "
              f"{r['successes']:>6}/{r['denominator']:<6} {r['loss']:>11.4f} {per_epoch:>8.1f}")
    summary = {}
    for side in ("ClipGuard", "PyTorch"):
        mine = [r for r in rows if r["side"] == side]
        top1 = mean_std([100 * r["top1"] for r in mine])
        asr = mean_std([100 * r["asr"] for r in mine])
        summary[side] = (top1, asr, len(mine))
        print(f"{side:<10} mean ± std over {len(mine)} seeds: clean top-1 {top1[0]:.2f} ± {top1[1]:.2f} %, "
              f"ASR {asr[0]:.2f} ± {asr[1]:.2f} %")
    if all(summary[s][2] >= 2 for s in summary):
        for index, name in ((0, "clean top-1"), (1, "ASR")):
            (m1, s1), (m2, s2) = summary["ClipGuard"][index], summary["PyTorch"][index]
            spread = max(s1, s2)
            verdict = "within" if abs(m1 - m2) <= 2 * spread else "OUTSIDE"
            print(f"{name}: |Δ mean| = {abs(m1 - m2):.2f} points, larger seed std = {spread:.2f}: "
                  f"{verdict} twice the seed spread")


if __name__ == "__main__":
    main()
