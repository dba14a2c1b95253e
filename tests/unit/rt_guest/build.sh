#!/bin/sh
# Builds the guest program of tests/unit/test_rt.c: guest.c -> rt_guest.wasm -> rt_guest.c and
# rt_guest.h (wasm2c, module name "guest") in the directory given as the only argument.
# The generated files are build products: never commit them.
#   usage: tests/unit/rt_guest/build.sh OUTDIR
#   environment: CLANG (default clang-19), WASM2C (default: the module's wasm2c, module/wabt.sh;
#   lib/rt implements that version's runtime ABI)
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
src=$(dirname "$0")/guest.c
CLANG=${CLANG:-clang-19}
WASM2C=${WASM2C:-$("$(dirname "$0")/../../../module/wabt.sh")/bin/wasm2c}

mkdir -p "$out"
# No libc and no WASI: the guest needs nothing but its own code and one host import.
"$CLANG" --target=wasm32 -nostdlib -Wl,--no-entry -Wl,--export-all -O1 \
    "$src" -o "$out/rt_guest.wasm.tmp"
mv "$out/rt_guest.wasm.tmp" "$out/rt_guest.wasm"
# wasm2c names the header after the output file and #includes it from the .c by that name.
"$WASM2C" -n guest "$out/rt_guest.wasm" -o "$out/rt_guest.c"
