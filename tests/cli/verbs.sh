#!/usr/bin/env bash
# CLI tests of the verbs (probe, transcode, thumbnail, frames): build/afmpeg in a scratch
# directory; exit codes, stdout and stderr checked, outputs read back with Debian's ffprobe.
# AFMPEG_CLI names the program (default build/afmpeg). Ends with "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
scratch=$(mktemp -d /tmp/afmpeg-verbs-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
passed=0 failed=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     stderr: /' err.txt | head -5; fi
}
run() { # runs the CLI, keeping exit status, stdout and stderr
    "$@" > out.txt 2> err.txt; status=$?
}
# status N, exactly one line on stderr, containing TEXT
fails_with() {
    [ "$status" -eq "$1" ] && [ "$(wc -l < err.txt)" -eq 1 ] && grep -qF -- "$2" err.txt
}
# what Debian's ffprobe says about a file: "codec width height" of stream N, or the duration
native() { # FILE STREAM -> codec_name,width,height
    ffprobe -v error -select_streams "$2" -show_entries stream=codec_name,width,height \
        -of csv=p=0 "$1"
}
duration() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
near() { # VALUE LO HI
    python3 -c "import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(not lo <= v <= hi)" "$@"
}
frame_times() { cut -d' ' -f2 out.txt | tr '\n' ' '; }  # the frame times frames printed, on one line
grid() { # STEP N: the times 0, STEP, ... as frames prints them, on one line
    python3 -c "import sys; s, n = float(sys.argv[1]), int(sys.argv[2])
print(''.join('%.3f ' % (i * s) for i in range(n)), end='')" "$@"
}
one_err() { [ "$(wc -l < err.txt)" -eq 1 ] && grep -q "$1" err.txt; }  # one stderr line, matching
json() { # FILE PYTHON-EXPRESSION over j: must be true
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}
export -f native duration near frame_times grid one_err

# The media: 3 s of 320x240 H.264 + AAC; one with a title, a language and chapters; garbage.
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=3 \
    -f lavfi -i sine=duration=3 -c:v libx264 -c:a aac -shortest in.mp4 || exit 1
printf '%s\n' ';FFMETADATA1' 'title=Test clip' \
    '[CHAPTER]' 'TIMEBASE=1/1000' 'START=0' 'END=1500' 'title=One' \
    '[CHAPTER]' 'TIMEBASE=1/1000' 'START=1500' 'END=3000' 'title=Two' > meta.txt
ffmpeg -nostdin -v error -i in.mp4 -i meta.txt -map 0 -map_metadata 1 -map_chapters 1 -c copy \
    -metadata:s:a:0 language=eng -metadata:s:a:0 title='Main audio' chap.mkv || exit 1
ffmpeg -nostdin -v error -f lavfi -i sine=duration=1 tone.wav || exit 1
# tags with bytes that are not UTF-8 and terminal escape sequences
ffmpeg -nostdin -v error -i in.mp4 -c copy -metadata title="$(printf 'bad\xffbyte\x1b[31mred')" \
    -metadata:s:a:0 title="$(printf 'esc\x1b]0;x\x07')" weird.mkv || exit 1
head -c 20000 /dev/urandom > garbage.mp4
mkdir -p jail outside && cp in.mp4 jail/
# Scenes: testsrc2, a solid blue, SMPTE bars (cuts at 1.0 and 2.2 s); testsrc2 and bars
# alternating every 5 frames (13 scenes: more than one batch of frames).
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 \
    -f lavfi -i color=c=0x3060c0:size=320x240:rate=25:duration=1.2 \
    -f lavfi -i smptebars=size=320x240:rate=25:duration=1 \
    -filter_complex '[0][1][2]concat=n=3:v=1:a=0,format=yuv420p' -c:v libx264 -g 25 \
    scenes.mp4 || exit 1
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=2.4 \
    -f lavfi -i smptebars=size=320x240:rate=25:duration=2.4 \
    -filter_complex "[0][1]blend=all_expr='if(mod(floor(N/5),2),B,A)',format=yuv420p" \
    -c:v libx264 alt.mp4 || exit 1
# Anamorphic 720x576: SAR 64:45 on the frames, the same from -aspect 16:9, and 16:15 (4:3).
for v in "wide.mp4 -vf setsar=64/45" "aspect.mp4 -aspect 16:9" "pal43.mp4 -vf setsar=16/15"; do
    set -- $v
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=720x576:rate=25:duration=1 "${@:2}" \
        -c:v libx264 -pix_fmt yuv420p "$1" || exit 1
done
# Whether the module has the WebP encoder (libwebp); without it .webp fails with one line.
if "$cli" ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' libwebp '; then webp=1; else webp=0
    echo "note: the module has no libwebp encoder: the WebP checks only check that it says so"; fi
sar() { ffprobe -v error -show_entries stream=sample_aspect_ratio -of csv=p=0 "$1"; }
export -f sar

# ---- afmpeg --help, and --help of each verb ----
run "$cli" --help
check "afmpeg --help lists the verbs" bash -c "[ $status -eq 0 ] && grep -q 'probe FILE' out.txt &&
    grep -q 'transcode IN OUT' out.txt && grep -q 'thumbnail IN' out.txt && grep -q 'frames IN' out.txt"
for v in probe transcode thumbnail frames; do
    for h in --help -h; do
        run "$cli" $v $h
        check "$v $h prints its usage, exit 0" \
            bash -c "[ $status -eq 0 ] && grep -q 'usage: afmpeg .*$v' out.txt && [ ! -s err.txt ]"
    done
done

# ---- probe ----
run "$cli" probe in.mp4
check "probe: summary names h264 320x240, aac and the 3.0 s duration" bash -c "[ $status -eq 0 ] &&
    grep -q '^stream 0: .*video: h264 (High), 320x240' out.txt &&
    grep -q '^stream 1: .*audio: aac (LC), 44100 Hz, 1 channel (mono)' out.txt &&
    grep -q '^duration: *3\.0' out.txt && grep -q '^format: *mov,mp4' out.txt && [ ! -s err.txt ]"

run "$cli" probe in.mp4 --json
check "probe --json is valid JSON" python3 -m json.tool out.txt /dev/null
check "probe --json: streams[0] is h264 320x240, streams[1] aac; unknowns are null" \
    json out.txt 'j["streams"][0]["codec"] == "h264" and j["streams"][0]["width"] == 320
        and j["streams"][0]["height"] == 240 and j["streams"][0]["type"] == "video"
        and j["streams"][1]["codec"] == "aac" and j["streams"][1]["sample_rate"] == 44100
        and j["streams"][1]["width"] is None and j["streams"][0]["sample_rate"] is None
        and abs(j["duration"] - 3.0) < 0.1 and j["size"] == '"$(stat -c %s in.mp4)"'
        and j["streams"][0]["avg_frame_rate"] == {"num": 25, "den": 1}
        and j["streams"][0]["disposition"]["default"] is True and j["chapters"] == []
        and isinstance(j["tags"], dict) and isinstance(j["streams"][0]["tags"], dict)'

run "$cli" probe chap.mkv
check "probe: title, language, stream title and chapters in the summary" bash -c "[ $status -eq 0 ] &&
    grep -q '^title: *Test clip' out.txt && grep -q 'language eng, title \"Main audio\"' out.txt &&
    grep -q '^chapter 1: 0.000 s - 1.500 s \"One\"' out.txt &&
    grep -q '^chapter 2: 1.500 s - 3.000 s \"Two\"' out.txt"
run "$cli" probe --json chap.mkv
check "probe --json: chapters and tags as objects" json out.txt \
    'len(j["chapters"]) == 2 and j["chapters"][1]["title"] == "Two"
        and abs(j["chapters"][1]["start"] - 1.5) < 1e-6 and j["tags"]["title"] == "Test clip"
        and j["streams"][1]["language"] == "eng" and j["streams"][1]["title"] == "Main audio"'

run "$cli" probe weird.mkv
check "probe: control characters from tags never reach the terminal" bash -c "[ $status -eq 0 ] &&
    grep -q 'title \"esc?\]0;x?\"' out.txt && ! grep -q \$'\\x1b' out.txt && ! grep -q \$'\\x07' out.txt"
run "$cli" probe --json weird.mkv
check "probe --json: odd tags still make valid JSON" json out.txt \
    'j["streams"][1]["title"] == "esc\x1b]0;x\x07" and j["tags"]["title"].startswith("bad")'

run "$cli" -C jail probe in.mp4
check "probe: a relative FILE is relative to -C DIR" bash -c "[ $status -eq 0 ] && grep -q h264 out.txt"
run "$cli" probe "$scratch/in.mp4"
check "probe: an absolute FILE anywhere" bash -c "[ $status -eq 0 ] && grep -q h264 out.txt"

run "$cli" probe garbage.mp4
check "probe: a garbage file fails (exit 1) with one line" fails_with 1 "afmpeg probe: "
run "$cli" probe missing.mp4
check "probe: a missing file fails (exit 1) with one line" \
    fails_with 1 "afmpeg probe: missing.mp4: No such file or directory"
run "$cli" probe .
check "probe: a directory fails (exit 1)" fails_with 1 "is a directory"
run "$cli" probe in.mp4 --bogus
check "probe: an unknown option is a usage error" \
    fails_with 2 "afmpeg probe: unknown option '--bogus'"
run "$cli" probe
check "probe: a missing FILE is a usage error" fails_with 2 "afmpeg probe: missing FILE"
run "$cli" probe in.mp4 chap.mkv
check "probe: two files are a usage error" fails_with 2 "one FILE only"

# ---- transcode ----
run "$cli" transcode in.mp4 small.mp4 --vcodec libopenh264 --scale 160:-2 --duration 1
check "transcode --vcodec libopenh264 --scale 160:-2 --duration 1: h264 160x120, ~1 s" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native small.mp4 v:0)\" = h264,160,120 ] &&
    near \"\$(duration small.mp4)\" 0.9 1.1"
check "transcode: one summary line on stdout, stderr quiet off a terminal" bash -c "
    [ \"\$(wc -l < out.txt)\" -eq 1 ] && [ ! -s err.txt ] &&
    grep -q '^small.mp4: 1\.0[0-9] s, h264 160x120 (libopenh264) + aac (aac), [0-9]* KiB, [0-9.]* s$' out.txt &&
    [ ! -s err.txt ]"

run "$cli" transcode in.mp4 cut.mp4 --start 1 --duration 1
check "transcode --start 1 --duration 1: the default codecs (h264 + aac), ~1 s" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native cut.mp4 v:0)\" = h264,320,240 ] &&
    [ \"\$(native cut.mp4 a:0)\" = aac ] && near \"\$(duration cut.mp4)\" 0.9 1.1"
# testsrc2 draws the frame number: the first frame of the cut is frame 25 of the input
ffmpeg -nostdin -v error -ss 1 -i in.mp4 -frames:v 1 -f rawvideo -pix_fmt gray -s 32x24 ref.gray
ffmpeg -nostdin -v error -i cut.mp4 -frames:v 1 -f rawvideo -pix_fmt gray -s 32x24 got.gray
check "transcode --start 1: the output starts with the input's frame at 1 s" python3 -c '
import sys
a, b = open("ref.gray", "rb").read(), open("got.gray", "rb").read()
sys.exit(not (len(a) == len(b) == 768 and sum(abs(x - y) for x, y in zip(a, b)) / 768 < 8))'

run "$cli" transcode in.mp4 pasted.mp4 --start 1 --duration 1 --scale 160:-2 --print-argv
argv_line=$(cat out.txt)
check "transcode --print-argv prints the ffmpeg argv with -ss 1 and runs nothing" \
    bash -c "[ $status -eq 0 ] && [ \"\$(wc -l < out.txt)\" -eq 1 ] &&
    grep -q '^ffmpeg .*-ss 1 .*-i /in.mp4 ' out.txt &&
    grep -q -- '-c:v libopenh264' out.txt && grep -q ' /pasted.mp4$' out.txt && [ ! -e pasted.mp4 ]"
eval "\"\$cli\" $argv_line" > /dev/null 2> err.txt; status=$?
check "the printed argv pasted after afmpeg makes the same output" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native pasted.mp4 v:0)\" = h264,160,120 ] &&
    near \"\$(duration pasted.mp4)\" 0.9 1.1"

run "$cli" -C jail --timeout 60 transcode in.mp4 "it's here.mp4" --duration 0.5 --print-argv
argv_line=$(cat out.txt)
check "--print-argv repeats -C and the limits, and quotes for the shell" bash -c "[ $status -eq 0 ] &&
    grep -q \"^-C jail --timeout 60 ffmpeg .* '/it'\\\\\\\\''s here.mp4'\\$\" out.txt"
eval "\"\$cli\" $argv_line" > /dev/null 2> err.txt; status=$?
check "a quoted argv pasted after afmpeg runs in -C DIR" \
    bash -c "[ $status -eq 0 ] && [ -s \"jail/it's here.mp4\" ] && [ ! -e \"it's here.mp4\" ]"

run "$cli" -C jail transcode in.mp4 wav.wav --duration 1
check "transcode -C DIR: paths relative to DIR; .wav gets FFmpeg's default codec" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native jail/wav.wav a:0)\" = pcm_s16le ] && [ ! -e wav.wav ]"

run "$cli" transcode in.mp4 late.mp4 --start 10
check "transcode --start past the end: exit 0 as ffmpeg, with a warning" bash -c "[ $status -eq 0 ] &&
    grep -q '^afmpeg transcode: warning: late.mp4 holds no streams: nothing was encoded' err.txt"
run "$cli" transcode in.mp4 verbose.mp4 --duration 0.2 --verbose
check "transcode --verbose shows FFmpeg's messages" bash -c "[ $status -eq 0 ] &&
    grep -q 'Stream mapping:' err.txt && grep -q '^verbose.mp4: ' out.txt"

run "$cli" transcode in.mp4 copy.mkv --vcodec copy --acodec copy --start 1 --duration 1
check "transcode --vcodec copy --start: a stream copy (fast seek) into .mkv" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native copy.mkv v:0)\" = h264,320,240 ]"

run "$cli" -C jail transcode in.mp4 "$scratch/outside/x.mp4"
check "transcode: OUT outside the directory is refused, nothing written" bash -c "
    [ $status -eq 2 ] && [ \"\$(wc -l < err.txt)\" -eq 1 ] && [ ! -e outside/x.mp4 ] &&
    grep -qF \"afmpeg transcode: OUT '$scratch/outside/x.mp4' must be inside $scratch/jail,\" err.txt"
run "$cli" -C jail transcode in.mp4 ../outside/x.mp4
check "transcode: OUT leading out with .. is refused" \
    bash -c "[ $status -eq 2 ] && one_err \"OUT '../outside/x.mp4' must be inside\" &&
    [ ! -e outside/x.mp4 ]"
run "$cli" -C jail transcode ../in.mp4 y.mp4
check "transcode: IN outside -C DIR is refused" fails_with 2 "IN '../in.mp4' must be inside"
ln -s "$scratch/outside" jail/link
run "$cli" -C jail transcode in.mp4 link/z.mp4
check "transcode: OUT through a symlink leading out is refused" \
    bash -c "[ $status -eq 2 ] && grep -q 'must be inside' err.txt && [ ! -e outside/z.mp4 ]"
run "$cli" transcode in.mp4 in.mp4
check "transcode: OUT = IN is refused" fails_with 2 "is IN"
run "$cli" transcode in.mp4 bad.mp4 --vcodec nosuchcodec
check "transcode: an unknown codec is a usage error naming it, no file left" \
    bash -c "[ $status -eq 2 ] && [ \"\$(wc -l < err.txt)\" -eq 1 ] &&
    grep -q '^afmpeg transcode: .*nosuchcodec' err.txt && [ ! -e bad.mp4 ]"
run "$cli" transcode in.mp4 crf.mp4 --crf 23
if "$cli" ffmpeg -hide_banner -version | grep -q -- --enable-gpl; then  # make MODULE=gpl
    check "transcode --crf takes libx264 in the GPL build" \
        bash -c "[ $status -eq 0 ] && grep -aq 'crf=23.0' crf.mp4"
else
    check "transcode --crf with libopenh264 is refused, not ignored, naming the GPL build" \
        fails_with 2 "has no CRF (constant quality); use --bitrate, or the GPL build of afmpeg"
fi
run "$cli" transcode in.mp4 br.mp4 --bitrate 100k --duration 1
check "transcode --bitrate 100k lowers the bit rate" bash -c "[ $status -eq 0 ] &&
    [ \"\$(ffprobe -v error -select_streams v:0 -show_entries stream=bit_rate -of csv=p=0 br.mp4)\" \
        -lt 200000 ]"
# The encoders picked by OUT's extension, each output read back by Debian's ffprobe.
codecs() { # FILE: the codec names of its streams, comma-separated
    ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$1" | paste -sd, -
}
export -f codecs
for t in webm:vp9,opus:libvpx-vp9 ogg:vorbis:libvorbis oga:vorbis:libvorbis opus:opus:libopus \
         mp3:mp3:libmp3lame m4a:aac:aac gif:gif:gif webp:webp:libwebp_anim; do
    IFS=: read -r ext want enc <<< "$t"
    run "$cli" transcode in.mp4 "d.$ext" --duration 1
    check "transcode to .$ext: $want (the summary names $enc), ~1 s" bash -c "[ $status -eq 0 ] &&
        [ \"\$(codecs d.$ext)\" = $want ] && grep -qF '($enc)' out.txt &&
        { [ $ext = webp ] || near \"\$(duration d.$ext)\" 0.9 1.15; }"
done
check "transcode to .gif: a palette for the clip (over the 216 colours of GIF's default)" \
    python3 -c '
import subprocess
raw = subprocess.run(["ffmpeg", "-v", "error", "-i", "d.gif", "-frames:v", "1", "-f", "rawvideo",
                      "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
colours = {raw[i:i + 3] for i in range(0, len(raw), 3)}
raise SystemExit(len(colours) <= 216)'
# FFmpeg 5.1 decodes no animated WebP, so its frames are counted in the RIFF file: 25 ANMF chunks.
check "transcode to .webp: an animated WebP of 25 frames (ANMF chunks) that ffprobe reads" \
    bash -c "[ \"\$(codecs d.webp)\" = webp ] &&
        [ \$(grep -ao ANMF d.webp | wc -l) -eq 25 ]"
run "$cli" transcode in.mp4 q.webm --duration 1 --crf 40
check "transcode to .webm --crf 40: VP9 at that quality (smaller than the default CRF 32)" \
    bash -c "[ $status -eq 0 ] && [ \$(stat -c %s q.webm) -lt \$(stat -c %s d.webm) ]"
run "$cli" transcode in.mp4 s.mp3 --scale 160:120
check "transcode to .mp3 with --scale: a usage error (no video there)" \
    fails_with 2 "--scale: .mp3 output holds no video"
run "$cli" transcode in.mp4 c.mp4 --vcodec copy --scale 160:120
check "transcode: --scale with --vcodec copy is a usage error" \
    fails_with 2 "--scale needs the video re-encoded"
run "$cli" transcode in.mp4 s.mp4 --scale big
check "transcode: a bad --scale is a usage error" fails_with 2 "--scale needs W:H"
run "$cli" transcode in.mp4 s.mp4 --start soon
check "transcode: a bad --start is a usage error" fails_with 2 "--start needs a time"
run "$cli" transcode in.mp4 s.mp4 --frobnicate
check "transcode: an unknown option is a usage error" \
    fails_with 2 "afmpeg transcode: unknown option '--frobnicate'"
run "$cli" transcode in.mp4
check "transcode: a missing OUT is a usage error" fails_with 2 "afmpeg transcode: missing OUT"
run "$cli" transcode in.mp4 s.mp4 --duration
check "transcode: an option without its value is a usage error" \
    fails_with 2 "--duration needs a value"
run "$cli" transcode garbage.mp4 g.mp4
check "transcode: a garbage input fails (exit 1) with FFmpeg's reason, no file left" \
    bash -c "[ $status -eq 1 ] && [ \"\$(wc -l < err.txt)\" -eq 1 ] &&
    grep -q '^afmpeg transcode: .*Invalid data found when processing input' err.txt && [ ! -e g.mp4 ]"
run "$cli" transcode missing.mp4 m.mp4
check "transcode: a missing input fails (exit 1)" \
    fails_with 1 "afmpeg transcode: missing.mp4: No such file or directory"
run "$cli" transcode in.mp4 x.wmv
check "transcode: a format whose encoder the sandbox lacks (.wmv) fails (exit 1), FFmpeg's reason" \
    bash -c "[ $status -eq 1 ] && one_err 'Default encoder for format asf' && [ ! -e x.wmv ]"

# Ctrl-C: a long job stops cleanly, exit 130, its half-written output removed.
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=640x480:rate=25:duration=120 -c:v libx264 \
    -preset ultrafast long.mp4
# The signal goes once the job is writing its output (the CLI's handler is set by then): a fixed
# delay would hit a slow start on a loaded machine before the handler exists.
# One piece (--parallel off): the output is written as the job goes. (A split job writes it at the
# end, when the pieces are joined; the timeout below stops one.)
"$cli" transcode long.mp4 long-out.mp4 --parallel off > out.txt 2> err.txt &
pid=$!
for _ in $(seq 300); do [ -s long-out.mp4 ] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
status=$?
check "transcode: SIGINT cancels (exit 130, 'interrupted'), no partial file" \
    bash -c "[ $status -eq 130 ] && grep -qx 'afmpeg transcode: interrupted' err.txt &&
    [ ! -e long-out.mp4 ]"
run "$cli" --timeout 0.5 transcode long.mp4 long-out.mp4 --parallel off
check "transcode: --timeout stops the job (exit 124)" \
    bash -c "[ $status -eq 124 ] && grep -q 'deadline' err.txt && [ ! -e long-out.mp4 ]"
run "$cli" --instances 2 --timeout 0.5 transcode long.mp4 long-out.mp4
check "transcode: --timeout stops a split job's pieces (exit 124), no output" \
    bash -c "[ $status -eq 124 ] && grep -q 'split job, .*deadline' err.txt && [ ! -e long-out.mp4 ]"
# A terminal gets the progress bar (script(1) gives the program one).
if command -v script > /dev/null; then
    script -qec "'$cli' transcode in.mp4 tty.mp4 --scale 160:-2" /dev/null > tty.txt 2>&1
    check "transcode: a progress bar on a terminal" \
        bash -c "grep -q '\\[#*-*\\] *[0-9]*%' tty.txt &&
        tr '\\r' '\\n' < tty.txt | sed 's/\\x1b\\[K//g' | grep -q '^tty.mp4: 3.0'"
fi

# ---- transcode: split and stitch ----
# 6 s at 30000/1001 with B-frames and a keyframe every second: on 2 instances (--instances), the
# default --parallel auto cuts it in two segments; what comes out is what one piece gives.
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=30000/1001:duration=6 \
    -f lavfi -i sine=duration=6 -c:v libx264 -bf 3 -g 30 -c:a aac -shortest ntsc.mp4 || exit 1
pts() { ffprobe -v error -select_streams "$2" -show_entries packet=pts -of csv=p=0 "$1" | sort -n | md5sum; }
export -f pts
run "$cli" --instances 2 transcode ntsc.mp4 split2.mp4 --scale 160:-2
check "transcode on 2 instances: 2 segments at once, in the summary" bash -c "[ $status -eq 0 ] &&
    grep -q ', 2 segments at once, ' out.txt"
run "$cli" --instances 2 transcode ntsc.mp4 whole.mp4 --scale 160:-2 --parallel off
check "transcode --parallel off: one piece (no segments in the summary)" bash -c "[ $status -eq 0 ] &&
    ! grep -q segments out.txt"
check "transcode split: the same video and audio timestamps and duration as one piece" bash -c "
    [ \"\$(pts split2.mp4 v:0)\" = \"\$(pts whole.mp4 v:0)\" ] &&
    [ \"\$(pts split2.mp4 a:0)\" = \"\$(pts whole.mp4 a:0)\" ] &&
    [ \"\$(duration split2.mp4)\" = \"\$(duration whole.mp4)\" ] &&
    [ -z \"\$(ffmpeg -nostdin -v error -i split2.mp4 -f null - 2>&1)\" ]"
run "$cli" --instances 2 transcode -v in.mp4 onepiece.mp4
check "transcode -v: a clip with one keyframe runs as one piece, and says why" bash -c "
    [ $status -eq 0 ] && grep -q 'ran as one piece: the input has 1 keyframes' err.txt"
run "$cli" transcode ntsc.mp4 bad.mp4 --parallel 100
check "transcode --parallel 100 is a usage error" fails_with 2 "--parallel needs"

# ---- thumbnail ----
run "$cli" thumbnail in.mp4 thumb.png --at 1 --width 160
check "thumbnail --at 1 --width 160: a 160x120 PNG" bash -c "[ $status -eq 0 ] &&
    [ \"\$(native thumb.png v:0)\" = png,160,120 ] &&
    grep -q '^thumb.png: 160x120 PNG, frame at ' out.txt"
run "$cli" thumbnail in.mp4 thumb.jpg
check "thumbnail to .jpg: a 320x240 JPEG" bash -c "[ $status -eq 0 ] &&
    [ \"\$(native thumb.jpg v:0)\" = mjpeg,320,240 ] &&
    [ \"\$(head -c 2 thumb.jpg | od -An -tx1 | tr -d ' ')\" = ffd8 ]"
run "$cli" thumbnail in.mp4 "$scratch/outside/t.png" --at 2
check "thumbnail: OUT may be anywhere (afmpeg writes it, not the guest)" \
    bash -c "[ $status -eq 0 ] && [ \"\$(native outside/t.png v:0)\" = png,320,240 ]"
run "$cli" thumbnail in.mp4 thumb.gif
check "thumbnail: another extension is a usage error" \
    fails_with 2 "must end in .png, .jpg, .jpeg or .webp"
run "$cli" thumbnail in.mp4 thumb.webp --width 160
if [ $webp = 1 ]; then
    check "thumbnail to .webp --width 160: a 160x120 WebP" bash -c "[ $status -eq 0 ] &&
        [ \"\$(native thumb.webp v:0)\" = webp,160,120 ] &&
        grep -q '^thumb.webp: 160x120 WebP, frame at ' out.txt &&
        [ \"\$(head -c 4 thumb.webp)\" = RIFF ]"
else
    check "thumbnail to .webp without libwebp: exit 1, one line naming libwebp, no file" \
        bash -c "[ $status -eq 1 ] && [ ! -e thumb.webp ] &&
        one_err '^afmpeg thumbnail: WebP images need FFmpeg.s libwebp encoder'"
fi
run "$cli" thumbnail wide.mp4 wide.png
check "thumbnail of 720x576 with SAR 64:45: 1024x576, square pixels" bash -c "[ $status -eq 0 ] &&
    [ \"\$(native wide.png v:0)\" = png,1024,576 ] && [ \"\$(sar wide.png)\" = 1:1 ] &&
    grep -q '^wide.png: 1024x576 PNG' out.txt"
run "$cli" thumbnail aspect.mp4 aspect.jpg --width 320
check "thumbnail of 720x576 made with -aspect 16:9, --width 320: 320x180" bash -c "
    [ $status -eq 0 ] &&
    [ \"\$(native aspect.jpg v:0)\" = mjpeg,320,180 ] && [ \"\$(sar aspect.jpg)\" = 1:1 ]"
run "$cli" thumbnail pal43.mp4 pal43.png --height 288
check "thumbnail of 720x576 with SAR 16:15 (4:3), --height 288: 384x288" bash -c "
    [ $status -eq 0 ] &&
    [ \"\$(native pal43.png v:0)\" = png,384,288 ]"
run "$cli" thumbnail tone.wav t.png
check "thumbnail: a file without video fails (exit 1)" \
    bash -c "[ $status -eq 1 ] && one_err '^afmpeg thumbnail: .*tone.wav' && [ ! -e t.png ]"
run "$cli" thumbnail garbage.mp4 t.png
check "thumbnail: a garbage file fails (exit 1)" \
    bash -c "[ $status -eq 1 ] && [ \"\$(wc -l < err.txt)\" -eq 1 ] && [ ! -e t.png ]"
run "$cli" thumbnail in.mp4 nodir/t.png
check "thumbnail: an OUT that cannot be written fails (exit 1)" \
    fails_with 1 "afmpeg thumbnail: nodir/t.png: No such file or directory"
run "$cli" thumbnail in.mp4 t.png --width 0
check "thumbnail: a bad --width is a usage error" fails_with 2 "--width needs a whole number"
run "$cli" thumbnail in.mp4
check "thumbnail: a missing OUT is a usage error" fails_with 2 "afmpeg thumbnail: missing OUT"

# ---- frames ----
run "$cli" frames in.mp4 f3 --count 3
check "frames --count 3: 3 files, one line each with its time" bash -c "[ $status -eq 0 ] &&
    [ \"\$(ls f3)\" = \"\$(printf 'frame-0001.png\nframe-0002.png\nframe-0003.png')\" ] &&
    [ \"\$(cat out.txt)\" = \"\$(printf 'f3/frame-%04d.png %s\n' 1 0.000 2 0.040 3 0.080)\" ] &&
    [ \"\$(native f3/frame-0003.png v:0)\" = png,320,240 ]"
run "$cli" frames in.mp4 f1 --every 1
check "frames --every 1: 3 files for 3 s, at 0, 1 and 2 s" bash -c "[ $status -eq 0 ] &&
    [ \$(ls f1 | wc -l) -eq 3 ] && [ \"\$(frame_times)\" = '0.000 1.000 2.000 ' ]"
run "$cli" frames in.mp4 fd
check "frames: the default is a frame a second" \
    bash -c "[ $status -eq 0 ] && [ \$(ls fd | wc -l) -eq 3 ]"
run "$cli" frames in.mp4 deep/er/dir --count 1 --format jpg --width 80
check "frames: OUTDIR made with its parents; --format jpg --width 80" bash -c "[ $status -eq 0 ] &&
    [ \"\$(native deep/er/dir/frame-0001.jpg v:0)\" = mjpeg,80,60 ]"
run "$cli" frames in.mp4 fe --every 0.5 --count 4 --start 0.5
check "frames --every 0.5 --count 4 --start 0.5: the first frames at or after 0.5, 1, 1.5, 2 s" \
    bash -c "[ $status -eq 0 ] && [ \"\$(frame_times)\" = '0.520 1.000 1.520 2.000 ' ]"
# Many frames come in several jobs (batches); the times must be those of one job.
run "$cli" frames in.mp4 fb --every 0.2 --width 32
check "frames --every 0.2 over 3 s: 15 frames in batches, none lost or repeated" bash -c "
    [ $status -eq 0 ] && [ \$(ls fb | wc -l) -eq 15 ] &&
    [ \"\$(frame_times)\" = \"\$(grid 0.2 15)\" ]"
run "$cli" frames in.mp4 fc --count 20 --width 32
check "frames --count 20: 20 consecutive frames across batches" bash -c "[ $status -eq 0 ] &&
    [ \"\$(frame_times)\" = \"\$(grid 0.04 20)\" ]"
run "$cli" frames in.mp4 fz --start 10
check "frames past the end fails (exit 1) with one line" fails_with 1 "afmpeg frames: no frames"
run "$cli" frames garbage.mp4 fg
check "frames: a garbage file fails (exit 1)" \
    bash -c "[ $status -eq 1 ] && one_err '^afmpeg frames: .*Invalid data'"
run "$cli" frames missing.mp4 fm
check "frames: a missing file fails (exit 1), OUTDIR not made" \
    bash -c "[ $status -eq 1 ] && one_err 'missing.mp4: No such file or directory' && [ ! -e fm ]"
touch afile
run "$cli" frames in.mp4 afile/x
check "frames: an OUTDIR that cannot be made fails (exit 1)" \
    fails_with 1 "afmpeg frames: afile/x: Not a directory"
run "$cli" frames in.mp4 fw --format webp --count 2
if [ $webp = 1 ]; then
    check "frames --format webp --count 2: two WebP files" bash -c "[ $status -eq 0 ] &&
        [ \"\$(ls fw)\" = \"\$(printf 'frame-0001.webp\nframe-0002.webp')\" ] &&
        [ \"\$(native fw/frame-0002.webp v:0)\" = webp,320,240 ]"
else
    check "frames --format webp without libwebp: exit 1, one line naming libwebp, no image" \
        bash -c "[ $status -eq 1 ] && [ -z \"\$(ls fw)\" ] &&
        one_err '^afmpeg frames: WebP images need FFmpeg.s libwebp encoder'"
fi
run "$cli" frames scenes.mp4 fs --scene 0.3
check "frames --scene 0.3: the first frame and the cuts at 1.0 and 2.2 s" bash -c "
    [ $status -eq 0 ] &&
    [ \"\$(frame_times)\" = '0.000 1.000 2.200 ' ] && [ \$(ls fs | wc -l) -eq 3 ]"
run "$cli" frames scenes.mp4 fsi --scene 0.3 --min-interval 1.5
check "frames --scene 0.3 --min-interval 1.5: the cut at 1.0 s is too close" \
    bash -c "[ $status -eq 0 ] && [ \"\$(frame_times)\" = '0.000 2.200 ' ]"
run "$cli" frames scenes.mp4 fsc --scene 0.3 --count 2 --start 0.5
check "frames --scene 0.3 --count 2 --start 0.5: the first frame from 0.5 s, then a cut" \
    bash -c "[ $status -eq 0 ] && [ \"\$(frame_times)\" = '0.520 1.000 ' ]"
# 13 scenes come in two batches; the times are the cuts Debian's ffmpeg finds, after the first.
run "$cli" frames alt.mp4 fsb --scene 0.3 --width 32
want=$(ffprobe -v error -f lavfi -i "movie=alt.mp4,select=gt(scene\,0.3)" \
    -show_entries frame=pts_time -of csv=p=0 | awk '{printf "%.3f ", $1}')
check "frames --scene over 13 scenes: the cuts native ffmpeg finds, across batches" \
    bash -c "[ $status -eq 0 ] && [ \$(ls fsb | wc -l) -eq 13 ] &&
    [ \"\$(frame_times)\" = \"0.000 $want\" ]"
run "$cli" frames alt.mp4 fs9 --scene 0.3 --width 32 --count 9
check "frames --scene --count 9: a second batch of one frame" bash -c "[ $status -eq 0 ] &&
    [ \"\$(frame_times)\" = \"\$(echo \"0.000 $want\" | cut -d' ' -f1-9) \" ]"
run "$cli" frames wide.mp4 fa --count 1 --width 512
check "frames of 720x576 with SAR 64:45, --width 512: 512x288" bash -c "[ $status -eq 0 ] &&
    [ \"\$(native fa/frame-0001.png v:0)\" = png,512,288 ] &&
    [ \"\$(sar fa/frame-0001.png)\" = 1:1 ]"
run "$cli" frames in.mp4 fx --format gif
check "frames: a bad --format is a usage error" fails_with 2 "--format needs png, jpg or webp"
run "$cli" frames in.mp4 fx --every 0
check "frames: --every 0 is a usage error" fails_with 2 "--every needs a positive number"
for t in 0 1 -0.2 abc 0.3x; do
    run "$cli" frames in.mp4 fx --scene "$t"
    check "frames: --scene $t is a usage error" \
        fails_with 2 "--scene needs a threshold between 0 and 1"
done
run "$cli" frames in.mp4 fx --scene 0.3 --every 1
check "frames: --scene with --every is a usage error" \
    fails_with 2 "--every and --scene cannot be used together"
run "$cli" frames in.mp4 fx --min-interval 1
check "frames: --min-interval without --scene is a usage error" \
    fails_with 2 "--min-interval needs --scene"
run "$cli" frames in.mp4
check "frames: a missing OUTDIR is a usage error" fails_with 2 "afmpeg frames: missing OUTDIR"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
