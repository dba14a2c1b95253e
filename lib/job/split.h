/* Internal: split and stitch for afmpeg_run_job() (split.c). */
#ifndef AFM_SPLIT_H
#define AFM_SPLIT_H

#include <stddef.h>
#include "afmpeg.h"
#include "job/command.h"

/* Most segments one job is cut into. */
#define AFM_SPLIT_MAX 64

/* afm_split_run(): a piece's ffmpeg ran to its exit and failed (*failed is its result). */
#define AFM_SPLIT_EXITED 1

typedef struct afm_split afm_split;

/* Whether the command can be split into segments, and how: 1 with *out (free with
 * afm_split_free), 0 with `why` (the job runs as one piece), or a negative afmpeg_error (message
 * set). `argv` is the command rendered (afm_command_render); `parallel` the job option; the
 * runtime runs `instances` jobs at once. Probes the input (a probe and a packet listing). */
int afm_split_plan(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                   const afmpeg_job_options *opts, const afm_strv *argv, int parallel,
                   unsigned instances, afm_split **out, char *why, size_t n);
/* The number of video segments (1 for NULL). */
size_t afm_split_segments(const afm_split *s);
/* Runs the segments and the audio at once, on `overlay` (the job overlay; the pieces go to its
 * /.afmpeg/split). Progress (opts->on_progress), summed over the segments, against `total`
 * seconds (-1: unknown). AFMPEG_OK when every piece succeeded; AFM_SPLIT_EXITED with *failed the
 * result of a piece whose ffmpeg failed; or an afmpeg_error with the message set (and *failed
 * the stopped piece's result, if it ran). */
int afm_split_run(afm_split *s, afmpeg_runtime *rt, afmpeg_fs *overlay,
                  const afmpeg_job_options *opts, double total, afmpeg_result **failed);
/* After the stitch succeeded: the last progress call (the sums, fraction 1, done 1). */
void afm_split_finish(afm_split *s);
/* The argv of the job that joins the pieces into the command's output. */
const char *const *afm_split_stitch_argv(const afm_split *s);
void afm_split_free(afm_split *s);

#endif
