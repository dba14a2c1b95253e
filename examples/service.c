/* service.c — the long-lived service pattern: one runtime, many request threads.
 *
 * Shows: a runtime built once at startup with N instances (N jobs run at once; more wait their
 * turn) and default limits for every job; request threads sharing it, each job with its own
 * in-memory filesystem, made for the request and freed after it; one cancel token for the whole
 * service, so SIGINT/SIGTERM stops the jobs in flight within milliseconds; afmpeg_stats(); and a
 * clean shutdown: stop taking requests, cancel, join the threads, then afmpeg_close().
 *
 * Each FILE stands for one request: probe it and make a 160-pixel-wide JPEG thumbnail from its
 * middle, saved as OUTDIR/NNN.jpg.
 *
 * Build:  cc service.c -o service $(pkg-config --cflags --libs afmpeg) -pthread
 * Run:    ./service [-t THREADS] [-i INSTANCES] OUTDIR FILE...
 *         e.g. ./service -t 4 -i 2 /tmp examples/sample.mp4 examples/sample.mp4
 *         THREADS (default 4) request threads, INSTANCES (default 2) jobs at once.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <afmpeg.h>

typedef struct service {
    afmpeg_runtime *rt;            /* shared by every request thread */
    afmpeg_cancel_token *shutdown; /* cancelled once, on SIGINT/SIGTERM */
    const char *outdir;
    char **requests;               /* the FILEs */
    int request_count;
    pthread_mutex_t lock;          /* guards next and the counters */
    int next;
    int done, failed, cancelled;
    atomic_int stopping;
} service;

static void *read_host_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!f)
        return NULL;
    do {
        if (n == cap) {
            char *grown = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* One request, on the calling thread: 0, or an afmpeg error (with a message printed). */
static int handle_request(service *svc, int n, const char *file)
{
    size_t len;
    void *data = read_host_file(file, &len);
    if (!data) {
        fprintf(stderr, "request %d: %s: %s\n", n, file, strerror(errno));
        return AFMPEG_EIO;
    }
    /* This job's options: the service's cancel token, and a deadline of its own, shorter than
     * the runtime's; the other limits are 0, which takes the runtime's. */
    afmpeg_job_options opts = AFMPEG_JOB_OPTIONS_INIT;
    opts.cancel = svc->shutdown;
    opts.limits.timeout_ms = 20000;

    afmpeg_fs *fs = NULL;   /* the job's own files: nothing is shared between requests */
    afmpeg_probe_result *probe = NULL;
    afmpeg_frame_list *thumb = NULL;
    int err = afmpeg_fs_new_memory(&fs);
    if (!err)
        err = afmpeg_fs_write_file(fs, "/media", data, len);
    free(data);
    if (!err)
        err = afmpeg_probe(svc->rt, fs, "/media", &opts, &probe);
    if (!err) {
        afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
        fo.format = AFMPEG_IMAGE_JPEG;
        fo.width = 160;
        double middle = isnan(probe->duration) ? 0 : probe->duration / 2;
        err = afmpeg_thumbnail(svc->rt, fs, "/media", middle, &fo, &opts, &thumb);
    }
    if (!err) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%03d.jpg", svc->outdir, n);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(thumb->frames[0].data, 1, thumb->frames[0].size, f) ==
                          thumb->frames[0].size;
        if (f && fclose(f))
            ok = 0;
        if (ok)
            printf("request %d: %s: %.2f s, %zu streams -> %s\n", n, file, probe->duration,
                   probe->stream_count, path);
        else
            fprintf(stderr, "request %d: %s: %s\n", n, path, strerror(errno));
        err = ok ? 0 : AFMPEG_EIO;
    } else if (err != AFMPEG_ECANCELLED) {
        fprintf(stderr, "request %d: %s: %s\n", n, file, afmpeg_last_error());
    }
    afmpeg_frame_list_free(thumb);
    afmpeg_probe_result_free(probe);
    afmpeg_fs_free(fs);
    return err;
}

/* A request thread: takes requests until there are none left or the service is stopping. */
static void *request_thread(void *arg)
{
    service *svc = arg;
    for (;;) {
        pthread_mutex_lock(&svc->lock);
        int n = svc->stopping ? svc->request_count : svc->next;
        if (n < svc->request_count)
            svc->next++;
        pthread_mutex_unlock(&svc->lock);
        if (n >= svc->request_count)
            return NULL;
        int err = handle_request(svc, n, svc->requests[n]);
        pthread_mutex_lock(&svc->lock);
        if (!err)
            svc->done++;
        else if (err == AFMPEG_ECANCELLED)
            svc->cancelled++;
        else
            svc->failed++;
        pthread_mutex_unlock(&svc->lock);
    }
}

/* Waits for SIGINT or SIGTERM (blocked in every other thread) and stops the service. */
static void *signal_thread(void *arg)
{
    service *svc = arg;
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);   /* main's "all done": no shutdown needed */
    while (sigwait(&set, &sig) != 0)
        ;
    if (sig != SIGUSR1) {
        fprintf(stderr, "service: signal %d: shutting down\n", sig);
        svc->stopping = sig;
        /* Queued jobs return AFMPEG_ECANCELLED at once, running ones within milliseconds. */
        afmpeg_cancel_token_cancel(svc->shutdown);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 4, instances = 2, opt;
    while ((opt = getopt(argc, argv, "t:i:")) != -1) {
        if (opt == 't')
            threads = atoi(optarg);
        else if (opt == 'i')
            instances = atoi(optarg);
        else
            return 2;
    }
    if (argc - optind < 2 || threads < 1 || threads > 256 || instances < 1 || instances > 256) {
        fprintf(stderr, "usage: service [-t THREADS] [-i INSTANCES] OUTDIR FILE...\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);   /* a log: one line at a time, also into a file */
    service svc = {0};
    svc.outdir = argv[optind];
    svc.requests = argv + optind + 1;
    svc.request_count = argc - optind - 1;
    pthread_mutex_init(&svc.lock, NULL);

    /* Startup: the expensive step, once. Every job gets these limits unless it sets its own. */
    afmpeg_runtime_options ro = AFMPEG_RUNTIME_OPTIONS_INIT;
    ro.instances = (unsigned)instances;
    ro.limits.memory_limit = (uint64_t)256 << 20;
    ro.limits.timeout_ms = 60000;
    ro.limits.output_limit = (uint64_t)1 << 30;
    if (afmpeg_new(&ro, &svc.rt) || afmpeg_cancel_token_new(&svc.shutdown)) {
        fprintf(stderr, "service: %s\n", afmpeg_last_error());
        afmpeg_close(svc.rt, AFMPEG_CLOSE_WAIT);
        return 1;
    }

    /* Signals go to the signal thread only: block them before any other thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t sig_tid, *tids = calloc((size_t)threads, sizeof *tids);
    int started = 0;
    if (tids && pthread_create(&sig_tid, NULL, signal_thread, &svc) == 0) {
        while (started < threads &&
               pthread_create(&tids[started], NULL, request_thread, &svc) == 0)
            started++;
        /* Shutdown, step 1: the request threads finish (all requests done, or cancelled). */
        for (int i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        pthread_kill(sig_tid, SIGUSR1);
        pthread_join(sig_tid, NULL);
    }
    free(tids);

    afmpeg_runtime_stats stats;
    if (afmpeg_stats(svc.rt, &stats) == AFMPEG_OK)
        printf("runtime: %u instances, %u running, %u queued, %llu bytes held while idle\n",
               stats.instances, stats.running, stats.queued,
               (unsigned long long)stats.idle_bytes);
    printf("requests: %d done, %d failed, %d cancelled, %d not started\n", svc.done, svc.failed,
           svc.cancelled, svc.request_count - svc.done - svc.failed - svc.cancelled);

    /* Step 2: no job is left; close the runtime (WAIT: none would be cut short). */
    afmpeg_close(svc.rt, AFMPEG_CLOSE_WAIT);
    afmpeg_cancel_token_free(svc.shutdown);
    pthread_mutex_destroy(&svc.lock);
    if (svc.stopping)
        return 128 + svc.stopping;
    return started == threads && svc.done == svc.request_count ? 0 : 1;
}
