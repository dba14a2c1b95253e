# fribidi: the Unicode bidirectional algorithm, for libass (right-to-left text) and drawtext's
# text_shaping. The library's sources compiled directly (like zlib.sh): the release ships its
# Unicode tables generated (lib/*.tab.i, fribidi-unicode-version.h), so neither its configure nor
# meson's build of the table generators and tools is needed; only fribidi-config.h is made here.
. "$MODULE_DIR/libs/common.sh"
ver=1.0.8  # checked against meson.build's project version
grep -q "version: '$ver'" meson.build || { echo "fribidi.sh: not fribidi $ver"; exit 1; }
sed -e "s/@PACKAGE@/fribidi/; s/@PACKAGE_NAME@/GNU FriBidi/; s/@PACKAGE_BUGREPORT@//" \
    -e "s/@FRIBIDI_VERSION@/$ver/; s/@FRIBIDI_MAJOR_VERSION@/${ver%%.*}/" \
    -e "s/@FRIBIDI_MINOR_VERSION@/$(echo $ver | cut -d. -f2)/; s/@FRIBIDI_MICRO_VERSION@/${ver##*.}/" \
    -e "s/@FRIBIDI_INTERFACE_VERSION@/4/g; s/@SIZEOF_INT@/4/" \
    -e "s|@FRIBIDI_MSVC_BUILD_PLACEHOLDER@|#undef FRIBIDI_BUILT_WITH_MSVC|; s|@configure_input@|made by module/libs/fribidi.sh|" \
    lib/fribidi-config.h.in > lib/fribidi-config.h
! grep -n @ lib/fribidi-config.h
srcs=$(sed -n "/^fribidi_sources = \[/,/^\]/s/^ *'\(.*\.c\)',*$/\1/p" lib/meson.build)
[ -n "$srcs" ]
printf '%s\n' $srcs | xargs -P "$JOBS" -I{} $WCC -O2 $COMPAT -w -Ilib \
    -DHAVE_STDLIB_H=1 -DHAVE_STRING_H=1 -DHAVE_STRINGIZE=1 -DHAVE_MEMMOVE=1 -DHAVE_MEMSET=1 \
    -DHAVE_STRDUP=1 -DSTDC_HEADERS=1 -DFRIBIDI_ENTRY=extern -c lib/{} -o lib/{}.o
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include/fribidi"
$AR rcs "$PREFIX/lib/libfribidi.a" $(printf 'lib/%s.o ' $srcs)
hdrs=$(sed -n "/^fribidi_headers = files(/,/^)/s/^ *'\(.*\.h\)',*$/\1/p" lib/meson.build)
cp $(printf 'lib/%s ' $hdrs) lib/fribidi-config.h lib/fribidi-unicode-version.h \
   "$PREFIX/include/fribidi/"
printf 'prefix=%s\nName: GNU FriBidi\nDescription: Unicode Bidirectional Algorithm Library\nVersion: %s\nLibs: -L${prefix}/lib -lfribidi\nCflags: -I${prefix}/include/fribidi\n' \
    "$PREFIX" "$ver" > "$PREFIX/lib/pkgconfig/fribidi.pc"
