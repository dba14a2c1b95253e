/* Frames and thumbnails (afmpeg_frames, afmpeg_thumbnail, also on a runtime of several
 * instances) on real media, checked against Debian's native ffmpeg/ffprobe: sizes, times on the
 * input's timeline, pixels, formats, errors, limits and cancellation. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include "engine_util.h"
/* The implementation itself, so that the splitter's callbacks (static there) can be fed output
 * cut at every byte; the library's copy of these functions is then not linked in, and the
 * engine tests below run this one, compiled from the same source. */
#include "frames/frames.c"

static afmpeg_runtime *rt;
static afmpeg_fs *fs; /* the media, read-only for the jobs: nothing may be written to it */

/* in.mp4: 3 s of testsrc2 320x240 at 25 fps (H.264, a keyframe every second) with AAC;
 * in.ts: the same streams copied into MPEG-TS, whose timeline starts at about 1.4 s;
 * audio.m4a: AAC only; garbage.bin: bytes that are no media.
 * scenes.mp4: three scenes one after the other, 1 s of testsrc2, 1.2 s of a solid blue, 1 s of
 * SMPTE bars (cuts at 1.0 and 2.2 s, a keyframe every second, so neither cut is on a keyframe
 * of the GOP grid), and scenes.ts, the same in MPEG-TS.
 * Anamorphic video, 720x576 H.264: wide.mp4 with SAR 64:45 set on the frames (setsar), aspect.mp4
 * with -aspect 16:9 (the same SAR, set by the encoder and the muxer), pal43.mp4 with 16:15 (4:3);
 * nosar.mkv: 320x240 FFV1 with no SAR at all (unknown, taken as square). */
static int make_frames_media(void)
{
    snprintf(media_dir, sizeof media_dir, "/tmp/afmpeg-frames-XXXXXX");
    if (!mkdtemp(media_dir))
        return -1;
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1";
    int rc = sh("cd %s && %s -f lavfi -i testsrc2=size=320x240:rate=25:duration=3 -f lavfi "
                "-i sine=frequency=440:duration=3 -c:v libx264 -pix_fmt yuv420p -g 25 -c:a aac "
                "-shortest in.mp4 && %s -i in.mp4 -c copy in.ts && %s -f lavfi "
                "-i sine=duration=1 -c:a aac audio.m4a",
                media_dir, ff, ff, ff);
    if (rc)
        return -1;
    rc = sh("cd %s && %s -f lavfi -i testsrc2=size=320x240:rate=25:duration=1 "
            "-f lavfi -i color=c=0x3060c0:size=320x240:rate=25:duration=1.2 "
            "-f lavfi -i smptebars=size=320x240:rate=25:duration=1 "
            "-filter_complex '[0][1][2]concat=n=3:v=1:a=0,format=yuv420p' -c:v libx264 -g 25 "
            "scenes.mp4 && %s -i scenes.mp4 -c copy scenes.ts",
            media_dir, ff, ff);
    if (rc)
        return -1;
    rc = sh("cd %s && %s -f lavfi -i testsrc2=size=720x576:rate=25:duration=1 -vf setsar=64/45 "
            "-c:v libx264 -pix_fmt yuv420p wide.mp4 && "
            "%s -f lavfi -i testsrc2=size=720x576:rate=25:duration=1 -aspect 16:9 "
            "-c:v libx264 -pix_fmt yuv420p aspect.mp4 && "
            "%s -f lavfi -i testsrc2=size=720x576:rate=25:duration=1 -vf setsar=16/15 "
            "-c:v libx264 -pix_fmt yuv420p pal43.mp4 && "
            "%s -f lavfi -i testsrc2=size=320x240:rate=25:duration=0.2 -vf setsar=0 -c:v ffv1 "
            "nosar.mkv",
            media_dir, ff, ff, ff, ff);
    if (rc)
        return -1;
    /* deterministic noise (an LCG), so the test never depends on what /dev/urandom gave */
    unsigned char junk[65536];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/garbage.bin", media_dir);
    return write_host_file(path, junk, sizeof junk);
}

static int setup(void **state)
{
    (void)state;
    if (make_frames_media())
        return -1;
    if (afmpeg_fs_new_memory(&fs) != AFMPEG_OK)
        return -1;
    const char *names[] = {"in.mp4",    "in.ts",     "audio.m4a",  "garbage.bin", "scenes.mp4",
                           "scenes.ts", "wide.mp4",  "aspect.mp4", "pal43.mp4",   "nosar.mkv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", media_dir, names[i]);
        void *data = read_host_file(path, &len);
        if (!data || afmpeg_fs_write_file(fs, names[i], data, len) != AFMPEG_OK)
            return -1;
        free(data);
    }
    return afmpeg_new(NULL, &rt);
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    rt = NULL;
    afmpeg_fs_free(fs);
    fs = NULL;
    remove_media();
    return 0;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected to find \"%s\" in:\n%s", needle, hay);
}

/* afmpeg_frames on `path`, asserting success. */
static afmpeg_frame_list *take(const char *path, const afmpeg_frames_options *fo)
{
    afmpeg_frame_list *list = NULL;
    int err = afmpeg_frames(rt, fs, path, fo, NULL, &list);
    if (err)
        fail_msg("afmpeg_frames(%s): %s (%s)", path, afmpeg_errname(err), afmpeg_last_error());
    assert_non_null(list);
    return list;
}

static afmpeg_frame_list *thumb(const char *path, double time, const afmpeg_frames_options *fo)
{
    afmpeg_frame_list *list = NULL;
    int err = afmpeg_thumbnail(rt, fs, path, time, fo, NULL, &list);
    if (err)
        fail_msg("afmpeg_thumbnail(%s, %g): %s (%s)", path, time, afmpeg_errname(err),
                 afmpeg_last_error());
    assert_non_null(list);
    assert_int_equal(list->count, 1);
    return list;
}

/* The runtime still takes frames (after a failure). */
static void assert_runtime_works(void)
{
    afmpeg_frame_list *list = take("in.mp4", NULL);
    assert_int_equal(list->count, 1);
    afmpeg_frame_list_free(list);
}

static void assert_time(double got, double want)
{
    if (!(fabs(got - want) < 1e-9))
        fail_msg("frame time %.9f, expected %.9f", got, want);
}

/* Writes a frame's bytes to a host file in the scratch directory; returns its path. */
static const char *save(const afmpeg_frame *f, const char *name)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", media_dir, name);
    assert_int_equal(write_host_file(path, f->data, f->size), 0);
    return path;
}

/* What Debian's ffprobe makes of an image file: "codec,width,height". */
static void assert_probes_as(const char *path, const char *want)
{
    char *info = sh_capture("ffprobe -v error -show_entries stream=codec_name,width,height "
                            "-of csv=p=0 '%s'", path);
    assert_non_null(info);
    info[strcspn(info, "\n")] = '\0';
    assert_string_equal(info, want);
    free(info);
}

/* Runs native ffmpeg with `args` in the scratch dir, writing file `name`; reads it back. */
static unsigned char *native(size_t *len, const char *name, const char *args)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", media_dir, name);
    assert_int_equal(sh("cd %s && ffmpeg -nostdin -v error -y %s '%s'", media_dir, args, path),
                     0);
    unsigned char *data = read_host_file(path, len);
    assert_non_null(data);
    return data;
}

/* The largest difference between two byte arrays of the same length. */
static int max_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m)
            m = d;
    }
    return m;
}

/* The presentation times of the first video frames of a host file, by Debian's ffprobe. */
static size_t native_times(const char *name, double *times, size_t max)
{
    char *out = sh_capture("cd %s && ffprobe -v error -select_streams v:0 -show_entries "
                           "frame=pts_time -of csv=p=0 %s", media_dir, name);
    assert_non_null(out);
    size_t n = 0;
    for (char *s = out; *s && n < max;) {
        times[n++] = strtod(s, &s);
        s += strspn(s, ",\n");
    }
    free(out);
    return n;
}

/* ---- the tests --------------------------------------------------------------------------- */

static void test_options_init(void **state)
{
    (void)state;
    afmpeg_frames_options a = AFMPEG_FRAMES_OPTIONS_INIT, b;
    memset(&b, 0x55, sizeof b);
    afmpeg_frames_options_init(&b);
    assert_int_equal(b.version, AFMPEG_FRAMES_OPTIONS_VERSION);
    assert_int_equal(b.format, a.format);
    assert_int_equal(b.width, 0);
    assert_int_equal(b.height, 0);
    assert_true(b.start == 0 && b.every == 0);
    assert_int_equal(b.count, 0);
    assert_int_equal(b.version, 2);
    assert_true(b.scene == 0 && b.scene_min_interval == 0);
    assert_int_equal(b.ignore_sar, 0);
    afmpeg_frame_list_free(NULL);
}

/* The defaults: the first frame, PNG, its own size, at time 0; Debian's ffmpeg decodes it to the
 * same pixels it decodes the video's first frame to. */
static void test_first_frame_png(void **state)
{
    (void)state;
    afmpeg_frame_list *list = take("in.mp4", NULL);
    assert_int_equal(list->count, 1);
    const afmpeg_frame *f = &list->frames[0];
    assert_int_equal(f->format, AFMPEG_IMAGE_PNG);
    assert_int_equal(f->width, 320);
    assert_int_equal(f->height, 240);
    assert_time(f->time, 0);
    assert_true(f->size > 1000);
    assert_memory_equal(f->data, "\x89PNG\r\n\x1a\n", 8);
    const char *path = save(f, "first.png");
    assert_probes_as(path, "png,320,240");
    size_t a_len, b_len;
    unsigned char *a = native(&a_len, "first-png.rgb", "-i first.png -f rawvideo -pix_fmt rgb24");
    unsigned char *b = native(&b_len, "first-ref.rgb", "-cpuflags 0 -i in.mp4 -frames:v 1 -f "
                              "rawvideo -pix_fmt rgb24");
    assert_int_equal(a_len, 320 * 240 * 3);
    assert_int_equal(b_len, a_len);
    assert_memory_equal(a, b, a_len);
    free(a);
    free(b);
    afmpeg_frame_list_free(list);
    /* the filesystem holds the inputs only: nothing was written */
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "pipe:1", &st), AFMPEG_ENOENT);
}

/* The frame at 1.0 s, as raw RGB24: time 1.0, and the pixels of `ffmpeg -ss 1 -i in.mp4
 * -frames:v 1 -pix_fmt rgb24`. The guest's swscale is FFmpeg's C code (no SIMD in wasm), so the
 * bit-exact reference is native ffmpeg with -cpuflags 0; native with its x86 SIMD
 * yuv420p->rgb24 path rounds differently and is only within a few levels. */
static void test_frame_at_one_second_rgb24(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_RGB24;
    fo.start = 1.0;
    double t0 = now_ms();
    afmpeg_frame_list *list = take("in.mp4", &fo);
    double took = now_ms() - t0;
    fprintf(stderr, "one RGB24 frame at 1.0 s of a 320x240 H.264 MP4: %.1f ms\n", took);
    assert_int_equal(list->count, 1);
    const afmpeg_frame *f = &list->frames[0];
    assert_time(f->time, 1.0);
    assert_int_equal(f->width, 320);
    assert_int_equal(f->height, 240);
    assert_int_equal(f->size, 320 * 240 * 3);
    size_t len;
    unsigned char *exact = native(&len, "one-c.rgb", "-cpuflags 0 -ss 1 -i in.mp4 -frames:v 1 "
                                  "-f rawvideo -pix_fmt rgb24");
    assert_int_equal(len, f->size);
    assert_memory_equal(f->data, exact, len);
    unsigned char *simd = native(&len, "one-simd.rgb", "-ss 1 -i in.mp4 -frames:v 1 -f rawvideo "
                                 "-pix_fmt rgb24");
    assert_int_equal(len, f->size);
    int d = max_diff(f->data, simd, len);
    fprintf(stderr, "largest difference to native ffmpeg with SIMD: %d\n", d);
    assert_true(d <= 3);
    free(exact);
    free(simd);
    afmpeg_frame_list_free(list);

    /* A time between two frames gives the next frame (the first at or after it). */
    fo.start = 1.01;
    list = take("in.mp4", &fo);
    assert_int_equal(list->count, 1);
    assert_time(list->frames[0].time, 1.04);
    afmpeg_frame_list_free(list);
}

static void test_every_second(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.every = 1.0;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_time(list->frames[i].time, (double)i);
        assert_memory_equal(list->frames[i].data, "\x89PNG", 4);
    }
    afmpeg_frame_list_free(list);

    /* from 0.5: the first frames at or after 0.5 and 1.5, at most 2 */
    fo.start = 0.5;
    fo.count = 2;
    list = take("in.mp4", &fo);
    assert_int_equal(list->count, 2);
    assert_time(list->frames[0].time, 0.52);
    assert_time(list->frames[1].time, 1.52);
    afmpeg_frame_list_free(list);

    /* every 0.1 s of a 25 fps video: 0, 0.12 (the first frame at or after 0.1), 0.2, 0.32... */
    fo.start = 0;
    fo.every = 0.1;
    fo.count = 0;
    list = take("in.mp4", &fo);
    assert_int_equal(list->count, 30);
    for (size_t i = 0; i < list->count; i++) {
        double want = ceil(i * 0.1 / 0.04 - 1e-6) * 0.04;
        assert_time(list->frames[i].time, want);
    }
    afmpeg_frame_list_free(list);
}

static void test_count_consecutive(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.count = 5;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_time(list->frames[i].time, 0.04 * i);
        if (i)
            assert_true(list->frames[i].size != list->frames[i - 1].size ||
                        memcmp(list->frames[i].data, list->frames[i - 1].data,
                               list->frames[i].size) != 0);
    }
    afmpeg_frame_list_free(list);

    /* more than there are: all 75 from the start, or the last 3 from 2.88 */
    fo.count = 1000;
    list = take("in.mp4", &fo);
    assert_int_equal(list->count, 75);
    assert_time(list->frames[74].time, 2.96);
    afmpeg_frame_list_free(list);
    fo.start = 2.88;
    list = take("in.mp4", &fo);
    assert_int_equal(list->count, 3);
    assert_time(list->frames[0].time, 2.88);
    afmpeg_frame_list_free(list);
}

/* Scaling: one side given keeps the 4:3 aspect; the pixels equal native ffmpeg's scale (same
 * swscale C code, bicubic as ffmpeg's default) with -cpuflags 0. */
static void test_scale(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.width = 160;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->frames[0].width, 160);
    assert_int_equal(list->frames[0].height, 120);
    assert_probes_as(save(&list->frames[0], "w160.png"), "png,160,120");
    afmpeg_frame_list_free(list);

    fo.width = 0;
    fo.height = 61; /* 81.33 rounds to 81 */
    list = take("in.mp4", &fo);
    assert_int_equal(list->frames[0].width, 81);
    assert_int_equal(list->frames[0].height, 61);
    afmpeg_frame_list_free(list);

    fo.width = 100;
    fo.height = 50; /* both: exactly that size */
    fo.format = AFMPEG_IMAGE_RGBA;
    list = take("in.mp4", &fo);
    assert_int_equal(list->frames[0].width, 100);
    assert_int_equal(list->frames[0].height, 50);
    assert_int_equal(list->frames[0].size, 100 * 50 * 4);
    afmpeg_frame_list_free(list);

    fo.width = 160;
    fo.height = 0;
    fo.format = AFMPEG_IMAGE_RGB24;
    fo.start = 1;
    list = take("in.mp4", &fo);
    assert_int_equal(list->frames[0].size, 160 * 120 * 3);
    size_t len;
    unsigned char *ref = native(&len, "w160.rgb", "-cpuflags 0 -ss 1 -i in.mp4 -frames:v 1 -vf "
                                "scale=160:-1 -f rawvideo -pix_fmt rgb24");
    assert_int_equal(len, list->frames[0].size);
    assert_memory_equal(list->frames[0].data, ref, len);
    free(ref);
    afmpeg_frame_list_free(list);
}

/* The mean absolute error, in RGB levels, of the image FILE (saved in the media directory)
 * against frame 1 of in.mp4, both decoded by Debian's ffmpeg. */
static double error_against_frame1(const char *file)
{
    char args[256];
    size_t a_len, b_len;
    snprintf(args, sizeof args, "-i %s -f rawvideo -pix_fmt rgb24", file);
    unsigned char *a = native(&a_len, "decoded.rgb", args);
    unsigned char *b = native(&b_len, "frame1.rgb", "-i in.mp4 -vf 'select=eq(n\\,1)' "
                              "-frames:v 1 -f rawvideo -pix_fmt rgb24");
    assert_int_equal(a_len, b_len);
    double sum = 0;
    for (size_t i = 0; i < a_len; i++)
        sum += abs((int)a[i] - (int)b[i]);
    free(a);
    free(b);
    return sum / a_len;
}
static void test_jpeg(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_JPEG;
    fo.count = 3;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 3);
    for (size_t i = 0; i < 3; i++) {
        const afmpeg_frame *f = &list->frames[i];
        assert_int_equal(f->format, AFMPEG_IMAGE_JPEG);
        assert_true(f->size > 2000); /* a real quality, not mjpeg's 200 kb/s default */
        assert_memory_equal(f->data, "\xff\xd8", 2);
        assert_memory_equal(f->data + f->size - 2, "\xff\xd9", 2);
        assert_time(f->time, 0.04 * i);
    }
    const char *path = save(&list->frames[1], "second.jpg");
    assert_probes_as(path, "mjpeg,320,240");
    /* it decodes close to the video's frame (JPEG is lossy: mean error small) */
    double err = error_against_frame1("second.jpg");
    fprintf(stderr, "JPEG (q 2) mean absolute error: %.2f levels\n", err);
    assert_true(err < 6);
    afmpeg_frame_list_free(list);
}

static void test_rgba(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_RGBA;
    fo.count = 2;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 2);
    const afmpeg_frame *f = &list->frames[1];
    assert_int_equal(f->format, AFMPEG_IMAGE_RGBA);
    assert_int_equal(f->size, (size_t)f->width * f->height * 4);
    assert_int_equal(f->size, 320 * 240 * 4);
    for (size_t i = 3; i < f->size; i += 4)
        assert_int_equal(f->data[i], 255);
    afmpeg_frame_list_free(list);
}

/* MPEG-TS starts its timeline at about 1.4 s: times are the stream's own (what ffprobe shows
 * for the frames), and `start` is read on that timeline. The TS is a copy of the MP4, so its
 * frame at T is the MP4's at T minus the first frame's time. */
static void test_mpegts_timeline(void **state)
{
    (void)state;
    double times[100];
    size_t n = native_times("in.ts", times, 100);
    assert_int_equal(n, 75);
    double first = times[0];
    assert_true(first > 1.0);

    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_RGB24;
    fo.count = 3;
    afmpeg_frame_list *list = take("in.ts", &fo);
    assert_int_equal(list->count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_time(list->frames[i].time, times[i]);
    afmpeg_frame_list_free(list);

    /* a time inside the file, on its timeline */
    fo.count = 1;
    fo.start = first + 0.52;
    list = take("in.ts", &fo);
    assert_int_equal(list->count, 1);
    assert_time(list->frames[0].time, first + 0.52);
    afmpeg_frame_list *mp4 = NULL;
    fo.start = 0.52;
    mp4 = take("in.mp4", &fo);
    assert_time(mp4->frames[0].time, 0.52);
    assert_int_equal(mp4->frames[0].size, list->frames[0].size);
    assert_memory_equal(mp4->frames[0].data, list->frames[0].data, mp4->frames[0].size);
    afmpeg_frame_list_free(mp4);
    afmpeg_frame_list_free(list);

    /* every second from the start of the timeline (0): the first frame at or after 0, 1, 2, ...
     * which is the first frame, then those at or after 2, 3, 4 */
    fo.start = 0;
    fo.every = 1;
    fo.count = 0;
    fo.format = AFMPEG_IMAGE_JPEG;
    list = take("in.ts", &fo);
    size_t want = 0;
    double k = -1;
    for (size_t i = 0; i < n; i++) {
        if (floor(times[i] + 1e-6) > k) {
            assert_true(want < list->count);
            assert_time(list->frames[want].time, times[i]);
            want++;
            k = floor(times[i] + 1e-6);
        }
    }
    assert_int_equal(list->count, want);
    afmpeg_frame_list_free(list);
}

static void test_start_past_end(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.start = 10;
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 0);
    afmpeg_frame_list_free(list);
    fo.every = 0.5;
    list = take("in.ts", &fo);
    assert_int_equal(list->count, 0);
    afmpeg_frame_list_free(list);
}

static void test_thumbnail(void **state)
{
    (void)state;
    afmpeg_frame_list *list = thumb("in.mp4", 0, NULL);
    const afmpeg_frame *f = &list->frames[0];
    assert_int_equal(f->format, AFMPEG_IMAGE_PNG);
    assert_true(f->time >= 0 && f->time < 4.0); /* within the 16 candidates 0.25 s apart */
    assert_probes_as(save(f, "thumb.png"), "png,320,240");
    afmpeg_frame_list_free(list);

    /* near the end: a frame from there on */
    list = thumb("in.mp4", 2.9, NULL);
    assert_true(list->frames[0].time >= 2.9 && list->frames[0].time < 3.0);
    afmpeg_frame_list_free(list);

    /* past the end: taken from the start */
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_JPEG;
    fo.width = 160;
    fo.start = 99;  /* ignored, like every and count */
    fo.every = -1;
    fo.count = 7;
    list = thumb("in.mp4", 100, &fo);
    f = &list->frames[0];
    assert_true(f->time >= 0 && f->time < 3.0);
    assert_int_equal(f->width, 160);
    assert_int_equal(f->height, 120);
    assert_probes_as(save(f, "thumb.jpg"), "mjpeg,160,120");
    afmpeg_frame_list_free(list);

    /* on the TS timeline */
    list = thumb("in.ts", 3.0, NULL);
    assert_true(list->frames[0].time >= 3.0 && list->frames[0].time < 4.6);
    afmpeg_frame_list_free(list);
}

/* ---- since 1.1: scene changes ------------------------------------------------------------ */

/* Asserts the list's frame times, in order. */
static void assert_times(const afmpeg_frame_list *list, const double *want, size_t n)
{
    if (list->count != n) {
        for (size_t i = 0; i < list->count; i++)
            fprintf(stderr, "frame %zu at %.6f\n", i, list->frames[i].time);
        fail_msg("%zu frames, expected %zu", list->count, n);
    }
    for (size_t i = 0; i < n; i++)
        assert_time(list->frames[i].time, want[i]);
}

/* The frames of `path` taken with `fo` are at `times` (n of them), as assert_times checks. */
static void check_times(const char *path, const afmpeg_frames_options *fo, const double *times,
                        size_t n)
{
    afmpeg_frame_list *list = take(path, fo);
    assert_times(list, times, n);
    afmpeg_frame_list_free(list);
}

/* The frame times Debian's ffmpeg selects with select=gt(scene,T) over a whole file. */
static size_t native_scene_times(const char *name, const char *threshold, double *times,
                                 size_t max)
{
    char *out = sh_capture("cd %s && ffprobe -v error -f lavfi -i 'movie=%s,select=gt(scene\\,%s)'"
                           " -show_entries frame=pts_time -of csv=p=0", media_dir, name,
                           threshold);
    assert_non_null(out);
    size_t n = 0;
    for (char *s = out; *s && n < max;) {
        times[n++] = strtod(s, &s);
        s += strspn(s, ",\n");
    }
    free(out);
    return n;
}

/* The pixel at (x, y) of an RGB24 frame is within `tol` of r, g, b. */
static int pixel_near(const afmpeg_frame *f, int x, int y, int r, int g, int b, int tol)
{
    const unsigned char *p = f->data + ((size_t)y * f->width + x) * 3;
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

/* scenes.mp4 cuts at 1.0 s (testsrc2 to blue) and 2.2 s (to SMPTE bars): a threshold of 0.3
 * takes the first frame and exactly the first frame of each new scene, the cuts Debian's ffmpeg
 * finds with the same filter; the minimum interval, the count and the start narrow that. */
static void test_scene(void **state)
{
    (void)state;
    double native[8];
    size_t n = native_scene_times("scenes.mp4", "0.3", native, 8);
    assert_int_equal(n, 2);
    assert_time(native[0], 1.0);
    assert_time(native[1], 2.2);

    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.scene = 0.3;
    fo.format = AFMPEG_IMAGE_RGB24;
    afmpeg_frame_list *list = take("scenes.mp4", &fo);
    assert_times(list, (double[]){0, 1.0, 2.2}, 3);
    /* each frame is its scene's: testsrc2 is not one colour, then the blue, then the bars
     * (their leftmost bar is 75% grey) */
    const afmpeg_frame *f = list->frames;
    assert_int_equal(f[0].width, 320);
    assert_false(pixel_near(&f[0], 10, 10, 0x30, 0x60, 0xc0, 8) &&
                 pixel_near(&f[0], 300, 200, 0x30, 0x60, 0xc0, 8));
    for (int y = 0; y < 240; y += 20)
        for (int x = 0; x < 320; x += 20)
            assert_true(pixel_near(&f[1], x, y, 0x30, 0x60, 0xc0, 6));
    assert_true(pixel_near(&f[2], 10, 10, 191, 191, 191, 8));
    afmpeg_frame_list_free(list);

    fo.format = AFMPEG_IMAGE_PNG;
    /* at least 1.5 s apart: the cut at 1.0 is too close to the first frame */
    fo.scene_min_interval = 1.5;
    check_times("scenes.mp4", &fo, (double[]){0, 2.2}, 2);
    /* exactly 1.0 s apart is far enough */
    fo.scene_min_interval = 1.0;
    check_times("scenes.mp4", &fo, (double[]){0, 1.0, 2.2}, 3);
    fo.scene_min_interval = 0;

    fo.count = 2;
    check_times("scenes.mp4", &fo, (double[]){0, 1.0}, 2);
    fo.count = 0;

    /* from a start: the first frame from there on opens the first scene */
    fo.start = 0.5;
    check_times("scenes.mp4", &fo, (double[]){0.52, 1.0, 2.2}, 3);
    fo.start = 1.0;
    check_times("scenes.mp4", &fo, (double[]){1.0, 2.2}, 2);
    fo.start = 1.5;
    check_times("scenes.mp4", &fo, (double[]){1.52, 2.2}, 2);
    fo.start = 0;

    /* a threshold above both cuts' scores (about 0.5): the first frame alone */
    fo.scene = 0.9;
    check_times("scenes.mp4", &fo, (double[]){0}, 1);

    /* on the MPEG-TS timeline: the same frames, at that file's times */
    double times[100];
    n = native_times("scenes.ts", times, 100);
    assert_int_equal(n, 80);
    fo.scene = 0.3;
    check_times("scenes.ts", &fo, (double[]){times[0], times[25], times[55]}, 3);

    /* a thumbnail ignores the selection, as it ignores start, every and count */
    fo.scene = 5;
    fo.scene_min_interval = -1;
    afmpeg_frame_list_free(thumb("scenes.mp4", 0, &fo));
}

/* ---- since 1.1: square pixels ------------------------------------------------------------ */

/* What Debian's ffprobe says an image's sample aspect ratio is ("1:1"; PNG's pHYs chunk, JPEG's
 * density). */
static void assert_square(const char *path)
{
    char *sar = sh_capture("ffprobe -v error -show_entries stream=sample_aspect_ratio -of csv=p=0 "
                           "'%s'", path);
    assert_non_null(sar);
    sar[strcspn(sar, "\n")] = '\0';
    assert_string_equal(sar, "1:1");
    free(sar);
}

static void assert_size(const afmpeg_frame_list *list, int width, int height)
{
    assert_int_equal(list->count, 1);
    if (list->frames[0].width != width || list->frames[0].height != height)
        fail_msg("%dx%d, expected %dx%d", list->frames[0].width, list->frames[0].height, width,
                 height);
}

/* One frame of `path` taken with `fo` is width x height. */
static void check_size(const char *path, const afmpeg_frames_options *fo, int width, int height)
{
    afmpeg_frame_list *list = take(path, fo);
    assert_size(list, width, height);
    afmpeg_frame_list_free(list);
}

/* Anamorphic 720x576 video comes out with square pixels: 64:45 (16:9) as 1024x576, 16:15 (4:3)
 * as 768x576, a side given alone following the display aspect ratio, both given exactly as
 * asked. ignore_sar, and a version 1 struct, keep 1.0's stored pixels. Square-pixel video and
 * video with no SAR at all keep their size (the 320x240 tests above: bit-exact to native). */
static void test_square_pixels(void **state)
{
    (void)state;
    afmpeg_frame_list *list = take("wide.mp4", NULL);
    assert_size(list, 1024, 576);
    const char *path = save(&list->frames[0], "wide.png");
    assert_probes_as(path, "png,1024,576");
    assert_square(path);
    afmpeg_frame_list_free(list);

    /* the pixels: native ffmpeg's scale to 1024x576 (same swscale C code, -cpuflags 0) */
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_RGB24;
    list = take("wide.mp4", &fo);
    assert_size(list, 1024, 576);
    size_t len;
    unsigned char *ref = native(&len, "wide.rgb", "-cpuflags 0 -i wide.mp4 -frames:v 1 -vf "
                                "scale=1024:576 -f rawvideo -pix_fmt rgb24");
    assert_int_equal(len, list->frames[0].size);
    assert_memory_equal(list->frames[0].data, ref, len);
    free(ref);
    afmpeg_frame_list_free(list);

    fo.format = AFMPEG_IMAGE_PNG;
    fo.width = 512;
    list = take("wide.mp4", &fo);
    assert_size(list, 512, 288);
    assert_square(save(&list->frames[0], "wide-w512.png"));
    afmpeg_frame_list_free(list);
    fo.width = 0;
    fo.height = 288;
    check_size("wide.mp4", &fo, 512, 288);
    /* 333 wide is 187.3 high, rounded: the image still says its pixels are square (scale alone
     * would say 2992:2997) */
    fo.width = 333;
    fo.height = 0;
    list = take("wide.mp4", &fo);
    assert_size(list, 333, 187);
    assert_square(save(&list->frames[0], "wide-w333.png"));
    afmpeg_frame_list_free(list);
    fo.width = 100;
    fo.height = 100;
    check_size("wide.mp4", &fo, 100, 100);

    /* -aspect 16:9 says the same with the encoder's and the container's SAR */
    fo.width = fo.height = 0;
    check_size("aspect.mp4", &fo, 1024, 576);
    /* 4:3 PAL: 768x576; 400 wide is 300 high */
    check_size("pal43.mp4", &fo, 768, 576);
    fo.width = 400;
    check_size("pal43.mp4", &fo, 400, 300);
    /* no SAR at all is square */
    fo.width = 0;
    check_size("nosar.mkv", &fo, 320, 240);

    /* the stored pixels, as asked */
    fo.ignore_sar = 1;
    check_size("wide.mp4", &fo, 720, 576);
    fo.width = 360;
    check_size("wide.mp4", &fo, 360, 288);

    /* A version 1 struct is read as 1.0 read it: the fields after count are not its own (here
     * garbage that version 2 would refuse), and the size is of the stored pixels. */
    afmpeg_frames_options v1 = AFMPEG_FRAMES_OPTIONS_INIT;
    v1.version = 1;
    v1.scene = NAN;
    v1.scene_min_interval = -1;
    v1.ignore_sar = 7;
    check_size("wide.mp4", &v1, 720, 576);
    v1.width = 360;
    check_size("wide.mp4", &v1, 360, 288);
    afmpeg_frame_list_free(thumb("wide.mp4", 0, &v1));

    /* thumbnails too */
    list = thumb("wide.mp4", 0, NULL);
    assert_size(list, 1024, 576);
    afmpeg_frame_list_free(list);
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_JPEG;
    fo.width = 320;
    list = thumb("aspect.mp4", 0.5, &fo);
    assert_size(list, 320, 180);
    path = save(&list->frames[0], "aspect-thumb.jpg");
    assert_probes_as(path, "mjpeg,320,180");
    assert_square(path);
    afmpeg_frame_list_free(list);
}

/* ---- since 1.1: WebP --------------------------------------------------------------------- */

static int module_has_libwebp(void)
{
    const afmpeg_module_info *info;
    assert_int_equal(afmpeg_module_info_get(rt, &info), AFMPEG_OK);
    for (const char *const *e = info->encoders; *e; e++)
        if (!strcmp(*e, "libwebp"))
            return 1;
    return 0;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* WebP frames and thumbnails: RIFF files of the frames' size, read back by Debian's ffmpeg
 * close to the video's frames, smaller than the JPEGs. Without libwebp in the module, both
 * calls fail with AFMPEG_ENOTSUP before any frame is decoded, and the rest is skipped. */
static void test_webp(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_WEBP;
    fo.count = 3;
    if (!module_has_libwebp()) {
        afmpeg_frame_list *list = (afmpeg_frame_list *)1;
        assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", &fo, NULL, &list), AFMPEG_ENOTSUP);
        assert_null(list);
        assert_no_function_name(afmpeg_last_error());
        assert_contains(afmpeg_last_error(), "libwebp");
        list = (afmpeg_frame_list *)1;
        assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", 0, &fo, NULL, &list),
                         AFMPEG_ENOTSUP);
        assert_null(list);
        assert_contains(afmpeg_last_error(), "libwebp");
        fprintf(stderr, "skipped: the module has no libwebp encoder; WebP images are not "
                "tested past the error\n");
        skip();
    }
    afmpeg_frame_list *list = take("in.mp4", &fo);
    assert_int_equal(list->count, 3);
    for (size_t i = 0; i < 3; i++) {
        const afmpeg_frame *f = &list->frames[i];
        assert_int_equal(f->format, AFMPEG_IMAGE_WEBP);
        assert_int_equal(f->width, 320);
        assert_int_equal(f->height, 240);
        assert_time(f->time, 0.04 * i);
        assert_memory_equal(f->data, "RIFF", 4);
        assert_memory_equal(f->data + 8, "WEBP", 4);
        assert_int_equal(f->size, le32(f->data + 4) + 8);
    }
    const char *path = save(&list->frames[1], "second.webp");
    assert_probes_as(path, "webp,320,240");
    double err = error_against_frame1("second.webp");
    fprintf(stderr, "WebP (quality %s) mean absolute error: %.2f levels, %zu bytes\n",
            WEBP_QUALITY, err, list->frames[1].size);
    assert_true(err < 6);
    afmpeg_frames_options jo = fo;
    jo.format = AFMPEG_IMAGE_JPEG;
    afmpeg_frame_list *jpeg = take("in.mp4", &jo);
    assert_true(list->frames[1].size < jpeg->frames[1].size);
    afmpeg_frame_list_free(jpeg);
    afmpeg_frame_list_free(list);

    /* a scaled thumbnail, and an anamorphic frame with square pixels */
    fo.width = 160;
    list = thumb("in.mp4", 1, &fo);
    assert_probes_as(save(&list->frames[0], "thumb.webp"), "webp,160,120");
    afmpeg_frame_list_free(list);
    fo.width = 0;
    fo.count = 1;
    list = take("wide.mp4", &fo);
    assert_size(list, 1024, 576);
    assert_probes_as(save(&list->frames[0], "wide.webp"), "webp,1024,576");
    afmpeg_frame_list_free(list);
}

/* Runs the argv build_argv makes for `p` with Debian's ffmpeg (FFmpeg 5.1 as in the module,
 * with libwebp) on the host's copy of the file, and feeds what it wrote to stderr, then to
 * stdout, to `c` as a guest job's output would be. */
static void run_native_plan(const plan *p, collector *c)
{
    char input[600], seek[40], graph[1024], frames[16], out_path[600], err_path[600];
    snprintf(input, sizeof input, "%s/%s", media_dir, p->path);
    snprintf(out_path, sizeof out_path, "%s/native-plan.out", media_dir);
    snprintf(err_path, sizeof err_path, "%s/native-plan.err", media_dir);
    const char *argv[48];
    assert_int_equal(build_argv(p, argv, input, seek, graph, sizeof graph, frames), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execvp("ffmpeg", (char *const *)argv);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    size_t len = 0;
    void *err = read_host_file(err_path, &len);
    assert_non_null(err);
    assert_int_equal(on_stderr(err, len, c), 0);
    afm_lines_flush(&c->lines);
    free(err);
    void *out = read_host_file(out_path, &len);
    assert_non_null(out);
    assert_int_equal(on_stdout(out, len, c), 0);
    free(out);
    assert_int_equal(c->fail, 0);
    assert_int_equal(c->cur, c->len); /* whole images only */
}

/* The WebP job as the library builds it (build_argv), run by Debian's ffmpeg, whose libwebp the
 * module lacks for now: the encoder's options are taken, and the output splits into the
 * images showinfo describes, of the sizes asked for. */
static void test_webp_argv_native(void **state)
{
    (void)state;
    plan p = {"in.mp4", AFMPEG_FRAMES_OPTIONS_INIT, 0, 0, 0, 0};
    p.fo.format = AFMPEG_IMAGE_WEBP;
    p.fo.count = 3;
    collector c;
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    run_native_plan(&p, &c);
    assert_int_equal(c.image_count, 3);
    assert_true(c.show_count >= 3); /* the graph may show a frame more than is encoded */
    for (size_t i = 0; i < 3; i++) {
        assert_time(c.shows[i].time, 0.04 * i);
        assert_int_equal(c.shows[i].width, 320);
        const unsigned char *img = c.data + c.images[i].offset;
        assert_memory_equal(img + 8, "WEBPVP8 ", 8); /* lossy */
        afmpeg_frame f = {0, 320, 240, AFMPEG_IMAGE_WEBP, c.images[i].size, img};
        assert_probes_as(save(&f, "native-plan.webp"), "webp,320,240");
    }
    collector_free(&c);

    /* anamorphic, square pixels, from a start: one frame of 1024x576 */
    p.path = "wide.mp4";
    p.fo.count = 1;
    p.from = p.seek = 0.5;
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    run_native_plan(&p, &c);
    assert_int_equal(c.image_count, 1);
    assert_time(c.shows[0].time, 0.52);
    afmpeg_frame f = {0, 1024, 576, AFMPEG_IMAGE_WEBP, c.images[0].size, c.data};
    assert_probes_as(save(&f, "native-plan.webp"), "webp,1024,576");
    collector_free(&c);

    /* a thumbnail 160 wide */
    plan t = {"in.mp4", AFMPEG_FRAMES_OPTIONS_INIT, 1, 1, 0, 1};
    t.fo.format = AFMPEG_IMAGE_WEBP;
    t.fo.width = 160;
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    run_native_plan(&t, &c);
    assert_int_equal(c.image_count, 1);
    assert_true(c.shows[0].time >= 1.0);
    f = (afmpeg_frame){0, 160, 120, AFMPEG_IMAGE_WEBP, c.images[0].size, c.data};
    assert_probes_as(save(&f, "native-plan.webp"), "webp,160,120");
    collector_free(&c);
}

static void test_media_errors(void **state)
{
    (void)state;
    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "audio.m4a", NULL, NULL, &list), AFMPEG_EMEDIA);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "audio.m4a");
    assert_contains(afmpeg_last_error(), "has no video stream");
    assert_runtime_works();

    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "audio.m4a", 1, NULL, NULL, &list), AFMPEG_EMEDIA);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "has no video stream");
    assert_runtime_works();

    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "garbage.bin", NULL, NULL, &list), AFMPEG_EMEDIA);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "Invalid data found when processing input");
    assert_runtime_works();

    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "missing.mp4", 0, NULL, NULL, &list),
                     AFMPEG_ENOENT);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "missing.mp4");
    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "/no/such/dir/x.mp4", NULL, NULL, &list),
                     AFMPEG_ENOENT);
    assert_null(list);
    /* a directory is not media: AFMPEG_EISDIR, as afmpeg_probe() says of it (API 1.0; it was
     * AFMPEG_EMEDIA) */
    assert_int_equal(afmpeg_fs_mkdir(fs, "/adir"), AFMPEG_OK);
    assert_int_equal(afmpeg_frames(rt, fs, "adir", NULL, NULL, &list), AFMPEG_EISDIR);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "directory");
    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "adir", 0, NULL, NULL, &list), AFMPEG_EISDIR);
    assert_null(list);
    assert_string_equal(afmpeg_last_error(), "adir: is a directory");
    assert_runtime_works();
}

/* Names that ffmpeg would not read as plain files ("-" is stdin, "x:..." a protocol) are files
 * all the same. */
static void test_odd_names(void **state)
{
    (void)state;
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/in.mp4", media_dir);
    void *data = read_host_file(path, &len);
    assert_non_null(data);
    assert_int_equal(afmpeg_fs_write_file(fs, "-", data, len), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "pipe:0", data, len), AFMPEG_OK);
    free(data);
    afmpeg_frame_list *list = take("-", NULL);
    assert_int_equal(list->count, 1);
    afmpeg_frame_list_free(list);
    list = take("pipe:0", NULL);
    assert_int_equal(list->count, 1);
    afmpeg_frame_list_free(list);
    assert_int_equal(afmpeg_fs_remove(fs, "-"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_remove(fs, "pipe:0"), AFMPEG_OK);
}

/* Each bad option is refused before anything runs, with a message naming it. */
static void check_bad(const afmpeg_frames_options *fo, const char *field)
{
    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", fo, NULL, &list), AFMPEG_EINVAL);
    assert_null(list);
    assert_contains(afmpeg_last_error(), field);
}

static void test_bad_options(void **state)
{
    (void)state;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.version = 0;
    check_bad(&fo, "version");
    fo.version = 99;
    check_bad(&fo, "version");
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = (afmpeg_image_format)7;
    check_bad(&fo, "format");
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.width = -2;
    check_bad(&fo, "width");
    fo.width = 100000;
    check_bad(&fo, "width");
    fo.width = 0;
    fo.height = -1;
    check_bad(&fo, "height");
    fo.width = fo.height = 16384;
    fo.format = AFMPEG_IMAGE_RGBA;
    check_bad(&fo, "width x height");
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.start = -1;
    check_bad(&fo, "start");
    fo.start = NAN;
    check_bad(&fo, "start");
    fo.start = INFINITY;
    check_bad(&fo, "start");
    fo.start = 0;
    fo.every = -0.5;
    check_bad(&fo, "every");
    fo.every = 1e-9;
    check_bad(&fo, "every");
    fo.every = NAN;
    check_bad(&fo, "every");
    fo.every = 0;
    fo.count = 4000000000u;
    check_bad(&fo, "count");
    /* since 1.1 */
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    double bad_scene[] = {-0.1, 1, 1.5, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_scene / sizeof bad_scene[0]; i++) {
        fo.scene = bad_scene[i];
        check_bad(&fo, "scene");
    }
    fo.scene = 0.3;
    fo.every = 1;
    check_bad(&fo, "scene and every cannot be used together");
    fo.every = 0;
    fo.scene_min_interval = -1;
    check_bad(&fo, "scene_min_interval");
    fo.scene_min_interval = NAN;
    check_bad(&fo, "scene_min_interval");
    fo.scene = 0;
    fo.scene_min_interval = 1;
    check_bad(&fo, "scene_min_interval 1 needs scene");
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.ignore_sar = 2;
    check_bad(&fo, "ignore_sar");
    fo.ignore_sar = -1;
    check_bad(&fo, "ignore_sar");

    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", -1, NULL, NULL, &list), AFMPEG_EINVAL);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "time");
    assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", NAN, NULL, NULL, &list), AFMPEG_EINVAL);
    fo = (afmpeg_frames_options)AFMPEG_FRAMES_OPTIONS_INIT;
    fo.height = -3;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", 0, &fo, NULL, &list), AFMPEG_EINVAL);
    assert_contains(afmpeg_last_error(), "height");
    fo.height = 0;
    fo.ignore_sar = 3;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", 0, &fo, NULL, &list), AFMPEG_EINVAL);
    assert_contains(afmpeg_last_error(), "ignore_sar");

    /* the call's own arguments */
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", NULL, NULL, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_frames(NULL, fs, "in.mp4", NULL, NULL, &list), AFMPEG_EINVAL);
    assert_null(list);
    assert_int_equal(afmpeg_frames(rt, NULL, "in.mp4", NULL, NULL, &list), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_frames(rt, fs, NULL, NULL, NULL, &list), AFMPEG_EINVAL);
    assert_contains(afmpeg_last_error(), "path");
    assert_int_equal(afmpeg_frames(rt, fs, "", NULL, NULL, &list), AFMPEG_EINVAL);
    afmpeg_job_options jo = AFMPEG_JOB_OPTIONS_INIT;
    jo.version = 77;
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", NULL, &jo, &list), AFMPEG_EINVAL);
    assert_contains(afmpeg_last_error(), "version");
    assert_null(list);
    assert_runtime_works();
}

/* Job options reach the guest job: limits (stdout counts against output_limit), a struct with
 * callbacks frames never calls, and a cancel token, before or while the job runs. */
static void test_job_options(void **state)
{
    (void)state;
    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    afmpeg_job_options jo = AFMPEG_JOB_OPTIONS_INIT;
    jo.limits.output_limit = 1000; /* a PNG of the frame is about 20 KB */
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", NULL, &jo, &list), AFMPEG_ELIMIT);
    assert_null(list);
    assert_runtime_works();

    /* a version 1 struct, with callbacks afmpeg_frames() must not call (it keeps its output
     * and reports no progress) */
    afmpeg_job_options v1 = AFMPEG_JOB_OPTIONS_INIT;
    v1.version = 1;
    v1.on_progress = (afmpeg_progress_fn)1;
    v1.on_stdout = (afmpeg_output_fn)1;
    v1.on_stderr = (afmpeg_output_fn)1;
    list = NULL;
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", NULL, &v1, &list), AFMPEG_OK);
    assert_int_equal(list->count, 1);
    afmpeg_frame_list_free(list);

    /* every frame as PNG takes far longer than 5 ms */
    jo = (afmpeg_job_options)AFMPEG_JOB_OPTIONS_INIT;
    jo.limits.timeout_ms = 5;
    afmpeg_frames_options all = AFMPEG_FRAMES_OPTIONS_INIT;
    all.every = 0.04;
    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", &all, &jo, &list), AFMPEG_ETIMEDOUT);
    assert_null(list);
    assert_contains(afmpeg_last_error(), "deadline");
    assert_runtime_works();

    afmpeg_cancel_token *tok;
    assert_int_equal(afmpeg_cancel_token_new(&tok), AFMPEG_OK);
    afmpeg_cancel_token_cancel(tok);
    jo = (afmpeg_job_options)AFMPEG_JOB_OPTIONS_INIT;
    jo.cancel = tok;
    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, fs, "in.mp4", NULL, &jo, &list), AFMPEG_ECANCELLED);
    assert_null(list);
    assert_no_function_name(afmpeg_last_error());
    assert_contains(afmpeg_last_error(), "cancelled");
    list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_thumbnail(rt, fs, "in.mp4", 0, NULL, &jo, &list),
                     AFMPEG_ECANCELLED);
    assert_null(list);
    afmpeg_cancel_token_free(tok);
    assert_runtime_works();
}

/* A filesystem that cancels its token on the n-th read: a cancel that lands while the guest
 * runs, at a deterministic point. */
typedef struct cancel_fs {
    const unsigned char *data;
    size_t len;
    afmpeg_cancel_token *token;
    int reads, cancel_at;
} cancel_fs;

static int cf_open(void *p, const char *path, unsigned flags, void **h)
{
    (void)p;
    if (strcmp(path, "in.mp4") != 0)
        return -2; /* -ENOENT */
    if (flags & AFMPEG_FS_WRITE)
        return -13; /* -EACCES */
    *h = (void *)1;
    return 0;
}

static int cf_close(void *p, void *h)
{
    (void)p;
    (void)h;
    return 0;
}

static int64_t cf_pread(void *p, void *h, void *buf, size_t len, uint64_t off)
{
    (void)h;
    cancel_fs *c = p;
    if (++c->reads == c->cancel_at)
        afmpeg_cancel_token_cancel(c->token);
    if (off >= c->len)
        return 0;
    size_t n = c->len - off < len ? c->len - off : len;
    memcpy(buf, c->data + off, n);
    return (int64_t)n;
}

static int64_t cf_pwrite(void *p, void *h, const void *buf, size_t len, uint64_t off)
{
    (void)p;
    (void)h;
    (void)buf;
    (void)len;
    (void)off;
    return -13; /* -EACCES: nothing may be written */
}

static int cf_stat(void *p, const char *path, afmpeg_fs_stat *st)
{
    cancel_fs *c = p;
    memset(st, 0, sizeof *st);
    if (!*path) {
        st->type = AFMPEG_FS_TYPE_DIRECTORY;
        return 0;
    }
    if (strcmp(path, "in.mp4") != 0)
        return -2;
    st->type = AFMPEG_FS_TYPE_FILE;
    st->size = c->len;
    st->ino = 1;
    return 0;
}

static int cf_fstat(void *p, void *h, afmpeg_fs_stat *st)
{
    (void)h;
    return cf_stat(p, "in.mp4", st);
}

static void test_cancel_while_running(void **state)
{
    (void)state;
    char path[512];
    cancel_fs c = {0};
    snprintf(path, sizeof path, "%s/in.mp4", media_dir);
    void *data = read_host_file(path, &c.len);
    assert_non_null(data);
    c.data = data;
    c.cancel_at = 3;
    assert_int_equal(afmpeg_cancel_token_new(&c.token), AFMPEG_OK);
    afmpeg_fs_ops ops = {AFMPEG_FS_OPS_VERSION, cf_open, cf_close, cf_pread, cf_pwrite, cf_fstat,
                         NULL, cf_stat, NULL, NULL, NULL, NULL, NULL, NULL};
    afmpeg_fs *cfs;
    assert_int_equal(afmpeg_fs_new_custom(&ops, &c, &cfs), AFMPEG_OK);
    afmpeg_job_options jo = AFMPEG_JOB_OPTIONS_INIT;
    jo.cancel = c.token;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.every = 0.5;
    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(rt, cfs, "in.mp4", &fo, &jo, &list), AFMPEG_ECANCELLED);
    assert_null(list);
    assert_true(c.reads >= 3);
    afmpeg_cancel_token_free(c.token);

    /* the same filesystem without a cancel works */
    c.cancel_at = -1;
    c.token = NULL;
    list = NULL;
    assert_int_equal(afmpeg_frames(rt, cfs, "in.mp4", &fo, NULL, &list), AFMPEG_OK);
    assert_int_equal(list->count, 6);
    afmpeg_frame_list_free(list);
    afmpeg_fs_free(cfs);
    free(data);
    assert_runtime_works();
}

typedef struct pool_call {
    afmpeg_runtime *pool; /* a runtime of several instances */
    int thumbnail;
    int err;
    size_t count;
    double time;
} pool_call;

static void *pool_worker(void *arg)
{
    pool_call *pc = arg;
    afmpeg_frame_list *list = NULL;
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.every = 1;
    pc->err = pc->thumbnail ? afmpeg_thumbnail(pc->pool, fs, "in.ts", 2.0, NULL, NULL, &list)
                            : afmpeg_frames(pc->pool, fs, "in.mp4", &fo, NULL, &list);
    if (!pc->err) {
        pc->count = list->count;
        pc->time = list->frames[0].time;
    }
    afmpeg_frame_list_free(list);
    return NULL;
}

static void test_instances(void **state)
{
    (void)state;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    pool_call calls[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        calls[i] = (pool_call){pool, i % 2, -1, 0, -1};
        assert_int_equal(pthread_create(&th[i], NULL, pool_worker, &calls[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(calls[i].err, AFMPEG_OK);
        if (calls[i].thumbnail) {
            assert_int_equal(calls[i].count, 1);
            assert_true(calls[i].time >= 2.0);
        } else {
            assert_int_equal(calls[i].count, 3);
            assert_time(calls[i].time, 0);
        }
    }
    afmpeg_frame_list *list = (afmpeg_frame_list *)1;
    assert_int_equal(afmpeg_frames(pool, fs, "audio.m4a", NULL, NULL, &list),
                     AFMPEG_EMEDIA);
    assert_null(list);
    assert_int_equal(afmpeg_thumbnail(pool, fs, "missing", 0, NULL, NULL, &list),
                     AFMPEG_ENOENT);
    assert_int_equal(afmpeg_frames(NULL, fs, "in.mp4", NULL, NULL, &list), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_thumbnail(NULL, fs, "in.mp4", 0, NULL, NULL, &list),
                     AFMPEG_EINVAL);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

/* ---- the splitter, fed in pieces --------------------------------------------------------- */

/* Feeds `data` to a collector's stdout callback in pieces of `step` bytes (a whole image can
 * end, and a marker or a chunk header be cut, anywhere) and checks the images found. */
static void check_split(afmpeg_image_format format, const unsigned char *data, size_t len,
                        const size_t *ends, size_t count, size_t step)
{
    collector c;
    collector_init(&c, format, 0);
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(on_stdout(data + off, n, &c), 0);
    }
    assert_int_equal(c.fail, 0);
    assert_int_equal(c.image_count, count);
    assert_int_equal(c.cur, len);
    size_t start = 0;
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(c.images[i].offset, start);
        assert_int_equal(c.images[i].offset + c.images[i].size, ends[i]);
        start = ends[i];
    }
    collector_free(&c);
}

/* Real images from the guest (3 PNGs, 3 JPEGs) one after the other, plus a hand-made JPEG with
 * the cases the encoder does not produce (an EOI pattern inside a segment, stuffing, restart
 * markers, fill bytes), split after every byte count from 1 to 13 and at 4096. */
static void test_splitter(void **state)
{
    (void)state;
    static const unsigned char odd_jpeg[] = {
        0xFF, 0xD8,                                            /* SOI */
        0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD9, 0xFF, 0xD8, 0xFF, 0x00, /* APP1 holding FFD9 */
        0xFF, 0xFF, 0xFF, 0xDB, 0x00, 0x03, 0x42,              /* fill, then DQT */
        0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02,                    /* SOS */
        0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00,  /* data, stuffing, RST0 */
        0xFF, 0xFF, 0xFF, 0xC4, 0x00, 0x02,                    /* fill, then DHT (empty) */
        0xFF, 0xDA, 0x00, 0x02, 0xAB, 0xFF, 0xD7, 0xCD,        /* a second scan */
        0xFF, 0xD9};                                           /* EOI */
    afmpeg_image_format formats[] = {AFMPEG_IMAGE_PNG, AFMPEG_IMAGE_JPEG};
    for (int k = 0; k < 2; k++) {
        afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
        fo.format = formats[k];
        fo.count = 3;
        afmpeg_frame_list *list = take("in.mp4", &fo);
        assert_int_equal(list->count, 3);
        size_t len = 0, ends[4], count = 0, total = sizeof odd_jpeg;
        for (size_t i = 0; i < 3; i++)
            total += list->frames[i].size;
        unsigned char *all = malloc(total);
        assert_non_null(all);
        for (size_t i = 0; i < 3; i++) {
            memcpy(all + len, list->frames[i].data, list->frames[i].size);
            len += list->frames[i].size;
            ends[count++] = len;
        }
        if (formats[k] == AFMPEG_IMAGE_JPEG) {
            memcpy(all + len, odd_jpeg, sizeof odd_jpeg);
            len += sizeof odd_jpeg;
            ends[count++] = len;
        }
        for (size_t step = 1; step <= 13; step++)
            check_split(formats[k], all, len, ends, count, step);
        check_split(formats[k], all, len, ends, count, 4096);
        free(all);
        afmpeg_frame_list_free(list);
    }

    /* WebP, from Debian's ffmpeg (libwebp, as the module's would write them): three files made
     * one by one, so their lengths say where each ends, written one after the other */
    assert_int_equal(sh("cd %s && for t in 0 1 2; do ffmpeg -nostdin -v error -y -ss $t "
                        "-i in.mp4 -frames:v 1 -c:v libwebp -f image2pipe split-$t.webp || "
                        "exit 1; done", media_dir), 0);
    {
        unsigned char *all = NULL;
        size_t len = 0, ends[3];
        for (int t = 0; t < 3; t++) {
            char path[600];
            size_t n = 0;
            snprintf(path, sizeof path, "%s/split-%d.webp", media_dir, t);
            unsigned char *one = read_host_file(path, &n);
            assert_non_null(one);
            assert_memory_equal(one, "RIFF", 4);
            all = realloc(all, len + n);
            assert_non_null(all);
            memcpy(all + len, one, n);
            len += n;
            ends[t] = len;
            free(one);
        }
        for (size_t step = 1; step <= 13; step++)
            check_split(AFMPEG_IMAGE_WEBP, all, len, ends, 3, step);
        check_split(AFMPEG_IMAGE_WEBP, all, len, ends, 3, 4096);
        free(all);
    }

    /* not an image: the output is refused and the job would stop */
    collector c;
    collector_init(&c, AFMPEG_IMAGE_JPEG, 0);
    assert_int_not_equal(on_stdout("GIF89a", 6, &c), 0);
    assert_int_equal(c.fail, AFMPEG_ERROR);
    collector_free(&c);
    collector_init(&c, AFMPEG_IMAGE_PNG, 0);
    assert_int_not_equal(on_stdout(odd_jpeg, sizeof odd_jpeg, &c), 0);
    assert_int_equal(c.fail, AFMPEG_ERROR);
    collector_free(&c);
    /* a RIFF file that is not WebP (a WAV), one too short to hold a chunk, and one whose size
     * says it is over the limit (refused at once, before its bytes arrive) */
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    assert_int_not_equal(on_stdout("RIFF\x24\0\0\0WAVEfmt ", 16, &c), 0);
    assert_int_equal(c.fail, AFMPEG_ERROR);
    assert_contains(c.fail_msg, "not a WebP image");
    collector_free(&c);
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    assert_int_not_equal(on_stdout("RIFF\x04\0\0\0WEBP", 12, &c), 0);
    assert_int_equal(c.fail, AFMPEG_ERROR);
    collector_free(&c);
    collector_init(&c, AFMPEG_IMAGE_WEBP, 0);
    assert_int_not_equal(on_stdout("RIFF\xf0\xff\xff\x7fWEBPVP8 ", 16, &c), 0);
    assert_int_equal(c.fail, AFMPEG_ELIMIT);
    assert_contains(c.fail_msg, "over 256 MiB");
    collector_free(&c);
}

/* stderr in pieces: showinfo's lines give times (pts x time base, exact) and sizes, which cut
 * raw pixels into frames; FFmpeg's error lines, continued over several lines, are kept. */
static void test_log_parsing(void **state)
{
    (void)state;
    static const char log[] =
        "[info] Input #0, mpegts, from 'in.ts':\n"
        "[Parsed_showinfo_0 @ 0x1] [info] config in time_base: 1/90000, frame_rate: 25/1\n"
        "[Parsed_showinfo_2 @ 0x2] [info] config in time_base: 1/90000, frame_rate: 25/1\n"
        "[Parsed_showinfo_0 @ 0x1] [info] n:   0 pts: 123300 pts_time:1.37    pos: 564 "
        "fmt:yuv420p sar:1/1 s:320x240 i:P iskey:1 type:I\n"
        "[Parsed_showinfo_2 @ 0x2] [info] n:   0 pts: 8589934592123 pts_time:95443.7 pos: 564 "
        "fmt:yuv420p sar:1/1 s:4x2 i:P iskey:1 type:I\n"
        "[Parsed_showinfo_2 @ 0x2] [info]   side data - User Data Unregistered:\n"
        "[Parsed_showinfo_2 @ 0x2] [info] color_range:unknown color_space:unknown\n"
        "[Parsed_showinfo_2 @ 0x2] [info] n:   1 pts: NOPTS pos: 1 fmt:yuv420p sar:1/1 "
        "s:2x1 i:P\n"
        "[swscaler @ 0x3] [warning] No accelerated colorspace conversion found\n"
        "[mov,mp4 @ 0x4] [error] moov atom not found\n"
        "[fatal] Stream map '0:v:0' matches no streams.\n"
        "To ignore this, add a trailing '?' to the map.\n"
        "[info] the end, without a newline";
    for (size_t step = 1; step <= 64; step *= 4) {
        collector c;
        collector_init(&c, AFMPEG_IMAGE_RGB24, 1);
        unsigned char pixels[4 * 2 * 3 + 2 * 1 * 3];
        memset(pixels, 7, sizeof pixels);
        /* pixels before the line that sizes them wait for it */
        assert_int_equal(on_stdout(pixels, 5, &c), 0);
        assert_int_equal(c.image_count, 0);
        for (size_t off = 0; off < sizeof log - 1; off += step) {
            size_t n = sizeof log - 1 - off < step ? sizeof log - 1 - off : step;
            assert_int_equal(on_stderr(log + off, n, &c), 0);
        }
        assert_int_equal(on_stdout(pixels + 5, sizeof pixels - 5, &c), 0);
        assert_int_equal(c.fail, 0);
        assert_int_equal(c.show_count, 2);
        assert_int_equal(c.image_count, 2);
        assert_int_equal(c.images[0].size, 24);
        assert_int_equal(c.images[1].size, 6);
        assert_time(c.first_decoded, 1.37);
        assert_true(c.shows[0].time == 8589934592123.0 / 90000);
        assert_true(isnan(c.shows[1].time));
        assert_int_equal(c.shows[0].width, 4);
        assert_int_equal(c.shows[1].height, 1);
        collector_free(&c);
    }
    /* The failure message's part: FFmpeg's error lines, a continued one with them (the one
     * summary every library job uses, afm_stderr_summary, over the job's kept stderr). */
    afmpeg_result r;
    memset(&r, 0, sizeof r);
    r.err.data = (char *)log;
    r.err.len = sizeof log - 1;
    char tail[2000];
    afm_stderr_summary(&r, tail, sizeof tail);
    assert_string_equal(tail, "moov atom not found\nStream map '0:v:0' matches no "
                              "streams.\nTo ignore this, add a trailing '?' to the map.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_init),
        cmocka_unit_test(test_splitter),
        cmocka_unit_test(test_log_parsing),
        cmocka_unit_test(test_first_frame_png),
        cmocka_unit_test(test_frame_at_one_second_rgb24),
        cmocka_unit_test(test_every_second),
        cmocka_unit_test(test_count_consecutive),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_jpeg),
        cmocka_unit_test(test_rgba),
        cmocka_unit_test(test_mpegts_timeline),
        cmocka_unit_test(test_start_past_end),
        cmocka_unit_test(test_thumbnail),
        cmocka_unit_test(test_scene),
        cmocka_unit_test(test_square_pixels),
        cmocka_unit_test(test_webp),
        cmocka_unit_test(test_webp_argv_native),
        cmocka_unit_test(test_media_errors),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_job_options),
        cmocka_unit_test(test_cancel_while_running),
        cmocka_unit_test(test_instances),
    };
    return cmocka_run_group_tests_name("frames", tests, setup, teardown);
}
