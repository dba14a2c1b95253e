/* afmpeg serve's metrics, in Prometheus' text exposition format (version 0.0.4): requests by
 * endpoint and status, latency histograms by endpoint and phase (queue, upload, run, send), jobs
 * by outcome (each trap kind its own), bytes in and out, and the gauges the caller passes (busy
 * instances, queue depth, draining). Label values come from fixed lists or from numbers, never
 * from the request, so a client cannot grow the series. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve.h"

static const char *const endpoints[] = {"probe", "thumbnail", "frames", "transcode", "jobs",
                                        "other"};
#define N_ENDPOINTS (sizeof endpoints / sizeof *endpoints)
static const char *const phases[SRV_PHASES] = {"queue", "upload", "run", "send"};
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10,   30, 60, 300};
#define N_BUCKETS (sizeof buckets / sizeof *buckets)

/* Counted pairs: (endpoint, status) for requests, (endpoint, outcome) for jobs. */
#define MAX_PAIRS 256
typedef struct pair {
    unsigned endpoint;
    int status;
    const char *outcome; /* static strings only */
    uint64_t count;
} pair;

typedef struct histogram {
    uint64_t counts[N_BUCKETS + 1];
    double sum;
    uint64_t n;
} histogram;

struct srv_metrics {
    pthread_mutex_t lock;
    pair requests[MAX_PAIRS], jobs[MAX_PAIRS];
    size_t n_requests, n_jobs;
    histogram latency[N_ENDPOINTS][SRV_PHASES];
    uint64_t bytes_in, bytes_out;
};

static unsigned endpoint_index(const char *e)
{
    for (unsigned i = 0; i < N_ENDPOINTS; i++)
        if (!strcmp(endpoints[i], e))
            return i;
    return N_ENDPOINTS - 1;
}

int srv_metrics_new(srv_metrics **out)
{
    srv_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

void srv_metrics_free(srv_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* The pair's counter, added when new; NULL when the table is full (then not counted). */
static pair *find_pair(pair *t, size_t *n, unsigned endpoint, int status, const char *outcome)
{
    for (size_t i = 0; i < *n; i++)
        if (t[i].endpoint == endpoint && t[i].status == status &&
            (!outcome || !strcmp(t[i].outcome, outcome)))
            return &t[i];
    if (*n == MAX_PAIRS)
        return NULL;
    t[*n] = (pair){endpoint, status, outcome, 0};
    return &t[(*n)++];
}

void srv_metrics_request(srv_metrics *m, const char *endpoint, int status, uint64_t in,
                         uint64_t out, const double phase_s[SRV_PHASES])
{
    unsigned e = endpoint_index(endpoint);
    pthread_mutex_lock(&m->lock);
    pair *p = find_pair(m->requests, &m->n_requests, e, status, NULL);
    if (p)
        p->count++;
    m->bytes_in += in;
    m->bytes_out += out;
    for (int ph = 0; ph < SRV_PHASES; ph++) {
        if (phase_s[ph] < 0)
            continue; /* the request never reached that phase */
        histogram *h = &m->latency[e][ph];
        size_t b = 0;
        while (b < N_BUCKETS && phase_s[ph] > buckets[b])
            b++;
        h->counts[b]++;
        h->sum += phase_s[ph];
        h->n++;
    }
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_job(srv_metrics *m, const char *endpoint, const char *outcome)
{
    pthread_mutex_lock(&m->lock);
    pair *p = find_pair(m->jobs, &m->n_jobs, endpoint_index(endpoint), 0, outcome);
    if (p)
        p->count++;
    pthread_mutex_unlock(&m->lock);
}

char *srv_metrics_render(srv_metrics *m, unsigned instances, unsigned busy, unsigned queued,
                         unsigned admitted, int draining, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    pthread_mutex_lock(&m->lock);
    fputs("# HELP afmpeg_http_requests_total HTTP requests answered, by endpoint and status.\n"
          "# TYPE afmpeg_http_requests_total counter\n", f);
    for (size_t i = 0; i < m->n_requests; i++)
        fprintf(f, "afmpeg_http_requests_total{endpoint=\"%s\",code=\"%d\"} %llu\n",
                endpoints[m->requests[i].endpoint], m->requests[i].status,
                (unsigned long long)m->requests[i].count);
    fputs("# HELP afmpeg_http_request_phase_seconds Time requests spent in each phase: queue "
          "(waiting for an instance), upload (reading the body), run (the job), send (the "
          "response).\n# TYPE afmpeg_http_request_phase_seconds histogram\n", f);
    for (unsigned e = 0; e < N_ENDPOINTS; e++) {
        for (int ph = 0; ph < SRV_PHASES; ph++) {
            const histogram *h = &m->latency[e][ph];
            if (!h->n)
                continue;
            uint64_t cum = 0;
            for (size_t b = 0; b <= N_BUCKETS; b++) {
                cum += h->counts[b];
                char le[32];
                if (b == N_BUCKETS)
                    snprintf(le, sizeof le, "+Inf");
                else
                    snprintf(le, sizeof le, "%g", buckets[b]);
                fprintf(f, "afmpeg_http_request_phase_seconds_bucket{endpoint=\"%s\",phase=\"%s\","
                        "le=\"%s\"} %llu\n", endpoints[e], phases[ph], le,
                        (unsigned long long)cum);
            }
            fprintf(f, "afmpeg_http_request_phase_seconds_sum{endpoint=\"%s\",phase=\"%s\"} "
                    "%.6f\n", endpoints[e], phases[ph], h->sum);
            fprintf(f, "afmpeg_http_request_phase_seconds_count{endpoint=\"%s\",phase=\"%s\"} "
                    "%llu\n", endpoints[e], phases[ph], (unsigned long long)h->n);
        }
    }
    fputs("# HELP afmpeg_jobs_total Jobs ended, by endpoint and outcome (ok, ffmpeg_failed, "
          "media_error, trap_<kind>, timeout, limit, input_limit, cancelled, client_gone, ...).\n"
          "# TYPE afmpeg_jobs_total counter\n", f);
    for (size_t i = 0; i < m->n_jobs; i++)
        fprintf(f, "afmpeg_jobs_total{endpoint=\"%s\",outcome=\"%s\"} %llu\n",
                endpoints[m->jobs[i].endpoint], m->jobs[i].outcome,
                (unsigned long long)m->jobs[i].count);
    fprintf(f, "# HELP afmpeg_http_received_bytes_total Request body bytes received.\n"
            "# TYPE afmpeg_http_received_bytes_total counter\n"
            "afmpeg_http_received_bytes_total %llu\n"
            "# HELP afmpeg_http_sent_bytes_total Response body bytes sent.\n"
            "# TYPE afmpeg_http_sent_bytes_total counter\n"
            "afmpeg_http_sent_bytes_total %llu\n",
            (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out);
    pthread_mutex_unlock(&m->lock);
    fprintf(f, "# HELP afmpeg_instances Jobs the server runs at once.\n"
            "# TYPE afmpeg_instances gauge\nafmpeg_instances %u\n"
            "# HELP afmpeg_instances_busy Instances running a job now.\n"
            "# TYPE afmpeg_instances_busy gauge\nafmpeg_instances_busy %u\n"
            "# HELP afmpeg_queue_depth Requests waiting for an instance.\n"
            "# TYPE afmpeg_queue_depth gauge\nafmpeg_queue_depth %u\n"
            "# HELP afmpeg_requests_in_flight Requests admitted and not yet answered.\n"
            "# TYPE afmpeg_requests_in_flight gauge\nafmpeg_requests_in_flight %u\n"
            "# HELP afmpeg_draining 1 while the server drains after SIGTERM.\n"
            "# TYPE afmpeg_draining gauge\nafmpeg_draining %d\n",
            instances, busy, queued, admitted, draining);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
