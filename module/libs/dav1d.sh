# dav1d: AV1 decoding (FFmpeg's libdav1d decoder; FFmpeg 5.1 has no native AV1 software decoder).
# 8- and 16-bit pixel code both (-Dbitdepths default: 10-bit AV1 is common). No asm (none for
# wasm; clang's -msimd128 vectorises the C), no CLI tools, tests or docs. Single-threaded: the
# patches drop meson's -pthread and keep dav1d to the caller's thread (they say why); its thread
# code compiles against module/compat's pthread.h and is never entered.
. "$MODULE_DIR/libs/common.sh"
apply_patches dav1d
wasm_meson -Denable_asm=false -Denable_tools=false -Denable_tests=false -Denable_examples=false \
    -Denable_docs=false -Dxxhash_muxer=disabled
