# opus: the Opus encoder and decoder for FFmpeg's libopus wrapper (FFmpeg decodes Opus itself too).
# Float build, as Debian's on x86 (no --enable-fixed-point); no custom modes (FFmpeg does not use
# them); no asm, intrinsics or run-time CPU detection (x86/ARM only); no stack protector; no
# tests, extra programs or docs. -O2 is opus's own default optimisation.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-dependency-tracking --disable-silent-rules --disable-maintainer-mode \
    --disable-doc --disable-extra-programs --disable-asm --disable-intrinsics --disable-rtcd \
    --disable-stack-protector
make -j"$JOBS" libopus.la
make install-libLTLIBRARIES install-pkgincludeHEADERS install-pkgconfigDATA
rm -f "$PREFIX"/lib/*.la
