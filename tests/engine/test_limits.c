/* Safe under load: memory caps, deadlines, output and open-file limits, cancellation (running,
 * queued, in host calls, in pure compute loops), and runtimes of several instances (what was
 * the pool API) — on the real module. The guest misbehaves on purpose through
 * "afmpeg-selftest KIND" (module/multicall/main.c). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include "engine_util.h"

static afmpeg_runtime *rt;
static afmpeg_fs *fs;

static int setup(void **state)
{
    (void)state;
    if (make_media() || afmpeg_new(NULL, &rt) || afmpeg_fs_new_memory(&fs))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    remove_media();
    return 0;
}

/* Runs `afmpeg-selftest kind [arg]` with opts; returns the error, result in *res. */
static int selftest(afmpeg_runtime *r, const char *kind, const char *arg,
                    const afmpeg_job_options *opts, afmpeg_result **res)
{
    const char *argv[] = {"afmpeg-selftest", kind, arg, NULL};
    return afmpeg_run(r, fs, argv, opts, res);
}

/* The runtime still runs a normal job correctly. */
static void assert_runtime_works(afmpeg_runtime *r)
{
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(r, "exit", NULL, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 42);
    afmpeg_result_free(res);
}

/* Upper bounds on times prove a job was stopped by what the test did, not by something else.
 * Under ASan or valgrind everything is slower and valgrind delivers signals late: widen them. */
static double slack(double ms)
{
    return under_instrumentation() ? ms * 30 : ms;
}

static void test_memory_limit(void **state)
{
    (void)state;
    unsigned long got[2];
    const uint64_t limits[2] = {64ull << 20, 128ull << 20};
    for (int i = 0; i < 2; i++) {
        afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
        o.limits.memory_limit = limits[i];
        afmpeg_result *res = NULL;
        assert_int_equal(selftest(rt, "alloc", NULL, &o, &res), AFMPEG_OK);
        assert_int_equal(afmpeg_result_exit_code(res), 0);
        got[i] = strtoul(afmpeg_result_stdout(res, NULL), NULL, 10);
        afmpeg_result_free(res);
    }
    /* 1 MiB blocks: a little less than the cap (the module's own data and stack come first). */
    assert_true(got[0] >= 40 && got[0] < 64);
    assert_true(got[1] >= 100 && got[1] < 128);
    /* With no limit given, the documented default: 512 MiB. */
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, "alloc", NULL, NULL, &res), AFMPEG_OK);
    unsigned long dflt = strtoul(afmpeg_result_stdout(res, NULL), NULL, 10);
    afmpeg_result_free(res);
    assert_true(dflt >= 480 && dflt < 512);
    assert_runtime_works(rt);
}

/* FFmpeg asked for a frame bigger than the cap (16000x16000 RGBA is 1 GiB) reports its
 * allocation failure and exits non-zero; the same job fits without the filter. */
static void test_memory_limit_ffmpeg(void **state)
{
    (void)state;
    put_media(fs, "h264_aac.mp4", "in.mp4");
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.memory_limit = 256ull << 20;
    const char *big[] = {"ffmpeg", "-nostdin", "-hide_banner", "-i", "in.mp4", "-frames:v", "1",
                         "-vf", "scale=16000:16000,format=rgba", "-f", "null", "-", NULL};
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run(rt, fs, big, &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 1);
    assert_non_null(strstr(afmpeg_result_stderr(res, NULL), "Out of memory"));
    afmpeg_result_free(res);
    const char *small[] = {"ffmpeg", "-nostdin", "-hide_banner", "-i", "in.mp4", "-frames:v",
                           "1", "-vf", "scale=1600:1600,format=rgba", "-f", "null", "-", NULL};
    assert_int_equal(afmpeg_run(rt, fs, small, &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    afmpeg_result_free(res);
    assert_runtime_works(rt);
}

static void test_deadline_pure_compute(void **state)
{
    (void)state;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 200;
    afmpeg_result *res = NULL;
    double t0 = now_ms();
    assert_int_equal(selftest(rt, "spin", NULL, &o, &res), AFMPEG_ETIMEDOUT);
    double took = now_ms() - t0;
    assert_non_null(res);
    assert_int_equal(afmpeg_result_exit_code(res), -1);
    assert_non_null(strstr(afmpeg_last_error(), "deadline of 200 ms"));
    afmpeg_result_free(res);
    assert_true(took >= 199 && took < slack(5000));
    assert_runtime_works(rt);
}

static void test_deadline_in_host_sleep(void **state)
{
    (void)state;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 150;
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, "sleep", NULL, &o, &res), AFMPEG_ETIMEDOUT);
    afmpeg_result_free(res);
    assert_runtime_works(rt);
}

/* A runtime-wide default deadline applies to jobs that set none. */
static void test_runtime_default_deadline(void **state)
{
    (void)state;
    afmpeg_runtime_options ro = AFMPEG_RUNTIME_OPTIONS_INIT;
    ro.limits.timeout_ms = 100;
    afmpeg_runtime *r;
    assert_int_equal(afmpeg_new(&ro, &r), AFMPEG_OK);
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(r, "spin", NULL, NULL, &res), AFMPEG_ETIMEDOUT);
    afmpeg_result_free(res);
    /* ... and a job's own deadline wins. */
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 300;
    double t0 = now_ms();
    assert_int_equal(selftest(r, "spin", NULL, &o, &res), AFMPEG_ETIMEDOUT);
    assert_true(now_ms() - t0 >= 299);
    afmpeg_result_free(res);
    afmpeg_close(r, AFMPEG_CLOSE_WAIT);
}

/* Cancels a job of `kind` from another thread after 100 ms. */
static void check_cancel_running(const char *kind)
{
    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = tok;
    canceller c = {tok, 100};
    pthread_t th;
    double t0 = now_ms(); /* before the canceller starts: the lower bound below always holds */
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, kind, NULL, &o, &res), AFMPEG_ECANCELLED);
    double took = now_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(res);
    assert_int_equal(afmpeg_result_exit_code(res), -1);
    afmpeg_result_free(res);
    assert_true(took >= 99 && took < slack(3000));
    assert_true(afmpeg_cancel_token_is_cancelled(tok));
    /* Cancellation is sticky: a later job with the token does not run. */
    assert_int_equal(selftest(rt, "exit", NULL, &o, &res), AFMPEG_ECANCELLED);
    assert_null(res);
    afmpeg_cancel_token_free(tok);
    assert_runtime_works(rt);
}

static void test_cancel_pure_compute(void **state) { (void)state; check_cancel_running("spin"); }

/* The caller's signal mask does not matter: with every signal blocked, traps still trap and a
 * register-only loop is still cancelled; the caller's mask is as it was afterwards. */
static void test_blocked_signals(void **state)
{
    (void)state;
    sigset_t all, before, after;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    afmpeg_result *res = NULL;
    EXPECTED_FAULTS_BEGIN();
    int err = selftest(rt, "oob", NULL, NULL, &res);
    EXPECTED_FAULTS_END();
    afmpeg_result_free(res);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 100;
    int err2 = selftest(rt, "spin", NULL, &o, &res);
    afmpeg_result_free(res);
    pthread_sigmask(SIG_SETMASK, &before, &after);
    assert_int_equal(err, AFMPEG_ETRAP);
    assert_int_equal(err2, AFMPEG_ETIMEDOUT);
    assert_true(sigismember(&after, SIGSEGV));
    assert_true(sigismember(&after, SIGRTMIN + 5));
}
static void test_cancel_in_host_sleep(void **state) { (void)state; check_cancel_running("sleep"); }
static void test_cancel_while_writing(void **state) { (void)state; check_cancel_running("write"); }

/* A real FFmpeg job cancelled mid-way from another thread, once it has shown it is running (it
 * has written output): the runtime goes on. */
typedef struct progress {
    _Atomic size_t bytes;
    afmpeg_cancel_token *token;
} progress;

static int count_bytes(const void *data, size_t len, void *payload)
{
    (void)data;
    atomic_fetch_add(&((progress *)payload)->bytes, len);
    return 0;
}

static void *cancel_when_running(void *arg)
{
    progress *p = arg;
    struct timespec ts = {0, 5 * 1000000L};
    for (int i = 0; i < 12000 && atomic_load(&p->bytes) < 1000; i++)
        nanosleep(&ts, NULL);
    afmpeg_cancel_token_cancel(p->token);
    return NULL;
}

static void test_cancel_ffmpeg(void **state)
{
    (void)state;
    progress p;
    atomic_init(&p.bytes, 0);
    assert_int_equal(afmpeg_cancel_token_new(&p.token), AFMPEG_OK);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = p.token;
    o.on_stdout = count_bytes;
    o.output_payload = &p;
    put_media(fs, "h264_aac.mp4", "in.mp4");
    /* Loops the input forever: only the cancel ends it. */
    const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "-1", "-i",
                          "in.mp4", "-f", "framemd5", "-", NULL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_when_running, &p), 0);
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run(rt, fs, argv, &o, &res), AFMPEG_ECANCELLED);
    pthread_join(th, NULL);
    assert_true(atomic_load(&p.bytes) >= 1000); /* it was running when cancelled */
    afmpeg_result_free(res);
    afmpeg_cancel_token_free(p.token);
    assert_runtime_works(rt);
}

/* Cancelling from the job's own output callback. */
static int cancel_on_output(const void *data, size_t len, void *payload)
{
    (void)data;
    (void)len;
    afmpeg_cancel_token_cancel(payload);
    return 0;
}

static void test_cancel_from_callback(void **state)
{
    (void)state;
    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = tok;
    o.on_stdout = cancel_on_output;
    o.output_payload = tok;
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, "write", NULL, &o, &res), AFMPEG_ECANCELLED);
    afmpeg_result_free(res);
    afmpeg_cancel_token_free(tok);
    assert_runtime_works(rt);
}

/* A queued job cancelled while another runs returns at once, without running. */
typedef struct queued {
    afmpeg_cancel_token *token;
    int err;
    double took_ms;
} queued;

static void *run_queued(void *arg)
{
    queued *q = arg;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = q->token;
    afmpeg_result *res = NULL;
    double t0 = now_ms();
    q->err = selftest(rt, "exit", NULL, &o, &res);
    q->took_ms = now_ms() - t0;
    afmpeg_result_free(res);
    return NULL;
}

typedef struct busy_job {
    afmpeg_cancel_token *token;
    int err;
} busy_job;

static void *run_busy(void *arg)
{
    busy_job *b = arg;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = b->token;
    afmpeg_result *res = NULL;
    b->err = selftest(rt, "spin", NULL, &o, &res);
    afmpeg_result_free(res);
    return NULL;
}

static void test_cancel_queued(void **state)
{
    (void)state;
    afmpeg_cancel_token *busy, *waiting;
    assert_int_equal(afmpeg_cancel_token_new(&busy), AFMPEG_OK);
    assert_int_equal(afmpeg_cancel_token_new(&waiting), AFMPEG_OK);
    /* A job that spins until cancelled holds the runtime; a second one queues behind it and is
     * cancelled while it waits: it returns at once, and the first goes on running. */
    busy_job b = {busy, 0};
    queued q = {waiting, 0, 0};
    pthread_t t_busy, t_queued;
    struct timespec ts = {0, 200 * 1000000L};
    assert_int_equal(pthread_create(&t_busy, NULL, run_busy, &b), 0);
    nanosleep(&ts, NULL);
    assert_int_equal(pthread_create(&t_queued, NULL, run_queued, &q), 0);
    nanosleep(&ts, NULL);
    double t0 = now_ms();
    afmpeg_cancel_token_cancel(waiting);
    pthread_join(t_queued, NULL);
    double returned_after = now_ms() - t0;
    assert_int_equal(q.err, AFMPEG_ECANCELLED);
    assert_true(q.took_ms >= 150);          /* it did wait in the queue */
    assert_true(returned_after < slack(1000)); /* and left it at once when cancelled */
    afmpeg_cancel_token_cancel(busy);
    pthread_join(t_busy, NULL);
    assert_int_equal(b.err, AFMPEG_ECANCELLED);
    afmpeg_cancel_token_free(busy);
    afmpeg_cancel_token_free(waiting);
    assert_runtime_works(rt);
}

/* The deadline clock starts when the job runs, not while it queues: on a runtime of one instance,
 * a job with a 150 ms deadline waits up to 2 s behind another, then runs and succeeds. */
typedef struct spinner {
    afmpeg_runtime *pool;
    int err;
} spinner;

static void *spin_2s(void *arg)
{
    spinner *sp = arg;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 2000;
    const char *argv[] = {"afmpeg-selftest", "spin", NULL};
    afmpeg_result *res = NULL;
    sp->err = afmpeg_run(sp->pool, fs, argv, &o, &res);
    afmpeg_result_free(res);
    return NULL;
}

static int wait_for_pool(afmpeg_runtime *pool, unsigned running, unsigned queued);

static void test_deadline_excludes_queueing(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 1;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    spinner sp = {pool, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spin_2s, &sp), 0);
    assert_true(wait_for_pool(pool, 1, 0));
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 150;
    const char *argv[] = {"afmpeg-selftest", "exit", NULL};
    afmpeg_result *res = NULL;
    double t0 = now_ms();
    int err = afmpeg_run(pool, fs, argv, &o, &res);
    double took = now_ms() - t0;
    assert_int_equal(err, AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 42);
    afmpeg_result_free(res);
    pthread_join(th, NULL);
    assert_int_equal(sp.err, AFMPEG_ETIMEDOUT);
    assert_true(took > 300); /* it queued longer than its own deadline, and still ran */
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

static void test_output_limit(void **state)
{
    (void)state;
    /* Standard output. */
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.output_limit = 1 << 20;
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, "write", NULL, &o, &res), AFMPEG_ELIMIT);
    assert_non_null(strstr(afmpeg_last_error(), "output limit of 1048576 bytes"));
    size_t n;
    afmpeg_result_stdout(res, &n);
    assert_true(n <= 1 << 20);
    afmpeg_result_free(res);

    /* A file, next to one that must stay intact. */
    put_media(fs, "h264_aac.mp4", "in.mp4");
    assert_int_equal(afmpeg_fs_write_file(fs, "keep.txt", "precious", 8), AFMPEG_OK);
    const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "in.mp4", "-f", "rawvideo",
                          "-y", "out.raw", NULL};
    o.limits.output_limit = 500000;
    assert_int_equal(afmpeg_run(rt, fs, argv, &o, &res), AFMPEG_ELIMIT);
    afmpeg_result_free(res);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "out.raw", &st), AFMPEG_OK);
    assert_true(st.size <= 500000);
    void *data;
    assert_int_equal(afmpeg_fs_read_file(fs, "keep.txt", &data, &n), AFMPEG_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(data, "precious", 8);
    afmpeg_free(data);
    assert_runtime_works(rt);
}

static void test_open_files_limit(void **state)
{
    (void)state;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.max_open_files = 5;
    afmpeg_result *res = NULL;
    assert_int_equal(selftest(rt, "open", "10", &o, &res), AFMPEG_ELIMIT);
    assert_non_null(strstr(afmpeg_last_error(), "limit of 5 files"));
    afmpeg_result_free(res);
    assert_int_equal(selftest(rt, "open", "5", &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    afmpeg_result_free(res);
    /* With no limit given, the documented default: 256. */
    assert_int_equal(selftest(rt, "open", "256", NULL, &res), AFMPEG_OK);
    afmpeg_result_free(res);
    assert_int_equal(selftest(rt, "open", "257", NULL, &res), AFMPEG_ELIMIT);
    assert_non_null(strstr(afmpeg_last_error(), "limit of 256 files"));
    afmpeg_result_free(res);
}

static void test_bad_limits(void **state)
{
    (void)state;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.memory_limit = 5ull << 30;
    afmpeg_result *res = (afmpeg_result *)1;
    assert_int_equal(selftest(rt, "exit", NULL, &o, &res), AFMPEG_EINVAL);
    assert_null(res);
    assert_non_null(strstr(afmpeg_last_error(), "memory_limit"));
    o.limits.memory_limit = 0;
    o.limits.max_open_files = 100000;
    assert_int_equal(selftest(rt, "exit", NULL, &o, &res), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "max_open_files"));

    /* A runtime's own: at most 1024 instances (1024 costs nothing until jobs run), its limits
     * checked as a job's are, its options' version known. */
    afmpeg_runtime_options ro = AFMPEG_RUNTIME_OPTIONS_INIT;
    afmpeg_runtime *r = (afmpeg_runtime *)1;
    ro.instances = 1025;
    assert_int_equal(afmpeg_new(&ro, &r), AFMPEG_EINVAL);
    assert_null(r);
    assert_string_equal(afmpeg_last_error(), "instances 1025 is over 1024");
    ro.instances = 0;
    ro.limits.memory_limit = 1000;
    assert_int_equal(afmpeg_new(&ro, &r), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "memory_limit 1000 is under one 64 KiB page"));
    ro.limits.memory_limit = 0;
    ro.version = AFMPEG_RUNTIME_OPTIONS_VERSION + 1;
    assert_int_equal(afmpeg_new(&ro, &r), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "runtime options version"));
    ro.version = AFMPEG_RUNTIME_OPTIONS_VERSION;
    ro.instances = 1024;
    assert_int_equal(afmpeg_new(&ro, &r), AFMPEG_OK);
    afmpeg_runtime_stats st;
    assert_int_equal(afmpeg_stats(r, &st), AFMPEG_OK);
    assert_int_equal(st.instances, 1024);
    assert_int_equal(st.running, 0);
    afmpeg_close(r, AFMPEG_CLOSE_WAIT);
}

/* ---- runtimes of several instances (the pool) ------------------------------------------------ */

typedef struct pool_worker {
    afmpeg_runtime *pool;
    const char *kind;
    afmpeg_cancel_token *token;
    int err, exit_code;
} pool_worker;

static void *pool_job(void *arg)
{
    pool_worker *w = arg;
    afmpeg_fs *own;
    if (afmpeg_fs_new_memory(&own))
        return NULL;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = w->token;
    const char *argv[] = {"afmpeg-selftest", w->kind, NULL};
    afmpeg_result *res = NULL;
    w->err = afmpeg_run(w->pool, own, argv, &o, &res);
    w->exit_code = afmpeg_result_exit_code(res);
    afmpeg_result_free(res);
    afmpeg_fs_free(own);
    return NULL;
}

/* Waits (up to a minute) until the runtime has `running` jobs running and `queued` waiting. */
static int wait_for_pool(afmpeg_runtime *pool, unsigned running, unsigned queued)
{
    struct timespec ts = {0, 5 * 1000000L};
    for (int i = 0; i < 12000; i++) {
        afmpeg_runtime_stats st;
        if (afmpeg_stats(pool, &st) == AFMPEG_OK && st.running == running &&
            st.queued == queued)
            return 1;
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_pool_runs_in_parallel(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_runtime_stats st;
    assert_int_equal(afmpeg_stats(pool, &st), AFMPEG_OK);
    assert_int_equal(st.instances, 2);
    assert_int_equal(st.running, 0);
    assert_true(st.idle_bytes < 4096);
    /* A runtime made without options runs one job at a time. */
    assert_int_equal(afmpeg_stats(rt, &st), AFMPEG_OK);
    assert_int_equal(st.instances, 1);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(afmpeg_stats(NULL, &st), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_stats(pool, NULL), AFMPEG_EINVAL);
    /* Two jobs that spin until cancelled run at once on the two instances; a third queues. */
    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    pool_worker w[3] = {{pool, "spin", tok, 0, 0}, {pool, "spin", tok, 0, 0},
                        {pool, "spin", tok, 0, 0}};
    pthread_t t[3];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pool_job, &w[i]), 0);
    assert_true(wait_for_pool(pool, 2, 0));
    assert_int_equal(pthread_create(&t[2], NULL, pool_job, &w[2]), 0);
    assert_true(wait_for_pool(pool, 2, 1));
    afmpeg_cancel_token_cancel(tok);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].err, AFMPEG_ECANCELLED);
    }
    assert_true(wait_for_pool(pool, 0, 0));
    /* The first job recorded the runtime's memory image (lib/rt/image.c); the next to start
     * builds it: the module's 4.4 MB of data segments, which the runtime then holds, shared by
     * its two instances. */
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    const char *version[] = {"ffmpeg", "-version", NULL};
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run(pool, fs, version, NULL, &res), AFMPEG_OK);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    assert_int_equal(afmpeg_stats(pool, &st), AFMPEG_OK);
    const char *env = getenv("AFMPEG_MEMORY_IMAGE");
    if (env && !strcmp(env, "0"))
        assert_true(st.idle_bytes < 4096);
    else
        assert_in_range(st.idle_bytes, (4u << 20) / 2, (5u << 20) / 2);
    afmpeg_cancel_token_free(tok);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

/* Callers waiting for an instance get it in the order they arrived. Each waiter's job writes
 * to stderr (an unknown selftest kind) while it holds the one instance, and notes its turn from
 * the output callback, which runs inside the job: the notes are in the order the jobs ran. */
typedef struct turn_taker {
    afmpeg_runtime *rt;
    int id;
    _Atomic int *next_turn;
    int turn, err;
} turn_taker;

static int note_turn(const void *data, size_t len, void *payload)
{
    (void)data;
    (void)len;
    turn_taker *t = payload;
    if (t->turn < 0)
        t->turn = atomic_fetch_add(t->next_turn, 1);
    return 0;
}

static void *run_in_turn(void *arg)
{
    turn_taker *t = arg;
    afmpeg_fs *own;
    if (afmpeg_fs_new_memory(&own))
        return NULL;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.on_stderr = note_turn;
    o.output_payload = t;
    const char *argv[] = {"afmpeg-selftest", "say-something", NULL};
    afmpeg_result *res = NULL;
    t->err = afmpeg_run(t->rt, own, argv, &o, &res);
    afmpeg_result_free(res);
    afmpeg_fs_free(own);
    return NULL;
}

static void test_queue_order(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 1;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    pool_worker busy = {pool, "spin", tok, 0, 0};
    pthread_t tb, t[4];
    assert_int_equal(pthread_create(&tb, NULL, pool_job, &busy), 0);
    assert_true(wait_for_pool(pool, 1, 0));
    _Atomic int next_turn;
    atomic_init(&next_turn, 0);
    turn_taker w[4];
    for (int i = 0; i < 4; i++) { /* each one queued before the next arrives */
        w[i] = (turn_taker){pool, i, &next_turn, -1, -1};
        assert_int_equal(pthread_create(&t[i], NULL, run_in_turn, &w[i]), 0);
        assert_true(wait_for_pool(pool, 1, (unsigned)i + 1));
    }
    afmpeg_cancel_token_cancel(tok);
    pthread_join(tb, NULL);
    assert_int_equal(busy.err, AFMPEG_ECANCELLED);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].err, AFMPEG_OK);
        assert_int_equal(w[i].turn, i);
    }
    afmpeg_cancel_token_free(tok);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

/* Closing with AFMPEG_CLOSE_WAIT lets the running job run to its own end and turns the queued
 * caller away at once. */
static void test_close_waits(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 1;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    pool_worker w[2] = {{pool, "spin", tok, 0, 0}, {pool, "exit", NULL, 0, 0}};
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, pool_job, &w[0]), 0);
    assert_true(wait_for_pool(pool, 1, 0));
    assert_int_equal(pthread_create(&t[1], NULL, pool_job, &w[1]), 0);
    assert_true(wait_for_pool(pool, 1, 1));
    canceller c = {tok, 300}; /* the running job ends 300 ms into the close */
    pthread_t tc;
    /* The clock starts before the canceller: the job cannot end sooner than 300 ms after it,
     * however late this thread gets back to the close (valgrind runs one thread at a time). */
    double t0 = now_ms();
    assert_int_equal(pthread_create(&tc, NULL, cancel_later, &c), 0);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
    double took = now_ms() - t0;
    pthread_join(tc, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true(took >= 250);                    /* close waited for the running job */
    assert_int_equal(w[0].err, AFMPEG_ECANCELLED); /* which ended as its own cancel said */
    assert_int_equal(w[1].err, AFMPEG_ECLOSED);    /* the queued one never ran */
    afmpeg_cancel_token_free(tok);
}

static void test_pool_close_cancels(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    pool_worker w[3] = {{pool, "spin", NULL, 0, 0}, {pool, "sleep", NULL, 0, 0},
                        {pool, "spin", NULL, 0, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, pool_job, &w[i]), 0);
    assert_true(wait_for_pool(pool, 2, 1));
    double t0 = now_ms();
    afmpeg_close(pool, AFMPEG_CLOSE_CANCEL);
    assert_true(now_ms() - t0 < slack(2000));
    int cancelled = 0, closed = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cancelled += w[i].err == AFMPEG_ECANCELLED;
        closed += w[i].err == AFMPEG_ECLOSED;
    }
    assert_int_equal(cancelled, 2); /* the two running */
    assert_int_equal(closed, 1);    /* the one queued */
}

int main(void)
{
    alarm(300); /* a hang fails the suite instead of CI's whole run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_memory_limit_ffmpeg),
        cmocka_unit_test(test_deadline_pure_compute),
        cmocka_unit_test(test_deadline_in_host_sleep),
        cmocka_unit_test(test_runtime_default_deadline),
        cmocka_unit_test(test_cancel_pure_compute),
        cmocka_unit_test(test_blocked_signals),
        cmocka_unit_test(test_cancel_in_host_sleep),
        cmocka_unit_test(test_cancel_while_writing),
        cmocka_unit_test(test_cancel_ffmpeg),
        cmocka_unit_test(test_cancel_from_callback),
        cmocka_unit_test(test_cancel_queued),
        cmocka_unit_test(test_deadline_excludes_queueing),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_open_files_limit),
        cmocka_unit_test(test_bad_limits),
        cmocka_unit_test(test_pool_runs_in_parallel),
        cmocka_unit_test(test_queue_order),
        cmocka_unit_test(test_close_waits),
        cmocka_unit_test(test_pool_close_cancels),
    };
    return cmocka_run_group_tests_name("limits", tests, setup, teardown);
}
