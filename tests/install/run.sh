#!/usr/bin/env bash
# The library as a user gets it: `make install` into a scratch prefix, then
#   - the files and links installed, the soname, the exports (only afmpeg_*, exactly the
#     functions afmpeg.h declares), afmpeg.pc (shared and --static);
#   - every example, built from the installed copy with the command at its top, once against
#     libafmpeg.so.1 and once statically (pkg-config --static ... -static, so a library missing
#     from Libs.private fails the link), run on real media, its outputs read back with Debian's
#     ffprobe/ffmpeg;
#   - the man pages render (man -l, and man -M PREFIX/share/man), the README's example is
#     examples/transcode.c's, the installed CLI and its ffmpeg/ffprobe links work;
#   - a DESTDIR install, then `make uninstall` of both leaves no file behind.
# Run from the top of the tree (make test-install). KEEP=1 keeps the scratch directory.
# Ends with "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
tmp=$(mktemp -d /tmp/afmpeg-install-XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "scratch: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
prefix=$tmp/prefix
lib=$prefix/lib
media=$tmp/media
passed=0 failed=0
check() { # name, then a command (run in a subshell) that must succeed; its output is shown if not
    local name=$1; shift
    if ( "$@" ) > "$tmp/log" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$tmp/log" | head -30; fi
}
fail() { echo "$*"; exit 1; }

# ---- helpers: Debian's ffprobe/ffmpeg on the outputs ----
near() { # VALUE LO HI
    python3 -c "import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(not lo <= v <= hi)" "$@"
}
stream() { # FILE SPEC FIELDS: e.g. "h264,320,240" for v:0 codec_name,width,height
    ffprobe -v error -select_streams "$2" -show_entries "stream=$3" -of csv=p=0 "$1"
}
duration() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }
decodes() { # FILE: Debian's ffmpeg decodes all of it without an error message
    local err
    err=$(ffmpeg -nostdin -v error -i "$1" -f null - 2>&1) && [ -z "$err" ] || fail "$1: $err"
}
is_av() { # FILE WIDTH HEIGHT: H.264 video of that size, AAC audio, 4 s, decodable
    [ "$(stream "$1" v:0 codec_name,width,height)" = "h264,$2,$3" ] ||
        fail "$1: video $(stream "$1" v:0 codec_name,width,height)"
    [ "$(stream "$1" a:0 codec_name)" = aac ] || fail "$1: audio $(stream "$1" a:0 codec_name)"
    near "$(duration "$1")" 3.9 4.1 || fail "$1: duration $(duration "$1")"
    decodes "$1"
}
is_image() { # FILE CODEC WIDTH HEIGHT
    local got
    got=$(stream "$1" v:0 codec_name,width,height)
    [ "$got" = "$2,$3,$4" ] || fail "$1: $got, wanted $2,$3,$4"
    decodes "$1"
}

version=$(sed -n 's/^#define AFMPEG_VERSION "\(.*\)"$/\1/p' include/afmpeg.h)
major=${version%%.*}
[ -n "$version" ] || fail "no AFMPEG_VERSION in include/afmpeg.h"

# ---- install ---------------------------------------------------------------------------------
check "make install PREFIX=$prefix" make -s install PREFIX="$prefix" LDCONFIG=true

t_files() {
    cd "$prefix" || exit 1
    for f in bin/afmpeg lib/libafmpeg.a "lib/libafmpeg.so.$version" lib/pkgconfig/afmpeg.pc \
             include/afmpeg.h share/man/man1/afmpeg.1 share/man/man3/afmpeg.3 \
             share/doc/afmpeg/README.md share/doc/afmpeg/sandbox.md share/doc/afmpeg/LICENSE \
             share/doc/afmpeg/licenses/README.md share/doc/afmpeg/licenses/LGPL-2.1.txt \
             share/doc/afmpeg/examples/transcode.c share/doc/afmpeg/examples/sample.mp4; do
        [ -f "$f" ] && [ ! -L "$f" ] || fail "missing $f"
    done
    [ "$(readlink lib/libafmpeg.so)" = "libafmpeg.so.$major" ] || fail "libafmpeg.so"
    [ "$(readlink "lib/libafmpeg.so.$major")" = "libafmpeg.so.$version" ] || fail "so.$major"
    # ffmpeg/ffprobe links: in libexec/afmpeg, never in bin (they would shadow the system's)
    [ "$(readlink libexec/afmpeg/ffmpeg)" = "$prefix/bin/afmpeg" ] || fail "libexec ffmpeg"
    [ "$(readlink libexec/afmpeg/ffprobe)" = "$prefix/bin/afmpeg" ] || fail "libexec ffprobe"
    [ "$(ls bin)" = afmpeg ] || fail "bin holds $(ls bin)"
}
check "installed: files, libafmpeg.so -> .so.$major -> .so.$version, libexec links" t_files

t_soname() {
    readelf -d "$lib/libafmpeg.so.$version" | grep -F '(SONAME)' |
        grep -qF "[libafmpeg.so.$major]"
}
check "soname is libafmpeg.so.$major" t_soname

# Exports: every defined dynamic symbol is afmpeg_* (or the version node, the absolute symbol
# AFMPEG_n), and they are exactly the functions afmpeg.h declares.
nm -D --defined-only "$lib/libafmpeg.so.$version" > "$tmp/nm.txt"
grep -oE '^AFMPEG_API[^(]*\(' include/afmpeg.h | sed -E 's/.*[ *]([a-z0-9_]+)\($/\1/' |
    sort -u > "$tmp/declared.txt"
t_only_afmpeg() {
    local other
    other=$(awk '!(($2 == "A" && $3 ~ /^AFMPEG_[0-9.]+$/) ||
                  ($2 == "T" && $3 ~ /^afmpeg_[a-z0-9_]+(@@AFMPEG_[0-9.]+)?$/))' "$tmp/nm.txt")
    [ -z "$other" ] || fail "exported besides afmpeg_* functions:"$'\n'"$other"
    grep -q ' T afmpeg_new' "$tmp/nm.txt"
}
check "nm -D --defined-only: only afmpeg_* functions" t_only_afmpeg
t_exports_declared() {
    awk '$3 ~ /^afmpeg_/ {sub(/@.*/, "", $3); print $3}' "$tmp/nm.txt" | sort -u |
        diff "$tmp/declared.txt" -
}
check "exported functions = the $(wc -l < "$tmp/declared.txt") afmpeg.h declares" \
    t_exports_declared

# The static library too: one prelinked object whose only global definitions are afmpeg_*, so a
# program with names of its own like the library's internals (another wasm2c module's runtime,
# wasm_rt_*) links with it.
t_static_only_afmpeg() {
    local other
    other=$(nm -g --defined-only "$lib/libafmpeg.a" | awk 'NF == 3 && $3 !~ /^afmpeg_/')
    [ -z "$other" ] || fail "libafmpeg.a defines besides afmpeg_*:"$'\n'"$(head <<< "$other")"
    cat > "$tmp/clash.c" <<'EOF2'
#include <afmpeg.h>
void wasm_rt_trap(int code);   /* as another wasm2c module's runtime has it */
void wasm_rt_trap(int code) { (void)code; }
int main(void) { return afmpeg_version_number() == AFMPEG_VERSION_NUMBER ? 0 : 1; }
EOF2
    cc "$tmp/clash.c" -I"$prefix/include" "$lib/libafmpeg.a" -ljansson -lcrypto -ldl -lpthread -lm \
        -o "$tmp/clash" && "$tmp/clash"
}
check "libafmpeg.a: only afmpeg_* global; a program defining wasm_rt_trap links" \
    t_static_only_afmpeg

# pkg-config, with only the scratch prefix added to its path.
export PKG_CONFIG_PATH=$lib/pkgconfig
t_pc() {
    local cflags libs
    cflags=$(echo $(pkg-config --cflags afmpeg))   # without pkg-config's trailing blank
    libs=$(echo $(pkg-config --libs afmpeg))
    [ "$(pkg-config --modversion afmpeg)" = "$version" ] || fail "version"
    [ "$cflags" = "-I$prefix/include" ] || fail "--cflags: $cflags"
    [ "$libs" = "-L$lib -lafmpeg" ] || fail "--libs: $libs"
    libs=$(pkg-config --static --libs afmpeg)
    for l in -lafmpeg -ljansson -lcrypto -ldl -lpthread -lm; do
        grep -qw -- "$l" <<< "$libs" || fail "--static --libs: $libs: no $l"
    done
}
check "afmpeg.pc: version, -I and -L into the prefix; --static: + jansson, crypto, dl, pthread, m" \
    t_pc

# ---- the examples: built from the installed copies as each one's top says ------------------
examples=$(cd examples && ls ./*.c | sed 's|^\./||; s|\.c$||')
mkdir -p "$tmp/shared" "$tmp/static"
t_build() { # EXAMPLE shared|static
    local src=$prefix/share/doc/afmpeg/examples/$1.c cmd
    cmd=$(sed -n 's/^ \* Build: *//p' "$src")
    [ -n "$cmd" ] || fail "$1.c has no ' * Build:' line"
    # warnings are errors here; the static build is the same line with --static and -static
    cmd=${cmd/#cc /cc -Wall -Wextra -Werror }
    [ "$2" = static ] && cmd="${cmd//--cflags --libs/--static --cflags --libs} -static"
    cp "$src" "$tmp/$2/" && cd "$tmp/$2" && echo "$cmd" && eval "$cmd" || exit 1
    if [ "$2" = shared ]; then
        LD_LIBRARY_PATH=$lib ldd "./$1" | tee /dev/stderr |
            grep -qF "libafmpeg.so.$major => $lib/libafmpeg.so.$major" || fail "ldd"
    else
        ! ldd "./$1" || fail "not static"
    fi
}
for ex in $examples; do
    check "$ex: builds against libafmpeg.so.$major, ldd finds it in the prefix" t_build "$ex" shared
    check "$ex: builds statically (pkg-config --static ... -static)" t_build "$ex" static
done

# ---- running them on real media --------------------------------------------------------------
mkdir -p "$media"
cp examples/sample.mp4 "$media/"   # 4 s of 320x240 H.264 + mono AAC
# chapters, a language, and a tag with a byte that is not UTF-8 and control characters
printf '%s\n' ';FFMETADATA1' 'title=Chapters' \
    '[CHAPTER]' 'TIMEBASE=1/1000' 'START=0' 'END=2000' 'title=One "quoted"' \
    '[CHAPTER]' 'TIMEBASE=1/1000' 'START=2000' 'END=4000' 'title=Two' > "$media/meta.txt"
ffmpeg -nostdin -v error -i "$media/sample.mp4" -i "$media/meta.txt" -map 0 -map_metadata 1 \
    -map_chapters 1 -c copy -metadata:s:a:0 language=fra \
    -metadata comment="$(printf 'bad\xffbyte\x1b[31m\ttab')" "$media/tagged.mkv" ||
    fail "could not make the test media"

t_transcode() {
    "$bin/transcode" "$media/sample.mp4" "$out/t.mp4" && is_av "$out/t.mp4" 320 240
}
t_transcode_bad() {
    head -c 5000 /dev/urandom > "$out/junk"
    ! "$bin/transcode" "$out/junk" "$out/j.mp4" 2> "$out/junk.err" || fail "succeeded"
    cat "$out/junk.err"
    grep -q '^ffmpeg exited 1' "$out/junk.err" && [ ! -e "$out/j.mp4" ]
}
t_progress() {
    "$bin/progress" "$media/sample.mp4" "$out/p.mp4" 160 > "$out/p.out" 2> "$out/p.err" || exit 1
    cat "$out/p.out" "$out/p.err"
    head -n1 "$out/p.out" | grep -q '^ffmpeg .*-i /in .*scale=160:-2' || fail "no argv"
    grep -q '^output 0: /out.mp4' "$out/p.out" && grep -q 'video: 160x120' "$out/p.out" &&
        grep -q 'libopenh264' "$out/p.out" || fail "outputs not described"
    [ "$(grep -c '^progress:' "$out/p.err")" -ge 2 ] || fail "too few progress reports"
    tail -n1 "$out/p.err" | grep -q '^progress: 100%' || fail "did not end at 100%"
    is_av "$out/p.mp4" 160 120
}
t_probe_json() { # FILE
    "$bin/probe_json" "$media/$1" > "$out/$1.json" || exit 1
    cat "$out/$1.json"
    ffprobe -v error -show_format -show_streams -show_chapters -of json "$media/$1" \
        > "$out/$1.ref.json" || exit 1
    python3 - "$out/$1.json" "$out/$1.ref.json" <<'EOF'
import json, sys
mine = json.load(open(sys.argv[1], encoding='utf-8'))           # strict: must be UTF-8
ref = json.load(open(sys.argv[2], encoding='utf-8', errors='replace'))
fmt, rfmt = mine['format'], ref['format']
assert fmt['name'] == rfmt['format_name'], fmt['name']
assert abs(fmt['duration'] - float(rfmt['duration'])) < 0.01, fmt['duration']
assert fmt['size'] == int(rfmt['size']), fmt['size']
assert fmt['tags'] == rfmt.get('tags', {}), (fmt['tags'], rfmt.get('tags'))
assert len(mine['streams']) == len(ref['streams'])
for s, r in zip(mine['streams'], ref['streams']):
    assert (s['index'], s['type'], s['codec']) == (r['index'], r['codec_type'], r['codec_name'])
    if s['type'] == 'video':
        assert (s['width'], s['height']) == (r['width'], r['height']), s
        assert s['pixel_format'] == r['pix_fmt'] and s['avg_frame_rate'] == r['avg_frame_rate'], s
    if s['type'] == 'audio':
        assert (s['sample_rate'], s['channels']) == (int(r['sample_rate']), r['channels']), s
    assert s['language'] == r.get('tags', {}).get('language'), s['language']
    assert s['tags'] == r.get('tags', {}), (s['tags'], r.get('tags'))
assert [c['title'] for c in mine['chapters']] == [c['tags']['title'] for c in ref['chapters']]
EOF
}
t_probe_missing() {
    ! "$bin/probe_json" "$media/none.mp4" > /dev/null 2> "$out/none.err" || fail "succeeded"
    cat "$out/none.err"
    grep -q none.mp4 "$out/none.err"
}
t_thumbnails() {
    mkdir -p "$out/thumbs" && "$bin/thumbnails" "$media/sample.mp4" "$out/thumbs" 160 1 || exit 1
    is_image "$out/thumbs/poster.jpg" mjpeg 160 120
    [ "$(ls "$out/thumbs" | grep -c '^frame-...\.png$')" = 4 ] || fail "$(ls "$out/thumbs")"
    for f in "$out"/thumbs/frame-*.png; do is_image "$f" png 160 120; done
}
t_custom_fs() {
    mkdir -p "$out/custom" &&
        "$bin/custom_fs" "$media/sample.mp4" "$out/custom" > "$out/custom.out" || exit 1
    cat "$out/custom.out"
    [ "$(grep -c '^delivered ' "$out/custom.out")" -eq 2 ] || fail "not 2 files delivered"
    # the audio, copied: the same packets as the input's
    [ "$(stream "$out/custom/audio.m4a" a codec_name)" = aac ] &&
        [ -z "$(stream "$out/custom/audio.m4a" v codec_name)" ] || fail "audio.m4a streams"
    cmp <(ffmpeg -v error -i "$media/sample.mp4" -map 0:a -c copy -f framecrc -) \
        <(ffmpeg -v error -i "$out/custom/audio.m4a" -map 0:a -c copy -f framecrc -) ||
        fail "audio.m4a: not the input's packets"
    is_image "$out/custom/poster.jpg" mjpeg 320 240
}
t_service() {
    mkdir -p "$out/svc" && "$bin/service" -t 3 -i 2 "$out/svc" "$media/sample.mp4" \
        "$media/sample.mp4" "$media/sample.mp4" "$media/sample.mp4" "$media/sample.mp4" \
        "$media/tagged.mkv" > "$out/svc.out" || exit 1
    cat "$out/svc.out"
    grep -q '^runtime: 2 instances, 0 running, 0 queued' "$out/svc.out" || fail "stats"
    grep -q '^requests: 6 done, 0 failed, 0 cancelled, 0 not started' "$out/svc.out" ||
        fail "counts"
    for i in 000 001 002 003 004 005; do is_image "$out/svc/$i.jpg" mjpeg 160 120; done
}
t_service_sigterm() { # SIGTERM while jobs run: jobs cancelled, the rest not started, 128 + 15
    mkdir -p "$out/svc2"
    local files=() i
    for i in $(seq 200); do files+=("$media/sample.mp4"); done
    "$bin/service" -t 4 -i 2 "$out/svc2" "${files[@]}" > "$out/svc2.out" 2> "$out/svc2.err" &
    local pid=$!
    for i in $(seq 300); do grep -q '^request' "$out/svc2.out" && break; sleep 0.1; done
    kill -TERM "$pid"
    local start rc ms
    start=$(date +%s%N)
    wait "$pid"; rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    cat "$out/svc2.out" "$out/svc2.err"
    echo "exit $rc, $ms ms after SIGTERM"
    [ "$rc" -eq 143 ] && [ "$ms" -lt 3000 ] && grep -q 'shutting down' "$out/svc2.err" &&
        grep -qE '^requests: [0-9]+ done, 0 failed, [0-9]+ cancelled, [1-9][0-9]* not started' \
            "$out/svc2.out"
}

for kind in shared static; do
    bin=$tmp/$kind
    out=$tmp/out-$kind
    mkdir -p "$out"
    if [ "$kind" = shared ]; then export LD_LIBRARY_PATH=$lib; else unset LD_LIBRARY_PATH; fi
    check "$kind transcode: H.264 + AAC, 320x240, 4 s, decodes" t_transcode
    check "$kind transcode: a bad input fails with FFmpeg's message" t_transcode_bad
    check "$kind progress: 160x120, progress reports to 100%, outputs described" t_progress
    check "$kind probe_json sample.mp4: JSON as Debian's ffprobe says" t_probe_json sample.mp4
    check "$kind probe_json tagged.mkv: chapters, bad UTF-8, controls" t_probe_json tagged.mkv
    check "$kind probe_json: a missing file fails" t_probe_missing
    check "$kind thumbnails: poster.jpg and 4 PNGs, 160x120, valid" t_thumbnails
    check "$kind custom_fs: the audio copied from the blob store, a poster" t_custom_fs
    check "$kind service: 6 requests, 3 threads, 2 instances, all thumbnails" t_service
    check "$kind service: SIGTERM shuts down cleanly and promptly" t_service_sigterm
done
unset LD_LIBRARY_PATH

# ---- man pages, README, the CLI --------------------------------------------------------------
t_man_l() { # PAGE: renders, no groff warnings
    MANWIDTH=80 man --warnings -l "$prefix/share/man/$1" 2> "$tmp/man.err" > "$tmp/man.txt"
    cat "$tmp/man.err"
    grep -q '^NAME' "$tmp/man.txt" && [ ! -s "$tmp/man.err" ]
}
check "man -l renders afmpeg(1) without warnings" t_man_l man1/afmpeg.1
check "man -l renders afmpeg(3) without warnings" t_man_l man3/afmpeg.3
t_man_path() {
    MANWIDTH=80 man -M "$prefix/share/man" 1 afmpeg | grep -q 'afmpeg - run FFmpeg' &&
        MANWIDTH=80 man -M "$prefix/share/man" 3 afmpeg | grep -q 'afmpeg - sandboxed'
}
check "man -M PREFIX/share/man finds afmpeg(1) and afmpeg(3)" t_man_path
t_man3_complete() {
    local f bad=0
    MANWIDTH=1000 man -l "$prefix/share/man/man3/afmpeg.3" > "$tmp/man3.txt" 2>/dev/null
    while read -r f; do
        grep -qw "$f" "$tmp/man3.txt" || { echo "not in afmpeg(3): $f"; bad=1; }
    done < "$tmp/declared.txt"
    [ "$bad" = 0 ]
}
check "afmpeg(3) names every function afmpeg.h declares" t_man3_complete
t_readme() { # the first C block after "## Example" = the marked part of transcode.c, unindented
    diff <(awk '/^## Example/ {s = 1} s && /^```c$/ {p = 1; next} p && /^```$/ {exit} p' \
               README.md) \
         <(sed -n '/README example: begin/,/README example: end/{//!p}' examples/transcode.c |
           sed 's/^    //')
}
check "the README's example is examples/transcode.c's" t_readme
t_cli() {
    "$prefix/bin/afmpeg" --version | grep -qF "$version" || fail "--version"
    cd "$media" || exit 1
    [ "$("$prefix/libexec/afmpeg/ffprobe" -v error -show_entries stream=codec_name -of csv=p=0 \
          sample.mp4 | tr '\n' ' ')" = 'h264 aac ' ] || fail "ffprobe through the link"
}
check "installed CLI: afmpeg --version, ffprobe through the libexec link" t_cli

# ---- modules from a .wasm: the installed module tools, found beside what runs -----------------
# Under this scratch prefix, not the configured one (/usr/local): the library finds
# PREFIX/libexec/afmpeg/tools from where its code was loaded (docs/modules.md).
# The WASI test program (tests/modules/prog.c) as make builds it.
cp "${AFMPEG_WASI_PROG:-build/tests/wasi/prog.wasm}" "$tmp/prog.wasm" ||
    fail "no WASI test program: run this as make test-install"
t_module_cli() {
    cd "$tmp" || exit 1
    AFMPEG_CACHE_DIR=$tmp/mcache-cli "$prefix/bin/afmpeg" run prog.wasm hello 3 > out.txt
    local rc=$?
    [ $rc -eq 3 ] || fail "exit $rc, not 3"
    grep -qx 'argv\[1\]=hello' out.txt || fail "output: $(cat out.txt)"
    ls "$tmp"/mcache-cli/modules/*.so || fail "nothing compiled into the cache"
}
check "installed CLI: afmpeg run prog.wasm compiles it with PREFIX/libexec/afmpeg/tools" \
    t_module_cli
t_module_lib() {
    mkdir -p "$tmp/modlib" && cd "$tmp/modlib" || exit 1
    cat > modload.c <<'C'
#include <afmpeg.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    afmpeg_runtime *rt = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    const char *args[] = {"prog", "hello", "5", NULL};
    size_t n;
    o.module_path = argc > 1 ? argv[1] : "";
    if (afmpeg_new(&o, &rt) || afmpeg_fs_new_memory(&fs) || afmpeg_run(rt, fs, args, NULL, &res)) {
        fprintf(stderr, "%s\n", afmpeg_last_error());
        return 1;
    }
    printf("exit %d\n%s", afmpeg_result_exit_code(res), afmpeg_result_stdout(res, &n));
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    return 0;
}
C
    cc -Wall -Wextra -Werror modload.c -o modload $(pkg-config --cflags --libs afmpeg) || exit 1
    AFMPEG_CACHE_DIR=$tmp/mcache-lib LD_LIBRARY_PATH=$lib ./modload "$tmp/prog.wasm" > out.txt ||
        fail "modload: $(cat out.txt)"
    grep -qx 'exit 5' out.txt && grep -qx 'argv\[1\]=hello' out.txt || fail "$(cat out.txt)"
}
check "a program on libafmpeg.so.$major compiles a .wasm with PREFIX/libexec/afmpeg/tools" \
    t_module_lib

# ---- DESTDIR, and uninstall ------------------------------------------------------------------
stage=$tmp/stage
t_destdir() {
    make -s install DESTDIR="$stage" PREFIX=/usr || exit 1
    [ "$(ls "$stage")" = usr ] || fail "outside DESTDIR/usr: $(ls "$stage")"
    [ -f "$stage/usr/lib/libafmpeg.so.$version" ] && [ -f "$stage/usr/bin/afmpeg" ] || fail "files"
    grep -qx 'prefix=/usr' "$stage/usr/lib/pkgconfig/afmpeg.pc" &&
        grep -qx 'libdir=/usr/lib' "$stage/usr/lib/pkgconfig/afmpeg.pc" || fail "afmpeg.pc"
    [ "$(readlink "$stage/usr/libexec/afmpeg/ffmpeg")" = /usr/bin/afmpeg ] || fail "link"
}
check "make install DESTDIR=... PREFIX=/usr: all under DESTDIR, paths as /usr" t_destdir
t_uninstall() { # ROOT, then make's arguments
    local root=$1 left
    shift
    make -s uninstall "$@" || exit 1
    left=$(find "$root" ! -type d -o -name '*afmpeg*')
    [ -z "$left" ] || fail "left behind:"$'\n'"$left"
}
check "make uninstall DESTDIR=...: nothing left" t_uninstall "$stage" DESTDIR="$stage" PREFIX=/usr
check "make uninstall PREFIX=...: nothing left" t_uninstall "$prefix" PREFIX="$prefix" \
    LDCONFIG=true

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
