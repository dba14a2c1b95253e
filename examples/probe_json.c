/* probe_json.c — describes a media file as JSON, from afmpeg_probe()'s typed result.
 *
 * Shows: a host directory handed to a job (afmpeg_fs_new_hostdir(): the guest sees that one
 * directory as "/", jailed); afmpeg_probe() and every field of afmpeg_probe_result, with
 * unknown values (-1, NaN, "") written as null; JSON written by hand, with strings checked as
 * UTF-8, since tags come from the file and a hostile file may carry any bytes.
 *
 * Build:  cc probe_json.c -o probe_json $(pkg-config --cflags --libs afmpeg)
 * Run:    ./probe_json examples/sample.mp4 | python3 -m json.tool
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <afmpeg.h>

/* The length of the valid UTF-8 sequence at p (2 to 4 bytes), or 0 if there is none. */
static size_t utf8_sequence(const unsigned char *p)
{
    unsigned lo = 0x80, hi = 0xbf;
    size_t n;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0)
            lo = 0xa0;   /* no overlong forms */
        if (p[0] == 0xed)
            hi = 0x9f;   /* no surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0)
            lo = 0x90;
        if (p[0] == 0xf4)
            hi = 0x8f;   /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)   /* stops at the NUL, which is no continuation byte */
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* A JSON string; "" is null (the library's "unknown"). Bytes that are not UTF-8 become U+FFFD. */
static void put_string(const char *s)
{
    if (!*s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n;
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p++);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p++);
        } else if (*p < 0x80) {
            putchar(*p++);
        } else if ((n = utf8_sequence(p)) > 0) {
            fwrite(p, 1, n, stdout);
            p += n;
        } else {
            fputs("\\ufffd", stdout);
            p++;
        }
    }
    putchar('"');
}

static void put_time(double t)   /* seconds; NaN is unknown */
{
    if (isfinite(t))
        printf("%.6f", t);
    else
        fputs("null", stdout);
}

static void put_count(int64_t v)   /* -1 is unknown */
{
    if (v >= 0)
        printf("%lld", (long long)v);
    else
        fputs("null", stdout);
}

static void put_rational(afmpeg_rational r)   /* as ffprobe writes them: "30000/1001" */
{
    if (r.den > 0)
        printf("\"%d/%d\"", r.num, r.den);
    else
        fputs("null", stdout);
}

static void put_tags(const afmpeg_tag *tags, size_t count)
{
    putchar('{');
    for (size_t i = 0; i < count; i++) {
        fputs(i ? ", " : "", stdout);
        put_string(tags[i].key);
        fputs(": ", stdout);
        if (*tags[i].value)
            put_string(tags[i].value);
        else
            fputs("\"\"", stdout);
    }
    putchar('}');
}

static void put_disposition(unsigned flags)
{
    static const struct {
        unsigned flag;
        const char *name;
    } names[] = {{AFMPEG_DISPOSITION_DEFAULT, "default"},
                 {AFMPEG_DISPOSITION_DUB, "dub"},
                 {AFMPEG_DISPOSITION_ORIGINAL, "original"},
                 {AFMPEG_DISPOSITION_COMMENT, "comment"},
                 {AFMPEG_DISPOSITION_LYRICS, "lyrics"},
                 {AFMPEG_DISPOSITION_KARAOKE, "karaoke"},
                 {AFMPEG_DISPOSITION_FORCED, "forced"},
                 {AFMPEG_DISPOSITION_HEARING_IMPAIRED, "hearing_impaired"},
                 {AFMPEG_DISPOSITION_VISUAL_IMPAIRED, "visual_impaired"},
                 {AFMPEG_DISPOSITION_CLEAN_EFFECTS, "clean_effects"},
                 {AFMPEG_DISPOSITION_ATTACHED_PIC, "attached_pic"},
                 {AFMPEG_DISPOSITION_TIMED_THUMBNAILS, "timed_thumbnails"},
                 {AFMPEG_DISPOSITION_CAPTIONS, "captions"},
                 {AFMPEG_DISPOSITION_DESCRIPTIONS, "descriptions"},
                 {AFMPEG_DISPOSITION_METADATA, "metadata"},
                 {AFMPEG_DISPOSITION_DEPENDENT, "dependent"},
                 {AFMPEG_DISPOSITION_STILL_IMAGE, "still_image"}};
    int first = 1;
    putchar('[');
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (flags & names[i].flag) {
            printf("%s\"%s\"", first ? "" : ", ", names[i].name);
            first = 0;
        }
    }
    putchar(']');
}

static void put_stream(const afmpeg_stream_info *st)
{
    printf("    {\"index\": %d, \"type\": \"%s\", \"codec\": ", st->index,
           afmpeg_media_type_name(st->type));
    put_string(st->codec);
    fputs(", \"codec_long_name\": ", stdout);
    put_string(st->codec_long_name);
    fputs(", \"profile\": ", stdout);
    put_string(st->profile);
    if (st->type == AFMPEG_MEDIA_VIDEO) {
        fputs(",\n     \"width\": ", stdout);
        put_count(st->width);
        fputs(", \"height\": ", stdout);
        put_count(st->height);
        fputs(", \"pixel_format\": ", stdout);
        put_string(st->pixel_format);
        fputs(", \"sample_aspect_ratio\": ", stdout);
        put_rational(st->sample_aspect_ratio);
        fputs(", \"avg_frame_rate\": ", stdout);
        put_rational(st->avg_frame_rate);
        fputs(", \"real_frame_rate\": ", stdout);
        put_rational(st->real_frame_rate);
        printf(", \"rotation\": %g", isfinite(st->rotation) ? st->rotation : 0.0);
    } else if (st->type == AFMPEG_MEDIA_AUDIO) {
        fputs(",\n     \"sample_rate\": ", stdout);
        put_count(st->sample_rate);
        fputs(", \"channels\": ", stdout);
        put_count(st->channels);
        fputs(", \"channel_layout\": ", stdout);
        put_string(st->channel_layout);
    }
    fputs(",\n     \"bit_rate\": ", stdout);
    put_count(st->bit_rate);
    fputs(", \"start_time\": ", stdout);
    put_time(st->start_time);
    fputs(", \"duration\": ", stdout);
    put_time(st->duration);
    fputs(", \"frame_count\": ", stdout);
    put_count(st->frame_count);
    fputs(", \"language\": ", stdout);
    put_string(st->language);
    fputs(", \"title\": ", stdout);
    put_string(st->title);
    fputs(",\n     \"disposition\": ", stdout);
    put_disposition(st->disposition);
    fputs(", \"tags\": ", stdout);
    put_tags(st->tags, st->tag_count);
    putchar('}');
}

static void put_probe(const afmpeg_probe_result *p)
{
    fputs("{\n  \"format\": {\"name\": ", stdout);
    put_string(p->format_name);
    fputs(", \"long_name\": ", stdout);
    put_string(p->format_long_name);
    fputs(",\n             \"duration\": ", stdout);
    put_time(p->duration);
    fputs(", \"start_time\": ", stdout);
    put_time(p->start_time);
    fputs(", \"size\": ", stdout);
    put_count(p->size);
    fputs(", \"bit_rate\": ", stdout);
    put_count(p->bit_rate);
    fputs(",\n             \"tags\": ", stdout);
    put_tags(p->tags, p->tag_count);
    fputs("},\n  \"streams\": [\n", stdout);
    for (size_t i = 0; i < p->stream_count; i++) {
        put_stream(&p->streams[i]);
        fputs(i + 1 < p->stream_count ? ",\n" : "\n", stdout);
    }
    fputs("  ],\n  \"chapters\": [", stdout);
    for (size_t i = 0; i < p->chapter_count; i++) {
        const afmpeg_chapter_info *c = &p->chapters[i];
        printf("%s\n    {\"id\": %lld, \"start\": ", i ? "," : "", (long long)c->id);
        put_time(c->start);
        fputs(", \"end\": ", stdout);
        put_time(c->end);
        fputs(", \"title\": ", stdout);
        put_string(c->title);
        putchar('}');
    }
    fputs(p->chapter_count ? "\n  ]\n}\n" : "]\n}\n", stdout);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: probe_json FILE\n");
        return 2;
    }
    /* The job sees FILE's directory as "/", and nothing else of the host. */
    const char *slash = strrchr(argv[1], '/');
    const char *name = slash ? slash + 1 : argv[1];
    char *dir = strdup(slash ? argv[1] : ".");
    if (!dir)
        return 1;
    if (slash)   /* "a/b/clip.mp4" -> "a/b", "/clip.mp4" -> "/" */
        dir[slash == argv[1] ? 1 : slash - argv[1]] = '\0';

    afmpeg_runtime *rt = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_probe_result *probe = NULL;
    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_hostdir(dir, &fs);
    if (!err)
        err = afmpeg_probe(rt, fs, name, NULL, &probe);
    if (err)   /* for media ffprobe cannot read, AFMPEG_EMEDIA with ffprobe's message */
        fprintf(stderr, "probe_json: %s: %s\n", argv[1], afmpeg_last_error());
    else
        put_probe(probe);
    afmpeg_probe_result_free(probe);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(dir);
    return err ? 1 : 0;
}
