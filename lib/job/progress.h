/* Internal: FFmpeg's -progress reports (key=value lines, a block ending "progress=continue" or
 * "progress=end") turned into afmpeg_progress callbacks. */
#ifndef AFM_PROGRESS_H
#define AFM_PROGRESS_H

#include <stddef.h>
#include "afmpeg.h"

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
/* The last call, after the job ended with exit code 0: fraction 1, done 1. */
void afm_progress_finish(afm_progress *p);

#endif
