# module/libs/common.sh — sourced by every library recipe (module/libs/NAME.sh).
#
# A recipe builds one guest library from its Debian source and installs it, static, into $PREFIX
# (headers in include/, lib*.a in lib/, a .pc in lib/pkgconfig whose Libs/Libs.private are enough
# for FFmpeg's `pkg-config --static`). build.sh runs it with bash, its working directory a fresh
# writable copy of the source tree, its output going to the library's build.log, and this
# environment:
#   PREFIX          where to install (empty at start)
#   WCC, WCXX       the guest C and C++ compilers with target and features (no -O, no -I)
#   AR RANLIB NM STRIP   llvm-19's tools
#   COMPAT          cflags for the single-threaded stand-ins (pthread.h, semaphore.h, sysctl.h)
#   JOBS            parallelism
#   PKG_CONFIG_PATH, PKG_CONFIG_LIBDIR   the .pc files of the libraries built before this one
#   MODULE_DIR      module/ (for a recipe's patches: module/patches/NAME/*.patch)
# A recipe that fails exits non-zero; build.sh shows the end of its log.
set -euo pipefail

# apply_patches NAME: module/patches/NAME/*.patch, in order, if there are any.
apply_patches() {
    local p
    for p in "$MODULE_DIR/patches/$1"/*.patch; do
        [ -e "$p" ] || continue
        patch -s -p1 < "$p"
    done
}

# wasm_configure ARGS...: an autoconf configure for the guest, static only, into $PREFIX.
wasm_configure() {
    # A config.sub from before 2019 does not know the OS wasi (older ones not even wasm32):
    # answer for the guest's triplet ourselves and pass anything else on.
    if [ -f config.sub ] && ! sh config.sub wasm32-unknown-wasi >/dev/null 2>&1; then
        mv config.sub config.sub.orig
        printf '%s\n' '#!/bin/sh' '[ "$1" = wasm32-unknown-wasi ] && exec echo "$1"' \
            'exec sh "$0.orig" "$@"' > config.sub
        chmod +x config.sub
    fi
    ./configure --host=wasm32-unknown-wasi --prefix="$PREFIX" --disable-shared --enable-static \
        CC="$WCC" CXX="$WCXX" AR="$AR" RANLIB="$RANLIB" NM="$NM" STRIP="$STRIP" \
        CFLAGS="-O2 $COMPAT" CXXFLAGS="-O2 $COMPAT -fno-exceptions" "$@"
}

# wasm_meson_cross FILE: a meson cross file for the guest (meson setup --cross-file FILE).
wasm_meson_cross() {
    local c cxx w
    c="'${WCC// /\', \'}'"; cxx="'${WCXX// /\', \'}'"
    cat > "$1" <<CROSS
[binaries]
c = [$c]
cpp = [$cxx]
ar = '$AR'
strip = '$STRIP'
nm = '$NM'
pkgconfig = 'pkg-config'

[built-in options]
c_args = [$(for w in $COMPAT; do printf "'%s', " "$w"; done)]
cpp_args = [$(for w in $COMPAT; do printf "'%s', " "$w"; done) '-fno-exceptions']

[properties]
needs_exe_wrapper = true

[host_machine]
system = 'wasi'
cpu_family = 'wasm32'
cpu = 'wasm32'
endian = 'little'
CROSS
}

# wasm_meson ARGS...: meson setup + ninja + install for the guest, static, into $PREFIX.
wasm_meson() {
    wasm_meson_cross wasm32-wasi.cross
    meson setup _build --cross-file wasm32-wasi.cross --prefix="$PREFIX" --libdir=lib \
        --buildtype=release --default-library=static -Db_staticpic=false "$@"
    ninja -C _build -j"$JOBS"
    ninja -C _build install
}
