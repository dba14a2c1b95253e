/* The runtime: the embedded module prepared once, and jobs run on it one at a time, in the order
 * callers arrived (a ticket queue), each on a fresh guest instance with its own WASI state. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "core/errors.h"
#include "rt/rt.h"
#include "wasi/wasi.h"
#include "afm.h"

#define PAGE_SIZE 65536u
#define DEFAULT_MEMORY_LIMIT (512ull << 20)
#define MAX_MEMORY_LIMIT (4ull << 30)

struct afmpeg_runtime {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t next_ticket;  /* handed to the next caller */
    uint64_t serving;      /* the ticket whose job may run */
    int running;           /* a job is between its turn and its end */
    int waiting;           /* callers inside afmpeg_run_ex waiting for their turn */
    int closed;
    uint32_t max_pages;
};

struct afmpeg_result {
    int exit_code;
    afmpeg_trap trap;
    afm_buf out, err;
};

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static int module_status;

static void module_init(void)
{
    module_status = afm_rt_global_init();
    if (module_status == 0)
        Z_afm_init_module();
}

void afmpeg_runtime_options_init(afmpeg_runtime_options *opts)
{
    afmpeg_runtime_options d = AFMPEG_RUNTIME_OPTIONS_INIT;
    *opts = d;
}

void afmpeg_job_options_init(afmpeg_job_options *opts)
{
    afmpeg_job_options d = AFMPEG_JOB_OPTIONS_INIT;
    *opts = d;
}

int afmpeg_new(afmpeg_runtime **out, const afmpeg_runtime_options *opts)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "afmpeg_new: out is NULL");
    *out = NULL;
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    if (opts) {
        if (opts->version < 1 || opts->version > AFMPEG_RUNTIME_OPTIONS_VERSION)
            return afm_error(AFMPEG_EINVAL, "afmpeg_new: options version %u is not supported "
                             "(this library knows up to %d)", opts->version,
                             AFMPEG_RUNTIME_OPTIONS_VERSION);
        o = *opts;
    }
    uint64_t limit = o.memory_limit ? o.memory_limit : DEFAULT_MEMORY_LIMIT;
    if (limit > MAX_MEMORY_LIMIT)
        return afm_error(AFMPEG_EINVAL, "afmpeg_new: memory_limit %llu is over 4 GiB",
                         (unsigned long long)limit);
    if (limit < PAGE_SIZE)
        return afm_error(AFMPEG_EINVAL, "afmpeg_new: memory_limit %llu is under one 64 KiB page",
                         (unsigned long long)limit);

    pthread_once(&module_once, module_init);
    if (module_status)
        return afm_error(AFMPEG_EMODULE, "afmpeg_new: installing the fault handlers failed: %s",
                         strerror(-module_status));

    afmpeg_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return afm_error(AFMPEG_ENOMEM, "afmpeg_new: out of memory");
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->cond, NULL);
    rt->max_pages = (uint32_t)(limit / PAGE_SIZE);
    *out = rt;
    return AFMPEG_OK;
}

void afmpeg_close(afmpeg_runtime *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->lock);
    rt->closed = 1;
    pthread_cond_broadcast(&rt->cond);
    while (rt->running || rt->waiting)
        pthread_cond_wait(&rt->cond, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    pthread_cond_destroy(&rt->cond);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* Waits for the caller's turn. 0, or AFMPEG_ECLOSED if the runtime closed meanwhile. */
static int take_turn(afmpeg_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    uint64_t ticket = rt->next_ticket++;
    rt->waiting++;
    while (!rt->closed && (ticket != rt->serving || rt->running))
        pthread_cond_wait(&rt->cond, &rt->lock);
    rt->waiting--;
    int err = 0;
    if (rt->closed) {
        err = AFMPEG_ECLOSED;
        pthread_cond_broadcast(&rt->cond); /* afmpeg_close waits for the queue to empty */
    } else {
        rt->running = 1;
    }
    pthread_mutex_unlock(&rt->lock);
    return err;
}

static void end_turn(afmpeg_runtime *rt)
{
    pthread_mutex_lock(&rt->lock);
    rt->running = 0;
    rt->serving++;
    pthread_cond_broadcast(&rt->cond);
    pthread_mutex_unlock(&rt->lock);
}

typedef struct guest_job {
    Z_afm_instance_t *instance;
    afm_wasi *wasi;
} guest_job;

/* Runs inside afm_rt_call: traps and proc_exit unwind out of here. */
static void guest_main(void *arg)
{
    guest_job *job = arg;
    Z_afm_instantiate(job->instance, job->wasi);
    job->wasi->mem = Z_afmZ_memory(job->instance);
    Z_afmZ__start(job->instance);
}

int afmpeg_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv, afmpeg_result **out)
{
    return afmpeg_run_ex(rt, fs, argv, NULL, out);
}

int afmpeg_run_ex(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
                  const afmpeg_job_options *opts, afmpeg_result **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "afmpeg_run: out is NULL");
    *out = NULL;
    if (!rt || !fs || !argv)
        return afm_error(AFMPEG_EINVAL, "afmpeg_run: %s is NULL",
                         !rt ? "rt" : !fs ? "fs" : "argv");
    if (!argv[0] || !*argv[0])
        return afm_error(AFMPEG_EINVAL, "afmpeg_run: argv[0] must name the tool (ffmpeg or "
                         "ffprobe)");
    if (opts && (opts->version < 1 || opts->version > AFMPEG_JOB_OPTIONS_VERSION))
        return afm_error(AFMPEG_EINVAL, "afmpeg_run: job options version %u is not supported",
                         opts->version);

    afmpeg_result *res = calloc(1, sizeof *res);
    afm_wasi *wasi = malloc(sizeof *wasi);
    Z_afm_instance_t *instance = calloc(1, sizeof *instance);
    static const char *const no_env[] = {NULL};
    int err = AFMPEG_ENOMEM;
    if (!res || !wasi || !instance ||
        afm_wasi_init(wasi, fs, argv, no_env, opts) != AFMPEG_OK) {
        free(instance);
        free(wasi);
        free(res);
        return afm_error(err, "afmpeg_run: out of memory");
    }

    err = take_turn(rt);
    if (err) {
        afm_wasi_release(wasi);
        afm_buf_free(&wasi->out);
        afm_buf_free(&wasi->err);
        free(instance);
        free(wasi);
        free(res);
        return afm_error(err, "afmpeg_run: the runtime was closed");
    }

    guest_job job = {instance, wasi};
    afm_rt_outcome outcome;
    int rc = afm_rt_call(guest_main, &job, rt->max_pages, &outcome);
    Z_afm_free(instance);
    end_turn(rt);

    afm_wasi_release(wasi);
    res->out = wasi->out;
    res->err = wasi->err;
    free(instance);
    free(wasi);

    if (rc) {
        afmpeg_result_free(res);
        return afm_error(AFMPEG_ERROR, "afmpeg_run: preparing the thread to run the guest "
                         "failed: %s", strerror(-rc));
    }
    res->trap = outcome.trap;
    res->exit_code = outcome.exited ? outcome.exit_code : 0;
    if (outcome.trap != AFMPEG_TRAP_NONE) {
        res->exit_code = -1;
        *out = res;
        return afm_error(AFMPEG_ETRAP, "the guest trapped: %s", afmpeg_trap_name(outcome.trap));
    }
    *out = res;
    return AFMPEG_OK;
}

int afmpeg_result_exit_code(const afmpeg_result *res)
{
    return res ? res->exit_code : -1;
}

afmpeg_trap afmpeg_result_trap(const afmpeg_result *res)
{
    return res ? res->trap : AFMPEG_TRAP_NONE;
}

static const char *buf_view(const afm_buf *b, size_t *len)
{
    if (len)
        *len = b->len;
    return b->data ? b->data : "";
}

const char *afmpeg_result_stdout(const afmpeg_result *res, size_t *len)
{
    if (!res) {
        if (len)
            *len = 0;
        return "";
    }
    return buf_view(&res->out, len);
}

const char *afmpeg_result_stderr(const afmpeg_result *res, size_t *len)
{
    if (!res) {
        if (len)
            *len = 0;
        return "";
    }
    return buf_view(&res->err, len);
}

void afmpeg_result_free(afmpeg_result *res)
{
    if (!res)
        return;
    afm_buf_free(&res->out);
    afm_buf_free(&res->err);
    free(res);
}
