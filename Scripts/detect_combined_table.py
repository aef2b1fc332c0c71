#!/usr/bin/env python3
"""Issue 23's combination target per attack and seed, from Scripts/detect_combined_bench.sh's folders.

For each run: the campaign word `combined` chose, the columns it summed, its recall at k = the number
of poisoned pairs, the best single column's recall at the same k, and their ratio (target: >= 0.8).
    python3 Scripts/detect_combined_table.py [runs/detect-combined]
"""
import json, os, sys

NAMES = {
    "rate0.02": "white square 2 %", "blended-rate0.05": "blended 5 %", "sig-rate0.05": "SIG 5 %",
    "wanet-rate0.05": "WaNet 5 %", "triangles-rate0.02": "triangles 2 %",
    "clean-label-rate0.019": "clean-label 1.9 %", "optimized-rate0.005": "optimised 0.5 %",
    "caption-trigger-rate0.05": "caption trigger 5 %", "pairing-ii-rate0.01": "pairing II 1 %",
}


def recall(summary, column):
    for entry in summary["metrics"][column]["at_k"]:
        if entry["label"] == "poisoned":
            return entry["recall"]
    raise SystemExit(f"{column}: no recall at k = poisoned in the summary")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/detect-combined"
    if not os.path.isdir(root):
        raise SystemExit(f"{root}: no such folder (run Scripts/detect_combined_bench.sh first)")
    print("| attack | seed | campaign word | columns summed | combined recall@k | best single column (recall@k) | ratio |")
    print("|---|---|---|---|---|---|---|")
    met = total = 0
    for attack, name in NAMES.items():
        for seed in (1, 2, 3):
            path = os.path.join(root, f"{attack}-s{seed}", "summary.json")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                s = json.load(f)
            columns = [c for c in s["columns"] if c != "combined"]
            best = max(columns, key=lambda c: recall(s, c))
            c, b = recall(s, "combined"), recall(s, best)
            ratio = c / b if b > 0 else float("nan")
            total += 1
            met += ratio >= 0.8 or b == 0
            print(f"| {name} | {seed} | {s.get('campaign_word') or '–'} | {', '.join(s['combined'])} | "
                  f"{c:.2f} | {best} ({b:.2f}) | {ratio:.2f} |")
    print(f"\ncombined >= 0.8 x the best column in {met} of {total} runs")


if __name__ == "__main__":
    main()
