#!/usr/bin/env bash
# Adds a deb-src entry mirroring each existing `deb` entry of the machine (same mirror, suites,
# components and keyring), so `apt-get source` works. Signature checks stay on.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
out=/etc/apt/sources.list.d/afmpeg-deb-src.sources
tmp=$(mktemp)
# deb822 files: copy every enabled stanza whose Types has deb, with Types: deb-src.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  [ "$f" = "$out" ] && continue
  awk 'BEGIN{RS=""; ORS="\n\n"}
       /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ && !/(^|\n)Enabled:[ \t]*no/ {
         sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' "$f" >> "$tmp"
done
# One-line sources.list entries.
if [ -f /etc/apt/sources.list ]; then
  sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list > "$tmp.list"
  if [ -s "$tmp.list" ]; then $SUDO cp "$tmp.list" /etc/apt/sources.list.d/afmpeg-deb-src.list; fi
  rm -f "$tmp.list"
fi
if [ -s "$tmp" ]; then $SUDO cp "$tmp" "$out"; fi
rm -f "$tmp"
echo "add-deb-src: deb-src entries added"
