/* The runtime: the embedded module prepared once; jobs run on it `slots` at a time (its
 * `instances` option) in the order callers arrived, each on a fresh guest instance
 * with its own WASI state and limits; cancel tokens reach them queued or running. */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "core/errors.h"
#include "fs/fonts.h"
#include "module/module.h"
#include "rt/rt.h"
#include "wasi/wasi.h"
#include "afm_target.h"

#define PAGE_SIZE 65536u
#define DEFAULT_MEMORY_LIMIT (512ull << 20)
#define MAX_MEMORY_LIMIT (4ull << 30)
#define DEFAULT_TIMEOUT_MS (3600ull * 1000)
#define DEFAULT_OUTPUT_LIMIT (64ull << 30)
#define DEFAULT_MAX_OPEN_FILES 256u
#define MAX_OPEN_FILES (AFM_WASI_MAX_FDS - 4)

/* A caller waiting for a slot, in arrival order. */
typedef struct waiter {
    struct waiter *next;
} waiter;

/* A job between its turn and its end, for afmpeg_close(CANCEL). */
typedef struct running_job {
    struct running_job *next;
    afm_rt_ctl *ctl;
} running_job;

#define MAX_INSTANCES 1024u

struct afmpeg_runtime {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    waiter *head, **tail;  /* callers waiting for a slot, first come first served */
    running_job *jobs;     /* jobs running now */
    unsigned slots;        /* jobs that may run at once: the instances option */
    unsigned running, queued;
    int closed;
    afmpeg_limits defaults;
    pthread_mutex_t info_lock;
    afm_module_info *info; /* afmpeg_module_info_get(), made on first use */
    const afm_module *module; /* what jobs run: the embedded module or `loaded` */
    afm_module *loaded;       /* a module from a file or bytes, unloaded by afmpeg_close() */
    afm_rt_image *image;      /* its copy-on-write initial memory (lib/rt/image.c), or NULL */
};

/* A job registered on a cancel token, so afmpeg_cancel_token_cancel() can reach it, queued or
 * running. */
typedef struct token_job {
    struct token_job *next;
    afm_rt_ctl *ctl;
    afmpeg_runtime *rt;
} token_job;

struct afmpeg_cancel_token {
    pthread_mutex_t lock;
    _Atomic int cancelled;
    token_job *jobs;
};

static pthread_once_t module_once = PTHREAD_ONCE_INIT;
static int module_status;

static void module_init(void)
{
    module_status = afm_rt_global_init();
}

/* The defaults come from a static copy of the _INIT macro, so the padding is zero too and
 * _init() gives the same bytes as the macro (tests/engine/test_api.c). */
void afmpeg_runtime_options_init(afmpeg_runtime_options *opts)
{
    static const afmpeg_runtime_options d = AFMPEG_RUNTIME_OPTIONS_INIT;
    if (opts)
        memcpy(opts, &d, sizeof d);
}

void afmpeg_job_options_init(afmpeg_job_options *opts)
{
    static const afmpeg_job_options d = AFMPEG_JOB_OPTIONS_INIT;
    if (opts)
        memcpy(opts, &d, sizeof d);
}

/* Checks a set of limits (0 fields allowed: the default). */
static int check_limits(const afmpeg_limits *l)
{
    if (l->memory_limit > MAX_MEMORY_LIMIT)
        return afm_error(AFMPEG_EINVAL, "memory_limit %llu is over 4 GiB",
                         (unsigned long long)l->memory_limit);
    if (l->memory_limit && l->memory_limit < PAGE_SIZE)
        return afm_error(AFMPEG_EINVAL, "memory_limit %llu is under one 64 KiB page",
                         (unsigned long long)l->memory_limit);
    if (l->max_open_files > MAX_OPEN_FILES)
        return afm_error(AFMPEG_EINVAL, "max_open_files %u is over %d", l->max_open_files,
                         MAX_OPEN_FILES);
    return AFMPEG_OK;
}

int afmpeg_new(const afmpeg_runtime_options *opts, afmpeg_runtime **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    afmpeg_runtime_options o;
    afmpeg_runtime_options_init(&o);
    if (opts) {
        if (opts->version < 1 || opts->version > AFMPEG_RUNTIME_OPTIONS_VERSION)
            return afm_error(AFMPEG_EINVAL, "runtime options version %u is not supported "
                             "(this library knows up to %d)", opts->version,
                             AFMPEG_RUNTIME_OPTIONS_VERSION);
        /* A struct of an older version is read up to its own fields only. */
        memcpy(&o, opts, opts->version == 1 ? offsetof(afmpeg_runtime_options, module_path)
                                            : sizeof o);
    }
    int err = check_limits(&o.limits);
    if (err)
        return err;
    if (o.instances > MAX_INSTANCES)
        return afm_error(AFMPEG_EINVAL, "instances %u is over %u", o.instances, MAX_INSTANCES);

    /* The module's native code uses the instructions of AFM_MODULE_MARCH (module/versions.env). */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports(AFM_MODULE_MARCH))
        return afm_error(AFMPEG_ENOTSUP, "this CPU lacks the %s instructions the module was "
                         "compiled for", AFM_MODULE_MARCH);

    pthread_once(&module_once, module_init);
    if (module_status)
        return afm_error(AFMPEG_EMODULE, "installing the signal handlers failed: %s",
                         strerror(-module_status));

    afm_module *loaded = NULL;
    if (o.module_path || o.module_data) {
        err = afm_module_open(&o, &loaded);
        if (err)
            return err;
    } else if (o.module_sha256) {
        return afm_error(AFMPEG_EINVAL, "module_sha256 is set but no module_path or "
                         "module_data");
    }
    afmpeg_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        afm_module_close(loaded);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    rt->loaded = loaded;
    rt->module = loaded ? loaded : afm_module_embedded();
    rt->image = afm_rt_image_new(); /* NULL (no image, every job copies) is not an error */
    pthread_mutex_init(&rt->lock, NULL);
    pthread_cond_init(&rt->cond, NULL);
    pthread_mutex_init(&rt->info_lock, NULL);
    rt->tail = &rt->head;
    rt->slots = o.instances ? o.instances : 1;
    const afmpeg_limits *l = &o.limits;
    rt->defaults.memory_limit = l->memory_limit ? l->memory_limit : DEFAULT_MEMORY_LIMIT;
    rt->defaults.timeout_ms = l->timeout_ms ? l->timeout_ms : DEFAULT_TIMEOUT_MS;
    rt->defaults.output_limit = l->output_limit ? l->output_limit : DEFAULT_OUTPUT_LIMIT;
    rt->defaults.max_open_files = l->max_open_files ? l->max_open_files : DEFAULT_MAX_OPEN_FILES;
    *out = rt;
    return AFMPEG_OK;
}

void afmpeg_close(afmpeg_runtime *rt, afmpeg_close_mode mode)
{
    if (!rt)
        return;
    pthread_mutex_lock(&rt->lock);
    rt->closed = 1;
    if (mode == AFMPEG_CLOSE_CANCEL)
        for (running_job *j = rt->jobs; j; j = j->next)
            afm_rt_stop(j->ctl, AFMPEG_ECANCELLED);
    pthread_cond_broadcast(&rt->cond);
    while (rt->running || rt->queued)
        pthread_cond_wait(&rt->cond, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    pthread_cond_destroy(&rt->cond);
    pthread_mutex_destroy(&rt->lock);
    pthread_mutex_destroy(&rt->info_lock);
    afm_module_info_free(rt->info);
    afm_rt_image_free(rt->image);
    afm_module_close(rt->loaded);
    free(rt);
}

int afmpeg_stats(afmpeg_runtime *rt, afmpeg_runtime_stats *out)
{
    afm_error_clear();
    if (!rt || !out)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !rt ? "rt" : "out");
    pthread_mutex_lock(&rt->lock);
    out->instances = rt->slots;
    out->running = rt->running;
    out->queued = rt->queued;
    pthread_mutex_unlock(&rt->lock);
    /* Instances are made per job: between jobs a slot holds no guest memory, only its share of
     * the runtime's bookkeeping and of its memory image (shared by every job's memory). */
    size_t held = sizeof *rt + afm_rt_image_bytes(rt->image);
    out->idle_bytes = (held + rt->slots - 1) / rt->slots;
    return AFMPEG_OK;
}

afm_module_info **afm_runtime_info_slot(afmpeg_runtime *rt, pthread_mutex_t **lock)
{
    *lock = &rt->info_lock;
    return &rt->info;
}

/* ---- cancel tokens ------------------------------------------------------------------------- */

int afmpeg_cancel_token_new(afmpeg_cancel_token **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    afmpeg_cancel_token *t = calloc(1, sizeof *t);
    *out = t;
    if (!t)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    atomic_init(&t->cancelled, 0);
    return AFMPEG_OK;
}

void afmpeg_cancel_token_free(afmpeg_cancel_token *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void afmpeg_cancel_token_cancel(afmpeg_cancel_token *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    atomic_store(&t->cancelled, 1);
    for (token_job *j = t->jobs; j; j = j->next) {
        afm_rt_stop(j->ctl, AFMPEG_ECANCELLED);
        pthread_mutex_lock(&j->rt->lock); /* wake it if it is still queued */
        pthread_cond_broadcast(&j->rt->cond);
        pthread_mutex_unlock(&j->rt->lock);
    }
    pthread_mutex_unlock(&t->lock);
}

int afmpeg_cancel_token_is_cancelled(const afmpeg_cancel_token *t)
{
    return t ? atomic_load(&((afmpeg_cancel_token *)t)->cancelled) : 0;
}

static void token_add(afmpeg_cancel_token *t, token_job *j)
{
    pthread_mutex_lock(&t->lock);
    j->next = t->jobs;
    t->jobs = j;
    pthread_mutex_unlock(&t->lock);
}

static void token_remove(afmpeg_cancel_token *t, token_job *j)
{
    pthread_mutex_lock(&t->lock);
    for (token_job **p = &t->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- the queue ------------------------------------------------------------------------------ */

/* Waits for a slot, first come first served. 0, or AFMPEG_ECLOSED / AFMPEG_ECANCELLED. */
static int take_turn(afmpeg_runtime *rt, afmpeg_cancel_token *token, running_job *job)
{
    waiter me = {NULL};
    pthread_mutex_lock(&rt->lock);
    *rt->tail = &me;
    rt->tail = &me.next;
    rt->queued++;
    while (!rt->closed && !afmpeg_cancel_token_is_cancelled(token) &&
           !(rt->head == &me && rt->running < rt->slots))
        pthread_cond_wait(&rt->cond, &rt->lock);
    for (waiter **p = &rt->head; *p; p = &(*p)->next) { /* leave the queue */
        if (*p == &me) {
            *p = me.next;
            if (rt->tail == &me.next)
                rt->tail = p;
            break;
        }
    }
    rt->queued--;
    int err = rt->closed ? AFMPEG_ECLOSED
            : afmpeg_cancel_token_is_cancelled(token) ? AFMPEG_ECANCELLED : 0;
    if (!err) {
        rt->running++;
        job->next = rt->jobs;
        rt->jobs = job;
    }
    pthread_cond_broadcast(&rt->cond); /* the next in line may have a slot; close may wait */
    pthread_mutex_unlock(&rt->lock);
    return err;
}

static void end_turn(afmpeg_runtime *rt, running_job *job)
{
    pthread_mutex_lock(&rt->lock);
    rt->running--;
    for (running_job **p = &rt->jobs; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            break;
        }
    }
    pthread_cond_broadcast(&rt->cond);
    pthread_mutex_unlock(&rt->lock);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

typedef struct guest_job {
    const afm_module_v1 *vt;
    void *instance;
    afm_wasi *wasi;
} guest_job;

/* Runs inside afm_rt_call: traps, stops and proc_exit unwind out of here. */
static void guest_main(void *arg)
{
    guest_job *job = arg;
    job->vt->instantiate(job->instance, job->wasi);
    afm_rt_image_instantiated();
    job->wasi->mem = job->vt->memory(job->instance);
    job->vt->start(job->instance);
}

int afm_check_ffmpeg(const afmpeg_runtime *rt, const char *call)
{
    if (!rt || rt->module->vt.is_ffmpeg)
        return AFMPEG_OK;
    return afm_error(AFMPEG_ENOTSUP, "%s needs an FFmpeg module (afmpeg's ffmpeg + ffprobe, "
                     "built by module/build.sh); this runtime's module (SHA-256 %.16s...) is "
                     "another program: run it with afmpeg_run()", call, rt->module->vt.sha256);
}

/* The job's limits (checked by afm_check_job_options): its own where set, else the runtime's. */
static void job_limits(const afmpeg_runtime *rt, const afmpeg_job_options *o, afmpeg_limits *out)
{
    *out = rt->defaults;
    if (!o)
        return;
    if (o->limits.memory_limit)
        out->memory_limit = o->limits.memory_limit;
    if (o->limits.timeout_ms)
        out->timeout_ms = o->limits.timeout_ms;
    if (o->limits.output_limit)
        out->output_limit = o->limits.output_limit;
    if (o->limits.max_open_files)
        out->max_open_files = o->limits.max_open_files;
}

int afm_check_job_options(const afmpeg_job_options *opts)
{
    if (opts && (opts->version < 1 || opts->version > AFMPEG_JOB_OPTIONS_VERSION))
        return afm_error(AFMPEG_EINVAL, "job options version %u is not supported (this library "
                         "knows up to %d)", opts->version, AFMPEG_JOB_OPTIONS_VERSION);
    if (opts && opts->version >= 2 && opts->parallel < AFMPEG_PARALLEL_AUTO)
        return afm_error(AFMPEG_EINVAL, "parallel is %d: 0, AFMPEG_PARALLEL_AUTO or a number "
                         "of segments", opts->parallel);
    return opts ? check_limits(&opts->limits) : AFMPEG_OK;
}

int afm_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
            const afmpeg_job_options *opts, const afm_run_hooks *hooks, afmpeg_result **out)
{
    *out = NULL;
    if (!rt || !fs || !argv)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !rt ? "rt" : !fs ? "fs" : "argv");
    int err = afm_check_job_options(opts);
    if (err)
        return err;
    afmpeg_limits lim;
    job_limits(rt, opts, &lim);
    afmpeg_cancel_token *token = opts ? opts->cancel : NULL;
    if (afmpeg_cancel_token_is_cancelled(token))
        return afm_error(AFMPEG_ECANCELLED, "the job was cancelled before it ran");

    afmpeg_result *res = calloc(1, sizeof *res);
    afm_wasi *wasi = malloc(sizeof *wasi);
    const afm_module_v1 *vt = &rt->module->vt;
    void *instance = calloc(1, vt->instance_size);
    static const char *const no_env[] = {NULL};
    /* The job's files, with the built-in fonts on top (fs/fonts.c). */
    afm_fonts_view fonts;
    afm_fonts_view_init(&fonts, hooks && hooks->fs ? hooks->fs : fs);
    if (!res || !wasi || !instance ||
        afm_wasi_init(wasi, &fonts.fs, argv, no_env, opts) != AFMPEG_OK) {
        free(instance);
        free(wasi);
        free(res);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    if (hooks && hooks->sink)
        afm_wasi_set_sink(wasi, AFM_SINK_FD, hooks->sink, hooks->sink_payload);
    if (hooks) {
        wasi->on_stderr_tap = hooks->stderr_tap;
        wasi->tap_payload = hooks->tap_payload;
    }
    wasi->output_limit = lim.output_limit;
    wasi->max_open_files = lim.max_open_files;

    afm_rt_ctl ctl;
    afm_rt_ctl_init(&ctl);
    ctl.image = rt->image;
    token_job tj = {NULL, &ctl, rt};
    running_job rj = {NULL, &ctl};
    if (token)
        token_add(token, &tj);
    err = take_turn(rt, token, &rj);
    afm_rt_outcome outcome;
    int rc = 0;
    if (!err) {
        guest_job job = {vt, instance, wasi};
        rc = afm_rt_call(guest_main, &job, (uint32_t)(lim.memory_limit / PAGE_SIZE),
                         lim.timeout_ms, &ctl, &outcome);
        vt->free(instance);
        end_turn(rt, &rj);
    }
    if (token)
        token_remove(token, &tj);
    afm_rt_ctl_destroy(&ctl);
    afm_wasi_release(wasi);
    res->out = wasi->out;
    res->err = wasi->err;
    char limit_msg[sizeof wasi->limit_msg];
    memcpy(limit_msg, wasi->limit_msg, sizeof limit_msg);
    free(instance);
    free(wasi);

    if (err || rc) {
        afmpeg_result_free(res);
        if (err == AFMPEG_ECLOSED)
            return afm_error(err, "the runtime was closed");
        if (err == AFMPEG_ECANCELLED)
            return afm_error(err, "the job was cancelled while it waited to run");
        return afm_error(AFMPEG_ERROR, "preparing the thread to run the guest failed: %s",
                         strerror(-rc));
    }
    *out = res;
    res->trap = outcome.trap;
    res->exit_code = outcome.exited ? outcome.exit_code : 0;
    if (outcome.stop || outcome.trap != AFMPEG_TRAP_NONE)
        res->exit_code = -1;
    switch (outcome.stop) {
    case 0:
        break;
    case AFMPEG_ECANCELLED:
        return afm_error(AFMPEG_ECANCELLED, "the job was cancelled");
    case AFMPEG_ETIMEDOUT:
        return afm_error(AFMPEG_ETIMEDOUT, "the job ran past its deadline of %llu ms",
                         (unsigned long long)lim.timeout_ms);
    case AFMPEG_ELIMIT:
        if (limit_msg[0])
            return afm_error(AFMPEG_ELIMIT, "%s", limit_msg);
        return afm_error(AFMPEG_ELIMIT, "the memory limit of %llu bytes is below the memory the "
                         "module needs to start", (unsigned long long)lim.memory_limit);
    default:
        return afm_error(outcome.stop, "the job was stopped: %s", afmpeg_strerror(outcome.stop));
    }
    if (outcome.trap != AFMPEG_TRAP_NONE)
        return afm_error(AFMPEG_ETRAP, "the guest trapped: %s", afmpeg_trap_name(outcome.trap));
    return AFMPEG_OK;
}

/* ---- results ------------------------------------------------------------------------------- */

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
    if (res->job)
        res->job->free(res->job);
    free(res);
}
