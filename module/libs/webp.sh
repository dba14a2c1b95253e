# libwebp: the WebP encoder for FFmpeg's libwebp and libwebp_anim wrappers (libwebp and
# libwebpmux; FFmpeg decodes WebP itself). No demux/decoder-only libraries, no threads, no
# SSE/NEON (x86/ARM only), no image readers, tools, examples or man pages.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-dependency-tracking --disable-silent-rules --enable-libwebpmux \
    --disable-libwebpdemux --disable-threading --disable-sse2 --disable-sse4.1 --disable-neon \
    --disable-neon-rtcd --disable-gl --disable-sdl --disable-png --disable-jpeg --disable-tiff \
    --disable-gif --disable-wic
make -C sharpyuv -j"$JOBS"
make -C src -j"$JOBS"
make -C src install
rm -f "$PREFIX"/lib/*.la
