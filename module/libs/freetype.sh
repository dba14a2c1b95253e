# freetype: font loading and glyph rendering, for the drawtext filter and libass. zlib (the
# library built before it) for gzip-compressed fonts; no bzip2, PNG (colour bitmap fonts), Brotli
# (WOFF2) nor HarfBuzz (harfbuzz is built after it, without freetype: no cycle). Fonts are read
# with stdio (src/base/ftsystem.c), not mmap. No setjmp in WASI: module/patches/freetype says how
# freetype does without; the gxvalid and otvalid modules (table validators for the ftvalid demo,
# enabled by Debian) longjmp throughout and are left out.
. "$MODULE_DIR/libs/common.sh"
apply_patches freetype
sed -i '/^AUX_MODULES += \(gxvalid\|otvalid\)$/d' modules.cfg
wasm_meson -Dzlib=system -Dbzip2=disabled -Dpng=disabled -Dbrotli=disabled \
    -Dharfbuzz=disabled -Dmmap=disabled -Dtests=disabled
