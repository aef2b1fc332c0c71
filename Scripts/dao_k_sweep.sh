#!/usr/bin/env bash
# The k sweep of docs/detection.md ("In the benchmark's poisoned models"): similarity and the four
# local-outlier detectors (k-distance, SLOF, LID, DAO) in the image-embedding space of the benchmark's
# plain-CLIP models (the `none` rows, seeds 1-3) trained on the poisoned sets of the four attacks of
# issue 23's target (white square 2 %, blended / SIG / WaNet 5 %), at k = 16, 64, 128, 256 (reference
# set 1,024, `--seed` = the training seed). The k = 16 run of each model does the feature pass; the
# later k reuse its cache (copied: the cache's inputs.json names data, model, rows, classes and chunk
# size, not k or the detectors). Then: python3 Scripts/dao_k_sweep_table.py "$OUT".
#   Scripts/dao_k_sweep.sh [BENCHMARK_DIR [OUT]]     (defaults: runs/benchmark, runs/dao-sweep)
# KS, REFS (reference-set sizes; folders ATTACK-sSEED-rREF-kK for sizes other than 1,024), SETS
# (--reference-sets; folders …-kK-xSETS when not 1), ATTACKS (the
# poisoned sets' suffixes, e.g. blended-rate0.02) and SEEDS choose other settings and models of an
# experiment folder with the same layout (experiments/dao-low-rate.yaml, docs/detection.md):
#   KS="16 32 64" REFS="512 1024" ATTACKS="rate0.01 blended-rate0.02 sig-rate0.02 wanet-rate0.02" \
#     Scripts/dao_k_sweep.sh runs/dao-low-rate runs/dao-low-rate-sweep
set -euo pipefail
CLIPGUARD=${CLIPGUARD:-.build/debug/clipguard}
BENCH=${1:-runs/benchmark}
OUT=${2:-runs/dao-sweep}
KS=${KS:-16 64 128 256}
REFS=${REFS:-1024}
SETS=${SETS:-1}
ATTACKS=${ATTACKS:-rate0.02 blended-rate0.05 sig-rate0.05 wanet-rate0.05}
SEEDS=${SEEDS:-1 2 3}
mkdir -p "$OUT"
for attack in $ATTACKS; do
  data=$BENCH/data/poison-$attack/train.csv
  [ -f "$data" ] || { echo "missing $data (run the benchmark first)"; exit 1; }
  for s in $SEEDS; do
    model=$BENCH/rows/none-$attack-seed$s/run/model.safetensors
    [ -f "$model" ] || { echo "missing $model (run the benchmark first)"; exit 1; }
    first=
    for ref in $REFS; do for k in $KS; do
      [ "$k" -lt "$ref" ] || continue
      out=$OUT/$attack-s$s-k$k
      [ "$ref" = 1024 ] || out=$OUT/$attack-s$s-r$ref-k$k
      [ "$SETS" = 1 ] || out=$out-x$SETS
      if [ -n "$first" ] && [ ! -d "$out/cache" ]; then mkdir -p "$out" && cp -r "$first/cache" "$out/"; fi
      first=${first:-$out}
      [ -f "$out/summary.json" ] && continue
      start=$(date +%s)
      nice -n 10 "$CLIPGUARD" detect --data "$data" --model "$model" --detectors similarity,k-distance,slof,lid,dao \
        --neighbours "$k" --reference-size "$ref" --reference-sets "$SETS" --seed "$s" --out "$out" >"$out.log" 2>&1 || { echo "detect failed: $out (see $out.log)"; exit 1; }
      echo "$attack seed $s reference $ref k $k: $out ($(( $(date +%s) - start )) s)"
    done; done
  done
done
