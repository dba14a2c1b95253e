/* The typed probe (afmpeg_probe) on real media made by Debian's native ffmpeg, checked field by
 * field against Debian's native ffprobe (the same FFmpeg 5.1) run on the same file; malformed
 * inputs, bad paths and arguments, runtimes of several instances and cancellation. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <strings.h>
#include "engine_util.h"
/* The JSON ffprobe prints cannot be chosen through the public API, so to feed the parser hostile
 * documents the suite compiles lib/probe/probe.c itself: its definitions stand in for the
 * library's copy of the same file (the linker then takes nothing from probe.o). */
#include "probe/probe.c"

static afmpeg_runtime *rt;

/* The media, all at most 1 s and small. Made in media_dir (engine_util's scratch directory, which
 * put_media reads and remove_media deletes), but shorter than make_media's so the suite is fast. */
static int make_probe_media(void)
{
    snprintf(media_dir, sizeof media_dir, "/tmp/afmpeg-probe-XXXXXX");
    if (!mkdtemp(media_dir))
        return -1;
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1";
    const char *v = "-f lavfi -i testsrc2=size=160x120:rate=25:duration=1";
    const char *a = "-f lavfi -i sine=frequency=440:duration=1";
    const char *a2 = "-f lavfi -i sine=frequency=880:duration=1";
    const char *still = "-f lavfi -i testsrc2=size=64x48 -frames:v 1";
    char srt[600], meta[600];
    snprintf(srt, sizeof srt, "%s/subs.srt", media_dir);
    snprintf(meta, sizeof meta, "%s/chapters.txt", media_dir);
    static const char subs_text[] = "1\n00:00:00,000 --> 00:00:00,500\nHello\n\n"
                                    "2\n00:00:00,500 --> 00:00:01,000\nWorld\n";
    static const char chapters_text[] = ";FFMETADATA1\ntitle=Chaptered\n"
                                        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=400\n"
                                        "title=Intro\n"
                                        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=400\nEND=1000\n"
                                        "title=Main part\n";
    if (write_host_file(srt, subs_text, sizeof subs_text - 1) ||
        write_host_file(meta, chapters_text, sizeof chapters_text - 1))
        return -1;
    int rc = 0;
    rc |= sh("cd %s && %s %s %s -c:v libx264 -pix_fmt yuv420p -c:a aac -ac 2 -shortest "
             "h264_aac.mp4", media_dir, ff, v, a);
    rc |= sh("cd %s && %s %s %s -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p "
             "-c:a libopus hevc_opus.mkv", media_dir, ff, v, a);
    rc |= sh("cd %s && %s %s %s -c:v libvpx-vp9 -b:v 100k -c:a libvorbis vp9_vorbis.webm",
             media_dir, ff, v, a);
    rc |= sh("cd %s && %s %s -c:a libmp3lame audio.mp3 && %s %s audio.flac && %s %s audio.wav",
             media_dir, ff, a, ff, a, ff, a);
    rc |= sh("cd %s && %s %s still.png && %s %s still.jpg && %s %s still.webp", media_dir, ff,
             still, ff, still, ff, still);
    /* Two audio tracks with languages, titles and dispositions. The mp4 muxer writes no stream
     * titles, so titles are checked on the Matroska file. */
    rc |= sh("cd %s && %s %s %s %s -map 0 -map 1 -map 2 -c:v libx264 -c:a aac "
             "-metadata:s:a:0 language=eng -metadata:s:a:0 title=English "
             "-metadata:s:a:1 language=fra -metadata:s:a:1 'title=Français commentaire' "
             "-disposition:a:0 default -disposition:a:1 comment+forced langs.mkv",
             media_dir, ff, v, a, a2);
    rc |= sh("cd %s && %s %s %s %s -map 0 -map 1 -map 2 -c:v libx264 -c:a aac "
             "-metadata:s:a:0 language=eng -metadata:s:a:1 language=fra "
             "-disposition:a:0 default -disposition:a:1 0 langs.mp4", media_dir, ff, v, a, a2);
    /* FFmpeg 5.1's ffmpeg turns a "rotate" tag into a display matrix only when the stream is
     * copied (-display_rotation came in 6.0); ffprobe then shows the matrix as side data. */
    rc |= sh("cd %s && %s -i h264_aac.mp4 -c copy -metadata:s:v:0 rotate=90 rotated.mp4",
             media_dir, ff);
    rc |= sh("cd %s && %s %s -i subs.srt -c:v libx264 -c:s srt -metadata:s:s:0 language=eng "
             "subs.mkv && %s %s -i subs.srt -c:v libx264 -c:s mov_text "
             "-metadata:s:s:0 language=deu subs.mp4", media_dir, ff, v, ff, v);
    /* The mp4 muxer writes chapters as a text track too, which ffprobe shows as a data stream. */
    rc |= sh("cd %s && %s %s %s -i chapters.txt -map 0 -map 1 -map_metadata 2 -map_chapters 2 "
             "-c:v libx264 -c:a aac chapters.mkv && %s %s %s -i chapters.txt -map 0 -map 1 "
             "-map_metadata 2 -map_chapters 2 -c:v libx264 -c:a aac chapters.mp4",
             media_dir, ff, v, a, ff, v, a);
    rc |= sh("cd %s && %s %s -i still.png -map 0 -map 1 -c:a libmp3lame -c:v copy "
             "-id3v2_version 3 -metadata:s:v 'title=Album cover' "
             "-metadata:s:v 'comment=Cover (front)' -disposition:v attached_pic cover.mp3",
             media_dir, ff, a);
    /* Codecs the module has no decoder or parser for (module/ffmpeg.conf). */
    rc |= sh("cd %s && %s %s %s -c:v mpeg2video -c:a ac3 mpeg2_ac3.mkv", media_dir, ff, v, a);
    /* Malformed inputs. */
    rc |= sh("cd %s && : > empty.mp4 && head -c 1000 h264_aac.mp4 > truncated.mp4 && "
             "cp h264_aac.mp4 mp4_named.wav", media_dir);
    unsigned char garbage[4096];
    uint32_t x = 0x12345678u; /* xorshift: the same bytes every run */
    for (size_t i = 0; i < sizeof garbage; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage[i] = (unsigned char)x;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/garbage.bin", media_dir);
    rc |= write_host_file(path, garbage, sizeof garbage);
    return rc ? -1 : 0;
}

static int setup(void **state)
{
    (void)state;
    if (make_probe_media())
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

/* ---- what native ffprobe says -------------------------------------------------------------------
 * Read independently of lib/probe: with strtoll/strtod (the test runs in the C locale). */

static json_t *native_probe(const char *name)
{
    char *text = sh_capture("ffprobe -v error -print_format json -show_format -show_streams "
                            "-show_chapters '%s/%s'", media_dir, name);
    if (!text)
        fail_msg("native ffprobe failed on %s", name);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("native ffprobe's JSON for %s: %s", name, jerr.text);
    free(text);
    return root;
}

static const char *n_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static long long n_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        long long n = strtoll(s, &end, 10);
        if (end != s && !*end)
            return n;
    }
    return -1;
}

static double n_time(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        char *end;
        const char *s = json_string_value(v);
        double d = strtod(s, &end);
        if (end != s && !*end)
            return d;
    }
    return NAN;
}

static afmpeg_rational n_rational(json_t *o, const char *key)
{
    afmpeg_rational r = {0, 0};
    int num, den;
    char sep;
    if (sscanf(n_str(o, key), "%d%c%d", &num, &sep, &den) == 3 && (sep == '/' || sep == ':')) {
        r.num = num;
        r.den = den;
    }
    return r;
}

static unsigned n_disposition(json_t *stream)
{
    static const struct {
        const char *name;
        unsigned flag;
    } names[] = {{"default", AFMPEG_DISPOSITION_DEFAULT},
                 {"dub", AFMPEG_DISPOSITION_DUB},
                 {"original", AFMPEG_DISPOSITION_ORIGINAL},
                 {"comment", AFMPEG_DISPOSITION_COMMENT},
                 {"lyrics", AFMPEG_DISPOSITION_LYRICS},
                 {"karaoke", AFMPEG_DISPOSITION_KARAOKE},
                 {"forced", AFMPEG_DISPOSITION_FORCED},
                 {"hearing_impaired", AFMPEG_DISPOSITION_HEARING_IMPAIRED},
                 {"visual_impaired", AFMPEG_DISPOSITION_VISUAL_IMPAIRED},
                 {"clean_effects", AFMPEG_DISPOSITION_CLEAN_EFFECTS},
                 {"attached_pic", AFMPEG_DISPOSITION_ATTACHED_PIC},
                 {"timed_thumbnails", AFMPEG_DISPOSITION_TIMED_THUMBNAILS},
                 {"captions", AFMPEG_DISPOSITION_CAPTIONS},
                 {"descriptions", AFMPEG_DISPOSITION_DESCRIPTIONS},
                 {"metadata", AFMPEG_DISPOSITION_METADATA},
                 {"dependent", AFMPEG_DISPOSITION_DEPENDENT},
                 {"still_image", AFMPEG_DISPOSITION_STILL_IMAGE}};
    json_t *d = json_object_get(stream, "disposition");
    unsigned flags = 0;
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v) {
        size_t i = 0;
        while (i < sizeof names / sizeof names[0] && strcmp(names[i].name, key) != 0)
            i++;
        if (i == sizeof names / sizeof names[0])
            fail_msg("native ffprobe shows a disposition the API has no flag for: %s", key);
        if (json_integer_value(v))
            flags |= names[i].flag;
    }
    return flags;
}

static double n_rotation(json_t *stream)
{
    size_t i;
    json_t *sd;
    json_array_foreach(json_object_get(stream, "side_data_list"), i, sd) {
        if (strcmp(n_str(sd, "side_data_type"), "Display Matrix") == 0)
            return (double)json_integer_value(json_object_get(sd, "rotation"));
    }
    return 0;
}

/* ---- comparing ------------------------------------------------------------------------------- */

static void eq_str(const char *ctx, const char *field, const char *got, const char *want)
{
    if (!got)
        fail_msg("%s: %s is NULL", ctx, field);
    if (strcmp(got, want) != 0)
        fail_msg("%s: %s: sandbox \"%s\", native \"%s\"", ctx, field, got, want);
}

static void eq_int(const char *ctx, const char *field, long long got, long long want)
{
    if (got != want)
        fail_msg("%s: %s: sandbox %lld, native %lld", ctx, field, got, want);
}

static void eq_time(const char *ctx, const char *field, double got, double want)
{
    if (isnan(want) ? !isnan(got) : !(fabs(got - want) <= 1e-6))
        fail_msg("%s: %s: sandbox %.9f, native %.9f", ctx, field, got, want);
}

static void eq_rational(const char *ctx, const char *field, afmpeg_rational got,
                        afmpeg_rational want)
{
    if (got.num != want.num || got.den != want.den)
        fail_msg("%s: %s: sandbox %d/%d, native %d/%d", ctx, field, got.num, got.den, want.num,
                 want.den);
}

static void eq_tags(const char *ctx, json_t *parent, const afmpeg_tag *tags, size_t count)
{
    json_t *want = json_object_get(parent, "tags");
    assert_non_null(tags);
    eq_int(ctx, "tag count", (long long)count, (long long)json_object_size(want));
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v) { /* jansson keeps ffprobe's order */
        eq_str(ctx, "tag key", tags[i].key, key);
        eq_str(ctx, key, tags[i].value, json_string_value(v));
        i++;
    }
}

/* Every field of the result against native ffprobe's JSON for the same file. */
static void compare(const char *name, json_t *native, const afmpeg_probe_result *p)
{
    char ctx[256];
    json_t *f = json_object_get(native, "format");
    snprintf(ctx, sizeof ctx, "%s format", name);
    eq_str(ctx, "format_name", p->format_name, n_str(f, "format_name"));
    eq_str(ctx, "format_long_name", p->format_long_name, n_str(f, "format_long_name"));
    eq_time(ctx, "duration", p->duration, n_time(f, "duration"));
    eq_time(ctx, "start_time", p->start_time, n_time(f, "start_time"));
    eq_int(ctx, "size", p->size, n_int(f, "size"));
    eq_int(ctx, "bit_rate", p->bit_rate, n_int(f, "bit_rate"));
    eq_tags(ctx, f, p->tags, p->tag_count);

    json_t *streams = json_object_get(native, "streams");
    eq_int(name, "stream count", (long long)p->stream_count, (long long)json_array_size(streams));
    assert_non_null(p->streams);
    for (size_t i = 0; i < p->stream_count; i++) {
        const afmpeg_stream_info *s = &p->streams[i];
        json_t *n = json_array_get(streams, i);
        json_t *tags = json_object_get(n, "tags");
        snprintf(ctx, sizeof ctx, "%s stream %zu", name, i);
        eq_int(ctx, "index", s->index, n_int(n, "index"));
        eq_str(ctx, "type", afmpeg_media_type_name(s->type), n_str(n, "codec_type"));
        eq_str(ctx, "codec", s->codec, n_str(n, "codec_name"));
        eq_str(ctx, "codec_long_name", s->codec_long_name, n_str(n, "codec_long_name"));
        eq_str(ctx, "profile", s->profile, n_str(n, "profile"));
        eq_int(ctx, "width", s->width, n_int(n, "width"));
        eq_int(ctx, "height", s->height, n_int(n, "height"));
        eq_str(ctx, "pixel_format", s->pixel_format, n_str(n, "pix_fmt"));
        eq_rational(ctx, "sample_aspect_ratio", s->sample_aspect_ratio,
                    n_rational(n, "sample_aspect_ratio"));
        eq_rational(ctx, "avg_frame_rate", s->avg_frame_rate, n_rational(n, "avg_frame_rate"));
        eq_rational(ctx, "real_frame_rate", s->real_frame_rate, n_rational(n, "r_frame_rate"));
        eq_time(ctx, "rotation", s->rotation, n_rotation(n));
        eq_int(ctx, "sample_rate", s->sample_rate, n_int(n, "sample_rate"));
        eq_int(ctx, "channels", s->channels, n_int(n, "channels"));
        eq_str(ctx, "channel_layout", s->channel_layout, n_str(n, "channel_layout"));
        eq_int(ctx, "bit_rate", s->bit_rate, n_int(n, "bit_rate"));
        eq_time(ctx, "start_time", s->start_time, n_time(n, "start_time"));
        eq_time(ctx, "duration", s->duration, n_time(n, "duration"));
        eq_int(ctx, "frame_count", s->frame_count, n_int(n, "nb_frames"));
        eq_str(ctx, "language", s->language, n_str(tags, "language"));
        eq_str(ctx, "title", s->title, n_str(tags, "title"));
        eq_int(ctx, "disposition", s->disposition, n_disposition(n));
        eq_tags(ctx, n, s->tags, s->tag_count);
    }

    json_t *chapters = json_object_get(native, "chapters");
    eq_int(name, "chapter count", (long long)p->chapter_count,
           (long long)json_array_size(chapters));
    assert_non_null(p->chapters);
    for (size_t i = 0; i < p->chapter_count; i++) {
        const afmpeg_chapter_info *c = &p->chapters[i];
        json_t *n = json_array_get(chapters, i);
        snprintf(ctx, sizeof ctx, "%s chapter %zu", name, i);
        eq_int(ctx, "id", c->id, n_int(n, "id"));
        eq_time(ctx, "start", c->start, n_time(n, "start_time"));
        eq_time(ctx, "end", c->end, n_time(n, "end_time"));
        eq_str(ctx, "title", c->title, n_str(json_object_get(n, "tags"), "title"));
    }
}

/* Probes media file `name` in a memory filesystem; asserts success. */
static afmpeg_probe_result *probe_media(const char *name)
{
    afmpeg_fs *fs;
    char path[300];
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    snprintf(path, sizeof path, "/%s", name);
    put_media(fs, name, path);
    afmpeg_probe_result *p = NULL;
    int err = afmpeg_probe(rt, fs, path, NULL, &p);
    if (err)
        fail_msg("afmpeg_probe(%s): %s (%s)", name, afmpeg_errname(err), afmpeg_last_error());
    assert_non_null(p);
    assert_string_equal(afmpeg_last_error(), "");
    afmpeg_fs_free(fs);
    return p;
}

/* Probes `name` in the sandbox and natively and compares them; `adjust`, when set, edits native
 * ffprobe's JSON first where the sandbox legitimately differs (each use says why). Returns the
 * probe for further checks; the caller frees it. */
static afmpeg_probe_result *check_media_adjusted(const char *name, void (*adjust)(json_t *))
{
    json_t *native = native_probe(name);
    if (adjust)
        adjust(native);
    afmpeg_probe_result *p = probe_media(name);
    compare(name, native, p);
    json_decref(native);
    return p;
}

static afmpeg_probe_result *check_media(const char *name)
{
    return check_media_adjusted(name, NULL);
}

static const afmpeg_stream_info *stream(const afmpeg_probe_result *p, size_t i)
{
    assert_true(i < p->stream_count);
    return &p->streams[i];
}

/* ---- media ----------------------------------------------------------------------------------- */

static void test_h264_aac_mp4(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("h264_aac.mp4");
    assert_string_equal(p->format_name, "mov,mp4,m4a,3gp,3g2,mj2");
    assert_int_equal(p->stream_count, 2);
    const afmpeg_stream_info *v = stream(p, 0), *a = stream(p, 1);
    assert_int_equal(v->type, AFMPEG_MEDIA_VIDEO);
    assert_string_equal(v->codec, "h264");
    assert_string_equal(v->profile, "High");
    assert_int_equal(v->width, 160);
    assert_int_equal(v->height, 120);
    assert_string_equal(v->pixel_format, "yuv420p");
    assert_int_equal(v->avg_frame_rate.num, 25);
    assert_int_equal(v->avg_frame_rate.den, 1);
    assert_int_equal(v->frame_count, 25);
    assert_true(v->disposition & AFMPEG_DISPOSITION_DEFAULT);
    assert_true(v->rotation == 0);
    /* Audio-only fields are unknown on video, and video-only on audio. */
    assert_int_equal(v->sample_rate, -1);
    assert_int_equal(v->channels, -1);
    assert_string_equal(v->channel_layout, "");
    assert_int_equal(a->type, AFMPEG_MEDIA_AUDIO);
    assert_string_equal(a->codec, "aac");
    assert_string_equal(a->profile, "LC");
    assert_int_equal(a->sample_rate, 44100);
    assert_int_equal(a->channels, 2);
    assert_string_equal(a->channel_layout, "stereo");
    assert_int_equal(a->width, -1);
    assert_string_equal(a->pixel_format, "");
    assert_int_equal(a->sample_aspect_ratio.num, 0);
    assert_int_equal(a->sample_aspect_ratio.den, 0);
    assert_true(fabs(p->duration - 1.0) < 0.05);
    afmpeg_probe_result_free(p);
}

static void test_hevc_opus_mkv(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("hevc_opus.mkv");
    assert_string_equal(p->format_name, "matroska,webm");
    assert_string_equal(stream(p, 0)->codec, "hevc");
    assert_string_equal(stream(p, 0)->profile, "Main");
    assert_string_equal(stream(p, 1)->codec, "opus");
    /* Matroska has no per-stream frame count, bit rate or duration field: all unknown. */
    assert_int_equal(stream(p, 0)->frame_count, -1);
    assert_int_equal(stream(p, 0)->bit_rate, -1);
    assert_true(isnan(stream(p, 0)->duration));
    assert_true(stream(p, 1)->start_time < 0); /* Opus pre-skip */
    afmpeg_probe_result_free(p);
}

static void test_vp9_vorbis_webm(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("vp9_vorbis.webm");
    assert_string_equal(stream(p, 0)->codec, "vp9");
    assert_string_equal(stream(p, 1)->codec, "vorbis");
    afmpeg_probe_result_free(p);
}

static void test_audio_files(void **state)
{
    (void)state;
    static const char *const names[][2] = {
        {"audio.mp3", "mp3"}, {"audio.flac", "flac"}, {"audio.wav", "pcm_s16le"}};
    for (size_t i = 0; i < 3; i++) {
        afmpeg_probe_result *p = check_media(names[i][0]);
        assert_int_equal(p->stream_count, 1);
        assert_int_equal(stream(p, 0)->type, AFMPEG_MEDIA_AUDIO);
        assert_string_equal(stream(p, 0)->codec, names[i][1]);
        assert_int_equal(stream(p, 0)->channels, 1);
        assert_int_equal(stream(p, 0)->sample_rate, 44100);
        afmpeg_probe_result_free(p);
    }
}

static void test_still_images(void **state)
{
    (void)state;
    static const char *const names[][3] = {{"still.png", "png_pipe", "png"},
                                           {"still.jpg", "jpeg_pipe", "mjpeg"},
                                           {"still.webp", "webp_pipe", "webp"}};
    for (size_t i = 0; i < 3; i++) {
        afmpeg_probe_result *p = check_media(names[i][0]);
        assert_string_equal(p->format_name, names[i][1]);
        assert_string_equal(stream(p, 0)->codec, names[i][2]);
        assert_int_equal(stream(p, 0)->width, 64);
        assert_int_equal(stream(p, 0)->height, 48);
        assert_true(isnan(p->duration) || p->duration >= 0);
        afmpeg_probe_result_free(p);
    }
}

static void test_languages_titles_dispositions_mkv(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("langs.mkv");
    assert_int_equal(p->stream_count, 3);
    const afmpeg_stream_info *en = stream(p, 1), *fr = stream(p, 2);
    assert_string_equal(en->language, "eng");
    assert_string_equal(en->title, "English");
    assert_int_equal(en->disposition, AFMPEG_DISPOSITION_DEFAULT);
    assert_string_equal(fr->language, "fra");
    assert_string_equal(fr->title, "Fran\xc3\xa7" "ais commentaire");
    assert_int_equal(fr->disposition, AFMPEG_DISPOSITION_COMMENT | AFMPEG_DISPOSITION_FORCED);
    assert_string_equal(stream(p, 0)->language, "");
    afmpeg_probe_result_free(p);
}

static void test_languages_mp4(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("langs.mp4");
    assert_int_equal(p->stream_count, 3);
    assert_string_equal(stream(p, 0)->language, "und");
    assert_string_equal(stream(p, 1)->language, "eng");
    assert_string_equal(stream(p, 2)->language, "fra");
    assert_true(stream(p, 1)->disposition & AFMPEG_DISPOSITION_DEFAULT);
    assert_false(stream(p, 2)->disposition & AFMPEG_DISPOSITION_DEFAULT);
    assert_string_equal(stream(p, 2)->title, "");
    afmpeg_probe_result_free(p);
}

static void test_rotated(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("rotated.mp4");
    /* As ffprobe 5.1 prints it (av_display_rotation_get of the matrix); no "rotate" tag. */
    assert_true(stream(p, 0)->rotation == 90);
    for (size_t i = 0; i < stream(p, 0)->tag_count; i++)
        assert_string_not_equal(stream(p, 0)->tags[i].key, "rotate");
    afmpeg_probe_result_free(p);
}

static void test_subtitles(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("subs.mkv");
    assert_int_equal(stream(p, 1)->type, AFMPEG_MEDIA_SUBTITLE);
    assert_string_equal(stream(p, 1)->codec, "subrip");
    assert_string_equal(stream(p, 1)->language, "eng");
    afmpeg_probe_result_free(p);
    p = check_media("subs.mp4");
    assert_int_equal(stream(p, 1)->type, AFMPEG_MEDIA_SUBTITLE);
    assert_string_equal(stream(p, 1)->codec, "mov_text");
    assert_string_equal(stream(p, 1)->language, "deu");
    assert_int_equal(stream(p, 1)->frame_count, 3);
    afmpeg_probe_result_free(p);
}

static void test_chapters(void **state)
{
    (void)state;
    static const char *const names[] = {"chapters.mkv", "chapters.mp4"};
    for (size_t i = 0; i < 2; i++) {
        afmpeg_probe_result *p = check_media(names[i]);
        assert_int_equal(p->chapter_count, 2);
        assert_string_equal(p->chapters[0].title, "Intro");
        assert_string_equal(p->chapters[1].title, "Main part");
        assert_true(fabs(p->chapters[0].start) < 1e-9);
        assert_true(fabs(p->chapters[0].end - 0.4) < 1e-9);
        assert_true(fabs(p->chapters[1].start - 0.4) < 1e-9);
        assert_true(fabs(p->chapters[1].end - 1.0) < 1e-9);
        int titled = 0;
        for (size_t t = 0; t < p->tag_count; t++)
            titled |= strcmp(p->tags[t].key, "title") == 0 &&
                      strcmp(p->tags[t].value, "Chaptered") == 0;
        assert_true(titled);
        if (i == 1) { /* the mp4 chapter track */
            assert_int_equal(p->stream_count, 3);
            assert_int_equal(stream(p, 2)->type, AFMPEG_MEDIA_DATA);
        }
        afmpeg_probe_result_free(p);
    }
}

static void test_cover_art(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("cover.mp3");
    assert_int_equal(p->stream_count, 2);
    assert_string_equal(stream(p, 1)->codec, "png");
    assert_int_equal(stream(p, 1)->disposition, AFMPEG_DISPOSITION_ATTACHED_PIC);
    assert_string_equal(stream(p, 1)->title, "Album cover");
    afmpeg_probe_result_free(p);
}

/* MPEG-2 video and AC-3 in Matroska: the module decodes both, so the profile and pixel format
 * come from the sequence header, as natively (the module before 1.1 had neither decoder and left
 * them unknown). */
static void test_mpeg2_ac3_mkv(void **state)
{
    (void)state;
    afmpeg_probe_result *p = check_media("mpeg2_ac3.mkv");
    assert_string_equal(stream(p, 0)->codec, "mpeg2video");
    assert_int_equal(stream(p, 0)->width, 160);
    assert_string_equal(stream(p, 0)->profile, "Main");
    assert_string_equal(stream(p, 0)->pixel_format, "yuv420p");
    assert_string_equal(stream(p, 1)->codec, "ac3");
    assert_int_equal(stream(p, 1)->channels, 1);
    afmpeg_probe_result_free(p);
}

/* The generated corpus (tests/corpus/make.sh: a file per decoder family and container, made by
 * Debian's ffmpeg), every file's typed probe against native ffprobe, field by field. Its
 * directory comes in AFMPEG_CORPUS (make test sets it from tests/corpus/dir.sh); without it the
 * test is skipped (the valgrind tier leaves it out: 120 probes there take minutes). */
static void test_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("AFMPEG_CORPUS");
    if (!dir || !*dir)
        skip();
    char list[600];
    snprintf(list, sizeof list, "%s/corpus.tsv", dir);
    FILE *f = fopen(list, "r");
    if (!f)
        fail_msg("%s: %s", list, strerror(errno));
    char saved[sizeof media_dir];
    memcpy(saved, media_dir, sizeof saved);
    snprintf(media_dir, sizeof media_dir, "%s", dir);
    char line[1024];
    int files = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\t\n")] = '\0';
        if (!*line)
            continue;
        afmpeg_probe_result *p = check_media(line);
        assert_true(p->stream_count > 0);
        afmpeg_probe_result_free(p);
        files++;
    }
    fclose(f);
    memcpy(media_dir, saved, sizeof saved);
    assert_true(files >= 100);
}

/* What is kept is bounded: at most 1024 tags an object, 64 KiB a string (cut at a UTF-8
 * boundary); ffprobe's order is kept. */
static void test_bounds(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/bounds.txt", media_dir);
    size_t cap = 200000, len = 0;
    char *meta = malloc(cap);
    assert_non_null(meta);
    len += (size_t)snprintf(meta + len, cap - len, ";FFMETADATA1\ncomment=");
    for (int i = 0; i < 35000; i++) { /* 70000 bytes of two-byte characters */
        meta[len++] = '\xc3';
        meta[len++] = '\xa9';
    }
    meta[len++] = '\n';
    for (int i = 0; i < 1500; i++)
        len += (size_t)snprintf(meta + len, cap - len, "key%04d=v%d\n", i, i);
    assert_int_equal(write_host_file(path, meta, len), 0);
    free(meta);
    assert_int_equal(sh("cd %s && ffmpeg -nostdin -v error -y -i audio.flac -i bounds.txt "
                        "-map 0 -map_metadata 1 -c copy bounds.mkv", media_dir), 0);

    json_t *native = native_probe("bounds.mkv");
    json_t *ntags = json_object_get(json_object_get(native, "format"), "tags");
    assert_true(json_object_size(ntags) > 1500);
    afmpeg_probe_result *p = probe_media("bounds.mkv");
    assert_int_equal(p->tag_count, 1024);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(ntags, key, v) {
        if (i == p->tag_count)
            break;
        assert_string_equal(p->tags[i].key, key);
        const char *want = json_string_value(v);
        if (strcasecmp(key, "comment") == 0) { /* Matroska tags come back upper-case */
            assert_int_equal(strlen(want), 70000);
            assert_int_equal(strlen(p->tags[i].value), 65536);
            assert_memory_equal(p->tags[i].value, want, 65536);
        } else {
            assert_string_equal(p->tags[i].value, want);
        }
        i++;
    }
    json_decref(native);
    afmpeg_probe_result_free(p);
}

static long long media_size(const char *name)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", media_dir, name);
    assert_int_equal(stat(path, &st), 0);
    return (long long)st.st_size;
}

/* Control characters, quotes, backslashes, newlines and bytes that are not UTF-8 in a tag:
 * ffprobe escapes them in its JSON (invalid bytes become U+FFFD), and they come back as native
 * ffprobe shows them. */
static void test_special_characters_in_tags(void **state)
{
    (void)state;
    char path[600];
    static const char meta[] = ";FFMETADATA1\ntitle=quote\" back\\\\slash tab\t ctrl\001 "
                               "bad\377\376 ok \303\251 eq\\= semi\\; nl\\\nend\n";
    snprintf(path, sizeof path, "%s/special.txt", media_dir);
    assert_int_equal(write_host_file(path, meta, sizeof meta - 1), 0);
    assert_int_equal(sh("cd %s && ffmpeg -nostdin -v error -y -i audio.flac -i special.txt "
                        "-map 0 -map_metadata 1 -c copy special.mkv", media_dir), 0);
    afmpeg_probe_result *p = check_media("special.mkv");
    const char *title = find_tag(p->tags, p->tag_count, "title");
    assert_string_equal(title, "quote\" back\\slash tab\t ctrl\001 bad\xef\xbf\xbd\xef\xbf\xbd"
                               " ok \xc3\xa9 eq= semi; nl\nend");
    afmpeg_probe_result_free(p);
}

/* ---- malformed input and bad paths ----------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The runtime still probes a good file after a failure. */
static void still_works(afmpeg_fs *fs)
{
    put_media(fs, "h264_aac.mp4", "/good.mp4");
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/good.mp4", NULL, &p), AFMPEG_OK);
    assert_int_equal(p->stream_count, 2);
    afmpeg_probe_result_free(p);
}

/* Probes `as` (loaded from media file `name`, unless NULL) and expects `err` with a message
 * starting with `head` and ending in `tail`. */
static void expect_failure(afmpeg_fs *fs, const char *name, const char *as, int err,
                           const char *head, const char *tail)
{
    if (name)
        put_media(fs, name, as);
    afmpeg_probe_result *p = (afmpeg_probe_result *)&p; /* not NULL: must be reset */
    int got = afmpeg_probe(rt, fs, as, NULL, &p);
    if (got != err)
        fail_msg("%s: %s (%s), expected %s", as, afmpeg_errname(got), afmpeg_last_error(),
                 afmpeg_errname(err));
    assert_null(p);
    /* The message names the path before ffprobe's words, and no function (API 1.0). */
    assert_no_function_name(afmpeg_last_error());
    if (strncmp(afmpeg_last_error(), head, strlen(head)) != 0)
        fail_msg("%s: the message does not start with \"%s\":\n%s", as, head, afmpeg_last_error());
    if (!ends_with(afmpeg_last_error(), tail))
        fail_msg("%s: the message does not end with \"%s\":\n%s", as, tail, afmpeg_last_error());
    still_works(fs);
}

static void test_malformed_media(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    /* ffprobe picks the mov demuxer by the name, which finds no moov box. */
    expect_failure(fs, "empty.mp4", "/empty.mp4", AFMPEG_EMEDIA,
                   "ffprobe could not read /empty.mp4 (exit status 1): ",
                   "] moov atom not found\n/empty.mp4: Invalid data found when processing input");
    expect_failure(fs, "truncated.mp4", "/truncated.mp4", AFMPEG_EMEDIA,
                   "ffprobe could not read /truncated.mp4 (exit status 1): ",
                   "/truncated.mp4: Invalid data found when processing input");
    expect_failure(fs, "garbage.bin", "/garbage.bin", AFMPEG_EMEDIA,
                   "ffprobe could not read /garbage.bin (exit status 1): ",
                   "ffprobe could not read /garbage.bin (exit status 1): "
                   "/garbage.bin: Invalid data found when processing input");
    afmpeg_fs_free(fs);
}

static void test_content_wins_over_extension(void **state)
{
    (void)state;
    /* An MP4 named .wav: ffprobe goes by the content, as native ffprobe does. */
    afmpeg_probe_result *p = check_media("mp4_named.wav");
    assert_string_equal(p->format_name, "mov,mp4,m4a,3gp,3g2,mj2");
    afmpeg_probe_result_free(p);
}

static void test_bad_paths(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    /* The whole message: head and tail are the same text. */
    expect_failure(fs, NULL, "/missing.mp4", AFMPEG_ENOENT, "/missing.mp4: no such file",
                   "/missing.mp4: no such file");
    expect_failure(fs, NULL, "../x", AFMPEG_EACCES,
                   "../x: the path leads outside the filesystem",
                   "../x: the path leads outside the filesystem");
    expect_failure(fs, NULL, "/a/../../x", AFMPEG_EACCES, "/a/../../x: ",
                   "the path leads outside the filesystem");
    assert_int_equal(afmpeg_fs_mkdir(fs, "/dir"), AFMPEG_OK);
    expect_failure(fs, NULL, "/dir", AFMPEG_EISDIR, "/dir: is a directory",
                   "/dir: is a directory");
    expect_failure(fs, NULL, "/", AFMPEG_EISDIR, "/: ", "is a directory");
    afmpeg_fs_free(fs);
}

/* Paths FFmpeg would read as something else are still files: "pipe:0" is not the (empty) stdin,
 * "-v" is not an option. */
static void test_paths_that_look_like_urls_or_options(void **state)
{
    (void)state;
    static const char *const names[] = {"pipe:0", "/pipe:0", "file:x.mp4", "-v", "--",
                                        "name with spaces.mp4", "100%.mp4"};
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        put_media(fs, "h264_aac.mp4", names[i]);
        afmpeg_probe_result *p = NULL;
        int err = afmpeg_probe(rt, fs, names[i], NULL, &p);
        if (err)
            fail_msg("%s: %s (%s)", names[i], afmpeg_errname(err), afmpeg_last_error());
        assert_int_equal(p->stream_count, 2);
        assert_int_equal(p->size, media_size("h264_aac.mp4"));
        afmpeg_probe_result_free(p);
        assert_int_equal(afmpeg_fs_remove(fs, names[i]), AFMPEG_OK);
    }
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "pipe:0", NULL, &p), AFMPEG_ENOENT);
    assert_null(p);
    afmpeg_fs_free(fs);
}

/* ---- the parser on its own (lib/probe/probe.c's static functions) ---------------------------- */

/* build() on a JSON text; json_len 0 makes every allocation after the result's first one a
 * further arena chunk. */
static afmpeg_probe_result *build_from(const char *text, size_t json_len)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("test JSON: %s (line %d)", jerr.text, jerr.line);
    json_t *format = json_object_get(root, "format");
    assert_true(json_is_object(format));
    afmpeg_probe_result *p = build(root, format, json_len);
    assert_non_null(p);
    json_decref(root);
    return p;
}

static void test_parser_missing_fields(void **state)
{
    (void)state;
    afmpeg_probe_result *p = build_from("{\"format\": {}}", 16);
    assert_string_equal(p->format_name, "");
    assert_string_equal(p->format_long_name, "");
    assert_true(isnan(p->duration) && isnan(p->start_time));
    assert_int_equal(p->size, -1);
    assert_int_equal(p->bit_rate, -1);
    assert_int_equal(p->tag_count, 0);
    assert_non_null(p->tags);
    assert_int_equal(p->stream_count, 0);
    assert_non_null(p->streams);
    assert_int_equal(p->chapter_count, 0);
    assert_non_null(p->chapters);
    afmpeg_probe_result_free(p);

    p = build_from("{\"format\": {}, \"streams\": [{}], \"chapters\": [{}]}", 0);
    const afmpeg_stream_info *s = &p->streams[0];
    assert_int_equal(s->index, -1);
    assert_int_equal(s->type, AFMPEG_MEDIA_UNKNOWN);
    const char *strs[] = {s->codec, s->codec_long_name, s->profile, s->pixel_format,
                          s->channel_layout, s->language, s->title, p->chapters[0].title};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        assert_string_equal(strs[i], "");
    assert_int_equal(s->width, -1);
    assert_int_equal(s->height, -1);
    assert_int_equal(s->sample_rate, -1);
    assert_int_equal(s->channels, -1);
    assert_int_equal(s->bit_rate, -1);
    assert_int_equal(s->frame_count, -1);
    assert_true(isnan(s->start_time) && isnan(s->duration));
    assert_true(s->rotation == 0);
    assert_int_equal(s->disposition, 0);
    assert_int_equal(s->sample_aspect_ratio.num, 0);
    assert_int_equal(s->avg_frame_rate.den, 0);
    assert_non_null(s->tags);
    assert_int_equal(p->chapters[0].id, -1);
    assert_true(isnan(p->chapters[0].start) && isnan(p->chapters[0].end));
    afmpeg_probe_result_free(p);
}

/* Every field with the wrong type or an unusable value: unknown, never a crash. */
static void test_parser_mistyped_fields(void **state)
{
    (void)state;
    static const char text[] =
        "{\"format\": {\"format_name\": 7, \"format_long_name\": null, \"duration\": \"1.5x\","
        " \"start_time\": [], \"size\": \"99999999999999999999\", \"bit_rate\": -5,"
        " \"tags\": [\"a\"]},"
        " \"streams\": [1, \"s\", null, [],"
        "  {\"index\": \"3\", \"codec_type\": \"nonsense\", \"codec_name\": {\"a\": 1},"
        "   \"profile\": 77, \"width\": \"1e3\", \"height\": 2147483648, \"pix_fmt\": true,"
        "   \"sample_aspect_ratio\": \"1:0:3\", \"avg_frame_rate\": \"30000/1001\","
        "   \"r_frame_rate\": \"x/y\", \"sample_rate\": \"-0\", \"channels\": 2.5,"
        "   \"bit_rate\": \"+12\", \"start_time\": \"-0.5\", \"duration\": \"nan\","
        "   \"nb_frames\": \"\", \"disposition\": {\"default\": \"1\", \"forced\": 1, \"dub\": 0,"
        "   \"bogus\": 1, \"attached_pic\": 2, \"comment\": -1, \"lyrics\": []},"
        "   \"tags\": {\"LANGUAGE\": \"eng\", \"language\": 5, \"Title\": \"t\","
        "   \"rotate\": \"-90\"},"
        "   \"side_data_list\": {\"x\": 1}},"
        "  {\"codec_type\": \"audio\", \"disposition\": 3, \"tags\": {\"rotate\": \"45\"},"
        "   \"side_data_list\": [5, {\"side_data_type\": 1},"
        "   {\"side_data_type\": \"Display Matrix\", \"rotation\": \"abc\"},"
        "   {\"side_data_type\": \"Display Matrix\", \"rotation\": 180}]},"
        "  {\"codec_type\": \"video\","
        "   \"side_data_list\": [{\"side_data_type\": \"Display Matrix\", \"rotation\": -90}],"
        "   \"width\": -3, \"index\": 9223372036854775807,"
        "   \"nb_frames\": \"-9223372036854775808\", \"bit_rate\": \"9223372036854775808\"}],"
        " \"chapters\": {\"not\": \"an array\"}}";
    afmpeg_probe_result *p = build_from(text, 0);
    assert_string_equal(p->format_name, "7");
    assert_string_equal(p->format_long_name, "");
    assert_true(isnan(p->duration) && isnan(p->start_time));
    assert_int_equal(p->size, -1);
    assert_int_equal(p->bit_rate, -1);
    assert_int_equal(p->tag_count, 0);
    assert_int_equal(p->chapter_count, 0);
    assert_int_equal(p->stream_count, 3); /* what is not an object is skipped */

    const afmpeg_stream_info *s = &p->streams[0];
    assert_int_equal(s->index, 3);
    assert_int_equal(s->type, AFMPEG_MEDIA_UNKNOWN);
    assert_string_equal(s->codec, "");
    assert_string_equal(s->profile, "77");
    assert_int_equal(s->width, -1);
    assert_int_equal(s->height, -1);
    assert_string_equal(s->pixel_format, "");
    assert_int_equal(s->sample_aspect_ratio.num, 0);
    assert_int_equal(s->sample_aspect_ratio.den, 0);
    assert_int_equal(s->avg_frame_rate.num, 30000);
    assert_int_equal(s->avg_frame_rate.den, 1001);
    assert_int_equal(s->real_frame_rate.num, 0);
    assert_int_equal(s->sample_rate, 0);
    assert_int_equal(s->channels, -1);
    assert_int_equal(s->bit_rate, 12);
    assert_true(s->start_time == -0.5);
    assert_true(isnan(s->duration));
    assert_int_equal(s->frame_count, -1);
    assert_int_equal(s->disposition, AFMPEG_DISPOSITION_DEFAULT | AFMPEG_DISPOSITION_FORCED |
                                         AFMPEG_DISPOSITION_ATTACHED_PIC);
    assert_int_equal(s->tag_count, 3);
    assert_string_equal(s->language, "eng"); /* tag names match without regard to case */
    assert_string_equal(s->title, "t");
    assert_true(s->rotation == -90);        /* the "rotate" tag, as there is no matrix */

    s = &p->streams[1];
    assert_int_equal(s->type, AFMPEG_MEDIA_AUDIO);
    assert_int_equal(s->disposition, 0);
    assert_true(s->rotation == 0);           /* the first matrix counts, unreadable: 0 */

    s = &p->streams[2];
    assert_true(s->rotation == -90);
    assert_int_equal(s->width, -1);
    assert_int_equal(s->index, -1);
    assert_int_equal(s->frame_count, -1);
    assert_int_equal(s->bit_rate, -1);
    afmpeg_probe_result_free(p);
}

/* More streams, chapters and tags than are kept: the first ones are kept, in order, across
 * several arena chunks. */
static void test_parser_bounds(void **state)
{
    (void)state;
    json_t *root = json_object(), *streams = json_array(), *chapters = json_array();
    json_t *format = json_object(), *ftags = json_object();
    for (int i = 0; i < 5000; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(ftags, key, json_string(key));
        json_array_append_new(streams, json_pack("{s:i, s:s, s:{s:s}}", "index", i,
                                                 "codec_name", "h264", "tags", "title", key));
    }
    for (int i = 0; i < 70000; i++)
        json_array_append_new(chapters, json_pack("{s:i, s:s, s:{s:s}}", "id", i,
                                                  "start_time", "1.5", "tags", "title", "c"));
    json_object_set_new(format, "tags", ftags);
    json_object_set_new(root, "format", format);
    json_object_set_new(root, "streams", streams);
    json_object_set_new(root, "chapters", chapters);
    for (size_t len = 0; len <= 1; len++) { /* 0: many chunks; 1: still fine */
        afmpeg_probe_result *p = build(root, format, len);
        assert_non_null(p);
        assert_int_equal(p->tag_count, MAX_TAGS);
        assert_string_equal(p->tags[MAX_TAGS - 1].key, "k1023");
        assert_int_equal(p->stream_count, MAX_STREAMS);
        assert_int_equal(p->streams[MAX_STREAMS - 1].index, MAX_STREAMS - 1);
        assert_string_equal(p->streams[4000].title, "k4000");
        assert_int_equal(p->chapter_count, MAX_CHAPTERS);
        assert_int_equal(p->chapters[MAX_CHAPTERS - 1].id, MAX_CHAPTERS - 1);
        assert_true(p->chapters[MAX_CHAPTERS - 1].start == 1.5);
        assert_string_equal(p->chapters[MAX_CHAPTERS - 1].title, "c");
        afmpeg_probe_result_free(p);
    }
    json_decref(root);
}

static void test_parser_numbers(void **state)
{
    (void)state;
    static const char *const good[] = {"0", "1.000000", "-0.007000", "0.025057", "42",
                                       "+3.5", "1.", ".5", "123456789.123456",
                                       "98765432109876543210.5", "0.12345678901234567890123"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double d = NAN, want = strtod(good[i], NULL);
        assert_int_equal(parse_decimal(good[i], strlen(good[i]), &d), 0);
        if (!(fabs(d - want) <= fabs(want) * 1e-15))
            fail_msg("%s: %.17g, strtod %.17g", good[i], d, want);
    }
    static const char *const bad[] = {"", "-", ".", "1e5", "1.2.3", "nan", "inf", " 1", "1 ",
                                      "0x10", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double d;
        if (parse_decimal(bad[i], strlen(bad[i]), &d) == 0)
            fail_msg("\"%s\" parsed as %g", bad[i], d);
    }
    int64_t n;
    assert_int_equal(parse_int64("9223372036854775807", 19, &n), 0);
    assert_true(n == INT64_MAX);
    assert_int_equal(parse_int64("-9223372036854775808", 20, &n), 0);
    assert_true(n == INT64_MIN);
    assert_int_not_equal(parse_int64("9223372036854775808", 19, &n), 0);
    assert_int_not_equal(parse_int64("-9223372036854775809", 20, &n), 0);
    assert_int_not_equal(parse_int64("", 0, &n), 0);
    assert_int_not_equal(parse_int64("12a", 3, &n), 0);
}

/* The message's tail (afm_stderr_summary, the one summary of every library job, into the
 * probe's TAIL_MAX buffer): whole lines, at most 1 KiB, control characters shown as '?'. */
static void test_stderr_tail(void **state)
{
    (void)state;
    char text[4000], tail[TAIL_MAX + 1];
    size_t len = 0;
    for (int i = 0; len < 3000; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "line %d: \033[31mred\n", i);
    afmpeg_result r;
    memset(&r, 0, sizeof r);
    r.err.data = text;
    r.err.len = len;
    afm_stderr_summary(&r, tail, sizeof tail);
    assert_true(strlen(tail) <= TAIL_MAX);
    assert_true(strncmp(tail, "line ", 5) == 0);
    assert_null(strchr(tail, '\033'));
    assert_true(ends_with(tail, ": ?[31mred"));
    /* One long line: its end, not cutting a UTF-8 character. */
    len = 0;
    while (len < 3000) {
        memcpy(text + len, "\xc3\xa9", 2);
        len += 2;
    }
    text[len++] = '\n';
    r.err.len = len;
    afm_stderr_summary(&r, tail, sizeof tail);
    assert_int_equal(strlen(tail), TAIL_MAX);
    assert_true((unsigned char)tail[0] == 0xc3);
    /* 3-byte characters, where a cut TAIL_MAX bytes from the end lands inside one: the tail
     * starts at the next character instead. */
    len = 0;
    while (len < 2999) {
        memcpy(text + len, "\xe2\x82\xac", 3);
        len += 3;
    }
    text[len++] = '\n';
    r.err.len = len;
    afm_stderr_summary(&r, tail, sizeof tail);
    assert_int_equal(strlen(tail), TAIL_MAX - 1);
    assert_true((unsigned char)tail[0] == 0xe2);
    r.err.len = 0;
    afm_stderr_summary(&r, tail, sizeof tail);
    assert_string_equal(tail, "");
}

/* ---- arguments, options, pools, cancellation ------------------------------------------------- */

static void test_invalid_arguments(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    afmpeg_probe_result *sentinel = (afmpeg_probe_result *)&fs, *p;
#define EXPECT_EINVAL(call, text)                                                              \
    do {                                                                                       \
        p = sentinel;                                                                          \
        assert_int_equal(call, AFMPEG_EINVAL);                                                 \
        assert_null(p);                                                                        \
        if (!strstr(afmpeg_last_error(), text))                                                \
            fail_msg("expected \"%s\" in \"%s\"", text, afmpeg_last_error());                  \
    } while (0)
    /* API 1.0: one call with an options pointer (afmpeg_probe_ex and afmpeg_pool_probe are
     * gone), messages without the function's name, the parameter named as the header does. */
    afmpeg_job_options good = AFMPEG_JOB_OPTIONS_INIT;
    EXPECT_EINVAL(afmpeg_probe(NULL, fs, "/in.mp4", NULL, &p), "rt is NULL");
    EXPECT_EINVAL(afmpeg_probe(rt, NULL, "/in.mp4", NULL, &p), "fs is NULL");
    EXPECT_EINVAL(afmpeg_probe(rt, fs, NULL, NULL, &p), "path is NULL");
    EXPECT_EINVAL(afmpeg_probe(rt, fs, "", NULL, &p), "path is empty");
    EXPECT_EINVAL(afmpeg_probe(rt, fs, "", &good, &p), "path is empty");
    assert_string_equal(afmpeg_last_error(), "path is empty");
    EXPECT_EINVAL(afmpeg_probe(NULL, fs, "/in.mp4", &good, &p), "rt is NULL");
    assert_string_equal(afmpeg_last_error(), "rt is NULL");
    afmpeg_job_options bad = AFMPEG_JOB_OPTIONS_INIT;
    bad.version = 0;
    EXPECT_EINVAL(afmpeg_probe(rt, fs, "/in.mp4", &bad, &p), "version 0");
    bad.version = AFMPEG_JOB_OPTIONS_VERSION + 1;
    EXPECT_EINVAL(afmpeg_probe(rt, fs, "/in.mp4", &bad, &p), "not supported");
#undef EXPECT_EINVAL
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", NULL, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", &good, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_probe(NULL, fs, "/in.mp4", NULL, NULL), AFMPEG_EINVAL);
    afmpeg_probe_result_free(NULL);
    still_works(fs);
    afmpeg_fs_free(fs);
}

static void test_media_type_names(void **state)
{
    (void)state;
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_UNKNOWN), "unknown");
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_VIDEO), "video");
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_AUDIO), "audio");
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_SUBTITLE), "subtitle");
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_DATA), "data");
    assert_string_equal(afmpeg_media_type_name(AFMPEG_MEDIA_ATTACHMENT), "attachment");
    assert_string_equal(afmpeg_media_type_name((afmpeg_media_type)99), "unknown");
    assert_string_equal(afmpeg_media_type_name((afmpeg_media_type)-1), "unknown");
}

static int count_calls(const void *data, size_t len, void *payload)
{
    (void)data;
    (void)len;
    (*(int *)payload)++;
    return 1; /* would fail the guest's write, were it called */
}

static int progress_calls(const afmpeg_progress *pr, void *payload)
{
    (void)pr;
    (*(int *)payload)++;
    return 1; /* would cancel the job, were it called */
}

/* The caller's limits apply, but its stdin and output and progress callbacks are not used;
 * version 1 options are read no further than their end. */
static void test_job_options(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    int outputs = 0, progress = 0;
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.stdin_data = "garbage";
    o.stdin_len = 7;
    o.on_stdout = count_calls;
    o.on_stderr = count_calls;
    o.output_payload = &outputs;
    o.stderr_limit = 1;
    o.on_progress = progress_calls;
    o.progress_payload = &progress;
    o.limits.timeout_ms = 60000;
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", &o, &p), AFMPEG_OK);
    assert_int_equal(p->stream_count, 2);
    afmpeg_probe_result_free(p);
    assert_int_equal(outputs, 0);
    assert_int_equal(progress, 0);

    /* A version 1 struct (API 1.0's layout, the whole struct) on the heap, exactly its size. */
    afmpeg_job_options v1 = AFMPEG_JOB_OPTIONS_INIT;
    v1.version = 1;
    afmpeg_job_options *heap = malloc(sizeof v1); /* ASan sees any read past its end */
    assert_non_null(heap);
    memcpy(heap, &v1, sizeof v1);
    p = NULL;
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", heap, &p), AFMPEG_OK);
    assert_int_equal(p->stream_count, 2);
    afmpeg_probe_result_free(p);
    free(heap);

    /* A memory limit below what the module starts with stops the job as a limit, before the
     * guest runs: the run's error passes through, *out stays NULL. */
    o.limits.memory_limit = 1 << 20;
    p = NULL;
    int err = afmpeg_probe(rt, fs, "/in.mp4", &o, &p);
    if (err != AFMPEG_ELIMIT)
        fail_msg("%s (%s)", afmpeg_errname(err), afmpeg_last_error());
    assert_non_null(strstr(afmpeg_last_error(), "below the memory the module needs to start"));
    assert_null(p);
    assert_true(strncmp(afmpeg_last_error(), "/in.mp4: ", 9) == 0);
    still_works(fs);
    afmpeg_fs_free(fs);
}

static void test_cancelled(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    afmpeg_cancel_token *token;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_cancel_token_new(&token), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    afmpeg_cancel_token_cancel(token);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = token;
    afmpeg_probe_result *p = (afmpeg_probe_result *)&p;
    assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", &o, &p), AFMPEG_ECANCELLED);
    assert_null(p);
    assert_true(strncmp(afmpeg_last_error(), "/in.mp4: ", 9) == 0);
    assert_non_null(strstr(afmpeg_last_error(), "cancelled"));
    still_works(fs);
    afmpeg_cancel_token_free(token);
    afmpeg_fs_free(fs);
}

typedef struct pool_probe_arg {
    afmpeg_runtime *pool; /* two instances */
    afmpeg_fs *fs;
    int failures;
} pool_probe_arg;

static void *pool_prober(void *arg)
{
    pool_probe_arg *a = arg;
    for (int i = 0; i < 3; i++) {
        afmpeg_probe_result *p = NULL;
        if (afmpeg_probe(a->pool, a->fs, "/langs.mkv", NULL, &p) != AFMPEG_OK ||
            p->stream_count != 3 || strcmp(p->streams[2].language, "fra") != 0)
            a->failures++;
        afmpeg_probe_result_free(p);
    }
    return NULL;
}

/* Probes on a runtime of two instances (what was the pool). */
static void test_pool_probe(void **state)
{
    (void)state;
    afmpeg_runtime *pool;
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "langs.mkv", "/langs.mkv");

    json_t *native = native_probe("langs.mkv");
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(pool, fs, "/langs.mkv", NULL, &p), AFMPEG_OK);
    compare("langs.mkv (pool)", native, p);
    afmpeg_probe_result_free(p);
    json_decref(native);

    /* Three threads on two instances share the filesystem (built-in kinds are thread-safe). */
    pthread_t th[3];
    pool_probe_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (pool_probe_arg){pool, fs, 0};
        assert_int_equal(pthread_create(&th[i], NULL, pool_prober, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }

    p = (afmpeg_probe_result *)&p;
    assert_int_equal(afmpeg_probe(pool, fs, "/nothing.mkv", NULL, &p), AFMPEG_ENOENT);
    assert_null(p);
    assert_string_equal(afmpeg_last_error(), "/nothing.mkv: no such file");

    afmpeg_cancel_token *token;
    assert_int_equal(afmpeg_cancel_token_new(&token), AFMPEG_OK);
    afmpeg_cancel_token_cancel(token);
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.cancel = token;
    assert_int_equal(afmpeg_probe(pool, fs, "/langs.mkv", &o, &p), AFMPEG_ECANCELLED);
    assert_null(p);
    afmpeg_cancel_token_free(token);
    afmpeg_fs_free(fs);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* How long one probe of a small MP4 takes on a warm runtime (printed; a loose bound). */
static void test_probe_time(void **state)
{
    (void)state;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_media(fs, "h264_aac.mp4", "/in.mp4");
    enum { RUNS = 21 };
    int runs = under_instrumentation() ? 3 : RUNS;
    double ms[RUNS];
    for (int i = 0; i < runs; i++) {
        afmpeg_probe_result *p = NULL;
        double t0 = now_ms();
        assert_int_equal(afmpeg_probe(rt, fs, "/in.mp4", NULL, &p), AFMPEG_OK);
        ms[i] = now_ms() - t0;
        afmpeg_probe_result_free(p);
    }
    qsort(ms, (size_t)runs, sizeof ms[0], cmp_double);
    fprintf(stderr, "probe of a 1 s H.264/AAC MP4 (%lld bytes): median %.2f ms over %d runs "
            "(min %.2f, max %.2f)\n", media_size("h264_aac.mp4"), ms[runs / 2], runs, ms[0],
            ms[runs - 1]);
    if (!under_instrumentation())
        assert_true(ms[runs / 2] < 1000);
    afmpeg_fs_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_aac_mp4),
        cmocka_unit_test(test_hevc_opus_mkv),
        cmocka_unit_test(test_vp9_vorbis_webm),
        cmocka_unit_test(test_audio_files),
        cmocka_unit_test(test_still_images),
        cmocka_unit_test(test_languages_titles_dispositions_mkv),
        cmocka_unit_test(test_languages_mp4),
        cmocka_unit_test(test_rotated),
        cmocka_unit_test(test_subtitles),
        cmocka_unit_test(test_chapters),
        cmocka_unit_test(test_cover_art),
        cmocka_unit_test(test_mpeg2_ac3_mkv),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_special_characters_in_tags),
        cmocka_unit_test(test_parser_missing_fields),
        cmocka_unit_test(test_parser_mistyped_fields),
        cmocka_unit_test(test_parser_bounds),
        cmocka_unit_test(test_parser_numbers),
        cmocka_unit_test(test_stderr_tail),
        cmocka_unit_test(test_malformed_media),
        cmocka_unit_test(test_content_wins_over_extension),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_paths_that_look_like_urls_or_options),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_media_type_names),
        cmocka_unit_test(test_job_options),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_pool_probe),
        cmocka_unit_test(test_probe_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
