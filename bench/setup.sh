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
# module/build.sh's native stage (BUILD/module) links the .wasm it was translated from.
if [ -f "$build/module/afmpeg.wasm" ]; then
    put AFMPEG_WASM "$(readlink -f "$build/module/afmpeg.wasm")"
else
    put V8_NA "the module's .wasm is no longer in the cache ($build/module/afmpeg.wasm): remove" \
        "$build/module and run make to rebuild it"
fi
mv "$envout.tmp" "$envout"
