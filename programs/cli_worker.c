/* afmpeg worker (docs/worker.md): runs the jobs of the JetStream work queue that
 * `afmpeg serve --nats` (or anything else) publishes to, on the instances of one runtime.
 *
 * The main thread pulls as many messages as there are free instances; each job runs on a
 * thread of its own through srv_job_execute() (inputs fetched by URL, outputs PUT to their
 * URLs), while a heartbeat thread tells the server every ack-wait / 3 that each is in progress,
 * so a long job is not redelivered. The outcome maps onto the queue's verbs:
 *
 *   COMPLETE                                   state committed, then ack
 *   media error, trap, limit, timeout, bad job state ERROR committed, then terminate
 *   cancelled (afmpeg.cancel.ID, or DELETE)    state CANCELED committed, then terminate
 *   transient (a download or upload failed)    state back to SUBMITTED, nak with backoff
 *                                              (ERROR once the deliveries run out)
 *   shutdown (SIGTERM, past --grace)           state back to SUBMITTED, nak: another worker
 *                                              takes it at once
 *   the worker killed                          nothing: redelivered after the ack wait
 *
 * A final state is committed once: a worker moves the state only from the revision it wrote
 * when it took the job (compare-and-set); a delivery that finds the state final (a redelivery
 * after another worker committed it, a copy of the message) acks it and does nothing, and a
 * worker that finds another delivery of the message holding the job leaves the message alone.
 * Outputs are written to URLs fixed by the job (the gateway's include the job id), so a second
 * run writes the same keys. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "serve.h"

static const char verb[] = "worker";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [--instances N] [LIMITS] worker --nats URL [OPTIONS]\n"
            "\n"
            "Runs the jobs of the NATS JetStream queue that 'afmpeg serve --nats' feeds\n"
            "(stream AFMPEG_JOBS, state in the key-value bucket AFMPEG_STATE; made if\n"
            "missing), N at once (default: one per core, at most 16). Media come and go\n"
            "by URL: every input and output of a job needs a url. LIMITS (--timeout S,\n"
            "--memory-limit MB, --output-limit MB) are each job's (default 600 s, 512 MB,\n"
            "1024 MB); a job's \"limits\" can lower them.\n"
            "\n"
            "  --nats URL               the NATS server (nats://HOST:PORT)\n"
            "  --ack-wait S             a job not heard of for this long goes to another\n"
            "                           worker (default 30; heartbeats every S/3 meanwhile)\n"
            "  --max-deliver N          deliveries of a job at most (default 5)\n"
            "  --allow-url PREFIX       URLs jobs may read and write (repeatable; none by\n"
            "                           default)\n"
            "  --allow-private          also loopback, link-local and private addresses\n"
            "  --max-body SIZE          largest input fetched, bytes with K, M or G (default\n"
            "                           256M)\n"
            "  --grace S                SIGTERM: seconds running jobs may finish before they\n"
            "                           are given back to the queue (default 30)\n"
            "  --name NAME              this worker in the jobs' state (default HOST:PID)\n"
            "  -h, --help               this text\n"
            "\n"
            "The queue's consumer (AFMPEG_WORKERS) takes --ack-wait and --max-deliver from\n"
            "the worker that starts last. Logs: JSON lines on stderr. SIGTERM or SIGINT:\n"
            "no more jobs are pulled, running ones finish within --grace, the rest go back\n"
            "to the queue; a second signal gives them back at once. Exit status 0.\n");
}

enum { WHY_NONE, WHY_CANCEL, WHY_SHUTDOWN };
enum { SETTLE_NONE, SETTLE_ACK, SETTLE_NAK, SETTLE_TERM };
static const char *const settle_names[] = {"none", "ack", "nak", "term"};

typedef struct wjob {
    struct worker *w;
    natsMsg *msg;
    char id[72];                /* "" until read from the message */
    uint64_t seq, attempt;      /* the message's stream sequence, its delivery count */
    afmpeg_cancel_token *cancel;
    int why;                    /* why the token was cancelled (WHY_*) */
    int settling;               /* the message is being settled: no more heartbeats */
    double t0, last_progress;
    struct wjob *next;
} wjob;

typedef struct worker {
    server s;
    srv_nats *nats;
    natsSubscription *pull, *cancels;
    char name[128];
    int64_t ack_wait_ms, max_deliver;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* a job ended, or stopping */
    wjob *jobs;
    unsigned running;
    int stop_heartbeat, heartbeat_started;
    pthread_t heartbeat;
} worker;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timed_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(c, m, &ts);
}

/* ---- the queue's verbs ---- */

/* Settles the message (no heartbeat for it from now on). */
static void settle(wjob *j, int how, int64_t delay_ms)
{
    worker *w = j->w;
    pthread_mutex_lock(&w->lock);
    j->settling = 1;
    pthread_mutex_unlock(&w->lock);
    natsStatus st = NATS_OK;
    if (how == SETTLE_ACK)
        st = natsMsg_AckSync(j->msg, NULL, NULL);
    else if (how == SETTLE_TERM)
        st = natsMsg_Term(j->msg, NULL);
    else if (how == SETTLE_NAK)
        st = delay_ms ? natsMsg_NakWithDelay(j->msg, delay_ms, NULL) : natsMsg_Nak(j->msg, NULL);
    if (st != NATS_OK)
        srv_log(&w->s, "warn", "settling the message failed (it will be redelivered)", "job",
                j->id, "verb", settle_names[how], "detail", natsStatus_GetText(st), NULL);
}

/* Every ack-wait / 3: "in progress" for each running job's message. */
static void *heartbeat(void *arg)
{
    worker *w = arg;
    int64_t period = w->ack_wait_ms / 3 > 100 ? w->ack_wait_ms / 3 : 100;
    pthread_mutex_lock(&w->lock);
    while (!w->stop_heartbeat) {
        timed_wait(&w->changed, &w->lock, period);
        for (wjob *j = w->jobs; j && !w->stop_heartbeat; j = j->next)
            if (!j->settling)
                natsMsg_InProgress(j->msg, NULL);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* afmpeg.cancel.ID: cancels that job if it runs here. */
static void on_cancel(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    worker *w = closure;
    const char *id = natsMsg_GetSubject(m) + strlen(SRV_NATS_CANCEL);
    pthread_mutex_lock(&w->lock);
    for (wjob *j = w->jobs; j; j = j->next)
        if (!strcmp(j->id, id) && !j->settling) {
            if (j->why == WHY_NONE)
                j->why = WHY_CANCEL;
            afmpeg_cancel_token_cancel(j->cancel);
        }
    pthread_mutex_unlock(&w->lock);
    natsMsg_Destroy(m);
}

/* Progress on afmpeg.progress.ID, at most four times a second. */
static int on_progress(const afmpeg_progress *p, void *payload)
{
    wjob *j = payload;
    double t = now();
    if (!p->done && t - j->last_progress < 0.25)
        return 0;
    j->last_progress = t;
    json_t *o = json_pack("{s:s, s:I, s:s, s:o, s:o, s:I, s:f}", "id", j->id, "attempt",
                          (json_int_t)j->attempt, "worker", j->w->name, "fraction",
                          p->fraction < 0 ? json_null() : json_real(p->fraction), "speed",
                          p->speed < 0 ? json_null() : json_real(p->speed), "frame",
                          (json_int_t)p->frame, "out_time", p->out_time);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    if (text) {
        char subject[128];
        snprintf(subject, sizeof subject, SRV_NATS_PROGRESS "%s", j->id);
        natsConnection_PublishString(j->w->nats->nc, subject, text);
        free(text);
    }
    return 0;
}

/* ---- the job's state ---- */

enum { C_DONE, C_FINAL, C_LOST, C_FAILED };
static const char *const commit_names[] = {"yes", "ended already", "held by another delivery",
                                           "failed"};

/* Merges `fields` (taken) into the state this delivery wrote when it took the job, by
 * compare-and-set: C_DONE; C_FINAL when the state is final already (another delivery
 * committed it); C_LOST when another delivery holds the job now; C_FAILED when NATS failed
 * (for 10 s: the heartbeats go on meanwhile, so a reconnection saves the result). */
static int commit(wjob *j, json_t *fields)
{
    srv_nats *n = j->w->nats;
    char msg[512] = "";
    int ret = C_FAILED, failures = 0;
    for (int attempt = 0; attempt < 10 && failures < 40; attempt++) {
        json_t *cur = NULL;
        uint64_t rev;
        int got = srv_nats_get(n, j->id, &cur, &rev, msg, sizeof msg);
        if (got < 0) { /* NATS away: wait for the reconnection */
            failures++;
            attempt--;
            usleep(250 * 1000);
            continue;
        }
        if (!got)
            break;
        if (srv_nats_final(cur)) {
            json_decref(cur);
            ret = C_FINAL;
            break;
        }
        if ((uint64_t)json_integer_value(json_object_get(cur, "attempts")) != j->attempt ||
            (uint64_t)json_integer_value(json_object_get(cur, "seq")) != j->seq) {
            json_decref(cur);
            ret = C_LOST;
            break;
        }
        json_object_update(cur, fields);
        int u = srv_nats_update(n, j->id, cur, rev, NULL, msg, sizeof msg);
        json_decref(cur);
        if (u == 0) {
            ret = C_DONE;
            break;
        }
        if (u < 0) {
            failures++;
            usleep(250 * 1000);
        }
    }
    if (ret == C_FAILED)
        srv_log(&j->w->s, "warn", "the job's state could not be written", "job", j->id,
                "detail", msg, NULL);
    json_decref(fields);
    return ret;
}

/* An error object for the state. */
static json_t *error_json(const char *error, const char *detail, const char *trap)
{
    json_t *e = json_pack("{s:s}", "error", error ? error : "internal");
    json_object_set_new(e, "detail", cli_json_string(detail ? detail : ""));
    if (trap)
        json_object_set_new(e, "trap", json_string(trap));
    return e;
}

/* Outputs as the state keeps them: URLs without their query (no signatures in the state). */
static json_t *plain_outputs(json_t *outputs)
{
    json_t *o = json_deep_copy(outputs), *x;
    size_t i;
    json_array_foreach(o, i, x) {
        const char *url = json_string_value(json_object_get(x, "url"));
        if (url)
            json_object_set_new(x, "url", json_stringn(url, strcspn(url, "?#")));
    }
    return o;
}

/* What is wrong with a job for a worker ("" when nothing): its description, or an input or
 * output without a URL (workers hold no media), or a webhook. */
static void job_problem(json_t *spec, char *msg, size_t cap)
{
    *msg = '\0';
    if (srv_spec_check(spec, msg, cap))
        return;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(spec, "inputs"), i, x)
        if (!json_is_string(json_object_get(x, "url"))) {
            snprintf(msg, cap, "inputs[%zu]: a url (a worker has no uploads)", i);
            return;
        }
    json_array_foreach(json_object_get(spec, "outputs"), i, x)
        if (!json_is_string(json_object_get(x, "url"))) {
            snprintf(msg, cap, "outputs[%zu]: a url (a worker keeps no outputs)", i);
            return;
        }
    if (json_object_get(spec, "webhook"))
        snprintf(msg, cap, "webhook: not taken by workers");
}

/* ---- one job ---- */

static void log_end(wjob *j, const char *outcome, int how, int committed, const char *error,
                    const char *detail)
{
    char attempt[24], seconds[32];
    snprintf(attempt, sizeof attempt, "%llu", (unsigned long long)j->attempt);
    snprintf(seconds, sizeof seconds, "%.3f", now() - j->t0);
    srv_log(&j->w->s, !strcmp(outcome, "COMPLETE") ? "info" : "warn", "job", "job", j->id,
            "attempt", attempt, "outcome", outcome, "verb", settle_names[how], "committed",
            commit_names[committed], "error", error ? error : "", "detail",
            detail ? detail : "", "seconds", seconds, NULL);
}

/* Commits an ended job (fields taken) and settles its message accordingly: `how` when this
 * delivery committed it, ack when it was final already, nothing when another delivery holds
 * it, a nak after a moment when NATS failed. */
static void finish(wjob *j, json_t *fields, int how, int64_t delay_ms, const char *outcome,
                   const char *error, const char *detail)
{
    int c = commit(j, fields);
    int verb_ = c == C_DONE ? how : c == C_FINAL ? SETTLE_ACK : c == C_LOST ? SETTLE_NONE
                                                                          : SETTLE_NAK;
    settle(j, verb_, c == C_DONE ? delay_ms : 2000);
    log_end(j, outcome, verb_, c, error, detail);
}

/* The job's state before it runs: made if missing (a job published by something other than
 * the gateway). 1 with *st and *rev, -1 when NATS failed (logged). */
static int read_state(wjob *j, json_t **st, uint64_t *rev)
{
    srv_nats *n = j->w->nats;
    char msg[512];
    for (int attempt = 0; attempt < 3; attempt++) {
        int got = srv_nats_get(n, j->id, st, rev, msg, sizeof msg);
        if (got > 0)
            return 1;
        if (got < 0)
            break;
        json_t *fresh = srv_nats_state_new(j->id);
        int c = fresh ? srv_nats_create(n, j->id, fresh, NULL, msg, sizeof msg) : -1;
        json_decref(fresh);
        if (c < 0)
            break;
    }
    srv_log(&j->w->s, "warn", "the job's state is unavailable", "job", j->id, "detail", msg,
            NULL);
    return -1;
}

static void run_job(wjob *j)
{
    worker *w = j->w;
    srv_nats *n = w->nats;
    char problem[512], msg[512];
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, j->msg) == NATS_OK) {
        j->attempt = meta->NumDelivered;
        j->seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
    }
    json_error_t jerr;
    json_t *spec = json_loadb(natsMsg_GetData(j->msg), (size_t)natsMsg_GetDataLength(j->msg),
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *id = json_string_value(json_object_get(spec, "id"));
    if (!id || !srv_nats_valid_id(id)) {
        /* no state to record it in: terminated, and said so */
        settle(j, SETTLE_TERM, 0);
        log_end(j, "ERROR", SETTLE_TERM, C_FAILED, "bad_job", spec ? "the job has no valid id"
                                                                    : "the job is not JSON");
        json_decref(spec);
        return;
    }
    pthread_mutex_lock(&w->lock);
    snprintf(j->id, sizeof j->id, "%s", id); /* from now on, cancels find it */
    pthread_mutex_unlock(&w->lock);
    char attempt_s[24];
    snprintf(attempt_s, sizeof attempt_s, "%llu", (unsigned long long)j->attempt);
    srv_log(&w->s, "info", "pulled", "job", j->id, "attempt", attempt_s, NULL);
    job_problem(spec, problem, sizeof problem);

    /* take the job: SUBMITTED (or a state an earlier delivery left) to PROGRESSING */
    json_t *st = NULL;
    uint64_t rev = 0;
    for (int attempt = 0;; attempt++) {
        if (attempt == 10 || read_state(j, &st, &rev) < 0) {
            settle(j, SETTLE_NAK, 2000);
            log_end(j, "requeued", SETTLE_NAK, C_FAILED, "nats", "the job's state is "
                    "unavailable");
            goto done;
        }
        json_t *seq = json_object_get(st, "seq");
        if (srv_nats_final(st)) { /* ended already: this is a redelivery, or a copy */
            settle(j, SETTLE_ACK, 0);
            log_end(j, "ended already", SETTLE_ACK, C_FINAL, NULL, NULL);
            goto done;
        }
        if (json_is_integer(seq) && (uint64_t)json_integer_value(seq) != j->seq) {
            /* another message of the same job holds it (a copy published outside the
             * duplicates window): this one goes */
            settle(j, SETTLE_ACK, 0);
            log_end(j, "duplicate", SETTLE_ACK, C_LOST, NULL, NULL);
            goto done;
        }
        json_t *next = json_deep_copy(st);
        json_object_set_new(next, "state", json_string("PROGRESSING"));
        json_object_set_new(next, "attempts", json_integer((json_int_t)j->attempt));
        json_object_set_new(next, "worker", json_string(w->name));
        json_object_set_new(next, "seq", json_integer((json_int_t)j->seq));
        json_object_set_new(next, "started", json_integer((json_int_t)time(NULL)));
        int u = srv_nats_update(n, j->id, next, rev, &rev, msg, sizeof msg);
        json_decref(next);
        if (u == 0)
            break;
        json_decref(st);
        st = NULL;
        if (u < 0) {
            settle(j, SETTLE_NAK, 2000);
            log_end(j, "requeued", SETTLE_NAK, C_FAILED, "nats", msg);
            goto done;
        }
    }
    if (json_is_true(json_object_get(st, "cancel"))) {
        finish(j, json_pack("{s:s, s:I}", "state", "CANCELED", "finished",
                            (json_int_t)time(NULL)), SETTLE_TERM, 0, "CANCELED", NULL, NULL);
        goto done;
    }
    if (*problem) {
        finish(j, json_pack("{s:s, s:I, s:o}", "state", "ERROR", "finished",
                            (json_int_t)time(NULL), "error", error_json("bad_job", problem,
                                                                        NULL)),
               SETTLE_TERM, 0, "ERROR", "bad_job", problem);
        goto done;
    }

    srv_exec x = {0};
    x.cancel = j->cancel;
    x.on_progress = on_progress;
    x.payload = j;
    srv_job_execute(&w->s, spec, j->id, &x);
    pthread_mutex_lock(&w->lock);
    int why = j->why;
    pthread_mutex_unlock(&w->lock);
    time_t t = time(NULL);
    if (x.state == SRV_COMPLETE) {
        finish(j, json_pack("{s:s, s:I, s:o}", "state", "COMPLETE", "finished", (json_int_t)t,
                            "outputs", plain_outputs(x.outputs)),
               SETTLE_ACK, 0, "COMPLETE", NULL, NULL);
    } else if (why == WHY_SHUTDOWN) {
        /* given back: another worker takes it now */
        finish(j, json_pack("{s:s, s:n, s:o}", "state", "SUBMITTED", "worker", "last_error",
                            error_json("shutdown", "the worker stopped", NULL)),
               SETTLE_NAK, 0, "requeued", "shutdown", NULL);
    } else if (why == WHY_CANCEL || x.state == SRV_CANCELED) {
        finish(j, json_pack("{s:s, s:I}", "state", "CANCELED", "finished", (json_int_t)t),
               SETTLE_TERM, 0, "CANCELED", NULL, NULL);
    } else if (x.transient && (int64_t)j->attempt < w->max_deliver) {
        /* a transfer failed: again later, 1, 2, 4 ... 60 s from now */
        int64_t delay = 1000ll << (j->attempt - 1 < 6 ? j->attempt - 1 : 6);
        finish(j, json_pack("{s:s, s:n, s:o}", "state", "SUBMITTED", "worker", "last_error",
                            error_json(x.error, x.detail, x.trap)),
               SETTLE_NAK, delay > 60000 ? 60000 : delay, "requeued", x.error, x.detail);
    } else {
        finish(j, json_pack("{s:s, s:I, s:o}", "state", "ERROR", "finished", (json_int_t)t,
                            "error", error_json(x.error, x.detail, x.trap)),
               SETTLE_TERM, 0, "ERROR", x.error, x.detail);
    }
    json_decref(x.outputs);
done:
    json_decref(st);
    json_decref(spec);
}

static void *job_thread(void *arg)
{
    wjob *j = arg;
    worker *w = j->w;
    run_job(j);
    pthread_mutex_lock(&w->lock);
    for (wjob **p = &w->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    w->running--;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    natsMsg_Destroy(j->msg);
    afmpeg_cancel_token_free(j->cancel);
    free(j);
    return NULL;
}

/* Starts a thread for the message (taken). */
static void start_job(worker *w, natsMsg *m)
{
    wjob *j = calloc(1, sizeof *j);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (!j || afmpeg_cancel_token_new(&j->cancel)) {
        free(j);
        natsMsg_Nak(m, NULL);
        natsMsg_Destroy(m);
        pthread_attr_destroy(&attr);
        return;
    }
    j->w = w;
    j->msg = m;
    j->t0 = now();
    pthread_mutex_lock(&w->lock);
    j->next = w->jobs;
    w->jobs = j;
    w->running++;
    if (pthread_create(&t, &attr, job_thread, j)) {
        w->jobs = j->next;
        w->running--;
        pthread_mutex_unlock(&w->lock);
        natsMsg_Nak(m, NULL);
        natsMsg_Destroy(m);
        afmpeg_cancel_token_free(j->cancel);
        free(j);
    } else {
        pthread_mutex_unlock(&w->lock);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the consumer ---- */

/* The durable pull consumer every worker shares, with this worker's ack wait and deliveries
 * (made, or changed to them); the values it has in the end are used. */
static int ensure_consumer(worker *w, char *msg, size_t cap)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = SRV_NATS_CONSUMER;
    cc.Description = "afmpeg workers";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = w->ack_wait_ms * 1000000;
    cc.MaxDeliver = w->max_deliver;
    cc.FilterSubject = SRV_NATS_JOBS;
    cc.MaxAckPending = 4096;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_AddConsumer(&ci, w->nats->js, SRV_NATS_STREAM, &cc, NULL, &jerr);
    if (st != NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        st = js_UpdateConsumer(&ci, w->nats->js, SRV_NATS_STREAM, &cc, NULL, &jerr);
    }
    if (st != NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        ci = NULL;
        const char *last = nats_GetLastError(NULL);
        srv_log(&w->s, "warn", "the consumer keeps its settings", "detail",
                last ? last : natsStatus_GetText(st), NULL);
        st = js_GetConsumerInfo(&ci, w->nats->js, SRV_NATS_STREAM, SRV_NATS_CONSUMER, NULL,
                                &jerr);
    }
    if (st != NATS_OK || !ci || !ci->Config) {
        const char *last = nats_GetLastError(NULL);
        snprintf(msg, cap, "the consumer %s: %s", SRV_NATS_CONSUMER,
                 last && *last ? last : natsStatus_GetText(st));
        jsConsumerInfo_Destroy(ci);
        return -1;
    }
    w->ack_wait_ms = ci->Config->AckWait / 1000000;
    w->max_deliver = ci->Config->MaxDeliver > 0 ? ci->Config->MaxDeliver : INT64_MAX;
    jsConsumerInfo_Destroy(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = SRV_NATS_STREAM;
    so.Consumer = SRV_NATS_CONSUMER;
    st = js_PullSubscribe(&w->pull, w->nats->js, SRV_NATS_JOBS, SRV_NATS_CONSUMER, NULL, &so,
                          &jerr);
    if (st == NATS_OK)
        st = natsConnection_Subscribe(&w->cancels, w->nats->nc, SRV_NATS_CANCEL ">", on_cancel,
                                      w);
    if (st != NATS_OK) {
        const char *last = nats_GetLastError(NULL);
        snprintf(msg, cap, "subscribing: %s", last && *last ? last : natsStatus_GetText(st));
        return -1;
    }
    return 0;
}

/* ---- the verb ---- */

static int got_signal(const sigset_t *set, int64_t wait_ms)
{
    struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
    return sigtimedwait(set, NULL, &ts) > 0;
}

int cli_worker(const cli_globals *gin, int argc, char **argv)
{
    static const cli_opt opts[] = {
        {"--nats", 1},     {"--ack-wait", 1}, {"--max-deliver", 1}, {"--allow-url", 1},
        {"--allow-private", 0}, {"--max-body", 1}, {"--grace", 1},  {"--name", 1},
        {"-h", 0},         {"--help", 0},     {NULL, 0}};
    cli_globals g = *gin;
    worker *w = calloc(1, sizeof *w);
    if (!w) {
        cli_error(verb, "out of memory");
        return EXIT_HOST;
    }
    server *s = &w->s;
    srv_config *c = &s->cfg;
    const char *url = NULL;
    double ack_wait = 30, grace = 30;
    long max_deliver = 5;
    int status = EXIT_USAGE, started = 0;
    char msg[512];
    c->max_body = 256ull << 20;
    c->store_limit = 1ull << 30;
    c->store_ttl = 60;
    c->url_ttl = 3600;
    snprintf(w->name, sizeof w->name, "worker:%d", (int)getpid());
    char host[64];
    if (!gethostname(host, sizeof host)) {
        host[sizeof host - 1] = '\0';
        snprintf(w->name, sizeof w->name, "%s:%d", host, (int)getpid());
    }
    cli_args a;
    cli_args_init(&a, verb, opts, argc, argv);
    const char *name, *value;
    int kind;
    while ((kind = cli_args_next(&a, &name, &value)) != CLI_ARG_END) {
        if (kind == CLI_ARG_ERROR)
            goto done;
        if (kind == CLI_ARG_POSITIONAL) {
            cli_error(verb, "unexpected argument '%s' (see afmpeg worker --help)", value);
            goto done;
        }
        long count;
        if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (!strcmp(name, "--nats")) {
            url = value;
        } else if (!strcmp(name, "--ack-wait")) {
            if (cli_parse_positive(verb, name, value, &ack_wait))
                goto done;
        } else if (!strcmp(name, "--grace")) {
            if (cli_parse_seconds(verb, name, value, &grace))
                goto done;
        } else if (!strcmp(name, "--max-deliver")) {
            if (cli_parse_count(verb, name, value, 1, 1000, &count))
                goto done;
            max_deliver = count;
        } else if (!strcmp(name, "--max-body")) {
            if (srv_parse_size(value, &c->max_body) || !c->max_body) {
                cli_error(verb, "--max-body needs bytes, with K, M or G (e.g. 256M), not '%s'",
                          value);
                goto done;
            }
        } else if (!strcmp(name, "--allow-url")) {
            if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
                cli_error(verb, "--allow-url needs an http:// or https:// prefix, not '%s'",
                          value);
                goto done;
            }
            char **list = realloc(c->allow_urls, (c->allow_url_count + 2) * sizeof *list);
            if (!list || !(list[c->allow_url_count] = strdup(value))) {
                c->allow_urls = list;
                cli_error(verb, "out of memory");
                goto done;
            }
            c->allow_urls = list;
            list[++c->allow_url_count] = NULL;
        } else if (!strcmp(name, "--allow-private")) {
            c->allow_private = 1;
        } else if (!strcmp(name, "--name")) {
            snprintf(w->name, sizeof w->name, "%s", value);
        }
    }
    if (!url) {
        cli_error(verb, "--nats URL is needed (the NATS server: nats://HOST:PORT)");
        goto done;
    }
    if (ack_wait < 0.3) {
        cli_error(verb, "--ack-wait needs 0.3 seconds or more");
        goto done;
    }
    w->ack_wait_ms = (int64_t)(ack_wait * 1000);
    w->max_deliver = max_deliver;
    if (!g.instances) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        g.instances = cores < 1 ? 1 : cores > 16 ? 16 : (unsigned)cores;
    }
    c->instances = g.instances;
    c->timeout_ms = g.timeout_ms ? g.timeout_ms : 600000;
    c->memory_limit = g.memory_limit ? g.memory_limit : 512ull << 20;
    c->output_limit = g.output_limit ? g.output_limit : 1024ull << 20;

    /* SIGINT and SIGTERM are taken by sigtimedwait() on this thread; every thread started from
     * here on (NATS's too) inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    s->log = stderr;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->log_lock, NULL);
    pthread_cond_init(&s->slot_free, NULL);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    started = 1;
    status = EXIT_HOST;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (srv_metrics_new(&s->metrics) || srv_jobs_new(s)) {
        cli_error(verb, "out of memory");
        goto stop;
    }
    if ((status = cli_new_runtime(&g, verb, &s->rt)))
        goto stop;
    status = EXIT_HOST;
    if (srv_nats_open(s, url, w->name, &w->nats, msg, sizeof msg) ||
        ensure_consumer(w, msg, sizeof msg)) {
        cli_error(verb, "--nats: %s", msg);
        goto stop;
    }
    if (pthread_create(&w->heartbeat, NULL, heartbeat, w)) {
        cli_error(verb, "cannot start a thread");
        goto stop;
    }
    w->heartbeat_started = 1;
    char inst[16], aw[32], md[32];
    snprintf(inst, sizeof inst, "%u", c->instances);
    snprintf(aw, sizeof aw, "%.3f", w->ack_wait_ms / 1000.0);
    snprintf(md, sizeof md, "%lld", (long long)w->max_deliver);
    srv_log(s, "info", "worker ready", "worker", w->name, "nats", url, "instances", inst,
            "ack_wait", aw, "max_deliver", md, "version", afmpeg_version(), NULL);

    /* pull as many jobs as there are free instances */
    int stopped = 0, complained = 0;
    while (!stopped) {
        if (got_signal(&set, 0)) {
            stopped = 1;
            break;
        }
        pthread_mutex_lock(&w->lock);
        unsigned free_slots = w->running < c->instances ? c->instances - w->running : 0;
        if (!free_slots)
            timed_wait(&w->changed, &w->lock, 100);
        pthread_mutex_unlock(&w->lock);
        if (!free_slots)
            continue;
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus st = natsSubscription_Fetch(&list, w->pull, (int)free_slots, 500, &jerr);
        if (st != NATS_OK && st != NATS_TIMEOUT && !list.Count) {
            if (!complained++)
                srv_log(s, "warn", "pulling jobs failed; trying again", "detail",
                        natsStatus_GetText(st), NULL);
            if (got_signal(&set, 250))
                stopped = 1;
            continue;
        }
        complained = 0;
        for (int i = 0; i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            list.Msgs[i] = NULL;
            start_job(w, m);
        }
        natsMsgList_Destroy(&list);
    }

    /* drain: running jobs finish within the grace period, then go back to the queue */
    char running[16];
    pthread_mutex_lock(&w->lock);
    snprintf(running, sizeof running, "%u", w->running);
    pthread_mutex_unlock(&w->lock);
    srv_log(s, "info", "draining", "running", running, NULL);
    double end = now() + grace;
    int second = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        unsigned n = w->running;
        pthread_mutex_unlock(&w->lock);
        if (!n || now() >= end || second)
            break;
        second = got_signal(&set, 50);
    }
    pthread_mutex_lock(&w->lock);
    if (w->running)
        srv_log(s, "warn", second ? "second signal: giving the running jobs back"
                                  : "grace period over: giving the running jobs back", NULL);
    for (wjob *j = w->jobs; j; j = j->next)
        if (!j->settling) {
            if (j->why == WHY_NONE)
                j->why = WHY_SHUTDOWN;
            afmpeg_cancel_token_cancel(j->cancel);
        }
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->slot_free);
    pthread_mutex_unlock(&s->lock);
    end = now() + 30;
    pthread_mutex_lock(&w->lock);
    while (w->running && now() < end)
        timed_wait(&w->changed, &w->lock, 100);
    int left = w->running;
    pthread_mutex_unlock(&w->lock);
    if (left) { /* stuck threads still use everything: the process ends as it is */
        srv_log(s, "error", "jobs did not end; exiting without them", "running", running, NULL);
        return EXIT_HOST;
    }
    status = 0;
stop:
    if (w->heartbeat_started) {
        pthread_mutex_lock(&w->lock);
        w->stop_heartbeat = 1;
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->heartbeat, NULL);
    }
    if (w->pull) /* bound to the durable consumer, which stays */
        natsSubscription_Destroy(w->pull);
    if (w->cancels) {
        natsSubscription_Unsubscribe(w->cancels);
        natsSubscription_Destroy(w->cancels);
    }
    srv_nats_close(w->nats);
    nats_Close();
    if (started) {
        srv_jobs_free(s);
        afmpeg_close(s->rt, AFMPEG_CLOSE_CANCEL);
        if (!status)
            srv_log(s, "info", "stopped", NULL);
        srv_metrics_free(s->metrics);
        curl_global_cleanup();
        pthread_cond_destroy(&w->changed);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&s->slot_free);
        pthread_mutex_destroy(&s->log_lock);
        pthread_mutex_destroy(&s->lock);
    }
done:
    for (size_t i = 0; i < c->allow_url_count; i++)
        free(c->allow_urls[i]);
    free(c->allow_urls);
    free(w);
    return status;
}
