/*
 * Split and stitch (docs/jobs.md, "One long job on several instances"): an afmpeg_run_job()
 * whose video work is per frame is cut at the input's keyframes into segments that encode at once
 * on the runtime's instances; the audio is encoded as one piece beside them; a last job joins the
 * pieces with a stream copy into the output the command asked for.
 *
 *   segment k:  ffmpeg -ss KEY_k -i IN   (no -ss for the first; the command's video codec,
 *                                        filter and options)
 *               -map 0:v:0 -an -sn -dn -frames:v COUNT_k  /.afmpeg/split/vK.EXT
 *   audio:      ffmpeg -i IN  (the command's audio codec, filter and options)
 *               -map 0:a:0 -vn -sn -dn  /.afmpeg/split/a.EXT
 *   stitch:     ffmpeg -f concat -safe 0 -i /.afmpeg/split/v.ffconcat -i /.afmpeg/split/a.EXT
 *               -map 0:v -map 1:a -c copy (the command's muxer options) OUT
 *
 * KEY_k is the keyframe's time floored to the microsecond (ffmpeg's -ss resolution), so the
 * accurate seek keeps the keyframe and drops what comes before it; COUNT_k is how many frames
 * have a presentation time from that keyframe to the next segment's. Each segment's encoder
 * starts with an IDR frame, and the concat demuxer places each segment after the last, so the
 * frames, their timestamps and the duration are those of a single pass. The pieces live in the
 * job overlay's memory (/.afmpeg is writable for them), never in the caller's filesystem.
 *
 * Only commands whose result cannot differ are split (afm_split_plan says why not): one input
 * file, one video and at most one audio stream, no subtitles or cover art, constant frame rate, one
 * MP4/MOV output, a video encoder and per-frame filters only, no option that changes timing.
 */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "core/errors.h"
#include "fs/overlay.h"
#include "job/command.h"
#include "job/progress.h"
#include "job/split.h"

#define MAX_PACKETS (1u << 24)

/* Filters that see each frame alone: a segment boundary cannot change what they output. */
static const char *const per_frame_filters[] = {
    "scale", "crop", "pad", "format", "setsar", "setdar", "hflip", "vflip", "transpose", "null",
    "copy", "boxblur", "unsharp", "eq", "colorchannelmixer", "lutyuv", "lutrgb", "negate",
    "drawbox", "drawgrid", "rotate", "gblur", "hue", "colorbalance", NULL};

/* Output options that change which frames are written or when (the key before any ':'). */
static const char *const timing_options[] = {
    "r", "fps_mode", "vsync", "frames", "vframes", "ss", "sseof", "t", "to", "itsoffset",
    "shortest", "force_key_frames", "dframes", "aframes", "async", "copytb", NULL};

static int in_list(const char *const *list, const char *s, size_t len)
{
    for (; *list; list++)
        if (strlen(*list) == len && !strncmp(*list, s, len))
            return 1;
    return 0;
}

static void say(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* The output's container, when split can write it: "mp4" or "mov", else NULL. */
static const char *container(const afm_output *o)
{
    const char *f = o->format;
    if (!f) {
        const char *dot = strrchr(o->path, '.');
        if (!dot || strchr(dot, '/'))
            return NULL;
        f = dot + 1;
        if (!strcasecmp(f, "m4v"))
            return "mp4";
    }
    return !strcasecmp(f, "mp4") ? "mp4" : !strcasecmp(f, "mov") ? "mov" : NULL;
}

/* The command's shape: 1 if it can be split, else 0 with `why`. */
static int shape(const afmpeg_command *cmd, char *why, size_t n)
{
    if (cmd->n_inputs != 1 || cmd->n_outputs != 1) {
        say(why, n, "the command has %zu inputs and %zu outputs (split needs one of each)",
            cmd->n_inputs, cmd->n_outputs);
        return 0;
    }
    const afm_input *in = &cmd->inputs[0];
    const afm_output *o = &cmd->outputs[0];
    const char *no = in->concat.n ? "a concat input"
                   : in->has_seek || in->has_duration ? "a seek or duration on the input"
                   : in->options.n ? "demuxer options on the input"
                   : cmd->graph ? "a filter_complex"
                   : cmd->copyts ? "copyts"
                   : o->maps.n ? "explicit stream maps"
                   : o->has_duration || o->has_end ? "a duration or end on the output"
                   : o->bsfs.n ? "bitstream filters"
                   : o->metadata.n || o->stream_metadata.n || o->dispositions.n
                       ? "metadata or dispositions on the output"
                   : o->chapters != AFM_CHAPTERS_DEFAULT ? "chapters on the output"
                   : o->codec[2] || o->codec[3] ? "a subtitle or data codec"
                   : NULL;
    if (no) {
        say(why, n, "%s", no);
        return 0;
    }
    if (!strcmp(in->path, "-") || !strncmp(in->path, "pipe:", 5)) {
        say(why, n, "the input is a pipe");
        return 0;
    }
    if (!o->codec[0] || !strcmp(o->codec[0], "copy")) {
        say(why, n, "the video is not encoded (no video codec, or copy)");
        return 0;
    }
    if (!container(o)) {
        say(why, n, "the output is not MP4 or MOV");
        return 0;
    }
    for (size_t k = 0; k + 1 < o->options.n; k += 2) {
        const char *key = o->options.v[k];
        if (in_list(timing_options, key, strcspn(key, ":"))) {
            say(why, n, "the output option -%s changes timing", key);
            return 0;
        }
        if (!strcmp(key, "vn")) {
            say(why, n, "the output has no video (-vn)");
            return 0;
        }
    }
    if (o->filter[0]) {
        afm_graph g;
        int ok = afm_graph_parse(o->filter[0], &g) == 0;
        if (!ok)
            say(why, n, "the video filter could not be read: %s", g.error);
        for (size_t i = 0; ok && i < g.filters.n; i++) {
            if (!in_list(per_frame_filters, g.filters.v[i], strlen(g.filters.v[i]))) {
                say(why, n, "the video filter %s may carry state from frame to frame",
                    g.filters.v[i]);
                ok = 0;
            }
        }
        if (ok && g.outputs.n > 1) { /* a chain with splits or labels */
            say(why, n, "the video filter is a graph, not a chain");
            ok = 0;
        }
        afm_graph_free(&g);
        if (!ok)
            return 0;
    }
    return 1;
}

/* ---- the input's video packets -------------------------------------------------------------- */

typedef struct packets {
    int64_t *pts;         /* presentation times, sorted */
    size_t n, cap;
    int64_t *keys;        /* keyframes' presentation times, sorted */
    size_t n_keys, cap_keys;
    int64_t tb_num, tb_den;
    int untimed;          /* a packet had no presentation time */
    int too_many;         /* more than MAX_PACKETS */
    int oom;
    char line[256];
    size_t len;
} packets;

/* 0, -1 out of memory, -2 more than MAX_PACKETS. */
static int push(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        if (c > MAX_PACKETS)
            return -2;
        int64_t *p = realloc(*v, c * sizeof *p);
        if (!p)
            return -1;
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return 0;
}

/* "packet,PTS,FLAGS" or "stream,NUM/DEN" (ffprobe -of csv=p=1). */
static void packet_line(packets *p)
{
    p->line[p->len] = '\0';
    int64_t pts;
    char flags[16];
    long long num, den;
    if (sscanf(p->line, "packet,%" SCNd64 ",%15s", &pts, flags) == 2) {
        int r = push(&p->pts, &p->n, &p->cap, pts);
        if (!r && flags[0] == 'K')
            r = push(&p->keys, &p->n_keys, &p->cap_keys, pts);
        if (r == -1)
            p->oom = 1;
        else if (r == -2)
            p->too_many = 1;
    } else if (sscanf(p->line, "stream,%lld/%lld", &num, &den) == 2) {
        p->tb_num = num;
        p->tb_den = den;
    } else if (!strncmp(p->line, "packet,", 7)) {
        p->untimed = 1; /* a packet without a time: not one a split can place */
    }
}

static int packet_out(const void *data, size_t len, void *payload)
{
    packets *p = payload;
    for (const char *s = data; len > 0; s++, len--) {
        if (*s == '\n') {
            packet_line(p);
            p->len = 0;
        } else if (p->len + 1 < sizeof p->line) {
            p->line[p->len++] = *s;
        }
    }
    return 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---- the plan ------------------------------------------------------------------------------- */

/* The job's progress, summed over the video segments (each reports its own -progress). */
typedef struct progress_sum {
    pthread_mutex_t lock;
    afmpeg_progress_fn fn;
    void *payload;
    double total;             /* seconds of output, or -1 */
    size_t n;
    afmpeg_progress *last;    /* [n]: each segment's last report */
    double reported;          /* fractions reported never go back */
    afmpeg_progress all;      /* the sum last reported */
} progress_sum;


struct afm_split {
    size_t n_segments;
    int64_t *start_us;    /* each segment's -ss, microseconds */
    int64_t *frames;      /* each segment's -frames:v */
    int64_t frame_ticks;  /* a frame's duration, in the input's time base tb_num/tb_den */
    int64_t tb_num, tb_den;
    int audio;            /* the input has an audio stream */
    const char *ext;      /* "mp4" or "mov" */
    afm_strv *argv;       /* [n_segments + 1]: the segments', then the audio's (if any) */
    afm_strv stitch;
    progress_sum sum;
};

void afm_split_free(afm_split *s)
{
    if (!s)
        return;
    if (s->argv)
        for (size_t i = 0; i <= s->n_segments; i++)
            afm_strv_free(&s->argv[i]);
    afm_strv_free(&s->stitch);
    if (s->sum.last) {
        free(s->sum.last);
        pthread_mutex_destroy(&s->sum.lock);
    }
    free(s->start_us);
    free(s->frames);
    free(s->argv);
    free(s);
}

size_t afm_split_segments(const afm_split *s)
{
    return s ? s->n_segments : 1;
}

/* Reads the input: its streams (afmpeg_probe) and its video packets (ffprobe). 1 if it can be
 * split into `want` segments, with s->start_us/frames set; 0 with `why`; or a negative error. */
static int read_input(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                      const afmpeg_job_options *opts, size_t want, afm_split *s, char *why,
                      size_t n)
{
    const char *path = cmd->inputs[0].path;
    afmpeg_probe_result *pr = NULL;
    int err = afmpeg_probe(rt, fs, path, opts, &pr);
    if (err)
        return err;
    size_t video = 0, audio = 0, other = 0;
    for (size_t i = 0; i < pr->stream_count; i++) {
        const afmpeg_stream_info *st = &pr->streams[i];
        if (st->type == AFMPEG_MEDIA_VIDEO && !(st->disposition & AFMPEG_DISPOSITION_ATTACHED_PIC))
            video++;
        else if (st->type == AFMPEG_MEDIA_AUDIO)
            audio++;
        else if (st->type != AFMPEG_MEDIA_DATA && st->type != AFMPEG_MEDIA_ATTACHMENT)
            other++; /* subtitles, cover art: a single pass may map them (data it does not) */
    }
    afmpeg_probe_result_free(pr);
    if (video != 1 || audio > 1 || other) {
        say(why, n, "the input has %zu video, %zu audio and %zu subtitle or cover-art streams "
            "(split needs one video stream, at most one audio stream and none of those)", video,
            audio, other);
        return 0;
    }
    s->audio = audio == 1;
    const afm_output *out = &cmd->outputs[0];
    for (size_t k = 0; k + 1 < out->options.n; k += 2)
        if (!strcmp(out->options.v[k], "an"))
            s->audio = 0; /* the output drops the audio: no audio piece */

    packets p = {0};
    char *url = afm_media_url(path, 0);
    if (!url)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    const char *argv[] = {"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=time_base:packet=pts,flags", "-of", "csv=p=1",
                          url, NULL};
    afmpeg_job_options o;
    afm_derive_options(opts, packet_out, NULL, &p, &o);
    afmpeg_result *res = NULL;
    err = afm_run(rt, fs, argv, &o, NULL, &res);
    free(url);
    int exit_code = res ? afmpeg_result_exit_code(res) : -1;
    afmpeg_result_free(res);
    int r = 1;
    if (err) {
        r = err;
    } else if (p.oom) {
        r = afm_error(AFMPEG_ENOMEM, "out of memory (reading the input's packets)");
    } else if (exit_code != 0 || p.tb_num <= 0 || p.tb_den <= 0 || p.n == 0) {
        say(why, n, "the input's video packets could not be read");
        r = 0;
    } else if (p.too_many) {
        say(why, n, "the input has more than %u video frames", MAX_PACKETS);
        r = 0;
    } else if (p.untimed || p.n < 2) {
        say(why, n, "the input's video has frames without timestamps, or only one frame");
        r = 0;
    }
    if (r == 1) {
        qsort(p.pts, p.n, sizeof *p.pts, cmp64);
        qsort(p.keys, p.n_keys, sizeof *p.keys, cmp64);
        /* Constant frame rate: every presentation time one frame after the last. */
        s->frame_ticks = p.pts[1] - p.pts[0];
        s->tb_num = p.tb_num;
        s->tb_den = p.tb_den;
        for (size_t i = 1; i < p.n && r == 1; i++) {
            if (p.pts[i] - p.pts[i - 1] != s->frame_ticks || s->frame_ticks <= 0) {
                say(why, n, "the input's frame rate is not constant");
                r = 0;
            }
        }
    }
    if (r == 1) {
        /* Boundaries: for each even share of the frames, the nearest keyframe after the last. */
        int64_t *bounds = malloc((want + 1) * sizeof *bounds);
        s->start_us = malloc(want * sizeof *s->start_us);
        s->frames = malloc(want * sizeof *s->frames);
        if (!bounds || !s->start_us || !s->frames) {
            free(bounds);
            r = afm_error(AFMPEG_ENOMEM, "out of memory");
        } else {
            size_t nb = 0;
            bounds[nb++] = p.pts[0];
            for (size_t k = 1; k < want; k++) {
                int64_t target = p.pts[(p.n * k) / want];
                int64_t best = -1;
                for (size_t i = 0; i < p.n_keys; i++) {
                    int64_t key = p.keys[i];
                    if (key <= bounds[nb - 1])
                        continue;
                    if (best < 0 || llabs(key - target) < llabs(best - target))
                        best = key;
                }
                if (best >= 0 && (nb < 2 || best != bounds[nb - 1]))
                    bounds[nb++] = best;
            }
            if (nb < 2) {
                say(why, n, "the input has %zu keyframes in %zu frames: too few to split",
                    p.n_keys, p.n);
                r = 0;
            }
            size_t at = 0; /* p.pts is sorted and bounds[0] is its first: one pass */
            for (size_t k = 0; r == 1 && k < nb; k++) {
                int64_t lo = bounds[k], hi = k + 1 < nb ? bounds[k + 1] : INT64_MAX;
                int64_t count = 0;
                for (; at < p.n && p.pts[at] < hi; at++)
                    count++;
                /* floor(lo * tb) in microseconds: the seek keeps the keyframe. */
                __int128 num = (__int128)lo * p.tb_num * 1000000;
                __int128 q = num / p.tb_den;
                if (num % p.tb_den != 0 && num < 0)
                    q--;
                s->start_us[k] = (int64_t)q;
                s->frames[k] = count;
            }
            for (size_t k = 1; r == 1 && k < nb; k++) {
                if (s->start_us[k] < 0) { /* -ss takes no time before the start */
                    say(why, n, "the input has keyframes at negative times");
                    r = 0;
                }
            }
            s->n_segments = r == 1 ? nb : 0;
            free(bounds);
        }
    }
    free(p.pts);
    free(p.keys);
    return r;
}

/* ---- the pieces' command lines --------------------------------------------------------------- */

/* Appends a formatted argument. */
static int argf(afm_strv *v, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return afm_strv_push(v, buf);
}

/* Ends v as an argv: a NULL after its last string. */
static int end_argv(afm_strv *v)
{
    if (afm_strv_push(v, ""))
        return AFMPEG_ENOMEM;
    free(v->v[--v->n]);
    v->v[v->n] = NULL;
    return 0;
}

/* The command's rendered argv (`full`: ffmpeg, its global options, [-f F] -i IN, output
 * options, OUT) as a piece: `before_input` goes before -i, `extra` and `out` replace OUT. */
static int piece(const afm_strv *full, afm_strv *v, const char *const *before_input,
                 const char *const *extra, const char *out)
{
    int err = 0;
    for (size_t i = 0; i + 1 < full->n && !err; i++) {
        if (!strcmp(full->v[i], "-i"))
            for (const char *const *b = before_input; *b && !err; b++)
                err = afm_strv_push(v, *b);
        if (!err)
            err = afm_strv_push(v, full->v[i]);
    }
    for (const char *const *e = extra; *e && !err; e++)
        err = afm_strv_push(v, *e);
    if (!err)
        err = afm_strv_push(v, out);
    return err ? err : end_argv(v);
}

int afm_split_plan(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                   const afmpeg_job_options *opts, const afm_strv *argv, int parallel,
                   unsigned instances, afm_split **out, char *why, size_t n)
{
    *out = NULL;
    why[0] = '\0';
    size_t want = parallel == AFMPEG_PARALLEL_AUTO ? instances : (size_t)parallel;
    if (want > AFM_SPLIT_MAX)
        want = AFM_SPLIT_MAX;
    if (want < 2) {
        say(why, n, parallel == AFMPEG_PARALLEL_AUTO ? "the runtime has one instance"
                                                     : "one segment was asked for");
        return 0;
    }
    if (!shape(cmd, why, n))
        return 0;
    afm_split *s = calloc(1, sizeof *s);
    if (!s)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    s->ext = container(&cmd->outputs[0]);
    int r = read_input(rt, fs, cmd, opts, want, s, why, n);
    if (r != 1) {
        afm_split_free(s);
        return r;
    }
    s->argv = calloc(s->n_segments + 1, sizeof *s->argv);
    int err = s->argv ? 0 : AFMPEG_ENOMEM;
    char path[64], frames[32], ss[48];
    for (size_t k = 0; k < s->n_segments && !err; k++) {
        snprintf(ss, sizeof ss, "%" PRId64 ".%06" PRId64, s->start_us[k] / 1000000,
                 s->start_us[k] % 1000000);
        snprintf(frames, sizeof frames, "%" PRId64, s->frames[k]);
        snprintf(path, sizeof path, "/" AFM_OVERLAY_DIR "/split/v%zu.%s", k, s->ext);
        /* The first segment starts where a single pass does: no seek at all. */
        const char *before[] = {k ? "-ss" : NULL, ss, NULL};
        const char *extra[] = {"-map", "0:v:0", "-an", "-sn", "-dn", "-frames:v", frames,
                               "-f", s->ext, NULL};
        err = piece(argv, &s->argv[k], before, extra, path);
    }
    if (!err && s->audio) {
        snprintf(path, sizeof path, "/" AFM_OVERLAY_DIR "/split/a.%s", s->ext);
        const char *before[] = {NULL};
        const char *extra[] = {"-map", "0:a:0", "-vn", "-sn", "-dn", "-f", s->ext, NULL};
        err = piece(argv, &s->argv[s->n_segments], before, extra, path);
    }
    /* The stitch: the output's own options (muxer options among them; the encoders' go unused),
     * then a stream copy of the pieces. */
    const afm_output *o = &cmd->outputs[0];
    const char *pre[] = {"ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y", "-f", "concat",
                         "-safe", "0", "-i", "/" AFM_OVERLAY_DIR "/split/v.ffconcat", NULL};
    for (const char *const *a = pre; *a && !err; a++)
        err = afm_strv_push(&s->stitch, *a);
    if (!err && s->audio) {
        snprintf(path, sizeof path, "/" AFM_OVERLAY_DIR "/split/a.%s", s->ext);
        err = afm_strv_push(&s->stitch, "-i") || afm_strv_push(&s->stitch, path);
    }
    /* Video first, then audio: the order a single pass gives them. */
    if (!err)
        err = afm_strv_push(&s->stitch, "-map") || afm_strv_push(&s->stitch, "0:v");
    if (!err && s->audio)
        err = afm_strv_push(&s->stitch, "-map") || afm_strv_push(&s->stitch, "1:a");
    for (size_t k = 0; k + 1 < o->options.n && !err; k += 2)
        err = argf(&s->stitch, "-%s", o->options.v[k]) ||
              afm_strv_push(&s->stitch, o->options.v[k + 1]);
    if (!err)
        err = afm_strv_push(&s->stitch, "-c") || afm_strv_push(&s->stitch, "copy") ||
              afm_strv_push(&s->stitch, "-f") || afm_strv_push(&s->stitch, s->ext) ||
              afm_strv_push(&s->stitch, argv->v[argv->n - 1]) || end_argv(&s->stitch);
    if (err) {
        afm_split_free(s);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    *out = s;
    return 1;
}

const char *const *afm_split_stitch_argv(const afm_split *s)
{
    return (const char *const *)s->stitch.v;
}

/* ---- running the pieces --------------------------------------------------------------------- */

typedef struct piece_job {
    afmpeg_runtime *rt;
    afmpeg_fs *fs;
    const char **argv;
    afmpeg_job_options opts;
    afm_run_hooks hooks;
    afm_progress prog;
    progress_sum *sum;
    size_t index;             /* its segment, or sum->n for the audio */
    afmpeg_result *res;
    int err;
    char msg[512];
    pthread_t thread;
    int started;
} piece_job;

static int piece_progress(const afmpeg_progress *p, void *payload)
{
    piece_job *j = payload;
    progress_sum *sum = j->sum;
    if (j->index >= sum->n)
        return 0; /* the audio: its time is not the video's */
    pthread_mutex_lock(&sum->lock);
    sum->last[j->index] = *p;
    afmpeg_progress all = {0};
    all.speed = all.bitrate = -1;
    all.total_size = 0;
    for (size_t i = 0; i < sum->n; i++) {
        all.frame += sum->last[i].frame;
        all.fps += sum->last[i].fps;
        all.out_time += sum->last[i].out_time;
        all.total_size += sum->last[i].total_size > 0 ? sum->last[i].total_size : 0;
    }
    all.fraction = -1;
    if (sum->total > 0) {
        double f = all.out_time / sum->total;
        f = f > 0.999 ? 0.999 : f < 0 ? 0 : f; /* 1 only once the whole job is done */
        if (f < sum->reported)
            f = sum->reported;
        sum->reported = f;
        all.fraction = f;
    }
    sum->all = all;
    int verdict = sum->fn(&all, sum->payload);
    pthread_mutex_unlock(&sum->lock);
    return verdict;
}

static void *run_piece(void *arg)
{
    piece_job *j = arg;
    j->err = afm_run(j->rt, j->fs, j->argv, &j->opts, &j->hooks, &j->res);
    if (j->err)
        snprintf(j->msg, sizeof j->msg, "%s", afmpeg_last_error());
    else if (afmpeg_result_exit_code(j->res) != 0)
        snprintf(j->msg, sizeof j->msg, "ffmpeg exited with code %d",
                 afmpeg_result_exit_code(j->res));
    return NULL;
}

/* Whether a piece failed on its own (not stopped because another one failed). */
static int failed_alone(const piece_job *j)
{
    return (j->err && j->err != AFMPEG_ECANCELLED) ||
           (!j->err && j->res && afmpeg_result_exit_code(j->res) != 0);
}

int afm_split_run(afm_split *s, afmpeg_runtime *rt, afmpeg_fs *overlay,
                  const afmpeg_job_options *opts, double total, afmpeg_result **failed)
{
    *failed = NULL;
    int err = afm_overlay_scratch(overlay, "split");
    if (err)
        return afm_error(err, "preparing the split's scratch directory failed");
    /* The concat list of the segments, beside them. */
    size_t cap = 64 + s->n_segments * 96, len = 0;
    char *list = malloc(cap);
    if (!list)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    /* Each segment's duration, in microseconds as the concat demuxer takes it, so that the
     * offsets it adds up are the exact start times rounded to the microsecond (a sum of rounded
     * durations would drift by a tick at every join): round(T[k+1]) - round(T[k]), T[k] being
     * the frames before segment k times a frame's duration. */
    len += (size_t)snprintf(list + len, cap - len, "ffconcat version 1.0\n");
    int64_t before = 0, t_prev = 0;
    for (size_t k = 0; k < s->n_segments; k++) {
        before += s->frames[k];
        __int128 num = (__int128)before * s->frame_ticks * s->tb_num * 1000000;
        int64_t t = (int64_t)((num + s->tb_den / 2) / s->tb_den);
        len += (size_t)snprintf(list + len, cap - len, "file 'v%zu.%s'\nduration %" PRId64 "us\n",
                                k, s->ext, t - t_prev);
        t_prev = t;
    }
    err = afm_overlay_put(overlay, "split/v.ffconcat", list, len);
    free(list);
    if (err)
        return afm_error(err, "out of memory");

    size_t n = s->n_segments + (s->audio ? 1 : 0);
    afmpeg_progress_fn on_progress = opts ? opts->on_progress : NULL;
    piece_job *jobs = calloc(n, sizeof *jobs);
    afmpeg_cancel_token *stop = NULL;
    progress_sum *sum = &s->sum; /* afm_split_finish() reports its last; afm_split_free() */
    if (!sum->last) {
        sum->last = calloc(s->n_segments, sizeof *sum->last);
        if (sum->last)
            pthread_mutex_init(&sum->lock, NULL);
    }
    if (!jobs || !sum->last || afmpeg_cancel_token_new(&stop)) {
        free(jobs);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    sum->fn = on_progress;
    sum->payload = opts ? opts->progress_payload : NULL;
    sum->total = total;
    sum->n = s->n_segments;
    sum->all.speed = sum->all.bitrate = sum->all.fraction = -1;
    for (size_t i = 0; i < n; i++) {
        piece_job *j = &jobs[i];
        j->rt = rt;
        j->fs = overlay;
        j->sum = &s->sum;
        j->index = i;
        j->argv = (const char **)s->argv[i].v;
        afm_derive_options(opts, NULL, NULL, NULL, &j->opts);
        j->opts.cancel = stop;
        j->hooks.fs = overlay;
        if (on_progress) {
            afm_progress_init(&j->prog, piece_progress, j, -1);
            j->hooks.sink = afm_progress_sink;
            j->hooks.sink_payload = &j->prog;
            j->argv = afm_progress_argv((const char *const *)s->argv[i].v);
        }
        if (j->argv)
            j->started = pthread_create(&j->thread, NULL, run_piece, j) == 0;
        if (!j->started) {
            j->err = AFMPEG_ENOMEM;
            snprintf(j->msg, sizeof j->msg, "out of memory (starting the piece)");
        }
    }
    /* Wait, passing the caller's cancel on to the pieces; the first failure stops the rest. */
    afmpeg_cancel_token *user = opts ? opts->cancel : NULL;
    for (size_t done = 0; done < n;) {
        done = 0;
        int any_failed = 0;
        for (size_t i = 0; i < n; i++) {
            piece_job *j = &jobs[i];
            if (j->started && pthread_tryjoin_np(j->thread, NULL) == 0)
                j->started = 0;
            if (!j->started) {
                done++;
                any_failed |= j->err != 0 || afmpeg_result_exit_code(j->res) != 0;
            }
        }
        if (any_failed || afmpeg_cancel_token_is_cancelled(user))
            afmpeg_cancel_token_cancel(stop);
        if (done < n)
            nanosleep(&(struct timespec){0, 5 * 1000000}, NULL);
    }
    /* The first piece that failed on its own tells what happened; else the first stopped. */
    size_t bad = n;
    for (size_t i = 0; i < n && bad == n; i++)
        if (failed_alone(&jobs[i]))
            bad = i;
    for (size_t i = 0; i < n && bad == n; i++)
        if (jobs[i].err)
            bad = i;
    err = AFMPEG_OK;
    if (bad < n) {
        piece_job *j = &jobs[bad];
        err = afmpeg_cancel_token_is_cancelled(user) ? AFMPEG_ECANCELLED : j->err;
        char what[64];
        if (bad < s->n_segments)
            snprintf(what, sizeof what, "video segment %zu of %zu", bad + 1, s->n_segments);
        else
            snprintf(what, sizeof what, "the audio");
        if (err)
            afm_error(err, "split job, %s: %s", what, j->msg);
        else
            err = AFM_SPLIT_EXITED; /* ffmpeg ran to its exit and failed: its result tells */
        *failed = j->res;
        j->res = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        afmpeg_result_free(jobs[i].res);
        if (jobs[i].argv != (const char **)s->argv[i].v)
            free(jobs[i].argv);
    }
    free(jobs);
    afmpeg_cancel_token_free(stop);
    return err;
}

void afm_split_finish(afm_split *s)
{
    if (!s->sum.fn)
        return;
    afmpeg_progress p = s->sum.all;
    p.fraction = 1;
    p.done = 1;
    s->sum.fn(&p, s->sum.payload);
}
