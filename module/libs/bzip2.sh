# bzip2: libbz2, for Matroska tracks with bzlib content compression (FFmpeg's matroska demuxer).
# Only the library and bzlib.h; FFmpeg's configure finds it without pkg-config (-lbz2).
. "$MODULE_DIR/libs/common.sh"
for f in blocksort huffman crctable randtable compress decompress bzlib; do
    $WCC -O2 -w -D_FILE_OFFSET_BITS=64 -c $f.c -o $f.o
done
mkdir -p "$PREFIX/lib" "$PREFIX/include"
$AR rcs "$PREFIX/lib/libbz2.a" ./*.o
cp bzlib.h "$PREFIX/include/"
