/* Internal: the job overlay (see overlay.c). */
#ifndef AFM_OVERLAY_H
#define AFM_OVERLAY_H

#include <stddef.h>
#include "afmpeg.h"

/* The directory, at the job's root, that the overlay serves from memory. */
#define AFM_OVERLAY_DIR ".afmpeg"

/* A filesystem showing `base` (borrowed; it must outlive the overlay) with a read-only
 * directory /.afmpeg of the host's files on top. Free it with afmpeg_fs_free(). */
int afm_overlay_new(afmpeg_fs *base, afmpeg_fs **out);
/* Puts the file /.afmpeg/NAME (copied) into the overlay. */
int afm_overlay_put(afmpeg_fs *overlay_fs, const char *name, const void *data, size_t len);

/* Makes /.afmpeg/NAME a directory the guest may write files in (and remove them), for pieces of
 * the job (split.c). One per overlay. */
int afm_overlay_scratch(afmpeg_fs *overlay_fs, const char *name);

#endif
