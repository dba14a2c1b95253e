/* afmpeg serve: the long-lived HTTP service (docs/serve.md). This file is the verb: the
 * configuration (a file of `key = value` lines, then the flags, which win), the runtime made
 * once and shared by every request, the listeners, and the signals: SIGTERM or SIGINT drains
 * (no new requests, in-flight ones finish within --grace, then are cancelled), a second one
 * cancels at once. */
#define _GNU_SOURCE
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "serve.h"

static const char verb[] = "serve";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [--instances N] [LIMITS] serve [OPTIONS]\n"
            "\n"
            "Runs the HTTP service: media in request bodies, results in responses, each\n"
            "job in the sandbox on one of N instances (default: one per core, at most 16).\n"
            "LIMITS (--timeout S, --memory-limit MB, --output-limit MB) are each job's\n"
            "defaults and the most a request may ask for (default 600 s, 512 MB, 1024 MB).\n"
            "\n"
            "  --listen HOST:PORT       the API (default 127.0.0.1:8080; port 0: any)\n"
            "  --ops-listen HOST:PORT   /livez, /readyz, /metrics (default 127.0.0.1:9090;\n"
            "                           off: none)\n"
            "  --queue N                requests admitted beyond the instances before 429\n"
            "                           (default 2 x instances)\n"
            "  --max-body SIZE          largest upload, bytes with K, M or G (default 256M)\n"
            "  --connection-limit N     connections at once (default 256)\n"
            "  --per-ip-limit N         connections at once from one address (default 32)\n"
            "  --idle-timeout S         close a connection silent this long (default 30)\n"
            "  --upload-timeout S       most seconds for one upload (default 300)\n"
            "  --grace S                SIGTERM: seconds in-flight work may finish (default 30)\n"
            "  --max-width N, --max-height N, --max-duration S, --max-streams N\n"
            "                           refuse inputs over these, from a probe before decoding\n"
            "                           (defaults 8192, 8192, 86400, 64; 0: no limit)\n"
            "  --token-file FILE        bearer tokens, one per line; requests need one\n"
            "                           (default: $AFMPEG_SERVE_TOKENS, comma-separated, or none)\n"
            "Asynchronous jobs (POST /v1/uploads, /v1/jobs; docs/serve.md):\n"
            "  --max-jobs N             jobs queued or running before 429 (default 256)\n"
            "  --store-limit SIZE       uploads and outputs kept in memory (default 1G)\n"
            "  --store-ttl S            how long they and ended jobs are kept (default 3600)\n"
            "  --signing-key-file FILE  'ID SECRET' lines: signed URLs (the first key signs,\n"
            "                           all verify) and webhook signatures\n"
            "  --url-ttl S              how long a signed output URL is valid (default 3600)\n"
            "  --allow-url PREFIX       URLs jobs may read, write or call back (repeatable;\n"
            "                           default: none)\n"
            "  --allow-private          also loopback, link-local and private addresses\n"
            "  --nats URL               jobs go to this NATS JetStream server's queue, and\n"
            "                           'afmpeg worker' processes run them (docs/worker.md)\n"
            "  --public-url URL         with --nats: how workers reach this server's blobs\n"
            "                           (default: http://LISTEN-ADDRESS)\n"
            "  --config FILE            these options as `name = value` lines (# comments);\n"
            "                           flags given on the command line win\n"
            "  -h, --help               this text\n"
            "\n"
            "Endpoints (POST, the media as the body, Content-Length required):\n"
            "  /v1/probe                the typed probe as JSON\n"
            "  /v1/thumbnail?at=&width=&height=&format=png|jpeg|webp\n"
            "  /v1/frames?count=|every=|scene=&start=&width=&height=&format=  multipart/mixed\n"
            "  /v1/transcode?format=mp4|webm|mkv|ts|mp3|...&vcodec=&acodec=&scale=&bitrate=\n"
            "                &abitrate=&crf=&preset=&start=&duration=   streamed as written\n"
            "Each also takes timeout=, memory_limit= and output_limit= (lowering the\n"
            "server's), and name= (the upload's file name, for its extension).\n"
            "Errors are JSON problems (application/problem+json) with a stable \"error\".\n"
            "Logs: one JSON line per request on stderr. Exit status 0 after a drain.\n");
}

/* ---- configuration ---- */

typedef struct opt_def {
    const char *name; /* without "--" */
    int kind;         /* what the value is */
} opt_def;

enum { O_ADDR, O_COUNT, O_SECONDS, O_SIZE, O_FILE, O_MB, O_BOOL };

static const opt_def defs[] = {
    {"listen", O_ADDR},         {"ops-listen", O_ADDR},      {"queue", O_COUNT},
    {"max-body", O_SIZE},       {"connection-limit", O_COUNT}, {"per-ip-limit", O_COUNT},
    {"idle-timeout", O_COUNT},  {"upload-timeout", O_COUNT}, {"grace", O_COUNT},
    {"max-width", O_COUNT},     {"max-height", O_COUNT},     {"max-duration", O_SECONDS},
    {"max-streams", O_COUNT},   {"token-file", O_FILE},
    {"max-jobs", O_COUNT},      {"store-limit", O_SIZE},     {"store-ttl", O_COUNT},
    {"signing-key-file", O_FILE}, {"url-ttl", O_COUNT},      {"allow-url", O_ADDR},
    {"allow-private", O_BOOL},   {"nats", O_ADDR},            {"public-url", O_ADDR},
    /* the global options, in a file only (on the command line they go before "serve") */
    {"instances", O_COUNT},     {"timeout", O_SECONDS},      {"memory-limit", O_MB},
    {"output-limit", O_MB},
};

int srv_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return -1;
    unsigned shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
    if (shift)
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static void free_list(char ***list, size_t *count)
{
    for (size_t i = 0; *list && i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *count = 0;
}

static void free_tokens(srv_config *c)
{
    free_list(&c->tokens, &c->token_count);
}

/* Appends a copy of `s` to a NULL-terminated list. */
static int push(char ***list, size_t *count, const char *s, size_t n)
{
    char **t = realloc(*list, (*count + 2) * sizeof *t);
    if (!t)
        return -1;
    *list = t;
    if (!(t[*count] = strndup(s, n)))
        return -1;
    t[++*count] = NULL;
    return 0;
}

static void free_keys(srv_config *c)
{
    size_t n = c->key_count;
    free_list(&c->key_ids, &n);
    free_list(&c->keys, &c->key_count);
}

/* Signing keys: "ID SECRET" lines (# comments); the first signs. */
static int read_keys(srv_config *c, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, cap, "--signing-key-file %s: %s", path, strerror(errno));
        return -1;
    }
    free_keys(c);
    size_t n_ids = 0;
    char *line = NULL;
    size_t size = 0;
    int ret = 0;
    while (!ret && getline(&line, &size, f) >= 0) {
        char id[128], secret[512];
        if (line[strspn(line, " \t")] == '#' || line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (sscanf(line, "%127s %511s", id, secret) != 2 || strlen(secret) < 16) {
            snprintf(msg, cap, "--signing-key-file %s: each line is 'ID SECRET' (a secret of 16 "
                     "characters or more)", path);
            ret = -1;
        } else if (push(&c->key_ids, &n_ids, id, strlen(id)) ||
                   push(&c->keys, &c->key_count, secret, strlen(secret))) {
            snprintf(msg, cap, "out of memory");
            ret = -1;
        }
    }
    free(line);
    fclose(f);
    if (!ret && !c->key_count) {
        snprintf(msg, cap, "--signing-key-file %s: no key in it", path);
        ret = -1;
    }
    return ret;
}

/* Adds the tokens in `text`, separated by newlines or commas (blank ones and # lines skipped). */
static int add_tokens(srv_config *c, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",\n");
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a && *a != '#') {
            char **t = realloc(c->tokens, (c->token_count + 2) * sizeof *t);
            if (!t)
                return -1;
            c->tokens = t;
            if (!(t[c->token_count] = strndup(a, (size_t)(b - a))))
                return -1;
            t[++c->token_count] = NULL;
        }
        p += n + (p[n] != '\0');
    }
    return 0;
}

static int read_tokens(srv_config *c, const char *path, char *msg, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, cap, "--token-file %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t size = 0;
    ssize_t n = getdelim(&text, &size, '\0', f);
    fclose(f);
    free_tokens(c);
    int err = n < 0 ? 0 : add_tokens(c, text);
    free(text);
    if (err || !c->token_count) {
        snprintf(msg, cap, "--token-file %s: %s", path, err ? "out of memory" : "no token in it");
        return -1;
    }
    return 0;
}

/* Sets option `name` to `value`. `g` gets the global ones. 0, or -1 with the reason in msg. */
static int set_option(srv_config *c, cli_globals *g, const char *name, const char *value,
                      char *msg, size_t cap)
{
    const opt_def *d = NULL;
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (!strcmp(defs[i].name, name))
            d = &defs[i];
    if (!d) {
        snprintf(msg, cap, "unknown option '%s'", name);
        return -1;
    }
    char *end;
    double num = 0;
    uint64_t size = 0;
    if (d->kind == O_COUNT || d->kind == O_SECONDS || d->kind == O_MB) {
        errno = 0;
        num = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(num) || num < 0 || num > 1e12 ||
            (d->kind == O_COUNT && num != floor(num)) ||
            ((d->kind == O_MB || !strcmp(name, "timeout") || !strcmp(name, "instances")) &&
             num <= 0)) {
            snprintf(msg, cap, "--%s needs a %s number, not '%s'", name,
                     d->kind == O_COUNT ? "whole" : "positive", value);
            return -1;
        }
    }
    if (d->kind == O_BOOL && strcmp(value, "yes") && strcmp(value, "no") &&
        strcmp(value, "true") && strcmp(value, "false") && strcmp(value, "1") &&
        strcmp(value, "0")) {
        snprintf(msg, cap, "--%s is yes or no, not '%s'", name, value);
        return -1;
    }
    if (d->kind == O_SIZE && (srv_parse_size(value, &size) || !size)) {
        snprintf(msg, cap, "--%s needs bytes, with K, M or G (e.g. 256M), not '%s'", name, value);
        return -1;
    }
    if (!strcmp(name, "listen") || !strcmp(name, "ops-listen")) {
        char **field = name[0] == 'l' ? &c->listen : &c->ops_listen;
        char *copy = strdup(value);
        if (!copy) {
            snprintf(msg, cap, "out of memory");
            return -1;
        }
        free(*field);
        *field = copy;
    } else if (!strcmp(name, "queue")) {
        c->queue = (unsigned)num;
    } else if (!strcmp(name, "max-body")) {
        c->max_body = size;
    } else if (!strcmp(name, "connection-limit")) {
        c->connection_limit = (unsigned)num;
    } else if (!strcmp(name, "per-ip-limit")) {
        c->per_ip_limit = (unsigned)num;
    } else if (!strcmp(name, "idle-timeout")) {
        c->idle_timeout = (unsigned)num;
    } else if (!strcmp(name, "upload-timeout")) {
        c->upload_timeout = (unsigned)num;
    } else if (!strcmp(name, "grace")) {
        c->grace = (unsigned)num;
    } else if (!strcmp(name, "max-width")) {
        c->max_width = (int)num;
    } else if (!strcmp(name, "max-height")) {
        c->max_height = (int)num;
    } else if (!strcmp(name, "max-duration")) {
        c->max_duration = num;
    } else if (!strcmp(name, "max-streams")) {
        c->max_streams = (int)num;
    } else if (!strcmp(name, "token-file")) {
        return read_tokens(c, value, msg, cap);
    } else if (!strcmp(name, "signing-key-file")) {
        return read_keys(c, value, msg, cap);
    } else if (!strcmp(name, "allow-url")) {
        if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
            snprintf(msg, cap, "--allow-url needs an http:// or https:// prefix, not '%s'",
                     value);
            return -1;
        }
        if (push(&c->allow_urls, &c->allow_url_count, value, strlen(value))) {
            snprintf(msg, cap, "out of memory");
            return -1;
        }
    } else if (!strcmp(name, "nats") || !strcmp(name, "public-url")) {
        int nats = name[0] == 'n';
        if (nats ? !strstr(value, "://") && strchr(value, '/')
                 : strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
            snprintf(msg, cap, nats ? "--nats needs a NATS URL (nats://HOST:PORT), not '%s'"
                                    : "--public-url needs an http:// or https:// URL, not '%s'",
                     value);
            return -1;
        }
        char *copy = strndup(value, strlen(value) - (!nats && value[strlen(value) - 1] == '/'));
        if (!copy) {
            snprintf(msg, cap, "out of memory");
            return -1;
        }
        free(nats ? c->nats_url : c->public_url);
        *(nats ? &c->nats_url : &c->public_url) = copy;
    } else if (!strcmp(name, "allow-private")) {
        c->allow_private = !strcmp(value, "yes") || !strcmp(value, "true") ||
                           !strcmp(value, "1");
    } else if (!strcmp(name, "max-jobs")) {
        c->max_jobs = (unsigned)num;
    } else if (!strcmp(name, "store-limit")) {
        c->store_limit = size;
    } else if (!strcmp(name, "store-ttl")) {
        c->store_ttl = (unsigned)num;
    } else if (!strcmp(name, "url-ttl")) {
        c->url_ttl = (unsigned)num;
    } else if (!strcmp(name, "instances")) {
        if (!g->instances)
            g->instances = (unsigned)num;
    } else if (!strcmp(name, "timeout")) {
        if (!g->timeout_ms)
            g->timeout_ms = (uint64_t)ceil(num * 1000);
    } else if (!strcmp(name, "memory-limit")) {
        if (!g->memory_limit)
            g->memory_limit = (uint64_t)(num * 1048576);
    } else if (!g->output_limit) {
        g->output_limit = (uint64_t)(num * 1048576);
    }
    return 0;
}

static int read_config(srv_config *c, cli_globals *g, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error(verb, "--config %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL, msg[512];
    size_t size = 0;
    int lineno = 0, ret = 0;
    while (!ret && getline(&line, &size, f) >= 0) {
        lineno++;
        char *p = line, *e = line + strlen(line);
        while (e > p && isspace((unsigned char)e[-1]))
            *--e = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        char *k_end = eq ? eq : p + strcspn(p, " \t");
        char *v = eq ? eq + 1 : k_end;
        while (k_end > p && isspace((unsigned char)k_end[-1]))
            k_end--;
        if (*k_end)
            *k_end++ = '\0';
        while (isspace((unsigned char)*v))
            v++;
        if (!*v) {
            cli_error(verb, "%s:%d: '%s' needs a value", path, lineno, p);
            ret = -1;
        } else if (set_option(c, g, p, v, msg, sizeof msg)) {
            cli_error(verb, "%s:%d: %s", path, lineno, msg);
            ret = -1;
        }
    }
    free(line);
    fclose(f);
    return ret;
}

/* ---- the verb ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits up to `seconds` for the in-flight requests to end; 1 when they did, 0 on timeout, -1
 * when a signal in `set` arrived first. */
static int wait_idle(server *s, double seconds, const sigset_t *set)
{
    double end = now() + seconds;
    while (srv_http_in_flight(s)) {
        if (now() >= end)
            return 0;
        struct timespec ts = {0, 50 * 1000000};
        if (sigtimedwait(set, NULL, &ts) > 0)
            return -1;
    }
    return 1;
}

int cli_serve(const cli_globals *gin, int argc, char **argv)
{
    cli_globals g = *gin;
    server s;
    memset(&s, 0, sizeof s);
    srv_config *c = &s.cfg;
    c->listen = strdup("127.0.0.1:8080");
    c->ops_listen = strdup("127.0.0.1:9090");
    c->max_body = 256ull << 20;
    c->connection_limit = 256;
    c->per_ip_limit = 32;
    c->idle_timeout = 30;
    c->upload_timeout = 300;
    c->grace = 30;
    c->max_width = c->max_height = 8192;
    c->max_duration = 86400;
    c->max_streams = 64;
    c->max_jobs = 256;
    c->store_limit = 1ull << 30;
    c->store_ttl = 3600;
    c->url_ttl = 3600;
    int status = EXIT_USAGE, queue_given = 0;
    char msg[512];
    sigset_t set;
    const char *env = getenv("AFMPEG_SERVE_TOKENS");
    if (!c->listen || !c->ops_listen || (env && add_tokens(c, env))) {
        cli_error(verb, "out of memory");
        status = EXIT_HOST;
        goto done;
    }
    /* the file first, so that flags win */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            if (read_config(c, &g, argv[i + 1]))
                goto done;
        } else if (!strncmp(argv[i], "--config=", 9) && read_config(c, &g, argv[i] + 9)) {
            goto done;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            status = 0;
            goto done;
        }
        if (strncmp(a, "--", 2)) {
            cli_error(verb, "unexpected argument '%s' (see afmpeg serve --help)", a);
            goto done;
        }
        const char *eq = strchr(a, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a - 2) : (int)strlen(a + 2), a + 2);
        int flag = !strcmp(name, "allow-private") && !eq;
        const char *value = flag ? "yes" : eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!value) {
            cli_error(verb, "--%s needs a value", name);
            goto done;
        }
        if (!strcmp(name, "config"))
            continue;
        int global = !strcmp(name, "instances") || !strcmp(name, "timeout") ||
                     !strcmp(name, "memory-limit") || !strcmp(name, "output-limit");
        if (global) {
            cli_error(verb, "--%s goes before 'serve' (afmpeg --%s N serve)", name, name);
            goto done;
        }
        if (set_option(c, &g, name, value, msg, sizeof msg)) {
            cli_error(verb, "%s", msg);
            goto done;
        }
        queue_given |= !strcmp(name, "queue");
    }
    if (!g.instances) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        g.instances = cores < 1 ? 1 : cores > 16 ? 16 : (unsigned)cores;
    }
    c->instances = g.instances;
    if (!queue_given && !c->queue)
        c->queue = 2 * c->instances;
    c->timeout_ms = g.timeout_ms ? g.timeout_ms : 600000;
    c->memory_limit = g.memory_limit ? g.memory_limit : 512ull << 20;
    c->output_limit = g.output_limit ? g.output_limit : 1024ull << 20;
    if (!c->connection_limit || !c->per_ip_limit || !c->idle_timeout || !c->upload_timeout) {
        cli_error(verb, "--connection-limit, --per-ip-limit, --idle-timeout and "
                  "--upload-timeout need a number above 0");
        goto done;
    }

    /* Signals: SIGINT and SIGTERM are taken by sigtimedwait() on this thread; every thread
     * started from here on inherits the mask. A client that hangs up must not kill us. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    s.log = stderr;
    pthread_mutex_init(&s.lock, NULL);
    pthread_mutex_init(&s.log_lock, NULL);
    pthread_cond_init(&s.slot_free, NULL);
    status = EXIT_HOST;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (srv_metrics_new(&s.metrics) || srv_jobs_new(&s)) {
        cli_error(verb, "out of memory");
        goto stop;
    }
    g.instances = c->instances;
    if ((status = cli_new_runtime(&g, verb, &s.rt)))
        goto stop;
    status = EXIT_HOST;
    if (c->nats_url && srv_nats_gateway_start(&s, msg, sizeof msg)) {
        cli_error(verb, "--nats: %s", msg);
        goto stop;
    }
    if (srv_http_start(&s, msg, sizeof msg)) {
        cli_error(verb, "%s", msg);
        goto stop;
    }
    char api[96], ops[96], inst[16];
    const char *colon = strrchr(c->listen, ':');
    snprintf(api, sizeof api, "%.*s:%u", (int)(colon - c->listen), c->listen,
             srv_http_port(s.api));
    if (s.ops) {
        colon = strrchr(c->ops_listen, ':');
        snprintf(ops, sizeof ops, "%.*s:%u", (int)(colon - c->ops_listen), c->ops_listen,
                 srv_http_port(s.ops));
    } else {
        snprintf(ops, sizeof ops, "off");
    }
    snprintf(inst, sizeof inst, "%u", c->instances);
    srv_log(&s, "info", "listening", "api", api, "ops", ops, "instances", inst, "auth",
            c->token_count ? "bearer" : "none", "version", afmpeg_version(), NULL);

    int sig;
    while ((sig = sigwaitinfo(&set, NULL)) < 0 && errno == EINTR)
        ;
    srv_log(&s, "info", "draining", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    srv_http_quiesce(&s);
    int idle = wait_idle(&s, c->grace, &set);
    if (idle <= 0) {
        char n[16];
        snprintf(n, sizeof n, "%u", srv_http_in_flight(&s));
        srv_log(&s, "warn", idle < 0 ? "second signal: cancelling in-flight work"
                                     : "grace period over: cancelling in-flight work",
                "in_flight", n, NULL);
        srv_http_cancel_all(&s);
        /* Cancelled jobs stop within milliseconds; a response still being sent to a client
         * that does not read is cut when the listener stops. */
        double end = now() + 10;
        while (srv_http_busy(&s) && now() < end) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
        wait_idle(&s, 1, &set);
    }
    status = 0;
stop:
    srv_jobs_cancel_all(&s); /* ended already after a drain; wakes event streams */
    srv_http_stop(&s);
    srv_nats_gateway_stop(&s);
    srv_jobs_free(&s);
    afmpeg_close(s.rt, AFMPEG_CLOSE_CANCEL);
    if (!status)
        srv_log(&s, "info", "stopped", NULL);
    srv_metrics_free(s.metrics);
    curl_global_cleanup();
    pthread_cond_destroy(&s.slot_free);
    pthread_mutex_destroy(&s.log_lock);
    pthread_mutex_destroy(&s.lock);
done:
    free_tokens(c);
    free_list(&c->allow_urls, &c->allow_url_count);
    free_keys(c);
    free(c->listen);
    free(c->ops_listen);
    free(c->nats_url);
    free(c->public_url);
    return status;
}
