/* afmpeg serve's synchronous endpoints. Each runs on its connection's thread once the body is
 * in: the upload becomes the read-only /input[.EXT] of a job filesystem of its own (serve_fs.c),
 * an instance is taken (the queue phase), the input limits are checked from a probe, and the
 * job runs. /v1/transcode streams what ffmpeg writes to its standard output as it comes, from
 * a job thread of its own, for containers that need no seeking back (fragmented MP4, WebM,
 * Matroska, MPEG-TS, ...); other containers are written whole, then sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "cli.h"
#include "serve.h"
#include "transcode.h"

/* ---- parameters ---- */

/* Query parameter `key` as a number in [min, max]; *out untouched when absent. 0, or -1 with a
 * 400 in rep. */
static int param_number(srv_req *r, const char *key, double min, double max, double *out,
                        srv_reply *rep)
{
    const char *v = srv_query(r, key);
    if (!v)
        return 0;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || d < min || d > max) {
        srv_problem(rep, 400, "bad_parameter", "%s: a number from %g to %g, not '%s'", key, min,
                    max, v);
        return -1;
    }
    *out = d;
    return 0;
}

static int param_image(srv_req *r, afmpeg_frames_options *fo, srv_reply *rep)
{
    const char *f = srv_query(r, "format");
    double w = 0, h = 0;
    if (param_number(r, "width", 0, 16384, &w, rep) ||
        param_number(r, "height", 0, 16384, &h, rep))
        return -1;
    if (w != floor(w) || h != floor(h)) {
        srv_problem(rep, 400, "bad_parameter", "width and height are whole pixels");
        return -1;
    }
    fo->width = (int)w;
    fo->height = (int)h;
    if (!f || !strcmp(f, "png"))
        fo->format = AFMPEG_IMAGE_PNG;
    else if (!strcmp(f, "jpeg") || !strcmp(f, "jpg"))
        fo->format = AFMPEG_IMAGE_JPEG;
    else if (!strcmp(f, "webp"))
        fo->format = AFMPEG_IMAGE_WEBP;
    else {
        srv_problem(rep, 400, "bad_parameter", "format: png, jpeg or webp, not '%s'", f);
        return -1;
    }
    return 0;
}

static const char *image_type(afmpeg_image_format f)
{
    return f == AFMPEG_IMAGE_JPEG ? "image/jpeg" : f == AFMPEG_IMAGE_WEBP ? "image/webp"
                                                                          : "image/png";
}

static const char *image_ext(afmpeg_image_format f)
{
    return f == AFMPEG_IMAGE_JPEG ? "jpg" : f == AFMPEG_IMAGE_WEBP ? "webp" : "png";
}

/* ---- one job on the upload ---- */

typedef struct job {
    srv_req *r;
    afmpeg_job_options o;
    srv_fs *f;
    afmpeg_fs *fs;
    const char *input; /* "/input[.EXT]" */
    int slot;
} job;

/* Options, filesystem and an instance for a job on the request's body; then, with input limits
 * configured or `want_probe`, the probe, checked against them (*probe_out receives it when not
 * NULL). 0, or -1 with the problem in rep (job_end() in both cases). */
static int job_begin(job *j, srv_req *r, srv_reply *rep, afmpeg_probe_result **probe_out)
{
    memset(j, 0, sizeof *j);
    j->r = r;
    j->input = srv_body_name(r);
    if (srv_job_options(r, &j->o, rep))
        return -1;
    size_t len;
    const void *body = srv_body(r, &len);
    if (srv_fs_new(j->input + 1, body, len, &j->f, &j->fs)) {
        srv_problem(rep, 503, "out_of_memory", "no memory for the job");
        return -1;
    }
    if (srv_slot_acquire(r, rep))
        return -1;
    j->slot = 1;
    const srv_config *c = &srv_server(r)->cfg;
    int limits = c->max_width || c->max_height || c->max_streams || c->max_duration > 0;
    if (!limits && !probe_out)
        return 0;
    afmpeg_probe_result *p = NULL;
    int err = afmpeg_probe(srv_server(r)->rt, j->fs, j->input, &j->o, &p);
    if (err) {
        srv_job_error(r, err, NULL, rep);
        return -1;
    }
    const char *what = NULL;
    char detail[160] = "";
    if (c->max_streams && p->stream_count > (size_t)c->max_streams) {
        what = "streams";
        snprintf(detail, sizeof detail, "%zu streams; at most %d", p->stream_count,
                 c->max_streams);
    }
    if (!what && c->max_duration > 0 && !isnan(p->duration) && p->duration > c->max_duration) {
        what = "duration";
        snprintf(detail, sizeof detail, "%.3f s long; at most %g s", p->duration,
                 c->max_duration);
    }
    for (size_t i = 0; !what && i < p->stream_count; i++) {
        const afmpeg_stream_info *st = &p->streams[i];
        if (st->type != AFMPEG_MEDIA_VIDEO)
            continue;
        if ((c->max_width && st->width > c->max_width) ||
            (c->max_height && st->height > c->max_height)) {
            what = "resolution";
            snprintf(detail, sizeof detail, "stream %d is %dx%d; at most %dx%d", st->index,
                     st->width, st->height, c->max_width, c->max_height);
        }
    }
    if (what) {
        srv_problem(rep, 422, "input_limit", "the input is over this server's %s limit: %s",
                    what, detail);
        rep->outcome = "input_limit";
        afmpeg_probe_result_free(p);
        return -1;
    }
    if (probe_out)
        *probe_out = p;
    else
        afmpeg_probe_result_free(p);
    return 0;
}

static void job_end(job *j)
{
    if (j->slot)
        srv_slot_release(j->r);
    j->slot = 0;
    afmpeg_fs_free(j->fs);
    j->fs = NULL;
}

static struct MHD_Response *buffer_response(void *data, size_t len, const char *type,
                                            srv_reply *rep)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, data,
                                                                                    free);
    if (!resp) {
        free(data);
        srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    rep->status = 200;
    rep->response = resp;
    rep->size = len;
    return resp;
}

/* ---- /v1/probe ---- */

void srv_probe(srv_req *r, srv_reply *rep)
{
    job j;
    afmpeg_probe_result *p = NULL;
    if (!job_begin(&j, r, rep, &p)) {
        json_t *o = cli_probe_json(p);
        char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text && buffer_response(text, strlen(text), "application/json", rep))
            rep->outcome = "ok";
        else if (!text)
            srv_problem(rep, 503, "out_of_memory", "no memory for the response");
    }
    afmpeg_probe_result_free(p);
    job_end(&j);
}

/* ---- /v1/thumbnail and /v1/frames ---- */

void srv_thumbnail(srv_req *r, srv_reply *rep)
{
    afmpeg_frames_options fo;
    afmpeg_frames_options_init(&fo);
    double at = 0;
    if (param_image(r, &fo, rep) || param_number(r, "at", 0, 1e9, &at, rep))
        return;
    job j;
    afmpeg_frame_list *list = NULL;
    if (!job_begin(&j, r, rep, NULL)) {
        int err = afmpeg_thumbnail(srv_server(r)->rt, j.fs, j.input, at, &fo, &j.o, &list);
        if (err) {
            srv_job_error(r, err, NULL, rep);
        } else {
            const afmpeg_frame *f = &list->frames[0];
            void *copy = malloc(f->size ? f->size : 1);
            if (copy)
                memcpy(copy, f->data, f->size);
            if (!copy)
                srv_problem(rep, 503, "out_of_memory", "no memory for the response");
            else if (buffer_response(copy, f->size, image_type(f->format), rep)) {
                char t[32];
                snprintf(t, sizeof t, "%.6f", f->time);
                MHD_add_response_header(rep->response, "X-Frame-Time", t);
                rep->outcome = "ok";
            }
        }
    }
    afmpeg_frame_list_free(list);
    job_end(&j);
}

#define MAX_FRAMES 1000

void srv_frames(srv_req *r, srv_reply *rep)
{
    afmpeg_frames_options fo;
    afmpeg_frames_options_init(&fo);
    double count = 0, every = 0, start = 0, scene = 0;
    if (param_image(r, &fo, rep) || param_number(r, "count", 1, MAX_FRAMES, &count, rep) ||
        param_number(r, "every", 0.001, 1e6, &every, rep) ||
        param_number(r, "start", 0, 1e9, &start, rep) ||
        param_number(r, "scene", 0.001, 0.999, &scene, rep))
        return;
    if (count != floor(count)) {
        srv_problem(rep, 400, "bad_parameter", "count: a whole number");
        return;
    }
    if (every > 0 && scene > 0) {
        srv_problem(rep, 400, "bad_parameter", "every and scene: one or the other");
        return;
    }
    fo.count = count ? (unsigned)count : (every > 0 || scene > 0) ? MAX_FRAMES : 1;
    fo.every = every;
    fo.start = start;
    fo.scene = scene;
    job j;
    afmpeg_frame_list *list = NULL;
    char *buf = NULL;
    size_t size = 0;
    if (!job_begin(&j, r, rep, NULL)) {
        int err = afmpeg_frames(srv_server(r)->rt, j.fs, j.input, &fo, &j.o, &list);
        FILE *f = err ? NULL : open_memstream(&buf, &size);
        char boundary[40];
        unsigned char rnd[12] = {0};
        if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) < 0)
            memset(rnd, 0x5a, sizeof rnd);
        int n = snprintf(boundary, sizeof boundary, "afmpeg-");
        for (int i = 0; i < 12; i++)
            n += snprintf(boundary + n, sizeof boundary - (size_t)n, "%02x", rnd[i]);
        if (err) {
            srv_job_error(r, err, NULL, rep);
        } else if (f) {
            /* multipart/mixed (RFC 2046): one part per frame, in time order */
            for (size_t i = 0; i < list->count; i++) {
                const afmpeg_frame *fr = &list->frames[i];
                fprintf(f, "--%s\r\nContent-Type: %s\r\nContent-Disposition: attachment; "
                        "filename=\"frame-%04zu.%s\"\r\nX-Frame-Time: %.6f\r\n"
                        "Content-Length: %zu\r\n\r\n", boundary, image_type(fr->format), i + 1,
                        image_ext(fr->format), fr->time, fr->size);
                fwrite(fr->data, 1, fr->size, f);
                fputs("\r\n", f);
            }
            fprintf(f, "--%s--\r\n", boundary);
            if (fclose(f)) {
                free(buf);
                buf = NULL;
            }
            char type[96];
            snprintf(type, sizeof type, "multipart/mixed; boundary=%s", boundary);
            if (!buf)
                srv_problem(rep, 503, "out_of_memory", "no memory for the response");
            else if (buffer_response(buf, size, type, rep)) {
                char c[24];
                snprintf(c, sizeof c, "%zu", list->count);
                MHD_add_response_header(rep->response, "X-Frame-Count", c);
                rep->outcome = "ok";
            }
        } else {
            srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        }
    }
    afmpeg_frame_list_free(list);
    job_end(&j);
}

/* ---- /v1/transcode ---- */

typedef struct container {
    const char *ext, *muxer, *type;
    int streams; /* written to standard output as it comes */
} container;

static const container containers[] = {
    {"mp4", "mp4", "video/mp4", 1},          {"mov", "mov", "video/quicktime", 1},
    {"m4a", "ipod", "audio/mp4", 1},         {"webm", "webm", "video/webm", 1},
    {"mkv", "matroska", "video/x-matroska", 1}, {"ts", "mpegts", "video/mp2t", 1},
    {"flv", "flv", "video/x-flv", 1},        {"mp3", "mp3", "audio/mpeg", 1},
    {"ogg", "ogg", "audio/ogg", 1},          {"opus", "opus", "audio/ogg", 1},
    {"flac", "flac", "audio/flac", 1},       {"wav", "wav", "audio/wav", 0},
    {"gif", "gif", "image/gif", 0},          {"webp", "webp", "image/webp", 0},
};

/* The streamed output: a bounded buffer between the job's standard output (the job thread)
 * and libmicrohttpd's reader (the connection thread). */
#define STREAM_BUFFER (1u << 20)

typedef struct stream {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned char *buf;
    size_t head, len;
    int done, closed, over_limit;
    uint64_t written, limit;
    int err, exit_code;
    afmpeg_trap trap;
    char last_line[512];
    job j;
    afmpeg_command *cmd;
    pthread_t thread;
    int refs; /* the response and the request */
} stream;

static void stream_unref(void *arg)
{
    stream *st = arg;
    pthread_mutex_lock(&st->lock);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&st->lock);
    pthread_cond_destroy(&st->cond);
    afmpeg_command_free(st->cmd);
    free(st->buf);
    free(st);
}

static int stream_write(const void *data, size_t len, void *payload)
{
    stream *st = payload;
    const unsigned char *p = data;
    pthread_mutex_lock(&st->lock);
    if (st->written + len > st->limit) {
        st->over_limit = 1;
        pthread_mutex_unlock(&st->lock);
        return 1;
    }
    st->written += len;
    int cancelled = 0;
    while (len && !st->closed) {
        if (st->len == STREAM_BUFFER) {
            /* A reader that does not read keeps the buffer full; a cancel (SIGTERM's grace
             * period over) cannot stop a job waiting here, and wakes nothing: look every 50 ms. */
            if ((cancelled = afmpeg_cancel_token_is_cancelled(st->j.o.cancel)))
                break;
            srv_cond_wait_ms(&st->cond, &st->lock, 50);
            continue;
        }
        size_t tail = (st->head + st->len) % STREAM_BUFFER;
        size_t n = STREAM_BUFFER - st->len;
        if (n > STREAM_BUFFER - tail)
            n = STREAM_BUFFER - tail;
        if (n > len)
            n = len;
        memcpy(st->buf + tail, p, n);
        st->len += n;
        p += n;
        len -= n;
        pthread_cond_broadcast(&st->cond);
    }
    int closed = st->closed;
    pthread_mutex_unlock(&st->lock);
    return closed || cancelled;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *st = cls;
    pthread_mutex_lock(&st->lock);
    while (!st->len && !st->done && !st->closed)
        pthread_cond_wait(&st->cond, &st->lock);
    ssize_t ret;
    if (st->len) {
        size_t n = st->len < max ? st->len : max;
        if (n > STREAM_BUFFER - st->head)
            n = STREAM_BUFFER - st->head;
        memcpy(buf, st->buf + st->head, n);
        st->head = (st->head + n) % STREAM_BUFFER;
        st->len -= n;
        pthread_cond_broadcast(&st->cond);
        ret = (ssize_t)n;
        srv_add_bytes_out(st->j.r, n);
    } else {
        /* the job ended: a clean end only if ffmpeg finished well, else the client sees a
         * broken chunked body rather than a short file that looks whole */
        int ok = st->done && !st->err && !st->exit_code && !st->over_limit;
        ret = ok ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    pthread_mutex_unlock(&st->lock);
    return ret;
}

static void *stream_job(void *arg)
{
    stream *st = arg;
    afmpeg_result *res = NULL;
    int err = afmpeg_run_job(srv_server(st->j.r)->rt, st->j.fs, st->cmd, &st->j.o, &res);
    srv_slot_release(st->j.r);
    pthread_mutex_lock(&st->lock);
    st->err = err;
    st->exit_code = res ? afmpeg_result_exit_code(res) : 0;
    st->trap = res ? afmpeg_result_trap(res) : AFMPEG_TRAP_NONE;
    if (res && st->exit_code)
        cli_last_ffmpeg_line(afmpeg_result_stderr(res, NULL), st->last_line,
                             sizeof st->last_line);
    if (err)
        snprintf(st->last_line, sizeof st->last_line, "%s", afmpeg_last_error());
    st->done = 1;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    afmpeg_result_free(res);
    return NULL;
}

/* The problem for a job that ended badly (st->done). */
static void stream_problem(srv_req *r, stream *st, srv_reply *rep)
{
    if (st->over_limit) {
        srv_problem(rep, 422, "limit_exceeded", "the output is over %llu bytes",
                    (unsigned long long)st->limit);
        rep->outcome = "limit";
    } else if (st->err) {
        srv_job_error(r, st->err, NULL, rep);
        if (st->err == AFMPEG_ETRAP) {
            rep->trap = afmpeg_trap_name(st->trap);
            snprintf(rep->detail, sizeof rep->detail, "the sandboxed FFmpeg stopped on this "
                     "input: %s", rep->trap);
        } else if (*st->last_line && rep->status != 499 && rep->status != 503) {
            /* the job thread's message: afmpeg_last_error() is per thread */
            snprintf(rep->detail, sizeof rep->detail, "%s", st->last_line);
        }
    } else {
        srv_problem(rep, 422, "ffmpeg_failed", "%s", *st->last_line ? st->last_line
                                                                     : "ffmpeg failed");
        rep->outcome = "ffmpeg_failed";
    }
}

/* The request ended (sent, or the client went): stop the job if it still runs, and record how
 * it ended. */
static void stream_end(void *arg)
{
    stream *st = arg;
    srv_req *r = st->j.r;
    pthread_mutex_lock(&st->lock);
    st->closed = 1;
    int done = st->done;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    if (!done)
        afmpeg_cancel_token_cancel(st->j.o.cancel);
    pthread_join(st->thread, NULL);
    srv_reply rep = {0};
    if (!st->err && !st->exit_code && !st->over_limit)
        rep.outcome = "ok";
    else
        stream_problem(r, st, &rep);
    if (!done) {
        /* The request ended before the job: the client hung up (or stopped reading past
         * --idle-timeout), whether or not the hang-up watcher saw it first (then the job's
         * ECANCELLED above reads as a drain), unless the server is stopping. */
        server *s = srv_server(r);
        pthread_mutex_lock(&s->lock);
        int gone = srv_client_gone(r) || !s->stopping;
        pthread_mutex_unlock(&s->lock);
        rep.outcome = gone ? "client_gone" : "cancelled";
        rep.error = gone ? "client_gone" : "draining";
    }
    srv_metrics_job(srv_server(r)->metrics, "transcode", rep.outcome);
    srv_note(r, rep.outcome, rep.error);
    job_end(&st->j);
    stream_unref(st);
}

static int param_spec(srv_req *r, tx_spec *t, const container **c, srv_reply *rep)
{
    memset(t, 0, sizeof *t);
    const char *fmt = srv_query(r, "format");
    *c = NULL;
    for (size_t i = 0; fmt && i < sizeof containers / sizeof *containers; i++)
        if (!strcmp(containers[i].ext, fmt))
            *c = &containers[i];
    if (!*c) {
        srv_problem(rep, 400, "bad_parameter", "format: the output container (mp4, mov, m4a, "
                    "webm, mkv, ts, flv, mp3, ogg, opus, flac, wav, gif, webp), not '%s'",
                    fmt ? fmt : "(none)");
        return -1;
    }
    t->vcodec = srv_query(r, "vcodec");
    t->acodec = srv_query(r, "acodec");
    t->scale = srv_query(r, "scale");
    t->bitrate = srv_query(r, "bitrate");
    t->abitrate = srv_query(r, "abitrate");
    t->crf = srv_query(r, "crf");
    t->preset = srv_query(r, "preset");
    if ((t->vcodec && !*t->vcodec) || (t->acodec && !*t->acodec)) {
        srv_problem(rep, 400, "bad_parameter", "vcodec and acodec need an encoder name");
        return -1;
    }
    if (t->scale && !tx_valid_scale(t->scale)) {
        srv_problem(rep, 400, "bad_parameter", "scale: W:H in pixels (e.g. 640:-2), not '%s'",
                    t->scale);
        return -1;
    }
    if ((t->bitrate && !tx_valid_bitrate(t->bitrate)) ||
        (t->abitrate && !tx_valid_bitrate(t->abitrate))) {
        srv_problem(rep, 400, "bad_parameter", "bitrate and abitrate: e.g. 800k or 2M");
        return -1;
    }
    double crf = -1;
    if (param_number(r, "crf", 0, 63, &crf, rep))
        return -1;
    if (t->preset && !tx_in_list(tx_x264_presets, t->preset)) {
        srv_problem(rep, 400, "bad_parameter", "preset: one of libx264's (ultrafast ... "
                    "placebo), not '%s'", t->preset);
        return -1;
    }
    if (param_number(r, "start", 0, 1e9, &t->start, rep) ||
        param_number(r, "duration", 0.001, 1e9, &t->duration, rep))
        return -1;
    t->has_start = srv_query(r, "start") != NULL;
    t->has_duration = srv_query(r, "duration") != NULL;
    char msg[512];
    if (tx_settle(t, (*c)->ext, srv_server(r)->rt, msg, sizeof msg)) {
        /* the CLI's words name its flags ("--crf"); here they are parameters */
        char *d = msg, *s = msg;
        while (*s) {
            if (s[0] == '-' && s[1] == '-' && s[2] >= 'a' && s[2] <= 'z')
                s += 2;
            else
                *d++ = *s++;
        }
        *d = '\0';
        srv_problem(rep, 400, "bad_parameter", "%s", msg);
        return -1;
    }
    return 0;
}

void srv_transcode(srv_req *r, srv_reply *rep)
{
    tx_spec t;
    const container *c;
    if (param_spec(r, &t, &c, rep))
        return;
    char out[32];
    snprintf(out, sizeof out, c->streams ? "pipe:1" : "/output.%s", c->ext);
    afmpeg_command *cmd = NULL;
    int err = tx_build(&t, srv_body_name(r), out, &cmd);
    if (!err)
        err = afmpeg_command_output_format(cmd, 0, c->muxer);
    if (!err && c->streams && (!strcmp(c->muxer, "mp4") || !strcmp(c->muxer, "mov") ||
                               !strcmp(c->muxer, "ipod")))
        err = afmpeg_command_output_option(cmd, 0, "movflags",
                                           "frag_keyframe+empty_moov+default_base_moof");
    /* and a fragment at least every second: libopenh264 makes one keyframe only (no GOP unless
     * asked), and audio is never cut by frag_keyframe, so without it the muxer would hold the
     * whole output and write it at the end */
    if (!err && c->streams && (!strcmp(c->muxer, "mp4") || !strcmp(c->muxer, "mov") ||
                               !strcmp(c->muxer, "ipod")))
        err = afmpeg_command_output_option(cmd, 0, "frag_duration", "1000000");
    if (!err)
        err = afmpeg_command_validate(cmd, srv_server(r)->rt);
    if (err) {
        srv_job_error(r, err, NULL, rep);
        rep->outcome = NULL; /* nothing ran */
        afmpeg_command_free(cmd);
        return;
    }
    if (!c->streams) {
        job j;
        afmpeg_result *res = NULL;
        if (!job_begin(&j, r, rep, NULL)) {
            err = afmpeg_run_job(srv_server(r)->rt, j.fs, cmd, &j.o, &res);
            void *data = NULL;
            size_t len = 0;
            if (err) {
                srv_job_error(r, err, res, rep);
            } else if (afmpeg_result_exit_code(res)) {
                char line[512];
                cli_last_ffmpeg_line(afmpeg_result_stderr(res, NULL), line, sizeof line);
                srv_problem(rep, 422, "ffmpeg_failed", "%s", *line ? line : "ffmpeg failed");
                rep->outcome = "ffmpeg_failed";
            } else if (srv_fs_take(j.f, out + 1, &data, &len)) {
                srv_problem(rep, 422, "ffmpeg_failed", "ffmpeg wrote no output");
                rep->outcome = "ffmpeg_failed";
            } else if (buffer_response(data ? data : malloc(1), len, c->type, rep)) {
                rep->outcome = "ok";
            }
        }
        afmpeg_result_free(res);
        job_end(&j);
        afmpeg_command_free(cmd);
        return;
    }

    stream *st = calloc(1, sizeof *st);
    if (!st || !(st->buf = malloc(STREAM_BUFFER))) {
        free(st);
        afmpeg_command_free(cmd);
        srv_problem(rep, 503, "out_of_memory", "no memory for the job");
        return;
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    st->cmd = cmd;
    st->refs = 1;
    if (job_begin(&st->j, r, rep, NULL)) {
        job_end(&st->j);
        stream_unref(st);
        return;
    }
    st->limit = st->j.o.limits.output_limit ? st->j.o.limits.output_limit : UINT64_MAX;
    st->j.o.on_stdout = stream_write;
    st->j.o.output_payload = st;
    if (pthread_create(&st->thread, NULL, stream_job, st)) {
        job_end(&st->j);
        stream_unref(st);
        srv_problem(rep, 503, "out_of_memory", "cannot start a thread");
        return;
    }
    /* The status line goes out with the first bytes: until ffmpeg has written some, a failure
     * (an input it cannot read, a codec it lacks) still gets its own status and problem. */
    pthread_mutex_lock(&st->lock);
    while (!st->len && !st->done)
        pthread_cond_wait(&st->cond, &st->lock);
    int failed = st->done && (st->err || st->exit_code || st->over_limit || !st->written);
    pthread_mutex_unlock(&st->lock);
    if (failed) {
        pthread_join(st->thread, NULL);
        if (!st->err && !st->exit_code && !st->over_limit) {
            srv_problem(rep, 422, "ffmpeg_failed", "ffmpeg wrote no output");
            rep->outcome = "ffmpeg_failed";
        } else {
            stream_problem(r, st, rep);
        }
        job_end(&st->j);
        stream_unref(st);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, st,
                                          stream_unref);
    if (!resp) {
        srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        stream_end(st);
        return;
    }
    st->refs++; /* the response's, dropped by its free callback */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, c->type);
    srv_on_end(r, stream_end, st);
    rep->status = 200;
    rep->response = resp;
}
