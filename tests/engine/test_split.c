/* Split and stitch (afmpeg_job_options.parallel, lib/job/split.c): a job cut at keyframes into
 * segments encoded at once, and joined, gives what a single pass gives: the same frames at the
 * same timestamps, the same audio packets, the same duration, a clean decode in Debian's ffmpeg
 * and a quality no more than 0.3 dB below the single pass's. Commands and inputs that cannot be split so run
 * as one piece, and the result says why. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine_util.h"

static char dir[256];
static afmpeg_runtime *rt; /* two instances */
static afmpeg_cancel_token *token; /* the jobs' cancel token, when set */

/* The inputs, made by Debian's ffmpeg (libx264 with B-frames unless said):
 *   bframes.mp4  6 s 320x240 at 30000/1001 fps, 3 B-frames, keyframes at uneven times (GOPs of
 *                9 to 42 frames), AAC audio
 *   farkeys.mp4  10 s at 25 fps, keyframes at 0 and 8 s only, no audio
 *   onekey.mp4   4 s at 25 fps, one keyframe
 *   vfr.mp4      2 s at 25 fps then 2 s at 30 fps (variable frame rate) */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/afmpeg-split-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1";
    if (sh("cd %s && %s -f lavfi -i testsrc2=size=320x240:rate=30000/1001:duration=6 "
           "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=6 -c:v libx264 "
           "-preset veryfast -bf 3 -g 1000 -force_key_frames 0,0.3,1.3,2.0,2.5,3.9,5.3 "
           "-pix_fmt yuv420p -c:a aac -shortest bframes.mp4 && "
           "%s -f lavfi -i testsrc2=size=320x240:rate=25:duration=10 -c:v libx264 -preset "
           "veryfast -g 1000 -force_key_frames 0,8 -pix_fmt yuv420p farkeys.mp4 && "
           "%s -f lavfi -i testsrc2=size=320x240:rate=25:duration=4 -c:v libx264 -preset "
           "veryfast -g 1000 -pix_fmt yuv420p onekey.mp4 && "
           "%s -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 -f lavfi -i "
           "testsrc2=size=320x240:rate=30:duration=2 -filter_complex '[0:v][1:v]concat=n=2' "
           "-fps_mode vfr -c:v libx264 -preset veryfast -g 10 -pix_fmt yuv420p vfr.mp4",
           dir, ff, ff, ff, ff) != 0)
        return -1;
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.instances = 2;
    return afmpeg_new(&o, &rt) == AFMPEG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    sh("rm -rf '%s'", dir);
    return 0;
}

typedef struct progress_log {
    int calls, done, backwards;
    double last_fraction;
    int64_t last_frame;
    int cancel_at; /* cancel at this call (1-based), 0 never */
} progress_log;

static int on_progress(const afmpeg_progress *p, void *payload)
{
    progress_log *l = payload;
    l->calls++;
    if (p->fraction < l->last_fraction)
        l->backwards++;
    l->last_fraction = p->fraction;
    l->last_frame = p->frame;
    l->done += p->done;
    return l->cancel_at && l->calls >= l->cancel_at;
}

/* Transcodes `input` (a file of dir) to dir/OUT with the given parallel setting: libopenh264 at
 * QP 24, scaled to width 160 (plus `vf`, if any), AAC. Returns run_job's error; *res the
 * result (the caller frees it). The output is copied to the host directory for Debian's tools. */
static int transcode(const char *input, const char *out, int parallel, const char *vf,
                     progress_log *log, afmpeg_result **res)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, input);
    void *data = read_host_file(path, &len);
    assert_non_null(data);
    assert_int_equal(afmpeg_fs_write_file(fs, "/in.mp4", data, len), AFMPEG_OK);
    free(data);
    afmpeg_command *c;
    int in, o;
    assert_int_equal(afmpeg_command_new(&c), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(c, "/in.mp4", &in), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(c, "/out.mp4", &o), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(c, o, AFMPEG_MEDIA_VIDEO, "libopenh264"),
                     AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_filter(c, o, AFMPEG_MEDIA_VIDEO,
                                                  vf ? vf : "scale=160:-2"), AFMPEG_OK);
    /* A constant quantiser: rate control (openh264's bitrate modes) starts again in each
     * segment, so the quality of a split encode is only as close to a single pass's as that
     * restart allows (docs/jobs.md has the numbers); a fixed QP makes the comparison exact. */
    assert_int_equal(afmpeg_command_output_option(c, o, "rc_mode", "off"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_option(c, o, "qmin", "24"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_option(c, o, "qmax", "24"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(c, o, AFMPEG_MEDIA_AUDIO, "aac"), AFMPEG_OK);
    afmpeg_job_options jo = AFMPEG_JOB_OPTIONS_INIT;
    jo.parallel = parallel;
    jo.cancel = token;
    if (log) {
        jo.on_progress = on_progress;
        jo.progress_payload = log;
    }
    int err = afmpeg_run_job(rt, fs, c, &jo, res);
    void *outd = NULL;
    if (!err && *res && afmpeg_result_exit_code(*res) == 0 &&
        afmpeg_fs_read_file(fs, "/out.mp4", &outd, &len) == AFMPEG_OK) {
        snprintf(path, sizeof path, "%s/%s", dir, out);
        assert_int_equal(write_host_file(path, outd, len), 0);
        afmpeg_free(outd);
    }
    afmpeg_command_free(c);
    afmpeg_fs_free(fs);
    return err;
}

/* Debian's ffprobe on dir/NAME (malloc'd output). */
static char *probe(const char *name, const char *args)
{
    char *s = sh_capture("cd %s && ffprobe -v error %s %s", dir, args, name);
    assert_non_null(s);
    return s;
}

/* The PSNR of dir/NAME against the source, scaled as the job scaled it (Debian's ffmpeg). */
static double psnr(const char *name, const char *source)
{
    char *s = sh_capture("cd %s && ffmpeg -nostdin -v info -i %s -i %s -lavfi "
                         "'[1:v]scale=160:-2[r];[0:v][r]psnr' -f null - 2>&1 | "
                         "grep -o 'average:[0-9.]*' | cut -d: -f2", dir, name, source);
    assert_non_null(s);
    double v = atof(s);
    free(s);
    return v;
}

/* What the split output must share with the single pass, by Debian's ffprobe and ffmpeg. */
static void assert_same_as_single_pass(const char *split, const char *single, const char *src)
{
    const char *checks[] = {
        "-show_entries stream=index,codec_type,codec_name,width,height,nb_frames,duration,"
        "start_time,r_frame_rate,avg_frame_rate -of compact=p=0",
        "-select_streams v:0 -show_entries frame=pts,duration -of csv=p=0",
        "-select_streams a:0 -show_entries packet=pts,duration -of csv=p=0",
        "-show_entries format=duration -of csv=p=0",
    };
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
        char *a = probe(split, checks[i]), *b = probe(single, checks[i]);
        if (strcmp(a, b) != 0)
            fail_msg("%s differs from %s in: ffprobe %s\n--- split:\n%.600s\n--- single:\n%.600s",
                     split, single, checks[i], a, b);
        free(a);
        free(b);
    }
    /* Decodes without a word from Debian's ffmpeg, joins included. */
    char *errs = sh_capture("cd %s && ffmpeg -nostdin -v error -i %s -f null - 2>&1", dir,
                            split);
    assert_non_null(errs);
    assert_string_equal(errs, "");
    free(errs);
    double p_split = psnr(split, src), p_single = psnr(single, src);
    assert_true(p_single > 25);
    /* No worse than 0.3 dB below the single pass. At a fixed QP the segments' extra IDR frames
     * make it a little better (and larger): +0.44 dB on bframes.mp4's 2 s segments; more than
     * 1 dB either way would be a different encode. */
    if (p_split < p_single - 0.3 || p_split > p_single + 1.0)
        fail_msg("PSNR %.3f dB split against %.3f dB single pass", p_split, p_single);
}

/* B-frames, an NTSC frame rate, uneven GOPs, audio: three segments on two instances. */
static void test_same_as_single_pass(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *why = "unset";
    assert_int_equal(transcode("bframes.mp4", "single.mp4", 0, NULL, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_int_equal(afmpeg_result_segments(res, &why), 1);
    assert_null(why); /* not asked */
    int64_t frames = afmpeg_result_output(res, 0)->probe->streams[0].frame_count;
    assert_in_range(frames, 179, 180); /* 6 s at 29.97 fps */
    afmpeg_result_free(res);

    progress_log log = {0};
    log.last_fraction = -1;
    assert_int_equal(transcode("bframes.mp4", "split.mp4", 3, NULL, &log, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_int_equal(afmpeg_result_segments(res, &why), 3);
    assert_null(why);
    /* The result describes what was encoded, not the stitch's copy. */
    assert_int_equal(afmpeg_result_output_count(res), 1);
    const afmpeg_output_info *oi = afmpeg_result_output(res, 0);
    assert_int_equal(oi->stream_count, 2);
    assert_int_equal(oi->streams[0].type, AFMPEG_MEDIA_VIDEO);
    assert_string_equal(oi->streams[0].encoder, "libopenh264");
    assert_int_equal(oi->streams[0].copied, 0);
    assert_int_equal(oi->streams[1].type, AFMPEG_MEDIA_AUDIO);
    assert_string_equal(oi->streams[1].encoder, "aac");
    assert_non_null(oi->probe);
    assert_int_equal(oi->probe->streams[0].frame_count, frames);
    afmpeg_result_free(res);
    /* One fraction for the whole job: never backwards, 1 once, at the end, with every frame. */
    assert_true(log.calls >= 2);
    assert_int_equal(log.backwards, 0);
    assert_int_equal(log.done, 1);
    assert_true(log.last_fraction == 1.0);
    assert_int_equal(log.last_frame, frames);
    assert_same_as_single_pass("split.mp4", "single.mp4", "bframes.mp4");

    if (AFM_UNDER_VALGRIND())
        return; /* the host code is the same below; valgrind is slow on the guest */
    /* AUTO: as many segments as instances. */
    assert_int_equal(transcode("bframes.mp4", "auto.mp4", AFMPEG_PARALLEL_AUTO, NULL, NULL,
                               &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_segments(res, NULL), 2);
    afmpeg_result_free(res);
    assert_same_as_single_pass("auto.mp4", "single.mp4", "bframes.mp4");
}

/* Keyframes 8 s apart in 10 s: four segments asked, two possible (0-8 s, 8-10 s). No audio. */
static void test_far_keyframes(void **state)
{
    (void)state;
    if (AFM_UNDER_VALGRIND())
        skip(); /* the same host code as above: valgrind is slow on the guest */
    afmpeg_result *res = NULL;
    assert_int_equal(transcode("farkeys.mp4", "far1.mp4", 0, NULL, NULL, &res), AFMPEG_OK);
    afmpeg_result_free(res);
    assert_int_equal(transcode("farkeys.mp4", "far2.mp4", 4, NULL, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_int_equal(afmpeg_result_segments(res, NULL), 2);
    afmpeg_result_free(res);
    assert_same_as_single_pass("far2.mp4", "far1.mp4", "farkeys.mp4");
}

/* Jobs that cannot be split run as one piece, and say why. */
static void test_why_not(void **state)
{
    (void)state;
    struct {
        const char *input, *vf;
        int parallel;
        const char *why;
    } cases[] = {
        {"onekey.mp4", NULL, 2, "too few to split"},
        {"vfr.mp4", NULL, 2, "frame rate is not constant"},
        {"bframes.mp4", "scale=160:-2,yadif", 2, "video filter yadif may carry state"},
        {"bframes.mp4", "setpts=0.5*PTS,scale=160:-2", 2, "video filter setpts may carry state"},
        {"bframes.mp4", "fps=10", 2, "video filter fps may carry state"},
        {"bframes.mp4", NULL, 1, "one segment was asked for"},
    };
    /* Under valgrind, one case of each kind: the input's (VFR) and the command's (a filter). */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (AFM_UNDER_VALGRIND() && i != 1 && i != 3)
            continue;
        afmpeg_result *res = NULL;
        const char *why = NULL;
        int err = transcode(cases[i].input, "whynot.mp4", cases[i].parallel, cases[i].vf, NULL,
                            &res);
        if (err)
            fail_msg("case %zu: %s", i, afmpeg_last_error());
        assert_int_equal(afmpeg_result_exit_code(res), 0);
        assert_int_equal(afmpeg_result_segments(res, &why), 1);
        assert_non_null(why);
        if (!strstr(why, cases[i].why))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, cases[i].why);
        afmpeg_result_free(res);
    }
    /* A runtime of one instance: AUTO runs one piece. */
    afmpeg_runtime *one;
    assert_int_equal(afmpeg_new(NULL, &one), AFMPEG_OK);
    afmpeg_runtime *keep = rt;
    rt = one;
    afmpeg_result *res = NULL;
    const char *why = NULL;
    assert_int_equal(transcode("bframes.mp4", "one.mp4", AFMPEG_PARALLEL_AUTO, NULL, NULL, &res),
                     AFMPEG_OK);
    assert_int_equal(afmpeg_result_segments(res, &why), 1);
    assert_non_null(why);
    assert_non_null(strstr(why, "one instance"));
    afmpeg_result_free(res);
    rt = keep;
    afmpeg_close(one, AFMPEG_CLOSE_WAIT);
    /* A bad setting is refused before anything runs. */
    res = NULL;
    assert_int_equal(transcode("bframes.mp4", "bad.mp4", -2, NULL, NULL, &res), AFMPEG_EINVAL);
    assert_null(res);
    assert_non_null(strstr(afmpeg_last_error(), "parallel is -2"));
}

/* A progress callback that cancels stops every piece: the job is cancelled, the runtime fine. */
static void test_cancel_and_failure(void **state)
{
    (void)state;
    progress_log log = {0};
    log.cancel_at = 1;
    afmpeg_result *res = NULL;
    assert_int_equal(transcode("bframes.mp4", "cancel.mp4", 3, NULL, &log, &res),
                     AFMPEG_ECANCELLED);
    assert_non_null(strstr(afmpeg_last_error(), "split job"));
    afmpeg_result_free(res);
    /* Cancelled before it starts: the plan's probe stops, nothing runs, no result. */
    assert_int_equal(afmpeg_cancel_token_new(&token), AFMPEG_OK);
    afmpeg_cancel_token_cancel(token);
    res = NULL;
    assert_int_equal(transcode("bframes.mp4", "early.mp4", 3, NULL, NULL, &res),
                     AFMPEG_ECANCELLED);
    assert_null(res);
    afmpeg_cancel_token_free(token);
    token = NULL;
    /* A segment's ffmpeg that fails (a filter it rejects): the job ran and failed, as one
     * piece would have, with that piece's output. */
    res = NULL;
    assert_int_equal(transcode("bframes.mp4", "fail.mp4", 3, "scale=w=nonsense", NULL, &res),
                     AFMPEG_OK);
    assert_non_null(res);
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    size_t len;
    const char *err = afmpeg_result_stderr(res, &len);
    assert_non_null(strstr(err, "nonsense"));
    afmpeg_result_free(res);
    /* And the runtime still runs split jobs. */
    assert_int_equal(transcode("bframes.mp4", "after.mp4", 2, NULL, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_int_equal(afmpeg_result_segments(res, NULL), 2);
    afmpeg_result_free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_single_pass),
        cmocka_unit_test(test_far_keyframes),
        cmocka_unit_test(test_why_not),
        cmocka_unit_test(test_cancel_and_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
