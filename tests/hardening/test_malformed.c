/* Malformed media through the real guest: empty files, valid files truncated at many offsets,
 * random bytes, corrupted bytes, wrong extensions, huge declared dimensions, and containers that
 * nest or loop. Each input goes through ffprobe and a short decode; the media are made at test
 * time by Debian's native ffmpeg and damaged here in C.
 *
 * What must hold for every case:
 *   - afmpeg_run() returns AFMPEG_OK and the guest exits cleanly: 0 where FFmpeg tolerates the
 *     damage, else 1 (or 69, ffmpeg's "too many decoding errors") with a message. A case that
 *     nests without end may instead be stopped by a runtime limit (files open at once). A trap
 *     (AFMPEG_ETRAP) is a finding: it is reported with the input, which is kept on disk, and the
 *     test fails;
 *   - where native FFmpeg is the module's own version (5.1.x from the same Debian source), the
 *     exit codes equal native ffmpeg's/ffprobe's for the same file (damage is handled the same
 *     way inside and outside the sandbox), except where the sandbox's memory cap decides;
 *   - afterwards a known-good probe on the same runtime gives the right answer.
 * Every job goes through run_case(), the one place to put a per-job deadline. The whole binary
 * is guarded by alarm(600), so a hang fails loudly. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_util.h"
#pragma GCC diagnostic pop

static afmpeg_runtime *rt;
static afmpeg_fs *good_fs;   /* holds good.mp4 for the known-good probe */
static char dir[128];        /* scratch: generated media and the native runs' inputs */
static int native_parity;    /* Debian's ffmpeg is the module's version: compare exit codes */
static const char *findings_dir = "/tmp/afmpeg-malformed-findings";

/* Per test: failures are collected (so every case runs and every finding is reported), then the
 * test fails once at its end. */
static int failures, traps, cases_run;
static double slowest_ms;
static char slowest_case[128];

#define MAX_MEDIA 8
typedef struct media {
    const char *file; /* in dir */
    const char *ext;
    unsigned char *data;
    size_t len;
} media;
static media med[MAX_MEDIA] = {
    {"good.mp4", "mp4", NULL, 0}, {"fast.mp4", "mp4", NULL, 0},  {"good.mkv", "mkv", NULL, 0},
    {"good.webm", "webm", NULL, 0}, {"good.mp3", "mp3", NULL, 0}, {"good.png", "png", NULL, 0},
    {"good.wav", "wav", NULL, 0},
};
#define N_MEDIA 7

static media *find_media(const char *file)
{
    for (int i = 0; i < N_MEDIA; i++)
        if (!strcmp(med[i].file, file))
            return &med[i];
    fail_msg("no media %s", file);
    return NULL;
}

static void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

/* Keeps an input that made the guest trap, for the report. */
static void keep_finding(const char *name, const char *ext, const void *data, size_t len)
{
    char path[512];
    mkdir(findings_dir, 0755);
    snprintf(path, sizeof path, "%s/%s.%s", findings_dir, name, ext);
    if (data && write_host_file(path, data, len) == 0)
        fprintf(stderr, "  FINDING: input kept as %s\n", path);
}

/*
 * Every job of this suite runs here: the one place to add a per-job deadline (afmpeg_run_ex()
 * with a timeout) once the runtime has them. Returns afmpeg_run()'s code; *out is the result
 * whenever the guest ran. A trap is counted and reported here, named after `name`.
 */
static int run_case(afmpeg_fs *fs, const char *const *argv, const char *name, afmpeg_result **out)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *out = NULL;
    /* A malformed input must not hang its job: 60 s is far beyond any case here (valgrind
     * included); past it the job stops with AFMPEG_ETIMEDOUT and the case fails below. */
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.timeout_ms = 60000;
    int err = afmpeg_run(rt, fs, argv, &o, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (ms > slowest_ms) {
        slowest_ms = ms;
        snprintf(slowest_case, sizeof slowest_case, "%s (%s)", name, argv[0]);
    }
    cases_run++;
    if (err == AFMPEG_ETRAP) {
        traps++;
        report("FINDING: %s: %s trapped: %s\n%s", name, argv[0],
               afmpeg_trap_name(afmpeg_result_trap(*out)),
               afmpeg_result_stderr(*out, NULL));
    }
    return err;
}

/* The native tool's exit code for the same command on the host copy of the input. */
static int native_exit(const char *cmd)
{
    int st = sh("cd %s && %s >/dev/null 2>&1", dir, cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* After each case: the same runtime still answers a known-good probe exactly. */
static void known_good(const char *after)
{
    const char *argv[] = {"ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                          "csv=p=0", "good.mp4", NULL};
    afmpeg_result *res;
    char name[160];
    snprintf(name, sizeof name, "known-good probe after %s", after);
    int err = run_case(good_fs, argv, name, &res);
    if (err != AFMPEG_OK || afmpeg_result_exit_code(res) != 0 ||
        strcmp(afmpeg_result_stdout(res, NULL), "h264\naac\n"))
        report("%s: %s, exit %d, output '%s'", name, afmpeg_errname(err),
               afmpeg_result_exit_code(res), afmpeg_result_stdout(res, NULL));
    afmpeg_result_free(res);
}

enum {
    PARITY = 1,     /* exit codes equal native FFmpeg's (when it is the module's version) */
    MUST_FAIL = 2,  /* both tools exit non-zero */
    MAY_STOP = 4,   /* a runtime limit may stop the job (containers that nest without end) */
    NO_NATIVE = 8,  /* never run natively (unbounded there, or about the sandbox's own caps) */
    DECODE_FAILS = 16, /* the decode exits non-zero (ffprobe may still list what it saw) */
};

/* Checks one job's outcome; returns its exit code (or -1). */
static int check_outcome(const char *name, const char *tool, int err, afmpeg_result *res,
                         unsigned flags)
{
    if (err == AFMPEG_ETRAP)
        return -1; /* reported by run_case */
    if (err != AFMPEG_OK) {
        if ((flags & MAY_STOP) && res) {
            fprintf(stderr, "  note: %s: %s stopped by the runtime: %s\n", name, tool,
                    afmpeg_last_error());
            return -1;
        }
        report("%s: %s: afmpeg_run failed: %s (%s)", name, tool, afmpeg_errname(err),
               afmpeg_last_error());
        return -1;
    }
    int code = afmpeg_result_exit_code(res);
    size_t errlen;
    afmpeg_result_stderr(res, &errlen);
    if (code != 0 && code != 1 && code != 69)
        report("%s: %s exited %d (not a clean FFmpeg exit code)", name, tool, code);
    else if (code != 0 && errlen == 0)
        report("%s: %s exited %d without a message", name, tool, code);
    return code;
}

/*
 * Runs ffprobe and a short decode on `input` in `fs`, checks the outcome as `flags` say, then the
 * known-good probe. `host_file` (in dir) is the same input for the native comparison, or NULL.
 * `decode_msg`, if set, must appear in the decode's messages. Returns the decode's exit code.
 */
static int check_fs(const char *name, afmpeg_fs *fs, const char *input, const char *host_file,
                    unsigned flags, const char *decode_msg)
{
    const char *probe[] = {"ffprobe", "-v", "error", "-show_format", "-show_streams", input,
                           NULL};
    const char *decode[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", input, "-t", "2", "-f",
                            "null", "-", NULL};
    afmpeg_result *pr, *dr;
    int perr = run_case(fs, probe, name, &pr);
    int pcode = check_outcome(name, "ffprobe", perr, pr, flags);
    int derr = run_case(fs, decode, name, &dr);
    int dcode = check_outcome(name, "ffmpeg", derr, dr, flags);
    if (getenv("MALFORMED_VERBOSE"))
        fprintf(stderr, "  %s: ffprobe %d, ffmpeg %d\n", name, pcode, dcode);
    if (((flags & MUST_FAIL) && (pcode == 0 || dcode == 0)) ||
        ((flags & DECODE_FAILS) && dcode == 0))
        report("%s: expected failure, got ffprobe %d, ffmpeg %d:\n%s", name, pcode, dcode,
               afmpeg_result_stderr(dr, NULL));
    if (decode_msg && !strstr(afmpeg_result_stderr(dr, NULL), decode_msg))
        report("%s: expected \"%s\" from ffmpeg, got:\n%s", name, decode_msg,
               afmpeg_result_stderr(dr, NULL));
    if ((flags & PARITY) && native_parity && host_file && !(flags & NO_NATIVE) && pcode >= 0 &&
        dcode >= 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "ffprobe -v error -show_format -show_streams '%s'", host_file);
        int np = native_exit(cmd);
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -threads 1 -i '%s' -t 2 -f null -",
                 host_file);
        int nd = native_exit(cmd);
        if (np != pcode || nd != dcode)
            report("%s: exit codes differ from native FFmpeg: ffprobe %d (native %d), ffmpeg %d "
                   "(native %d); sandbox said:\n%s%s", name, pcode, np, dcode, nd,
                   afmpeg_result_stderr(pr, NULL), afmpeg_result_stderr(dr, NULL));
    }
    afmpeg_result_free(pr);
    afmpeg_result_free(dr);
    known_good(name);
    return dcode;
}

/* One input file: into a fresh in-memory filesystem as in.EXT, and to dir as case.EXT. */
static int check_bytes(const char *name, const char *ext, const void *data, size_t len,
                       unsigned flags, const char *decode_msg)
{
    afmpeg_fs *fs;
    char in[32], host[32], path[256];
    snprintf(in, sizeof in, "in.%s", ext);
    snprintf(host, sizeof host, "case.%s", ext);
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, in, data, len), AFMPEG_OK);
    snprintf(path, sizeof path, "%s/%s", dir, host);
    assert_int_equal(write_host_file(path, data, len), 0);
    int before = traps;
    int code = check_fs(name, fs, in, host, flags, decode_msg);
    if (traps != before)
        keep_finding(name, ext, data, len);
    afmpeg_fs_free(fs);
    return code;
}

static void begin(void)
{
    failures = traps = cases_run = 0;
    slowest_ms = 0;
    slowest_case[0] = '\0';
}

static void end(const char *what)
{
    fprintf(stderr, "  %s: %d jobs, slowest %.0f ms (%s)\n", what, cases_run, slowest_ms,
            slowest_case);
    if (traps)
        fprintf(stderr, "  %d TRAP(S): the inputs are in %s\n", traps, findings_dir);
    if (failures)
        fail_msg("%s: %d problem(s), listed above", what, failures);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/afmpeg-malformed-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1";
    const char *v = "-f lavfi -i testsrc2=size=160x120:rate=25:duration=1";
    const char *a = "-f lavfi -i sine=frequency=440:duration=1";
    if (sh("cd %s && %s %s %s -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest good.mp4 && "
           "%s -i good.mp4 -c copy -movflags +faststart fast.mp4 && "
           "%s %s %s -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p -c:a flac "
           "-shortest good.mkv && "
           "%s %s %s -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 200k -c:a libopus "
           "-shortest good.webm && "
           "%s %s -c:a libmp3lame good.mp3 && "
           "%s %s -frames:v 1 good.png && "
           "%s -f lavfi -i sine=duration=0.2 -ac 1 -ar 8000 good.wav",
           dir, ff, v, a, ff, ff, v, a, ff, v, a, ff, a, ff, v, ff))
        return -1;
    for (int i = 0; i < N_MEDIA; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, med[i].file);
        med[i].data = read_host_file(path, &med[i].len);
        if (!med[i].data || med[i].len < 1000)
            return -1;
    }
    if (afmpeg_new(NULL, &rt) || afmpeg_fs_new_memory(&good_fs) ||
        afmpeg_fs_write_file(good_fs, "good.mp4", med[0].data, med[0].len))
        return -1;

    /* Exit codes are compared with native FFmpeg only when it is the module's version. */
    afmpeg_result *res;
    const char *version[] = {"ffmpeg", "-version", NULL};
    char sandbox[64] = "", *native = sh_capture("ffmpeg -version | head -n1");
    if (afmpeg_run(rt, good_fs, version, NULL, &res) == AFMPEG_OK)
        sscanf(afmpeg_result_stdout(res, NULL), "ffmpeg version %63s", sandbox);
    afmpeg_result_free(res);
    char want[80];
    snprintf(want, sizeof want, "ffmpeg version %s", sandbox);
    native_parity = sandbox[0] && native && !strncmp(native, want, strlen(want));
    if (!native_parity)
        fprintf(stderr, "note: native FFmpeg is not the module's version (%s): exit codes are "
                        "not compared with it\n", sandbox);
    free(native);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_fs_free(good_fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    for (int i = 0; i < N_MEDIA; i++)
        free(med[i].data);
    sh("rm -rf '%s'", dir);
    return 0;
}

/* A fixed-seed generator (xorshift64*), so every run damages the same bytes. */
static uint64_t rng_state;
static uint32_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

/* ---- cases ------------------------------------------------------------------------------------ */

static void test_empty(void **state)
{
    (void)state;
    begin();
    static const char *const exts[] = {"mp4", "mkv", "webm", "mp3", "png", "wav"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        char name[64];
        snprintf(name, sizeof name, "empty.%s", exts[i]);
        check_bytes(name, exts[i], "", 0, PARITY | MUST_FAIL, NULL);
    }
    end("empty files");
}

/* 24 offsets per file: inside the first headers, then spread over the whole file. */
static size_t truncation_offsets(size_t len, size_t *out)
{
    static const size_t head[] = {1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 100, 200, 400};
    size_t n = 0;
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        if (head[i] < len)
            out[n++] = head[i];
    for (size_t k = 1; k <= 10; k++)
        out[n++] = len * k / 11;
    out[n++] = len - 1;
    return n;
}

static void test_truncated(void **state)
{
    (void)state;
    begin();
    static const char *const files[] = {"good.mp4", "fast.mp4", "good.mkv", "good.webm",
                                        "good.mp3", "good.png"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        media *m = find_media(files[f]);
        size_t offs[32];
        size_t n = truncation_offsets(m->len, offs);
        assert_int_equal(n, 24);
        for (size_t i = 0; i < n; i++) {
            char name[96];
            snprintf(name, sizeof name, "%s cut at %zu of %zu", m->file, offs[i], m->len);
            check_bytes(name, m->ext, m->data, offs[i], PARITY, NULL);
        }
    }
    end("truncated files");
}

static void test_random_bytes(void **state)
{
    (void)state;
    begin();
    static const char *const exts[] = {"mp4", "mkv", "png", "mp3", "wav"};
    static const size_t sizes[] = {100, 4096, 65536};
    unsigned char *buf = malloc(65536);
    for (uint64_t seed = 1; seed <= 2; seed++) {
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            for (size_t e = 0; e < sizeof exts / sizeof *exts; e++) {
                rng_state = seed * 0x9E3779B97F4A7C15ull + s * 131 + e;
                for (size_t i = 0; i < sizes[s]; i++)
                    buf[i] = (unsigned char)rng();
                char name[96];
                snprintf(name, sizeof name, "random seed %llu, %zu bytes, .%s",
                         (unsigned long long)seed, sizes[s], exts[e]);
                /* Native FFmpeg has many more demuxers: random bytes it recognises as some
                 * format the module lacks would differ, so only a clean outcome is required. */
                check_bytes(name, exts[e], buf, sizes[s], 0, NULL);
            }
        }
    }
    free(buf);
    end("random bytes");
}

/* Valid files with bytes damaged after their first 64: one byte in 64, or a random tail. */
static void test_corrupted(void **state)
{
    (void)state;
    begin();
    for (int f = 0; f < N_MEDIA; f++) {
        media *m = &med[f];
        unsigned char *buf = malloc(m->len);
        for (uint64_t seed = 1; seed <= 3; seed++) {
            memcpy(buf, m->data, m->len);
            rng_state = seed * 7919 + (uint64_t)f;
            for (size_t i = 64; i < m->len; i++)
                if (rng() % 64 == 0)
                    buf[i] ^= (unsigned char)(rng() | 1);
            char name[96];
            snprintf(name, sizeof name, "%s with 1/64 bytes flipped, seed %llu", m->file,
                     (unsigned long long)seed);
            check_bytes(name, m->ext, buf, m->len, PARITY, NULL);
        }
        memcpy(buf, m->data, m->len);
        rng_state = 4242 + (uint64_t)f;
        for (size_t i = m->len / 3; i < m->len; i++)
            buf[i] = (unsigned char)rng();
        char name[96];
        snprintf(name, sizeof name, "%s with its last 2/3 random", m->file);
        check_bytes(name, m->ext, buf, m->len, PARITY, NULL);
        free(buf);
    }
    end("corrupted files");
}

/* Damaged corpus files whose outcome natively depends on the host, not on FFmpeg: no exit-code
 * comparison for these (a clean outcome is still required). */
static const char *const host_dependent[] = {
    /* The flips make the data chunk 3.5e16 bytes long. The demuxer seeks past it to look for
     * more chunks: the guest's filesystem allows any offset (as POSIX does), so the seek lands
     * past the end and the file plays; natively ext4 refuses offsets over 16 TiB (EINVAL), the
     * demuxer reads the samples as chunk headers and gives up. */
    "pcm_f64le.w64 with 1/64 bytes flipped",
};

static unsigned parity_for(const char *name)
{
    for (size_t i = 0; i < sizeof host_dependent / sizeof *host_dependent; i++)
        if (!strcmp(name, host_dependent[i]))
            return 0;
    return PARITY;
}

/* Every family of the generated corpus (tests/corpus/make.sh: a file per decoder and container
 * the module has), damaged two ways: cut in half, and one byte in 64 flipped after the first 64.
 * Its directory comes in AFMPEG_CORPUS (make test sets it); without it the test is skipped (the
 * valgrind tier leaves it out: about 500 jobs). Files over 1 MiB are left out (time). */
static void test_corpus_damaged(void **state)
{
    (void)state;
    const char *cdir = getenv("AFMPEG_CORPUS");
    if (!cdir || !*cdir)
        skip();
    begin();
    char list[600], line[1024], path[1700];
    snprintf(list, sizeof list, "%.500s/corpus.tsv", cdir);
    FILE *f = fopen(list, "r");
    assert_non_null(f);
    int files = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\t\n")] = '\0';
        const char *ext = strrchr(line, '.');
        if (!*line || !ext)
            continue;
        snprintf(path, sizeof path, "%.600s/%s", cdir, line);
        size_t len = 0;
        unsigned char *data = read_host_file(path, &len);
        assert_non_null(data);
        if (len > (1u << 20) || len < 128) {
            free(data);
            continue;
        }
        char name[1100];
        snprintf(name, sizeof name, "%s cut at %zu of %zu", line, len / 2, len);
        check_bytes(name, ext + 1, data, len / 2, PARITY, NULL);
        rng_state = 0x5eed + (uint64_t)files;
        for (size_t i = 64; i < len; i++)
            if (rng() % 64 == 0)
                data[i] ^= (unsigned char)(rng() | 1);
        snprintf(name, sizeof name, "%s with 1/64 bytes flipped", line);
        check_bytes(name, ext + 1, data, len, parity_for(name), NULL);
        free(data);
        files++;
    }
    fclose(f);
    assert_true(files >= 100);
    end("the corpus, damaged");
}

/* FFmpeg probes the contents, so a wrong extension does not matter: all of these decode. */
static void test_wrong_extension(void **state)
{
    (void)state;
    begin();
    static const struct {
        const char *file, *ext;
    } cases[] = {
        {"good.mkv", "mp4"}, {"good.png", "wav"}, {"good.mp3", "png"}, {"good.mp4", "mkv"},
        {"good.webm", "mp3"}, {"good.wav", "png"}, {"good.mp4", "txt"}, {"good.mkv", "m3u8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        media *m = find_media(cases[i].file);
        char name[96];
        snprintf(name, sizeof name, "%s named .%s", m->file, cases[i].ext);
        int code = check_bytes(name, cases[i].ext, m->data, m->len, PARITY, NULL);
        if (code != 0)
            report("%s: expected to decode, exit %d", name, code);
    }
    end("wrong extensions");
}

static uint32_t crc32_bytes(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_le(unsigned char *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A copy of the PNG with IHDR saying w x h (and its CRC recomputed). */
static unsigned char *png_with_size(uint32_t w, uint32_t h, size_t *len)
{
    media *m = find_media("good.png");
    unsigned char *p = malloc(m->len);
    memcpy(p, m->data, m->len);
    assert_memory_equal(p + 12, "IHDR", 4);
    put_be32(p + 16, w);
    put_be32(p + 20, h);
    put_be32(p + 29, crc32_bytes(p + 12, 17));
    *len = m->len;
    return p;
}

/* Runs a decode with its own command line (same checks as check_outcome) and the known-good
 * probe. Returns the exit code; the stderr must contain `msg` if set. */
static int check_argv(const char *name, afmpeg_fs *fs, const char *const *argv, unsigned flags,
                      const char *msg)
{
    afmpeg_result *res;
    int err = run_case(fs, argv, name, &res);
    int code = check_outcome(name, argv[0], err, res, flags);
    if ((flags & MUST_FAIL) && code == 0)
        report("%s: expected failure, got exit 0", name);
    if (msg && err == AFMPEG_OK && !strstr(afmpeg_result_stderr(res, NULL), msg))
        report("%s: expected \"%s\" in:\n%s", name, msg, afmpeg_result_stderr(res, NULL));
    afmpeg_result_free(res);
    known_good(name);
    return code;
}

/* Declared sizes beyond what FFmpeg accepts fail its size check; sizes it accepts but that do
 * not fit the 512 MiB guest memory fail as allocation errors. Never a trap. */
static void test_huge_dimensions(void **state)
{
    (void)state;
    begin();
    size_t len = 0;
    unsigned char *p = png_with_size(60000, 60000, &len);
    check_bytes("PNG IHDR 60000x60000", "png", p, len, PARITY | DECODE_FAILS,
                "Invalid image size");
    free(p);
    p = png_with_size(0x7fffffff, 0x7fffffff, &len);
    check_bytes("PNG IHDR 2^31-1 x 2^31-1", "png", p, len, PARITY | DECODE_FAILS,
                "Invalid image size");
    free(p);
    /* Passes the size check; a 16000x16000 RGB frame is 768 MB, over the guest's 512 MiB. */
    p = png_with_size(16000, 16000, &len);
    check_bytes("PNG IHDR 16000x16000", "png", p, len, NO_NATIVE | DECODE_FAILS,
                "Out of memory");
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "big.png", p, len), AFMPEG_OK);
    free(p);
    const char *dec[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "big.png", "-t", "2", "-f",
                         "null", "-", NULL};
    check_argv("PNG IHDR 16000x16000 decode", fs, dec, MUST_FAIL, "Out of memory");

    /* Raw video of absurd and of merely too large frame sizes, from a small file. */
    unsigned char raw[4096];
    memset(raw, 0x80, sizeof raw);
    assert_int_equal(afmpeg_fs_write_file(fs, "in.raw", raw, sizeof raw), AFMPEG_OK);
    static const struct {
        const char *size, *pix, *msg;
    } raws[] = {
        {"30000x30000", "gray", "Picture size 30000x30000 is invalid"},
        {"16000x16000", "rgba", NULL},
        {"65535x65535", "rgb48le", "is invalid"},
        {"1x1000000000", "gray", NULL},
    };
    for (size_t i = 0; i < sizeof raws / sizeof *raws; i++) {
        const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt",
                              raws[i].pix, "-s", raws[i].size, "-i", "in.raw", "-t", "2", "-f",
                              "null", "-", NULL};
        char name[96];
        snprintf(name, sizeof name, "rawvideo -s %s -pix_fmt %s", raws[i].size, raws[i].pix);
        check_argv(name, fs, argv, MUST_FAIL, raws[i].msg);
        const char *probe[] = {"ffprobe", "-v", "error", "-f", "rawvideo", "-pixel_format",
                               raws[i].pix, "-video_size", raws[i].size, "-show_streams",
                               "in.raw", NULL};
        check_argv(name, fs, probe, 0, NULL);
    }

    /* A filter that makes a frame bigger than the guest's memory: 20000x12000 RGB, 720 MB. */
    media *mp4 = find_media("good.mp4");
    assert_int_equal(afmpeg_fs_write_file(fs, "in.mp4", mp4->data, mp4->len), AFMPEG_OK);
    const char *pad[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "in.mp4", "-vf",
                         "format=rgb24,pad=20000:12000", "-frames:v", "1", "-f", "null", "-",
                         NULL};
    check_argv("pad to 20000x12000 rgb24", fs, pad, MUST_FAIL, "Out of memory");
    const char *scale[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "in.mp4", "-vf",
                           "scale=16000:16000,format=rgba", "-frames:v", "1", "-f", "null", "-",
                           NULL};
    check_argv("scale to 16000x16000 rgba", fs, scale, MUST_FAIL, NULL);
    afmpeg_fs_free(fs);

    /* WAV headers declaring absurd channel counts, rates and block sizes. */
    media *wav = find_media("good.wav");
    assert_memory_equal(wav->data + 12, "fmt ", 4);
    static const struct {
        int off, width;
        uint32_t value;
        const char *what;
    } patches[] = {
        {22, 2, 0xffff, "65535 channels"},
        {22, 2, 0, "0 channels"},
        {24, 4, 0xffffffffu, "sample rate 2^32-1"},
        {24, 4, 0, "sample rate 0"},
        {28, 4, 0xffffffffu, "byte rate 2^32-1"},
        {32, 2, 0xffff, "block align 65535"},
        {34, 2, 0xffff, "65535 bits per sample"},
        {16, 4, 0xfffffff0u, "fmt chunk size 2^32-16"},
        {4, 4, 0xffffffffu, "RIFF size 2^32-1"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof *patches; i++) {
        unsigned char *w = malloc(wav->len);
        memcpy(w, wav->data, wav->len);
        put_le(w + patches[i].off, patches[i].value, patches[i].width);
        char name[96];
        snprintf(name, sizeof name, "WAV with %s", patches[i].what);
        check_bytes(name, "wav", w, wav->len, PARITY, NULL);
        free(w);
    }

    /* MP4 and Matroska with their first size fields at the extremes. */
    media *m4 = find_media("fast.mp4"), *mk = find_media("good.mkv");
    unsigned char *b = malloc(m4->len);
    memcpy(b, m4->data, m4->len);
    put_be32(b, 0xffffffffu); /* ftyp box size */
    check_bytes("MP4 ftyp size 2^32-1", "mp4", b, m4->len, PARITY, NULL);
    memcpy(b, m4->data, m4->len);
    put_be32(b, 1); /* 64-bit size follows in place of the next box: huge */
    check_bytes("MP4 ftyp size 1 (64-bit size)", "mp4", b, m4->len, PARITY, NULL);
    free(b);
    b = malloc(mk->len);
    memcpy(b, mk->data, mk->len);
    b[4] = 0x01; /* EBML header: an 8-byte size, all ones (unknown size) */
    memset(b + 5, 0xff, 7);
    check_bytes("MKV EBML header of unknown size", "mkv", b, mk->len, PARITY, NULL);
    free(b);
    end("huge dimensions");
}

/* Containers that include themselves or each other, deep nesting, and long concat lists:
 * bounded, and never a trap. Not compared with native FFmpeg, which may grow without bound. */
static void test_nesting_and_loops(void **state)
{
    (void)state;
    begin();
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    media *wav = find_media("good.wav");
    assert_int_equal(afmpeg_fs_write_file(fs, "tiny.wav", wav->data, wav->len), AFMPEG_OK);
    static const struct {
        const char *name, *text;
    } files[] = {
        {"self.ffconcat", "ffconcat version 1.0\nfile self.ffconcat\n"},
        {"a.ffconcat", "ffconcat version 1.0\nfile b.ffconcat\n"},
        {"b.ffconcat", "ffconcat version 1.0\nfile a.ffconcat\n"},
        {"twice.ffconcat", "ffconcat version 1.0\nfile tiny.wav\nfile twice.ffconcat\n"},
        {"self.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nself.m3u8\n"
                      "#EXT-X-ENDLIST\n"},
        {"master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nmaster.m3u8\n"},
        {"ma.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nmb.m3u8\n"},
        {"mb.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nma.m3u8\n"},
        {"live.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nlive.m3u8\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        assert_int_equal(afmpeg_fs_write_file(fs, files[i].name, files[i].text,
                                              strlen(files[i].text)), AFMPEG_OK);
    static const char *const loops[] = {"self.ffconcat", "a.ffconcat", "twice.ffconcat",
                                        "self.m3u8", "master.m3u8", "ma.m3u8"};
    for (size_t i = 0; i < sizeof loops / sizeof *loops; i++) {
        char name[96];
        snprintf(name, sizeof name, "loop %s", loops[i]);
        check_fs(name, fs, loops[i], NULL, MAY_STOP | NO_NATIVE, NULL);
    }

    /* A chain of 100 concat lists, each naming the next, the last naming tiny.wav: works. */
    char text[256], fname[64];
    for (int i = 0; i < 100; i++) {
        snprintf(fname, sizeof fname, "chain%d.ffconcat", i);
        if (i < 99)
            snprintf(text, sizeof text, "ffconcat version 1.0\nfile chain%d.ffconcat\n", i + 1);
        else
            snprintf(text, sizeof text, "ffconcat version 1.0\nfile tiny.wav\n");
        assert_int_equal(afmpeg_fs_write_file(fs, fname, text, strlen(text)), AFMPEG_OK);
    }
    int code = check_fs("chain of 100 concat lists", fs, "chain0.ffconcat", NULL, NO_NATIVE,
                        NULL);
    if (code != 0)
        report("chain of 100 concat lists: expected to decode, exit %d", code);

    /* 1000 entries of the same tiny file: probe, short decode and a full pass, in bounded
     * time. */
    size_t cap = 32 + 1000 * 16, n = 0;
    char *list = malloc(cap);
    n += (size_t)snprintf(list + n, cap - n, "ffconcat version 1.0\n");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(list + n, cap - n, "file tiny.wav\n");
    assert_int_equal(afmpeg_fs_write_file(fs, "many.ffconcat", list, n), AFMPEG_OK);
    free(list);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    code = check_fs("concat of 1000 entries", fs, "many.ffconcat", NULL, NO_NATIVE, NULL);
    if (code != 0)
        report("concat of 1000 entries: expected to decode, exit %d", code);
    const char *full[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "many.ffconcat", "-f",
                          "null", "-", NULL};
    code = check_argv("concat of 1000 entries, full pass", fs, full, 0, NULL);
    if (code != 0)
        report("concat of 1000 entries, full pass: exit %d", code);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s > 120)
        report("concat of 1000 entries took %.1f s", s);
    afmpeg_fs_free(fs);
    end("nesting and loops");
}

int main(void)
{
    /* A hang anywhere fails the whole binary loudly (SIGALRM's default action ends it). */
    alarm(600);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_corrupted),
        cmocka_unit_test(test_corpus_damaged),
        cmocka_unit_test(test_wrong_extension),
        cmocka_unit_test(test_huge_dimensions),
        cmocka_unit_test(test_nesting_and_loops),
    };
    return cmocka_run_group_tests_name("malformed", tests, setup, teardown);
}
