#!/usr/bin/env python3
"""Tables of Scripts/detect_measure.sh's summaries: per set and column, AUROC and TPR at 1% FPR
(mean ± std over seeds, each seed's value), recall at k = #poisoned for combined vs the best single
column of the same run, and the k sweep. Usage: detect_table.py runs/detect-measure"""
import glob, json, os, re, statistics, sys

root = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    name = os.path.basename(os.path.dirname(path))
    m = re.match(r"(.+?)(-k(\d+))?-s(\d+)$", name)
    if not m: continue  # another folder (e.g. a warm-up run), not SET[-kK]-sSEED
    runs.setdefault((m.group(1), int(m.group(3) or 16)), []).append((int(m.group(4)), json.load(open(path))))

def fmt(values):
    if not values: return "–"
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0
    return f"{mean:.3f} ± {sd:.3f} ({', '.join(f'{v:.3f}' for v in values)})"

for (name, k), items in sorted(runs.items()):
    items.sort()
    s0 = items[0][1]
    m0 = s0.get("metrics") or {}
    poisoned = m0.get("combined", {}).get("poisoned")
    print(f"\n### {name}, k = {k}: {poisoned} poisoned of {s0['rows']} pairs, seeds {[s for s, _ in items]}\n")
    print("| column | AUROC | TPR@1%FPR | recall@k | F1 at threshold |")
    print("|---|---|---|---|---|")
    for col in s0["columns"] + ["combined"]:
        vals = lambda key: [x["metrics"][col][key] for _, x in items if x["metrics"][col].get(key) is not None]
        rec = [x["metrics"][col]["at_k"][0]["recall"] for _, x in items]
        f1 = [x["metrics"][col]["at_threshold"]["f1"] for _, x in items]
        print(f"| {col} | {fmt(vals('auroc'))} | {fmt(vals('tpr_at1_fpr'))} | {fmt(rec)} | {fmt(f1)} |")
    if k == 16:
        print("\ncombined vs best single column (recall at k), per seed: " + "; ".join(
            f"seed {s}: {x['metrics']['combined']['at_k'][0]['recall']:.2f} vs "
            + max(((c, x['metrics'][c]['at_k'][0]['recall']) for c in x['columns']), key=lambda t: t[1])[0]
            + f" {max(x['metrics'][c]['at_k'][0]['recall'] for c in x['columns']):.2f} (used: {', '.join(x['combined'])}; word \"{x['campaign_word']}\")"
            for s, x in items))
