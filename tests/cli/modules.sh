#!/usr/bin/env bash
# The CLI with modules other than the embedded one (docs/modules.md): afmpeg run FILE.wasm,
# --module, afmpeg compile, and what each says when it cannot. Uses the WASI test programs the
# Makefile builds (AFMPEG_WASI_DIR, default build/tests/wasi) and the build tree's module tools
# (AFMPEG_TOOLS_DIR, default build/tools); a fresh cache. Ends "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
wasi=$(realpath "${AFMPEG_WASI_DIR:-$(dirname "$cli")/tests/wasi}")
export AFMPEG_TOOLS_DIR=${AFMPEG_TOOLS_DIR:-$(realpath "$(dirname "$cli")/tools")}
scratch=$(mktemp -d /tmp/afmpeg-modcli-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export AFMPEG_CACHE_DIR=$scratch/cache
cd "$scratch"
cp "$wasi/prog.wasm" "$wasi/unknown_import.wasm" .
echo "from the host" > input.txt
passed=0 failed=0
check() { # NAME EXPECTED-STATUS STATUS OUTPUT-FILE GREP-PATTERN
    if [ "$3" = "$2" ] && grep -q -- "$5" "$4"; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1 (status $3, expected $2; wanted /$5/ in:)"
        sed 's/^/     /' "$4" | head -n 8
    fi
}

"$cli" run prog.wasm hello 7 a > out 2>&1
check "run: argv and exit status" 7 $? out '^argv\[0\]=prog.wasm$'
"$cli" run prog.wasm files > out 2>&1
check "run: files in the jail, escapes refused" 0 $? out '^escape: refused$'
ls "$AFMPEG_CACHE_DIR"/modules/*.so > /dev/null 2>&1
check "run: the compiled module is cached" 0 $? out 'files ok'
"$cli" --timeout 0.3 run prog.wasm loop > out 2>&1
check "run: a runaway loop stops at --timeout" 124 $? out 'deadline'
"$cli" run prog.wasm trap > out 2>&1
check "run: a trap" 70 $? out 'unreachable'
"$cli" --memory-limit 32 run prog.wasm grow > out 2>&1
check "run: --memory-limit caps growth" 0 $? out '^grew [23][0-9] MiB$'
"$cli" run unknown_import.wasm > out 2>&1
check "run: an unknown import is refused, named" 71 $? out 'env.host_magic'
"$cli" --module prog.wasm probe input.txt > out 2>&1
check "--module: FFmpeg verbs refuse another program" 1 $? out 'needs an FFmpeg module'
"$cli" --module prog.wasm ffmpeg hello 3 > out 2>&1
check "--module: ffmpeg ARGS runs the module" 3 $? out '^argv\[0\]=ffmpeg$'
"$cli" compile prog.wasm -o prog.afm > out 2>&1 && head -c 4 prog.afm >> out
check "compile: a module file (a shared object)" 0 $? out 'ELF'

AFMPEG_TOOLS_DIR=/nonexistent AFMPEG_CACHE_DIR=$scratch/empty \
    "$cli" --module prog.afm ffmpeg hello 5 > out 2>&1
check "compile: the module file loads without tools" 5 $? out 'argv\[1\]=hello'
AFMPEG_TOOLS_DIR=/nonexistent AFMPEG_CACHE_DIR=$scratch/empty "$cli" run prog.wasm > out 2>&1
check "run: no tools and nothing cached: says what is missing" 1 $? out 'AFMPEG_TOOLS_DIR'
"$cli" compile prog.wasm -o x.afm --sha256 "$(printf '0%.0s' $(seq 64))" > out 2>&1
check "compile: --sha256 mismatch refused" 71 $? out 'not the expected'
"$cli" compile prog.afm -o y.afm > out 2>&1
check "compile: a module file is not compiled again" 2 $? out 'already a compiled module'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
