#!/usr/bin/env bash
# Tests of `afmpeg serve`, the synchronous HTTP service: private servers on ephemeral ports of
# 127.0.0.1, driven by tests/serve/test_serve.py (Python 3, standard library only), their outputs
# read back with Debian's ffprobe and ffmpeg. AFMPEG_CLI names the program (default
# build/afmpeg). Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
here=$(dirname "$(realpath "$0")")
AFMPEG_CLI=$(realpath -m "${AFMPEG_CLI:-build/afmpeg}")
export AFMPEG_CLI
for tool in python3 ffmpeg ffprobe; do
    command -v "$tool" > /dev/null || { echo "FAIL $tool is not installed"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$AFMPEG_CLI" ] || { echo "FAIL no program $AFMPEG_CLI"; echo "0 passed, 1 failed"; exit 1; }
# The script bounds each wait itself; this is the backstop. Killed, it cannot print its closing
# line, so that one is written here from the lines it printed.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout -k 10 240 python3 -u "$here/test_serve.py" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if ! tail -n1 "$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
    echo "FAIL the test script ended without its summary (exit $rc)"
    echo "$(grep -c '^ok ' "$log") passed, $(($(grep -c '^FAIL ' "$log") + 1)) failed"
    exit 1
fi
exit "$rc"
