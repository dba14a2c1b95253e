#!/usr/bin/env bash
# tests/corpus/dir.sh — makes the generated corpus unless it is cached, and prints its directory:
# $AFMPEG_CACHE_DIR/corpus-<key> (the cache the module uses), keyed by make.sh and the version of
# Debian's ffmpeg that makes it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
key=$( { cat "$here/make.sh" "$here/amrenc.c"; dpkg-query -W -f='${Version}' ffmpeg; } | sha256sum | cut -c1-16)
corpus=$CACHE/corpus-$key
if [ ! -f "$corpus/corpus.tsv" ]; then
    echo "corpus: making $corpus" >&2
    rm -rf "$corpus"
    rm -rf "$CACHE"/corpus-*  # older corpora (another make.sh): a corpus is quick to make
    "$here/make.sh" "$corpus.tmp" >&2
    mv "$corpus.tmp" "$corpus"
fi
echo "$corpus"
