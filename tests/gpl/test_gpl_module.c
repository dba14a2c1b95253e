#define _GNU_SOURCE /* memmem */
/* The GPL module loaded at run time rather than linked in (make test-gpl): its .wasm
 * (AFMPEG_GPL_WASM, made by make MODULE=gpl module-wasm) from a file, compiled into the module
 * cache once, then from bytes (a cache hit), each running libx264 with CRF, its output read
 * back by Debian's ffprobe; and the default module, linked into this program, answering in
 * another runtime of the same process at the same time.
 *
 * The cache is the default one (AFMPEG_CACHE_DIR, ...), so the CLI and job checks of test-gpl
 * that follow load the module compiled here. */
#include <pthread.h>
#include "engine_util.h"

static const char *wasm;      /* the GPL module's .wasm */
static char steps[256];       /* the compile steps seen, in order, without repeats */
static double last_fraction;
static int compiles;

static void on_compile(void *payload, const char *step, double fraction)
{
    (void)payload;
    size_t n = strlen(steps);
    if (fraction == 0.0 && !strcmp(step, "translate"))
        compiles++;
    if (n < 2 || strcmp(steps + n - strlen(step), step))
        snprintf(steps + n, sizeof steps - n, "%s%s", n ? "," : "", step);
    last_fraction = fraction;
}

static int open_gpl(const void *data, size_t size, const char *sha, afmpeg_runtime **rt)
{
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.module_path = data ? NULL : wasm;
    o.module_data = data;
    o.module_size = size;
    o.module_sha256 = sha;
    o.on_compile = on_compile;
    steps[0] = '\0';
    compiles = 0;
    double t0 = now_ms();
    int err = afmpeg_new(&o, rt);
    fprintf(stderr, "afmpeg_new from %s: %s in %.1f ms (%s)\n", data ? "bytes" : "a file",
            err ? afmpeg_last_error() : "ok", now_ms() - t0,
            compiles ? "compiled" : "from the cache");
    return err;
}

/* Encodes the 3 s clip with libx264 at `crf` on `rt`; the output's ffprobe line
 * "codec,width,height,frames" into line[] and whether x264's settings block says crf=<crf>. */
static int x264_encode(afmpeg_runtime *rt, const char *crf, char line[64], int *crf_written)
{
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    if (afmpeg_fs_new_memory(&fs))
        return -1;
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    const char *argv[] = {"ffmpeg", "-nostdin", "-i", "/in.mp4", "-c:v", "libx264", "-crf", crf,
                          "-preset", "veryfast", "-an", "/out.mp4", NULL};
    int err = afmpeg_run(rt, fs, argv, NULL, &res);
    int code = res ? afmpeg_result_exit_code(res) : -1;
    void *out = NULL;
    size_t len = 0;
    if (!err && code == 0)
        err = afmpeg_fs_read_file(fs, "/out.mp4", &out, &len);
    else if (res) {
        size_t n;
        fprintf(stderr, "ffmpeg failed (%d, exit %d): %s\n", err, code,
                afmpeg_result_stderr(res, &n));
    }
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    if (err || code)
        return err ? err : -1;
    char want[32], path[600];
    snprintf(want, sizeof want, "crf=%s.0", crf);
    *crf_written = memmem(out, len, want, strlen(want)) && memmem(out, len, "x264 - core 164", 15);
    snprintf(path, sizeof path, "%s/x264-%s.mp4", media_dir, crf);
    err = write_host_file(path, out, len);
    afmpeg_free(out);
    if (err)
        return -1;
    char *probe = sh_capture("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                             "stream=codec_name,width,height,nb_read_frames -of csv=p=0 '%s'",
                             path);
    snprintf(line, 64, "%s", probe ? probe : "");
    line[strcspn(line, "\n")] = '\0';
    free(probe);
    return 0;
}

/* From the file: compiled (or found in the cache), a GPL FFmpeg with libx264, encoding. */
static void test_from_file(void **state)
{
    (void)state;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_gpl(NULL, 0, NULL, &rt), AFMPEG_OK);
    if (compiles) {  /* a first load: every step reported, ending at 1 */
        assert_string_equal(steps, "translate,compile,link");
        assert_true(last_fraction == 1.0);
    }
    const afmpeg_module_info *info = NULL;
    assert_int_equal(afmpeg_module_info_get(rt, &info), AFMPEG_OK);
    assert_string_equal(info->license, "GPL version 2 or later");
    assert_non_null(strstr(info->configuration, "--enable-libx264"));
    int found = 0;
    for (const char *const *e = info->encoders; *e; e++)
        found |= !strcmp(*e, "libx264");
    assert_true(found);

    char line[64];
    int crf_written = 0;
    assert_int_equal(x264_encode(rt, "23", line, &crf_written), 0);
    assert_string_equal(line, "h264,320,240,75");
    assert_true(crf_written);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
}

typedef struct {
    afmpeg_runtime *rt;
    int err;
    char line[64];
    int crf_written;
} x264_job;

static void *run_x264(void *arg)
{
    x264_job *j = arg;
    j->err = x264_encode(j->rt, "30", j->line, &j->crf_written);
    return NULL;
}

/* From bytes, with its SHA-256 given: the same module, so a cache hit, and the buffer may go
 * as soon as afmpeg_new returns. It encodes with libx264 while the default module, in another
 * runtime of this process, runs at the same time and has no libx264. */
static void test_from_bytes_beside_the_default(void **state)
{
    (void)state;
    size_t len = 0;
    void *bytes = read_host_file(wasm, &len);
    assert_non_null(bytes);
    char *sha = sha256_of(wasm);
    assert_non_null(sha);
    afmpeg_runtime *gpl = NULL, *lgpl = NULL;
    assert_int_equal(open_gpl(bytes, len, sha, &gpl), AFMPEG_OK);
    assert_int_equal(compiles, 0);
    memset(bytes, 0, len);  /* read during afmpeg_new only */
    free(bytes);
    free(sha);
    assert_int_equal(afmpeg_new(NULL, &lgpl), AFMPEG_OK);

    x264_job j = {gpl, -1, "", 0};
    pthread_t t;
    pthread_create(&t, NULL, run_x264, &j);
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    const char *x264[] = {"ffmpeg", "-nostdin", "-i", "/in.mp4", "-c:v", "libx264", "/o.mp4",
                          NULL};
    const char *h264[] = {"ffmpeg", "-nostdin", "-i", "/in.mp4", "-c:v", "libopenh264",
                          "-an", "/o.mp4", NULL};
    size_t n;
    assert_int_equal(afmpeg_run(lgpl, fs, x264, NULL, &res), AFMPEG_OK);
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    assert_non_null(strstr(afmpeg_result_stderr(res, &n), "Unknown encoder 'libx264'"));
    afmpeg_result_free(res);
    assert_int_equal(afmpeg_run(lgpl, fs, h264, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    pthread_join(t, NULL);

    assert_int_equal(j.err, 0);
    assert_string_equal(j.line, "h264,320,240,75");
    assert_true(j.crf_written);
    afmpeg_close(gpl, AFMPEG_CLOSE_WAIT);
    afmpeg_close(lgpl, AFMPEG_CLOSE_WAIT);
}

/* Bytes that differ from the file by one byte do not match its SHA-256: refused. */
static void test_wrong_sha256_refused(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *bytes = read_host_file(wasm, &len);
    assert_non_null(bytes);
    char *sha = sha256_of(wasm);
    assert_non_null(sha);
    bytes[len - 1] ^= 1;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_gpl(bytes, len, sha, &rt), AFMPEG_EMODULE);
    assert_null(rt);
    assert_non_null(strstr(afmpeg_last_error(), "SHA-256"));
    assert_int_equal(compiles, 0);
    free(bytes);
    free(sha);
}

static int setup(void **state)
{
    (void)state;
    wasm = getenv("AFMPEG_GPL_WASM");
    if (!wasm || access(wasm, R_OK)) {
        fprintf(stderr, "AFMPEG_GPL_WASM names no readable .wasm (make MODULE=gpl module-wasm)\n");
        return -1;
    }
    return make_media();
}

static int teardown(void **state)
{
    (void)state;
    remove_media();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_file),
        cmocka_unit_test(test_from_bytes_beside_the_default),
        cmocka_unit_test(test_wrong_sha256_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
