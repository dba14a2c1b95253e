#!/usr/bin/env bash
# kernels.sh — the guest's hand-written WebAssembly SIMD kernels (module/patches/*/) give the same
# results as the C they replace, on random and extreme blocks.
#
# The kernels are compiled only for the guest, so the bench and decode-parity tests see them
# only through whole encodes. Here each kernel is taken from its patched source file (the block
# under `#if defined(__wasm_simd128__)`) and the C it replaces from the unpatched one (the same
# pinned Debian sources the build uses, which module/fetch.sh puts in $CACHE/src if missing), both
# compiled for the host with simde's implementation of <wasm_simd128.h>, and run side by side.
# Checked: openh264's SAD 8x8..16x16 and SATD 4x4, swscale's yuv2planeX_8_c/yuv2plane1_8_c, the
# H.264 decoder's 8-wide chroma MC and full-pel copies (their C is FFmpeg's templates, included
# at 8 bits).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mod=$here/../../module
. "$mod/versions.env"
CACHE=${AFMPEG_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/afmpeg}
src=$CACHE/src
if ! "$mod/fetch.sh" "$src" >&2; then
    echo "kernels: cannot fetch the sources"; echo "0 passed, 1 failed"; exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The unpatched and patched files.
mkdir -p "$work/orig" "$work/patched" "$work/shim"
copy() { # copy PKG FILE...
    local pkg=$1; shift
    for f in "$@"; do
        mkdir -p "$work/orig/$pkg/$(dirname "$f")"
        cp "$src/$pkg/$f" "$work/orig/$pkg/$f"
    done
    cp -a "$work/orig/$pkg" "$work/patched/$pkg"
}
copy "$OPENH264_PKG" codec/common/src/sad_common.cpp codec/encoder/core/src/sample.cpp
copy "$FFMPEG_PKG" libswscale/output.c libavcodec/h264chroma.c libavcodec/h264qpel.c
# The kernel patches (ffmpeg's 0001 is not a kernel: it touches a file not copied here).
patch -s -p1 -d "$work/patched/$OPENH264_PKG" \
    < "$mod/patches/openh264/0001-wasm-simd-sad-satd.patch"
for p in 0002-wasm-simd-swscale-vertical-output 0003-wasm-simd-h264-chroma-mc8-and-copies; do
    patch -s -p1 -d "$work/patched/$FFMPEG_PKG" < "$mod/patches/ffmpeg/$p.patch"
done
printf '#define SIMDE_ENABLE_NATIVE_ALIASES\n#include <simde/wasm/simd128.h>\n' \
    > "$work/shim/wasm_simd128.h"
# FFmpeg's headers want the ones configure writes: x86 values for libavutil/avconfig.h, and an
# empty config.h (every ARCH_/HAVE_ test false: the templates' plain C).
mkdir -p "$work/shim/libavutil"
printf '#define AV_HAVE_BIGENDIAN 0\n#define AV_HAVE_FAST_UNALIGNED 1\n' \
    > "$work/shim/libavutil/avconfig.h"
: > "$work/shim/config.h"

# Cut the functions out: extract FILE NAME... prints each named function of FILE (signature to its
# closing brace); wasm FILE prints the first `#if defined(__wasm_simd128__)` block of FILE (to its
# #else or #endif) without its include and namespace lines.
cat > "$work/cut.py" <<'EOF'
import re, sys
mode, path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(path).read()
if mode == "wasm":
    start = text.index("#if defined(__wasm_simd128__)")
    end = min(i for i in (text.find("\n#else", start), text.find("\n#endif", start)) if i >= 0)
    for line in text[start:end].splitlines()[1:]:
        if not re.match(r"\s*(#include <wasm_simd128.h>|} // namespace|namespace \w+ \{)", line):
            print(line)
    sys.exit(0)
for name in names:
    m = re.search(r"^[^\n;{}]*\b" + re.escape(name) + r"\s*\([^;{]*\{", text, re.M)
    if not m:
        sys.exit("no function %s in %s" % (name, path))
    depth, i = 0, m.end() - 1
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            break
    print(text[m.start():i] + "\n")
EOF
cut() { python3 "$work/cut.py" "$@"; }
o=$work/orig/$OPENH264_PKG p=$work/patched/$OPENH264_PKG
f=$work/orig/$FFMPEG_PKG q=$work/patched/$FFMPEG_PKG
sads="WelsSampleSad8x8_c WelsSampleSad16x8_c WelsSampleSad8x16_c WelsSampleSad16x16_c"
{
    echo '#include <stdint.h>'
    echo '#include <stddef.h>'
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    echo '#include <string.h>'
    echo '#include <wasm_simd128.h>'
    echo '#include "typedefs.h"'
    echo '#include "macros.h"'
    echo '#include "libavutil/common.h"'
    echo 'namespace ref {'
    cut extract "$o/codec/common/src/sad_common.cpp" $sads
    cut extract "$o/codec/encoder/core/src/sample.cpp" WelsSampleSatd4x4_c
    cut extract "$f/libswscale/output.c" yuv2planeX_8_c yuv2plane1_8_c
    echo '#define BIT_DEPTH 8'
    echo '#include "libavcodec/h264chroma_template.c"'
    echo '#undef BIT_DEPTH'
    echo '#define pixeltmp int16_t'
    echo '#define BIT_DEPTH 8'
    echo '#include "libavcodec/h264qpel_template.c"'
    echo '}'
    echo 'namespace simd {'
    cut wasm "$p/codec/common/src/sad_common.cpp"
    cut wasm "$p/codec/encoder/core/src/sample.cpp"
    cut wasm "$q/libswscale/output.c"
    cut wasm "$q/libavcodec/h264chroma.c"
    cut wasm "$q/libavcodec/h264qpel.c"
    echo '}'
    cat "$here/kernels_main.inc"
} > "$work/kernels.cpp"
g++ -std=gnu++17 -O2 -march="${HOST_MARCH:-x86-64-v2}" -w -fpermissive \
    -I"$work/shim" -I"$src/$OPENH264_PKG/codec/common/inc" -I"$src/$OPENH264_PKG/codec/api/wels" \
    -I"$src/$FFMPEG_PKG" "$work/kernels.cpp" -o "$work/kernels"
"$work/kernels"
