#!/usr/bin/env bash
# The GPL module's own checks (make test-gpl): x264 with CRF through the sandbox, its
# output decoded and checked by Debian's ffmpeg, cropdetect as itself, and --enable-gpl in that
# build's configuration but not in the default one's. AFMPEG_CLI names the CLI to check (default
# build-gpl/afmpeg, the GPL build's), AFMPEG_MODULE a module it runs with --module (test-gpl: the
# GPL .wasm, run by the default build's CLI), AFMPEG_DEFAULT_CLI the default build's CLI (default
# build/afmpeg).
# Ends with "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build-gpl/afmpeg}")
lgpl=$(realpath "${AFMPEG_DEFAULT_CLI:-build/afmpeg}")
module=()
[ -n "${AFMPEG_MODULE:-}" ] && module=(--module "$(realpath "$AFMPEG_MODULE")")
scratch=$(mktemp -d /tmp/afmpeg-gpl-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
passed=0 failed=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     stderr: /' err.txt | tail -5; fi
}
run() { "$@" > out.txt 2> err.txt; status=$?; }
# Debian's ffprobe on the first video stream: "codec,width,height,frames" (frames counted by
# decoding), and Debian's ffmpeg decoding the whole file without a message.
stream() {
    ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$1"
}
decodes() { [ -z "$(ffmpeg -nostdin -v error -i "$1" -f null - 2>&1)" ]; }
export -f stream decodes

# 2 s of 320x240 at 25 fps (50 frames), H.264 + AAC, made by Debian's ffmpeg.
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 \
    -f lavfi -i sine=duration=2 -c:v libx264 -c:a aac -shortest in.mp4 || exit 1
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x176:rate=25:duration=1 \
    -vf pad=320:240:0:32:black -c:v libx264 letterbox.mp4 || exit 1

# ---- the configuration ----
run "$cli" "${module[@]}" ffmpeg -hide_banner -version
check "the GPL build's ffmpeg -version shows --enable-gpl and --enable-libx264" \
    bash -c "[ $status -eq 0 ] && grep -q -- '--enable-gpl' out.txt &&
             grep -q -- '--enable-libx264' out.txt"
run "$cli" "${module[@]}" ffmpeg -hide_banner -L
check "the GPL build's licence is GPL version 2 or later" \
    bash -c "[ $status -eq 0 ] && grep -q 'GNU General Public License' out.txt &&
             grep -q 'version 2 of the License, or' out.txt"
if [ -x "$lgpl" ]; then
    run "$lgpl" ffmpeg -hide_banner -version
    check "the default build's ffmpeg -version has no --enable-gpl and no libx264" \
        bash -c "[ $status -eq 0 ] && grep -q '^configuration:' out.txt &&
                 ! grep -q -- '--enable-gpl' out.txt && ! grep -q -- 'libx264' out.txt"
    run "$lgpl" -C . transcode in.mp4 lgpl-crf.mp4 --crf 23
    check "the default build refuses --crf, naming the GPL build" \
        bash -c "[ $status -eq 2 ] && grep -q 'make MODULE=gpl' err.txt && [ ! -e lgpl-crf.mp4 ]"
else
    failed=$((failed + 1)); echo "FAIL no default build at $lgpl to compare with"
fi

# ---- libx264 with CRF, as an ffmpeg command ----
run "$cli" "${module[@]}" -C . ffmpeg -nostdin -i in.mp4 -c:v libx264 -crf 23 -c:a aac ff.mp4
check "ffmpeg -c:v libx264 -crf 23 runs in the sandbox" \
    bash -c "[ $status -eq 0 ] && [ -s ff.mp4 ]"
check "Debian's ffprobe: h264, 320x240, 50 frames" \
    bash -c '[ "$(stream ff.mp4)" = h264,320,240,50 ]'
check "Debian's ffmpeg decodes it without a message" decodes ff.mp4
check "x264 wrote its settings: CRF 23, preset medium's subme=7" \
    bash -c "grep -aq 'x264 - core 164' ff.mp4 && grep -aq 'rc=crf' ff.mp4 &&
             grep -aq 'crf=23.0' ff.mp4 && grep -aq 'subme=7' ff.mp4"
run "$cli" "${module[@]}" -C . ffmpeg -nostdin -i in.mp4 -c:v libx264 -crf 35 -c:a aac ff35.mp4
check "CRF 35 gives a smaller file than CRF 23" \
    bash -c "[ $status -eq 0 ] && [ \$(stat -c %s ff35.mp4) -lt \$(stat -c %s ff.mp4) ]"

# ---- afmpeg transcode --crf / --preset ----
run "$cli" "${module[@]}" -C . transcode in.mp4 tc.mp4 --crf 30 --preset veryfast --scale 160:-2
check "transcode --crf 30 --preset veryfast picks libx264" \
    bash -c "[ $status -eq 0 ] && grep -q 'h264 160x120' out.txt"
check "Debian's ffprobe: h264, 160x120, 50 frames" \
    bash -c '[ "$(stream tc.mp4)" = h264,160,120,50 ]'
check "Debian's ffmpeg decodes it without a message" decodes tc.mp4
check "x264 used CRF 30 and veryfast's subme=2" \
    bash -c "grep -aq 'crf=30.0' tc.mp4 && grep -aq 'subme=2' tc.mp4"
run "$cli" "${module[@]}" -C . transcode in.mp4 o264.mp4 --vcodec libopenh264 --crf 23
check "transcode --vcodec libopenh264 --crf is refused, naming libx264" \
    bash -c "[ $status -eq 2 ] && grep -q 'use --vcodec libx264' err.txt"
run "$cli" "${module[@]}" -C . transcode in.mp4 p.mp4 --preset fastest
check "transcode --preset with a name x264 lacks is refused" \
    bash -c "[ $status -eq 2 ] && grep -q 'preset' err.txt"
run "$cli" "${module[@]}" -C . transcode in.mp4 plain.mp4 --duration 1
check "transcode without --crf keeps libopenh264" \
    bash -c "[ $status -eq 0 ] && ! grep -aq 'x264 - core' plain.mp4 &&
             ffprobe -v error -show_entries stream=codec_name -of csv=p=0 plain.mp4 | grep -qx h264"

# ---- cropdetect is the module's own here ----
run "$cli" "${module[@]}" -C . ffmpeg -nostdin -hide_banner -i letterbox.mp4 -vf cropdetect -f null -
check "cropdetect runs as itself and finds the letterbox" \
    bash -c "[ $status -eq 0 ] && grep -q 'Parsed_cropdetect_0.*crop=320:176:0:32' err.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
