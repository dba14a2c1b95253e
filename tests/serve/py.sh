#!/usr/bin/env bash
# py.sh SCRIPT SECONDS [TOOL...]: runs one of the service's Python suites (standard library
# only) with AFMPEG_CLI made absolute (default build/afmpeg), after checking that the TOOLs it
# needs are installed. The script bounds each wait itself and kills what it started; SECONDS is
# the backstop. Killed, it cannot print its closing line, so that one is written here from the
# lines it printed. Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
here=$(dirname "$(realpath "$0")")
script=$1 seconds=$2
shift 2
AFMPEG_CLI=$(realpath -m "${AFMPEG_CLI:-build/afmpeg}")
export AFMPEG_CLI
for tool in python3 ffmpeg ffprobe "$@"; do
    command -v "$tool" > /dev/null || { echo "FAIL $tool is not installed"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$AFMPEG_CLI" ] || { echo "FAIL no program $AFMPEG_CLI"; echo "0 passed, 1 failed"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout -k 10 "$seconds" python3 -u "$here/$script" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if ! tail -n1 "$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
    echo "FAIL the test script ended without its summary (exit $rc)"
    echo "$(grep -c '^ok ' "$log") passed, $(($(grep -c '^FAIL ' "$log") + 1)) failed"
    exit 1
fi
exit "$rc"
