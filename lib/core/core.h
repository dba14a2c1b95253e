/* Internal: what the job areas (lib/job, lib/probe, lib/frames) need of the runtime and pool. */
#ifndef AFM_CORE_H
#define AFM_CORE_H

#include "afmpeg.h"
#include "wasi/wasi.h"

/* The runtime a pool's jobs run on (a pool is a runtime with N slots). NULL for NULL. */
afmpeg_runtime *afm_pool_runtime(afmpeg_pool *pool);

/* Host hooks for one job (all optional). */
typedef struct afm_run_hooks {
    /* The job's filesystem instead of the caller's (the run_job overlay). */
    afmpeg_fs *fs;
    /* A sink on guest fd 4 (see afm_wasi_set_sink), with "-progress pipe:4" put after argv[0]
     * so ffmpeg reports there; non-zero from it cancels the job. */
    afmpeg_output_fn sink;
    void *sink_payload;
    /* Sees every byte of stderr, before it is captured or passed to on_stderr. */
    afmpeg_output_fn stderr_tap;
    void *tap_payload;
} afm_run_hooks;

/* afmpeg_run_ex() with hooks; `who` names the public call in messages. */
int afm_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
            const afmpeg_job_options *opts, const afm_run_hooks *hooks, const char *who,
            afmpeg_result **out);

/* What afmpeg_run_job() adds to a result, owned by it (freed by afm_job_info_free). */
typedef struct afm_job_info {
    afmpeg_output_info *outputs;
    size_t output_count;
    afmpeg_measurement *measurements;
    size_t measurement_count;
    void (*free)(struct afm_job_info *info);
} afm_job_info;

struct afmpeg_result {
    int exit_code;
    afmpeg_trap trap;
    afm_buf out, err;
    afm_job_info *job;  /* NULL but for afmpeg_run_job() */
};

#endif
