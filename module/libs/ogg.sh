# libogg: the Ogg container bitstream library, for libvorbis (FFmpeg's own Ogg (de)muxer does not
# need it). Only the library, its headers and ogg.pc: no tests, no docs.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-dependency-tracking --disable-silent-rules --disable-maintainer-mode
make -C src -j"$JOBS" libogg.la
make -C src install-libLTLIBRARIES
make -C include install
make install-pkgconfigDATA
rm -f "$PREFIX"/lib/*.la
