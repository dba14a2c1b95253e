#!/usr/bin/env bash
# module/wabt.sh — puts Debian's wasm2c of WABT_VERSION (versions.env) in the cache, unless there,
# and prints its directory DIR ($CACHE/wabt-<key>, CACHE as in build.sh):
#   DIR/bin/wasm2c      runs the translator
#   DIR/include/        its runtime headers (wasm-rt.h, wasm-rt-exceptions.h), which the
#                       generated code and afmpeg's own runtime (lib/rt) are compiled against
#
# Why not the machine's wabt: Debian 12's wabt is 1.0.32, whose wasm2c cannot translate WebAssembly
# SIMD (it aborts on the first v128 instruction; SIMD arrived in 1.0.33). The module is built with
# -msimd128 (bench/README.md has what that buys), so it needs the wasm2c of Debian 13, wabt 1.0.36.
# Its source package is not served by the mirror (only sources of the machine's own release are),
# but the binary package is. That binary wants glibc >= 2.38 (one symbol, __isoc23_strtol) and
# Debian 12 has 2.36, so the wrapper runs it with Debian 13's dynamic loader and libc, unpacked
# here beside it; its other libraries (libstdc++, libcrypto) are the machine's.
#
# The packages come through apt with a private configuration (module/debs.sh): the machine's
# mirror, the release WABT_SUITE, signatures checked; each .deb against its pinned SHA-256.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
. "$here/debs.sh"
key=$( { grep '^WABT_' "$here/versions.env"; cat "$here/wabt.sh" "$here/debs.sh"; } |
       sha256sum | cut -c1-16)
log() { echo "wabt: $*" >&2; }
deb_begin wabt "$key"

deb_download "$tmp" "$WABT_SUITE" "wabt=$WABT_VERSION" "libc6=$WABT_LIBC_VERSION"
deb_check "$tmp/debs/wabt_${WABT_VERSION//:/%3a}_amd64.deb" "$WABT_SHA256"
deb_check "$tmp/debs/libc6_${WABT_LIBC_VERSION//:/%3a}_amd64.deb" "$WABT_LIBC_SHA256"

for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
mkdir -p "$dir/bin" "$dir/include"
cp "$dir/root/usr/src/wasm2c/wasm-rt.h" "$dir/root/usr/src/wasm2c/wasm-rt-exceptions.h" \
   "$dir/include/"
lib=$dir/root/usr/lib/x86_64-linux-gnu
cat > "$dir/bin/wasm2c" <<EOF
#!/bin/sh
# Debian $WABT_SUITE's wasm2c ($WABT_VERSION) with that release's libc (module/wabt.sh).
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu" \\
     "$dir/root/usr/bin/wasm2c" "\$@"
EOF
chmod +x "$dir/bin/wasm2c"
"$dir/bin/wasm2c" --version | grep -qx "${WABT_VERSION%%+*}" ||
    { log "the unpacked wasm2c does not run: $("$dir/bin/wasm2c" --version 2>&1 | head -n 3)"; exit 1; }
touch "$dir/.stamp"
log "wasm2c $("$dir/bin/wasm2c" --version) in $dir"
echo "$dir" >&3
