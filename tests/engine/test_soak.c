/* Soak and thread stress on the real module.
 *
 * Soak: AFMPEG_SOAK_JOBS (default 10,000) small jobs on one runtime, then on a runtime of two
 * instances (the "pool"), mixing normal jobs with probes, traps, deadline expiries and cancels.
 * Afterwards the process holds no more memory, mappings or file descriptors than after warm-up
 * (leaks themselves are caught by the ASan and valgrind tiers, which run this suite too, with
 * fewer jobs under valgrind).
 *
 * Stress: 8 threads share a runtime of one instance and one of two, mixing probe, transcode,
 * cancel, deadline expiry and traps; every result is checked. */
#include <dirent.h>
#include <pthread.h>
#include <time.h>
#include "engine_util.h"

static afmpeg_runtime *rt;
static afmpeg_runtime *pool; /* two instances */
static void *clip;
static size_t clip_len;

static int setup(void **state)
{
    (void)state;
    char path[512];
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    if (make_media() || afmpeg_new(NULL, &rt) || afmpeg_new(&po, &pool))
        return -1;
    snprintf(path, sizeof path, "%s/h264_aac.mp4", media_dir);
    clip = read_host_file(path, &clip_len);
    return clip ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(clip);
    remove_media();
    return 0;
}

/* Runs on the runtime of one instance or on the one of two. */
static int run_on(int use_pool, afmpeg_fs *fs, const char *const *argv,
                  const afmpeg_job_options *o, afmpeg_result **res)
{
    return afmpeg_run(use_pool ? pool : rt, fs, argv, o, res);
}

typedef struct usage {
    long rss_kb, maps, fds;
} usage;

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static usage measure(void)
{
    usage u = {0, 0, 0};
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    u.rss_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
    u.maps = count_lines("/proc/self/maps");
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            u.fds++;
        closedir(d);
    }
    return u;
}

/* One soak job, its kind chosen by its number. Returns 0 if its result was right. */
static int soak_job(int use_pool, afmpeg_fs *fs, int i)
{
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    afmpeg_result *res = NULL;
    int ok;
    if (i % 500 == 250) { /* deadline */
        const char *argv[] = {"afmpeg-selftest", "spin", NULL};
        o.limits.timeout_ms = 5;
        ok = run_on(use_pool, fs, argv, &o, &res) == AFMPEG_ETIMEDOUT;
    } else if (i % 100 == 50) { /* trap */
        const char *argv[] = {"afmpeg-selftest", "oob", NULL};
        EXPECTED_FAULTS_BEGIN();
        ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_ETRAP &&
             afmpeg_result_trap(res) == AFMPEG_TRAP_OUT_OF_BOUNDS;
        EXPECTED_FAULTS_END();
    } else if (i % 20 == 10) { /* a real probe */
        const char *argv[] = {"ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                              "-of", "csv=p=0", "in.mp4", NULL};
        ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_OK &&
             !strcmp(afmpeg_result_stdout(res, NULL), "h264\naac\n");
    } else { /* the smallest job: the module's own startup and exit */
        const char *argv[] = {"afmpeg-selftest", "exit", NULL};
        ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_OK &&
             afmpeg_result_exit_code(res) == 42;
    }
    afmpeg_result_free(res);
    return ok ? 0 : 1;
}

static int soak_jobs(void)
{
    const char *env = getenv("AFMPEG_SOAK_JOBS");
    int n = env ? atoi(env) : 10000;
    return n > 2000 ? n : 2000; /* 1,000 to warm up, at least 1,000 measured */
}

typedef struct soak_thread {
    int use_pool, from, to, failures;
} soak_thread;

static void *soak_worker(void *arg)
{
    soak_thread *s = arg;
    afmpeg_fs *fs;
    if (afmpeg_fs_new_memory(&fs) || afmpeg_fs_write_file(fs, "in.mp4", clip, clip_len)) {
        s->failures++;
        return NULL;
    }
    for (int i = s->from; i < s->to; i++)
        s->failures += soak_job(s->use_pool, fs, i);
    afmpeg_fs_free(fs);
    return NULL;
}

/* Runs jobs [from, to) on `threads` threads. */
static int soak_range(int use_pool, int threads, int from, int to)
{
    soak_thread s[4];
    pthread_t t[4];
    int per = (to - from) / threads, failures = 0;
    for (int k = 0; k < threads; k++) {
        s[k] = (soak_thread){use_pool, from + k * per, k == threads - 1 ? to : from + (k + 1) * per, 0};
        assert_int_equal(pthread_create(&t[k], NULL, soak_worker, &s[k]), 0);
    }
    for (int k = 0; k < threads; k++) {
        pthread_join(t[k], NULL);
        failures += s[k].failures;
    }
    return failures;
}

static void check_soak(int use_pool, int threads)
{
    int n = soak_jobs();
    int failures = soak_range(use_pool, threads, 0, 1000); /* warm-up */
    usage before = measure();
    failures += soak_range(use_pool, threads, 1000, n);
    usage after = measure();
    print_message("%d jobs on a %s: RSS %ld -> %ld KiB, maps %ld -> %ld, fds %ld -> %ld\n", n,
                  use_pool ? "pool of 2" : "runtime", before.rss_kb, after.rss_kb, before.maps,
                  after.maps, before.fds, after.fds);
    assert_int_equal(failures, 0);
    assert_true(after.fds - before.fds <= 0);
    /* Flat after warm-up. Under ASan (its quarantine of freed memory fills up) and valgrind
     * (shadow memory) the process grows without a leak of ours; those tiers check leaks
     * themselves, at exit. */
    if (!under_instrumentation()) {
        assert_true(after.rss_kb - before.rss_kb < 8 * 1024);
        assert_true(after.maps - before.maps <= 2);
    }
}

static void test_soak_runtime(void **state) { (void)state; check_soak(0, 1); }
static void test_soak_pool(void **state) { (void)state; check_soak(1, 2); }

/* ---- stress ----------------------------------------------------------------------------------- */

static int stress_probe(int use_pool, afmpeg_fs *fs)
{
    const char *argv[] = {"ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width",
                          "-of", "csv=p=0", "in.mp4", NULL};
    afmpeg_result *res = NULL;
    int ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_OK &&
             !strcmp(afmpeg_result_stdout(res, NULL), "h264,320\naac\n");
    afmpeg_result_free(res);
    return ok;
}

static int stress_transcode(int use_pool, afmpeg_fs *fs)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", "in.mp4", "-t", "1",
                          "-vf", "scale=160:-2", "-c:v", "libopenh264", "-c:a", "aac", "out.mp4",
                          NULL};
    const char *check[] = {"ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width",
                           "-of", "csv=p=0", "out.mp4", NULL};
    afmpeg_result *res = NULL;
    int ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_OK &&
             afmpeg_result_exit_code(res) == 0;
    afmpeg_result_free(res);
    res = NULL;
    ok = ok && run_on(use_pool, fs, check, NULL, &res) == AFMPEG_OK &&
         !strcmp(afmpeg_result_stdout(res, NULL), "h264,160\naac\n");
    afmpeg_result_free(res);
    return ok;
}

static int stress_cancel(int use_pool, afmpeg_fs *fs)
{
    afmpeg_cancel_token *tok;
    if (afmpeg_cancel_token_new(&tok))
        return 0;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = tok;
    canceller c = {tok, 20};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &c);
    const char *argv[] = {"afmpeg-selftest", "spin", NULL};
    afmpeg_result *res = NULL;
    int err = run_on(use_pool, fs, argv, &o, &res);
    pthread_join(t, NULL);
    afmpeg_result_free(res);
    afmpeg_cancel_token_free(tok);
    return err == AFMPEG_ECANCELLED;
}

static int stress_deadline(int use_pool, afmpeg_fs *fs)
{
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 30;
    const char *argv[] = {"afmpeg-selftest", "spin", NULL};
    afmpeg_result *res = NULL;
    int ok = run_on(use_pool, fs, argv, &o, &res) == AFMPEG_ETIMEDOUT;
    afmpeg_result_free(res);
    return ok;
}

static int stress_trap(int use_pool, afmpeg_fs *fs)
{
    const char *argv[] = {"afmpeg-selftest", "divzero", NULL};
    afmpeg_result *res = NULL;
    EXPECTED_FAULTS_BEGIN();
    int ok = run_on(use_pool, fs, argv, NULL, &res) == AFMPEG_ETRAP &&
             afmpeg_result_trap(res) == AFMPEG_TRAP_DIV_BY_ZERO;
    EXPECTED_FAULTS_END();
    afmpeg_result_free(res);
    return ok;
}

typedef struct stress_thread {
    int id, failures;
} stress_thread;

static void *stress_worker(void *arg)
{
    stress_thread *s = arg;
    afmpeg_fs *fs;
    if (afmpeg_fs_new_memory(&fs) || afmpeg_fs_write_file(fs, "in.mp4", clip, clip_len)) {
        s->failures++;
        return NULL;
    }
    int (*const kinds[])(int, afmpeg_fs *) = {stress_probe, stress_transcode, stress_cancel,
                                              stress_deadline, stress_trap};
    for (int i = 0; i < 10; i++) {
        int k = (s->id + i) % 5, use_pool = (s->id + i) % 2;
        if (!kinds[k](use_pool, fs)) {
            s->failures++;
            print_error("thread %d job %d (kind %d, %s) failed\n", s->id, i, k,
                        use_pool ? "pool" : "runtime");
        }
    }
    afmpeg_fs_free(fs);
    return NULL;
}

static void test_stress_8_threads(void **state)
{
    (void)state;
    stress_thread s[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        s[i] = (stress_thread){i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, stress_worker, &s[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        failures += s[i].failures;
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    alarm(900); /* a hang fails the suite instead of CI's whole run */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak_runtime),
        cmocka_unit_test(test_soak_pool),
        cmocka_unit_test(test_stress_8_threads),
    };
    return cmocka_run_group_tests_name("soak", tests, setup, teardown);
}
