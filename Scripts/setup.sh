#!/usr/bin/env bash
# One-command set-up for ClipGuard. Idempotent: every step checks a stamp and returns at once
# when done. Installs libtorch into .deps/, the Debian packages the code needs, and the data
# files (BPE vocabulary, zero-shot templates and class names) copied out of PyPI wheels, so that
# nothing imports Python at run time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
mkdir -p "$deps"

fail() { echo "setup: error: $*" >&2; exit 1; }
say() { echo "setup: $*"; }

TORCH_VERSION=2.15.0          # PyPI fallback (CUDA build; needs the two small nvidia wheels on CPU)
CUDA_RUNTIME_WHEELS="nvidia-cuda-runtime nvidia-cuda-cupti"
OPENAI_CLIP=openai-clip==1.0.1
CLIP_BENCHMARK=clip-benchmark==1.6.2
BPE_MD5=933b7abbbbde62c36f02f0e6ccde464f

# --- Debian packages -------------------------------------------------------------------------
need_pkgs=()
for p in libjpeg62-turbo-dev libpng-dev zlib1g-dev dataset-fashion-mnist wordnet-base unzip; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_pkgs[*]}"
  command -v apt-get >/dev/null || fail "apt-get not found; install ${need_pkgs[*]} by hand"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null 2>&1 || true
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null \
    || fail "apt-get could not install: ${need_pkgs[*]}"
fi

# --- optional: Open Clip Art (~156 MB) for `clipguard data prepare openclipart` ----------------
# Opt in with `make setup OPENCLIPART=1` (or OPENCLIPART=1 Scripts/setup.sh).
oca_pkgs=()
for p in openclipart-png openclipart-svg; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || oca_pkgs+=("$p")
done
if [ ${#oca_pkgs[@]} -gt 0 ]; then
  if [ "${OPENCLIPART:-0}" = 1 ]; then
    say "installing Open Clip Art: ${oca_pkgs[*]} (~156 MB)"
    command -v apt-get >/dev/null || fail "apt-get not found; install ${oca_pkgs[*]} by hand"
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >/dev/null 2>&1 || true
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${oca_pkgs[@]}" >/dev/null \
      || fail "apt-get could not install: ${oca_pkgs[*]}"
  else
    say "optional Open Clip Art not installed (${oca_pkgs[*]}); run \`make setup OPENCLIPART=1\` to use \`clipguard data prepare openclipart\`"
  fi
fi

# --- libtorch ---------------------------------------------------------------------------------
# LIBTORCH=/path overrides everything: it must hold include/ and lib/.
if [ -n "${LIBTORCH:-}" ]; then
  [ -f "$LIBTORCH/lib/libtorch_cpu.so" ] || fail "LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so"
  [ -d "$LIBTORCH/include/ATen" ] || fail "LIBTORCH=$LIBTORCH has no include/ATen"
  say "using LIBTORCH=$LIBTORCH"
elif [ ! -f "$deps/libtorch.stamp" ] || { [ "${GPU:-0}" = 1 ] && [ ! -f "$deps/libtorch-gpu.stamp" ]; }; then
  rm -rf "$deps/libtorch" "$deps/site" "$deps/libtorch.stamp" "$deps/libtorch-gpu.stamp"
  local_wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
  # CLIPGUARD_TORCH_FROM_PYPI=1 ignores a local wheel (to exercise the download path).
  [ "${CLIPGUARD_TORCH_FROM_PYPI:-0}" = 1 ] && local_wheel=""
  if [ "${GPU:-0}" != 1 ] && [ -n "$local_wheel" ]; then
    say "unpacking libtorch from $local_wheel"
    mkdir -p "$deps/site"
    unzip -q -o "$local_wheel" 'torch/include/*' 'torch/lib/*' 'torch/version.py' -d "$deps/site" \
      || fail "could not unpack $local_wheel"
  else
    mkdir -p "$deps/wheels"
    if [ "${GPU:-0}" = 1 ]; then
      say "downloading torch==$TORCH_VERSION and every CUDA library it names (several GB)"
      python3 -m pip download -q --only-binary=:all: -d "$deps/wheels" "torch==$TORCH_VERSION" \
        || fail "pip could not download torch==$TORCH_VERSION with its CUDA dependencies"
    else
      say "downloading torch==$TORCH_VERSION (no local CPU wheel in /opt/wheels) and $CUDA_RUNTIME_WHEELS"
      python3 -m pip download -q --no-deps --only-binary=:all: -d "$deps/wheels" "torch==$TORCH_VERSION" \
        || fail "pip could not download torch==$TORCH_VERSION"
      for w in $CUDA_RUNTIME_WHEELS; do
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$deps/wheels" "$w" \
          || fail "pip could not download $w"
      done
    fi
    say "unpacking wheels into .deps/site"
    python3 -m pip install -q --no-deps --no-compile --target "$deps/site" "$deps"/wheels/*.whl \
      || fail "pip could not unpack the downloaded wheels"
  fi
  [ -f "$deps/site/torch/lib/libtorch_cpu.so" ] || fail "libtorch_cpu.so missing after unpacking"
  ln -sfn site/torch "$deps/libtorch"
  touch "$deps/libtorch.stamp"
  [ "${GPU:-0}" = 1 ] && touch "$deps/libtorch-gpu.stamp"
fi

# --- data files from PyPI wheels (copied, never imported) --------------------------------------
assets="$deps/assets"
if [ ! -f "$assets/stamp" ]; then
  mkdir -p "$assets" "$deps/wheels"
  say "fetching the CLIP BPE vocabulary ($OPENAI_CLIP) and zero-shot metadata ($CLIP_BENCHMARK)"
  python3 -m pip download -q --no-deps -d "$deps/wheels" "$OPENAI_CLIP" "$CLIP_BENCHMARK" \
    || fail "pip could not download $OPENAI_CLIP / $CLIP_BENCHMARK"
  clipsd=$(ls "$deps"/wheels/openai[-_]clip-*.tar.gz | head -n 1)
  benchw=$(ls "$deps"/wheels/clip_benchmark-*.whl | head -n 1)
  tar --no-same-owner -xzf "$clipsd" -C "$assets" --strip-components=2 --wildcards '*/clip/bpe_simple_vocab_16e6.txt.gz' \
    '*/clip/simple_tokenizer.py' || fail "$clipsd has no clip/bpe_simple_vocab_16e6.txt.gz"
  unzip -q -o -j "$benchw" 'clip_benchmark/datasets/en_zeroshot_classification_templates.json' \
    'clip_benchmark/datasets/en_classnames.json' -d "$assets" \
    || fail "$benchw has no zero-shot templates/class names"
  got=$(md5sum "$assets/bpe_simple_vocab_16e6.txt.gz" | cut -d' ' -f1)
  [ "$got" = "$BPE_MD5" ] || fail "bpe_simple_vocab_16e6.txt.gz has md5 $got, expected $BPE_MD5"
  touch "$assets/stamp"
fi
say "ready (libtorch: ${LIBTORCH:-$deps/libtorch})"
