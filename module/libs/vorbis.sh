# libvorbis: the Vorbis encoder for FFmpeg's libvorbis wrapper (libvorbis and libvorbisenc;
# libvorbisfile comes along, it is small). Needs libogg (ogg.pc). No tests, examples or docs.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-dependency-tracking --disable-silent-rules --disable-docs \
    --disable-examples --disable-oggtest
make -C lib -j"$JOBS" libvorbis.la libvorbisenc.la libvorbisfile.la
make -C lib install-libLTLIBRARIES
make -C include install
make install-pkgconfigDATA
rm -f "$PREFIX"/lib/*.la
