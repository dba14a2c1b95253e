#!/usr/bin/env bash
# tests/fate/tree.sh — builds (or finds in the cache) the FFmpeg tree FATE runs from, and prints
# its directory.
#
# The tree is FFmpeg from the module's Debian source package (module/versions.env, fetched by
# module/fetch.sh into $CACHE/src), with the module's FFmpeg patches (its openh264 ones are
# guest-only), configured with the module's own configure arguments (module/ffmpeg.conf) less
# those that only make sense for the wasm cross build, and compiled for the host with gcc,
# without any asm. So:
#   - FATE's CONFIG_* dependencies see exactly the module's component list: tests for codecs,
#     formats, filters and protocols the module does not have are not in `make fate-list`;
#   - its own ffmpeg/ffprobe are the native no-asm side of the comparison (run.sh);
#   - FATE's helper programs (tests/base64, tiny_psnr, videogen, ...) and the unit-test programs
#     (libavutil/tests/*, ...) are host programs, used natively by both sides.
# zlib and openh264 (--enable-zlib --enable-libopenh264 are part of the module's arguments) are
# built for the host from the same source packages, openh264 with USE_ASM=No; the other guest
# libraries (dav1d, libvpx, opus, ...) are Debian's own builds of the same sources, linked
# dynamically from their -dev packages (scripts/install-deps.sh).
#
# The tree is configured in place (source directory = build directory), so every path FATE hands
# to ffmpeg lies inside one directory, which run.sh's sandbox wrapper jails the guest to.
#
# Cached as $CACHE/fate-<key>/ffmpeg, the key hashing everything that determines it: this
# script, versions.env, ffmpeg.conf, the patches and the host compiler and C library. CACHE is
# module/build.sh's ($AFMPEG_CACHE_DIR, else $XDG_CACHE_HOME/afmpeg, else ~/.cache/afmpeg).
# JOBS sets the parallelism (default: nproc).
set -euo pipefail
# Possibly run by make: the builds inside are make's of their own.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
here=$(cd "$(dirname "$0")" && pwd)
mod=$(cd "$here/../../module" && pwd)
. "$mod/versions.env"
. "$mod/ffmpeg.conf"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
JOBS=${JOBS:-$(nproc)}
log() { echo "fate-tree: $*" >&2; }

for tool in gcc g++ make pkg-config flock; do
    command -v "$tool" >/dev/null || { log "missing $tool: run scripts/install-deps.sh"; exit 1; }
done
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
key=$( { cat "$0" "$here/../../scripts/native-deps.sh"; ls -l /usr/lib/x86_64-linux-gnu/pkgconfig;
         cat "$mod/versions.env" "$mod/ffmpeg.conf";
         find "$mod/patches/ffmpeg" -type f -print0 | sort -z | xargs -0 cat;
         gcc --version | head -n1; g++ --version | head -n1; pkgver libc6-dev; } |
       sha256sum | cut -c1-16)
mkdir -p "$CACHE"
# The physical path: FATE's TARGET_PATH is make's $(CURDIR), which has no symbolic links.
dir=$(cd "$CACHE" && pwd -P)/fate-$key

# One builder at a time; a second caller waits, then finds the stamp.
exec 9>"$CACHE/.fate-$key.lock"
flock 9
if [ -f "$dir/.stamp" ]; then
    log "cached: $dir/ffmpeg"
    echo "$dir/ffmpeg"
    exit 0
fi

# The module's configure arguments, less the cross-build ones (compilers, target, host cc).
args=()
while IFS= read -r a; do
    case $a in
        --enable-cross-compile | --target-os=* | --arch=* | --cc=* | --cxx=* | --ar=* | \
        --ranlib=* | --nm=* | --host-cc=* | --pkg-config-flags=*) ;;
        *) args+=("$a") ;;
    esac
done < <(ffmpeg_configure_args)

rm -rf "$dir"
prefix=$dir/prefix
mkdir -p "$dir/deps" "$prefix/include" "$prefix/lib/pkgconfig"
"$mod/fetch.sh" "$CACHE/src" >&2
start=$(date +%s)

"$here/../../scripts/native-deps.sh" "$dir/deps" "$prefix"
rm -rf "$dir/deps"

log "ffmpeg: configure (in place)"
cp -a "$CACHE/src/$FFMPEG_PKG" "$dir/ffmpeg"
for p in "$mod"/patches/ffmpeg/*.patch; do
    patch -s -p1 -d "$dir/ffmpeg" < "$p"
done
( cd "$dir/ffmpeg"
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
  ./configure "${args[@]}" --cc=gcc --cxx=g++ --host-cc=gcc \
      --extra-cflags="-I$prefix/include" --extra-ldflags="-L$prefix/lib" \
      > "$dir/configure.log" 2>&1 ) ||
    { tail -n 30 "$dir/ffmpeg/ffbuild/config.log" >&2; log "ffmpeg configure failed"; exit 1; }
if grep -q 'did not match anything' "$dir/configure.log"; then
    grep 'did not match anything' "$dir/configure.log" >&2
    log "module/ffmpeg.conf names a component configure does not know"; exit 1
fi

# The libraries, ffmpeg, ffprobe and FATE's host helpers; then the unit-test programs, so that
# a FATE run only runs tests. A few test programs do not build with this component list
# (libavutil/tests/pixelutils needs CONFIG_PIXELUTILS); FATE does not list their tests either.
log "ffmpeg: build (-j$JOBS)"
( cd "$dir/ffmpeg" &&
  make -s -j"$JOBS" all tests/audiogen tests/videogen tests/rotozoom tests/tiny_psnr \
      tests/tiny_ssim tests/base64 tests/audiomatch > "$dir/make.log" 2>&1 ) ||
    { tail -n 40 "$dir/make.log" >&2; log "ffmpeg build failed"; exit 1; }
( cd "$dir/ffmpeg" && make -s -k -j"$JOBS" testprogs > "$dir/testprogs.log" 2>&1 ) ||
    log "some test programs do not build with this configuration ($dir/testprogs.log)"
touch "$dir/.stamp"
log "built in $(( $(date +%s) - start )) s: $dir/ffmpeg"
echo "$dir/ffmpeg"
