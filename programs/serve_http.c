/* afmpeg serve's HTTP side (libmicrohttpd, one thread per connection): routing, bearer-token
 * auth, admission (429 past instances + queue), the body (Content-Length required, 413 from the
 * headers, buffered once), the hang-up watch that cancels a gone client's job, problem bodies,
 * the ops listener (/livez, /readyz, /metrics) and one JSON log line per request. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "serve.h"

typedef void (*endpoint_fn)(srv_req *r, srv_reply *rep);

/* The largest body read and dropped to answer 429 or 503 cleanly (see begin()). */
#define LINGER_MAX (16u << 20)

/* What a route takes. */
#define R_BODY 1     /* a body is required (Content-Length, at most --max-body) */
#define R_ADMIT 2    /* holds an admission slot (429 past instances + queue) */
#define R_PREFIX 4   /* the path is a prefix ("/v1/jobs/" and what follows) */
#define R_SIGNED 8   /* a signed URL (expires, kid, sig) stands for the bearer token */
#define R_SMALL 16   /* a small body: at most 1 MiB (a JSON job) */

typedef struct route {
    const char *method, *path, *name;
    endpoint_fn run;
    unsigned flags;
} route;

static const route routes[] = {
    {"POST", "/v1/probe", "probe", srv_probe, R_BODY | R_ADMIT},
    {"POST", "/v1/thumbnail", "thumbnail", srv_thumbnail, R_BODY | R_ADMIT},
    {"POST", "/v1/frames", "frames", srv_frames, R_BODY | R_ADMIT},
    {"POST", "/v1/transcode", "transcode", srv_transcode, R_BODY | R_ADMIT},
    {"POST", "/v1/uploads", "jobs", srv_upload, R_BODY},
    {"POST", "/v1/jobs", "jobs", srv_job_submit, R_BODY | R_SMALL},
    {"GET", "/v1/jobs/", "jobs", srv_job_get, R_PREFIX | R_SIGNED},
    {"DELETE", "/v1/jobs/", "jobs", srv_job_delete, R_PREFIX},
    {"GET", "/v1/blobs/", "jobs", srv_blob_get, R_PREFIX | R_SIGNED},
    {"PUT", "/v1/blobs/", "jobs", srv_blob_put, R_BODY | R_PREFIX | R_SIGNED},
};

struct srv_req {
    server *s;
    struct MHD_Connection *conn;
    const route *route;
    char id[72], remote[INET6_ADDRSTRLEN], method[16];
    char *path;
    int fd;
    double t0, t_upload, t_queue, t_run, t_send;
    double phase[SRV_PHASES];
    unsigned char *body;
    size_t body_len, body_expected;
    char body_name[80];
    int admitted, has_slot, watched, responded, gone;
    int rejected;       /* answered from the headers (429, 503): the body is read and dropped */
    srv_reply rejection;
    const char *allow; /* for a 405: the method the path takes */
    afmpeg_cancel_token *cancel;
    int status;
    const char *error, *outcome;
    char detail[1024];
    uint64_t bytes_out;
    void (*on_end)(void *); /* a streamed response's clean-up (srv_on_end) */
    void *end_arg;
    srv_req *next; /* in s->running */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void srv_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(c, m, &ts);
}

void srv_random_hex(char *buf, size_t bytes)
{
    unsigned char b[32] = {0};
    if (bytes > sizeof b)
        bytes = sizeof b;
    if (getrandom(b, bytes, 0) != (ssize_t)bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(b, &ts, bytes < sizeof ts ? bytes : sizeof ts);
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(buf + 2 * i, 3, "%02x", b[i]);
}

/* ---- logging ---- */

static void log_json(server *s, json_t *o)
{
    char ts[40];
    struct timespec t;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &t);
    gmtime_r(&t.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", t.tv_nsec / 1000000);
    json_object_set_new(o, "ts", json_string(ts));
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (line) {
        pthread_mutex_lock(&s->log_lock);
        fprintf(s->log, "%s\n", line);
        fflush(s->log);
        pthread_mutex_unlock(&s->log_lock);
        free(line);
    }
    json_decref(o);
}

void srv_log(server *s, const char *level, const char *msg, ...)
{
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "msg", cli_json_string(msg));
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        json_object_set_new(o, k, cli_json_string(v ? v : ""));
    }
    va_end(ap);
    log_json(s, o);
}

static json_t *jms(double seconds)
{
    return seconds < 0 ? json_null() : json_real(round(seconds * 1e6) / 1e3);
}

static void log_request(srv_req *r)
{
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "level", json_string(r->status >= 500 ? "error"
                                                : r->error ? "warn" : "info"));
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "request_id", json_string(r->id));
    json_object_set_new(o, "remote", json_string(r->remote));
    json_object_set_new(o, "method", cli_json_string(r->method));
    json_object_set_new(o, "path", cli_json_string(r->path ? r->path : ""));
    json_object_set_new(o, "status", json_integer(r->status));
    if (r->error)
        json_object_set_new(o, "error", json_string(r->error));
    if (*r->detail)
        json_object_set_new(o, "detail", cli_json_string(r->detail));
    if (r->outcome)
        json_object_set_new(o, "outcome", json_string(r->outcome));
    json_object_set_new(o, "bytes_in", json_integer((json_int_t)r->body_len));
    json_object_set_new(o, "bytes_out", json_integer((json_int_t)r->bytes_out));
    json_object_set_new(o, "queue_ms", jms(r->phase[SRV_QUEUE]));
    json_object_set_new(o, "upload_ms", jms(r->phase[SRV_UPLOAD]));
    json_object_set_new(o, "run_ms", jms(r->phase[SRV_RUN]));
    json_object_set_new(o, "send_ms", jms(r->phase[SRV_SEND]));
    json_object_set_new(o, "total_ms", jms(now() - r->t0));
    log_json(r->s, o);
}

/* ---- problems ---- */

static const char *reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "Error";
    }
}

void srv_problem(srv_reply *rep, int status, const char *error, const char *fmt, ...)
{
    rep->status = status;
    rep->error = error;
    rep->response = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->detail, sizeof rep->detail, fmt, ap);
    va_end(ap);
}

static struct MHD_Response *json_response(json_t *o, const char *type)
{
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    text[len] = '\0';
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    return resp;
}

static struct MHD_Response *problem_response(srv_req *r, const srv_reply *rep)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char type[96];
    snprintf(type, sizeof type, "urn:afmpeg:problem:%s", rep->error);
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "title", json_string(reason(rep->status)));
    json_object_set_new(o, "status", json_integer(rep->status));
    json_object_set_new(o, "error", json_string(rep->error));
    json_object_set_new(o, "detail", cli_json_string(rep->detail));
    if (rep->trap)
        json_object_set_new(o, "trap", json_string(rep->trap));
    json_object_set_new(o, "request_id", json_string(r->id));
    return json_response(o, "application/problem+json");
}

/* Queues the reply: its response, or its problem. */
static enum MHD_Result respond(srv_req *r, srv_reply *rep)
{
    struct MHD_Response *resp = rep->response;
    if (!resp) {
        resp = problem_response(r, rep);
        r->error = rep->error;
        snprintf(r->detail, sizeof r->detail, "%s", rep->detail);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "X-Request-ID", r->id);
    if (rep->status == 429 || rep->status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (rep->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"afmpeg\"");
    if (rep->status == 405 && r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->s->draining)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = rep->status;
    r->bytes_out += rep->size;
    if (rep->outcome)
        r->outcome = rep->outcome;
    r->responded = 1;
    r->t_send = now();
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- requests ---- */

const char *srv_query(srv_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const void *srv_body(srv_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body;
}

void *srv_take_body(srv_req *r, size_t *len)
{
    void *b = r->body;
    *len = r->body_len;
    r->body = NULL;
    return b;
}

const char *srv_path(srv_req *r)
{
    return r->path;
}

const char *srv_method(srv_req *r)
{
    return r->method;
}

const char *srv_request_id(srv_req *r)
{
    return r->id;
}

const char *srv_body_name(srv_req *r)
{
    return r->body_name;
}

server *srv_server(srv_req *r)
{
    return r->s;
}

int srv_client_gone(srv_req *r)
{
    return __atomic_load_n(&r->gone, __ATOMIC_ACQUIRE);
}

void srv_on_end(srv_req *r, void (*fn)(void *), void *arg)
{
    r->on_end = fn;
    r->end_arg = arg;
}

void srv_note(srv_req *r, const char *outcome, const char *error)
{
    r->outcome = outcome;
    if (error)
        r->error = error;
}

void srv_add_bytes_out(srv_req *r, size_t n)
{
    __atomic_add_fetch(&r->bytes_out, n, __ATOMIC_RELAXED);
}

int srv_job_options(srv_req *r, afmpeg_job_options *o, srv_reply *rep)
{
    const srv_config *c = &r->s->cfg;
    afmpeg_job_options_init(o);
    o->limits.timeout_ms = c->timeout_ms;
    o->limits.memory_limit = c->memory_limit;
    o->limits.output_limit = c->output_limit;
    o->cancel = r->cancel;
    const char *v;
    if ((v = srv_query(r, "timeout"))) {
        char *end;
        double t = strtod(v, &end);
        if (end == v || *end || !(t > 0) || !isfinite(t)) {
            srv_problem(rep, 400, "bad_parameter", "timeout: seconds, more than 0, not '%s'", v);
            return -1;
        }
        if (t * 1000 < (double)o->limits.timeout_ms)
            o->limits.timeout_ms = (uint64_t)ceil(t * 1000);
    }
    static const char *const sizes[] = {"memory_limit", "output_limit"};
    for (int i = 0; i < 2; i++) {
        uint64_t n, *field = i ? &o->limits.output_limit : &o->limits.memory_limit;
        if (!(v = srv_query(r, sizes[i])))
            continue;
        if (srv_parse_size(v, &n) || !n) {
            srv_problem(rep, 400, "bad_parameter", "%s: bytes (with K, M or G), not '%s'",
                        sizes[i], v);
            return -1;
        }
        if (n < *field)
            *field = n;
    }
    return 0;
}

/* Adds or removes the request from the list the hang-up watcher polls. Under s->lock. */
static void watch(srv_req *r, int on)
{
    server *s = r->s;
    if (on && !r->watched) {
        r->next = s->running;
        s->running = r;
        r->watched = 1;
    } else if (!on && r->watched) {
        for (srv_req **p = &s->running; *p; p = &(*p)->next)
            if (*p == r) {
                *p = r->next;
                break;
            }
        r->watched = 0;
    }
}

/* Waits (under s->lock) until an instance is free, the server stops, *gone is set or `cancel`
 * is cancelled (either may be NULL). */
static void wait_slot(server *s, const int *gone, afmpeg_cancel_token *cancel)
{
    s->waiting++;
    while (!s->stopping && !(gone && __atomic_load_n(gone, __ATOMIC_ACQUIRE)) &&
           !afmpeg_cancel_token_is_cancelled(cancel) && s->busy >= s->cfg.instances) {
        srv_cond_wait_ms(&s->slot_free, &s->lock, 50);
    }
    s->waiting--;
}

int srv_slot_take(server *s, afmpeg_cancel_token *cancel)
{
    pthread_mutex_lock(&s->lock);
    wait_slot(s, NULL, cancel);
    int ret = s->stopping || afmpeg_cancel_token_is_cancelled(cancel) ? -1 : 0;
    if (!ret)
        s->busy++;
    pthread_mutex_unlock(&s->lock);
    return ret;
}

void srv_slot_give(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->busy--;
    pthread_cond_broadcast(&s->slot_free);
    pthread_mutex_unlock(&s->lock);
}

int srv_slot_acquire(srv_req *r, srv_reply *rep)
{
    server *s = r->s;
    pthread_mutex_lock(&s->lock);
    r->t_queue = now();
    watch(r, 1);
    wait_slot(s, &r->gone, NULL);
    r->phase[SRV_QUEUE] = now() - r->t_queue;
    int ret = 0;
    if (s->stopping || srv_client_gone(r)) {
        watch(r, 0);
        ret = -1;
    } else {
        s->busy++;
        r->has_slot = 1;
        r->t_run = now();
    }
    pthread_mutex_unlock(&s->lock);
    if (ret && srv_client_gone(r))
        srv_problem(rep, 499, "client_gone", "the client hung up while the job waited");
    else if (ret)
        srv_problem(rep, 503, "draining", "the server is shutting down");
    if (ret)
        rep->outcome = srv_client_gone(r) ? "client_gone" : "cancelled";
    return ret;
}

void srv_slot_release(srv_req *r)
{
    server *s = r->s;
    pthread_mutex_lock(&s->lock);
    if (r->has_slot) {
        s->busy--;
        r->has_slot = 0;
        r->phase[SRV_RUN] = now() - r->t_run;
        pthread_cond_broadcast(&s->slot_free);
    }
    watch(r, 0);
    pthread_mutex_unlock(&s->lock);
}

/* Outcome names for metrics: static strings. */
static const char *trap_outcome(afmpeg_trap t)
{
    static const char *const names[] = {"trap_none", "trap_out_of_bounds", "trap_int_overflow",
                                        "trap_div_by_zero", "trap_invalid_conversion",
                                        "trap_unreachable", "trap_call_indirect",
                                        "trap_stack_exhausted", "trap_other"};
    return (unsigned)t < sizeof names / sizeof *names ? names[t] : "trap_other";
}

void srv_job_error(srv_req *r, int err, const afmpeg_result *res, srv_reply *rep)
{
    const char *msg = afmpeg_last_error();
    if (!*msg)
        msg = afmpeg_strerror(err);
    rep->trap = NULL;
    switch (err) {
    case AFMPEG_EMEDIA:
    case AFMPEG_ENOENT:
        srv_problem(rep, 422, "media_error", "%s", msg);
        rep->outcome = "media_error";
        break;
    case AFMPEG_ETRAP: {
        afmpeg_trap t = res ? afmpeg_result_trap(res) : AFMPEG_TRAP_OTHER;
        srv_problem(rep, 422, "guest_trap", "the sandboxed FFmpeg stopped on this input: %s",
                    afmpeg_trap_name(t));
        rep->trap = afmpeg_trap_name(t);
        rep->outcome = trap_outcome(t);
        break;
    }
    case AFMPEG_ELIMIT:
        srv_problem(rep, 422, "limit_exceeded", "%s", msg);
        rep->outcome = "limit";
        break;
    case AFMPEG_ETIMEDOUT:
        srv_problem(rep, 504, "timeout", "%s", msg);
        rep->outcome = "timeout";
        break;
    case AFMPEG_ECANCELLED:
    case AFMPEG_ECLOSED:
        if (srv_client_gone(r)) {
            srv_problem(rep, 499, "client_gone", "the client hung up");
            rep->outcome = "client_gone";
        } else {
            srv_problem(rep, 503, "draining", "the server is shutting down");
            rep->outcome = "cancelled";
        }
        break;
    case AFMPEG_EINVAL:
    case AFMPEG_ENOTSUP:
        srv_problem(rep, 400, "bad_request", "%s", msg);
        rep->outcome = "bad_request";
        break;
    default:
        srv_problem(rep, 500, "internal", "%s", msg);
        rep->outcome = "internal";
    }
}

/* ---- the hang-up watcher ---- */

static void *watcher(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop_watcher) {
        for (srv_req *r = s->running; r; r = r->next) {
            if (r->gone || r->fd < 0)
                continue;
            struct pollfd p = {r->fd, POLLRDHUP, 0};
            if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                __atomic_store_n(&r->gone, 1, __ATOMIC_RELEASE);
                afmpeg_cancel_token_cancel(r->cancel);
                pthread_cond_broadcast(&s->slot_free);
            }
        }
        srv_cond_wait_ms(&s->watch_wake, &s->lock, 20);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the API listener ---- */

static void new_id(srv_req *r, struct MHD_Connection *c)
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-ID");
    size_t n = given ? strlen(given) : 0;
    if (n && n < 65 && strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789._:-") == n) {
        memcpy(r->id, given, n + 1);
        return;
    }
    unsigned char b[8] = {0};
    if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
        uint64_t x = __atomic_add_fetch(&r->s->next_id, 1, __ATOMIC_RELAXED) ^ (uint64_t)time(0);
        memcpy(b, &x, sizeof b);
    }
    for (int i = 0; i < 8; i++)
        snprintf(r->id + 2 * i, 3, "%02x", b[i]);
}

static srv_req *req_new(server *s, struct MHD_Connection *c, const char *url, const char *method)
{
    srv_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->s = s;
    r->conn = c;
    r->fd = -1;
    r->t0 = now();
    for (int i = 0; i < SRV_PHASES; i++)
        r->phase[i] = -1;
    snprintf(r->method, sizeof r->method, "%s", method);
    if (!(r->path = strdup(url)) || afmpeg_cancel_token_new(&r->cancel)) {
        free(r->path);
        free(r);
        return NULL;
    }
    new_id(r, c);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        r->fd = ci->connect_fd;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote,
                      sizeof r->remote);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote,
                      sizeof r->remote);
    }
    return r;
}

/* Constant-time comparison of the bearer token with each configured one. */
static int authorized(server *s, struct MHD_Connection *c)
{
    if (!s->cfg.token_count)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    h += 7;
    size_t n = strlen(h);
    int ok = 0;
    for (size_t i = 0; i < s->cfg.token_count; i++) {
        const char *t = s->cfg.tokens[i];
        size_t m = strlen(t);
        unsigned char diff = (unsigned char)(n != m);
        for (size_t k = 0; k < m; k++)
            diff |= (unsigned char)(t[k] ^ (k < n ? h[k] : 0));
        ok |= !diff;
    }
    return ok;
}

/* The name the upload gets in the job's filesystem: "input", or "input.EXT" from the query's
 * name= (its extension, letters and digits only), which some demuxers need. */
static void body_name(srv_req *r)
{
    const char *name = srv_query(r, "name");
    const char *dot = name ? strrchr(name, '.') : NULL;
    size_t n = dot ? strlen(dot + 1) : 0;
    if (n && n <= 8 && strspn(dot + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789") == n)
        snprintf(r->body_name, sizeof r->body_name, "/input.%s", dot + 1);
    else
        snprintf(r->body_name, sizeof r->body_name, "/input");
}

/* Answers a request from its headers. Answered at once, a client still sending its body would
 * get a reset instead of the answer (closing a socket with unread data resets it): so a body
 * is read and dropped first, unless the client waits for "100 Continue" (it then sends
 * nothing), or has no Content-Length, or the body is large (closing is cheaper; such a client
 * should use Expect). */
static enum MHD_Result reject(srv_req *r, srv_reply *rep)
{
    const char *ex = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_EXPECT);
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len = 0;
    if ((ex && !strcasecmp(ex, "100-continue")) || !cl || srv_parse_size(cl, &len) || !len ||
        strspn(cl, "0123456789") != strlen(cl) || len > LINGER_MAX)
        return respond(r, rep);
    r->rejected = 1;
    r->rejection = *rep;
    r->body_expected = (size_t)len;
    r->t_upload = now();
    return MHD_YES;
}

/* The first call for a request: everything decided from the headers. MHD_YES with nothing
 * queued reads the body next. */
static enum MHD_Result begin(srv_req *r)
{
    server *s = r->s;
    srv_reply rep = {0};
    const char *allowed = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const route *rt = &routes[i];
        size_t n = strlen(rt->path);
        if ((rt->flags & R_PREFIX) ? strncmp(r->path, rt->path, n) || !r->path[n]
                                   : strcmp(r->path, rt->path))
            continue;
        if (!strcmp(r->method, rt->method) ||
            (!strcmp(r->method, "HEAD") && !strcmp(rt->method, "GET"))) {
            r->route = rt;
            break;
        }
        allowed = rt->method;
    }
    if (!r->route && allowed) {
        r->allow = allowed;
        srv_problem(&rep, 405, "method_not_allowed", "%s takes %s", r->path, allowed);
        return reject(r, &rep);
    }
    if (!r->route) {
        srv_problem(&rep, 404, "not_found", "no endpoint %s (see docs/serve.md)", r->path);
        return reject(r, &rep);
    }
    int signed_ok = 0;
    if ((r->route->flags & R_SIGNED) && srv_query(r, "sig")) {
        if (srv_check_signature(s, r->method, r->path, srv_query(r, "expires"),
                                srv_query(r, "kid"), srv_query(r, "sig"), rep.detail,
                                sizeof rep.detail)) {
            srv_problem(&rep, 403, "bad_signature", "%s", rep.detail);
            return reject(r, &rep);
        }
        signed_ok = 1;
    }
    if (!signed_ok && !authorized(s, r->conn)) {
        srv_problem(&rep, 401, "unauthorized", "a valid bearer token is needed "
                    "(Authorization: Bearer TOKEN)");
        return reject(r, &rep);
    }
    r->t_upload = now();
    if (!(r->route->flags & R_BODY))
        return MHD_YES; /* a body, if any, is read and ignored */
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len;
    if (!cl) {
        srv_problem(&rep, 411, "length_required", "uploads need a Content-Length (chunked "
                    "bodies are not taken)");
        return respond(r, &rep);
    }
    if (srv_parse_size(cl, &len) || strspn(cl, "0123456789") != strlen(cl)) {
        srv_problem(&rep, 400, "bad_request", "Content-Length '%s' is not a number", cl);
        return respond(r, &rep);
    }
    uint64_t max = (r->route->flags & R_SMALL) ? (1u << 20) : s->cfg.max_body;
    if (len > max) {
        srv_problem(&rep, 413, "body_too_large", "the body is %llu bytes; this server takes "
                    "at most %llu", (unsigned long long)len,
                    (unsigned long long)max);
        return respond(r, &rep);
    }
    if (!len) {
        srv_problem(&rep, 400, "empty_body", "the body is empty");
        return respond(r, &rep);
    }
    pthread_mutex_lock(&s->lock);
    int draining = s->draining;
    int full = (r->route->flags & R_ADMIT) && s->admitted >= s->cfg.instances + s->cfg.queue;
    if (!draining && !full) {
        s->admitted++;
        r->admitted = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (draining)
        srv_problem(&rep, 503, "draining", "the server is shutting down");
    else if (full)
        srv_problem(&rep, 429, "saturated", "all %u instances are busy and %u requests wait; "
                    "retry later", s->cfg.instances, s->cfg.queue);
    if (draining || full)
        return reject(r, &rep);
    r->body = malloc((size_t)len);
    if (!r->body) {
        srv_problem(&rep, 503, "out_of_memory", "no memory for a %llu-byte body",
                    (unsigned long long)len);
        return respond(r, &rep);
    }
    r->body_expected = (size_t)len;
    body_name(r);
    r->t_upload = now();
    return MHD_YES;
}

static enum MHD_Result finish(srv_req *r)
{
    r->phase[SRV_UPLOAD] = now() - r->t_upload;
    srv_reply rep = {0};
    if (r->body_len != r->body_expected) {
        srv_problem(&rep, 400, "bad_request", "the body ended early");
        return respond(r, &rep);
    }
    r->route->run(r, &rep);
    if (rep.outcome)
        srv_metrics_job(r->s->metrics, r->route->name, rep.outcome);
    return respond(r, &rep);
}

static enum MHD_Result on_api(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    server *s = cls;
    srv_req *r = *con_cls;
    if (!r) {
        if (!(r = req_new(s, c, url, method)))
            return MHD_NO;
        *con_cls = r;
        return begin(r);
    }
    if (r->responded) {
        *size = 0;
        return MHD_YES;
    }
    if (r->rejected) {
        if (!*size)
            return respond(r, &r->rejection);
        r->body_len += *size;
        *size = 0;
        return now() - r->t_upload > s->cfg.upload_timeout ? MHD_NO : MHD_YES;
    }
    if (*size && !r->body_expected) {
        *size = 0; /* a body this route does not take */
        return MHD_YES;
    }
    if (*size) {
        if (*size > r->body_expected - r->body_len)
            return MHD_NO; /* MHD holds the client to its Content-Length; never reached */
        memcpy(r->body + r->body_len, data, *size);
        r->body_len += *size;
        *size = 0;
        if (now() - r->t_upload > s->cfg.upload_timeout) {
            r->status = 408;
            r->error = "upload_timeout";
            return MHD_NO; /* closes the connection */
        }
        return MHD_YES;
    }
    return finish(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    server *s = cls;
    srv_req *r = *con_cls;
    if (!r)
        return;
    if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !r->responded) {
        r->status = 408; /* silent past --idle-timeout: a slow or stalled client */
        r->error = "idle_timeout";
    } else if (why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !r->error) {
        r->error = "idle_timeout"; /* it stopped reading the response */
    } else if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status < 400) {
        /* the client went away (mid-upload, or mid-response), or the connection failed */
        r->status = r->responded ? r->status : 499;
        if (!r->error)
            r->error = r->responded ? "send_failed" : "client_gone";
    } else if (!r->status) {
        r->status = 499;
        r->error = "client_gone";
    }
    if (r->responded)
        r->phase[SRV_SEND] = now() - r->t_send;
    if (r->on_end)
        r->on_end(r->end_arg);
    pthread_mutex_lock(&s->lock);
    watch(r, 0);
    if (r->admitted)
        s->admitted--;
    pthread_mutex_unlock(&s->lock);
    srv_metrics_request(s->metrics, r->route ? r->route->name : "other", r->status,
                        r->body_len, r->bytes_out, r->phase);
    log_request(r);
    afmpeg_cancel_token_free(r->cancel);
    free(r->body);
    free(r->path);
    free(r);
    *con_cls = NULL;
}

/* ---- the ops listener ---- */

static enum MHD_Result text_reply(struct MHD_Connection *c, unsigned status, const char *type,
                                  char *text, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_ops(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con_cls)
{
    server *s = cls;
    if (!*con_cls) { /* the first call: wait for the (empty) body */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*size) {
        *size = 0;
        return MHD_YES;
    }
    *con_cls = NULL;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return text_reply(c, 405, "text/plain", strdup("GET only\n"), 9);
    pthread_mutex_lock(&s->lock);
    unsigned busy = s->busy, waiting = s->waiting, admitted = s->admitted;
    int draining = s->draining;
    pthread_mutex_unlock(&s->lock);
    if (!strcmp(url, "/livez"))
        return text_reply(c, 200, "text/plain", strdup("ok\n"), 3);
    if (!strcmp(url, "/readyz")) {
        /* not ready while draining, or while a new request would get 429 */
        int full = admitted >= s->cfg.instances + s->cfg.queue;
        const char *why = draining ? "draining\n" : full ? "saturated\n" : "ok\n";
        return text_reply(c, draining || full ? 503 : 200, "text/plain", strdup(why),
                          strlen(why));
    }
    if (!strcmp(url, "/metrics")) {
        size_t len;
        char *text = srv_metrics_render(s->metrics, s->cfg.instances, busy, waiting, admitted,
                                        draining, &len);
        if (!text)
            return MHD_NO;
        return text_reply(c, 200, "text/plain; version=0.0.4", text, len);
    }
    return text_reply(c, 404, "text/plain", strdup("not found\n"), 10);
}

/* ---- listeners ---- */

/* HOST:PORT (HOST an IPv4 address, [IPv6], or "localhost") into *ss. */
static int parse_addr(const char *spec, struct sockaddr_storage *ss, char *msg, size_t cap)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) {
        snprintf(msg, cap, "'%s' is not HOST:PORT", spec);
        return -1;
    }
    char host[64];
    size_t n = (size_t)(colon - spec);
    if (n >= sizeof host) {
        snprintf(msg, cap, "'%s': the host is too long", spec);
        return -1;
    }
    memcpy(host, spec, n);
    host[n] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || errno || port < 0 || port > 65535) {
        snprintf(msg, cap, "'%s': the port is not 0-65535", spec);
        return -1;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        host[n - 1] = '\0';
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1)
            return 0;
    } else {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &v4->sin_addr) == 1)
            return 0;
    }
    snprintf(msg, cap, "'%s': the host is not an IP address", spec);
    return -1;
}

/* libmicrohttpd's own messages (a client that went away mid-request, ...), as log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '.'))
        text[--n] = '\0';
    srv_log(cls, "debug", "http", "detail", text, NULL);
}

static struct MHD_Daemon *start_one(server *s, const char *spec, int api, char *msg, size_t cap)
{
    struct sockaddr_storage ss;
    if (parse_addr(spec, &ss, msg, cap))
        return NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    const srv_config *c = &s->cfg;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, api ? on_api : on_ops, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, so that it gets every message */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, api ? c->connection_limit : 16u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, api ? c->per_ip_limit : 0u,
        MHD_OPTION_CONNECTION_TIMEOUT, c->idle_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, api ? on_completed : NULL, s,
        MHD_OPTION_END);
    if (!d)
        snprintf(msg, cap, "cannot listen on %s: %s", spec, strerror(errno));
    return d;
}

unsigned srv_http_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *i = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return i ? i->port : 0;
}

int srv_http_start(server *s, char *msg, size_t cap)
{
    pthread_cond_init(&s->watch_wake, NULL);
    if (pthread_create(&s->watcher, NULL, watcher, s)) {
        snprintf(msg, cap, "cannot start a thread");
        return -1;
    }
    s->watcher_started = 1;
    if (!(s->api = start_one(s, s->cfg.listen, 1, msg, cap)))
        return -1;
    if (*s->cfg.ops_listen && strcmp(s->cfg.ops_listen, "off") &&
        !(s->ops = start_one(s, s->cfg.ops_listen, 0, msg, cap)))
        return -1;
    return 0;
}

void srv_http_quiesce(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->draining = 1;
    pthread_mutex_unlock(&s->lock);
    if (s->api) {
        MHD_socket fd = MHD_quiesce_daemon(s->api);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
}

void srv_http_cancel_all(server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    for (srv_req *r = s->running; r; r = r->next)
        afmpeg_cancel_token_cancel(r->cancel);
    pthread_cond_broadcast(&s->slot_free);
    pthread_mutex_unlock(&s->lock);
    srv_jobs_cancel_all(s);
}

unsigned srv_http_busy(server *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned n = s->busy + s->waiting;
    pthread_mutex_unlock(&s->lock);
    return n + srv_jobs_active(s);
}

unsigned srv_http_in_flight(server *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned n = s->admitted;
    pthread_mutex_unlock(&s->lock);
    return n + srv_jobs_active(s);
}

void srv_http_stop(server *s)
{
    if (s->api)
        MHD_stop_daemon(s->api);
    if (s->ops)
        MHD_stop_daemon(s->ops);
    s->api = s->ops = NULL;
    if (s->watcher_started) {
        pthread_mutex_lock(&s->lock);
        s->stop_watcher = 1;
        pthread_cond_signal(&s->watch_wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->watcher, NULL);
        s->watcher_started = 0;
        pthread_cond_destroy(&s->watch_wake);
    }
}
