#!/usr/bin/env bash
# link.sh FFMPEG_BUILD_DIR OUT.wasm — links ffmpeg and ffprobe into one multi-call module.
# The two tools define the same four globals (main, program_name, program_birth_year,
# show_help_default); each tool's sources are compiled again with those renamed to afm_<tool>_*,
# the shared fftools sources with them renamed to afm_*, which main.c defines and dispatches.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:?usage: link.sh FFMPEG_BUILD_DIR OUT.wasm}
out=${2:?usage: link.sh FFMPEG_BUILD_DIR OUT.wasm}
cd "$src"
var() { # the value of FFmpeg's configured make variables
    make -s --no-print-directory -f - print <<MK
include ffbuild/config.mak
print:
	@echo \$($1)
MK
}
CC=$(var CC)
CFLAGS="-I. $(var CPPFLAGS) $(var CFLAGS)"
LDFLAGS="$(var LDFLAGS) $(var LDEXEFLAGS)"
LIBS=$(var 'foreach l,avfilter avformat avcodec swresample swscale avutil,$(EXTRALIBS-$(l))')
LIBS="$LIBS $(var EXTRALIBS)"
obj=multicall-obj
rm -rf "$obj"; mkdir -p "$obj"

renames() { # prefix
    echo "-Dmain=$1main -Dprogram_name=$1program_name -Dprogram_birth_year=$1program_birth_year" \
         "-Dshow_help_default=$1show_help_default"
}
compile() { # source object extra-flags...
    local s=$1 o=$2; shift 2
    $CC $CFLAGS -Wno-missing-prototypes -Wno-error=missing-prototypes -Wno-unused-variable "$@" \
        -c "$s" -o "$obj/$o"
}
for f in ffmpeg ffmpeg_opt ffmpeg_filter ffmpeg_hw ffmpeg_mux; do
    compile "fftools/$f.c" "$f.o" $(renames afm_ffmpeg_)
done
compile fftools/ffprobe.c ffprobe.o $(renames afm_ffprobe_)
for f in cmdutils opt_common; do
    compile "fftools/$f.c" "$f.o" $(renames afm_)
done
compile "$here/main.c" main.o -fno-finite-loops

$CC $LDFLAGS -o "$out" "$obj"/*.o \
    libavfilter/libavfilter.a libavformat/libavformat.a libavcodec/libavcodec.a \
    libswresample/libswresample.a libswscale/libswscale.a libavutil/libavutil.a $LIBS
