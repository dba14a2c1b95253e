#!/usr/bin/env bash
# scripts/native-deps.sh WORK PREFIX — builds zlib and openh264 for the host, from the same Debian
# source packages as the guest module (module/versions.env, already fetched into $CACHE/src by
# module/fetch.sh), with the module's flags and no asm: static libraries, headers and .pc files in
# PREFIX. WORK is scratch space (left for the caller to remove) and holds openh264.log. Used by
# the native no-asm builds that sit next to the module: bench/native-noasm.sh and
# tests/fate/tree.sh (both hash this script into their cache keys). JOBS: parallelism (nproc).
# EXTRA_CFLAGS: more compiler flags (the benchmark's build passes the module's -march).
set -euo pipefail
work=$1 prefix=$2
mod=$(cd "$(dirname "$0")/../module" && pwd)
. "$mod/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
JOBS=${JOBS:-$(nproc)}
log() { echo "native-deps: $*" >&2; }
mkdir -p "$work" "$prefix/include" "$prefix/lib/pkgconfig"

log "zlib (gcc -O2, as the module's)"
rm -rf "$work/zlib"
cp -a "$CACHE/src/$ZLIB_PKG" "$work/zlib"
( cd "$work/zlib"
  for f in adler32 compress crc32 deflate infback inffast inflate inftrees trees uncompr zutil; do
      gcc -O2 ${EXTRA_CFLAGS:-} -w -D_LARGEFILE64_SOURCE=1 -c $f.c -o $f.o
  done
  ar rcs "$prefix/lib/libz.a" ./*.o
  cp zlib.h zconf.h "$prefix/include/" )
printf '%s\n' "prefix=$prefix" 'Name: zlib' 'Description: zlib' 'Version: 1.2.13' \
    'Libs: -L${prefix}/lib -lz' 'Cflags: -I${prefix}/include' > "$prefix/lib/pkgconfig/zlib.pc"

log "openh264 (USE_ASM=No, -O2 as the module's)"
rm -rf "$work/openh264"
cp -a "$CACHE/src/$OPENH264_PKG" "$work/openh264"
( cd "$work/openh264"
  make -s -j"$JOBS" OS=linux ARCH=x86_64 USE_ASM=No CC=gcc CXX=g++ CFLAGS_OPT="-O2 ${EXTRA_CFLAGS:-}" \
      PREFIX="$prefix" libopenh264.a install-static > "$work/openh264.log" 2>&1 ) ||
    { tail -n 30 "$work/openh264.log" >&2; log "openh264 build failed"; exit 1; }
