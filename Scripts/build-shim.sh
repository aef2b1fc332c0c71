#!/usr/bin/env bash
# Compiles ClipGuard's libtorch shim (Sources/CTorch, or shim/ in a bundle) into libctorch.so with
# the machine's g++ against an installed torch, so that a prebuilt `clipguard` (CLIPGUARD_SHIM=shared,
# see Package.swift and `make bundle`) runs on the torch found there. Needs g++ (C++20) and a torch
# with its C++ headers (every PyPI/conda torch has them); no Swift, no network.
#
#   build-shim.sh [--python PY | --torch DIR] [--out DIR] [--cpu]
#
#   --python PY   use the torch of this interpreter (default: python3); torch is located without
#                 being imported, so a torch whose CUDA libraries are missing still serves its CPU part
#   --torch DIR   use this torch/libtorch folder (holding include/ and lib/) instead
#   --out DIR     where libctorch.so goes (default: lib/ beside this script)
#   --cpu         build without CUDA even when the torch has its CUDA libraries
#
# CXX (default g++) and CXXFLAGS are honoured. Prints one line per fact and ends with the path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "build-shim: error: $*" >&2; exit 1; }
say() { echo "build-shim: $*"; }

python=python3 torch_dir="" out="$here/lib" cpu_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --python) [ $# -ge 2 ] || fail "--python needs an interpreter"; python=$2; shift 2 ;;
    --torch) [ $# -ge 2 ] || fail "--torch needs a folder"; torch_dir=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || fail "--out needs a folder"; out=$2; shift 2 ;;
    --cpu) cpu_only=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument '$1' (see --help)" ;;
  esac
done

# The shim's sources: shim/ in a bundle, Sources/CTorch in a checkout.
if [ -f "$here/shim/ctorch.cpp" ]; then src="$here/shim"
elif [ -f "$here/../Sources/CTorch/ctorch.cpp" ]; then src=$(cd "$here/../Sources/CTorch" && pwd)
else fail "no shim sources beside $0 (expected shim/ctorch.cpp or ../Sources/CTorch/ctorch.cpp)"; fi

if [ -z "$torch_dir" ]; then
  command -v "$python" >/dev/null || fail "no interpreter '$python' (pass --python PY or --torch DIR)"
  torch_dir=$("$python" -c '
import importlib.util, os, sys
spec = importlib.util.find_spec("torch")
if spec is None or not spec.submodule_search_locations:
    sys.exit(sys.executable + " has no torch module")
print(os.path.realpath(list(spec.submodule_search_locations)[0]))') || fail "could not locate torch with $python"
fi
[ -d "$torch_dir" ] || fail "torch folder $torch_dir does not exist"
torch_dir=$(cd "$torch_dir" && pwd -P)
[ -f "$torch_dir/lib/libtorch_cpu.so" ] || fail "$torch_dir has no lib/libtorch_cpu.so"
[ -f "$torch_dir/include/ATen/ATen.h" ] || fail "$torch_dir has no include/ATen/ATen.h (a torch without C++ headers)"
# version.py in a Python torch, build-version in a libtorch archive.
version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch_dir/version.py" 2>/dev/null || true)
[ -n "$version" ] || version=$(head -n 1 "$torch_dir/build-version" 2>/dev/null || true)
say "torch ${version:-(unknown version)} at $torch_dir"

CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || fail "no C++ compiler '$CXX' (install g++ 11 or newer, or set CXX)"

cuda=0 defines=() includes=() cuda_libs=()
if [ "$cpu_only" = 0 ] && [ -f "$torch_dir/lib/libtorch_cuda.so" ]; then
  missing=$(ldd "$torch_dir/lib/libtorch_cuda.so" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')
  if [ -z "$missing" ]; then
    cuda=1
    defines+=(-DCT_WITH_CUDA=1)
    # libtorch_cuda registers its kernels from static constructors; nothing references it directly.
    cuda_libs=(-Wl,--no-as-needed -ltorch_cuda -Wl,--as-needed -ltorch)
    nccl=$(find "$torch_dir/.." -maxdepth 5 -name nccl.h -path '*nvidia*' 2>/dev/null | head -n 1 || true)
    [ -f "$torch_dir/include/nccl.h" ] && nccl="$torch_dir/include/nccl.h"
    if [ -n "$nccl" ]; then includes+=(-isystem "$(dirname "$nccl")"); say "NCCL header: $nccl"
    else say "no nccl.h found beside torch: building without the NCCL backend"; fi
    say "CUDA build: linking libtorch_cuda"
  else
    say "libtorch_cuda.so needs libraries missing here ($missing): building for the CPU"
  fi
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ctorch-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
flags=(-std=c++20 -O2 -fPIC -D_GLIBCXX_USE_CXX11_ABI=1 "${defines[@]}" -Wno-unused-parameter
  -I "$src/include" -I "$src/compat" -isystem "$torch_dir/include"
  -isystem "$torch_dir/include/torch/csrc/api/include" "${includes[@]}")
# shellcheck disable=SC2206
extra=(${CXXFLAGS:-})
start=$(date +%s)
pids=()
for file in "$src"/*.cpp; do
  "$CXX" "${flags[@]}" "${extra[@]}" -c "$file" -o "$work/$(basename "$file" .cpp).o" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ "$status" = 0 ] || fail "compiling the shim with $CXX failed (see the messages above)"
"$CXX" -shared -o "$work/libctorch.so" "$work"/*.o -Wl,-soname,libctorch.so \
  -L"$torch_dir/lib" -Wl,-rpath,"$torch_dir/lib" "${cuda_libs[@]}" -ltorch_cpu -lc10 \
  || fail "linking libctorch.so failed"
mv -f "$work/libctorch.so" "$out/libctorch.so"
printf 'torch=%s\nversion=%s\ncuda=%s\ncompiler=%s\n' "$torch_dir" "$version" "$cuda" "$("$CXX" --version | head -n 1)" \
  > "$out/libctorch.txt"
say "built in $(( $(date +%s) - start )) s: $out/libctorch.so"
