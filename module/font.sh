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
# nothing to build. It comes through apt with a private configuration as module/wabt.sh does
# (nothing under /etc changes): the machine's mirror, the release FONT_SUITE, signatures checked
# against Debian's archive keyring; the .deb is then checked against FONT_SHA256.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
# DejaVu Sans covers Latin, Greek, Cyrillic, Arabic, Hebrew, Armenian, Georgian and more; the
# bold face spares libass its synthetic emboldening of bold subtitle styles.
FONT_FILES="DejaVuSans.ttf DejaVuSans-Bold.ttf"
key=$( { grep '^FONT_' "$here/versions.env"; cat "$here/font.sh"; } | sha256sum | cut -c1-16)
dir=$CACHE/font-$key
log() { echo "font: $*" >&2; }

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
echo "deb [signed-by=$keyring] $mirror $FONT_SUITE main" > "$tmp/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/parts"
          -o "Dir::State::Lists=$tmp/lists" -o "Dir::State::Status=$tmp/status"
          -o "Dir::Cache=$tmp/cache" -o Debug::NoLocking=1 -o Acquire::Languages=none
          -o APT::Sandbox::User=root)
log "apt-get download $FONT_PKG=$FONT_VERSION ($FONT_SUITE)"
apt-get "${apt_opts[@]}" update -qq ||
    { log "apt-get update of $FONT_SUITE from $mirror failed"; exit 1; }
( cd "$tmp/debs" && apt-get "${apt_opts[@]}" download -qq "$FONT_PKG=$FONT_VERSION" ) ||
    { log "cannot download $FONT_PKG=$FONT_VERSION: a pin in module/versions.env may need" \
          "updating to what 'apt-cache policy $FONT_PKG' lists (with its new SHA-256)"; exit 1; }

deb=$tmp/debs/${FONT_PKG}_${FONT_VERSION//:/%3a}_all.deb
got=$(sha256sum "$deb" | cut -d' ' -f1)
[ "$got" = "$FONT_SHA256" ] || { log "$(basename "$deb"): sha256 $got, expected $FONT_SHA256"; exit 1; }

dpkg-deb -x "$deb" "$tmp/root"
for f in $FONT_FILES; do
    cp "$tmp/root/usr/share/fonts/truetype/dejavu/$f" "$dir/"
done
touch "$dir/.stamp"
log "$FONT_FILES in $dir"
echo "$dir" >&3
