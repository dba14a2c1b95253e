/* The engine end to end: the real FFmpeg module in the sandbox, on real media, checked against
 * Debian's native ffmpeg/ffprobe. */
#include <pthread.h>
#include "engine_util.h"

static afmpeg_runtime *rt;

static int setup(void **state)
{
    (void)state;
    if (make_media())
        return -1;
    return afmpeg_new(NULL, &rt);
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    rt = NULL;
    remove_media();
    return 0;
}

/* Runs argv on fs; asserts the call itself succeeded; returns the result. */
static afmpeg_result *run(afmpeg_fs *fs, const char *const *argv)
{
    afmpeg_result *res = NULL;
    int err = afmpeg_run(rt, fs, argv, NULL, &res);
    if (err)
        fail_msg("afmpeg_run: %s (%s)", afmpeg_errname(err), afmpeg_last_error());
    assert_non_null(res);
    return res;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find \"%s\" in:\n%s", needle, hay);
}

/* Checks a transcoded H.264/AAC MP4 with Debian's ffprobe. */
static void check_h264_aac_mp4(const char *host_path)
{
    char *info = sh_capture("ffprobe -v error -show_entries stream=codec_name,codec_type,width,"
                            "height:format=format_name,duration -of default=nw=1 '%s'", host_path);
    assert_non_null(info);
    assert_contains(info, "codec_name=h264\ncodec_type=video\nwidth=320\nheight=240");
    assert_contains(info, "codec_name=aac\ncodec_type=audio");
    assert_contains(info, "format_name=mov,mp4");
    const char *d = strstr(info, "duration=");
    assert_non_null(d);
    double dur = atof(d + 9);
    if (dur < 2.9 || dur > 3.1)
        fail_msg("duration %f, expected about 3 s", dur);
    free(info);
}

static const char *const transcode_argv[] = {
    "ffmpeg", "-nostdin", "-v", "error", "-i", "in.mp4", "-c:v", "libopenh264", "-b:v", "400k",
    "-c:a", "aac", "-b:a", "64k", "out.mp4", NULL};

static void test_transcode_in_memory(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "in.mp4");
    afmpeg_result *res = run(fs, transcode_argv);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_string_equal(afmpeg_result_stderr(res, NULL), "");
    afmpeg_result_free(res);

    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, "/out.mp4", &data, &len), AFMPEG_OK);
    assert_true(len > 10000);
    char path[512];
    snprintf(path, sizeof path, "%s/mem-out.mp4", media_dir);
    assert_int_equal(write_host_file(path, data, len), 0);
    afmpeg_free(data);
    check_h264_aac_mp4(path);
    afmpeg_fs_free(fs);
}

static void test_transcode_host_directory(void **state)
{
    (void)state;
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/hostjob", media_dir);
    assert_int_equal(sh("mkdir -p %s && cp %s/h264_aac.mp4 %s/in.mp4", dir, media_dir, dir), 0);
    afmpeg_fs *fs = hostdir_or_skip(dir);
    afmpeg_result *res = run(fs, transcode_argv);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    snprintf(path, sizeof path, "%s/out.mp4", dir);
    check_h264_aac_mp4(path);
}

/* -f framemd5 with bitexact flags: the sandbox must equal Debian's native ffmpeg exactly. With
 * a scale filter VF, native runs its C code (-cpuflags 0), which the guest's swscale kernels
 * (module/patches/ffmpeg/0002) must match byte for byte. */
static void check_parity(const char *name, const char *vf)
{
    char *native = sh_capture("cd %s && ffmpeg -nostdin -v error -threads 1 %s -flags +bitexact "
                              "-fflags +bitexact -i %s -map 0:v %s%s -f framemd5 -", media_dir,
                              vf ? "-cpuflags 0" : "", name, vf ? "-vf " : "", vf ? vf : "");
    assert_non_null(native);
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, name, name);
    const char *argv[20] = {"ffmpeg", "-nostdin", "-v", "error", "-flags", "+bitexact",
                            "-fflags", "+bitexact", "-i", name, "-map", "0:v"};
    int n = 12;
    if (vf) {
        argv[n++] = "-vf";
        argv[n++] = vf;
    }
    argv[n++] = "-f";
    argv[n++] = "framemd5";
    argv[n++] = "-";
    argv[n] = NULL;
    afmpeg_result *res = run(fs, argv);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    char *a = frame_lines(native), *b = frame_lines(afmpeg_result_stdout(res, NULL));
    assert_true(strlen(a) > 75 * 40); /* 75 frames of about 50 characters */
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(native);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
}

static void test_decode_parity_h264(void **state)
{
    (void)state;
    check_parity("h264_aac.mp4", NULL);
}
static void test_decode_parity_hevc(void **state) { (void)state; check_parity("hevc.mkv", NULL); }
static void test_decode_parity_vp9(void **state) { (void)state; check_parity("vp9.webm", NULL); }
/* 320x240 to 200x150: a multi-tap vertical filter (yuv2planeX); to 200x240: one tap
 * (yuv2plane1); both to 8-bit yuv420p. */
static void test_scale_parity_vertical(void **state)
{
    (void)state;
    check_parity("h264_aac.mp4", "scale=200:150,format=yuv420p");
}
static void test_scale_parity_horizontal(void **state)
{
    (void)state;
    check_parity("h264_aac.mp4", "scale=200:240,format=yuv420p");
}

static void test_bad_option_and_missing_input(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    const char *bad[] = {"ffmpeg", "-hide_banner", "-no_such_option", "x", NULL};
    afmpeg_result *res = run(fs, bad);
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    assert_contains(afmpeg_result_stderr(res, NULL), "Unrecognized option 'no_such_option'");
    afmpeg_result_free(res);

    const char *missing[] = {"ffmpeg", "-hide_banner", "-i", "missing.mp4", "-f", "null", "-",
                             NULL};
    res = run(fs, missing);
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    assert_contains(afmpeg_result_stderr(res, NULL), "missing.mp4: No such file or directory");
    afmpeg_result_free(res);

    const char *probe_missing[] = {"ffprobe", "-hide_banner", "nothing.mkv", NULL};
    res = run(fs, probe_missing);
    assert_int_equal(afmpeg_result_exit_code(res), 1);
    assert_contains(afmpeg_result_stderr(res, NULL), "nothing.mkv: No such file or directory");
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
}

static int host_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Paths that lead outside a host-directory jail fail, and nothing outside is read or written. */
static void test_path_escapes(void **state)
{
    (void)state;
    char root[512], jail[600], secret[600], path[700];
    snprintf(root, sizeof root, "%s/escape", media_dir);
    snprintf(jail, sizeof jail, "%s/jail", root);
    snprintf(secret, sizeof secret, "%s/secret.raw", root);
    assert_int_equal(sh("mkdir -p %s/outdir %s && head -c 65536 /dev/urandom > %s && "
                        "cp %s/h264_aac.mp4 %s/in.mp4 && ln -s ../secret.raw %s/link.raw && "
                        "ln -s ../outdir %s/linkdir", root, jail, secret, media_dir, jail, jail,
                        jail), 0);
    afmpeg_fs *fs = hostdir_or_skip(jail);
    size_t secret_len;
    void *before = read_host_file(secret, &secret_len);
    assert_non_null(before);

    /* Control: the same read of a file inside the jail works. */
    assert_int_equal(sh("cp %s %s/inside.raw", secret, jail), 0);
    const char *control[] = {"ffmpeg", "-hide_banner", "-v", "error", "-f", "rawvideo", "-pix_fmt",
                             "gray", "-s", "16x16", "-i", "inside.raw", "-f", "rawvideo",
                             "copy.raw", NULL};
    afmpeg_result *ok = run(fs, control);
    assert_int_equal(afmpeg_result_exit_code(ok), 0);
    afmpeg_result_free(ok);
    snprintf(path, sizeof path, "%s/copy.raw", jail);
    assert_true(host_exists(path));
    unlink(path);

    /* Reading outside: relative climb, absolute host path, symlink out. */
    const char *reads[] = {"../secret.raw", "/../secret.raw", "../../../../etc/passwd",
                           "/etc/passwd", "link.raw"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        const char *argv[] = {"ffmpeg", "-hide_banner", "-f", "rawvideo", "-pix_fmt", "gray",
                              "-s", "16x16", "-i", reads[i], "-f", "rawvideo", "copy.raw", NULL};
        afmpeg_result *res = run(fs, argv);
        const char *err = afmpeg_result_stderr(res, NULL);
        if (afmpeg_result_exit_code(res) == 0)
            fail_msg("reading %s succeeded", reads[i]);
        assert_contains(err, reads[i]);
        if (!strstr(err, "Capabilities insufficient") && !strstr(err, "No such file or directory"))
            fail_msg("reading %s failed for another reason:\n%s", reads[i], err);
        afmpeg_result_free(res);
    }
    snprintf(path, sizeof path, "%s/copy.raw", jail);
    assert_false(host_exists(path));

    /* Writing outside: relative climb, through a symlinked directory. */
    const char *writes[] = {"../escaped.wav", "linkdir/escaped.wav", "link.raw"};
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        const char *argv[] = {"ffmpeg", "-hide_banner", "-y", "-i", "in.mp4", "-t", "0.5", "-vn",
                              "-f", "wav", writes[i], NULL};
        afmpeg_result *res = run(fs, argv);
        if (afmpeg_result_exit_code(res) == 0)
            fail_msg("writing %s succeeded", writes[i]);
        afmpeg_result_free(res);
    }
    snprintf(path, sizeof path, "%s/escaped.wav", root);
    assert_false(host_exists(path));
    snprintf(path, sizeof path, "%s/outdir/escaped.wav", root);
    assert_false(host_exists(path));
    size_t after_len;
    void *after = read_host_file(secret, &after_len);
    assert_non_null(after);
    assert_int_equal(after_len, secret_len);
    assert_memory_equal(after, before, secret_len);
    free(after);
    free(before);
    afmpeg_fs_free(fs);
}

/* A guest that traps fails its own job; the next job on the same runtime runs normally. */
static void test_trap_then_next_job(void **state)
{
    (void)state;
    static const struct {
        const char *kind;
        afmpeg_trap trap;
    } cases[] = {
        {"unreachable", AFMPEG_TRAP_UNREACHABLE},
        {"oob", AFMPEG_TRAP_OUT_OF_BOUNDS},
        {"divzero", AFMPEG_TRAP_DIV_BY_ZERO},
        {"stack", AFMPEG_TRAP_STACK_EXHAUSTED},
        /* The guest's own stack lives at the bottom of its memory: overflowing it wraps below
         * address 0 and faults as out of bounds, never corrupting the guest's data. */
        {"shadowstack", AFMPEG_TRAP_OUT_OF_BOUNDS},
    };
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "in.mp4");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {"afmpeg-selftest", cases[i].kind, NULL};
        afmpeg_result *res = NULL;
        EXPECTED_FAULTS_BEGIN();
        int err = afmpeg_run(rt, fs, argv, NULL, &res);
        EXPECTED_FAULTS_END();
        assert_int_equal(err, AFMPEG_ETRAP);
        assert_non_null(res);
        assert_int_equal(afmpeg_result_trap(res), cases[i].trap);
        assert_int_equal(afmpeg_result_exit_code(res), -1);
        assert_contains(afmpeg_last_error(), afmpeg_trap_name(cases[i].trap));
        afmpeg_result_free(res);

        const char *next[] = {"ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                              "-of", "csv=p=0", "in.mp4", NULL};
        res = run(fs, next);
        assert_int_equal(afmpeg_result_exit_code(res), 0);
        assert_string_equal(afmpeg_result_stdout(res, NULL), "h264\naac\n");
        afmpeg_result_free(res);
    }
    const char *exit42[] = {"afmpeg-selftest", "exit", NULL};
    afmpeg_result *res = run(fs, exit42);
    assert_int_equal(afmpeg_result_exit_code(res), 42);
    assert_int_equal(afmpeg_result_trap(res), AFMPEG_TRAP_NONE);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
}

/* Many threads share one runtime; every job's output is exact. */
#define THREADS 4
#define JOBS_PER_THREAD 10
static char *expected_md5;

static void *worker(void *arg)
{
    long failures = 0;
    (void)arg;
    afmpeg_fs *fs;
    if (afmpeg_fs_new_memory(&fs))
        return (void *)1;
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/h264_aac.mp4", media_dir);
    void *data = read_host_file(path, &len);
    if (!data || afmpeg_fs_write_file(fs, "in.mp4", data, len))
        failures++;
    free(data);
    const char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-flags", "+bitexact", "-fflags",
                          "+bitexact", "-i", "in.mp4", "-map", "0:v", "-frames:v", "10", "-f",
                          "framemd5", "-", NULL};
    for (int i = 0; i < JOBS_PER_THREAD; i++) {
        afmpeg_result *res = NULL;
        if (afmpeg_run(rt, fs, argv, NULL, &res) || afmpeg_result_exit_code(res) != 0) {
            failures++;
        } else {
            char *got = frame_lines(afmpeg_result_stdout(res, NULL));
            failures += strcmp(got, expected_md5) != 0;
            free(got);
        }
        afmpeg_result_free(res);
    }
    afmpeg_fs_free(fs);
    return (void *)failures;
}

static void test_threads_share_runtime(void **state)
{
    (void)state;
    char *native = sh_capture("cd %s && ffmpeg -nostdin -v error -threads 1 -flags +bitexact "
                              "-fflags +bitexact -i h264_aac.mp4 -map 0:v -frames:v 10 -f "
                              "framemd5 -", media_dir);
    assert_non_null(native);
    expected_md5 = frame_lines(native);
    free(native);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    long failures = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += (long)r;
    }
    free(expected_md5);
    assert_int_equal(failures, 0);
}

/* Per-job stdio: standard input from a buffer, output to callbacks, standard error bounded to
 * its tail. */
typedef struct sink {
    size_t out_bytes, err_bytes;
} sink;

static int count_out(const void *data, size_t len, void *payload)
{
    (void)data;
    ((sink *)payload)->out_bytes += len;
    return 0;
}

static int count_err(const void *data, size_t len, void *payload)
{
    (void)data;
    ((sink *)payload)->err_bytes += len;
    return 0;
}

static void test_job_stdio(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    char path[512];
    size_t len = 0;
    /* Matroska streams from a pipe (an MP4 with its index at the end does not). */
    snprintf(path, sizeof path, "%s/hevc.mkv", media_dir);
    void *input = read_host_file(path, &len);
    assert_non_null(input);

    /* stdin in, framemd5 out through the callback. */
    sink s = {0, 0};
    afmpeg_job_options opts = AFMPEG_JOB_OPTIONS_INIT;
    opts.stdin_data = input;
    opts.stdin_len = len;
    opts.on_stdout = count_out;
    opts.on_stderr = count_err;
    opts.output_payload = &s;
    const char *md5[] = {"ffmpeg", "-nostdin", "-i", "pipe:0", "-map", "0:v", "-frames:v", "5",
                         "-f", "framemd5", "-", NULL};
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run(rt, fs, md5, &opts, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_true(s.out_bytes > 5 * 40);
    assert_true(s.err_bytes > 0); /* the banner and stream info went to the callback */
    size_t n;
    afmpeg_result_stdout(res, &n);
    assert_int_equal(n, 0);
    afmpeg_result_stderr(res, &n);
    assert_int_equal(n, 0);
    afmpeg_result_free(res);

    /* stderr captured but bounded: the last 200 bytes are kept. */
    afmpeg_job_options small = AFMPEG_JOB_OPTIONS_INIT;
    small.stderr_limit = 200;
    const char *chatty[] = {"ffmpeg", "-nostdin", "-i", "pipe:0", "-t", "1", "-f", "null", "-",
                            NULL};
    small.stdin_data = input;
    small.stdin_len = len;
    assert_int_equal(afmpeg_run(rt, fs, chatty, &small, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    const char *err = afmpeg_result_stderr(res, &n);
    assert_int_equal(n, 200);
    assert_int_equal(strlen(err), 200);
    assert_non_null(strstr(err, "muxing overhead")); /* FFmpeg's very last line */
    afmpeg_result_free(res);
    free(input);
    afmpeg_fs_free(fs);
}

/* Two runtimes on two threads trap at the same time: trap state is per thread, so each job sees
 * its own trap and the jobs in between run normally. */
static void *trapper(void *arg)
{
    const char *kind = arg;
    long failures = 0;
    afmpeg_runtime *own = NULL;
    afmpeg_fs *fs = NULL;
    if (afmpeg_new(NULL, &own) || afmpeg_fs_new_memory(&fs))
        return (void *)1;
    afmpeg_trap want = !strcmp(kind, "divzero") ? AFMPEG_TRAP_DIV_BY_ZERO
                                                : AFMPEG_TRAP_OUT_OF_BOUNDS;
    for (int i = 0; i < 20; i++) {
        const char *argv[] = {"afmpeg-selftest", i % 2 ? "exit" : kind, NULL};
        afmpeg_result *res = NULL;
        EXPECTED_FAULTS_BEGIN();
        int err = afmpeg_run(own, fs, argv, NULL, &res);
        EXPECTED_FAULTS_END();
        if (i % 2)
            failures += err != AFMPEG_OK || afmpeg_result_exit_code(res) != 42;
        else
            failures += err != AFMPEG_ETRAP || afmpeg_result_trap(res) != want;
        afmpeg_result_free(res);
    }
    afmpeg_fs_free(fs);
    afmpeg_close(own, AFMPEG_CLOSE_WAIT);
    return (void *)failures;
}

static void test_traps_on_two_threads(void **state)
{
    (void)state;
    pthread_t a, b;
    void *ra, *rb;
    assert_int_equal(pthread_create(&a, NULL, trapper, "oob"), 0);
    assert_int_equal(pthread_create(&b, NULL, trapper, "divzero"), 0);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    assert_int_equal((long)ra, 0);
    assert_int_equal((long)rb, 0);
}

static void test_api_contract(void **state)
{
    (void)state;
    assert_int_equal(afmpeg_version_number(), AFMPEG_VERSION_NUMBER);
    assert_string_equal(afmpeg_version(), AFMPEG_VERSION);
    assert_string_equal(afmpeg_errname(AFMPEG_ETRAP), "AFMPEG_ETRAP");
    assert_string_equal(afmpeg_strerror(AFMPEG_ENOMEM), "out of memory");
    /* The macros and the init functions agree, field by field. */
    afmpeg_runtime_options a = AFMPEG_RUNTIME_OPTIONS_INIT, b;
    memset(&b, 0xff, sizeof b);
    afmpeg_runtime_options_init(&b);
    assert_int_equal(a.version, b.version);
    assert_int_equal(a.instances, b.instances);
    assert_int_equal(a.limits.memory_limit, b.limits.memory_limit);
    afmpeg_job_options c = AFMPEG_JOB_OPTIONS_INIT, d;
    memset(&d, 0xff, sizeof d);
    afmpeg_job_options_init(&d);
    assert_int_equal(c.version, d.version);
    assert_ptr_equal(c.stdin_data, d.stdin_data);
    assert_int_equal(c.stdin_len, d.stdin_len);
    assert_ptr_equal(c.on_stdout, d.on_stdout);
    assert_ptr_equal(c.on_stderr, d.on_stderr);
    assert_ptr_equal(c.output_payload, d.output_payload);
    assert_int_equal(c.stderr_limit, d.stderr_limit);

    afmpeg_result *res = (afmpeg_result *)1;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    const char *empty[] = {NULL};
    assert_int_equal(afmpeg_run(rt, fs, empty, NULL, &res), AFMPEG_EINVAL);
    assert_null(res);
    assert_contains(afmpeg_last_error(), "argv[0]");
    assert_int_equal(afmpeg_run(NULL, fs, empty, NULL, &res), AFMPEG_EINVAL);
    const char *unknown[] = {"ffplay", NULL};
    res = run(fs, unknown);
    assert_int_equal(afmpeg_result_exit_code(res), 127);
    assert_contains(afmpeg_result_stderr(res, NULL), "unknown tool 'ffplay'");
    afmpeg_result_free(res);
    afmpeg_runtime_options bad = AFMPEG_RUNTIME_OPTIONS_INIT;
    bad.limits.memory_limit = 5ull << 30;
    afmpeg_runtime *rt2 = (afmpeg_runtime *)1;
    assert_int_equal(afmpeg_new(&bad, &rt2), AFMPEG_EINVAL);
    assert_null(rt2);
    assert_contains(afmpeg_last_error(), "memory_limit");
    afmpeg_fs_free(fs);
    afmpeg_close(NULL, AFMPEG_CLOSE_WAIT);
    afmpeg_result_free(NULL);
}

/* Whether `name` is in a NULL-terminated list. */
static int listed(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}

/* API 1.0: afmpeg_module_info_get() describes the module as its own ffmpeg does: version,
 * licence (LGPL for the default build), configuration and NULL-terminated component lists, owned
 * by the runtime and the same on every call. */
static void test_module_info(void **state)
{
    (void)state;
    const afmpeg_module_info *info = NULL;
    assert_int_equal(afmpeg_module_info_get(rt, &info), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");
    assert_non_null(info);
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    const char *version[] = {"ffmpeg", "-version", NULL};
    afmpeg_result *res = run(fs, version);
    char first[256];
    snprintf(first, sizeof first, "ffmpeg version %s ", info->ffmpeg_version);
    assert_true(strncmp(afmpeg_result_stdout(res, NULL), first, strlen(first)) == 0);
    assert_true(strncmp(info->ffmpeg_version, "5.1", 3) == 0);
    char conf[8192];
    snprintf(conf, sizeof conf, "\nconfiguration: %s\n", info->configuration);
    assert_contains(afmpeg_result_stdout(res, NULL), conf);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    assert_string_equal(info->license, "LGPL version 2.1 or later");
    assert_null(strstr(info->configuration, "--enable-gpl"));
    assert_true(listed(info->encoders, "libopenh264") && listed(info->encoders, "aac"));
    assert_true(listed(info->decoders, "h264") && listed(info->decoders, "vp9"));
    assert_true(listed(info->muxers, "mp4") && listed(info->muxers, "null"));
    assert_true(listed(info->demuxers, "mov") && listed(info->demuxers, "mp4"));
    assert_true(listed(info->filters, "scale") && listed(info->filters, "bbox"));
    assert_false(listed(info->filters, "cropdetect")); /* GPL-only: not in the LGPL module */
    assert_true(listed(info->bsfs, "h264_mp4toannexb"));
    assert_true(listed(info->protocols, "file") && listed(info->protocols, "pipe"));
    assert_false(listed(info->protocols, "http"));
    const afmpeg_module_info *again = NULL;
    assert_int_equal(afmpeg_module_info_get(rt, &again), AFMPEG_OK);
    assert_ptr_equal(again, info);
    again = (const afmpeg_module_info *)1;
    assert_int_equal(afmpeg_module_info_get(NULL, &again), AFMPEG_EINVAL);
    assert_null(again);
    assert_string_equal(afmpeg_last_error(), "rt is NULL");
    assert_int_equal(afmpeg_module_info_get(rt, NULL), AFMPEG_EINVAL);
}

/* API 1.0: every public call that returns an afmpeg_error sets the message when it fails and
 * empties it when it succeeds (the message used to survive until the next failure). */
static void test_message_cleared_on_success(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
#define FAIL_THEN(call)                                                                        \
    do {                                                                                       \
        assert_int_equal(afmpeg_probe(rt, fs, "missing.mp4", NULL, &p), AFMPEG_ENOENT);      \
        assert_string_equal(afmpeg_last_error(), "missing.mp4: no such file");               \
        assert_int_equal(call, AFMPEG_OK);                                                   \
        if (afmpeg_last_error()[0])                                                          \
            fail_msg("%s left \"%s\"", #call, afmpeg_last_error());                          \
    } while (0)
    FAIL_THEN(afmpeg_fs_write_file(fs, "a.txt", "x", 1));
    afmpeg_fs_stat st;
    FAIL_THEN(afmpeg_fs_stat_path(fs, "a.txt", &st));
    FAIL_THEN(afmpeg_fs_mkdir(fs, "d"));
    FAIL_THEN(afmpeg_fs_remove(fs, "a.txt"));
    afmpeg_runtime_stats stats;
    FAIL_THEN(afmpeg_stats(rt, &stats));
    const afmpeg_module_info *info;
    FAIL_THEN(afmpeg_module_info_get(rt, &info));
    afmpeg_cancel_token *tok;
    FAIL_THEN(afmpeg_cancel_token_new(&tok));
    afmpeg_cancel_token_free(tok);
    const char *exit0[] = {"ffmpeg", "-version", NULL};
    afmpeg_result *res = NULL;
    FAIL_THEN(afmpeg_run(rt, fs, exit0, NULL, &res));
    afmpeg_result_free(res);
    /* A guest that exits 1 is no error of the call: the message is empty too. */
    const char *exit1[] = {"ffmpeg", "-v", "error", "-i", "nothing.mp4", NULL};
    FAIL_THEN(afmpeg_run(rt, fs, exit1, NULL, &res));
    assert_int_equal(afmpeg_result_exit_code(res), 1);
    afmpeg_result_free(res);
    afmpeg_command *cmd;
    FAIL_THEN(afmpeg_command_new(&cmd));
    FAIL_THEN(afmpeg_command_add_input(cmd, "a.mp4", NULL));
    FAIL_THEN(afmpeg_command_add_output(cmd, "b.mp4", NULL));
    FAIL_THEN(afmpeg_command_validate(cmd, NULL));
    char **argv;
    FAIL_THEN(afmpeg_command_argv(cmd, &argv, NULL));
    afmpeg_free(argv);
    afmpeg_command_free(cmd);
    afmpeg_runtime *other;
    FAIL_THEN(afmpeg_new(NULL, &other));
    afmpeg_close(other, AFMPEG_CLOSE_WAIT);
#undef FAIL_THEN
    afmpeg_fs_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_contract),
        cmocka_unit_test(test_module_info),
        cmocka_unit_test(test_message_cleared_on_success),
        cmocka_unit_test(test_transcode_in_memory),
        cmocka_unit_test(test_transcode_host_directory),
        cmocka_unit_test(test_decode_parity_h264),
        cmocka_unit_test(test_scale_parity_vertical),
        cmocka_unit_test(test_scale_parity_horizontal),
        cmocka_unit_test(test_decode_parity_hevc),
        cmocka_unit_test(test_decode_parity_vp9),
        cmocka_unit_test(test_bad_option_and_missing_input),
        cmocka_unit_test(test_path_escapes),
        cmocka_unit_test(test_trap_then_next_job),
        cmocka_unit_test(test_threads_share_runtime),
        cmocka_unit_test(test_traps_on_two_threads),
        cmocka_unit_test(test_job_stdio),
    };
    return cmocka_run_group_tests_name("engine", tests, setup, teardown);
}
