#!/usr/bin/env bash
# bench/native-noasm.sh — builds (or finds in the cache) the benchmark's reference: FFmpeg from the
# same Debian sources, patches and component lists as the guest module (module/versions.env,
# module/ffmpeg.conf, module/patches/ffmpeg), compiled for the host with gcc and without any asm
# (FFmpeg --disable-asm --disable-x86asm --disable-inline-asm, openh264 USE_ASM=No). zlib and
# openh264 are built from the same source packages as the module's, with the module's flags.
# Static executables; pthreads are enabled but the benchmark runs with -threads 1.
#
# Prints the directory holding bin/ffmpeg and bin/ffprobe. The result is cached as
# $CACHE/native-noasm-<key>, the key hashing everything that determines it (this script, the
# versions, the configuration, the patches, the compilers). CACHE is $AFMPEG_CACHE_DIR, else
# $XDG_CACHE_HOME/afmpeg, else ~/.cache/afmpeg (module/build.sh's). JOBS: parallelism (nproc).
# About 4 minutes on 2 cores from scratch (sources already fetched); a second run only checks.
set -euo pipefail
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
here=$(cd "$(dirname "$0")" && pwd)
mod=$here/../module
. "$mod/versions.env"
. "$mod/ffmpeg.conf"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
JOBS=${JOBS:-$(nproc)}
log() { echo "native-noasm: $*" >&2; }

for tool in gcc g++ make pkg-config; do
    command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
key=$( { cat "$0" "$here/../scripts/native-deps.sh";
         cat "$mod/versions.env" "$mod/ffmpeg.conf";
         find "$mod/patches/ffmpeg" -type f -print0 | sort -z | xargs -0 cat;
         gcc --version | head -n1; g++ --version | head -n1; pkgver libc6-dev; } |
       sha256sum | cut -c1-16)
dir=$CACHE/native-noasm-$key
if [ -f "$dir/.stamp" ]; then
    log "cached: $dir"
    echo "$dir"
    exit 0
fi

# The module's configure arguments, less those that only make sense for the wasm cross build.
args=()
while IFS= read -r a; do
    case $a in
        --enable-cross-compile | --target-os=* | --arch=* | --cc=* | --cxx=* | --ar=* | \
        --ranlib=* | --nm=* | --host-cc=* | --pkg-config=* | --pkg-config-flags=* | \
        --disable-pthreads | \
        --disable-runtime-cpudetect) ;;
        *) args+=("$a") ;;
    esac
done < <(ffmpeg_configure_args)

rm -rf "$dir"
work=$dir/work prefix=$dir/prefix
mkdir -p "$work" "$prefix/include" "$prefix/lib/pkgconfig" "$dir/bin"
"$mod/fetch.sh" "$CACHE/src" >&2

# The module's native code is compiled for -march=$HOST_MARCH (versions.env); so is this build, so
# that both are portable C at the same instruction set.
EXTRA_CFLAGS="-march=$HOST_MARCH" "$here/../scripts/native-deps.sh" "$work" "$prefix"

log "ffmpeg: configure"
cp -a "$CACHE/src/$FFMPEG_PKG" "$work/ffmpeg"
for p in "$mod"/patches/ffmpeg/*.patch; do
    patch -s -p1 -d "$work/ffmpeg" < "$p"
done
( cd "$work/ffmpeg"
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
  ./configure "${args[@]}" --prefix="$prefix" --cc=gcc --cxx=g++ \
      --disable-asm --disable-x86asm --disable-inline-asm \
      --extra-cflags="-I$prefix/include -march=$HOST_MARCH" --extra-ldflags="-L$prefix/lib" \
      > "$dir/configure.log" 2>&1 ) ||
    { tail -n 30 "$work/ffmpeg/ffbuild/config.log" >&2; log "ffmpeg configure failed"; exit 1; }
if grep -q 'did not match anything' "$dir/configure.log"; then
    grep 'did not match anything' "$dir/configure.log" >&2
    log "module/ffmpeg.conf names a component configure does not know"; exit 1
fi
log "ffmpeg: build (-j$JOBS)"
( cd "$work/ffmpeg" && make -s -j"$JOBS" ffmpeg ffprobe > "$dir/make.log" 2>&1 ) ||
    { tail -n 40 "$dir/make.log" >&2; log "ffmpeg build failed"; exit 1; }
cp "$work/ffmpeg/ffmpeg" "$work/ffmpeg/ffprobe" "$dir/bin/"
cp "$work/ffmpeg/ffbuild/config.log" "$dir/config.log"
rm -rf "$work"
touch "$dir/.stamp"
log "built: $dir"
echo "$dir"
