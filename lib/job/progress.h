/* Internal: FFmpeg's -progress reports (key=value lines, a block ending "progress=continue" or
 * "progress=end") turned into afmpeg_progress callbacks. */
#ifndef AFM_PROGRESS_H
#define AFM_PROGRESS_H

#include <stddef.h>
#include "afmpeg.h"
#include "core/core.h"

/* Where ffmpeg writes its -progress reports: the job's sink (AFM_SINK_FD). */
#define AFM_PROGRESS_URL "pipe:4"
_Static_assert(AFM_SINK_FD == 4, "AFM_PROGRESS_URL names the sink's fd");

typedef struct afm_progress {
    afmpeg_progress_fn fn;
    void *payload;
    double total;          /* seconds of output expected, or -1 if unknown */
    afmpeg_progress cur;   /* the block being read */
    afmpeg_progress last;  /* the last block reported */
    double last_fraction;  /* reported fractions never go back */
    char line[256];
    size_t len;
    int overlong;          /* the current line did not fit: skip it */
} afm_progress;

void afm_progress_init(afm_progress *p, afmpeg_progress_fn fn, void *payload, double total);
/* An afmpeg_output_fn for the job's sink (payload: the afm_progress). Returns the callback's
 * verdict: non-zero cancels the job. */
int afm_progress_sink(const void *data, size_t len, void *payload);
/* argv with "-progress AFM_PROGRESS_URL" after argv[0], so ffmpeg reports to the sink: one
 * allocation (the strings are argv's), freed with free(); NULL when out of memory. */
const char **afm_progress_argv(const char *const *argv);
/* The last call, after the job ended with exit code 0: fraction 1, done 1. */
void afm_progress_finish(afm_progress *p);

#endif
