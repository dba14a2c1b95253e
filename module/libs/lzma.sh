# xz-utils: liblzma, for TIFF images with LZMA compression (FFmpeg's tiff decoder). Decoders only
# (FFmpeg never compresses with it), no threads, no tools, no translations.
. "$MODULE_DIR/libs/common.sh"
apply_patches lzma
wasm_configure --disable-dependency-tracking --disable-silent-rules --disable-threads \
    --disable-encoders --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo \
    --disable-lzma-links --disable-scripts --disable-doc --disable-nls
make -C src/liblzma -j"$JOBS"
make -C src/liblzma install
rm -f "$PREFIX"/lib/*.la
