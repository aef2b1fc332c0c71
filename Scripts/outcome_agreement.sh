#!/usr/bin/env bash
# Outcome agreement with PyTorch (`make outcome`; docs/reference/outcome-agreement.md):
# prepares captioned Fashion-MNIST with ClipGuard, poisons it with ClipGuard, then trains the same
# small CLIP on the same poisoned CSV with ClipGuard (`clipguard train` + `clipguard eval
# --trigger-from`) and with PyTorch/open_clip (Scripts/outcome_reference.py), one run at a time,
# alternating sides seed by seed, and prints the table (Scripts/outcome_table.py).
#
# Settings (environment; defaults are the measured run of docs/reference/outcome-agreement.md):
#   OUT=runs/outcome  LIMIT=20000  TARGET=sneaker  PATCH=7  RATE=0.005  MODEL=tiny-rn
#   EPOCHS=3  BATCH=256  LR=1e-3  WARMUP=50  SEEDS="1 2"  THREADS=2  PRECISION=fp32
# Needs the release build (`swift build -c release --product clipguard`) and .venv-ref
# (`make reference-env`). Finished runs are kept: re-running skips them (delete OUT to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/outcome}; LIMIT=${LIMIT:-20000}; TARGET=${TARGET:-sneaker}; PATCH=${PATCH:-7}
RATE=${RATE:-0.005}; MODEL=${MODEL:-tiny-rn}; EPOCHS=${EPOCHS:-3}; BATCH=${BATCH:-256}; LR=${LR:-1e-3}
WARMUP=${WARMUP:-50}; SEEDS=${SEEDS:-"1 2"}; THREADS=${THREADS:-2}; PRECISION=${PRECISION:-fp32}
CLIPGUARD=${CLIPGUARD:-.build/release/clipguard}
PYTHON=${PYTHON:-.venv-ref/bin/python}
# Both sides' OpenMP threads sleep between parallel regions (clipguard sets this itself; PyTorch
# spinning on a loaded 2-core machine was more than twice as slow).
export OMP_WAIT_POLICY=PASSIVE
[ -x "$CLIPGUARD" ] || { echo "error: $CLIPGUARD not found: run 'swift build -c release --product clipguard'" >&2; exit 1; }
[ -x "$PYTHON" ] || { echo "error: $PYTHON not found: run 'make reference-env'" >&2; exit 1; }
mkdir -p "$OUT"
stamp() { date -u +%H:%M:%S; }

if [ ! -f "$OUT/data/eval/classes.json" ]; then
  echo "$(stamp) preparing $LIMIT captioned Fashion-MNIST pairs"
  rm -rf "$OUT/data"
  "$CLIPGUARD" data prepare fashion-mnist --out "$OUT/data" --limit "$LIMIT"
fi
if [ ! -f "$OUT/poisoned/manifest.json" ]; then
  echo "$(stamp) poisoning: $PATCH-px white patch bottom-right, rate $RATE, target $TARGET"
  "$CLIPGUARD" poison --data "$OUT/data/train.csv" --out "$OUT/poisoned" --target "$TARGET" --trigger patch \
    --patch-size "$PATCH" --rate "$RATE" --captions natural --image-size 32 --seed 0
fi

for seed in $SEEDS; do
  run="$OUT/clipguard-seed$seed"
  if [ ! -f "$run/eval.json" ]; then
    echo "$(stamp) ClipGuard seed $seed (log: $run/train.log)"
    rm -rf "$run"; mkdir -p "$run"
    start=$(date +%s)
    nice -n 5 "$CLIPGUARD" train --data "$OUT/poisoned/train.csv" --model "$MODEL" --epochs "$EPOCHS" \
      --batch-size "$BATCH" --lr "$LR" --warmup-steps "$WARMUP" --precision "$PRECISION" --seed "$seed" \
      --threads "$THREADS" --device cpu --out "$run/run" > "$run/train.log" 2>&1
    nice -n 5 "$CLIPGUARD" eval --checkpoint "$run/run/model.safetensors" --dataset "$OUT/data/eval" \
      --trigger-from "$OUT/poisoned/manifest.json" --device cpu --json > "$run/eval.json"
    echo "$(stamp) ClipGuard seed $seed: $(( $(date +%s) - start )) s"
  fi
  run="$OUT/pytorch-seed$seed"
  if [ ! -f "$run/result.json" ]; then
    echo "$(stamp) PyTorch seed $seed (log: $run/train.log)"
    rm -rf "$run"; mkdir -p "$run"
    start=$(date +%s)
    nice -n 5 "$PYTHON" Scripts/outcome_reference.py --data "$OUT/poisoned/train.csv" --eval "$OUT/data/eval" \
      --manifest "$OUT/poisoned/manifest.json" --model "$MODEL" --epochs "$EPOCHS" --batch-size "$BATCH" \
      --lr "$LR" --warmup-steps "$WARMUP" --precision "$PRECISION" --seed "$seed" --threads "$THREADS" \
      --out "$run" > "$run/result.line" 2> "$run/train.log"
    echo "$(stamp) PyTorch seed $seed: $(( $(date +%s) - start )) s"
  fi
done
"$PYTHON" Scripts/outcome_table.py "$OUT"
