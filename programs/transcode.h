/* What `afmpeg transcode` and `afmpeg serve`'s /v1/transcode share (programs/transcode.c). */
#ifndef AFMPEG_TRANSCODE_H
#define AFMPEG_TRANSCODE_H

#include <stddef.h>
#include "afmpeg.h"

/* A transcode as its flags give it. NULL strings and has_* 0 are "not given". After tx_settle()
 * vcodec and acodec may be "-": that kind of stream is dropped. Strings are borrowed. */
typedef struct tx_spec {
    const char *vcodec, *acodec, *scale, *bitrate, *abitrate, *crf, *preset;
    double start, duration;
    int has_start, has_duration;
} tx_spec;

/* libx264's presets, NULL-terminated. */
extern const char *const tx_x264_presets[];
/* 1 when `s` is in the NULL-terminated `list`. */
int tx_in_list(const char *const *list, const char *s);
/* W:H with each side a positive integer, 0 (the input's) or -1..-16 (follows the aspect ratio,
 * divisible by that); not both following. */
int tx_valid_scale(const char *s);
/* A bit rate as FFmpeg takes it: a positive number with an optional k, M or G. */
int tx_valid_bitrate(const char *s);
/* Fills in the default codecs for an output with extension `ext` (lower case, no dot) and checks
 * the spec against them and the module of `rt`. 0, or -1 with the reason in msg (naming the
 * flags as the CLI spells them: "--crf"). */
int tx_settle(tx_spec *o, const char *ext, afmpeg_runtime *rt, char *msg, size_t cap);
/* Builds the command reading in_guest and writing out_guest: AFMPEG_OK and *out, or the first
 * setter's error (*out NULL). */
int tx_build(const tx_spec *o, const char *in_guest, const char *out_guest, afmpeg_command **out);

#endif
