#!/usr/bin/env bash
# module/build.sh OUTDIR [lgpl|gpl]
#
# Builds the guest module and leaves OUTDIR pointing at its native objects. lgpl (the default)
# is the LGPL module ffmpeg.conf describes; gpl adds module/gpl/gpl.conf (x264, --enable-gpl),
# cached apart (wasm-gpl-<key>, native-gpl-<key>). The stages:
#   1. fetch   the pinned Debian source packages (versions.env)            -> $CACHE/src
#   2. libs    the guest libraries (MODULE_LIBS, module/libs/NAME.sh)     -> $CACHE/lib-NAME-<key>
#   3. wasm    openh264, FFmpeg for wasm32-wasi; ffmpeg + ffprobe
#              linked as one multi-call module (afmpeg.wasm)               -> $CACHE/wasm-<key>
#   4. native  wasm2c (Debian 13's, module/wabt.sh) into units, memory accesses rewritten
#              (membase.py), gcc -O2 in parallel                           -> $CACHE/native-<key>
# Each stage is cached under a key hashed from everything that determines it, so a rebuild with
# nothing changed only checks the stamps. CACHE is $AFMPEG_CACHE_DIR, else
# $XDG_CACHE_HOME/afmpeg, else ~/.cache/afmpeg. JOBS sets the parallelism (default: nproc).
# LIBS_ONLY=1 stops after stage 2 and prints the libraries' cache directories. WASM_ONLY=1 stops
# after stage 3 and leaves OUTDIR pointing at the wasm stage (OUTDIR/afmpeg.wasm), for loading as
# a module from a file (docs/modules.md) without the native stage.
set -euo pipefail
# Run by make, maybe recursively: the builds inside (openh264, FFmpeg) are make's of their own and
# must not inherit the outer make's flags, jobserver or directory messages.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: module/build.sh OUTDIR [lgpl|gpl]}
MODULE=${2:-lgpl}
. "$here/versions.env"
. "$here/ffmpeg.conf"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
JOBS=${JOBS:-$(nproc)}
log() { echo "module: $*" >&2; }
MODULE_CONFIGURE_ARGS=()
case $MODULE in
    lgpl) tag= ;;
    gpl)  tag=-gpl; . "$here/gpl/gpl.conf" ;;
    *)    log "MODULE is lgpl or gpl, not '$MODULE'"; exit 1 ;;
esac

for tool in clang-19 wasm-ld-19 llvm-ar-19 gcc python3; do
    command -v "$tool" >/dev/null || { log "missing $tool: run scripts/install-deps.sh"; exit 1; }
done

hash_of() { sha256sum | cut -c1-16; }
[ -f /usr/include/simde/wasm/simd128.h ] ||
    { log "missing simde (libsimde-dev): run scripts/install-deps.sh"; exit 1; }
wabt_dir=$("$here/wabt.sh")
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }

# ---- keys --------------------------------------------------------------------------------------
# The GPL module's inputs (the lines of versions.env naming x264, module/gpl/) are left out of
# the default module's key, so a change to them rebuilds only the GPL module.
gpl_inputs() {
    [ "$MODULE" = lgpl ] && return
    echo "$MODULE"; grep -i x264 "$here/versions.env"
    find "$here/gpl" -type f -print0 | sort -z | xargs -0 cat
}
# The guest libraries (module/libs/NAME.sh, in MODULE_LIBS order), each cached on its own under a
# key chained from the ones before it: a library is rebuilt when its recipe, its source version,
# the toolchain or a library it may depend on changes, and never because FFmpeg's switches did.
toolchain=$( pkgver clang-19; pkgver lld-19; pkgver wasi-libc; pkgver libclang-rt-19-dev-wasm32;
             pkgver libc++-19-dev-wasm32; pkgver meson; echo "$WASM_CFLAGS" )
declare -A lib_dir
libs_key=
for name in $MODULE_LIBS; do
    libs_key=$( { echo "$libs_key $name"; echo "$toolchain";
                  grep -E "^${name^^}_" "$here/versions.env";
                  cat "$here/libs/common.sh" "$here/libs/$name.sh";
                  find "$here/compat" $(ls -d "$here/patches/$name" 2>/dev/null) -type f -print0 |
                      sort -z | xargs -0 cat; } | hash_of)
    lib_dir[$name]=$CACHE/lib-$name-$libs_key
done
# The fonts (FONT_* in versions.env) are the host library's, not the module's: left out.
wasm_key=$( { echo "$libs_key"; grep -vi -e x264 -e '^FONT_' "$here/versions.env";
              cat "$here/ffmpeg.conf" "$here/build.sh";
              find "$here/patches" "$here/compat" "$here/openh264" "$here/multicall" -type f \
                   -print0 | sort -z | xargs -0 cat;
              pkgver clang-19; pkgver lld-19; pkgver wasi-libc; pkgver libclang-rt-19-dev-wasm32;
              pkgver libc++-19-dev-wasm32; gpl_inputs; } | hash_of)
# The native stage depends on the wasm, the translator (and its runtime header), the rewriter, the
# host compiler and simde (wasm2c lowers SIMD to it).
# -fstack-clash-protection: a large native frame probes its pages in order, so running out of
# stack always hits the guard page (and traps as stack exhaustion) instead of jumping past it.
# -Werror=incompatible-pointer-types: an access membase.py did not rewrite fails to build.
# -march=$HOST_MARCH: versions.env says why; the library checks the CPU (afm_target.h).
NATIVE_CFLAGS="-O2 -march=$HOST_MARCH -fPIC -fvisibility=hidden -fno-strict-aliasing
 -fstack-clash-protection -w -Werror=incompatible-pointer-types"
NATIVE_UNITS=24
native_key=$( { echo "$wasm_key"; cat "$here/membase.py"; echo "$NATIVE_CFLAGS $NATIVE_UNITS";
                basename "$wabt_dir"; gcc --version | head -n1; pkgver libsimde-dev; } | hash_of)
wasm_dir=$CACHE/wasm$tag-$wasm_key
native_dir=$CACHE/native$tag-$native_key

# ---- stage 1+2: the guest libraries -------------------------------------------------------------
lib_pc_path() { # the pkgconfig directories of the libraries before $1 (all of them without $1)
    local n path=
    for n in $MODULE_LIBS; do
        [ "$n" = "${1:-}" ] && break
        path=${path:+$path:}${lib_dir[$n]}/prefix/lib/pkgconfig
    done
    echo "$path"
}
build_lib() { # name
    local name=$1 dir=${lib_dir[$1]} pkg
    pkg=${1^^}_PKG; pkg=${!pkg}
    log "$name ($pkg)"
    rm -rf "$dir"; mkdir -p "$dir/prefix"
    cp -a "$CACHE/src/$pkg" "$dir/src"
    ( cd "$dir/src" &&
      PREFIX=$dir/prefix WCC="clang-19 $WASM_CFLAGS" WCXX="clang++-19 $WASM_CFLAGS" \
      AR=llvm-ar-19 RANLIB=llvm-ranlib-19 NM=llvm-nm-19 STRIP=llvm-strip-19 \
      COMPAT="-I$here/compat/include -D_WASI_EMULATED_SIGNAL" JOBS=$JOBS MODULE_DIR=$here \
      PKG_CONFIG_PATH=$(lib_pc_path "$name") PKG_CONFIG_LIBDIR=$(lib_pc_path "$name") \
      bash "$here/libs/$name.sh" ) > "$dir/build.log" 2>&1 ||
        { tail -n 40 "$dir/build.log" >&2; log "$name build failed ($dir/build.log)"; exit 1; }
    rm -rf "$dir/src"
    touch "$dir/.stamp"
}
build_libs() {
    local name
    for name in $MODULE_LIBS; do
        [ -f "${lib_dir[$name]}/.stamp" ] || build_lib "$name"
    done
}

# ---- stage 2: the wasm module --------------------------------------------------------------------
build_wasm() {
    local work=$wasm_dir/work prefix=$wasm_dir/prefix
    rm -rf "$wasm_dir"; mkdir -p "$work" "$prefix/include" "$prefix/lib/pkgconfig"
    "$here/fetch.sh" "$CACHE/src" "$MODULE"
    build_libs
    local WCC="clang-19 $WASM_CFLAGS" WCXX="clang++-19 $WASM_CFLAGS"  # ffmpeg.conf says why
    local COMPAT="-I$here/compat/include -D_WASI_EMULATED_SIGNAL"

    log "openh264"
    cp -a "$CACHE/src/$OPENH264_PKG" "$work/openh264"
    cp "$here/openh264/platform-wasi.mk" "$work/openh264/build/"
    # Guest-only wasm SIMD kernels (#if __wasm_simd128__): the native no-asm build needs none.
    local p
    for p in "$here"/patches/openh264/*.patch; do
        patch -s -p1 -d "$work/openh264" < "$p"
    done
    ( cd "$work/openh264"
      make -s -j"$JOBS" OS=wasi ARCH=wasm32 USE_ASM=No USE_STACK_PROTECTOR=No \
          CC="$WCC" CXX="$WCXX" AR=llvm-ar-19 \
          CFLAGS_OPT="-O2 $COMPAT -fno-exceptions" CXXFLAGS="-fno-exceptions -fno-rtti $COMPAT" \
          PREFIX="$prefix" libopenh264.a install-static > "$wasm_dir/openh264.log" 2>&1 ) ||
        { tail -n 30 "$wasm_dir/openh264.log" >&2; log "openh264 build failed"; exit 1; }
    # Its .pc names libstdc++; the wasm C++ runtime is libc++/libc++abi.
    sed -i 's/-lstdc++/-lc++ -lc++abi/; s/-lpthread//' "$prefix/lib/pkgconfig/openh264.pc"

    [ "$MODULE" = lgpl ] || module_libs "$work" "$prefix" "$WCC"  # gpl.conf: x264

    log "ffmpeg: configure"
    cp -a "$CACHE/src/$FFMPEG_PKG" "$work/ffmpeg"
    for p in "$here"/patches/ffmpeg/*.patch; do
        patch -s -p1 -d "$work/ffmpeg" < "$p"
    done
    local args=() libs_pc libs_inc= libs_lib= name
    libs_pc=$(lib_pc_path)
    for name in $MODULE_LIBS; do  # for configure's checks that do not ask pkg-config (zlib)
        libs_inc+=" -I${lib_dir[$name]}/prefix/include"; libs_lib+=" -L${lib_dir[$name]}/prefix/lib"
    done
    mapfile -t args < <(ffmpeg_configure_args)
    args+=("${MODULE_CONFIGURE_ARGS[@]}")
    ( cd "$work/ffmpeg"
      PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$libs_pc" \
      PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig:$libs_pc" \
      ./configure "${args[@]}" --prefix="$prefix" \
          --extra-cflags="$FFMPEG_EXTRA_CFLAGS -I$prefix/include $libs_inc" \
          --extra-ldflags="$FFMPEG_EXTRA_LDFLAGS -L$prefix/lib $libs_lib" \
          --extra-libs="$FFMPEG_EXTRA_LIBS" > "$wasm_dir/configure.log" 2>&1 ) ||
        { tail -n 30 "$work/ffmpeg/ffbuild/config.log" >&2; log "ffmpeg configure failed"; exit 1; }
    if grep -q 'did not match anything' "$wasm_dir/configure.log"; then
        grep 'did not match anything' "$wasm_dir/configure.log" >&2
        log "ffmpeg.conf names a component configure does not know"; exit 1
    fi
    local kind w missing=
    for kind in muxer encoder filter; do
        local list=FFMPEG_${kind^^}S
        for w in ${!list}; do
            grep -q "^#define CONFIG_${w^^}_${kind^^} 1" "$work/ffmpeg/config_components.h" ||
                missing+=" $kind:$w"
        done
    done
    if [ -n "$missing" ]; then
        log "configure left out what ffmpeg.conf asks for (a GPL-only or unmet dependency):$missing"
        exit 1
    fi

    log "ffmpeg: build (-j$JOBS)"
    ( cd "$work/ffmpeg" && make -s -j"$JOBS" > "$wasm_dir/make.log" 2>&1 ) ||
        { tail -n 40 "$wasm_dir/make.log" >&2; log "ffmpeg build failed"; exit 1; }

    log "ffmpeg + ffprobe: one multi-call module"
    "$here/multicall/link.sh" "$work/ffmpeg" "$wasm_dir/afmpeg.wasm"
    touch "$wasm_dir/.stamp"
}

# ---- stage 3: native objects ---------------------------------------------------------------------
build_native() {
    rm -rf "$native_dir"; mkdir -p "$native_dir/gen" "$native_dir/obj"
    log "wasm2c ($NATIVE_UNITS units)"
    "$wabt_dir/bin/wasm2c" -n afm --num-outputs=$NATIVE_UNITS "$wasm_dir/afmpeg.wasm" \
        -o "$native_dir/gen/afm.c"
    python3 "$here/membase.py" "$native_dir/gen"
    log "gcc $NATIVE_CFLAGS (-j$JOBS)"
    # Largest first, so the last unit to finish is a small one.
    ( cd "$native_dir/gen" &&
      ls -S afm_*.c | xargs -P "$JOBS" -I{} sh -c \
          'gcc '"$(echo $NATIVE_CFLAGS)"' -I. -I'"$wabt_dir"'/include -c {} \
               -o ../obj/$(basename {} .c).o || exit 255' )
    cp "$native_dir/gen/afm.h" "$native_dir/afm.h"
    printf '/* Generated by module/build.sh. */\n#define AFM_MODULE_MARCH "%s"\n' "$HOST_MARCH" \
        > "$native_dir/afm_target.h"
    # The module this stage was translated from (the V8 engine of make bench runs it).
    ln -sfn "$wasm_dir/afmpeg.wasm" "$native_dir/afmpeg.wasm"
    touch "$native_dir/.stamp"
}

if [ -n "${LIBS_ONLY:-}" ]; then  # LIBS_ONLY=1: fetch and build the guest libraries, then stop
    "$here/fetch.sh" "$CACHE/src" "$MODULE"; build_libs
    for name in $MODULE_LIBS; do echo "${lib_dir[$name]}"; done
    exit 0
fi
if [ -n "${WASM_ONLY:-}" ]; then  # WASM_ONLY=1: the .wasm alone
    [ -f "$wasm_dir/.stamp" ] && log "cached: $wasm_dir" || build_wasm
    mkdir -p "$(dirname "$out")"
    ln -sfn "$wasm_dir" "$out"
    touch "$wasm_dir/.stamp"
    exit 0
fi
if [ -f "$native_dir/.stamp" ]; then
    log "cached: $native_dir"
else
    [ -f "$wasm_dir/.stamp" ] && log "cached: $wasm_dir" || build_wasm
    build_native
fi
mkdir -p "$(dirname "$out")"
ln -sfn "$native_dir" "$out"
touch "$native_dir/.stamp"
