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
# The packages come through apt with a private configuration (nothing under /etc changes): the same
# mirror the machine uses, the release named by WABT_SUITE, signatures checked against Debian's
# archive keyring; each .deb is then checked against the SHA-256 pinned in versions.env.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
key=$( { grep '^WABT_' "$here/versions.env"; cat "$here/wabt.sh"; } | sha256sum | cut -c1-16)
dir=$CACHE/wabt-$key
log() { echo "wabt: $*" >&2; }

[ -f "$dir/.stamp" ] && { echo "$dir"; exit 0; }
rm -rf "$dir"
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.apt.XXXXXX")
exec 3>&1 1>&2 # apt's and dpkg's chatter to stderr; stdout carries only the directory
trap 'rm -rf "$tmp"' EXIT

# The machine's Debian mirror: the URI apt uses for its own release's main component.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirror=$(apt-cache policy | awk -v s="$codename/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
[ -n "$mirror" ] || { log "no Debian mirror for '$codename/main' in apt's sources"; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { log "missing $keyring (package debian-archive-keyring)"; exit 1; }

mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/parts" "$tmp/debs"
: > "$tmp/status"
echo "deb [signed-by=$keyring] $mirror $WABT_SUITE main" > "$tmp/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
          -o "Dir::State::Lists=$tmp/lists" -o "Dir::State::Status=$tmp/status"
          -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1 -o Acquire::Languages=none
          -o APT::Sandbox::User=root)
log "apt-get download wabt=$WABT_VERSION libc6=$WABT_LIBC_VERSION ($WABT_SUITE)"
apt-get "${apt_opts[@]}" update -qq ||
    { log "apt-get update of $WABT_SUITE from $mirror failed"; exit 1; }
( cd "$tmp/debs" &&
  apt-get "${apt_opts[@]}" download -qq "wabt=$WABT_VERSION" "libc6=$WABT_LIBC_VERSION" ) ||
    { log "cannot download the pinned packages: the mirror keeps only the current version of" \
          "each, so a pin in module/versions.env may need updating to what" \
          "'apt-cache policy' of $WABT_SUITE lists (with its new SHA-256)"; exit 1; }

check() { # file sha256
    local got; got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { log "$(basename "$1"): sha256 $got, expected $2"; exit 1; }
}
check "$tmp/debs/wabt_${WABT_VERSION//:/%3a}_amd64.deb" "$WABT_SHA256"
check "$tmp/debs/libc6_${WABT_LIBC_VERSION//:/%3a}_amd64.deb" "$WABT_LIBC_SHA256"

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
