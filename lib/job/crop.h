/* Internal: cropdetect on a module without it (crop.c says how). */
#ifndef AFM_CROP_H
#define AFM_CROP_H

#include <stddef.h>
#include "afmpeg.h"
#include "job/command.h"

typedef struct afm_crop afm_crop;

/* 1 when the module has no cropdetect but has bbox, so afmpeg runs bbox in cropdetect's place;
 * 0 when the module has cropdetect (or neither: the usual check then fails); or a negative
 * afmpeg_error when the module's lists could not be read. */
int afm_crop_emulated(afmpeg_runtime *rt);

/* Checks the options of every cropdetect in a filter graph for the bbox route: 0, or -1 with
 * the reason in err. */
int afm_crop_check(const char *graph, char *err, size_t cap);

/* Rewrites the filter strings of a rendered argv (the values of -filter_complex and -filter:X)
 * with bbox in place of each cropdetect, and returns in *out the state that turns bbox's lines
 * back into cropdetect's (NULL when the argv names no cropdetect). 0 or AFMPEG_ENOMEM. */
int afm_crop_prepare(afm_strv *argv, afm_crop **out);

/* One line of ffmpeg's stderr: 1 when it is one of the rewritten bbox's lines, with msg set to
 * the message cropdetect would have logged for that frame (without its "[...] " prefix), or to ""
 * when cropdetect's line would carry no box yet; else 0. */
int afm_crop_line(afm_crop *c, const char *line, char *msg, size_t cap);

void afm_crop_free(afm_crop *c);

#endif
