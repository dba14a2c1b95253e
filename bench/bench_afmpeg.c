/* bench_afmpeg — the "afmpeg in-process" engine of the side-by-side benchmark (bench/bench.py).
 *
 * One warm runtime per process; each timed job is one afmpeg_run() (or afmpeg_probe()) on an
 * in-memory filesystem that already holds the inputs: the time is the job's alone (a fresh guest
 * instance, the run, its result), not the process start, afmpeg_new or the copying of inputs.
 *
 *   bench_afmpeg run   REPS WARMUP [-i NAME=PATH]... [-o NAME]... -- ARGV...
 *        times afmpeg_run(ARGV); each -o NAME must exist and be non-empty after every run
 *   bench_afmpeg probe REPS WARMUP -i NAME=PATH -- NAME
 *        times afmpeg_probe(NAME) end to end (ffprobe in the guest, its JSON parsed into structs)
 *   bench_afmpeg new   REPS
 *        times afmpeg_new(): the first call in the process, then REPS new+close cycles
 *   bench_afmpeg conc  probe|thumbnail CALLS CONC WARMUP -i NAME=PATH -- NAME
 *        CALLS calls of afmpeg_probe(NAME) or afmpeg_thumbnail(NAME, at 0, PNG, width
 *        $AFMPEG_BENCH_WIDTH, default 160: what afmpeg serve's /v1/probe and
 *        /v1/thumbnail?width=160 run) from CONC threads at once, each with a filesystem of its
 *        own made before the clock starts, on one runtime (instances as below); each thread
 *        takes the next call until CALLS were made. Prints the per-call times and "wall_ms",
 *        first call to last return (bench/serve.sh)
 *   bench_afmpeg split REPS WARMUP -i NAME=PATH -- IN OUT
 *        times afmpeg_run_job() of IN to OUT (libopenh264 + aac) on a runtime of
 *        $AFMPEG_BENCH_INSTANCES instances (default 1) with job option parallel =
 *        $AFMPEG_BENCH_PARALLEL (default 0); a job asked to split that ran as one piece fails
 *
 * With AFMPEG_BENCH_MODULE=PATH every runtime runs that module (a .wasm or a module file,
 * docs/modules.md) instead of the embedded one: "new" then times the load from a .wasm — the
 * first call compiles it if the cache ($AFMPEG_CACHE_DIR/modules, ...) does not have it yet,
 * the others load it from there — and run/probe time the same jobs through the loaded module.
 *
 * Prints one JSON object: {"ok":true,"times_ms":[...],"first_ms":X,"maxrss_kb":N} or
 * {"ok":false,"error":"..."}. With REPS 0 (run and probe), it serves bench.py instead, which
 * interleaves the engines' runs: after the warm-up it prints {"ready":true,"first_ms":X}, then
 * times one job per line "run" read from standard input, printing {"t":MS}, and at the end of
 * its input prints {"ok":true,"maxrss_kb":N}. Not a test: it measures, bench.py judges. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "afmpeg.h"

#define MAX_FILES 8
#define MAX_REPS 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Prints a failure as JSON (the message escaped, its last 1000 bytes) and exits 1. */
static void fail(const char *what, const char *detail)
{
    printf("{\"ok\":false,\"error\":\"");
    for (const char *s = what; *s; s++)
        putchar(*s == '"' || *s == '\\' ? '\'' : *s < ' ' ? ' ' : *s);
    printf(": ");
    detail = detail ? detail : "";
    size_t len = strlen(detail);
    if (len > 1000) /* FFmpeg's message is at the end */
        detail += len - 1000;
    for (const char *s = detail; *s; s++)
        putchar(*s == '"' || *s == '\\' ? '\'' : *s < ' ' ? ' ' : *s);
    printf("\"}\n");
    exit(1);
}

/* afmpeg_new() on the embedded module, or on AFMPEG_BENCH_MODULE's. */
static int new_runtime(afmpeg_runtime **rt)
{
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    const char *m = getenv("AFMPEG_BENCH_MODULE");
    const char *n = getenv("AFMPEG_BENCH_INSTANCES");
    o.module_path = m && *m ? m : NULL;
    o.instances = n ? (unsigned)atoi(n) : 0;
    return afmpeg_new(&o, rt);
}

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

typedef struct input {
    const char *name;
    void *data;
    size_t len;
} input;

static input inputs[MAX_FILES];
static int n_inputs;
static const char *outputs[MAX_FILES];
static int n_outputs;

static afmpeg_fs *new_fs(void)
{
    afmpeg_fs *fs;
    if (afmpeg_fs_new_memory(&fs))
        fail("afmpeg_fs_new_memory", afmpeg_last_error());
    for (int i = 0; i < n_inputs; i++)
        if (afmpeg_fs_write_file(fs, inputs[i].name, inputs[i].data, inputs[i].len))
            fail("afmpeg_fs_write_file", afmpeg_last_error());
    return fs;
}

static void print_times(const double *t, int n, double first)
{
    printf("{\"ok\":true,\"times_ms\":[");
    for (int i = 0; i < n; i++)
        printf("%s%.4f", i ? "," : "", t[i]);
    printf("],\"first_ms\":%.4f,\"maxrss_kb\":%ld}\n", first, maxrss_kb());
}

/* One job of `mode` on a fresh filesystem; returns its time in ms. */
static double one_job(afmpeg_runtime *rt, const char *mode, const char *const *argv)
{
    afmpeg_fs *fs = new_fs();
    double t0, t;
    if (!strcmp(mode, "probe")) {
        afmpeg_probe_result *p = NULL;
        t0 = now_ms();
        int err = afmpeg_probe(rt, fs, argv[0], NULL, &p);
        t = now_ms() - t0;
        if (err)
            fail("afmpeg_probe", afmpeg_last_error());
        if (p->stream_count == 0)
            fail("afmpeg_probe", "no streams");
        afmpeg_probe_result_free(p);
    } else if (!strcmp(mode, "split")) {
        afmpeg_command *cmd;
        int in, out;
        if (afmpeg_command_new(&cmd) || afmpeg_command_add_input(cmd, argv[0], &in) ||
            afmpeg_command_add_output(cmd, argv[1], &out) ||
            afmpeg_command_output_codec(cmd, out, AFMPEG_MEDIA_VIDEO, "libopenh264") ||
            afmpeg_command_output_codec(cmd, out, AFMPEG_MEDIA_AUDIO, "aac"))
            fail("afmpeg_command", afmpeg_last_error());
        afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
        const char *par = getenv("AFMPEG_BENCH_PARALLEL");
        o.parallel = par ? atoi(par) : 0;
        afmpeg_result *res = NULL;
        t0 = now_ms();
        int err = afmpeg_run_job(rt, fs, cmd, &o, &res);
        t = now_ms() - t0;
        if (err)
            fail("afmpeg_run_job", afmpeg_last_error());
        if (afmpeg_result_exit_code(res) != 0)
            fail("the job failed", afmpeg_result_stderr(res, NULL));
        const char *why = NULL;
        if (o.parallel && afmpeg_result_segments(res, &why) < 2)
            fail("the job ran as one piece", why);
        afmpeg_result_free(res);
        afmpeg_command_free(cmd);
    } else {
        afmpeg_result *res = NULL;
        t0 = now_ms();
        int err = afmpeg_run(rt, fs, argv, NULL, &res);
        t = now_ms() - t0;
        if (err)
            fail("afmpeg_run", afmpeg_last_error());
        if (afmpeg_result_exit_code(res) != 0)
            fail("the job failed", afmpeg_result_stderr(res, NULL));
        for (int i = 0; i < n_outputs; i++) {
            afmpeg_fs_stat st;
            if (afmpeg_fs_stat_path(fs, outputs[i], &st) || st.size == 0)
                fail("missing output", outputs[i]);
        }
        afmpeg_result_free(res);
    }
    afmpeg_fs_free(fs);
    return t;
}

/* ---- conc: CALLS library calls from CONC threads at once ---- */

typedef struct conc_state {
    afmpeg_runtime *rt;
    const char *name;
    int thumbnail, width, calls;
    int next;               /* the next call to hand out (atomic) */
    double *times;
} conc_state;

typedef struct conc_thread {
    conc_state *cs;
    afmpeg_fs *fs;
    pthread_t id;
} conc_thread;

/* One call on `fs`; its time in ms. Fails (exits) on an error. */
static double conc_call(conc_state *cs, afmpeg_fs *fs)
{
    double t0 = now_ms();
    if (cs->thumbnail) {
        afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
        afmpeg_frame_list *list = NULL;
        fo.width = cs->width;
        int err = afmpeg_thumbnail(cs->rt, fs, cs->name, 0, &fo, NULL, &list);
        double t = now_ms() - t0;
        if (err || list->count != 1 || !list->frames[0].size)
            fail("afmpeg_thumbnail", err ? afmpeg_last_error() : "no image");
        afmpeg_frame_list_free(list);
        return t;
    }
    afmpeg_probe_result *p = NULL;
    int err = afmpeg_probe(cs->rt, fs, cs->name, NULL, &p);
    double t = now_ms() - t0;
    if (err || !p->stream_count)
        fail("afmpeg_probe", err ? afmpeg_last_error() : "no streams");
    afmpeg_probe_result_free(p);
    return t;
}

static void *conc_worker(void *arg)
{
    conc_thread *th = arg;
    conc_state *cs = th->cs;
    int k;
    while ((k = __atomic_fetch_add(&cs->next, 1, __ATOMIC_RELAXED)) < cs->calls)
        cs->times[k] = conc_call(cs, th->fs);
    return NULL;
}

static int conc_main(int argc, char **argv)
{
    static conc_state cs;
    static conc_thread th[16];
    static double times[MAX_REPS];
    if (argc != 10 || (strcmp(argv[2], "probe") && strcmp(argv[2], "thumbnail")) ||
        strcmp(argv[6], "-i") || !strchr(argv[7], '=') || strcmp(argv[8], "--"))
        fail("usage", "bench_afmpeg conc probe|thumbnail CALLS CONC WARMUP -i NAME=PATH -- NAME");
    cs.thumbnail = !strcmp(argv[2], "thumbnail");
    cs.calls = atoi(argv[3]);
    int conc = atoi(argv[4]), warmup = atoi(argv[5]);
    if (cs.calls < 1 || cs.calls > MAX_REPS || conc < 1 || conc > 16 || warmup < 0)
        fail("usage", "CALLS 1..1000, CONC 1..16, WARMUP >= 0");
    const char *w = getenv("AFMPEG_BENCH_WIDTH");
    cs.width = w ? atoi(w) : 160;
    cs.name = argv[9];
    cs.times = times;
    char *eq = strchr(argv[7], '=');
    *eq = '\0';
    inputs[0].name = argv[7];
    if (!(inputs[0].data = slurp(eq + 1, &inputs[0].len)))
        fail("cannot read", eq + 1);
    n_inputs = 1;
    if (new_runtime(&cs.rt))
        fail("afmpeg_new", afmpeg_last_error());
    for (int t = 0; t < conc; t++) {
        th[t].cs = &cs;
        th[t].fs = new_fs(); /* read only by the jobs: reused by each thread's calls */
    }
    double first = conc_call(&cs, th[0].fs);
    for (int k = 1; k < warmup; k++)
        conc_call(&cs, th[0].fs);
    double t0 = now_ms();
    for (int t = 0; t < conc; t++)
        if (pthread_create(&th[t].id, NULL, conc_worker, &th[t]))
            fail("pthread_create", "");
    for (int t = 0; t < conc; t++)
        pthread_join(th[t].id, NULL);
    double wall = now_ms() - t0;
    printf("{\"ok\":true,\"times_ms\":[");
    for (int k = 0; k < cs.calls; k++)
        printf("%s%.4f", k ? "," : "", times[k]);
    printf("],\"wall_ms\":%.4f,\"first_ms\":%.4f,\"maxrss_kb\":%ld}\n", wall, first,
           maxrss_kb());
    for (int t = 0; t < conc; t++)
        afmpeg_fs_free(th[t].fs);
    afmpeg_close(cs.rt, AFMPEG_CLOSE_WAIT);
    free(inputs[0].data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        fail("usage", "bench_afmpeg run|probe|split|new|conc REPS [WARMUP] ...");
    const char *mode = argv[1];
    if (!strcmp(mode, "conc"))
        return conc_main(argc, argv);
    int reps = atoi(argv[2]);
    if (reps < 0 || reps > MAX_REPS || (reps == 0 && !strcmp(mode, "new")))
        fail("usage", "REPS must be 1..1000 (or 0 to serve)");
    static double times[MAX_REPS];

    if (!strcmp(mode, "new")) {
        afmpeg_runtime *rt;
        double t0 = now_ms();
        if (new_runtime(&rt))
            fail("afmpeg_new", afmpeg_last_error());
        double first = now_ms() - t0;
        afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
        for (int i = 0; i < reps; i++) {
            t0 = now_ms();
            if (new_runtime(&rt))
                fail("afmpeg_new", afmpeg_last_error());
            times[i] = now_ms() - t0;
            afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
        }
        print_times(times, reps, first);
        return 0;
    }
    if (strcmp(mode, "run") && strcmp(mode, "probe") && strcmp(mode, "split"))
        fail("usage", "mode is run, probe, split or new");
    if (argc < 4)
        fail("usage", "WARMUP missing");
    int warmup = atoi(argv[3]);
    int i = 4;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-i") && i + 1 < argc && n_inputs < MAX_FILES) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq)
                fail("usage", "-i NAME=PATH");
            *eq = '\0';
            inputs[n_inputs].name = spec;
            if (!(inputs[n_inputs].data = slurp(eq + 1, &inputs[n_inputs].len)))
                fail("cannot read", eq + 1);
            n_inputs++;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc && n_outputs < MAX_FILES) {
            outputs[n_outputs++] = argv[++i];
        } else {
            fail("usage", argv[i]);
        }
    }
    if (i + 1 >= argc)
        fail("usage", "nothing after --");
    const char *const *job = (const char *const *)&argv[i + 1];

    afmpeg_runtime *rt;
    if (new_runtime(&rt))
        fail("afmpeg_new", afmpeg_last_error());
    double first = one_job(rt, mode, job); /* the warm-up runs are the runtime's first jobs */
    for (int w = 1; w < warmup; w++)
        one_job(rt, mode, job);
    if (reps == 0) {
        char line[64];
        printf("{\"ready\":true,\"first_ms\":%.4f}\n", first);
        fflush(stdout);
        while (fgets(line, sizeof line, stdin) && !strncmp(line, "run", 3)) {
            printf("{\"t\":%.4f}\n", one_job(rt, mode, job));
            fflush(stdout);
        }
        printf("{\"ok\":true,\"maxrss_kb\":%ld}\n", maxrss_kb());
    } else {
        for (int r = 0; r < reps; r++)
            times[r] = one_job(rt, mode, job);
        print_times(times, reps, first);
    }
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    for (int k = 0; k < n_inputs; k++)
        free(inputs[k].data);
    return 0;
}
