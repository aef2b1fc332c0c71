#!/usr/bin/env bash
# `make bundle-test`: the newest dist/clipguard-*.tar.xz unpacked into an empty folder and used
# the way a machine without Swift would: under `env -i PATH=/usr/bin:/bin` (no Swift toolchain,
# no CLIPGUARD_* variables, no .deps above the folder), build-shim.sh compiles libctorch.so against
# the torch of a fresh venv, then `clipguard info`, a tiny Fashion-MNIST training run with a
# zero-shot evaluation, and `gpu-check.sh --cpu-only`. Exits non-zero when a step fails.
#
# BUNDLE_TORCH_WHEEL: the torch wheel for the venv (default: the newest /opt/wheels/torch-*+cpu-*.whl);
# BUNDLE_TORCH_PYTHON: use this interpreter's torch instead of a fresh venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "bundle-test: error: $*" >&2; exit 1; }
tarball=$(ls -t "$root"/dist/clipguard-*-linux-x86_64.tar.xz 2>/dev/null | head -n 1 || true)
[ -n "$tarball" ] || fail "no dist/clipguard-*-linux-x86_64.tar.xz (run make bundle)"
dir=$(mktemp -d "${TMPDIR:-/tmp}/clipguard-bundle-test.XXXXXX")
echo "bundle-test: $(basename "$tarball") ($(du -h "$tarball" | cut -f1)) in $dir"

if [ -n "${BUNDLE_TORCH_PYTHON:-}" ]; then
  python=$BUNDLE_TORCH_PYTHON
else
  wheel=${BUNDLE_TORCH_WHEEL:-$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)}
  [ -n "$wheel" ] || fail "no torch wheel: set BUNDLE_TORCH_WHEEL or BUNDLE_TORCH_PYTHON"
  echo "bundle-test: fresh venv with $(basename "$wheel")"
  python3 -m venv "$dir/venv"
  # Only torch's files are needed (build-shim.sh reads them without importing torch).
  "$dir/venv/bin/pip" install -q --no-deps "$wheel" || fail "pip could not install $wheel"
  python="$dir/venv/bin/python"
fi
mkdir "$dir/unpacked"
tar -C "$dir/unpacked" -xJf "$tarball"
bundle=$(ls -d "$dir"/unpacked/clipguard-*)

env -i PATH=/usr/bin:/bin HOME="$dir" bash -euo pipefail -c '
  bundle=$1 python=$2 dir=$3
  cd "$bundle"
  echo "+ command -v swift: $(command -v swift || echo "(none)")"
  echo "+ ./build-shim.sh --python $python"; ./build-shim.sh --python "$python"
  echo "+ ldd bin/clipguard"; ldd bin/clipguard | sed "s/ (0x[0-9a-f]*)//"
  echo "+ bin/clipguard info"; bin/clipguard info
  echo "+ bin/clipguard data prepare fashion-mnist --limit 300 --eval-limit 500"
  bin/clipguard data prepare fashion-mnist --out "$dir/fm" --limit 300 --eval-limit 500
  echo "+ bin/clipguard train --model tiny-rn --epochs 1"
  bin/clipguard train --data "$dir/fm/train.csv" --model tiny-rn --epochs 1 --batch-size 64 --out "$dir/run" 2>&1 | tail -n 3
  echo "+ bin/clipguard eval --dataset fm/eval"
  bin/clipguard eval --checkpoint "$dir/run/model.safetensors" --dataset "$dir/fm/eval" --json
  echo "+ ./gpu-check.sh --cpu-only --skip-shim"
  ./gpu-check.sh --cpu-only --skip-shim --python "$python" --out "$dir/gpu-check.json"
' bundle-test "$bundle" "$python" "$dir" || fail "a step failed (folder kept: $dir)"
echo "bundle-test: passed (summary: $dir/gpu-check.json)"
