#!/usr/bin/env bash
# module/font.sh — puts the module's default font in the cache, unless there, and prints its
# directory DIR ($CACHE/font-<key>, CACHE as in build.sh):
#   DIR/DejaVuSans.ttf, DIR/DejaVuSans-Bold.ttf   the fonts (FONT_FILES below), nothing else:
#                      libass tries every file of a fonts directory as a font
# Their licence (Bitstream Vera, with DejaVu's changes in the public domain) is
# licenses/dejavu-fonts.copyright, the package's copyright file.
# FFmpeg in the guest has no fontconfig: drawtext, subtitles and ass find fonts only where they are
# told, and module/patches/ffmpeg/0004-default-font.patch makes them look in a fixed guest
# directory when the caller names none. This is what the host serves there.
#
# The fonts are Debian 12's fonts-dejavu-core (FONT_* in versions.env), a binary package with
# nothing to build. It comes through apt with a private configuration (module/debs.sh): the
# machine's mirror, the release FONT_SUITE, signatures checked; the .deb against FONT_SHA256.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
# DejaVu Sans covers Latin, Greek, Cyrillic, Arabic, Hebrew, Armenian, Georgian and more; the
# bold face spares libass its synthetic emboldening of bold subtitle styles.
FONT_FILES="DejaVuSans.ttf DejaVuSans-Bold.ttf"
. "$here/debs.sh"
key=$( { grep '^FONT_' "$here/versions.env"; cat "$here/font.sh" "$here/debs.sh"; } |
       sha256sum | cut -c1-16)
log() { echo "font: $*" >&2; }
deb_begin font "$key"

deb_download "$tmp" "$FONT_SUITE" "$FONT_PKG=$FONT_VERSION"
deb=$tmp/debs/${FONT_PKG}_${FONT_VERSION//:/%3a}_all.deb
deb_check "$deb" "$FONT_SHA256"

dpkg-deb -x "$deb" "$tmp/root"
for f in $FONT_FILES; do
    cp "$tmp/root/usr/share/fonts/truetype/dejavu/$f" "$dir/"
done
touch "$dir/.stamp"
log "$FONT_FILES in $dir"
echo "$dir" >&3
