/* afmpeg serve's asynchronous jobs (docs/serve.md, "Jobs"): uploads and outputs kept in memory
 * as blobs, JSON jobs run on their own threads, sharing the server's instances with the
 * synchronous endpoints, their state by polling or as server-sent events, cancel by DELETE,
 * a completion webhook signed with HMAC and retried with backoff.
 *
 * A job's life: SUBMITTED (waiting for its inputs and an instance), PROGRESSING (running),
 * then one of COMPLETE, CANCELED, ERROR, set once. Ended jobs, uploads and outputs are dropped
 * --store-ttl seconds after their last change. Everything is under one lock (jobs->lock);
 * a job's thread holds it only to publish. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "serve.h"
#include "transcode.h"

enum { J_SUBMITTED, J_PROGRESSING, J_COMPLETE, J_CANCELED, J_ERROR };
static const char *const state_names[] = {"SUBMITTED", "PROGRESSING", "COMPLETE", "CANCELED",
                                          "ERROR"};

typedef struct blob {
    char *key;
    void *data;
    size_t len;
    char type[64];
    int refs;          /* jobs reading it, responses sending it */
    time_t expires;
    struct blob *next;
} blob;

typedef struct ajob {
    char id[72];
    char *text;        /* the submission, canonical, for de-duplication */
    json_t *spec;
    int state;
    double fraction, speed, out_time;
    int64_t frame;
    const char *error; /* stable error name */
    char detail[1024];
    const char *trap;
    time_t created, started, finished;
    afmpeg_cancel_token *cancel;
    unsigned version;  /* bumped on every change (server-sent events) */
    json_t *outputs;   /* COMPLETE: [{index, size, duration, streams, url | key}] */
    pthread_t thread;
    int thread_started;
    int refs;          /* the table, event streams, output responses */
    struct srv_jobs *jobs;
    struct ajob *next;
} ajob;

struct srv_jobs {
    server *s;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    blob *blobs;
    uint64_t blob_bytes;
    ajob *list;
    unsigned active;
    int closing;
};

static int valid_key(const char *k)
{
    size_t n = strlen(k);
    return n && n <= 200 && k[0] != '/' && k[n - 1] != '/' && !strstr(k, "..") &&
           !strstr(k, "//") &&
           strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == n;
}

/* ---- blobs (under jobs->lock) ---- */

static void blob_free(blob *b)
{
    free(b->key);
    free(b->data);
    free(b);
}

static blob *blob_find(struct srv_jobs *J, const char *key)
{
    for (blob *b = J->blobs; b; b = b->next)
        if (!strcmp(b->key, key))
            return b;
    return NULL;
}

/* Drops the blob from the store; freed now if nobody reads it, else by the last reader. */
static void blob_remove(struct srv_jobs *J, blob *b)
{
    for (blob **p = &J->blobs; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            J->blob_bytes -= b->len;
            b->next = NULL;
            if (!b->refs)
                blob_free(b);
            else
                b->refs |= 1 << 30; /* removed: the last unref frees */
            return;
        }
}

static void blob_unref(struct srv_jobs *J, blob *b)
{
    pthread_mutex_lock(&J->lock);
    int removed = b->refs & (1 << 30);
    b->refs = (b->refs & ~(1 << 30)) - 1;
    int last = !b->refs && removed;
    if (removed && !last)
        b->refs |= 1 << 30;
    pthread_mutex_unlock(&J->lock);
    if (last)
        blob_free(b);
}

static void job_unref(ajob *j);

/* Drops what has expired: blobs, and ended jobs (with their outputs). */
static void sweep(struct srv_jobs *J)
{
    time_t now = time(NULL);
    for (blob *b = J->blobs, *next; b; b = next) {
        next = b->next;
        if (b->expires <= now)
            blob_remove(J, b);
    }
    for (ajob **p = &J->list; *p;) {
        ajob *j = *p;
        if (j->state >= J_COMPLETE && j->finished + (time_t)J->s->cfg.store_ttl <= now) {
            *p = j->next;
            size_t i;
            json_t *op;
            json_array_foreach(j->outputs, i, op) {
                const char *key = json_string_value(json_object_get(op, "key"));
                blob *b = key ? blob_find(J, key) : NULL;
                if (b)
                    blob_remove(J, b);
            }
            j->refs--;
            if (!j->refs) {
                pthread_mutex_unlock(&J->lock);
                job_unref(j); /* refs is 0: frees (never takes the lock then) */
                pthread_mutex_lock(&J->lock);
            }
        } else {
            p = &j->next;
        }
    }
}

/* Stores `data` (taken) under `key`, replacing a blob there. 0, or -1 when the store is full
 * (data freed). */
static int blob_put(struct srv_jobs *J, const char *key, void *data, size_t len,
                    const char *type)
{
    blob *b = calloc(1, sizeof *b);
    if (!b || !(b->key = strdup(key))) {
        free(b);
        free(data);
        return -1;
    }
    b->data = data;
    b->len = len;
    snprintf(b->type, sizeof b->type, "%s", type ? type : "application/octet-stream");
    pthread_mutex_lock(&J->lock);
    sweep(J);
    blob *old = blob_find(J, key);
    uint64_t used = J->blob_bytes - (old ? old->len : 0);
    int ret = used + len > J->s->cfg.store_limit ? -1 : 0;
    if (!ret) {
        if (old)
            blob_remove(J, old);
        b->expires = time(NULL) + J->s->cfg.store_ttl;
        b->next = J->blobs;
        J->blobs = b;
        J->blob_bytes += len;
    }
    pthread_mutex_unlock(&J->lock);
    if (ret)
        blob_free(b);
    return ret;
}

static blob *blob_get(struct srv_jobs *J, const char *key)
{
    pthread_mutex_lock(&J->lock);
    sweep(J);
    blob *b = blob_find(J, key);
    if (b)
        b->refs++;
    pthread_mutex_unlock(&J->lock);
    return b;
}

typedef struct blob_ref {
    struct srv_jobs *J;
    blob *b;
} blob_ref;

static void blob_ref_free(void *arg)
{
    blob_ref *br = arg;
    blob_unref(br->J, br->b);
    free(br);
}

/* A response sending the blob's bytes without copying them (it holds a reference). */
static int blob_response(struct srv_jobs *J, blob *b, srv_reply *rep)
{
    blob_ref *br = malloc(sizeof *br);
    struct MHD_Response *resp =
        br ? MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data,
                                                                    blob_ref_free, br)
           : NULL;
    if (!resp) {
        free(br);
        blob_unref(J, b);
        srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        return -1;
    }
    br->J = J;
    br->b = b;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, b->type);
    rep->status = 200;
    rep->response = resp;
    rep->size = b->len;
    return 0;
}

struct MHD_Response *srv_json_reply(json_t *o, int status, srv_reply *rep)
{
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                       JSON_REAL_PRECISION(10))
                   : NULL;
    json_decref(o);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free)
             : NULL;
    if (!resp) {
        free(text);
        srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    rep->status = status;
    rep->response = resp;
    rep->size = strlen(text);
    return resp;
}

/* ---- uploads and blobs ---- */

void srv_upload(srv_req *r, srv_reply *rep)
{
    struct srv_jobs *J = srv_server(r)->jobs;
    char id[40] = "up_", key[64];
    srv_random_hex(id + 3, 12);
    /* the name's extension goes with the id: some demuxers need it */
    const char *name = srv_body_name(r), *dot = strrchr(name, '.');
    if (dot)
        snprintf(id + strlen(id), sizeof id - strlen(id), "%s", dot);
    snprintf(key, sizeof key, "uploads/%s", id);
    size_t len;
    void *data = srv_take_body(r, &len);
    if (blob_put(J, key, data, len, NULL)) {
        srv_problem(rep, 507, "store_full", "the server keeps at most %llu bytes of uploads "
                    "and outputs; delete or wait for some to expire",
                    (unsigned long long)srv_server(r)->cfg.store_limit);
        return;
    }
    json_t *o = json_pack("{s:s, s:I, s:I}", "id", id, "size", (json_int_t)len, "expires_in",
                          (json_int_t)srv_server(r)->cfg.store_ttl);
    if (srv_json_reply(o, 201, rep)) {
        char loc[96];
        snprintf(loc, sizeof loc, "/v1/blobs/%s", key);
        MHD_add_response_header(rep->response, MHD_HTTP_HEADER_LOCATION, loc);
    }
}

void srv_blob_get(srv_req *r, srv_reply *rep)
{
    struct srv_jobs *J = srv_server(r)->jobs;
    const char *key = srv_path(r) + strlen("/v1/blobs/");
    blob *b = valid_key(key) ? blob_get(J, key) : NULL;
    if (!b) {
        srv_problem(rep, 404, "not_found", "no blob '%.200s'", key);
        return;
    }
    blob_response(J, b, rep);
}

void srv_blob_put(srv_req *r, srv_reply *rep)
{
    struct srv_jobs *J = srv_server(r)->jobs;
    const char *key = srv_path(r) + strlen("/v1/blobs/");
    if (!valid_key(key)) {
        srv_problem(rep, 400, "bad_request", "a blob key is letters, digits, '.', '_', '-' "
                    "and '/', without '..'");
        return;
    }
    size_t len;
    void *data = srv_take_body(r, &len);
    if (blob_put(J, key, data, len, NULL)) {
        srv_problem(rep, 507, "store_full", "the blob store is full");
        return;
    }
    srv_json_reply(json_pack("{s:s, s:I}", "key", key, "size", (json_int_t)len), 201, rep);
}

int srv_blob_reply(server *s, const char *key, srv_reply *rep)
{
    blob *b = valid_key(key) ? blob_get(s->jobs, key) : NULL;
    if (!b)
        return -1;
    blob_response(s->jobs, b, rep);
    return 0;
}

int srv_blob_has(server *s, const char *key)
{
    blob *b = valid_key(key) ? blob_get(s->jobs, key) : NULL;
    if (b)
        blob_unref(s->jobs, b);
    return b != NULL;
}

/* ---- the job description ---- */

/* The extension of a name or URL path ("" when none): letters and digits, at most 8. */
static void extension(const char *name, char *buf, size_t cap)
{
    *buf = '\0';
    if (!name)
        return;
    size_t end = strcspn(name, "?#");
    const char *dot = NULL;
    for (size_t i = 0; i < end; i++)
        if (name[i] == '.')
            dot = name + i;
        else if (name[i] == '/')
            dot = NULL;
    if (!dot)
        return;
    size_t n = (size_t)(name + end - dot - 1);
    if (!n || n > 8 || n >= cap)
        return;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)dot[1 + i]))
            return;
    memcpy(buf, dot + 1, n);
    buf[n] = '\0';
}

/* Type check helpers for the description: a message naming the field on failure. */
static int want_string(json_t *o, const char *key, const char *where, const char **out,
                       char *msg, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v)) {
        snprintf(msg, cap, "%s.%s: a non-empty string", where, key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int want_number(json_t *o, const char *key, const char *where, double *out, int *given,
                       char *msg, size_t cap)
{
    json_t *v = json_object_get(o, key);
    *given = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || !isfinite(json_number_value(v))) {
        snprintf(msg, cap, "%s.%s: a number of seconds, 0 or more", where, key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* An object of strings, each passed to fn(cmd, index, key, value). */
static int each_pair(json_t *o, const char *key, const char *where, afmpeg_command *cmd, int idx,
                     int (*fn)(afmpeg_command *, int, const char *, const char *), char *msg,
                     size_t cap)
{
    json_t *m = json_object_get(o, key);
    if (!m)
        return 0;
    if (!json_is_object(m)) {
        snprintf(msg, cap, "%s.%s: an object of strings", where, key);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) {
            snprintf(msg, cap, "%s.%s.%s: a string", where, key, k);
            return -1;
        }
        if (fn(cmd, idx, k, json_string_value(v))) {
            snprintf(msg, cap, "%s.%s.%s: %s", where, key, k, afmpeg_last_error());
            return -1;
        }
    }
    return 0;
}

static const char *const known_input_keys[] = {"upload", "url", "name", "format", "options",
                                               "seek", "seek_mode", "duration", NULL};
static const char *const known_output_keys[] = {"name", "url", "format", "maps", "codecs",
                                                "filters", "options", "duration", "end",
                                                "metadata", NULL};
static const char *const known_job_keys[] = {"id", "inputs", "outputs", "filter_complex",
                                             "limits", "parallel", "webhook", NULL};

static int only_keys(json_t *o, const char *const *known, const char *where, char *msg,
                     size_t cap)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!tx_in_list(known, k)) {
            snprintf(msg, cap, "%s: unknown field '%.60s'", where, k);
            return -1;
        }
    }
    return 0;
}

int srv_spec_check(json_t *spec, char *msg, size_t cap)
{
    if (!json_is_object(spec)) {
        snprintf(msg, cap, "the job is a JSON object");
        return -1;
    }
    if (only_keys(spec, known_job_keys, "job", msg, cap))
        return -1;
    json_t *ins = json_object_get(spec, "inputs"), *outs = json_object_get(spec, "outputs");
    if (!json_is_array(ins) || !json_array_size(ins) || json_array_size(ins) > 16) {
        snprintf(msg, cap, "inputs: an array of 1 to 16 inputs");
        return -1;
    }
    if (!json_is_array(outs) || !json_array_size(outs) || json_array_size(outs) > 16) {
        snprintf(msg, cap, "outputs: an array of 1 to 16 outputs");
        return -1;
    }
    json_t *id = json_object_get(spec, "id");
    if (id && (!json_is_string(id) || !valid_key(json_string_value(id)) ||
               strlen(json_string_value(id)) > 64 || strchr(json_string_value(id), '/'))) {
        snprintf(msg, cap, "id: 1 to 64 letters, digits, '.', '_' or '-'");
        return -1;
    }
    size_t i;
    json_t *in;
    json_array_foreach(ins, i, in) {
        char where[32];
        snprintf(where, sizeof where, "inputs[%zu]", i);
        const char *up, *url;
        if (!json_is_object(in) || only_keys(in, known_input_keys, where, msg, cap)) {
            if (!json_is_object(in))
                snprintf(msg, cap, "%s: an object", where);
            return -1;
        }
        if (want_string(in, "upload", where, &up, msg, cap) ||
            want_string(in, "url", where, &url, msg, cap))
            return -1;
        if (!up == !url) {
            snprintf(msg, cap, "%s: an upload id or a url (one of them)", where);
            return -1;
        }
    }
    json_t *out;
    json_array_foreach(outs, i, out) {
        char where[32];
        snprintf(where, sizeof where, "outputs[%zu]", i);
        if (!json_is_object(out)) {
            snprintf(msg, cap, "%s: an object", where);
            return -1;
        }
        if (only_keys(out, known_output_keys, where, msg, cap))
            return -1;
        const char *name, *fmt;
        if (want_string(out, "name", where, &name, msg, cap) ||
            want_string(out, "format", where, &fmt, msg, cap))
            return -1;
        if (!name && !fmt) {
            snprintf(msg, cap, "%s: a name (out.mp4) or a format (mp4)", where);
            return -1;
        }
    }
    json_t *p = json_object_get(spec, "parallel");
    if (p && !(json_is_string(p) && !strcmp(json_string_value(p), "auto")) &&
        !(json_is_integer(p) && json_integer_value(p) >= 0 && json_integer_value(p) <= 64)) {
        snprintf(msg, cap, "parallel: \"auto\" or 0 to 64");
        return -1;
    }
    json_t *w = json_object_get(spec, "webhook");
    if (w && (!json_is_string(w) || !*json_string_value(w))) {
        snprintf(msg, cap, "webhook: a URL");
        return -1;
    }
    return 0;
}

/* The job's file names: "/inK[.EXT]" and "/outK.EXT". */
static void input_name(json_t *in, size_t k, const char *upload_ext, char *buf, size_t cap)
{
    char ext[16];
    json_t *n = json_object_get(in, "name"), *u = json_object_get(in, "url");
    extension(n ? json_string_value(n) : u ? json_string_value(u) : NULL, ext, sizeof ext);
    if (!*ext && upload_ext)
        snprintf(ext, sizeof ext, "%s", upload_ext);
    snprintf(buf, cap, "/in%zu%s%s", k, *ext ? "." : "", ext);
}

static void output_name(json_t *out, size_t k, char *buf, size_t cap)
{
    char ext[16];
    json_t *n = json_object_get(out, "name"), *f = json_object_get(out, "format");
    extension(n ? json_string_value(n) : NULL, ext, sizeof ext);
    if (!*ext && f)
        snprintf(ext, sizeof ext, "%.8s", json_string_value(f));
    for (char *p = ext; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    snprintf(buf, cap, "/out%zu.%s", k, *ext ? ext : "bin");
}

static int set_codec(afmpeg_command *c, int o, const char *k, const char *v)
{
    afmpeg_media_type t = !strcmp(k, "video") ? AFMPEG_MEDIA_VIDEO
                          : !strcmp(k, "audio") ? AFMPEG_MEDIA_AUDIO
                          : !strcmp(k, "subtitle") ? AFMPEG_MEDIA_SUBTITLE
                                                   : AFMPEG_MEDIA_UNKNOWN;
    return afmpeg_command_output_codec(c, o, t, v);
}

static int set_filter(afmpeg_command *c, int o, const char *k, const char *v)
{
    afmpeg_media_type t = !strcmp(k, "video") ? AFMPEG_MEDIA_VIDEO
                          : !strcmp(k, "audio") ? AFMPEG_MEDIA_AUDIO
                                                : AFMPEG_MEDIA_UNKNOWN;
    return afmpeg_command_output_filter(c, o, t, v);
}

int srv_spec_command(json_t *spec, const char *const *upload_exts, afmpeg_command **out,
                     char *msg, size_t cap)
{
    afmpeg_command *cmd = NULL;
    *out = NULL;
    if (afmpeg_command_new(&cmd)) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    size_t i;
    json_t *in, *o;
    json_array_foreach(json_object_get(spec, "inputs"), i, in) {
        char where[32], name[48];
        snprintf(where, sizeof where, "inputs[%zu]", i);
        input_name(in, i, upload_exts ? upload_exts[i] : NULL, name, sizeof name);
        int idx;
        const char *fmt, *mode;
        double seek = 0, dur = 0;
        int has_seek, has_dur;
        if (afmpeg_command_add_input(cmd, name, &idx) ||
            want_string(in, "format", where, &fmt, msg, cap) ||
            want_string(in, "seek_mode", where, &mode, msg, cap) ||
            want_number(in, "seek", where, &seek, &has_seek, msg, cap) ||
            want_number(in, "duration", where, &dur, &has_dur, msg, cap))
            goto fail;
        if (mode && strcmp(mode, "accurate") && strcmp(mode, "fast")) {
            snprintf(msg, cap, "%s.seek_mode: accurate or fast", where);
            goto fail;
        }
        if ((fmt && afmpeg_command_input_format(cmd, idx, fmt)) ||
            (has_seek && afmpeg_command_input_seek(cmd, idx, seek, mode && !strcmp(mode, "fast")
                                                   ? AFMPEG_SEEK_FAST : AFMPEG_SEEK_ACCURATE)) ||
            (has_dur && afmpeg_command_input_duration(cmd, idx, dur))) {
            snprintf(msg, cap, "%s: %s", where, afmpeg_last_error());
            goto fail;
        }
        if (each_pair(in, "options", where, cmd, idx, afmpeg_command_input_option, msg, cap))
            goto fail;
    }
    json_t *fc = json_object_get(spec, "filter_complex");
    if (fc && (!json_is_string(fc) || afmpeg_command_filter_complex(cmd,
                                                                     json_string_value(fc)))) {
        snprintf(msg, cap, "filter_complex: a filter graph string");
        goto fail;
    }
    json_array_foreach(json_object_get(spec, "outputs"), i, o) {
        char where[32], name[48];
        snprintf(where, sizeof where, "outputs[%zu]", i);
        output_name(o, i, name, sizeof name);
        int idx, has_d, has_e;
        const char *fmt;
        double d = 0, e = 0;
        if (afmpeg_command_add_output(cmd, name, &idx) ||
            want_string(o, "format", where, &fmt, msg, cap) ||
            want_number(o, "duration", where, &d, &has_d, msg, cap) ||
            want_number(o, "end", where, &e, &has_e, msg, cap))
            goto fail;
        if ((fmt && afmpeg_command_output_format(cmd, idx, fmt)) ||
            (has_d && afmpeg_command_output_duration(cmd, idx, d)) ||
            (has_e && afmpeg_command_output_end(cmd, idx, e))) {
            snprintf(msg, cap, "%s: %s", where, afmpeg_last_error());
            goto fail;
        }
        json_t *maps = json_object_get(o, "maps"), *m;
        size_t k;
        if (maps && !json_is_array(maps)) {
            snprintf(msg, cap, "%s.maps: an array of strings", where);
            goto fail;
        }
        json_array_foreach(maps, k, m) {
            if (!json_is_string(m) || afmpeg_command_output_map(cmd, idx, json_string_value(m))) {
                snprintf(msg, cap, "%s.maps[%zu]: a map such as \"0:v\" or \"[v]\"", where, k);
                goto fail;
            }
        }
        if (each_pair(o, "codecs", where, cmd, idx, set_codec, msg, cap) ||
            each_pair(o, "filters", where, cmd, idx, set_filter, msg, cap) ||
            each_pair(o, "options", where, cmd, idx, afmpeg_command_output_option, msg, cap) ||
            each_pair(o, "metadata", where, cmd, idx, afmpeg_command_output_metadata, msg, cap))
            goto fail;
    }
    *out = cmd;
    return 0;
fail:
    afmpeg_command_free(cmd);
    return -1;
}

/* ---- jobs ---- */

static void job_unref(ajob *j)
{
    struct srv_jobs *J = j->jobs;
    int last;
    if (j->refs) { /* called with refs > 0: drop one under the lock */
        pthread_mutex_lock(&J->lock);
        last = --j->refs == 0;
        pthread_mutex_unlock(&J->lock);
    } else {
        last = 1;
    }
    if (!last)
        return;
    json_decref(j->outputs);
    afmpeg_cancel_token_free(j->cancel);
    json_decref(j->spec);
    free(j->text);
    free(j);
}

/* Publishes a change (under J->lock). */
static void changed(ajob *j)
{
    j->version++;
    pthread_cond_broadcast(&j->jobs->changed);
}

/* The job's state as JSON (under J->lock). */
static json_t *state_json(server *s, ajob *j)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "state", json_string(state_names[j->state]));
    json_object_set_new(o, "fraction", j->fraction < 0 ? json_null() : json_real(j->fraction));
    json_object_set_new(o, "speed", j->speed < 0 ? json_null() : json_real(j->speed));
    json_object_set_new(o, "frame", json_integer(j->frame));
    json_object_set_new(o, "out_time", json_real(j->out_time));
    json_object_set_new(o, "created", json_integer((json_int_t)j->created));
    json_object_set_new(o, "started", j->started ? json_integer((json_int_t)j->started)
                                                 : json_null());
    json_object_set_new(o, "finished", j->finished ? json_integer((json_int_t)j->finished)
                                                   : json_null());
    if (j->error) {
        json_t *e = json_object();
        json_object_set_new(e, "error", json_string(j->error));
        json_object_set_new(e, "detail", cli_json_string(j->detail));
        if (j->trap)
            json_object_set_new(e, "trap", json_string(j->trap));
        json_object_set_new(o, "error", e);
    }
    if (j->state == J_COMPLETE) {
        json_t *outs = json_deep_copy(j->outputs), *x;
        size_t i;
        json_array_foreach(outs, i, x) {
            if (!json_object_get(x, "key"))
                continue;
            /* kept here: the URL to fetch it, signed when keys are configured */
            char path[160], url[512];
            snprintf(path, sizeof path, "/v1/jobs/%s/outputs/%zu", j->id, i);
            srv_sign_path(s, "GET", path, s->cfg.url_ttl, url, sizeof url);
            json_object_del(x, "key");
            json_object_set_new(x, "url", json_string(*url ? url : path));
        }
        json_object_set_new(o, "outputs", outs);
    }
    return o;
}

/* Ends the job (once): state, error, time. Under J->lock. */
static void finish_job(ajob *j, int state, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish_job(ajob *j, int state, const char *error, const char *fmt, ...)
{
    if (j->state >= J_COMPLETE)
        return;
    j->state = state;
    j->error = error;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->detail, sizeof j->detail, fmt, ap);
        va_end(ap);
    }
    j->finished = time(NULL);
    if (state == J_COMPLETE)
        j->fraction = 1;
    j->jobs->active--;
    changed(j);
}

static int on_progress(const afmpeg_progress *p, void *payload)
{
    ajob *j = payload;
    pthread_mutex_lock(&j->jobs->lock);
    j->fraction = p->fraction;
    j->speed = p->speed;
    j->frame = p->frame;
    j->out_time = p->out_time;
    changed(j);
    pthread_mutex_unlock(&j->jobs->lock);
    return 0;
}

/* Sends the final state to the job's webhook: POST, signed, retried with backoff on transient
 * failures (1, 2, 4, 8 s), given up when the server stops. */
static void call_webhook(server *s, ajob *j, const char *url)
{
    struct srv_jobs *J = s->jobs;
    pthread_mutex_lock(&J->lock);
    json_t *o = state_json(s, j);
    pthread_mutex_unlock(&J->lock);
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!body)
        return;
    char ts[32], sig[80], h_ts[64], h_sig[128], h_id[128];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    srv_sign_body(s, ts, body, strlen(body), sig, sizeof sig);
    snprintf(h_ts, sizeof h_ts, "X-Afmpeg-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "X-Afmpeg-Signature: %s", sig);
    snprintf(h_id, sizeof h_id, "X-Afmpeg-Job: %s", j->id);
    const char *headers[] = {"Content-Type: application/json", h_ts, *sig ? h_sig : h_id, h_id,
                             NULL};
    char msg[512];
    for (int attempt = 0; attempt < 5; attempt++) {
        int transient;
        if (!srv_url_send(s, "POST", url, body, strlen(body), headers, NULL, &transient, msg,
                          sizeof msg))
            break;
        char n[8];
        snprintf(n, sizeof n, "%d", attempt + 1);
        srv_log(s, "warn", "webhook failed", "job", j->id, "attempt", n, "detail", msg, NULL);
        if (!transient)
            break;
        for (int t = 0; t < 10 << attempt && !J->closing; t++)
            usleep(100 * 1000);
        if (J->closing)
            break;
    }
    free(body);
}

/* Marks the job PROGRESSING: its instance is taken. */
static void job_started(void *payload)
{
    ajob *j = payload;
    pthread_mutex_lock(&j->jobs->lock);
    j->state = J_PROGRESSING;
    j->started = time(NULL);
    changed(j);
    pthread_mutex_unlock(&j->jobs->lock);
}

/* Job limits from the description's "limits", lowering the server's. */
static void job_limits(server *s, json_t *spec, afmpeg_job_options *o)
{
    o->limits.timeout_ms = s->cfg.timeout_ms;
    o->limits.memory_limit = s->cfg.memory_limit;
    o->limits.output_limit = s->cfg.output_limit;
    json_t *lim = json_object_get(spec, "limits");
    if (!lim)
        return;
    json_t *t = json_object_get(lim, "timeout");
    if (json_is_number(t) && json_number_value(t) > 0 &&
        json_number_value(t) * 1000 < (double)o->limits.timeout_ms)
        o->limits.timeout_ms = (uint64_t)ceil(json_number_value(t) * 1000);
    static const char *const sizes[] = {"memory_limit", "output_limit"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(lim, sizes[i]);
        uint64_t n, *field = i ? &o->limits.output_limit : &o->limits.memory_limit;
        if (json_is_string(v) && !srv_parse_size(json_string_value(v), &n) && n && n < *field)
            *field = n;
        else if (json_is_integer(v) && json_integer_value(v) > 0 &&
                 (uint64_t)json_integer_value(v) < *field)
            *field = (uint64_t)json_integer_value(v);
    }
}

static void exec_fail(srv_exec *x, int state, const char *error, int transient,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void exec_fail(srv_exec *x, int state, const char *error, int transient,
                      const char *fmt, ...)
{
    x->state = state;
    x->error = error;
    x->transient = transient;
    *x->detail = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->detail, sizeof x->detail, fmt, ap);
        va_end(ap);
    }
}

void srv_job_execute(server *s, json_t *spec, const char *id, srv_exec *x)
{
    struct srv_jobs *J = s->jobs;
    json_t *ins = json_object_get(spec, "inputs");
    size_t n_in = json_array_size(ins), n_out = json_array_size(json_object_get(spec,
                                                                                "outputs"));
    blob **held = calloc(n_in ? n_in : 1, sizeof *held);
    char **exts = calloc(n_in + 1, sizeof *exts);
    char extbuf[16][16];
    afmpeg_command *cmd = NULL;
    afmpeg_fs *fs = NULL;
    srv_fs *f = NULL;
    afmpeg_result *res = NULL;
    char msg[1024] = "";
    x->outputs = NULL;
    x->trap = NULL;
    exec_fail(x, SRV_COMPLETE, NULL, 0, NULL);
    if (!held || !exts || n_in > 16) {
        exec_fail(x, SRV_ERROR, "internal", 0, "out of memory");
        goto done;
    }
    /* the inputs: uploads held, URLs fetched (before an instance is taken) */
    for (size_t i = 0; i < n_in; i++) {
        json_t *in = json_array_get(ins, i);
        const char *up = json_string_value(json_object_get(in, "upload"));
        const char *url = json_string_value(json_object_get(in, "url"));
        extbuf[i][0] = '\0';
        exts[i] = extbuf[i];
        if (up) {
            char key[128];
            snprintf(key, sizeof key, "uploads/%s", up);
            if (!(held[i] = blob_get(J, key))) {
                exec_fail(x, SRV_ERROR, "bad_job", 0, "inputs[%zu]: no upload '%.80s' "
                          "(expired?)", i, up);
                goto done;
            }
            extension(up, extbuf[i], sizeof extbuf[i]);
            continue;
        }
        void *data;
        size_t len;
        int transient;
        if (srv_url_get(s, url, s->cfg.max_body, x->cancel, &data, &len, &transient, msg,
                        sizeof msg)) {
            if (afmpeg_cancel_token_is_cancelled(x->cancel))
                exec_fail(x, SRV_CANCELED, NULL, 0, NULL);
            else
                exec_fail(x, SRV_ERROR, transient ? "fetch_failed" : "bad_input_url", transient,
                          "inputs[%zu]: %s", i, msg);
            goto done;
        }
        held[i] = calloc(1, sizeof *held[i]); /* a private blob (no key): not in the store */
        if (!held[i]) {
            free(data);
            exec_fail(x, SRV_ERROR, "internal", 0, "out of memory");
            goto done;
        }
        held[i]->data = data;
        held[i]->len = len;
    }
    if (srv_spec_command(spec, (const char *const *)exts, &cmd, msg, sizeof msg)) {
        exec_fail(x, SRV_ERROR, "bad_job", 0, "%s", msg);
        goto done;
    }
    for (size_t i = 0; i < n_in; i++) {
        char name[48];
        input_name(json_array_get(ins, i), i, exts[i], name, sizeof name);
        if (i == 0 ? srv_fs_new(name + 1, held[i]->data, held[i]->len, &f, &fs)
                   : srv_fs_add(f, name + 1, held[i]->data, held[i]->len)) {
            exec_fail(x, SRV_ERROR, "internal", 0, "out of memory");
            goto done;
        }
    }
    afmpeg_job_options o;
    afmpeg_job_options_init(&o);
    job_limits(s, spec, &o);
    json_t *par = json_object_get(spec, "parallel");
    o.parallel = json_is_string(par) ? AFMPEG_PARALLEL_AUTO
                 : json_integer_value(par) == 1 ? 0 : (int)json_integer_value(par);
    o.cancel = x->cancel;
    o.on_progress = x->on_progress;
    o.progress_payload = x->payload;
    /* the instance; a split job takes one and its pieces use the runtime's others */
    if (srv_slot_take(s, x->cancel)) {
        exec_fail(x, SRV_CANCELED, NULL, 0, NULL);
        goto done;
    }
    if (x->on_start)
        x->on_start(x->payload);
    int err = afmpeg_run_job(s->rt, fs, cmd, &o, &res);
    srv_slot_give(s);
    if (err == AFMPEG_ECANCELLED) {
        exec_fail(x, SRV_CANCELED, NULL, 0, NULL);
        goto done;
    }
    if (err) {
        const char *name = err == AFMPEG_ETRAP ? "guest_trap" : err == AFMPEG_ETIMEDOUT
                           ? "timeout" : err == AFMPEG_ELIMIT ? "limit_exceeded"
                           : err == AFMPEG_EINVAL ? "bad_job" : "internal";
        if (err == AFMPEG_ETRAP)
            x->trap = afmpeg_trap_name(afmpeg_result_trap(res));
        exec_fail(x, SRV_ERROR, name, 0, "%s", afmpeg_last_error());
        goto done;
    }
    if (afmpeg_result_exit_code(res)) {
        char line[512];
        cli_last_ffmpeg_line(afmpeg_result_stderr(res, NULL), line, sizeof line);
        exec_fail(x, SRV_ERROR, "ffmpeg_failed", 0, "%s", *line ? line : "ffmpeg failed");
        goto done;
    }
    /* the outputs: sent to their URLs, or stored under a key with the job's id */
    x->outputs = json_array();
    for (size_t i = 0; x->outputs && i < n_out; i++) {
        json_t *oj = json_array_get(json_object_get(spec, "outputs"), i);
        const char *url = json_string_value(json_object_get(oj, "url"));
        char name[48], key[160];
        output_name(oj, i, name, sizeof name);
        void *data = NULL;
        size_t len = 0;
        if (srv_fs_take(f, name + 1, &data, &len)) {
            exec_fail(x, SRV_ERROR, "ffmpeg_failed", 0, "outputs[%zu]: ffmpeg wrote no file", i);
            goto done;
        }
        json_t *d = json_object();
        json_array_append_new(x->outputs, d);
        json_object_set_new(d, "index", json_integer((json_int_t)i));
        json_object_set_new(d, "size", json_integer((json_int_t)len));
        const afmpeg_output_info *info = afmpeg_result_output(res, i);
        if (info && info->probe && !isnan(info->probe->duration))
            json_object_set_new(d, "duration", json_real(info->probe->duration));
        json_t *streams = json_array();
        for (size_t k = 0; info && k < info->stream_count; k++)
            json_array_append_new(streams, json_pack("{s:s, s:s, s:b}", "type",
                                                     afmpeg_media_type_name(
                                                         info->streams[k].type),
                                                     "codec", info->streams[k].codec, "copied",
                                                     info->streams[k].copied));
        json_object_set_new(d, "streams", streams);
        if (url) {
            int transient;
            int bad = srv_url_send(s, "PUT", url, data, len, NULL, x->cancel, &transient, msg,
                                   sizeof msg);
            free(data);
            if (bad) {
                exec_fail(x, SRV_ERROR, "store_failed", transient, "outputs[%zu]: %s", i, msg);
                goto done;
            }
            json_object_set_new(d, "url", json_string(url));
        } else {
            snprintf(key, sizeof key, "jobs/%s/%zu", id, i);
            if (blob_put(J, key, data, len, NULL)) {
                exec_fail(x, SRV_ERROR, "store_failed", 1, "outputs[%zu]: the blob store is "
                          "full", i);
                goto done;
            }
            json_object_set_new(d, "key", json_string(key));
        }
    }
    if (!x->outputs)
        exec_fail(x, SRV_ERROR, "internal", 0, "out of memory");
done:
    if (x->state != SRV_COMPLETE) {
        json_decref(x->outputs);
        x->outputs = NULL;
    }
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    afmpeg_command_free(cmd);
    for (size_t i = 0; held && i < n_in; i++) {
        if (held[i] && !held[i]->key) {
            free(held[i]->data);
            free(held[i]);
        } else if (held[i]) {
            blob_unref(J, held[i]);
        }
    }
    free(held);
    free(exts);
}

static void *run_job(void *arg)
{
    ajob *j = arg;
    struct srv_jobs *J = j->jobs;
    server *s = J->s;
    srv_exec x = {0};
    x.cancel = j->cancel;
    x.on_progress = on_progress;
    x.on_start = job_started;
    x.payload = j;
    srv_job_execute(s, j->spec, j->id, &x);
    pthread_mutex_lock(&J->lock);
    j->trap = x.trap;
    if (x.state == SRV_COMPLETE) {
        j->outputs = x.outputs;
        finish_job(j, J_COMPLETE, NULL, NULL);
    } else if (x.state == SRV_CANCELED) {
        finish_job(j, J_CANCELED, NULL, NULL);
    } else {
        finish_job(j, J_ERROR, x.error, "%s", x.detail);
    }
    pthread_mutex_unlock(&J->lock);
    json_t *w = json_object_get(j->spec, "webhook");
    if (w)
        call_webhook(s, j, json_string_value(w));
    char dur[32];
    snprintf(dur, sizeof dur, "%lld", (long long)(j->finished - j->created));
    srv_log(s, j->state == J_COMPLETE ? "info" : "warn", "job", "job", j->id, "state",
            state_names[j->state], "error", j->error ? j->error : "", "detail", j->detail,
            "seconds", dur, NULL);
    srv_metrics_job(s->metrics, "jobs", j->state == J_COMPLETE ? "ok"
                                        : j->state == J_CANCELED ? "cancelled"
                                        : j->trap ? "trap" : j->error);
    job_unref(j); /* the thread's reference */
    return NULL;
}

/* ---- the endpoints ---- */

static ajob *find_job(struct srv_jobs *J, const char *id, size_t n)
{
    for (ajob *j = J->list; j; j = j->next)
        if (strlen(j->id) == n && !strncmp(j->id, id, n))
            return j;
    return NULL;
}

void srv_job_submit(srv_req *r, srv_reply *rep)
{
    server *s = srv_server(r);
    struct srv_jobs *J = s->jobs;
    size_t len;
    const void *body = srv_body(r, &len);
    json_error_t jerr;
    json_t *spec = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    char msg[512];
    if (!spec) {
        srv_problem(rep, 400, "bad_job", "the job is not JSON: line %d, column %d: %s",
                    jerr.line, jerr.column, jerr.text);
        return;
    }
    afmpeg_command *cmd = NULL;
    if (srv_spec_check(spec, msg, sizeof msg) ||
        srv_spec_command(spec, NULL, &cmd, msg, sizeof msg)) {
        srv_problem(rep, 400, "bad_job", "%s", msg);
        json_decref(spec);
        return;
    }
    int bad = afmpeg_command_validate(cmd, s->rt);
    afmpeg_command_free(cmd);
    if (bad) {
        srv_problem(rep, 400, "bad_job", "%s", afmpeg_last_error());
        json_decref(spec);
        return;
    }
    /* URLs are checked now, so that a refused one is the caller's 400, not a later ERROR */
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(spec, "inputs"), i, x) {
        const char *url = json_string_value(json_object_get(x, "url"));
        if (url && srv_url_allowed(s, url, msg, sizeof msg)) {
            srv_problem(rep, 400, "url_not_allowed", "inputs[%zu]: %s", i, msg);
            json_decref(spec);
            return;
        }
    }
    json_array_foreach(json_object_get(spec, "outputs"), i, x) {
        const char *url = json_string_value(json_object_get(x, "url"));
        if (url && srv_url_allowed(s, url, msg, sizeof msg)) {
            srv_problem(rep, 400, "url_not_allowed", "outputs[%zu]: %s", i, msg);
            json_decref(spec);
            return;
        }
    }
    const char *hook = json_string_value(json_object_get(spec, "webhook"));
    if (hook && srv_url_allowed(s, hook, msg, sizeof msg)) {
        srv_problem(rep, 400, "url_not_allowed", "webhook: %s", msg);
        json_decref(spec);
        return;
    }
    if (s->nats) { /* serve --nats: to the queue, for the workers */
        srv_nats_submit(r, spec, rep);
        return;
    }
    char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    ajob *j = calloc(1, sizeof *j);
    if (!text || !j || afmpeg_cancel_token_new(&j->cancel)) {
        free(text);
        free(j);
        json_decref(spec);
        srv_problem(rep, 503, "out_of_memory", "no memory for the job");
        return;
    }
    j->text = text;
    j->spec = spec;
    j->jobs = J;
    j->fraction = j->speed = -1;
    j->created = time(NULL);
    j->refs = 1;
    const char *given = json_string_value(json_object_get(spec, "id"));
    if (given)
        snprintf(j->id, sizeof j->id, "%s", given);
    else {
        memcpy(j->id, "j_", 2);
        srv_random_hex(j->id + 2, 12);
    }
    pthread_mutex_lock(&J->lock);
    sweep(J);
    ajob *old = find_job(J, j->id, strlen(j->id));
    int status = 0;
    if (old) {
        /* a resubmission: the same job once; another one under its id is a conflict */
        status = strcmp(old->text, j->text) ? 409 : 200;
    } else if (s->draining) {
        status = 503;
    } else if (J->active >= s->cfg.max_jobs) {
        status = 429;
    } else {
        j->refs++; /* the thread's */
        if (pthread_create(&j->thread, NULL, run_job, j)) {
            j->refs--;
            status = 503;
        } else {
            j->thread_started = 1;
            j->next = J->list;
            J->list = j;
            J->active++;
            old = j;
            j = NULL;
            status = 201;
        }
    }
    json_t *o = status == 200 || status == 201 ? state_json(s, old) : NULL;
    pthread_mutex_unlock(&J->lock);
    char id[sizeof j->id];
    snprintf(id, sizeof id, "%s", given ? given : ""); /* `given` is in the spec freed below */
    if (j) {
        j->refs = 0;
        job_unref(j);
    }
    if (status == 409)
        srv_problem(rep, 409, "conflict", "a different job has the id '%s'", id);
    else if (status == 503)
        srv_problem(rep, 503, "draining", "the server is shutting down");
    else if (status == 429)
        srv_problem(rep, 429, "saturated", "%u jobs are queued or running; retry later",
                    s->cfg.max_jobs);
    if (!o)
        return;
    char loc[160];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", json_string_value(json_object_get(o, "id")));
    if (srv_json_reply(o, status == 201 ? 202 : 200, rep))
        MHD_add_response_header(rep->response, MHD_HTTP_HEADER_LOCATION, loc);
}

/* Server-sent events, for both job stores: each event is the JSON state `next` returns, "end"
 * for the last, "state" before; a comment when `next` has nothing (it waited 15 s), to keep
 * proxies open. */
typedef struct sse {
    srv_sse_next next;
    void *arg;
    void (*free_arg)(void *);
    int done;
    char *pending;
    size_t off, len;
} sse;

static void sse_free(void *cls)
{
    sse *e = cls;
    e->free_arg(e->arg);
    free(e->pending);
    free(e);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *e = cls;
    if (e->off == e->len) {
        free(e->pending);
        e->pending = NULL;
        e->off = e->len = 0;
        if (e->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        int last = 0, failed = 0;
        json_t *o = e->next(e->arg, &last, &failed);
        if (failed)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (o) {
            char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                           JSON_REAL_PRECISION(10));
            json_decref(o);
            e->done = last;
            if (text && asprintf(&e->pending, "event: %s\ndata: %s\n\n",
                                 last ? "end" : "state", text) < 0)
                e->pending = NULL;
            free(text);
        } else {
            e->pending = strdup(": keep-alive\n\n");
        }
        if (!e->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        e->len = strlen(e->pending);
    }
    size_t n = e->len - e->off < max ? e->len - e->off : max;
    memcpy(buf, e->pending + e->off, n);
    e->off += n;
    return (ssize_t)n;
}

int srv_sse_reply(srv_sse_next next, void *arg, void (*free_arg)(void *), srv_reply *rep)
{
    sse *e = calloc(1, sizeof *e);
    struct MHD_Response *resp = e ? MHD_create_response_from_callback(
                                        MHD_SIZE_UNKNOWN, 4096, sse_read, e, sse_free)
                                  : NULL;
    if (!resp) {
        free(e);
        free_arg(arg);
        srv_problem(rep, 503, "out_of_memory", "no memory for the response");
        return -1;
    }
    e->next = next;
    e->arg = arg;
    e->free_arg = free_arg;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    rep->status = 200;
    rep->response = resp;
    return 0;
}

/* A local job's events: the state each time it changes (its version), until it is final. */
typedef struct events {
    ajob *j;
    unsigned sent;
} events;

static void events_free(void *arg)
{
    events *e = arg;
    job_unref(e->j);
    free(e);
}

static json_t *events_next(void *arg, int *last, int *failed)
{
    events *e = arg;
    struct srv_jobs *J = e->j->jobs;
    pthread_mutex_lock(&J->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 15;
    while (e->j->version == e->sent && !J->closing &&
           pthread_cond_timedwait(&J->changed, &J->lock, &ts) != ETIMEDOUT)
        ;
    json_t *o = NULL;
    if (e->j->version != e->sent || J->closing) {
        e->sent = e->j->version;
        *last = e->j->state >= J_COMPLETE || J->closing;
        o = state_json(J->s, e->j);
    }
    pthread_mutex_unlock(&J->lock);
    return o;
}

void srv_job_get(srv_req *r, srv_reply *rep)
{
    server *s = srv_server(r);
    if (s->nats) {
        srv_nats_job_get(r, rep);
        return;
    }
    struct srv_jobs *J = s->jobs;
    const char *id = srv_path(r) + strlen("/v1/jobs/");
    size_t n = strcspn(id, "/");
    const char *rest = id + n;
    pthread_mutex_lock(&J->lock);
    sweep(J);
    ajob *j = find_job(J, id, n);
    if (j)
        j->refs++;
    pthread_mutex_unlock(&J->lock);
    if (!j) {
        srv_problem(rep, 404, "not_found", "no job '%.*s' (unknown, or expired)", (int)(n > 80
                    ? 80 : n), id);
        return;
    }
    if (!*rest) {
        pthread_mutex_lock(&J->lock);
        json_t *o = state_json(s, j);
        pthread_mutex_unlock(&J->lock);
        job_unref(j);
        srv_json_reply(o, 200, rep);
        return;
    }
    if (!strcmp(rest, "/events")) {
        events *e = calloc(1, sizeof *e);
        if (!e) {
            job_unref(j);
            srv_problem(rep, 503, "out_of_memory", "no memory for the response");
            return;
        }
        e->j = j;
        e->sent = (unsigned)-1; /* the current state first */
        srv_sse_reply(events_next, e, events_free, rep);
        return;
    }
    char *end;
    unsigned long k = strncmp(rest, "/outputs/", 9) ? ULONG_MAX : strtoul(rest + 9, &end, 10);
    if (k == ULONG_MAX || end == rest + 9 || *end) {
        job_unref(j);
        srv_problem(rep, 404, "not_found", "no endpoint %s", srv_path(r));
        return;
    }
    pthread_mutex_lock(&J->lock);
    const char *key = j->state == J_COMPLETE ? json_string_value(json_object_get(
                          json_array_get(j->outputs, k), "key")) : NULL;
    blob *b = key ? blob_find(J, key) : NULL;
    if (b)
        b->refs++;
    int complete = j->state == J_COMPLETE;
    pthread_mutex_unlock(&J->lock);
    job_unref(j);
    if (!b) {
        srv_problem(rep, complete ? 404 : 409, complete ? "not_found" : "not_complete",
                    complete ? "the job has no output %lu kept here" : "the job is not "
                    "complete", k);
        return;
    }
    blob_response(J, b, rep);
}

void srv_job_delete(srv_req *r, srv_reply *rep)
{
    server *s = srv_server(r);
    if (s->nats) {
        srv_nats_job_delete(r, rep);
        return;
    }
    struct srv_jobs *J = s->jobs;
    const char *id = srv_path(r) + strlen("/v1/jobs/");
    pthread_mutex_lock(&J->lock);
    ajob *j = strchr(id, '/') ? NULL : find_job(J, id, strlen(id));
    json_t *o = NULL;
    if (j) {
        afmpeg_cancel_token_cancel(j->cancel);
        if (j->state == J_SUBMITTED && !j->started)
            changed(j); /* its thread sees the token and ends it CANCELED */
        o = state_json(s, j);
    }
    pthread_mutex_unlock(&J->lock);
    if (!j) {
        srv_problem(rep, 404, "not_found", "no job '%.80s'", id);
        return;
    }
    srv_json_reply(o, 202, rep);
}

/* ---- the store ---- */

int srv_jobs_new(server *s)
{
    struct srv_jobs *J = calloc(1, sizeof *J);
    if (!J)
        return -1;
    J->s = s;
    pthread_mutex_init(&J->lock, NULL);
    pthread_cond_init(&J->changed, NULL);
    s->jobs = J;
    return 0;
}

unsigned srv_jobs_active(server *s)
{
    if (!s->jobs)
        return 0;
    pthread_mutex_lock(&s->jobs->lock);
    unsigned n = s->jobs->active;
    pthread_mutex_unlock(&s->jobs->lock);
    return n;
}

void srv_jobs_cancel_all(server *s)
{
    struct srv_jobs *J = s->jobs;
    if (!J)
        return;
    pthread_mutex_lock(&J->lock);
    for (ajob *j = J->list; j; j = j->next)
        afmpeg_cancel_token_cancel(j->cancel);
    J->closing = 1;
    pthread_cond_broadcast(&J->changed);
    pthread_mutex_unlock(&J->lock);
}

void srv_jobs_free(server *s)
{
    struct srv_jobs *J = s->jobs;
    if (!J)
        return;
    srv_jobs_cancel_all(s);
    for (ajob *j = J->list; j; j = j->next)
        if (j->thread_started)
            pthread_join(j->thread, NULL);
    while (J->list) {
        ajob *j = J->list;
        J->list = j->next;
        j->refs = 0; /* the thread's reference ended with it (joined above) */
        job_unref(j);
    }
    while (J->blobs) {
        blob *b = J->blobs;
        J->blobs = b->next;
        blob_free(b);
    }
    pthread_cond_destroy(&J->changed);
    pthread_mutex_destroy(&J->lock);
    free(J);
    s->jobs = NULL;
}
