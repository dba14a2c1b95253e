/* Internal: the built-in fonts, seen by every job at /.afmpeg/fonts (see fonts.c). */
#ifndef AFM_FONTS_H
#define AFM_FONTS_H

#include <stddef.h>
#include "fs/fs.h"

/* The directory, as a normalised path from the job's root (module/patches/ffmpeg/0004 names the
 * same: /.afmpeg/fonts, and DejaVuSans.ttf in it as the default font). */
#define AFM_FONTS_DIR ".afmpeg/fonts"

/* A filesystem showing `base` with the fonts directory on top. It owns nothing and needs no
 * freeing: it lives as long as the struct (a job's stack frame), `base` longer. */
typedef struct afm_fonts_view {
    afmpeg_fs fs;     /* give &view.fs to the job */
    afmpeg_fs *base;
} afm_fonts_view;

void afm_fonts_view_init(afm_fonts_view *v, afmpeg_fs *base);
/* How many font files are built in. */
size_t afm_fonts_count(void);

#endif
