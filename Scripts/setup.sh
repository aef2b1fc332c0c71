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
# The libtorch in use is `.deps/libtorch` (Package.swift's default), a link to the chosen folder;
# `.deps/libtorch.stamp` records where it came from. Choices, first match wins:
#   TORCH=python3 (or LIBTORCH=auto): the torch installed for that interpreter (its torch/include
#     and torch/lib); no download. Found without importing torch, so a torch that cannot load
#     its CUDA libraries here is still usable for its CPU part.
#   LIBTORCH=/path: a folder with include/ and lib/.
#   neither: the local CPU wheel in /opt/wheels, else PyPI torch==$TORCH_VERSION (kept once set up;
#     `rm .deps/libtorch.stamp` and `make setup` to go back to it after a TORCH= or LIBTORCH=).
# GPU=1 downloads the CUDA build with every CUDA library instead.
MIN_TORCH=2.13   # oldest release the shim is built and tested with (2.13.0+cpu, 2.15.0+cu132)

# Prints "dir<TAB>version<TAB>cuda" for the torch of interpreter $1, reading torch/version.py
# rather than importing torch.
torch_of_python() {
  "$1" - <<'EOF'
import importlib.util, os, sys
spec = importlib.util.find_spec("torch")
if spec is None or not spec.submodule_search_locations:
    sys.exit(f"{sys.executable} has no torch module (pip install torch, or choose another TORCH=)")
folder = os.path.realpath(list(spec.submodule_search_locations)[0])
facts = {}
try:
    exec(open(os.path.join(folder, "version.py")).read(), facts)
except Exception as error:
    sys.exit(f"cannot read {folder}/version.py: {error}")
print(f"{folder}\t{facts.get('__version__', '')}\t{facts.get('cuda') or ''}")
EOF
}

# Points .deps/libtorch at folder $1 and records it ($2: where from, $3: version, $4: CUDA
# version or empty). A CUDA build counts as one only when every library libtorch_cuda.so needs
# resolves here; otherwise its CPU part is used. Objects compiled against another libtorch are
# removed so that the next build recompiles the shim.
use_libtorch() {
  local dir=$1 source=$2 version=$3 cuda=$4
  [ -f "$dir/lib/libtorch_cpu.so" ] || fail "$source: $dir has no lib/libtorch_cpu.so"
  [ -d "$dir/include/ATen" ] || fail "$source: $dir has no include/ATen (a torch without its C++ headers)"
  if [ -n "$version" ]; then
    local base=${version%%+*}
    [ "$(printf '%s\n%s\n' "$MIN_TORCH" "$base" | sort -V | head -n 1)" = "$MIN_TORCH" ] \
      || fail "$source: torch $version is older than $MIN_TORCH, the oldest release ClipGuard builds with"
  fi
  local gpu=0 missing=""
  if [ -f "$dir/lib/libtorch_cuda.so" ]; then
    missing=$(ldd "$dir/lib/libtorch_cuda.so" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
    [ -z "$missing" ] && gpu=1
  fi
  if [ -e "$deps/libtorch" ] && [ ! -L "$deps/libtorch" ] && [ "$(cd "$deps/libtorch" && pwd -P)" != "$dir" ]; then
    fail "$deps/libtorch is a folder, not the link set-up makes; move it away (or pass LIBTORCH=$deps/libtorch)"
  fi
  if [ -n "$previous_libtorch" ] && [ "$previous_libtorch:$previous_version:$previous_gpu" != "$dir:$version:$gpu" ]; then
    # Objects compiled against the previous headers: SwiftPM does not notice the switch by itself.
    find "$root"/.build* -maxdepth 4 -type d -name CTorch.build -prune -exec rm -rf {} + 2>/dev/null || true
    say "libtorch changed (was $previous_libtorch): removed the compiled shim objects under .build*"
  fi
  rm -f "$deps/libtorch-gpu.stamp" "$deps/nccl-include"
  # Relative inside .deps (the wheel), so that a moved checkout keeps working.
  local link=$dir
  case $dir in "$deps"/*) link=${dir#"$deps"/} ;; esac
  [ -L "$deps/libtorch" ] && ln -sfn "$link" "$deps/libtorch"
  [ -e "$deps/libtorch" ] || ln -s "$link" "$deps/libtorch"
  if [ "$gpu" = 1 ]; then
    touch "$deps/libtorch-gpu.stamp"
    # pip's NCCL wheel keeps nccl.h beside torch, not in torch/include.
    local nccl
    nccl=$(find "$dir/.." "$dir/../nvidia" -maxdepth 4 -name nccl.h -path '*nvidia*' 2>/dev/null | head -n 1 || true)
    [ -n "$nccl" ] && ln -sfn "$(dirname "$nccl")" "$deps/nccl-include"
    say "CUDA build with its CUDA libraries: the shim is built with CUDA${nccl:+ and NCCL}"
  elif [ -n "$cuda" ]; then
    say "torch $version is a CUDA $cuda build, but these libraries of libtorch_cuda.so are missing here: ${missing:-libtorch_cuda.so}; using its CPU part"
  fi
  printf 'path=%s\nsource=%s\nversion=%s\ncuda=%s\ngpu=%s\n' "$dir" "$source" "$version" "$cuda" "$gpu" \
    > "$deps/libtorch.stamp"
}

previous_libtorch=""; [ -e "$deps/libtorch" ] && previous_libtorch=$(readlink -f "$deps/libtorch")
previous_gpu=0; [ -f "$deps/libtorch-gpu.stamp" ] && previous_gpu=1
previous_version=$(sed -n 's/^version=//p' "$deps/libtorch.stamp" 2>/dev/null || true)
if [ "${LIBTORCH:-}" = auto ] && [ -z "${TORCH:-}" ]; then TORCH=python3; fi
if [ -n "${TORCH:-}" ]; then
  command -v "$TORCH" >/dev/null || fail "TORCH=$TORCH: no such interpreter"
  found=$(torch_of_python "$TORCH" 2>&1) || fail "TORCH=$TORCH: $found"
  IFS=$'\t' read -r tdir tversion tcuda <<<"$found"
  say "using torch $tversion${tcuda:+ (CUDA $tcuda)} of $TORCH: $tdir"
  use_libtorch "$tdir" "TORCH=$TORCH" "$tversion" "$tcuda"
elif [ -n "${LIBTORCH:-}" ]; then
  tversion=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$LIBTORCH/version.py" 2>/dev/null || true)
  tcuda=$(sed -n "s/^cuda.*= '\(.*\)'/\1/p" "$LIBTORCH/version.py" 2>/dev/null || true)
  say "using LIBTORCH=$LIBTORCH"
  use_libtorch "$(cd "$LIBTORCH" && pwd -P)" "LIBTORCH=$LIBTORCH" "$tversion" "$tcuda"
elif [ ! -f "$deps/libtorch.stamp" ] || { [ "${GPU:-0}" = 1 ] && [ ! -f "$deps/libtorch-gpu.stamp" ]; }; then
  rm -rf "$deps/site"
  [ -L "$deps/libtorch" ] && rm -f "$deps/libtorch"
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
  tversion=$(sed -n "s/^__version__ = '\\(.*\\)'/\\1/p" "$deps/site/torch/version.py" 2>/dev/null || true)
  tcuda=$(sed -n "s/^cuda.*= '\\(.*\\)'/\\1/p" "$deps/site/torch/version.py" 2>/dev/null || true)
  use_libtorch "$deps/site/torch" "wheel" "$tversion" "$tcuda"
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
version=$(sed -n 's/^version=//p' "$deps/libtorch.stamp" 2>/dev/null || true)
say "ready (libtorch${version:+ $version}: $(readlink -f "$deps/libtorch"))"
