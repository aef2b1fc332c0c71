#!/usr/bin/env bash
# Creates .venv-ref: PyTorch (CPU), open_clip, PIL, torchvision's transforms, ftfy and regex.
# Used only to regenerate committed test fixtures, by `make parity` and by `make bench`;
# ClipGuard never imports Python at run time. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-ref"
stamp_version=2   # bump when the package list below changes
[ "$(cat "$venv/stamp" 2>/dev/null)" = "$stamp_version" ] && exit 0
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip"
$pip install -q --upgrade pip >/dev/null 2>&1 || true
wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$wheel" ]; then
  "$venv/bin/python" -c 'import torch' 2>/dev/null || $pip install -q "$wheel"
else
  $pip install -q --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null || $pip install -q torch
fi
$pip install -q --no-deps torchvision==0.28.0 open-clip-torch==3.3.0
$pip install -q ftfy regex safetensors numpy pillow huggingface_hub timm tqdm scikit-learn
# PyPI's torchvision is a CUDA build whose C operators do not register against the CPU torch;
# open_clip needs only its Python transforms, so stub the module that registers them.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import sys, types; sys.modules.setdefault('torchvision._meta_registrations', types.ModuleType('torchvision._meta_registrations'))" \
  > "$site/clipguard_torchvision_stub.pth"
"$venv/bin/python" -c 'import torch, open_clip, PIL, ftfy, regex, torchvision.transforms; print("reference env: torch", torch.__version__, "open_clip", open_clip.__version__)'
echo "$stamp_version" > "$venv/stamp"
