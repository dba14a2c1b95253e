#!/usr/bin/env bash
# fetch.sh SRCDIR [lgpl|gpl] — fetches the pinned Debian source packages into SRCDIR (one
# directory each, named after the package), unless already there: FFmpeg, openh264, the guest
# libraries of MODULE_LIBS (ffmpeg.conf), and for the GPL module also x264. apt verifies the
# archive signatures and dpkg-source verifies each file against the signed .dsc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
. "$here/ffmpeg.conf"  # MODULE_LIBS
src=${1:?usage: fetch.sh SRCDIR [lgpl|gpl]}
module=${2:-lgpl}
mkdir -p "$src"

fetch() { # pkg version
  local pkg=$1 ver=$2 stamp dir
  stamp="$src/.fetched-$pkg-${ver//:/_}"
  [ -f "$stamp" ] && return 0
  if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    "$here/../scripts/add-deb-src.sh"; apt-get update -qq
  fi
  local tmp; tmp=$(mktemp -d "$src/.tmp-$pkg.XXXXXX")
  echo "fetch: apt-get source $pkg=$ver"
  ( cd "$tmp" && apt-get source -qq "$pkg=$ver" >/dev/null ) || {
    echo "fetch: 'apt-get source $pkg=$ver' failed (is the deb-src entry there, and apt-get update done?)" >&2
    rm -rf "$tmp"; return 1; }
  dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$dir" ] || { echo "fetch: no source tree for $pkg" >&2; return 1; }
  rm -rf "$src/$pkg"
  mv "$dir" "$src/$pkg"
  rm -rf "$tmp"
  touch "$stamp"
}
fetch "$FFMPEG_PKG" "$FFMPEG_VERSION"
fetch "$OPENH264_PKG" "$OPENH264_VERSION"
for name in $MODULE_LIBS; do  # module/libs/NAME.sh: NAME_PKG, NAME_VERSION
  pkg=${name^^}_PKG; ver=${name^^}_VERSION
  fetch "${!pkg}" "${!ver}"
done
if [ "$module" = gpl ]; then
  fetch "$X264_PKG" "$X264_VERSION"
fi
