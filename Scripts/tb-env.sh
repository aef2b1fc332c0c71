#!/usr/bin/env bash
# Creates .venv-tb: the `tensorboard` Python package (it pulls numpy, protobuf, grpcio, …), used
# only by the tests that read ClipGuard's TensorBoard event files back with TensorBoard's own
# reader (Scripts/read_tensorboard.py). ClipGuard never imports Python at run time. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-tb"
stamp_version=1   # bump when the package list below changes
[ "$(cat "$venv/stamp" 2>/dev/null)" = "$stamp_version" ] && exit 0
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip >/dev/null 2>&1 || true
$pip install -q tensorboard==2.21.0
"$venv/bin/python" -c 'import tensorboard; from tensorboard.backend.event_processing import event_accumulator; print("tensorboard env:", tensorboard.__version__)'
echo "$stamp_version" > "$venv/stamp"
