/* bench_pool — measured in one run, reported as ratios (not a test: nothing here can fail).
 *
 *   1. Pool scaling: a batch of transcodes (examples/sample.mp4 -> H.264/AAC at width 160) on a
 *      runtime of 1 instance, then of 2, with as many submitting threads as jobs. Throughput ratio
 *      (goal on 2 cores: >= 1.85x) and each job's queueing delay (time to finish minus the time
 *      one job takes alone).
 *   2. Cancel latency: from afmpeg_cancel_token_cancel() to afmpeg_run() returning, for a guest
 *      spinning on registers (no host calls), one sleeping in host calls, and a real FFmpeg
 *      decode.
 *
 * usage: bench_pool [SAMPLE] [JOBS]   (defaults: examples/sample.mp4, 8) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "afmpeg.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *input;
static size_t input_len;

typedef struct job {
    afmpeg_runtime *pool; /* a runtime of `instances` instances */
    double submitted, finished;
    int ok;
} job;

static void *transcode(void *arg)
{
    job *j = arg;
    afmpeg_fs *fs;
    afmpeg_result *res = NULL;
    if (afmpeg_fs_new_memory(&fs) || afmpeg_fs_write_file(fs, "in.mp4", input, input_len))
        return NULL;
    const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "in.mp4", "-vf",
                          "scale=160:-2", "-c:v", "libopenh264", "-c:a", "aac", "out.mp4", NULL};
    j->submitted = now_ms();
    j->ok = afmpeg_run(j->pool, fs, argv, NULL, &res) == AFMPEG_OK &&
            afmpeg_result_exit_code(res) == 0;
    j->finished = now_ms();
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    return NULL;
}

/* Runs `n` jobs at once on a runtime of `instances`; returns the batch's wall time in ms. */
static double batch(unsigned instances, int n, double solo_ms, double *mean_wait, double *max_wait)
{
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = instances;
    afmpeg_runtime *pool;
    if (afmpeg_new(&po, &pool)) {
        fprintf(stderr, "afmpeg_new: %s\n", afmpeg_last_error());
        exit(1);
    }
    job *jobs = calloc((size_t)n, sizeof *jobs);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        jobs[i].pool = pool;
        pthread_create(&t[i], NULL, transcode, &jobs[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    double wall = now_ms() - t0;
    *mean_wait = 0;
    *max_wait = 0;
    for (int i = 0; i < n; i++) {
        if (!jobs[i].ok) {
            fprintf(stderr, "a transcode failed\n");
            exit(1);
        }
        double wait = jobs[i].finished - jobs[i].submitted - solo_ms;
        *mean_wait += wait / n;
        if (wait > *max_wait)
            *max_wait = wait;
    }
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
    free(jobs);
    free(t);
    return wall;
}

typedef struct cancel_at {
    afmpeg_cancel_token *token;
    double delay_ms, cancelled_at;
} cancel_at;

static void *canceller(void *arg)
{
    cancel_at *c = arg;
    struct timespec ts = {0, (long)(c->delay_ms * 1e6)};
    nanosleep(&ts, NULL);
    c->cancelled_at = now_ms();
    afmpeg_cancel_token_cancel(c->token);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and max of `reps` cancel latencies for a command. */
static void cancel_latency(afmpeg_runtime *rt, const char *const *argv, int reps, double *med,
                           double *max)
{
    double lat[64];
    afmpeg_fs *fs;
    afmpeg_fs_new_memory(&fs);
    afmpeg_fs_write_file(fs, "in.mp4", input, input_len);
    for (int i = 0; i < reps; i++) {
        afmpeg_cancel_token *tok;
        afmpeg_cancel_token_new(&tok);
        afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
        o.cancel = tok;
        cancel_at c = {tok, 50, 0};
        pthread_t t;
        pthread_create(&t, NULL, canceller, &c);
        afmpeg_result *res = NULL;
        int err = afmpeg_run(rt, fs, argv, &o, &res);
        double returned = now_ms();
        pthread_join(t, NULL);
        if (err != AFMPEG_ECANCELLED) {
            fprintf(stderr, "%s %s: expected a cancel, got %s\n", argv[0], argv[1],
                    afmpeg_errname(err));
            exit(1);
        }
        lat[i] = returned - c.cancelled_at;
        afmpeg_result_free(res);
        afmpeg_cancel_token_free(tok);
    }
    qsort(lat, (size_t)reps, sizeof lat[0], cmp);
    *med = lat[reps / 2];
    *max = lat[reps - 1];
    afmpeg_fs_free(fs);
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    void *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *sample = argc > 1 ? argv[1] : "examples/sample.mp4";
    int n = argc > 2 ? atoi(argv[2]) : 8;
    if (!(input = slurp(sample, &input_len))) {
        perror(sample);
        return 1;
    }
    double w, mw;
    double solo = batch(1, 1, 0, &w, &mw);       /* warm-up, and one job's time alone */
    solo = batch(1, 1, 0, &w, &mw);
    double mean1, max1, mean2, max2;
    double t1 = batch(1, n, solo, &mean1, &max1);
    double t2 = batch(2, n, solo, &mean2, &max2);
    printf("# afmpeg pool benchmark\n\n");
    printf("%d transcodes of %s (H.264/AAC, width 160), one job alone: %.0f ms\n\n", n, sample,
           solo);
    printf("| instances | batch wall time | jobs/s | mean queueing delay | max queueing delay |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    printf("| 1 | %.0f ms | %.2f | %.0f ms | %.0f ms |\n", t1, n * 1e3 / t1, mean1, max1);
    printf("| 2 | %.0f ms | %.2f | %.0f ms | %.0f ms |\n", t2, n * 1e3 / t2, mean2, max2);
    printf("\nthroughput 2 instances / 1 instance: **%.2fx** (goal >= 1.85x on 2 cores)\n\n",
           t1 / t2);

    afmpeg_runtime *rt;
    afmpeg_new(NULL, &rt);
    const char *spin[] = {"afmpeg-selftest", "spin", NULL};
    const char *sleep_[] = {"afmpeg-selftest", "sleep", NULL};
    const char *decode[] = {"ffmpeg", "-nostdin", "-v", "error", "-stream_loop", "-1", "-i",
                            "in.mp4", "-f", "null", "-", NULL};
    double med, max;
    printf("| cancel latency (20 runs) | median | max |\n|---|---:|---:|\n");
    cancel_latency(rt, spin, 20, &med, &max);
    printf("| guest spinning on registers, no host calls | %.3f ms | %.3f ms |\n", med, max);
    cancel_latency(rt, sleep_, 20, &med, &max);
    printf("| guest sleeping in host calls | %.3f ms | %.3f ms |\n", med, max);
    cancel_latency(rt, decode, 20, &med, &max);
    printf("| FFmpeg decoding | %.3f ms | %.3f ms |\n", med, max);
    printf("\ngoal: a running job stops within 50 ms of afmpeg_cancel_token_cancel()\n");
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(input);
    return 0;
}
