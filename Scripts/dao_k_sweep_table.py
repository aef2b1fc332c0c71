#!/usr/bin/env python3
"""Tables of Scripts/dao_k_sweep.sh's summaries (folders ATTACK-sSEED-kK): per attack and k, the AUROC
of cosine, k-distance, SLOF, LID and DAO (mean and every seed's value), TPR at 1% FPR, and DAO's recall
at k = #poisoned and F1 at its label-free threshold. Usage: dao_k_sweep_table.py runs/dao-sweep"""
import glob, json, os, re, statistics, sys

COLUMNS = ["cosine", "k-distance", "slof", "lid", "dao"]
NAMES = {"rate0.02": "white square 2 %", "blended-rate0.05": "blended 5 %",
         "sig-rate0.05": "SIG 5 %", "wanet-rate0.05": "WaNet 5 %",
         "rate0.01": "white square 1 %", "blended-rate0.01": "blended 1 %", "blended-rate0.02": "blended 2 %",
         "sig-rate0.01": "SIG 1 %", "sig-rate0.02": "SIG 2 %", "wanet-rate0.01": "WaNet 1 %", "wanet-rate0.02": "WaNet 2 %"}

root = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(root, "*", "summary.json"))):
    m = re.match(r"(.+)-s(\d+)(?:-r(\d+))?-k(\d+)(?:-x(\d+))?$", os.path.basename(os.path.dirname(path)))
    if m:
        key = (m.group(1), int(m.group(3) or 1024), int(m.group(4)), int(m.group(5) or 1))
        runs.setdefault(key, []).append((int(m.group(2)), json.load(open(path))))

def cell(values, digits=3):
    if not values: return "–"
    seeds = " / ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.mean(values):.{digits}f} ({seeds})" if len(values) > 1 else seeds

order = list(NAMES)
keys = sorted(runs, key=lambda t: (order.index(t[0]) if t[0] in order else len(order), t[0], t[3], t[1], t[2]))
# The k column: k alone for the default reference set of 1,024, else "k / reference size"; "× R" for R sets.
kr = lambda key: (f"{key[2]}" if key[1] == 1024 else f"{key[2]} / {key[1]:,}") + (f" × {key[3]}" if key[3] != 1 else "")

# The table of docs/detection.md: AUROC, mean of the seeds; cosine (independent of k) and DAO per seed.
print("| attack (≈ poisoned references of the reference set) | k | cosine (seed 1 / 2 / 3) | k-distance | SLOF | LID | DAO: mean (seed 1 / 2 / 3) |")
print("|---|---|---|---|---|---|---|")
for key in keys:
    items = sorted(runs[key], key=lambda t: t[0])
    s0 = items[0][1]
    auroc = lambda c: [x["metrics"][c]["auroc"] for _, x in items]
    refs = s0["metrics"]["dao"]["poisoned"] / s0["rows"] * s0["options"]["reference-size"]
    first = key == min((k for k in keys if k[0] == key[0]), key=lambda t: (t[3], t[1], t[2]))
    label = f"{NAMES.get(key[0], key[0])} (≈ {refs:.0f} of {s0['options']['reference-size']:,})" if first else ""
    cosine = " / ".join(f"{v:.2f}" for v in auroc("cosine")) if first else "same"
    print(f"| {label} | {kr(key)} | {cosine} | {statistics.mean(auroc('k-distance')):.2f} | {statistics.mean(auroc('slof')):.2f} | "
          f"{statistics.mean(auroc('lid')):.2f} | {cell(auroc('dao'))} |")
for title, metric in (("AUROC", lambda m: m["auroc"]), ("TPR at 1% FPR", lambda m: m["tpr_at1_fpr"])):
    print(f"\n{title}: mean (seed 1 / 2 / 3); chance AUROC 0.5, TPR@1%FPR 0.01\n")
    print("| attack | k | poisoned / pairs | seeds | " + " | ".join(COLUMNS) + " |")
    print("|---|---|---|---|" + "---|" * len(COLUMNS))
    for key in keys:
        items = sorted(runs[key], key=lambda t: t[0])
        s0 = items[0][1]
        cols = [cell([metric(x["metrics"][c]) for _, x in items if c in x["metrics"] and x["metrics"][c].get("auroc") is not None])
                for c in COLUMNS]
        print(f"| {NAMES.get(key[0], key[0])} | {kr(key)} | {s0['metrics']['dao']['poisoned']} / {s0['rows']} | "
              f"{','.join(str(s) for s, _ in items)} | " + " | ".join(cols) + " |")

print("\nDAO at its label-free threshold (robust z > 3.5) and at k = #poisoned: seed 1 / 2 / 3\n")
print("| attack | k | recall@#poisoned | flagged | precision | recall | F1 |")
print("|---|---|---|---|---|---|---|")
for key in keys:
    items = sorted(runs[key], key=lambda t: t[0])
    d = [x["metrics"]["dao"] for _, x in items]
    at = [m["at_threshold"] for m in d]
    print(f"| {NAMES.get(key[0], key[0])} | {kr(key)} | {cell([m['at_k'][0]['recall'] for m in d], 2)} | "
          f"{' / '.join(str(a['flagged']) for a in at)} | {cell([a['precision'] for a in at], 2)} | "
          f"{cell([a['recall'] for a in at], 2)} | {cell([a['f1'] for a in at], 2)} |")
