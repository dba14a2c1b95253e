#!/usr/bin/env bash
# CLI tests: the afmpeg program in a scratch directory; exit codes, stdout and stderr checked.
# AFMPEG_CLI names the program (default build/afmpeg). Ends with "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
bindir=$(dirname "$cli")
scratch=$(mktemp -d /tmp/afmpeg-cli-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
passed=0 failed=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; fi
}
run() { # runs the CLI, keeping exit status, stdout and stderr
    "$@" > out.txt 2> err.txt; status=$?
}

ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=160x120:rate=25:duration=1 \
    -f lavfi -i sine=duration=1 -c:v libx264 -c:a aac -shortest in.mp4 || exit 1
mkdir -p jail outside && cp in.mp4 jail/ && echo secret > outside/secret.txt

run "$cli" ffmpeg -hide_banner -encoders
check "encoders list libopenh264 and aac" \
    bash -c "[ $status -eq 0 ] && grep -q ' libopenh264 ' out.txt && grep -q ' aac ' out.txt"

run "$cli" ffprobe -v error -show_entries stream=codec_name -of csv=p=0 in.mp4
check "ffprobe on a file in the current directory" \
    bash -c "[ $status -eq 0 ] && [ \"\$(cat out.txt)\" = \"\$(printf 'h264\naac')\" ]"

run "$cli" -C jail ffmpeg -v error -i in.mp4 -c:v libopenh264 -c:a aac out.mp4
check "-C DIR transcodes inside DIR" bash -c "[ $status -eq 0 ] && [ -s jail/out.mp4 ] &&
    ffprobe -v error -show_entries stream=codec_name -of csv=p=0 jail/out.mp4 | grep -qx h264"

run "$cli" ffmpeg -hide_banner -i missing.mp4 -f null -
check "exit status is the guest's, with its message" \
    bash -c "[ $status -eq 1 ] && grep -q 'missing.mp4: No such file or directory' err.txt"

run "$cli" -C jail ffmpeg -hide_banner -f s16le -i ../outside/secret.txt -f s16le copy.raw
check "a path out of the jail fails" bash -c "[ $status -ne 0 ] && [ ! -e jail/copy.raw ]"

run "$cli" -C jail ffmpeg -hide_banner -i in.mp4 -t 0.2 -f wav ../outside/new.wav
check "writing out of the jail fails" bash -c "[ $status -ne 0 ] && [ ! -e outside/new.wav ]"

ln -sf "$cli" ffmpeg && ln -sf "$cli" ffprobe
run ./ffmpeg -version
check "a link named ffmpeg is ffmpeg" bash -c "[ $status -eq 0 ] && head -n1 out.txt | grep -q '^ffmpeg version 5.1'"
run ./ffprobe -version
check "a link named ffprobe is ffprobe" bash -c "[ $status -eq 0 ] && head -n1 out.txt | grep -q '^ffprobe version 5.1'"

ffmpeg -nostdin -v error -f lavfi -i sine=duration=1 -f wav tone.wav
"$cli" ffmpeg -v error -f wav -i pipe:0 -f framemd5 - < tone.wav > out.txt 2> err.txt; status=$?
ffmpeg -nostdin -v error -f wav -i tone.wav -f framemd5 - > native.txt
check "standard input is passed in for pipe:0" \
    bash -c "[ $status -eq 0 ] && diff <(grep -v '^#' out.txt) <(grep -v '^#' native.txt) >/dev/null"

# Output to "-" reads nothing: the command must not wait for a stdin it does not use.
(sleep 5 | timeout 3 "$cli" ffmpeg -nostdin -v error -f wav -i tone.wav -f crc - > out.txt 2>&1)
status=$?
check "an output to - does not wait on standard input" \
    bash -c "[ $status -eq 0 ] && grep -q '^CRC=0x' out.txt"

run "$cli" ffplay x
check "an unknown command is a usage error" bash -c "[ $status -eq 2 ] && grep -q \"unknown command 'ffplay'\" err.txt"

run "$cli" -C /nonexistent ffmpeg -version
check "a missing -C directory is a clear error" bash -c "[ $status -ne 0 ] && grep -q '/nonexistent' err.txt"

run "$cli" --help
check "--help prints usage" bash -c "[ $status -eq 0 ] && grep -q 'usage: afmpeg' out.txt"

# --version: afmpeg's version, the embedded FFmpeg's (as its ffmpeg -version says), the licence
# (LGPL: the default module has no GPL parts) and the component lists (tests/cli/components.sh
# compares them with ffmpeg's own listings).
"$cli" ffmpeg -version > ffversion.txt 2>/dev/null
ffver=$(sed -n '1s/^ffmpeg version \([^ ]*\).*/\1/p' ffversion.txt)
run "$cli" --version
check "--version: afmpeg's and FFmpeg's versions, the LGPL licence, the components" bash -c "
    [ $status -eq 0 ] && [ ! -s err.txt ] && [ -n '$ffver' ] &&
    head -n1 out.txt | grep -qx 'afmpeg [0-9][0-9.]*' &&
    grep -qx 'ffmpeg: *$ffver' out.txt &&
    grep -qx 'license: *LGPL version 2.1 or later' out.txt &&
    ! grep -q GPL <(grep -v '^license:' out.txt) &&
    grep -qw libopenh264 <(sed -n '/^encoders:/,/^decoders:/p' out.txt) &&
    grep -qw h264 <(sed -n '/^decoders:/,/^muxers:/p' out.txt) &&
    grep -q '^muxers: ' out.txt && grep -q '^demuxers: ' out.txt &&
    grep -qw bbox <(sed -n '/^filters:/,/^bsfs:/p' out.txt) &&
    grep -qw h264_mp4toannexb <(sed -n '/^bsfs:/,/^protocols:/p' out.txt) &&
    grep -qx 'protocols: *file pipe' out.txt"

run "$cli" --timeout 0.5 ffmpeg -nostdin -v error -stream_loop -1 -i in.mp4 -f null -
check "--timeout stops a job that would run forever (exit 124)" \
    bash -c "[ $status -eq 124 ] && grep -q 'deadline of 500 ms' err.txt"

run "$cli" --memory-limit 64 ffmpeg -nostdin -v error -i in.mp4 -frames:v 1 \
    -vf scale=8000:8000,format=rgba -f null -
check "--memory-limit makes a too-big frame fail with FFmpeg's message" \
    bash -c "[ $status -eq 1 ] && grep -q 'Out of memory' err.txt"

run "$cli" -C jail --output-limit 0.1 ffmpeg -nostdin -v error -y -i in.mp4 -f rawvideo big.raw
check "--output-limit stops a job that writes too much (exit 73)" \
    bash -c "[ $status -eq 73 ] && grep -q 'output limit of 104857 bytes' err.txt"

run "$cli" --timeout soon ffmpeg -version
check "a bad limit value is a usage error" \
    bash -c "[ $status -eq 2 ] && grep -q -- '--timeout needs a positive number' err.txt"

# Text with the fonts built into the library: white text on black, its brightest pixel read by
# Debian's ffmpeg (signalstats YMAX: 16 is black; white text, even small, lifts it over 100). A
# font of the caller's own, from the job's files, works too; one that is not there fails with
# FFmpeg's message.
ymax() { # PNG: the brightest luma
    ffmpeg -nostdin -hide_banner -i "$1" -vf signalstats,metadata=print:key=lavfi.signalstats.YMAX \
        -f null - 2>&1 | sed -n 's/.*YMAX=\([0-9]*\).*/\1/p' | head -n 1
}
export -f ymax
black="color=black:size=320x120:duration=1"
printf '1\n00:00:00,000 --> 00:00:01,000\nHello, \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\n' > jail/s.srt
for f in "drawtext=text=afmpeg:fontsize=48:fontcolor=white" "subtitles=s.srt"; do
    run "$cli" -C jail ffmpeg -nostdin -v error -y -filter_complex "$black,$f" -frames:v 1 text.png
    check "${f%%=*} without a font given draws with the built-in one" \
        bash -c "[ $status -eq 0 ] && [ \"\$(ymax jail/text.png)\" -gt 100 ]"
done
run "$cli" -C jail ffmpeg -nostdin -v error -y -filter_complex "$black" -frames:v 1 text.png
check "(and the same frame without text has no bright pixel)" \
    bash -c "[ $status -eq 0 ] && [ \"\$(ymax jail/text.png)\" -lt 20 ]"
cp "$(dirname "$cli")/fonts/DejaVuSans-Bold.ttf" jail/mine.ttf
run "$cli" -C jail ffmpeg -nostdin -v error -y \
    -filter_complex "$black,drawtext=fontfile=mine.ttf:text=x:fontsize=60:fontcolor=white" \
    -frames:v 1 text.png
check "drawtext takes a font from the job's own files" \
    bash -c "[ $status -eq 0 ] && [ \"\$(ymax jail/text.png)\" -gt 100 ]"
run "$cli" -C jail ffmpeg -nostdin -v error -y \
    -filter_complex "$black,drawtext=fontfile=none.ttf:text=x" -frames:v 1 text.png
check "drawtext with a missing font fails with FFmpeg's message" \
    bash -c "[ $status -ne 0 ] && grep -q 'none.ttf' err.txt"
run "$cli" -C jail ffmpeg -nostdin -v error -y -f data -i /.afmpeg/fonts/DejaVuSans.ttf \
    -map 0 -c copy -f data /.afmpeg/fonts/x.ttf
check "the built-in fonts are read-only" bash -c "[ $status -ne 0 ] && [ ! -e jail/.afmpeg ]"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
