#!/usr/bin/env bash
# tests/fate/run.sh [OPTIONS] [fate-TEST...] — FFmpeg's own test suite (FATE, the tests that need
# no external samples) on the native no-asm build and through the sandbox. See README.md.
#
#   --fast           only the tests in fast.txt, and only the sandbox side (unless --both)
#   --native | --sandbox | --both
#                    which side(s) to run (default: both; with --fast: sandbox)
#   --cli AFMPEG     the afmpeg CLI (default: $AFMPEG_CLI, else build/afmpeg)
#   --out DIR        logs, per-side results and failure details (default: fate/, or
#                    fate-fast/ with --fast, next to the CLI: build/fate)
#   --jobs N         make -j for FATE (default: $JOBS, else nproc)
#   fate-TEST...     run these tests instead of the whole suite or fast.txt
#
# Per side, prints "SIDE: N passed, N failed (T tests, S s)". Failures listed in
# expected-failures.txt (with the side they are expected on and the reason) are expected; the
# last line counts passes and unexpected failures over the sides run, "N passed, N failed", for
# tests/run.sh. Exits 1 if a test failed that the list does not expect.
set -uo pipefail
# The whole script is one function, read before it runs: editing this file does not disturb a
# run in progress.
main() {
# Possibly run by make: FFmpeg's make must not inherit its flags, variables or jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fast=0 side= cli=${AFMPEG_CLI:-$repo/build/afmpeg} out= jobs=${JOBS:-$(nproc)}
picked=()
while [ $# -gt 0 ]; do
    case $1 in
        --fast) fast=1 ;;
        --native | --sandbox | --both) side=${1#--} ;;
        --cli) cli=${2:?--cli needs a path}; shift ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --jobs) jobs=${2:?--jobs needs a number}; shift ;;
        fate-*) picked+=("$1") ;;
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "fate: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$side" ] || { [ $fast = 1 ] && side=sandbox || side=both; }
[ -n "$out" ] || out=$(dirname "$cli")/fate$([ $fast = 1 ] && echo -fast)
case $side in both) sides="native sandbox" ;; *) sides=$side ;; esac
log() { echo "fate: $*" >&2; }

if [[ " $sides " == *" sandbox "* ]]; then
    [ -x "$cli" ] || { log "no afmpeg CLI at '$cli' (make, or --cli)"; exit 2; }
    cli=$(cd "$(dirname "$cli")" && pwd -P)/$(basename "$cli")
fi
tree=$("$here/tree.sh") || { log "could not build the FATE tree"; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)

# One FATE run at a time in a tree: both sides write tests/data there.
exec 8>"$tree/../.run.lock"
flock -n 8 || { log "waiting for another FATE run in $tree"; flock 8; }

# The tests: FATE's own list for this configuration (CONFIG_* dependencies applied), or a part.
mapfile -t suite < <(cd "$tree" && make -s --no-print-directory fate-list | grep '^fate-')
[ ${#suite[@]} -gt 0 ] || { log "'make fate-list' listed nothing"; exit 2; }
tests=()
if [ ${#picked[@]} -gt 0 ]; then
    tests=("${picked[@]}")
elif [ $fast = 1 ]; then
    declare -A have=()
    for t in "${suite[@]}"; do have[$t]=1; done
    while read -r t _; do
        case $t in '' | '#'*) continue ;; esac
        if [ -n "${have[$t]:-}" ]; then tests+=("$t")
        else log "fast.txt: $t is not in this configuration's suite, skipped"; fi
    done < "$here/fast.txt"
else
    tests=("${suite[@]}")
fi

# expected-failures.txt: "fate-TEST SIDE REASON...", SIDE "sandbox" (fails only there) or
# "both" (fails on the native build too).
declare -A expect=()
while read -r t where _; do
    case $t in '' | '#'*) continue ;; esac
    expect[$t]=$where
done < "$here/expected-failures.txt"

total_pass=0 total_unexpected=0 total_expected=0
declare -A failed_on=()
for s in $sides; do
    # Every side generates its inputs afresh (some are made by ffmpeg itself).
    rm -rf "$tree/tests/data" "$tree/tests/vsynth1" "$out/$s" "$out/$s.txt"
    mkdir -p "$out/$s"
    texec=()
    rm -f "$out/$s.trace"
    [ "$s" = sandbox ] &&
        texec=("TARGET_EXEC=$here/exec.sh $cli" "AFMPEG_FATE_TRACE=$out/$s.trace")
    log "$s: ${#tests[@]} tests, make -k -j$jobs (log: $out/$s.log)"
    t0=$(date +%s%N)
    ( cd "$tree" && make -k -j"$jobs" --no-print-directory "${texec[@]}" "${tests[@]}" ) \
        > "$out/$s.log" 2>&1 < /dev/null
    secs=$(( ($(date +%s%N) - t0 + 500000000) / 1000000000 ))
    # The tests that ran ffmpeg or ffprobe in the sandbox (exec.sh's trace); the others ran
    # only native unit-test programs.
    declare -A boxed=()
    if [ -f "$out/$s.trace" ]; then
        while read -r t _; do boxed[$t]=1; done < "$out/$s.trace"
    fi
    pass=0 fail=0 bpass=0 bfail=0
    for t in "${tests[@]}"; do
        rep=$tree/tests/data/fate/${t#fate-}.rep
        if [ -f "$rep" ]; then status=$(cut -d: -f2 "$rep"); else status=not-run; fi
        kind=unit
        [ -n "${boxed[$t]:-}" ] && kind=sandboxed
        if [ "$status" = 0 ]; then
            pass=$((pass + 1)); echo "$t pass $kind" >> "$out/$s.txt"
            [ $kind = sandboxed ] && bpass=$((bpass + 1))
            continue
        fi
        fail=$((fail + 1)); echo "$t fail:$status $kind" >> "$out/$s.txt"
        [ $kind = sandboxed ] && bfail=$((bfail + 1))
        failed_on[$t]="${failed_on[$t]:-}$s "
        for f in err diff; do
            [ -f "$tree/tests/data/fate/${t#fate-}.$f" ] &&
                cp "$tree/tests/data/fate/${t#fate-}.$f" "$out/$s/"
        done
        w=${expect[$t]:-}
        if [ "$w" = both ] || { [ "$w" = sandbox ] && [ "$s" = sandbox ]; }; then
            total_expected=$((total_expected + 1))
        else
            total_unexpected=$((total_unexpected + 1))
            echo "UNEXPECTED FAILURE ($s): $t (status $status; $out/$s/${t#fate-}.err)"
        fi
    done
    total_pass=$((total_pass + pass))
    { printf '%s: %d passed, %d failed (%d tests, %d s)\n' "$s" $pass $fail ${#tests[@]} "$secs"
      [ "$s" = native ] ||
          printf 'sandbox: of these, %d ran ffmpeg/ffprobe in the sandbox: %d passed, %d failed\n' \
              $((bpass + bfail)) $bpass $bfail; } | tee "$out/$s.summary"
done

if [ "$side" = both ]; then
    only=()
    for t in "${!failed_on[@]}"; do [ "${failed_on[$t]}" = "sandbox " ] && only+=("$t"); done
    names=$(printf '%s\n' "${only[@]}" | sort | xargs)
    echo "sandbox-only failures: ${#only[@]}${names:+ ($names)}"
    # A test that fails on both sides must fail the same way: its difference from the
    # reference (less the two file-name lines) must be the same, or the sandbox changed it.
    for t in "${!failed_on[@]}"; do
        [ "${failed_on[$t]}" = "native sandbox " ] || continue
        n=${t#fate-}
        if ! cmp -s <(grep -sv '^[-+][-+][-+] ' "$out/native/$n.diff") \
                    <(grep -sv '^[-+][-+][-+] ' "$out/sandbox/$n.diff"); then
            total_unexpected=$((total_unexpected + 1))
            [ -n "${expect[$t]:-}" ] && total_expected=$((total_expected - 1))
            echo "UNEXPECTED: $t fails on both sides, differently:" \
                "diff $out/native/$n.diff $out/sandbox/$n.diff"
        fi
    done
fi
# A listed test that passes where it is expected to fail: the list can shrink.
for t in "${tests[@]}"; do
    w=${expect[$t]:-}
    [ -n "$w" ] || continue
    for s in $sides; do
        if [ "$w" = both ] || [ "$s" = sandbox ]; then
            [[ " ${failed_on[$t]:-} " == *" $s "* ]] ||
                echo "note: $t passed on the $s side, expected-failures.txt says it fails"
        fi
    done
done
[ $total_expected -eq 0 ] ||
    echo "$total_expected expected failures (tests/fate/expected-failures.txt)"
echo "$total_pass passed, $total_unexpected failed"
[ $total_unexpected -eq 0 ]
}
main "$@"
exit
