# zlib: compressed PNG, TIFF, Matroska tracks, FLV screen video; freetype's compressed fonts.
. "$MODULE_DIR/libs/common.sh"
for f in adler32 compress crc32 deflate infback inffast inflate inftrees trees uncompr zutil; do
    $WCC -O2 -w -D_LARGEFILE64_SOURCE=1 -c $f.c -o $f.o
done
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include"
$AR rcs "$PREFIX/lib/libz.a" ./*.o
cp zlib.h zconf.h "$PREFIX/include/"
printf 'prefix=%s\nName: zlib\nDescription: zlib\nVersion: 1.2.13\nLibs: -L${prefix}/lib -lz\nCflags: -I${prefix}/include\n' \
    "$PREFIX" > "$PREFIX/lib/pkgconfig/zlib.pc"
