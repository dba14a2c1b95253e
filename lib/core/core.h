/* Internal: what the job areas (lib/job, lib/probe, lib/frames) need of the runtime, and the one
 * path every job the library runs goes through (libjob.c). */
#ifndef AFM_CORE_H
#define AFM_CORE_H

#include <pthread.h>
#include "afmpeg.h"
#include "wasi/wasi.h"

/* The guest fd a job's sink is on (afm_run_hooks.sink). */
#define AFM_SINK_FD 4

/* Host hooks for one job (all optional). */
typedef struct afm_run_hooks {
    /* The job's filesystem instead of the caller's (the run_job overlay). */
    afmpeg_fs *fs;
    /* Receives what the guest writes to fd AFM_SINK_FD (see afm_wasi_set_sink); non-zero from
     * it cancels the job. */
    afmpeg_output_fn sink;
    void *sink_payload;
    /* Sees every byte of stderr, before it is captured or passed to on_stderr. */
    afmpeg_output_fn stderr_tap;
    void *tap_payload;
} afm_run_hooks;

/* AFMPEG_OK for a NULL runtime (the caller's own check names it) or an FFmpeg module; else
 * AFMPEG_ENOTSUP with a message naming `call`, which needs ffmpeg/ffprobe. */
int afm_check_ffmpeg(const afmpeg_runtime *rt, const char *call);

/* Checks a job options struct (version, limits); NULL is fine. Sets the message. */
int afm_check_job_options(const afmpeg_job_options *opts);

/* Runs one guest job: the engine under afmpeg_run() and every library job. Sets the thread's
 * message on failure and leaves it alone on success. */
int afm_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
            const afmpeg_job_options *opts, const afm_run_hooks *hooks, afmpeg_result **out);

/* ---- the library's own guest jobs (libjob.c) -------------------------------------------------
 * probe, frames, run_job (its job, its length probes and output probes) and the module listing
 * all run ffmpeg/ffprobe through these, so they share one rule for each of: the options a job
 * inherits, turning a path into a URL, checking an input before a guest runs, reading stderr,
 * and summarising it for a message. */

/* The options of a job run on behalf of a public call, from the caller's `caller` (may be NULL):
 * the caller's limits and cancel token always carry over (a library job never runs with looser
 * limits than the call it serves, and a cancel reaches it); stdin is empty; output goes to
 * on_stdout/on_stderr with `payload` (NULL: captured into the result); no progress. */
void afm_derive_options(const afmpeg_job_options *caller, afmpeg_output_fn on_stdout,
                        afmpeg_output_fn on_stderr, void *payload, afmpeg_job_options *out);

/* The one path -> URL rule. A path of the job's filesystem is given to FFmpeg as itself, unless
 * FFmpeg would read it as something else: "-" (stdin/stdout) or a leading run of URL scheme
 * characters followed by ':' ("a:b.mp4", "pipe:0", "file:x"). Those get "file:" in front, which
 * FFmpeg's file protocol strips, so they open the file of that name. With `pipes`, "-" and
 * "pipe:N" are kept as the pipes they name (the command builder's outputs and inputs). A new
 * string, or NULL when out of memory. */
char *afm_media_url(const char *path, int pipes);

/* The one pre-flight check of an input file, before any guest runs: AFMPEG_OK for a file, else
 * AFMPEG_EINVAL (NULL, empty or malformed), AFMPEG_ENOENT (missing, or a parent is not a
 * directory), AFMPEG_EISDIR, AFMPEG_EACCES (leads outside the filesystem), with the message
 * naming the path. */
int afm_check_input(afmpeg_fs *fs, const char *path);

/* The one stderr reader: bytes in, whole lines out. '\n', "\r\n" and a lone '\r' (FFmpeg's
 * status lines) each end a line; a line longer than the buffer is cut (its start is kept). */
typedef void (*afm_line_fn)(char *line, size_t len, void *payload);
typedef struct afm_lines {
    afm_line_fn fn;
    void *payload;
    char buf[1024];
    size_t len;
    int cr;  /* the last byte was '\r': a following '\n' ends no second line */
} afm_lines;
void afm_lines_init(afm_lines *l, afm_line_fn fn, void *payload);
void afm_lines_feed(afm_lines *l, const void *data, size_t len);
/* Passes on a last line without its end. */
void afm_lines_flush(afm_lines *l);

/* FFmpeg's log levels, as `-loglevel level+...` tags its lines. */
enum { AFM_LOG_PANIC, AFM_LOG_FATAL, AFM_LOG_ERROR, AFM_LOG_WARNING, AFM_LOG_INFO,
       AFM_LOG_VERBOSE, AFM_LOG_DEBUG, AFM_LOG_TRACE };

/* The one reader of a log line as `-loglevel level+...` prints it: "[ctx @ 0x..] [level] text"
 * or "[level] text". Returns the AFM_LOG_* level, with *ctx the bracket just before the tag
 * (NULL when none; *ctx_len its length) and *text what follows the tag; or -1 for a line without
 * a tag (a message that went on over several lines), with *ctx NULL and *text the line. */
int afm_log_line(const char *line, size_t len, const char **ctx, size_t *ctx_len,
                 const char **text);

/* The one error summary, for messages: of a job's captured stderr, the last few lines FFmpeg
 * tagged as errors (with -loglevel level+...: "[error]", "[fatal]", "[panic]"; an untagged line
 * continues the one before), or, with none, the last few lines; tags and blank lines dropped,
 * control characters but tab shown as '?' (the text may quote hostile media), joined by '\n'
 * into `out`, at most `cap` - 1 bytes (the last lines win). */
void afm_stderr_summary(const afmpeg_result *res, char *out, size_t cap);

/* ---- runtime internals ---------------------------------------------------------------------- */

/* The module description (afmpeg_module_info_get(), lib/job/components.c), one per runtime. */
typedef struct afm_module_info afm_module_info;
void afm_module_info_free(afm_module_info *info);
/* The runtime's slot for it and the lock that guards the slot. */
afm_module_info **afm_runtime_info_slot(afmpeg_runtime *rt, pthread_mutex_t **lock);

/* What afmpeg_run_job() adds to a result, owned by it (freed by afm_job_info_free). */
typedef struct afm_job_info {
    afmpeg_output_info *outputs;
    size_t output_count;
    afmpeg_measurement *measurements;
    size_t measurement_count;
    size_t segments;       /* video segments it was encoded in (split.c); 1: one piece */
    const char *why_not;   /* why it was not split, or NULL */
    void (*free)(struct afm_job_info *info);
} afm_job_info;

struct afmpeg_result {
    int exit_code;
    afmpeg_trap trap;
    afm_buf out, err;
    afm_job_info *job;  /* NULL but for afmpeg_run_job() */
};

#endif
