#!/usr/bin/env bash
# bench/setup.sh BUILD OUT.env — prepares the engines of the side-by-side benchmark and writes
# where they are (or why one is missing) to OUT.env as KEY=VALUE lines for bench/bench.py:
#   - Debian packages the benchmark needs, installed only if missing (needs root or sudo):
#     gnuplot-nox (the PNG charts), ffmpeg (Debian's native reference, also makes the media),
#     nodejs + npm (V8 and ffmpeg.wasm) when there is no node at all;
#   - the native no-asm FFmpeg (bench/native-noasm.sh, cached);
#   - npm @ffmpeg/core (FFMPEGWASM_VERSION) in $CACHE/bench-npm, outside the tree;
#   - afmpeg's own .wasm: the wasm stage that module/build.sh made for BUILD/module.
# CACHE is module/build.sh's: $AFMPEG_CACHE_DIR, else $XDG_CACHE_HOME/afmpeg, else ~/.cache/afmpeg.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:?usage: bench/setup.sh BUILD OUT.env}
envout=${2:?usage: bench/setup.sh BUILD OUT.env}
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
FFMPEGWASM_VERSION=0.12.10
log() { echo "bench-setup: $*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# ---- Debian packages -----------------------------------------------------------------------------
need=()
for p in gnuplot-nox ffmpeg; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >&2
fi

: > "$envout.tmp"
put() { local k=$1; shift; printf '%s=%s\n' "$k" "$*" >> "$envout.tmp"; }

# ---- native no-asm build -------------------------------------------------------------------------
if noasm=$("$here/native-noasm.sh"); then
    put NOASM_DIR "$noasm"
else
    put NOASM_NA "the native no-asm build failed (bench/native-noasm.sh)"
fi

# ---- ffmpeg.wasm ---------------------------------------------------------------------------------
npmdir=$CACHE/bench-npm
core=$npmdir/node_modules/@ffmpeg/core
have_core() { [ -f "$core/package.json" ] &&
              grep -q "\"version\": \"$FFMPEGWASM_VERSION\"" "$core/package.json"; }
if ! have_core; then
    log "npm install @ffmpeg/core@$FFMPEGWASM_VERSION into $npmdir"
    mkdir -p "$npmdir"
    ( cd "$npmdir" && npm install --prefix . --no-save --no-audit --no-fund --no-package-lock \
          "@ffmpeg/core@$FFMPEGWASM_VERSION" >&2 ) || true
fi
if have_core && [ -f "$core/dist/umd/ffmpeg-core.wasm" ]; then
    put FFMPEGWASM_DIR "$core/dist/umd"
    put FFMPEGWASM_VERSION "$FFMPEGWASM_VERSION"
else
    put FFMPEGWASM_NA "npm could not install @ffmpeg/core@$FFMPEGWASM_VERSION"
fi

# ---- afmpeg.wasm ---------------------------------------------------------------------------------
# module/build.sh keeps the .wasm in its wasm stage ($CACHE/wasm-<key>) and links BUILD/module to
# the native stage ($CACHE/native-<key>). Unless the native stage holds a link named afmpeg.wasm,
# the keys are recomputed here with build.sh's recipe; the native key, checked against
# BUILD/module's link, proves that the .wasm is the one the library was translated from. Keep
# these lines in step with module/build.sh.
mod=$root/module
hash_of() { sha256sum | cut -c1-16; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
wasm_key=$( { cat "$mod/versions.env" "$mod/ffmpeg.conf" "$mod/build.sh";
              find "$mod/patches" "$mod/compat" "$mod/openh264" "$mod/multicall" -type f \
                   -print0 | sort -z | xargs -0 cat;
              pkgver clang-19; pkgver lld-19; pkgver wasi-libc; pkgver libclang-rt-19-dev-wasm32;
              pkgver libc++-19-dev-wasm32; } | hash_of)
native_cflags=$(sed -n 's/^NATIVE_CFLAGS="\(.*\)"$/\1/p' "$mod/build.sh")
native_key=$( { echo "$wasm_key"; cat "$mod/split.py"; echo "$native_cflags";
                pkgver wabt; gcc --version | head -n1; cat /usr/include/wasm-rt.h; } | hash_of)
linked=$(basename "$(readlink "$build/module" 2>/dev/null || echo none)")
wasm=$CACHE/wasm-$wasm_key/afmpeg.wasm
if [ -f "$build/module/afmpeg.wasm" ]; then # should the native stage ever keep a link to its .wasm
    put AFMPEG_WASM "$(readlink -f "$build/module/afmpeg.wasm")"
elif [ "$linked" != "native-$native_key" ]; then
    put V8_NA "the module's .wasm was not found: $build/module is $linked, module/build.sh's" \
        "recipe gives native-$native_key (bench/setup.sh must follow module/build.sh's keys)"
elif [ ! -f "$wasm" ]; then
    put V8_NA "the module's wasm stage $wasm is no longer in the cache (remove $build/module" \
        "and run make to rebuild it)"
else
    put AFMPEG_WASM "$wasm"
fi
mv "$envout.tmp" "$envout"
