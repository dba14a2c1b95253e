#!/usr/bin/env bash
# The generated corpus (tests/corpus/make.sh: one file per decoder family and container, made by
# Debian's ffmpeg) through the sandboxed CLI, each file against Debian's ffmpeg 5.1 (the same
# FFmpeg) on the same file:
#   probe   the sandbox's ffprobe JSON (format, streams, chapters) equals native ffprobe's, field
#           by field;
#   decode  "exact": every video and audio stream's framemd5 with bit-exact flags equals native's
#           with -cpuflags 0 (its C code); "pcm:TOL": the audio, decoded to 32-bit float, has
#           native's sample count and no sample further than TOL from native's, and equals
#           native's bit for bit when native computes with the guest's libm, musl's
#           (guestlibm.c says why); "probe": not decoded (make.sh says why).
# The corpus is cached (tests/corpus/dir.sh). AFMPEG_CLI names the program (default
# build/afmpeg); CORPUS_ONLY=NAME,... limits the files. Ends "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
corpus=$("$here/dir.sh") || { echo "0 passed, 1 failed"; exit 1; }
scratch=$(mktemp -d /tmp/afmpeg-corpus-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
guestlibm=$scratch/guestlibm.so
gcc -O2 -Wall -shared -fPIC -o "$guestlibm" "$here/guestlibm.c" -ldl ||
    { echo "0 passed, 1 failed"; exit 1; }
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
    failed=$((failed + 1)); echo "FAIL $1"
    [ -n "${2:-}" ] && sed 's/^/     /' "$2" | head -n 20
}
same_json() { # A B: the two JSON documents equal as data
    python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
sys.exit(a != b)' "$1" "$2" 2>/dev/null
}

probe_args=(-v error -print_format json -show_format -show_streams -show_chapters)
bitexact=(-flags +bitexact -fflags +bitexact)
# pcm_compare NATIVE SANDBOX TOL: float32 samples, same count, every one within TOL.
pcm_compare() {
    python3 - "$@" <<'PY'
import array, sys
a, b = array.array('f'), array.array('f')
a.frombytes(open(sys.argv[1], 'rb').read()); b.frombytes(open(sys.argv[2], 'rb').read())
tol = float(sys.argv[3])
if len(a) != len(b) or not a:
    sys.exit(f"{len(b)} samples, native has {len(a)}")
worst = max(abs(x - y) for x, y in zip(a, b))
diff = sum(1 for x, y in zip(a, b) if x != y)
if worst > tol:
    sys.exit(f"max difference {worst:.3g} > {tol:g} ({diff} of {len(a)} samples differ)")
print(f"max difference {worst:.3g}, {diff} of {len(a)} samples differ")
PY
}

cd "$corpus"
while IFS=$'\t' read -r name check what; do
    case ",${CORPUS_ONLY:-$name}," in *",$name,"*) ;; *) continue ;; esac
    # probe: the two JSON documents, compared as data (python's json keeps ffprobe's values)
    ffprobe "${probe_args[@]}" "$name" > "$scratch/n.json" 2> "$scratch/n.err"
    "$cli" ffprobe "${probe_args[@]}" "$name" > "$scratch/s.json" 2> "$scratch/s.err"
    if same_json "$scratch/n.json" "$scratch/s.json"; then
        ok "probe  $name ($what)"
    else
        diff <(jq -S . "$scratch/n.json" 2>&1) <(jq -S . "$scratch/s.json" 2>&1) > "$scratch/d" ||
            cat "$scratch/s.err" >> "$scratch/d"
        fail "probe  $name ($what)" "$scratch/d"
    fi
    # decode
    case $check in
    exact)
        ffmpeg -nostdin -v error -threads 1 -cpuflags 0 "${bitexact[@]}" -i "$name" \
            -map '0:v?' -map '0:a?' "${bitexact[@]}" -f framemd5 - 2> "$scratch/n.err" |
            grep -v '^#' > "$scratch/n.md5"
        "$cli" ffmpeg -nostdin -v error "${bitexact[@]}" -i "$name" -map '0:v?' -map '0:a?' \
            "${bitexact[@]}" -f framemd5 - 2> "$scratch/s.err" | grep -v '^#' > "$scratch/s.md5"
        if [ -s "$scratch/n.md5" ] && cmp -s "$scratch/n.md5" "$scratch/s.md5"; then
            ok "decode $name: $(wc -l < "$scratch/n.md5") frames bit-exact"
        else
            { diff "$scratch/n.md5" "$scratch/s.md5" | head -n 8; cat "$scratch/s.err"; } \
                > "$scratch/d"
            fail "decode $name: framemd5 differs from native" "$scratch/d"
        fi ;;
    pcm:*)
        ffmpeg -nostdin -v error -threads 1 -cpuflags 0 "${bitexact[@]}" -i "$name" -map 0:a \
            -f f32le - > "$scratch/n.pcm" 2>/dev/null
        "$cli" ffmpeg -nostdin -v error "${bitexact[@]}" -i "$name" -map 0:a -f f32le - \
            > "$scratch/s.pcm" 2> "$scratch/s.err"
        if r=$(pcm_compare "$scratch/n.pcm" "$scratch/s.pcm" "${check#pcm:}" 2>&1); then
            ok "decode $name: $r"
        else
            echo "$r" > "$scratch/d"; cat "$scratch/s.err" >> "$scratch/d"
            fail "decode $name: not within ${check#pcm:} of native" "$scratch/d"
        fi
        # and bit-exact once native computes with the guest's libm (guestlibm.c says why)
        LD_PRELOAD=$guestlibm ffmpeg -nostdin -v error -threads 1 -cpuflags 0 "${bitexact[@]}" \
            -i "$name" -map 0:a -f f32le - > "$scratch/c.pcm" 2>/dev/null
        if [ -s "$scratch/c.pcm" ] && cmp -s "$scratch/c.pcm" "$scratch/s.pcm"; then
            ok "decode $name: bit-exact with native on the guest's libm (musl)"
        else
            pcm_compare "$scratch/c.pcm" "$scratch/s.pcm" 0 > "$scratch/d" 2>&1
            fail "decode $name: differs from native on the guest's libm (musl)" "$scratch/d"
        fi ;;
    probe) ;;  # make.sh says why this one is not decoded
    *) fail "$name: unknown check '$check'" ;;
    esac
done < corpus.tsv
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
