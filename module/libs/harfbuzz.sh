# harfbuzz: OpenType text shaping, for libass (Arabic joining, Indic reordering, ligatures,
# kerning). C++, compiled from the amalgamated src/harfbuzz.cc upstream ships (BUILD.md), one unit
# instead of meson's sixty (30 s of CPU instead of 100): no threads (HB_NO_MT); no glib, ICU,
# graphite, cairo or FreeType integration (libass hands harfbuzz the font data itself, and there is
# no freetype<->harfbuzz cycle); and, without a config.h, no mmap and no atexit. With two jobs or
# more the units it includes are compiled as two halves side by side (hb-ot-layout.cc, the
# largest, starts the second), about a third quicker on two cores than the single unit. The C++
# flags are upstream's meson.build's (no exceptions, RTTI or thread-safe statics). The library
# calls nothing of the C++ runtime today, but the .pc names libc++/libc++abi for the final link,
# which is C.
. "$MODULE_DIR/libs/common.sh"
ver=6.0.0
grep -q "#define HB_VERSION_STRING \"$ver\"" src/hb-version.h || { echo "harfbuzz.sh: not $ver"; exit 1; }
cd src
hb_cxx() { # unit.cc
    $WCXX -O2 $COMPAT -fno-exceptions -fno-rtti -fno-threadsafe-statics \
        -fvisibility-inlines-hidden -DHB_NO_MT -I. -c "$1" -o "${1%.cc}.o"
}
if [ "$JOBS" -ge 2 ]; then
    grep '^#include "' harfbuzz.cc > all.inc
    grep -q '"hb-ot-layout.cc"' all.inc
    sed '/"hb-ot-layout.cc"/,$d' all.inc > afm-hb-1.cc
    sed -n '/"hb-ot-layout.cc"/,$p' all.inc > afm-hb-2.cc
    [ "$(cat afm-hb-1.cc afm-hb-2.cc | wc -l)" = "$(wc -l < all.inc)" ]
    hb_cxx afm-hb-1.cc & p1=$!
    hb_cxx afm-hb-2.cc & p2=$!
    wait $p1; wait $p2
    objs="afm-hb-1.o afm-hb-2.o"
else
    hb_cxx harfbuzz.cc
    objs=harfbuzz.o
fi
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include/harfbuzz"
$AR rcs "$PREFIX/lib/libharfbuzz.a" $objs
# The public headers meson installs (hb_base_headers, with hb-version.h), and hb-features.h saying
# that none of the optional integrations is built.
hdrs=$(sed -n "/^hb_base_headers = files(/,/^)/s/^ *'\(.*\.hh*\)',*$/\1/p" meson.build)
[ -n "$hdrs" ]
cp $hdrs hb-version.h "$PREFIX/include/harfbuzz/"
sed 's|^#mesondefine \(.*\)$|/* #undef \1 */|' hb-features.h.in > "$PREFIX/include/harfbuzz/hb-features.h"
printf 'prefix=%s\nName: harfbuzz\nDescription: HarfBuzz text shaping library\nVersion: %s\nLibs: -L${prefix}/lib -lharfbuzz\nLibs.private: -lc++ -lc++abi -lm\nCflags: -I${prefix}/include/harfbuzz\n' \
    "$PREFIX" "$ver" > "$PREFIX/lib/pkgconfig/harfbuzz.pc"
