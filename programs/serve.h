/* afmpeg serve: what its parts share (docs/serve.md says what it does for an operator).
 *
 *   cli_serve.c     the verb: configuration (flags and a file), start-up, signals, draining
 *   serve_http.c    libmicrohttpd's handlers: routing, auth, bodies, admission, problems, logs
 *   serve_media.c   the synchronous endpoints: /v1/probe, /v1/thumbnail, /v1/frames,
 *                   /v1/transcode
 *   serve_fs.c      the job filesystem: the upload, read-only, and the files a job writes
 *   serve_metrics.c the Prometheus counters and histograms
 *   serve_nats.c    the JetStream queue and state shared with afmpeg worker (cli_worker.c),
 *                   and serve --nats's job endpoints (the gateway)
 *
 * Threads: libmicrohttpd runs one thread per connection (bounded by the connection limits); a
 * request's job runs on its connection's thread, or, for a streamed response, on a thread of
 * its own. Instances are handed out by the server (srv_slot_acquire) so that the time waiting
 * for one is measured as the "queue" phase; the runtime itself never queues. */
#ifndef AFMPEG_SERVE_H
#define AFMPEG_SERVE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "afmpeg.h"

struct MHD_Connection;
struct MHD_Daemon;
struct MHD_Response;

/* ---- configuration ---- */

typedef struct srv_config {
    char *listen;             /* API listener, HOST:PORT (port 0: any free one) */
    char *ops_listen;         /* /livez, /readyz, /metrics; "" or "off": none */
    unsigned instances;       /* jobs at once */
    unsigned queue;           /* requests admitted beyond the instances before 429 */
    uint64_t max_body;        /* largest request body, bytes */
    uint64_t timeout_ms;      /* a job's wall time, default and most a request may ask */
    uint64_t memory_limit;    /* a job's guest memory, default and most */
    uint64_t output_limit;    /* a job's output bytes, default and most */
    unsigned connection_limit, per_ip_limit;
    unsigned idle_timeout;    /* seconds without a byte from the client */
    unsigned upload_timeout;  /* seconds for a whole request body */
    unsigned grace;           /* seconds SIGTERM lets in-flight work finish */
    int max_width, max_height, max_streams; /* input limits, from the probe; 0: none */
    double max_duration;      /* seconds; 0: none */
    char **tokens;            /* bearer tokens (NULL-terminated); none: no auth */
    size_t token_count;
    /* asynchronous jobs and their files */
    unsigned max_jobs;        /* jobs submitted and not ended, before 429 */
    uint64_t store_limit;     /* bytes of uploads and outputs kept in memory */
    unsigned store_ttl;       /* seconds an upload, an output or an ended job is kept */
    /* signed URLs: keys by id; the first signs, all verify (rotation) */
    char **key_ids, **keys;
    size_t key_count;
    unsigned url_ttl;         /* seconds a signed URL the server hands out stays valid */
    /* URLs the server may fetch from, store to or call (webhooks): prefixes; none: no URL */
    char **allow_urls;
    size_t allow_url_count;
    int allow_private;        /* also loopback, link-local and private addresses */
    /* serve --nats: jobs go to the JetStream queue (serve_nats.c), workers run them */
    char *nats_url;           /* NULL: jobs run here */
    char *public_url;         /* how workers reach this server's blobs; NULL: the API address */
} srv_config;

/* A size in bytes, with an optional K, M or G (powers of 1024): 0, or -1. */
int srv_parse_size(const char *s, uint64_t *out);

/* ---- metrics (serve_metrics.c) ---- */

#define SRV_PHASES 4 /* queue, upload, run, send */
typedef enum srv_phase { SRV_QUEUE, SRV_UPLOAD, SRV_RUN, SRV_SEND } srv_phase;

typedef struct srv_metrics srv_metrics;
int srv_metrics_new(srv_metrics **out);
void srv_metrics_free(srv_metrics *m);
/* One request ended: its endpoint ("probe", "thumbnail", ..., "other"), HTTP status, bytes. */
void srv_metrics_request(srv_metrics *m, const char *endpoint, int status, uint64_t in,
                         uint64_t out, const double phase_s[SRV_PHASES]);
/* One job ended with `outcome` ("ok", "media_error", "trap_out_of_bounds", "timeout", ...). */
void srv_metrics_job(srv_metrics *m, const char *endpoint, const char *outcome);
/* The exposition text (Prometheus 0.0.4), with the gauges given; malloc'd, NULL when out of
 * memory. */
char *srv_metrics_render(srv_metrics *m, unsigned instances, unsigned busy, unsigned queued,
                         unsigned admitted, int draining, size_t *len);

/* ---- the server ---- */

typedef struct srv_req srv_req;

typedef struct server {
    srv_config cfg;
    afmpeg_runtime *rt;
    struct MHD_Daemon *api, *ops;
    srv_metrics *metrics;
    pthread_mutex_t lock;
    pthread_cond_t slot_free;  /* a slot was released, or draining began */
    unsigned admitted;         /* requests holding admission (upload, queue, run, send) */
    unsigned busy;             /* slots held: jobs running */
    unsigned waiting;          /* requests waiting for a slot */
    int draining;              /* SIGTERM: no new requests (503); admitted ones go on */
    int stopping;              /* the grace period ended: waiting requests get 503 */
    srv_req *running;          /* requests with a job, watched for a client that hangs up */
    pthread_t watcher;
    pthread_cond_t watch_wake;
    int watcher_started, stop_watcher;
    uint64_t next_id;
    struct srv_jobs *jobs;     /* serve_jobs.c */
    struct srv_nats *nats;     /* serve --nats: the queue and the state (serve_nats.c) */
    FILE *log;
    pthread_mutex_t log_lock;
} server;

/* Starts the listeners (serve_http.c). 0, or -1 with the reason in msg. */
int srv_http_start(server *s, char *msg, size_t cap);
/* Stops accepting connections (in-flight ones go on). */
void srv_http_quiesce(server *s);
/* Cancels every running job and every request waiting for a slot. */
void srv_http_cancel_all(server *s);
/* Jobs running or waiting for an instance (requests' and asynchronous ones). */
unsigned srv_http_busy(server *s);
/* Requests in flight (admitted), and asynchronous jobs not ended. */
unsigned srv_http_in_flight(server *s);
/* Stops the listeners and joins their threads; in-flight connections are closed. */
void srv_http_stop(server *s);
/* The port a listener is bound to (0 when none). */
unsigned srv_http_port(struct MHD_Daemon *d);

/* `bytes` random bytes (at most 32) as hex into buf (2 * bytes + 1 chars). */
void srv_random_hex(char *buf, size_t bytes);
/* pthread_cond_timedwait() for at most `ms` milliseconds. */
void srv_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, unsigned ms);

/* One JSON log line: `msg` and the NULL-terminated key/value string pairs (values are
 * escaped). Thread-safe. */
void srv_log(server *s, const char *level, const char *msg, ...);

/* ---- a request, as the endpoints see it ---- */

/* What an endpoint hands back (serve_media.c to serve_http.c). */
typedef struct srv_reply {
    int status;
    struct MHD_Response *response; /* set: sent as is */
    /* else a problem: stable error name and a human message */
    const char *error;
    char detail[1024];
    const char *trap;              /* trap name for a guest trap, or NULL */
    const char *outcome;           /* the job's outcome for metrics, or NULL if none ran */
    uint64_t size;                 /* the response's body size, for the log (0: streamed) */
} srv_reply;

/* The request's query parameter `key`, or NULL. */
const char *srv_query(srv_req *r, const char *key);
/* The request body and its name in the job filesystem ("/input" or "/input.EXT"). */
const void *srv_body(srv_req *r, size_t *len);
const char *srv_body_name(srv_req *r);
/* The job options of this request: the configured limits, lowered by the query's timeout,
 * memory_limit and output_limit; the request's cancel token. -1 with a 400 in `rep` when a
 * limit is malformed. */
int srv_job_options(srv_req *r, afmpeg_job_options *o, srv_reply *rep);
/* Takes an instance (waits for one; the wait is the queue phase) and registers the request as
 * running, so that a client that hangs up cancels its job. 0, or -1 with a 503 in `rep` when
 * the server began draining. srv_slot_release() gives it back (the run phase ends). */
int srv_slot_acquire(srv_req *r, srv_reply *rep);
void srv_slot_release(srv_req *r);
/* The same for work that is not a request (an asynchronous job): waits for an instance until
 * `cancel` is cancelled or the server stops (-1). srv_slot_give() returns it. */
int srv_slot_take(server *s, afmpeg_cancel_token *cancel);
void srv_slot_give(server *s);
/* Fills `rep` with the problem for a library error (err != 0) from a job of the request.
 * `res` (may be NULL) gives the trap and FFmpeg's message. */
void srv_job_error(srv_req *r, int err, const afmpeg_result *res, srv_reply *rep);
/* Fills `rep` with a problem. */
void srv_problem(srv_reply *rep, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
server *srv_server(srv_req *r);
/* `fn(arg)` runs when the request ends, whichever way (a streamed response's clean-up). */
void srv_on_end(srv_req *r, void (*fn)(void *), void *arg);
/* Records how a streamed response's job ended, for the log (static strings). */
void srv_note(srv_req *r, const char *outcome, const char *error);
/* Counts response bytes sent by a streamed response. Any thread. */
void srv_add_bytes_out(srv_req *r, size_t n);
/* The request's connection socket, and 1 once the client has hung up. */
int srv_client_gone(srv_req *r);

/* The endpoints (serve_media.c): each runs on the connection's thread once the body is in. */
void srv_probe(srv_req *r, srv_reply *rep);
void srv_thumbnail(srv_req *r, srv_reply *rep);
void srv_frames(srv_req *r, srv_reply *rep);
void srv_transcode(srv_req *r, srv_reply *rep);

/* ---- asynchronous jobs, uploads and blobs (serve_jobs.c) ---- */

int srv_jobs_new(server *s);
/* Cancels every job (drain), then waits for their threads and frees everything. */
void srv_jobs_cancel_all(server *s);
void srv_jobs_free(server *s);
/* Jobs submitted and not ended. */
unsigned srv_jobs_active(server *s);
/* A JSON job (docs/serve.md): checked (0, or -1 with the field and the reason in msg), and its
 * command, reading "/inK[.EXT]" (the extension from the input's name or URL, else
 * upload_exts[K] when not NULL) and writing "/outK.EXT". Needs <jansson.h>. */
struct json_t;
int srv_spec_check(struct json_t *spec, char *msg, size_t cap);
int srv_spec_command(struct json_t *spec, const char *const *upload_exts, afmpeg_command **out,
                     char *msg, size_t cap);
/* Runs a checked job description: fetches its inputs (uploads from the store, URLs), takes an
 * instance (on_start is called then), runs it, and stores its outputs (PUT to their URLs, or
 * into the store under "jobs/ID/N"). Needs s->jobs. */
enum { SRV_COMPLETE = 2, SRV_CANCELED = 3, SRV_ERROR = 4 };
typedef struct srv_exec {
    /* in */
    afmpeg_cancel_token *cancel;
    afmpeg_progress_fn on_progress;
    void (*on_start)(void *payload);
    void *payload;
    /* out */
    int state;                  /* SRV_COMPLETE, SRV_CANCELED or SRV_ERROR */
    const char *error;          /* stable name ("media_error", "guest_trap", ...) */
    char detail[1024];
    const char *trap;           /* the trap's name, or NULL */
    int transient;              /* a retry may succeed (an input or output transfer failed) */
    struct json_t *outputs;     /* COMPLETE: [{index, size, duration, streams, url | key}] */
} srv_exec;
void srv_job_execute(server *s, struct json_t *spec, const char *id, srv_exec *x);
void srv_upload(srv_req *r, srv_reply *rep);
void srv_job_submit(srv_req *r, srv_reply *rep);
void srv_job_get(srv_req *r, srv_reply *rep);
void srv_job_delete(srv_req *r, srv_reply *rep);
void srv_blob_get(srv_req *r, srv_reply *rep);
void srv_blob_put(srv_req *r, srv_reply *rep);
/* The blob `key` as the response (0), or -1 when there is none; whether there is one. */
int srv_blob_reply(server *s, const char *key, srv_reply *rep);
int srv_blob_has(server *s, const char *key);

/* `o` (taken) as a JSON reply with `status`: the response, or NULL with a 503 in rep. */
struct MHD_Response *srv_json_reply(struct json_t *o, int status, srv_reply *rep);
/* Server-sent events as the reply (serve_jobs.c): next(arg, &last, &failed) gives each event's
 * state (a JSON object, taken; *last set for the final one), NULL after waiting about 15 s with
 * nothing new (a keep-alive comment is sent), or sets *failed to end the stream. free_arg(arg)
 * when the response is gone (also on failure here). 0, or -1 with a 503 in rep. */
typedef struct json_t *(*srv_sse_next)(void *arg, int *last, int *failed);
int srv_sse_reply(srv_sse_next next, void *arg, void (*free_arg)(void *), srv_reply *rep);

/* The request's path and method; its id. */
const char *srv_path(srv_req *r);
const char *srv_method(srv_req *r);
const char *srv_request_id(srv_req *r);
/* Takes the request's body (the caller frees it). */
void *srv_take_body(srv_req *r, size_t *len);

/* ---- the JetStream queue and the jobs' state (serve_nats.c; docs/worker.md) ----
 *
 * afmpeg worker and afmpeg serve --nats share these. Jobs are JSON messages on the work-queue
 * stream SRV_NATS_STREAM (subject SRV_NATS_JOBS; the message id is the job id, so a second
 * publication within the duplicates window is dropped); every worker pulls from the one durable
 * consumer SRV_NATS_CONSUMER. A job's state is the JSON value of its id in the key-value bucket
 * SRV_NATS_BUCKET, changed by compare-and-set only. Media never goes through NATS: inputs and
 * outputs are URLs. Progress is published on SRV_NATS_PROGRESS + ID, cancels on
 * SRV_NATS_CANCEL + ID. */
#define SRV_NATS_STREAM "AFMPEG_JOBS"
#define SRV_NATS_JOBS "afmpeg.jobs"
#define SRV_NATS_CONSUMER "AFMPEG_WORKERS"
#define SRV_NATS_BUCKET "AFMPEG_STATE"
#define SRV_NATS_PROGRESS "afmpeg.progress."
#define SRV_NATS_CANCEL "afmpeg.cancel."

struct __natsConnection;
struct __jsCtx;
struct __kvStore;
typedef struct srv_nats {
    struct __natsConnection *nc;
    struct __jsCtx *js;
    struct __kvStore *kv;
    struct srv_gateway *gw;    /* serve --nats only */
} srv_nats;

/* Connects to `url` (reconnecting for ever once connected; changes are logged), and makes the
 * stream and the bucket if they do not exist. 0, or -1 with the reason in msg. */
int srv_nats_open(server *s, const char *url, const char *name, srv_nats **out, char *msg,
                  size_t cap);
void srv_nats_close(srv_nats *n);
/* A job id usable as a key and a subject token: srv_spec_check's, not starting or ending
 * with '.'. */
int srv_nats_valid_id(const char *id);
/* A new state: {"id", "state": "SUBMITTED", "attempts": 0, "worker": null, "created": now,
 * "started": null, "finished": null}. */
struct json_t *srv_nats_state_new(const char *id);
/* Whether a state is final (COMPLETE, CANCELED, ERROR). */
int srv_nats_final(struct json_t *state);
/* The state of `id`: 1 with *state (the caller owns it) and its revision, 0 when there is none,
 * -1 on a NATS failure (msg). */
int srv_nats_get(srv_nats *n, const char *id, struct json_t **state, uint64_t *rev, char *msg,
                 size_t cap);
/* Creates the state of `id` if there is none: 0 (its revision in *rev, may be NULL), 1 when one
 * exists, -1 on a failure. */
int srv_nats_create(srv_nats *n, const char *id, struct json_t *state, uint64_t *rev, char *msg,
                    size_t cap);
/* Replaces the state if its revision is still `last` (compare-and-set): 0, 1 when it changed
 * meanwhile, -1 on a failure. */
int srv_nats_update(srv_nats *n, const char *id, struct json_t *state, uint64_t last,
                    uint64_t *rev, char *msg, size_t cap);
/* serve --nats: connects (s->nats) and follows progress; stops. */
int srv_nats_gateway_start(server *s, char *msg, size_t cap);
void srv_nats_gateway_stop(server *s);
/* The job endpoints with --nats: a checked job (taken) is published; the state is read from
 * the bucket; DELETE cancels. */
void srv_nats_submit(srv_req *r, struct json_t *spec, srv_reply *rep);
void srv_nats_job_get(srv_req *r, srv_reply *rep);
void srv_nats_job_delete(srv_req *r, srv_reply *rep);

/* ---- URLs (serve_url.c) ---- */

/* Checks a signed URL's parameters for METHOD PATH: 0, or -1 with the reason in msg. */
int srv_check_signature(server *s, const char *method, const char *path, const char *expires,
                        const char *kid, const char *sig, char *msg, size_t cap);
/* PATH?expires=..&kid=..&sig=.. signed with the first key for `ttl` seconds, into buf; "" when
 * no key is configured. */
void srv_sign_path(server *s, const char *method, const char *path, unsigned ttl, char *buf,
                   size_t cap);
/* HMAC-SHA256 of `data` with the first key, as "sha256=HEX" (webhooks); "" without a key. */
void srv_sign_body(server *s, const char *timestamp, const char *data, size_t len, char *buf,
                   size_t cap);
/* Whether the server may reach `url` (an allowed prefix, http or https). 0, or -1 with msg. */
int srv_url_allowed(server *s, const char *url, char *msg, size_t cap);
/* GET `url` into a new buffer (at most `max` bytes); PUT or POST `data` to it. `cancel` stops
 * the transfer. Addresses are checked at connect time (no loopback, link-local or private
 * unless allowed), redirects are not followed. 0, or -1 with the reason in msg and *transient
 * set when a retry may succeed (a network error or a 5xx). */
int srv_url_get(server *s, const char *url, uint64_t max, afmpeg_cancel_token *cancel,
                void **data, size_t *len, int *transient, char *msg, size_t cap);
int srv_url_send(server *s, const char *method, const char *url, const void *data, size_t len,
                 const char *const *headers, afmpeg_cancel_token *cancel, int *transient,
                 char *msg, size_t cap);

/* ---- the job filesystem (serve_fs.c) ---- */

/* A flat in-memory filesystem: the file `name` holding `data` (borrowed, read-only), and any
 * files the job creates beside it (at most `max_files`). */
typedef struct srv_fs srv_fs;
int srv_fs_new(const char *name, const void *data, size_t len, srv_fs **out, afmpeg_fs **fs);
/* Adds another read-only file (borrowed). 0, or -1. */
int srv_fs_add(srv_fs *f, const char *name, const void *data, size_t len);
/* Takes the contents of the file `name` the job wrote (the caller frees them): 0, or -ENOENT. */
int srv_fs_take(srv_fs *f, const char *name, void **data, size_t *len);

#endif
