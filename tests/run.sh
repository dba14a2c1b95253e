#!/usr/bin/env bash
# run.sh SUITE... — runs each test suite (a cmocka program or a script) with a time limit, then
# prints one closing line counting the tests of all suites: "N passed, N failed".
# TEST_WRAPPER (e.g. "valgrind -q --error-exitcode=99") is put in front of each cmocka program.
set -u
passed=0 failed=0 broken=()
for suite in "$@"; do
    echo "=== $suite"
    log=$(mktemp)
    case "$suite" in
        *.sh) timeout 900 bash "$suite" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]} ;;
        *)    timeout 900 ${TEST_WRAPPER:-} "$suite" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]} ;;
    esac
    # cmocka: "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s), ..."; scripts: "N passed, N failed".
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p; s/^\([0-9]*\) passed, [0-9]* failed$/\1/p' "$log" | tail -n1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p; s/^[0-9]* passed, \([0-9]*\) failed$/\1/p' "$log" | tail -n1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        broken+=("$suite (exit $rc)")
        [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo
for b in "${broken[@]}"; do echo "FAILED SUITE: $b"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
