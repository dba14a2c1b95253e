/* libFuzzer target: arbitrary bytes as a media file, through the real guest.
 *
 * Each input is written to a fresh in-memory filesystem as "in" and run through
 *     ffprobe -v error -show_format -show_streams in
 *     ffmpeg -nostdin -v error -i in -t 1 -f null -
 * on one afmpeg_runtime made once (LLVMFuzzerInitialize) and kept across iterations, as a
 * service would keep it.
 *
 * A guest trap is not a crash of the fuzzer: the sandbox contained it and the runtime goes on. It
 * is counted and printed (and the input saved when AFMPEG_FUZZ_TRAP_DIR names a directory). A job
 * the runtime stops for a limit or deadline is counted too. What libFuzzer reports as a crash, a
 * leak (with -fsanitize=address) or a timeout is a real finding: the host process itself failed,
 * or a job ran without end.
 *
 * The library and the module are built by gcc without coverage instrumentation, so libFuzzer sees
 * no edges inside FFmpeg. To still steer it, this target feeds libFuzzer "extra counters" from
 * what the guest says: each kind of message (component and first plain words), each
 * probed format, codec and pixel/sample format, and each exit code or trap counts as a feature,
 * so inputs that reach new FFmpeg messages or probe results are kept in the corpus.
 *
 * Build (tests/fuzz/run.sh does it):
 *   clang-19 -O1 -g -fsanitize=fuzzer,address -Iinclude tests/fuzz/fuzz_media.c \
 *       -o build/fuzz/fuzz_media build/libafmpeg.a -lpthread -lm
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afmpeg.h"

static afmpeg_runtime *rt;
static unsigned long long iterations, traps, stopped;
static unsigned long long trap_kinds[16];
static const char *trap_dir;

/* Feedback for libFuzzer beyond code coverage (see above). */
#define N_COUNTERS 65536
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t counters[N_COUNTERS];

/* Presence only: how often a message repeats would make every count a new feature. */
static void feature(uint64_t h)
{
    counters[h % N_COUNTERS] = 1;
}

/* One feature per kind of FFmpeg message: the component that logged it ("[h264 @ 0x...]" counts
 * as "h264") and the message's first six plain words. Words with digits or other bytes, and
 * quoted text, are skipped, so that "[h264 @ 0xa87e60] error at 12" and "... at 13" are one
 * message and names or tags FFmpeg echoes from the input do not make new ones. */
static int plain_word(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ',' || c == '.' ||
              c == ':' || c == '(' || c == ')' || c == '_' || c == '-' || c == '/'))
            return 0;
    }
    return n > 0;
}

static void message_features(const char *s, uint64_t salt)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        const char *e = nl ? nl : s + strlen(s);
        uint64_t h = 1469598103934665603ull ^ salt;
        const char *p = s;
        if (*p == '[') { /* the component, up to " @" */
            const char *at = p;
            while (at < e && *at != ' ')
                at++;
            for (; p < at; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ull;
            while (p < e && *p != ']')
                p++;
        }
        int words = 0;
        char quote = 0;
        while (p < e && words < 6) {
            while (p < e && *p == ' ')
                p++;
            const char *w = p;
            while (p < e && (*p != ' ' || quote)) {
                if (quote && *p == quote)
                    quote = 0;
                else if (!quote && (*p == '\'' || *p == '"'))
                    quote = *p;
                p++;
            }
            if (plain_word(w, (size_t)(p - w))) {
                for (const char *c = w; c < p; c++)
                    h = (h ^ (uint8_t)*c) * 1099511628211ull;
                h = (h ^ ' ') * 1099511628211ull;
                words++;
            }
        }
        if (words)
            feature(h);
        s = nl ? nl + 1 : e;
    }
}

/* One feature per probed property that tells formats and codecs apart (not titles, tags or
 * sizes, which random input varies without end). */
static void probe_features(const char *s, uint64_t salt)
{
    static const char *const keys[] = {"format_name=", "codec_name=", "codec_type=", "pix_fmt=",
                                       "sample_fmt=", "profile=", "channel_layout=",
                                       "field_order="};
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            size_t kl = strlen(keys[k]);
            if (n >= kl && !memcmp(s, keys[k], kl)) {
                uint64_t h = 1469598103934665603ull ^ salt;
                for (size_t i = 0; i < n && i < 64; i++)
                    h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
                feature(h);
            }
        }
        s += n + (nl != NULL);
    }
}

static void print_stats(void)
{
    fprintf(stderr, "afmpeg-fuzz: %llu inputs, %llu guest traps (contained), %llu jobs stopped "
                    "by a runtime limit\n", iterations, traps, stopped);
    for (int i = 1; i < 16; i++)
        if (trap_kinds[i])
            fprintf(stderr, "afmpeg-fuzz:   %llu x %s\n", trap_kinds[i],
                    afmpeg_trap_name((afmpeg_trap)i));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int err = afmpeg_new(NULL, &rt);
    if (err) {
        fprintf(stderr, "afmpeg-fuzz: afmpeg_new: %s (%s)\n", afmpeg_errname(err),
                afmpeg_last_error());
        abort();
    }
    trap_dir = getenv("AFMPEG_FUZZ_TRAP_DIR");
    atexit(print_stats);
    return 0;
}

static void save_trap_input(const uint8_t *data, size_t size, afmpeg_trap trap)
{
    if (!trap_dir || !*trap_dir)
        return;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    char path[4096];
    snprintf(path, sizeof path, "%s/trap-%d-%016llx", trap_dir, (int)trap,
             (unsigned long long)h);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
        fprintf(stderr, "afmpeg-fuzz: input saved as %s\n", path);
    }
}

static void run(afmpeg_fs *fs, const char *const *argv, uint64_t salt, const uint8_t *data,
                size_t size)
{
    afmpeg_result *res = NULL;
    int err = afmpeg_run(rt, fs, argv, NULL, &res);
    if (err == AFMPEG_ETRAP) {
        afmpeg_trap t = afmpeg_result_trap(res);
        traps++;
        trap_kinds[(unsigned)t < 16 ? (unsigned)t : 0]++;
        fprintf(stderr, "afmpeg-fuzz: guest trap #%llu in %s: %s\n", traps, argv[0],
                afmpeg_trap_name(t));
        save_trap_input(data, size, t);
        feature(salt * 977 + 1000 + (uint64_t)t);
    } else if (err != AFMPEG_OK && res) {
        /* Stopped by the runtime (a limit or deadline): contained, counted. */
        if (++stopped <= 10)
            fprintf(stderr, "afmpeg-fuzz: %s stopped: %s\n", argv[0], afmpeg_last_error());
        feature(salt * 977 + 2000 + (uint64_t)(-err));
    } else if (err != AFMPEG_OK) {
        /* The host failed to run a job at all: that is a bug of the host side. */
        fprintf(stderr, "afmpeg-fuzz: afmpeg_run failed: %s (%s)\n", afmpeg_errname(err),
                afmpeg_last_error());
        abort();
    } else {
        feature(salt * 977 + (uint64_t)(afmpeg_result_exit_code(res) & 0xff));
    }
    if (res) {
        message_features(afmpeg_result_stderr(res, NULL), salt);
        probe_features(afmpeg_result_stdout(res, NULL), salt + 1);
    }
    afmpeg_result_free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const probe[] = {"ffprobe", "-v", "error", "-show_format",
                                        "-show_streams", "in", NULL};
    static const char *const decode[] = {"ffmpeg", "-nostdin", "-v", "error", "-i", "in", "-t",
                                         "1", "-f", "null", "-", NULL};
    afmpeg_fs *fs = NULL;
    iterations++;
    if (afmpeg_fs_new_memory(&fs) || afmpeg_fs_write_file(fs, "in", data, size)) {
        fprintf(stderr, "afmpeg-fuzz: preparing the filesystem failed: %s\n",
                afmpeg_last_error());
        abort();
    }
    run(fs, probe, 0x1000, data, size);
    run(fs, decode, 0x2000, data, size);
    afmpeg_fs_free(fs);
    return 0;
}
