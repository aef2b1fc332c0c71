#!/usr/bin/env bash
# The local-outlier detection measurements of docs/detection.md (section "Measured local-outlier detection"):
# every detector of `clipguard detect` in the image-embedding space of the poisoned plain-CLIP model
# trained on the very set (the rows of experiments/detect-models*.yaml), 3 seeds per set, and a
# k sweep of the local-outlier detectors at 2 %. Then Scripts/detect_table.py prints the tables.
#   clipguard experiment run experiments/detect-models.yaml --out runs/detect-models
#   clipguard experiment run experiments/detect-models-blended.yaml --out runs/detect-models-blended
#   Scripts/detect_measure.sh && python3 Scripts/detect_table.py runs/detect-measure
set -euo pipefail
CLIPGUARD=${CLIPGUARD:-.build/debug/clipguard}
OUT=${OUT:-runs/detect-measure}
run() {  # set-name data model seed out [detect flags…]
  local name=$1 data=$2 model=$3 seed=$4 out=$5; shift 5
  [ -f "$out/summary.json" ] && return 0
  nice "$CLIPGUARD" detect --data "$data" --model "$model" --out "$out" --seed "$seed" --workers 1 --quiet "$@" >"$out.log" 2>&1 \
    || { echo "detect failed: $out (see $out.log)"; exit 1; }
  echo "$name seed $seed: $out"
}
mkdir -p "$OUT"
for s in 1 2 3; do
  for set in patch:runs/detect-models/data/poison-rate0.02:none-rate0.02-seed$s:runs/detect-models \
             blended-0.5:runs/detect-models/data/poison-blended-rate0.005:none-blended-rate0.005-seed$s:runs/detect-models \
             blended-2:runs/detect-models-blended/data/poison-rate0.02:none-rate0.02-seed$s:runs/detect-models-blended; do
    IFS=: read -r name data row dir <<<"$set"
    model=$dir/rows/$row/run/model.safetensors
    [ -f "$model" ] || { echo "missing $model (run the experiment first)"; continue; }
    run "$name" "$data/train.csv" "$model" "$s" "$OUT/$name-s$s"
    if [ "$name" = patch ]; then
      for k in 64 256; do
        # The same data and model: the feature cache of the k = 16 run serves (its inputs.json agrees).
        [ -d "$OUT/$name-k$k-s$s/cache" ] || { mkdir -p "$OUT/$name-k$k-s$s" && cp -r "$OUT/$name-s$s/cache" "$OUT/$name-k$k-s$s/"; }
        run "$name k=$k" "$data/train.csv" "$model" "$s" "$OUT/$name-k$k-s$s" --detectors k-distance,slof,lid,dao --neighbours "$k"
      done
    fi
  done
done
