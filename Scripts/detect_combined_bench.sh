#!/usr/bin/env bash
# Issue 23's combination target on every attack of the benchmark: every detector (the default nine)
# in the image-embedding space of the benchmark's plain-CLIP models (the `none` rows, seeds 1-3)
# trained on each attack's poisoned set, k = 16, reference set 1,024, `--seed` = the training seed.
# Then: python3 Scripts/detect_combined_table.py "$OUT" (combined's recall at k = the number of
# poisoned pairs against the best single column's, per attack and seed).
#   Scripts/detect_combined_bench.sh [BENCHMARK_DIR [OUT]]     (defaults: runs/benchmark, runs/detect-combined)
# A feature cache from an earlier run on the same data and model (e.g. Scripts/dao_k_sweep.sh's
# k = 16 runs) can be copied into OUT/ATTACK-sSEED/cache first; detect reuses it.
set -euo pipefail
CLIPGUARD=${CLIPGUARD:-.build/debug/clipguard}
BENCH=${1:-runs/benchmark}
OUT=${2:-runs/detect-combined}
ATTACKS=${ATTACKS:-rate0.02 blended-rate0.05 sig-rate0.05 wanet-rate0.05 triangles-rate0.02 clean-label-rate0.019 optimized-rate0.005 caption-trigger-rate0.05 pairing-ii-rate0.01}
mkdir -p "$OUT"
for attack in $ATTACKS; do
  data=$BENCH/data/poison-$attack/train.csv
  [ -f "$data" ] || { echo "missing $data (run the benchmark first)"; exit 1; }
  for s in 1 2 3; do
    model=$BENCH/rows/none-$attack-seed$s/run/model.safetensors
    [ -f "$model" ] || { echo "missing $model (run the benchmark first)"; exit 1; }
    out=$OUT/$attack-s$s
    [ -f "$out/summary.json" ] && continue
    start=$(date +%s)
    nice -n 10 "$CLIPGUARD" detect --data "$data" --model "$model" --seed "$s" --out "$out" >"$out.log" 2>&1 \
      || { echo "detect failed: $out (see $out.log)"; exit 1; }
    echo "$attack seed $s: $out ($(( $(date +%s) - start )) s)"
  done
done
