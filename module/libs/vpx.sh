# libvpx: VP8 and VP9 encoding (FFmpeg's libvpx_vp8 and libvpx_vp9 encoders). Encoders only:
# FFmpeg's native vp8 and vp9 decoders decode. 8-bit only (no --enable-vp9-highbitdepth). Plain C
# (target generic-gnu: no asm, no run-time CPU detection), no threads (VP8 ignores FFmpeg's
# thread count; VP9 runs its tile workers in turn on the caller's thread), no tools, examples,
# tests or docs. Its configure is not autoconf: the toolchain comes from CC/CXX/AR/LD/... in the
# environment. Without $COMPAT it finds no pthread.h, so vpx.pc asks for no -lpthread.
. "$MODULE_DIR/libs/common.sh"
apply_patches vpx
CC="$WCC" CXX="$WCXX" LD="$WCC" AR="$AR" NM="$NM" STRIP="$STRIP" RANLIB="$RANLIB" \
./configure --target=generic-gnu --prefix="$PREFIX" \
    --disable-shared --enable-static --disable-multithread --disable-runtime-cpu-detect \
    --disable-vp8-decoder --disable-vp9-decoder \
    --disable-examples --disable-tools --disable-docs --disable-unit-tests \
    --disable-install-bins --disable-install-srcs --disable-webm-io --disable-libyuv
make -j"$JOBS"
make install
