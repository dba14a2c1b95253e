# lame: the MP3 encoder for FFmpeg's libmp3lame wrapper. Only libmp3lame and lame/lame.h: no
# frontend, no mpglib decoder (FFmpeg decodes MP3 itself), no docs.
# lame's configure turns on its IEEE-754 float tricks (TAKEHIRO_IEEE754_HACK, USE_FAST_LOG) for
# x86 only; wasm32's floats are IEEE-754 little-endian too, so the guest gets them as Debian's
# amd64 build does (about 5% faster encoding under V8). -O2, not the -O3 lame's configure picks
# for clang: measured under V8, -O3 was no faster and its code 8% larger.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-dependency-tracking --disable-silent-rules --disable-frontend \
    --disable-decoder --disable-gtktest --disable-rpath --disable-cpml \
    CPPFLAGS="-DTAKEHIRO_IEEE754_HACK=1 -DUSE_FAST_LOG=1"
make -C libmp3lame -j"$JOBS" libmp3lame.la
make -C libmp3lame install-libLTLIBRARIES
make -C include install-pkgincludeHEADERS
rm -f "$PREFIX"/lib/*.la
# lame installs no .pc (Debian's patch adds one to the automake files, which are not regenerated
# here): the same one, with the static link's -lm. FFmpeg's configure finds lame without it.
mkdir -p "$PREFIX/lib/pkgconfig"
cat > "$PREFIX/lib/pkgconfig/lame.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: lame
Description: high quality MPEG Audio Layer III (MP3) encoder library
Version: $(sed -n 's/^PACKAGE_VERSION=.\([0-9.]*\).*/\1/p' configure)
Libs: -L\${libdir} -lmp3lame
Libs.private: -lm
Cflags: -I\${includedir}/lame -I\${includedir}
PC
