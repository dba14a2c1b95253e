# libass: ASS/SSA subtitle rendering, for the subtitles and ass filters. freetype, fribidi and
# harfbuzz (the libraries built before it) for glyphs, bidi and shaping; no fontconfig or other
# system font provider: fonts come from the subtitles' embedded fonts, a fonts directory and the
# default font the caller gives (ass_set_fonts_dir, ass_set_fonts). No asm, no libunibreak.
. "$MODULE_DIR/libs/common.sh"
wasm_configure --disable-fontconfig --disable-require-system-font-provider --disable-directwrite \
    --disable-coretext --disable-libunibreak --disable-asm --disable-test --disable-compare \
    --disable-profile --disable-fuzz --disable-dependency-tracking
make -j"$JOBS" install-libLTLIBRARIES install-dist_assheadersHEADERS install-pkgconfigDATA
rm -f "$PREFIX/lib/libass.la"
