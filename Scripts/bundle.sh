#!/usr/bin/env bash
# Writes the relocatable bundle dist/clipguard-VERSION-linux-x86_64.tar.xz (`make bundle`):
#
#   bin/clipguard                 release build, Swift runtime linked in (--static-swift-stdlib),
#                                 RUNPATH $ORIGIN/../lib; the shim is NOT compiled in
#   lib/                          the image codecs it links (libjpeg, libpng, zlib); libctorch.so
#                                 lands here when build-shim.sh runs on the target
#   share/clipguard/model_configs the model configs, share/clipguard/assets the BPE vocabulary and
#                                 zero-shot metadata (found beside the binary, not in a build folder)
#   shim/, build-shim.sh          the shim's sources and the script that compiles libctorch.so with
#                                 the target's g++ against its torch
#   gpu-check.sh, gpu-check/      the prepared GPU check: open_clip reference step and a captioned
#                                 Fashion-MNIST subset prepared here (see docs/reference/scale-out.md)
#
# VERSION overrides the version (default: git describe). Needs `make setup` (the shim is linked
# against .deps/libtorch here only to resolve its symbols; the binary does not record that path).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
fail() { echo "bundle: error: $*" >&2; exit 1; }
say() { echo "bundle: $*"; }

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
name="clipguard-$version-linux-x86_64"
scratch="$root/.build-bundle"
swift=${SWIFT:-swift}
start=$(date +%s)

# 1. A libctorch.so to link against (rebuilt when the shim's sources change).
shim="$scratch/shim"
if [ ! -f "$shim/libctorch.so" ] || [ -n "$(find Sources/CTorch -type f -newer "$shim/libctorch.so" | head -n 1)" ]; then
  say "compiling the shim for linking"
  Scripts/build-shim.sh --torch .deps/libtorch --out "$shim" --cpu
fi

# 2. The release binary, loading the shim from ../lib.
build=(-c release --product clipguard --scratch-path "$scratch" --static-swift-stdlib)
say "building clipguard (release, shared shim)"
CLIPGUARD_SHIM=shared CLIPGUARD_SHIM_LIB="$shim" "$swift" build "${build[@]}"
bin=$(CLIPGUARD_SHIM=shared CLIPGUARD_SHIM_LIB="$shim" "$swift" build "${build[@]}" --show-bin-path)

# 3. The folder.
stage="$scratch/stage/$name"
rm -rf "$scratch/stage"
mkdir -p "$stage/bin" "$stage/lib" "$stage/share/clipguard" "$stage/shim" "$stage/gpu-check"
cp "$bin/clipguard" "$stage/bin/"
strip "$stage/bin/clipguard"
# The libraries the binary itself names (not those libctorch.so brings from torch), except glibc,
# libstdc++/libgcc (the target's g++ brings them) and the shim: the image codecs (Ubuntu has
# libjpeg.so.8, not Debian's libjpeg.so.62).
needed=$(readelf -d "$stage/bin/clipguard" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for soname in $needed; do
  case $soname in
    ld-linux*|libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|libutil*|libstdc++*|libgcc_s*|libctorch*) ;;
    *) path=$(LD_LIBRARY_PATH="$shim" ldd "$stage/bin/clipguard" | awk -v n="$soname" '$1 == n {print $3}')
       [ -f "$path" ] || fail "clipguard needs $soname, which ldd does not find"
       cp -L "$path" "$stage/lib/$soname" ;;
  esac
done
cp -r Sources/CLIP/Resources/model_configs "$stage/share/clipguard/"
mkdir -p "$stage/share/clipguard/assets"
for f in bpe_simple_vocab_16e6.txt.gz en_classnames.json en_zeroshot_classification_templates.json; do
  cp ".deps/assets/$f" "$stage/share/clipguard/assets/" || fail ".deps/assets/$f missing (run make setup)"
done
cp Sources/CTorch/*.cpp Sources/CTorch/*.hpp "$stage/shim/"
cp -r Sources/CTorch/include Sources/CTorch/compat "$stage/shim/"
cp Scripts/build-shim.sh Scripts/gpu-check.sh "$stage/"
cp bench/bench_torch.py "$stage/gpu-check/"
# Captioned Fashion-MNIST for the check's end-to-end row, prepared with this very binary.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  LD_LIBRARY_PATH="$shim" "$stage/bin/clipguard" data prepare fashion-mnist --out "$stage/gpu-check/fm" \
    --limit "${BUNDLE_FM_LIMIT:-4000}" --eval-limit 1000 >/dev/null || fail "could not prepare Fashion-MNIST for gpu-check"
else
  say "warning: no Fashion-MNIST here (dataset-fashion-mnist); gpu-check's end-to-end row will be skipped"
fi
cat > "$stage/README.txt" <<EOF
ClipGuard $version for Linux x86_64 (glibc $(ldd --version | head -n 1 | awk '{print $NF}') or newer).

1. ./build-shim.sh                 # compiles lib/libctorch.so with g++ against python3's torch
   ./build-shim.sh --python /path/to/python   or   --torch /path/to/torch   (see --help)
2. bin/clipguard info              # libtorch version, devices
3. ./gpu-check.sh --help           # the prepared check of a GPU machine (writes one JSON summary)

Models: share/clipguard/model_configs; tokenizer and zero-shot files: share/clipguard/assets.
EOF

mkdir -p dist
XZ_OPT=${XZ_OPT:--6 -T0} tar -C "$scratch/stage" -cJf "dist/$name.tar.xz" "$name"
size=$(du -k "dist/$name.tar.xz" | cut -f1)
say "wrote dist/$name.tar.xz ($((size / 1024)) MB) in $(( $(date +%s) - start )) s"
[ "$size" -le $((40 * 1024)) ] || say "warning: the bundle is above 40 MB"
