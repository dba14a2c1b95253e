#!/usr/bin/env bash
# run.sh [SECONDS] — fuzzes the real guest with libFuzzer (tests/fuzz/fuzz_media.c) for SECONDS
# (default $FUZZ_SECONDS, else 60), starting from a seed corpus of tiny valid files made by Debian's ffmpeg, then
# prints one closing line: "1 passed, 0 failed" if libFuzzer found no host crash, leak or hang,
# else "0 passed, 1 failed".
#
# Needs clang-19 and its fuzzer runtime (Debian package libclang-rt-19-dev). Builds
# build/fuzz/fuzz_media from build/libafmpeg.a when missing or older than its sources.
#
# Environment:
#   FUZZ_CORPUS=DIR   keep the corpus in DIR across runs (default: a temporary directory)
#   FUZZ_JOBS=N       run N fuzzing processes in parallel (libFuzzer -fork=N)
#   FUZZ_ARGS="..."   more libFuzzer flags
# Guest traps are contained by the sandbox and are not failures: they are counted in the output,
# and their inputs are kept in build/fuzz/traps/. Host crashes, leaks and timeouts are kept by
# libFuzzer in build/fuzz/artifacts/.
set -u
duration=${1:-${FUZZ_SECONDS:-60}}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=build/fuzz
bin=$out/fuzz_media
rtlib=/usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-x86_64.a

fail() {
    echo "fuzz: $*"
    echo "0 passed, 1 failed"
    exit 1
}

command -v clang-19 >/dev/null || fail "clang-19 is missing (Debian package clang-19)"
[ -f "$rtlib" ] || fail "clang-19's fuzzer runtime is missing (Debian package libclang-rt-19-dev)"
command -v ffmpeg >/dev/null || fail "Debian's ffmpeg is missing (it makes the seed corpus)"
if [ ! -f build/libafmpeg.a ]; then
    make -s build/libafmpeg.a || fail "building build/libafmpeg.a failed"
fi
mkdir -p "$out" "$out/artifacts" "$out/traps"
if [ ! -x "$bin" ] || [ "$bin" -ot build/libafmpeg.a ] || [ "$bin" -ot tests/fuzz/fuzz_media.c ] ||
   [ "$bin" -ot include/afmpeg.h ]; then
    echo "fuzz: building $bin"
    clang-19 -O1 -g -fsanitize=fuzzer,address -Iinclude tests/fuzz/fuzz_media.c -o "$bin" \
        build/libafmpeg.a -ljansson -lcrypto -ldl -lpthread -lm || fail "building $bin failed"
fi

tmp=$(mktemp -d /tmp/afmpeg-fuzz-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
seeds=$tmp/seeds
mkdir -p "$seeds"
corpus=${FUZZ_CORPUS:-$tmp/corpus}
mkdir -p "$corpus"

# A few tiny valid files of different containers and codecs the module decodes.
ff="ffmpeg -nostdin -v error -y -threads 1"
v="-f lavfi -i testsrc2=size=64x48:rate=10:duration=0.3"
a="-f lavfi -i sine=frequency=440:duration=0.3:sample_rate=8000"
(
    cd "$seeds" &&
    $ff $v $a -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest h264_aac.mp4 &&
    $ff $v -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p hevc.mkv &&
    $ff $v $a -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -shortest vp9_opus.webm &&
    $ff $v -c:v libvpx ivf_vp8.ivf &&
    $ff $v $a -c:v mpeg4 -c:a libmp3lame -shortest mpeg4_mp3.avi &&
    $ff $v $a -c:v libx264 -c:a aac -shortest h264_aac.ts &&
    $ff $a -c:a libvorbis vorbis.ogg &&
    $ff $a -c:a flac audio.flac &&
    $ff $a -c:a libmp3lame audio.mp3 &&
    $ff $a -c:a pcm_s16le audio.wav &&
    $ff $a -c:a aac audio.aac &&
    $ff $v -frames:v 1 image.png &&
    $ff $v -frames:v 1 image.jpg &&
    $ff $v -frames:v 1 -c:v libwebp image.webp &&
    printf '1\n00:00:00,000 --> 00:00:01,000\nhello\n' > subs.srt &&
    printf 'ffconcat version 1.0\nfile in\n' > list.ffconcat
) || fail "making the seed corpus failed"
# And every family of the generated corpus (tests/corpus/make.sh) up to 64 KiB: a seed for each
# decoder and demuxer the module has.
corpus_dir=$("$root/tests/corpus/dir.sh") || fail "making the generated corpus failed"
find "$corpus_dir" -maxdepth 1 -type f ! -name corpus.tsv -size -65k -exec cp {} "$seeds/" \;
echo "fuzz: seed corpus: $(ls "$seeds" | wc -l) files, $(du -sh "$seeds" | cut -f1)"

log=$tmp/fuzz.log
# -timeout: one input (two jobs) running longer than this is a hang, a finding.
# -rss_limit_mb: a job may grow its guest memory to 512 MiB; the harness adds ASan's overhead.
# shellcheck disable=SC2086
AFMPEG_FUZZ_TRAP_DIR=$out/traps "$bin" -max_total_time="$duration" -timeout=60 \
    -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
    ${FUZZ_JOBS:+-fork=$FUZZ_JOBS -ignore_crashes=0} ${FUZZ_ARGS:-} "$corpus" "$seeds" \
    > "$log" 2>&1
rc=$?
grep -E "afmpeg-fuzz|^#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|artifact" "$log" | tail -n 40
if [ "$rc" -ne 0 ]; then
    echo "fuzz: libFuzzer exited $rc: a host crash, leak or timeout (see above; the full log was"
    cp "$log" "$out/last-failure.log"
    echo "      copied to $out/last-failure.log, the input is in $out/artifacts/)"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "1 passed, 0 failed"
