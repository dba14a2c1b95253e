/* afmpeg worker and afmpeg serve --nats (docs/worker.md): the JetStream queue and the jobs'
 * state, which both use, and the gateway's job endpoints.
 *
 * The queue is the work-queue stream AFMPEG_JOBS (file storage; a message leaves it when a
 * worker acks or terminates it); a job is published with its id as the message id, so that a
 * second publication within the duplicates window is dropped by the server. The state of a job
 * is a JSON value under its id in the key-value bucket AFMPEG_STATE (history 1), written with
 * compare-and-set only:
 *
 *   {"id", "state": SUBMITTED | PROGRESSING | COMPLETE | CANCELED | ERROR,
 *    "attempts": deliveries so far (the message's NumDelivered when a worker took it),
 *    "worker": the worker that took it, "seq": the stream sequence of the message that did,
 *    "created", "started", "finished": Unix times, "error": {error, detail, trap},
 *    "last_error": why an earlier attempt was requeued, "outputs": [...] when COMPLETE,
 *    "cancel": true once cancelling was asked, "spec_sha256": the submission's hash}
 *
 * The gateway creates it (SUBMITTED) before publishing; a worker moves it to PROGRESSING when
 * it takes the message, and from there to a final state once (or back to SUBMITTED when it
 * gives the message back). Media never goes through NATS: the gateway rewrites inputs given as
 * uploads to signed URLs of its own GET /v1/blobs/uploads/ID, and outputs without a URL to
 * signed PUT URLs of /v1/blobs/jobs/ID/N, kept in its blob store. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <nats/nats.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "serve.h"

#define DUPLICATE_WINDOW_S 600 /* the stream drops a job id published again within this */
#define PROGRESS_SLOTS 256     /* the gateway remembers the progress of this many jobs */

/* "WHAT: NATS's last error" into msg. */
static void nats_fail(char *msg, size_t cap, const char *what, natsStatus st)
{
    const char *last = nats_GetLastError(NULL);
    snprintf(msg, cap, "%s: %s", what, last && *last ? last : natsStatus_GetText(st));
}

static json_t *job_json(const void *data, size_t len)
{
    json_t *o = json_loadb(data, len, 0, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static char *dump(json_t *o)
{
    return json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
}

/* ---- connection, stream, bucket ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
    if (!natsConnection_IsClosed(nc)) /* not our own close */
        srv_log(closure, "warn", "nats disconnected", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    srv_log(closure, "info", "nats reconnected", NULL);
}

/* The stream, made if missing (another process may be making it at the same time). */
static int ensure_stream(srv_nats *n, char *msg, size_t cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus st = js_GetStreamInfo(&si, n->js, SRV_NATS_STREAM, NULL, &jerr);
        if (st == NATS_OK) {
            int wq = si->Config && si->Config->Retention == js_WorkQueuePolicy;
            jsStreamInfo_Destroy(si);
            if (!wq) {
                snprintf(msg, cap, "the stream %s exists and is not a work queue",
                         SRV_NATS_STREAM);
                return -1;
            }
            return 0;
        }
        if (st != NATS_NOT_FOUND) {
            nats_fail(msg, cap, "looking up the stream " SRV_NATS_STREAM, st);
            return -1;
        }
        jsStreamConfig c;
        jsStreamConfig_Init(&c);
        const char *subjects[] = {SRV_NATS_JOBS};
        c.Name = SRV_NATS_STREAM;
        c.Description = "afmpeg jobs (afmpeg worker runs them)";
        c.Subjects = subjects;
        c.SubjectsLen = 1;
        c.Retention = js_WorkQueuePolicy;
        c.Storage = js_FileStorage;
        c.Duplicates = (int64_t)DUPLICATE_WINDOW_S * 1000000000;
        c.MaxMsgSize = 1 << 20;
        st = js_AddStream(&si, n->js, &c, NULL, &jerr);
        jsStreamInfo_Destroy(si);
        if (st == NATS_OK)
            return 0;
        nats_fail(msg, cap, "making the stream " SRV_NATS_STREAM, st);
    }
    return -1;
}

static int ensure_bucket(srv_nats *n, char *msg, size_t cap)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        natsStatus st = js_KeyValue(&n->kv, n->js, SRV_NATS_BUCKET);
        if (st == NATS_OK)
            return 0;
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = SRV_NATS_BUCKET;
        kc.Description = "afmpeg jobs' state";
        kc.History = 1;
        kc.StorageType = js_FileStorage;
        st = js_CreateKeyValue(&n->kv, n->js, &kc);
        if (st == NATS_OK)
            return 0;
        nats_fail(msg, cap, "making the bucket " SRV_NATS_BUCKET, st);
    }
    return -1;
}

int srv_nats_open(server *s, const char *url, const char *name, srv_nats **out, char *msg,
                  size_t cap)
{
    srv_nats *n = calloc(1, sizeof *n);
    natsOptions *o = NULL;
    natsStatus st;
    *out = NULL;
    if (!n) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    if ((st = natsOptions_Create(&o)) || (st = natsOptions_SetURL(o, url)) ||
        (st = natsOptions_SetName(o, name)) || (st = natsOptions_SetMaxReconnect(o, -1)) ||
        (st = natsOptions_SetReconnectWait(o, 250)) || (st = natsOptions_SetTimeout(o, 5000)) ||
        (st = natsOptions_SetFailRequestsOnDisconnect(o, true)) ||
        (st = natsOptions_SetDisconnectedCB(o, on_disconnected, s)) ||
        (st = natsOptions_SetReconnectedCB(o, on_reconnected, s))) {
        nats_fail(msg, cap, "NATS options", st);
        goto fail;
    }
    if ((st = natsConnection_Connect(&n->nc, o))) {
        nats_fail(msg, cap, url, st);
        goto fail;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if ((st = natsConnection_JetStream(&n->js, n->nc, &jo))) {
        nats_fail(msg, cap, "JetStream", st);
        goto fail;
    }
    if (ensure_stream(n, msg, cap) || ensure_bucket(n, msg, cap))
        goto fail;
    natsOptions_Destroy(o);
    *out = n;
    return 0;
fail:
    natsOptions_Destroy(o);
    srv_nats_close(n);
    return -1;
}

void srv_nats_close(srv_nats *n)
{
    if (!n)
        return;
    if (n->nc)
        natsConnection_FlushTimeout(n->nc, 2000);
    kvStore_Destroy(n->kv);
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
    free(n);
}

/* ---- states ---- */

int srv_nats_valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n && n <= 64 && id[0] != '.' && id[n - 1] != '.' && !strstr(id, "..") &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

json_t *srv_nats_state_new(const char *id)
{
    return json_pack("{s:s, s:s, s:i, s:n, s:I, s:n, s:n}", "id", id, "state", "SUBMITTED",
                     "attempts", 0, "worker", "created", (json_int_t)time(NULL), "started",
                     "finished");
}

int srv_nats_final(json_t *state)
{
    const char *s = json_string_value(json_object_get(state, "state"));
    return s && (!strcmp(s, "COMPLETE") || !strcmp(s, "CANCELED") || !strcmp(s, "ERROR"));
}

/* Whether the connection is up: while NATS is away, calls fail at once instead of waiting
 * for their time-outs. */
static int connected(srv_nats *n, char *msg, size_t cap)
{
    if (natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED)
        return 1;
    snprintf(msg, cap, "NATS is not connected (reconnecting)");
    return 0;
}

int srv_nats_get(srv_nats *n, const char *id, json_t **state, uint64_t *rev, char *msg,
                 size_t cap)
{
    kvEntry *e = NULL;
    *state = NULL;
    if (!connected(n, msg, cap))
        return -1;
    natsStatus st = kvStore_Get(&e, n->kv, id);
    if (st == NATS_NOT_FOUND)
        return 0;
    if (st) {
        nats_fail(msg, cap, "reading the job's state", st);
        return -1;
    }
    *state = job_json(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
    *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    if (!*state) {
        snprintf(msg, cap, "the state of '%s' is not a JSON object", id);
        return -1;
    }
    return 1;
}

/* The revision of `id` now, or 0 when it has none or it cannot be read. */
static uint64_t revision(srv_nats *n, const char *id)
{
    kvEntry *e = NULL;
    if (kvStore_Get(&e, n->kv, id) != NATS_OK)
        return 0;
    uint64_t rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return rev;
}

/* Writes the state by compare-and-set: created when `last` is 0, else only over revision
 * `last`. 0; 1 when another write won (the key exists, or moved on); -1 on error. */
static int put_state(srv_nats *n, const char *id, json_t *state, uint64_t last, uint64_t *rev,
                     char *msg, size_t cap)
{
    if (!connected(n, msg, cap))
        return -1;
    char *text = dump(state);
    if (!text) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    uint64_t r = 0;
    natsStatus st = last ? kvStore_Update(&r, n->kv, id, text, (int)strlen(text), last)
                         : kvStore_Create(&r, n->kv, id, text, (int)strlen(text));
    free(text);
    if (rev)
        *rev = r;
    if (st == NATS_OK)
        return 0;
    nats_fail(msg, cap, last ? "updating the job's state" : "creating the job's state", st);
    uint64_t now = revision(n, id);
    return now && now != last ? 1 : -1;
}

int srv_nats_create(srv_nats *n, const char *id, json_t *state, uint64_t *rev, char *msg,
                    size_t cap)
{
    return put_state(n, id, state, 0, rev, msg, cap);
}

int srv_nats_update(srv_nats *n, const char *id, json_t *state, uint64_t last, uint64_t *rev,
                    char *msg, size_t cap)
{
    return put_state(n, id, state, last, rev, msg, cap);
}

/* ---- the gateway: progress ---- */

typedef struct progress_slot {
    char id[72];
    double fraction, speed, out_time;
    int64_t frame;
    uint64_t stamp;            /* when it was last written (the gateway's counter) */
} progress_slot;

struct srv_gateway {
    natsSubscription *progress;
    pthread_mutex_t lock;
    progress_slot slots[PROGRESS_SLOTS];
    uint64_t clock;
    char public_url[256];      /* without a trailing '/'; "" until known */
};

/* A progress message: remembered in the slot of its job, else in the oldest one. */
static void on_progress(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    server *s = closure;
    struct srv_gateway *g = s->nats->gw;
    const char *id = natsMsg_GetSubject(m) + strlen(SRV_NATS_PROGRESS);
    json_t *p = job_json(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    if (p && strlen(id) < sizeof g->slots[0].id) {
        pthread_mutex_lock(&g->lock);
        progress_slot *slot = &g->slots[0];
        for (int i = 0; i < PROGRESS_SLOTS; i++) {
            if (!strcmp(g->slots[i].id, id)) {
                slot = &g->slots[i];
                break;
            }
            if (g->slots[i].stamp < slot->stamp)
                slot = &g->slots[i];
        }
        snprintf(slot->id, sizeof slot->id, "%s", id);
        json_t *f = json_object_get(p, "fraction"), *sp = json_object_get(p, "speed");
        slot->fraction = json_is_number(f) ? json_number_value(f) : -1;
        slot->speed = json_is_number(sp) ? json_number_value(sp) : -1;
        slot->out_time = json_number_value(json_object_get(p, "out_time"));
        slot->frame = json_integer_value(json_object_get(p, "frame"));
        slot->stamp = ++g->clock;
        pthread_mutex_unlock(&g->lock);
    }
    json_decref(p);
    natsMsg_Destroy(m);
}

/* Copies the job's progress into `o`; its stamp (0: none known). */
static uint64_t add_progress(struct srv_gateway *g, const char *id, json_t *o)
{
    uint64_t stamp = 0;
    double fraction = -1, speed = -1, out_time = 0;
    int64_t frame = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < PROGRESS_SLOTS; i++)
        if (g->slots[i].stamp && !strcmp(g->slots[i].id, id)) {
            fraction = g->slots[i].fraction;
            speed = g->slots[i].speed;
            out_time = g->slots[i].out_time;
            frame = g->slots[i].frame;
            stamp = g->slots[i].stamp;
        }
    pthread_mutex_unlock(&g->lock);
    json_object_set_new(o, "fraction", fraction < 0 ? json_null() : json_real(fraction));
    json_object_set_new(o, "speed", speed < 0 ? json_null() : json_real(speed));
    json_object_set_new(o, "frame", json_integer(frame));
    json_object_set_new(o, "out_time", json_real(out_time));
    return stamp;
}

/* ---- the gateway: start, stop ---- */

int srv_nats_gateway_start(server *s, char *msg, size_t cap)
{
    struct srv_gateway *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    pthread_mutex_init(&g->lock, NULL);
    if (s->cfg.public_url)
        snprintf(g->public_url, sizeof g->public_url, "%s", s->cfg.public_url);
    if (srv_nats_open(s, s->cfg.nats_url, "afmpeg serve", &s->nats, msg, cap)) {
        pthread_mutex_destroy(&g->lock);
        free(g);
        return -1;
    }
    s->nats->gw = g;
    natsStatus st = natsConnection_Subscribe(&g->progress, s->nats->nc, SRV_NATS_PROGRESS ">",
                                             on_progress, s);
    if (st) {
        nats_fail(msg, cap, "subscribing to progress", st);
        srv_nats_gateway_stop(s);
        return -1;
    }
    return 0;
}

void srv_nats_gateway_stop(server *s)
{
    srv_nats *n = s->nats;
    if (!n)
        return;
    struct srv_gateway *g = n->gw;
    if (g && g->progress) {
        natsSubscription_Unsubscribe(g->progress);
        natsSubscription_Destroy(g->progress);
    }
    srv_nats_close(n); /* no progress callback runs after this */
    s->nats = NULL;
    if (g) {
        pthread_mutex_destroy(&g->lock);
        free(g);
    }
    nats_Close();
}

/* This server's address as workers reach it: --public-url, else http://LISTEN-HOST:PORT. */
static const char *public_url(server *s)
{
    struct srv_gateway *g = s->nats->gw;
    pthread_mutex_lock(&g->lock);
    if (!*g->public_url) {
        const char *l = s->cfg.listen, *colon = strrchr(l, ':');
        int n = colon ? (int)(colon - l) : (int)strlen(l);
        snprintf(g->public_url, sizeof g->public_url, "http://%.*s:%u", n, l,
                 srv_http_port(s->api));
    }
    pthread_mutex_unlock(&g->lock);
    return g->public_url;
}

/* ---- the gateway: the endpoints ---- */

/* The state as a client sees it: without the workers' bookkeeping, with the progress this
 * gateway heard, and outputs kept here listed by their signed GET URL here (as without
 * --nats). *stamp: the progress's stamp. */
static json_t *client_state(server *s, json_t *st, uint64_t *stamp)
{
    json_t *o = json_deep_copy(st);
    if (!o)
        return NULL;
    const char *id = json_string_value(json_object_get(o, "id"));
    const char *state = json_string_value(json_object_get(o, "state"));
    json_object_del(o, "seq");
    json_object_del(o, "spec_sha256");
    uint64_t p = add_progress(s->nats->gw, id ? id : "", o);
    if (stamp)
        *stamp = p;
    if (state && !strcmp(state, "COMPLETE"))
        json_object_set_new(o, "fraction", json_real(1));
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s/v1/blobs/jobs/%s/", public_url(s), id ? id : "");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(o, "outputs"), i, x) {
        const char *url = json_string_value(json_object_get(x, "url"));
        if (!url || strncmp(url, prefix, strlen(prefix)))
            continue;
        char path[160], signed_url[512];
        snprintf(path, sizeof path, "/v1/jobs/%s/outputs/%zu", id, i);
        srv_sign_path(s, "GET", path, s->cfg.url_ttl, signed_url, sizeof signed_url);
        json_object_set_new(x, "url", json_string(*signed_url ? signed_url : path));
    }
    return o;
}

static void sha256_hex(const char *text, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The job as workers get it: uploads become signed GET URLs of this server's blobs, outputs
 * without a URL signed PUT URLs of "jobs/ID/N" here. 0, or -1 with a 400 in rep. */
static int rewrite(server *s, json_t *job, const char *id, srv_reply *rep)
{
    size_t i;
    json_t *x;
    char path[256], signed_path[640], url[1024];
    json_array_foreach(json_object_get(job, "inputs"), i, x) {
        const char *up = json_string_value(json_object_get(x, "upload"));
        if (!up)
            continue;
        snprintf(path, sizeof path, "/v1/blobs/uploads/%s", up);
        if (!srv_blob_has(s, path + strlen("/v1/blobs/"))) {
            srv_problem(rep, 400, "bad_job", "inputs[%zu]: no upload '%.80s' (expired?)", i, up);
            return -1;
        }
        srv_sign_path(s, "GET", path, s->cfg.url_ttl, signed_path, sizeof signed_path);
        if (!*signed_path) {
            srv_problem(rep, 400, "bad_job", "inputs[%zu]: an upload needs a signing key on "
                        "this server (--signing-key-file) for the workers to fetch it; give a "
                        "url", i);
            return -1;
        }
        snprintf(url, sizeof url, "%s%s", public_url(s), signed_path);
        json_object_del(x, "upload");
        json_object_set_new(x, "url", json_string(url));
    }
    json_array_foreach(json_object_get(job, "outputs"), i, x) {
        if (json_object_get(x, "url"))
            continue;
        snprintf(path, sizeof path, "/v1/blobs/jobs/%s/%zu", id, i);
        srv_sign_path(s, "PUT", path, s->cfg.url_ttl, signed_path, sizeof signed_path);
        if (!*signed_path) {
            srv_problem(rep, 400, "bad_job", "outputs[%zu]: an output kept here needs a signing "
                        "key on this server (--signing-key-file); give a url", i);
            return -1;
        }
        snprintf(url, sizeof url, "%s%s", public_url(s), signed_path);
        json_object_set_new(x, "url", json_string(url));
    }
    return 0;
}

/* Publishes the job (its id as the message id: the stream drops a second one within its
 * duplicates window). 0, or -1 with a 503 in rep. */
static int publish(server *s, json_t *job, const char *id, srv_reply *rep)
{
    char *text = dump(job), msg[512];
    if (!text) {
        srv_problem(rep, 503, "out_of_memory", "no memory for the job");
        return -1;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.ExpectStream = SRV_NATS_STREAM;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    if (!connected(s->nats, msg, sizeof msg)) {
        free(text);
        srv_problem(rep, 503, "queue_unavailable", "%s; submit it again", msg);
        return -1;
    }
    natsStatus st = js_Publish(&ack, s->nats->js, SRV_NATS_JOBS, text, (int)strlen(text), &po,
                               &jerr);
    free(text);
    jsPubAck_Destroy(ack);
    if (st == NATS_OK)
        return 0;
    nats_fail(msg, sizeof msg, "publishing the job", st);
    srv_problem(rep, 503, "queue_unavailable", "%s; submit it again", msg);
    return -1;
}

void srv_nats_submit(srv_req *r, json_t *spec, srv_reply *rep)
{
    server *s = srv_server(r);
    srv_nats *n = s->nats;
    json_t *job = NULL, *st = NULL, *old = NULL;
    char id[72], msg[512], hash[65];
    const char *given = json_string_value(json_object_get(spec, "id"));
    if (json_object_get(spec, "webhook")) {
        srv_problem(rep, 400, "bad_job", "webhook: not taken with --nats (follow the state, or "
                    "its events)");
        goto done;
    }
    if (given && !srv_nats_valid_id(given)) {
        srv_problem(rep, 400, "bad_job", "id: 1 to 64 letters, digits, '.', '_' or '-', not "
                    "starting or ending with '.'");
        goto done;
    }
    pthread_mutex_lock(&s->lock);
    int draining = s->draining;
    pthread_mutex_unlock(&s->lock);
    if (draining) {
        srv_problem(rep, 503, "draining", "the server is shutting down");
        goto done;
    }
    if (given) {
        snprintf(id, sizeof id, "%s", given);
    } else {
        memcpy(id, "j_", 2);
        srv_random_hex(id + 2, 12);
    }
    /* the submission as given identifies it (the URLs made below change with time) */
    char *canon = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    job = json_deep_copy(spec);
    st = srv_nats_state_new(id);
    if (!canon || !job || !st) {
        free(canon);
        srv_problem(rep, 503, "out_of_memory", "no memory for the job");
        goto done;
    }
    sha256_hex(canon, hash);
    free(canon);
    json_object_set_new(st, "spec_sha256", json_string(hash));
    json_object_set_new(job, "id", json_string(id));
    if (rewrite(s, job, id, rep))
        goto done;
    uint64_t rev;
    int c = srv_nats_create(n, id, st, &rev, msg, sizeof msg);
    int status = 202;
    if (c == 1) {
        /* a resubmission: the same job once; another under its id is a conflict */
        int got = srv_nats_get(n, id, &old, &rev, msg, sizeof msg);
        if (got <= 0) {
            srv_problem(rep, 503, "queue_unavailable", "%s", got ? msg : "the job's state "
                        "vanished; submit it again");
            goto done;
        }
        const char *h = json_string_value(json_object_get(old, "spec_sha256"));
        if (!h || strcmp(h, hash)) {
            srv_problem(rep, 409, "conflict", "a different job has the id '%s'", id);
            goto done;
        }
        json_decref(st);
        st = old;
        old = NULL;
        status = 200;
        /* never queued (the gateway stopped between the two steps, or NATS failed)? Publish
         * again: if it was, the stream drops the copy, or the worker that pulls it sees the
         * job's state and acks it. */
        const char *state = json_string_value(json_object_get(st, "state"));
        if (state && !strcmp(state, "SUBMITTED") && !json_object_get(st, "seq") &&
            publish(s, job, id, rep))
            goto done;
    } else if (c < 0) {
        srv_problem(rep, 503, "queue_unavailable", "%s", msg);
        goto done;
    } else if (publish(s, job, id, rep)) {
        goto done;
    }
    json_t *o = client_state(s, st, NULL);
    char loc[160];
    snprintf(loc, sizeof loc, "/v1/jobs/%s", id);
    srv_json_reply(o, status, rep);
    if (rep->response)
        MHD_add_response_header(rep->response, MHD_HTTP_HEADER_LOCATION, loc);
done:
    json_decref(old);
    json_decref(st);
    json_decref(job);
    json_decref(spec);
}

/* Server-sent events with --nats: the bucket is polled (every 250 ms) and the progress this
 * gateway heard is looked at; an event each time either changes, until the state is final. */
typedef struct nevents {
    server *s;
    char id[72];
    uint64_t rev, stamp;
    int started;
} nevents;

static json_t *nevents_next(void *arg, int *last, int *failed)
{
    nevents *e = arg;
    server *s = e->s;
    for (int tick = 0; tick < 60; tick++) { /* 15 s, then a keep-alive */
        if (tick)
            usleep(250 * 1000);
        pthread_mutex_lock(&s->lock);
        int draining = s->draining;
        pthread_mutex_unlock(&s->lock);
        json_t *st = NULL;
        uint64_t rev = 0, stamp = 0;
        char msg[256];
        int got = srv_nats_get(s->nats, e->id, &st, &rev, msg, sizeof msg);
        if (got < 0 && !draining)
            continue; /* NATS away for a moment: look again */
        if (got <= 0) {
            json_decref(st);
            *failed = 1;
            return NULL;
        }
        json_t *c = client_state(s, st, &stamp);
        int final = srv_nats_final(st);
        json_decref(st);
        if (!e->started || rev != e->rev || stamp != e->stamp || final || draining) {
            e->started = 1;
            e->rev = rev;
            e->stamp = stamp;
            *last = final || draining;
            return c;
        }
        json_decref(c);
    }
    return NULL;
}

void srv_nats_job_get(srv_req *r, srv_reply *rep)
{
    server *s = srv_server(r);
    const char *path_id = srv_path(r) + strlen("/v1/jobs/");
    size_t n = strcspn(path_id, "/");
    const char *rest = path_id + n;
    char id[72], msg[512];
    snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1), path_id);
    json_t *st = NULL;
    uint64_t rev;
    int got = n < sizeof id && srv_nats_valid_id(id) ? srv_nats_get(s->nats, id, &st, &rev, msg,
                                                                      sizeof msg)
                                                      : 0;
    if (got < 0) {
        srv_problem(rep, 503, "queue_unavailable", "%s", msg);
        return;
    }
    if (!got) {
        srv_problem(rep, 404, "not_found", "no job '%.*s'", (int)(n > 80 ? 80 : n), path_id);
        return;
    }
    if (!*rest) {
        srv_json_reply(client_state(s, st, NULL), 200, rep);
        json_decref(st);
        return;
    }
    if (!strcmp(rest, "/events")) {
        json_decref(st);
        nevents *e = calloc(1, sizeof *e);
        if (!e) {
            srv_problem(rep, 503, "out_of_memory", "no memory for the response");
            return;
        }
        e->s = s;
        snprintf(e->id, sizeof e->id, "%s", id);
        srv_sse_reply(nevents_next, e, free, rep);
        return;
    }
    const char *state = json_string_value(json_object_get(st, "state"));
    int complete = state && !strcmp(state, "COMPLETE");
    json_decref(st);
    char *end;
    unsigned long k = strncmp(rest, "/outputs/", 9) ? ULONG_MAX : strtoul(rest + 9, &end, 10);
    if (k == ULONG_MAX || end == rest + 9 || *end) {
        srv_problem(rep, 404, "not_found", "no endpoint %s", srv_path(r));
        return;
    }
    char key[128];
    snprintf(key, sizeof key, "jobs/%s/%lu", id, k);
    if (!complete)
        srv_problem(rep, 409, "not_complete", "the job is not complete");
    else if (srv_blob_reply(s, key, rep))
        srv_problem(rep, 404, "not_found", "the job has no output %lu kept here", k);
}

void srv_nats_job_delete(srv_req *r, srv_reply *rep)
{
    server *s = srv_server(r);
    const char *id = srv_path(r) + strlen("/v1/jobs/");
    char msg[512];
    if (!srv_nats_valid_id(id)) {
        srv_problem(rep, 404, "not_found", "no job '%.80s'", id);
        return;
    }
    /* SUBMITTED: CANCELED here (a worker that pulls it acks it unrun). PROGRESSING: marked, so
     * that a later delivery cancels too, and the worker running it is told. */
    for (int attempt = 0; attempt < 10; attempt++) {
        json_t *st = NULL;
        uint64_t rev;
        int got = srv_nats_get(s->nats, id, &st, &rev, msg, sizeof msg);
        if (got <= 0) {
            if (got < 0)
                srv_problem(rep, 503, "queue_unavailable", "%s", msg);
            else
                srv_problem(rep, 404, "not_found", "no job '%.80s'", id);
            return;
        }
        const char *state = json_string_value(json_object_get(st, "state"));
        int u = 0;
        if (srv_nats_final(st)) {
            u = 0;
        } else if (state && !strcmp(state, "SUBMITTED")) {
            json_object_set_new(st, "state", json_string("CANCELED"));
            json_object_set_new(st, "finished", json_integer((json_int_t)time(NULL)));
            u = srv_nats_update(s->nats, id, st, rev, NULL, msg, sizeof msg);
        } else {
            if (!json_is_true(json_object_get(st, "cancel"))) {
                json_object_set_new(st, "cancel", json_true());
                u = srv_nats_update(s->nats, id, st, rev, NULL, msg, sizeof msg);
            }
            if (!u) {
                char subject[128];
                snprintf(subject, sizeof subject, SRV_NATS_CANCEL "%s", id);
                natsConnection_PublishString(s->nats->nc, subject, "cancel");
            }
        }
        if (u == 1) { /* changed meanwhile: look again */
            json_decref(st);
            continue;
        }
        if (u < 0) {
            json_decref(st);
            srv_problem(rep, 503, "queue_unavailable", "%s", msg);
            return;
        }
        srv_json_reply(client_state(s, st, NULL), 202, rep);
        json_decref(st);
        return;
    }
    srv_problem(rep, 503, "queue_unavailable", "the job's state keeps changing; try again");
}
