/* afmpeg probe FILE [--json]: afmpeg_probe() on one file, as a summary for people or as JSON.
 *
 * The guest (ffprobe) gets a filesystem holding that one file, read-only: probing never needs to
 * write, and the file may be anywhere the user can read, since the guest cannot reach anything
 * next to it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"

static const char verb[] = "probe";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [-C DIR] [LIMITS] probe FILE [--json]\n"
            "\n"
            "Describes a media file: container, duration, size and bit rate, then each\n"
            "stream (codec, profile, size or sample rate and channels, frame rate,\n"
            "language, title, default flag) and the chapters.\n"
            "\n"
            "  --json       the whole description as JSON: every field, tags as\n"
            "               objects, values that are not known as null\n"
            "  -h, --help   this text\n"
            "\n"
            "ffprobe runs in the sandbox and sees FILE alone, read-only, so FILE may be\n"
            "anywhere you can read. A relative FILE is relative to DIR when -C is given.\n"
            "Exit status: 0; 1 if FILE is missing or not media; 2 for bad arguments;\n"
            "else as 'afmpeg --help' says.\n");
}

/* ---- the summary ---- */

static void print_rate(afmpeg_rational r)
{
    printf(", %.5g fps", (double)r.num / r.den);
}

static void print_stream(const afmpeg_stream_info *st)
{
    printf("stream %d:  %s: ", st->index, afmpeg_media_type_name(st->type));
    cli_put_safe(stdout, *st->codec ? st->codec : "unknown codec");
    if (*st->profile) {
        printf(" (");
        cli_put_safe(stdout, st->profile);
        printf(")");
    }
    if (st->type == AFMPEG_MEDIA_VIDEO) {
        if (st->width > 0 && st->height > 0)
            printf(", %dx%d", st->width, st->height);
        if (*st->pixel_format) {
            printf(", ");
            cli_put_safe(stdout, st->pixel_format);
        }
        if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0)
            print_rate(st->avg_frame_rate);
        else if (st->real_frame_rate.num > 0 && st->real_frame_rate.den > 0)
            print_rate(st->real_frame_rate);
        if (st->rotation != 0 && isfinite(st->rotation))
            printf(", rotated %g degrees", st->rotation);
    } else if (st->type == AFMPEG_MEDIA_AUDIO) {
        if (st->sample_rate > 0)
            printf(", %d Hz", st->sample_rate);
        if (st->channels > 0)
            printf(", %d channel%s", st->channels, st->channels == 1 ? "" : "s");
        if (*st->channel_layout) {
            printf(" (");
            cli_put_safe(stdout, st->channel_layout);
            printf(")");
        }
    }
    if (st->bit_rate > 0)
        printf(", %lld kb/s", (long long)((st->bit_rate + 500) / 1000));
    if (*st->language) {
        printf(", language ");
        cli_put_safe(stdout, st->language);
    }
    if (*st->title) {
        printf(", title \"");
        cli_put_safe(stdout, st->title);
        printf("\"");
    }
    if (st->disposition & AFMPEG_DISPOSITION_DEFAULT)
        printf(", default");
    if (st->disposition & AFMPEG_DISPOSITION_FORCED)
        printf(", forced");
    if (st->disposition & AFMPEG_DISPOSITION_ATTACHED_PIC)
        printf(", attached picture");
    printf("\n");
}

static void print_summary(const char *path, const afmpeg_probe_result *p)
{
    printf("file:      ");
    cli_put_safe(stdout, path);
    printf("\nformat:    ");
    cli_put_safe(stdout, *p->format_name ? p->format_name : "unknown");
    if (*p->format_long_name) {
        printf(" (");
        cli_put_safe(stdout, p->format_long_name);
        printf(")");
    }
    printf("\n");
    for (size_t i = 0; i < p->tag_count; i++)
        if (!strcmp(p->tags[i].key, "title")) {
            printf("title:     ");
            cli_put_safe(stdout, p->tags[i].value);
            printf("\n");
        }
    if (isfinite(p->duration)) {
        printf("duration:  %.3f s", p->duration);
        if (p->duration >= 60) {
            long long ms = llround(p->duration * 1000);
            printf(" (%lld:%02lld:%02lld.%03lld)", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
                   ms % 1000);
        }
        printf("\n");
    } else {
        printf("duration:  unknown\n");
    }
    if (p->size >= 0) {
        char sz[32];
        cli_format_size(sz, sizeof sz, (uint64_t)p->size);
        printf("size:      %lld bytes (%s)\n", (long long)p->size, sz);
    }
    if (p->bit_rate > 0)
        printf("bit rate:  %lld kb/s\n", (long long)((p->bit_rate + 500) / 1000));
    for (size_t i = 0; i < p->stream_count; i++)
        print_stream(&p->streams[i]);
    for (size_t i = 0; i < p->chapter_count; i++) {
        const afmpeg_chapter_info *c = &p->chapters[i];
        printf("chapter %zu: %.3f s - %.3f s", i + 1, c->start, c->end);
        if (*c->title) {
            printf(" \"");
            cli_put_safe(stdout, c->title);
            printf("\"");
        }
        printf("\n");
    }
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string of `s`. Strings come from the media file and need not be UTF-8, which JSON
 * requires: bytes that are not become U+FFFD. */
static json_t *mended(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *fixed = malloc(strlen(s) * 3 + 1);
    if (!fixed)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_seq(p);
        memcpy(fixed + o, n ? (const char *)p : "\xef\xbf\xbd", n ? n : 3);
        o += n ? n : 3;
        p += n ? n : 1;
    }
    fixed[o] = '\0';
    j = json_string(fixed);
    free(fixed);
    return j;
}

/* A field's string; "" (the library's "unknown") is null. */
json_t *cli_json_string(const char *s)
{
    json_t *j = *s ? mended(s) : NULL;
    return j ? j : json_null();
}

static json_t *jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A count, rate or size: -1 (unknown) is null. */
static json_t *jcount(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *jrational(afmpeg_rational r)
{
    if (r.den == 0)
        return json_null();
    return json_pack("{s:i,s:i}", "num", r.num, "den", r.den);
}

static json_t *jtags(size_t n, const afmpeg_tag *tags)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        json_t *k = mended(tags[i].key), *v = mended(tags[i].value);
        if (k && v)
            json_object_set(o, json_string_value(k), v);
        json_decref(k);
        json_decref(v);
    }
    return o;
}

static const struct {
    unsigned flag;
    const char *name;
} dispositions[] = {
    {AFMPEG_DISPOSITION_DEFAULT, "default"},
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
    {AFMPEG_DISPOSITION_STILL_IMAGE, "still_image"},
};

/* The flags as an object of booleans, FFmpeg's names, as ffprobe shows them. */
static json_t *jdisposition(unsigned flags)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof dispositions / sizeof dispositions[0]; i++)
        json_object_set_new(o, dispositions[i].name, json_boolean(flags & dispositions[i].flag));
    return o;
}

static json_t *jstream(const afmpeg_stream_info *st)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "index", json_integer(st->index));
    json_object_set_new(o, "type", json_string(afmpeg_media_type_name(st->type)));
    json_object_set_new(o, "codec", cli_json_string(st->codec));
    json_object_set_new(o, "codec_long_name", cli_json_string(st->codec_long_name));
    json_object_set_new(o, "profile", cli_json_string(st->profile));
    json_object_set_new(o, "width", jcount(st->width));
    json_object_set_new(o, "height", jcount(st->height));
    json_object_set_new(o, "pixel_format", cli_json_string(st->pixel_format));
    json_object_set_new(o, "sample_aspect_ratio", jrational(st->sample_aspect_ratio));
    json_object_set_new(o, "avg_frame_rate", jrational(st->avg_frame_rate));
    json_object_set_new(o, "real_frame_rate", jrational(st->real_frame_rate));
    json_object_set_new(o, "rotation", jreal(st->rotation));
    json_object_set_new(o, "sample_rate", jcount(st->sample_rate));
    json_object_set_new(o, "channels", jcount(st->channels));
    json_object_set_new(o, "channel_layout", cli_json_string(st->channel_layout));
    json_object_set_new(o, "bit_rate", jcount(st->bit_rate));
    json_object_set_new(o, "start_time", jreal(st->start_time));
    json_object_set_new(o, "duration", jreal(st->duration));
    json_object_set_new(o, "frame_count", jcount(st->frame_count));
    json_object_set_new(o, "language", cli_json_string(st->language));
    json_object_set_new(o, "title", cli_json_string(st->title));
    json_object_set_new(o, "disposition", jdisposition(st->disposition));
    json_object_set_new(o, "tags", jtags(st->tag_count, st->tags));
    return o;
}

json_t *cli_probe_json(const afmpeg_probe_result *p)
{
    json_t *o = json_object(), *chapters = json_array(), *streams = json_array();
    if (!o || !chapters || !streams) {
        json_decref(o);
        json_decref(chapters);
        json_decref(streams);
        return NULL;
    }
    json_object_set_new(o, "format_name", cli_json_string(p->format_name));
    json_object_set_new(o, "format_long_name", cli_json_string(p->format_long_name));
    json_object_set_new(o, "duration", jreal(p->duration));
    json_object_set_new(o, "start_time", jreal(p->start_time));
    json_object_set_new(o, "size", jcount(p->size));
    json_object_set_new(o, "bit_rate", jcount(p->bit_rate));
    json_object_set_new(o, "tags", jtags(p->tag_count, p->tags));
    for (size_t i = 0; i < p->chapter_count; i++) {
        const afmpeg_chapter_info *c = &p->chapters[i];
        json_t *jc = json_object();
        if (!jc)
            continue;
        json_object_set_new(jc, "id", json_integer(c->id));
        json_object_set_new(jc, "start", jreal(c->start));
        json_object_set_new(jc, "end", jreal(c->end));
        json_object_set_new(jc, "title", cli_json_string(c->title));
        json_array_append_new(chapters, jc);
    }
    json_object_set_new(o, "chapters", chapters);
    for (size_t i = 0; i < p->stream_count; i++)
        json_array_append_new(streams, jstream(&p->streams[i]));
    json_object_set_new(o, "streams", streams);
    return o;
}

/* ---- the verb ---- */

int cli_probe(const cli_globals *g, int argc, char **argv)
{
    static const cli_opt opts[] = {{"--json", 0}, {"--help", 0}, {"-h", 0}, {NULL, 0}};
    const char *file = NULL;
    int json = 0;
    cli_args a;
    cli_args_init(&a, verb, opts, argc, argv);
    const char *name, *value;
    int kind;
    while ((kind = cli_args_next(&a, &name, &value)) != CLI_ARG_END) {
        if (kind == CLI_ARG_ERROR)
            return EXIT_USAGE;
        if (kind == CLI_ARG_POSITIONAL) {
            if (file) {
                cli_error(verb, "one FILE only ('%s' is one too many)", value);
                return EXIT_USAGE;
            }
            file = value;
        } else if (!strcmp(name, "--json")) {
            json = 1;
        } else {
            usage(stdout);
            return 0;
        }
    }
    if (!file) {
        cli_error(verb, "missing FILE (usage: afmpeg probe FILE [--json])");
        return EXIT_USAGE;
    }

    char *host = cli_host_path(g, file), *guest = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_probe_result *p = NULL;
    cli_session s;
    int status;
    if (!host) {
        cli_error(verb, "out of memory");
        status = EXIT_HOST;
        goto done;
    }
    status = cli_fs_single_file(verb, host, &fs, &guest);
    if (!status)
        status = cli_session_begin(&s, g, verb);
    if (status)
        goto done;
    int err = afmpeg_probe(s.rt, fs, guest, &s.opts, &p);
    if (err)
        status = cli_report(verb, &s, err);
    cli_session_end(&s);
    if (status)
        goto done;
    if (json) {
        json_t *j = cli_probe_json(p);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2)) || fputc('\n', stdout) == EOF) {
            cli_error(verb, "could not write the JSON");
            status = EXIT_HOST;
        }
        json_decref(j);
    } else {
        print_summary(file, p);
    }
done:
    afmpeg_probe_result_free(p);
    afmpeg_fs_free(fs);
    free(guest);
    free(host);
    return status;
}
