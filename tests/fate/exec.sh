#!/usr/bin/env bash
# tests/fate/exec.sh AFMPEG PROGRAM ARGS... — FATE's TARGET_EXEC for the sandbox side.
#
# FATE runs every target program as `$TARGET_EXEC $TARGET_PATH/PROGRAM ARGS...` (fate-run.sh's
# run(), tests/Makefile). Set TARGET_EXEC="/path/to/exec.sh /path/to/afmpeg" and:
#   - PROGRAM ffmpeg or ffprobe runs in the sandbox: `AFMPEG -C TREE ffmpeg|ffprobe ARGS...`,
#     where TREE is PROGRAM's directory (TARGET_PATH, the in-place FFmpeg tree FATE runs from).
#     The guest sees TREE as its root "/" and nothing outside it, so every occurrence of "TREE/"
#     in an argument (FATE passes absolute paths, alone or inside filter graphs and URLs) is
#     rewritten to "/"; relative paths work unchanged, because FATE runs from TREE and the
#     guest's working directory is its root;
#   - any other PROGRAM (unit-test programs such as libavutil/tests/md5, libavfilter/tests/
#     filtfmts, tools/*) runs natively, unchanged: those tests do not exercise the sandbox.
# With AFMPEG_FATE_TRACE set, each sandboxed run appends "fate-TEST TOOL" to that file (the test
# is fate-run.sh's first argument, read from the parent's command line), so that run.sh can tell
# the tests that ran ffmpeg/ffprobe in the sandbox from the unit tests.
set -u
cli=${1:?usage: exec.sh AFMPEG PROGRAM ARGS...}
prog=${2:?usage: exec.sh AFMPEG PROGRAM ARGS...}
shift 2
tool=${prog##*/}
case $tool in
    ffmpeg | ffprobe) ;;
    *) exec "$prog" "$@" ;;
esac
if [ -n "${AFMPEG_FATE_TRACE:-}" ]; then
    name=$(tr '\0' '\n' < "/proc/$PPID/cmdline" 2>/dev/null | grep -m1 '^fate-')
    echo "${name:-other} $tool" >> "$AFMPEG_FATE_TRACE"
fi
tree=${prog%/*}
args=()
for a in "$@"; do
    if [ "$a" = "$tree" ]; then
        args+=(/)
    else
        args+=("${a//"$tree/"//}")
    fi
done
exec "$cli" -C "$tree" "$tool" "${args[@]}"
