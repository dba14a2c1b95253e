#!/usr/bin/env bash
# The public header compiles alone, warning-free, as C99, C11 and C++11 (strict, pedantic), its
# _INIT macros name every field, and it declares nothing outside the afmpeg_/AFMPEG_ namespace.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every options struct's _INIT macro is used, so -Wextra (-Wmissing-field-initializers) fails
# the build when a field is appended to a struct and not to its macro.
cat > "$tmp/h.c" <<'EOF_C'
#include "afmpeg.h"
int main(void)
{
    afmpeg_limits l = AFMPEG_LIMITS_INIT;
    afmpeg_runtime_options r = AFMPEG_RUNTIME_OPTIONS_INIT;
    afmpeg_job_options j = AFMPEG_JOB_OPTIONS_INIT;
    afmpeg_frames_options f = AFMPEG_FRAMES_OPTIONS_INIT;
    (void)l; (void)r; (void)j; (void)f;
    return afmpeg_version_number() == AFMPEG_VERSION_NUMBER ? 0 : 1;
}
EOF_C
cp "$tmp/h.c" "$tmp/h.cpp"
passed=0 failed=0
check() { # name, command...
    local name=$1; shift
    if "$@" > "$tmp/log" 2>&1; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; cat "$tmp/log"; fi
}
for std in c99 c11; do
    for cc in gcc clang-19; do
        command -v $cc >/dev/null || continue
        check "$cc -std=$std" $cc -std=$std -Wall -Wextra -pedantic -Werror -I"$top/include" -c "$tmp/h.c" -o "$tmp/h.o"
    done
done
check "g++ -std=c++11" g++ -std=c++11 -Wall -Wextra -pedantic -Werror -I"$top/include" -c "$tmp/h.cpp" -o "$tmp/h.o"
# Every macro the header defines starts with AFMPEG_ (or afmpeg_).
names=$(gcc -E -dD -I"$top/include" "$tmp/h.c" 2>/dev/null |
        awk '/^# [0-9]+ ".*afmpeg\.h"/{inh=1; next} /^# [0-9]+ "/{inh=0} inh' |
        sed -n 's/^#define \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' | grep -vE '^(AFMPEG_|afmpeg_)' | sort -u)
check "macros only in the AFMPEG_ namespace" test -z "$names"
[ -n "$names" ] && echo "outside the namespace: $names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
