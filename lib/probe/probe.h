/* Internal: the typed probe (afmpeg_probe), for the other job areas (afmpeg_run_job describes
 * its outputs with it). */
#ifndef AFM_PROBE_H
#define AFM_PROBE_H

#include "afmpeg.h"

/* afmpeg_probe(), for the other job areas: ffprobe on `path` in `fs`
 * (one guest job), its JSON turned into *out (the caller frees it with
 * afmpeg_probe_result_free()). Returns AFMPEG_OK; AFMPEG_EINVAL, AFMPEG_ENOENT, AFMPEG_EACCES,
 * AFMPEG_EISDIR for a bad path; AFMPEG_EMEDIA when ffprobe cannot read the file (the message
 * ends with the tail of ffprobe's stderr); or afmpeg_run()'s error for a stopped job. On error
 * *out is NULL and afmpeg_last_error() says why. Thread-safe, like afmpeg_run(). */
int afm_probe_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                  const afmpeg_job_options *opts, afmpeg_probe_result **out);

#endif
