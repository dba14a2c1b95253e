/* The API's own promises, checked as a whole rather than call by call:
 * - every options struct's _init() gives the bytes of its _INIT macro, and _init(NULL) is safe
 *   (the header test checks that each macro names every field);
 * - the jobs the library runs on its own account (probe, frames, thumbnail, run_job's length
 *   and output probes) carry the caller's limits and cancel token: no drift between them;
 * - one condition, one error code, whichever call meets it (missing file, directory, a path
 *   leading outside, an empty path), and one path rule ("a:b.mp4" is that file everywhere);
 * - messages carry no function name, and a call that succeeds leaves no stale message. */
#include <math.h>
#include <pthread.h>
#include "engine_util.h"
#include "core/core.h"

static afmpeg_runtime *rt;

static int setup(void **state)
{
    if (make_media())
        return -1;
    return afmpeg_new(NULL, &rt);
}

static int teardown(void **state)
{
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    remove_media();
    return 0;
}

/* ---- struct init ------------------------------------------------------------------------- */

/* _init() over a struct full of garbage must give exactly the macro's bytes (padding too: the
 * macro's copy is static, so its padding is zero). */
#define CHECK_INIT(type, macro, init_fn)                                                       \
    do {                                                                                       \
        static const type from_macro = macro;                                                  \
        type from_fn;                                                                          \
        memset(&from_fn, 0xA5, sizeof from_fn);                                                \
        init_fn(&from_fn);                                                                     \
        assert_memory_equal(&from_fn, &from_macro, sizeof from_macro);                         \
        init_fn(NULL); /* a no-op, never a crash */                                            \
    } while (0)

static void test_struct_init(void **state)
{
    CHECK_INIT(afmpeg_runtime_options, AFMPEG_RUNTIME_OPTIONS_INIT, afmpeg_runtime_options_init);
    CHECK_INIT(afmpeg_job_options, AFMPEG_JOB_OPTIONS_INIT, afmpeg_job_options_init);
    CHECK_INIT(afmpeg_frames_options, AFMPEG_FRAMES_OPTIONS_INIT, afmpeg_frames_options_init);
    afmpeg_runtime_options r;
    afmpeg_runtime_options_init(&r);
    assert_int_equal(r.version, AFMPEG_RUNTIME_OPTIONS_VERSION);
    afmpeg_job_options j;
    afmpeg_job_options_init(&j);
    assert_int_equal(j.version, AFMPEG_JOB_OPTIONS_VERSION);
}

/* ---- limits reach every library job -------------------------------------------------------- */

/* Derivation copies the caller's limits and cancel token, whatever they are, and nothing of the
 * caller's I/O. */
static void test_derived_options_carry_limits(void **state)
{
    afmpeg_cancel_token *token;
    assert_int_equal(afmpeg_cancel_token_new(&token), AFMPEG_OK);
    afmpeg_job_options caller = AFMPEG_JOB_OPTIONS_INIT;
    caller.limits.memory_limit = 123 << 16;
    caller.limits.timeout_ms = 4567;
    caller.limits.output_limit = 890123;
    caller.limits.max_open_files = 17;
    caller.cancel = token;
    caller.stdin_data = "x";
    caller.stdin_len = 1;
    caller.stderr_limit = 5;
    afmpeg_job_options d;
    afm_derive_options(&caller, NULL, NULL, NULL, &d);
    assert_memory_equal(&d.limits, &caller.limits, sizeof d.limits);
    assert_ptr_equal(d.cancel, token);
    assert_null(d.stdin_data);
    assert_int_equal(d.stderr_limit, 0);
    assert_null(d.on_progress);
    afmpeg_cancel_token_free(token);
}

/* A memory limit below what the module needs to start stops every job a call runs: if one of
 * them ran with the runtime's defaults instead, the call would succeed. */
static int dummy_progress(const afmpeg_progress *p, void *payload)
{
    return 0;
}

static void test_memory_limit_reaches_every_library_job(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.limits.memory_limit = 4u << 20;

    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", &o, &p), AFMPEG_ELIMIT);
    assert_null(p);
    afmpeg_frame_list *l = NULL;
    assert_int_equal(afmpeg_frames(rt, fs, "/in.mp4", NULL, &o, &l), AFMPEG_ELIMIT);
    assert_int_equal(afmpeg_thumbnail(rt, fs, "/in.mp4", 1.0, NULL, &o, &l), AFMPEG_ELIMIT);
    assert_null(l);

    /* run_job with progress probes the input's length first, then describes the output by
     * probing it: with the limit carried, the job stops at the first of them. */
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "/in.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "/out.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "copy"), AFMPEG_OK);
    o.on_progress = dummy_progress;
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, &o, &res), AFMPEG_ELIMIT);
    afmpeg_result_free(res);

    /* The same job with room to run: the length and output probes run and describe. */
    o.limits.memory_limit = 0;
    res = NULL;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_non_null(afmpeg_result_output(res, 0)->probe);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* A cancelled token stops every call before any guest runs. */
static void test_cancel_reaches_every_library_job(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    afmpeg_cancel_token *token;
    assert_int_equal(afmpeg_cancel_token_new(&token), AFMPEG_OK);
    afmpeg_cancel_token_cancel(token);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = token;
    afmpeg_probe_result *p = NULL;
    afmpeg_frame_list *l = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", &o, &p), AFMPEG_ECANCELLED);
    assert_int_equal(afmpeg_frames(rt, fs, "/in.mp4", NULL, &o, &l), AFMPEG_ECANCELLED);
    assert_int_equal(afmpeg_thumbnail(rt, fs, "/in.mp4", 0, NULL, &o, &l), AFMPEG_ECANCELLED);
    afmpeg_cancel_token_free(token);
    afmpeg_fs_free(fs);
}

/* ---- one condition, one code --------------------------------------------------------------- */

typedef struct path_case {
    const char *path;
    int err;
} path_case;

static void test_path_errors_agree(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "/dir"), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    const path_case cases[] = {
        {"/missing.mp4", AFMPEG_ENOENT},
        {"/in.mp4/below", AFMPEG_ENOENT},  /* a parent that is a file */
        {"/dir", AFMPEG_EISDIR},
        {"../../etc/passwd", AFMPEG_EACCES},  /* leads outside the filesystem */
        {"", AFMPEG_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = cases[i].path;
        afmpeg_probe_result *p = NULL;
        afmpeg_frame_list *l = NULL;
        afmpeg_result *res = NULL;
        int probe_err = afmpeg_probe(rt, fs, path, NULL, &p);
        int frames_err = afmpeg_frames(rt, fs, path, NULL, NULL, &l);
        int thumb_err = afmpeg_thumbnail(rt, fs, path, 0, NULL, NULL, &l);
        int job_err = AFMPEG_EINVAL; /* the builder refuses an empty path itself */
        if (*path) {
            afmpeg_command *cmd;
            assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
            assert_int_equal(afmpeg_command_add_input(cmd, path, NULL), AFMPEG_OK);
            assert_int_equal(afmpeg_command_add_output(cmd, "/o.mp4", NULL), AFMPEG_OK);
            job_err = afmpeg_run_job(rt, fs, cmd, NULL, &res);
            assert_null(res);
            afmpeg_command_free(cmd);
        }
        printf("%-16s probe %s frames %s thumbnail %s run_job %s\n", path,
               afmpeg_errname(probe_err), afmpeg_errname(frames_err), afmpeg_errname(thumb_err),
               afmpeg_errname(job_err));
        assert_int_equal(probe_err, cases[i].err);
        assert_int_equal(frames_err, cases[i].err);
        assert_int_equal(thumb_err, cases[i].err);
        assert_int_equal(job_err, cases[i].err);
    }
    afmpeg_fs_free(fs);
}

/* A path that looks like a URL is the file of that name for probe, frames and run_job alike. */
static void test_url_like_path_is_a_file(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/a:b.mp4");
    put_media(fs, "h264_aac.mp4", "/pipe:0");
    const char *paths[] = {"a:b.mp4", "/a:b.mp4", "pipe:0"};
    for (size_t i = 0; i < 3; i++) {
        afmpeg_probe_result *p = NULL;
        assert_int_equal(afmpeg_probe(rt, fs, paths[i], NULL, &p), AFMPEG_OK);
        assert_int_equal(p->stream_count, 2);
        afmpeg_probe_result_free(p);
        afmpeg_frame_list *l = NULL;
        assert_int_equal(afmpeg_frames(rt, fs, paths[i], NULL, NULL, &l), AFMPEG_OK);
        assert_int_equal(l->count, 1);
        afmpeg_frame_list_free(l);
    }
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "a:b.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "c:d.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "copy"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_AUDIO, "copy"), AFMPEG_OK);
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    const afmpeg_output_info *out = afmpeg_result_output(res, 0);
    assert_non_null(out->probe);
    assert_int_equal(out->probe->stream_count, 2);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "/c:d.mp4", &st), AFMPEG_OK);
    assert_true(st.size > 1000);
    afmpeg_fs_free(fs);
}

/* ---- messages ------------------------------------------------------------------------------- */

static void test_messages_clean_and_cleared(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");

    /* fs helpers set a message naming the path, then clear it on success */
    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, "/nope", &data, &len), AFMPEG_ENOENT);
    assert_string_equal(afmpeg_last_error(), "/nope: no such file or directory");
    assert_int_equal(afmpeg_fs_write_file(fs, "/yes", "x", 1), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");

    /* a failing job call: no function name in front */
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/nope.mp4", NULL, &p), AFMPEG_ENOENT);
    assert_string_equal(afmpeg_last_error(), "/nope.mp4: no such file");
    /* ... and the next call that succeeds clears it */
    const afmpeg_module_info *info;
    assert_int_equal(afmpeg_module_info_get(rt, &info), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");
    afmpeg_runtime_stats st;
    assert_int_equal(afmpeg_stats(rt, &st), AFMPEG_OK);
    assert_int_equal(afmpeg_stats(rt, NULL), AFMPEG_EINVAL);
    assert_string_equal(afmpeg_last_error(), "out is NULL");
    assert_int_equal(afmpeg_fs_mkdir(fs, "/d"), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");
    afmpeg_fs_free(fs);
}

/* ---- module info ---------------------------------------------------------------------------- */

static int has(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (!strcmp(*list, name))
            return 1;
    return 0;
}

static void test_module_info(void **state)
{
    const afmpeg_module_info *info, *again;
    assert_int_equal(afmpeg_module_info_get(rt, &info), AFMPEG_OK);
    assert_int_equal(afmpeg_module_info_get(rt, &again), AFMPEG_OK);
    assert_ptr_equal(info, again);
    printf("FFmpeg %s, %s\n", info->ffmpeg_version, info->license);
    assert_true(!strncmp(info->ffmpeg_version, "5.1.", 4));
    assert_string_equal(info->license, "LGPL version 2.1 or later");
    assert_null(strstr(info->configuration, "--enable-gpl"));
    assert_non_null(strstr(info->configuration, "--enable-libopenh264"));
    assert_true(has(info->encoders, "libopenh264") && has(info->encoders, "aac"));
    assert_true(has(info->decoders, "h264") && has(info->decoders, "hevc"));
    assert_true(has(info->muxers, "mp4") && has(info->demuxers, "matroska"));
    assert_true(has(info->filters, "scale") && has(info->filters, "bbox"));
    assert_false(has(info->filters, "cropdetect")); /* GPL-only: not in the default module */
    assert_true(has(info->bsfs, "h264_mp4toannexb"));
    assert_true(has(info->protocols, "file") && has(info->protocols, "pipe"));
    assert_false(has(info->protocols, "http"));
    assert_int_equal(afmpeg_module_info_get(NULL, &info), AFMPEG_EINVAL);
    assert_null(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_struct_init),
        cmocka_unit_test(test_derived_options_carry_limits),
        cmocka_unit_test(test_memory_limit_reaches_every_library_job),
        cmocka_unit_test(test_cancel_reaches_every_library_job),
        cmocka_unit_test(test_path_errors_agree),
        cmocka_unit_test(test_url_like_path_is_a_file),
        cmocka_unit_test(test_messages_clean_and_cleared),
        cmocka_unit_test(test_module_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
