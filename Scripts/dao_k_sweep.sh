#!/usr/bin/env bash
# The k sweep of docs/detection.md ("In the benchmark's poisoned models"): similarity and the four
# local-outlier detectors (k-distance, SLOF, LID, DAO) in the image-embedding space of the benchmark's
# plain-CLIP models (the `none` rows, seeds 1-3) trained on the poisoned sets of the four attacks of
# issue 23's target (white square 2 %, blended / SIG / WaNet 5 %), at k = 16, 64, 128, 256 (reference
# set 1,024, `--seed` = the training seed). The k = 16 run of each model does the feature pass; the
# later k reuse its cache (copied: the cache's inputs.json names data, model, rows, classes and chunk
# size, not k or the detectors). Then: python3 Scripts/dao_k_sweep_table.py "$OUT".
#   Scripts/dao_k_sweep.sh [BENCHMARK_DIR [OUT]]     (defaults: runs/benchmark, runs/dao-sweep)
set -euo pipefail
CLIPGUARD=${CLIPGUARD:-.build/debug/clipguard}
BENCH=${1:-runs/benchmark}
OUT=${2:-runs/dao-sweep}
KS=${KS:-16 64 128 256}
mkdir -p "$OUT"
for attack in rate0.02 blended-rate0.05 sig-rate0.05 wanet-rate0.05; do
  data=$BENCH/data/poison-$attack/train.csv
  [ -f "$data" ] || { echo "missing $data (run the benchmark first)"; exit 1; }
  for s in 1 2 3; do
    model=$BENCH/rows/none-$attack-seed$s/run/model.safetensors
    [ -f "$model" ] || { echo "missing $model (run the benchmark first)"; exit 1; }
    first=
    for k in $KS; do
      out=$OUT/$attack-s$s-k$k
      if [ -n "$first" ] && [ ! -d "$out/cache" ]; then mkdir -p "$out" && cp -r "$first/cache" "$out/"; fi
      first=${first:-$out}
      [ -f "$out/summary.json" ] && continue
      start=$(date +%s)
      nice -n 10 "$CLIPGUARD" detect --data "$data" --model "$model" --detectors similarity,k-distance,slof,lid,dao \
        --neighbours "$k" --seed "$s" --out "$out" >"$out.log" 2>&1 || { echo "detect failed: $out (see $out.log)"; exit 1; }
      echo "$attack seed $s k $k: $out ($(( $(date +%s) - start )) s)"
    done
  done
done
