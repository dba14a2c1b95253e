/* afmpeg_run(): one ffmpeg or ffprobe command line as the caller wrote it. What is ffmpeg's
 * own (its -progress reports, turned into the caller's on_progress) is wired here, in the job
 * layer, so lib/core runs any guest without knowing ffmpeg's options. */
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "job/progress.h"

int afmpeg_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
               const afmpeg_job_options *opts, afmpeg_result **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!argv)
        return afm_error(AFMPEG_EINVAL, "argv is NULL");
    if (!argv[0] || !*argv[0])
        return afm_error(AFMPEG_EINVAL, "argv[0] must name the tool (ffmpeg or ffprobe)");
    int err = afm_check_job_options(opts);
    if (err)
        return err;
    afmpeg_progress_fn on_progress = opts ? opts->on_progress : NULL;
    const char *tool = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (!on_progress || strcmp(tool, "ffmpeg") != 0)
        return afm_run(rt, fs, argv, opts, NULL, out);

    /* An ffmpeg command line with a progress callback: "-progress pipe:4" after argv[0] points
     * ffmpeg's reports at the sink. */
    const char **with_sink = afm_progress_argv(argv);
    if (!with_sink)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    afm_progress prog;
    afm_progress_init(&prog, on_progress, opts->progress_payload, -1);
    afm_run_hooks hooks = {NULL, afm_progress_sink, &prog, NULL, NULL};
    err = afm_run(rt, fs, with_sink, opts, &hooks, out);
    free(with_sink);
    if (err == AFMPEG_OK && afmpeg_result_exit_code(*out) == 0)
        afm_progress_finish(&prog);
    if (!err)
        afm_error_clear();
    return err;
}
