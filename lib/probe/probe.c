/* The typed probe: ffprobe runs in the sandbox once per call and prints the container, its
 * streams and chapters as JSON (-of json), which is turned into an afmpeg_probe_result.
 *
 * The JSON comes from a guest that has just read media we must assume hostile, so it is treated
 * as untrusted input: its size is capped while it is captured, every field is looked up by name
 * and type and falls back to "unknown" when missing or mistyped, and what is kept is bounded
 * (streams, chapters, tags, string lengths). The result lives in a small arena: usually a single
 * allocation sized from the JSON, so afmpeg_probe_result_free() is a walk over a short list. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "afmpeg.h"
#include "core/core.h"
#include "core/errors.h"

/* ffprobe's JSON for real media is a few KiB per stream; past this the file is a tag bomb. */
#define MAX_JSON_BYTES (16u << 20)
/* FFmpeg itself opens at most 1000 streams (its max_streams default). */
#define MAX_STREAMS 4096u
#define MAX_CHAPTERS 65536u
#define MAX_TAGS 1024u                 /* per container or stream (a chapter keeps its title) */
#define MAX_STRING (64u << 10)         /* bytes kept of one key or value */
/* Of ffprobe's stderr only the end is reported; keep a little more than that end. */
#define STDERR_KEEP 8192u
#define TAIL_MAX 1024u
/* The longest path quoted in a message, so the message still ends with ffprobe's tail. */
#define PATH_SHOWN 256

/* ---- the arena ----------------------------------------------------------------------------------
 * Chunks hold the result and everything it points to. The result sits at the start of the first
 * chunk, inside a holder that remembers the chunk list (newest first), so freeing needs nothing
 * but the result's pointer. */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk;

typedef struct holder {
    afmpeg_probe_result res; /* first: the holder's address is the result's */
    chunk *chunks;
} holder;

typedef struct builder {
    holder *h;
    int nomem;               /* an allocation failed: the build is abandoned */
} builder;

static void *arena_alloc(builder *b, size_t size, size_t align)
{
    chunk *c = b->h->chunks;
    size_t at = (c->used + align - 1) & ~(align - 1);
    if (at <= c->cap && size <= c->cap - at) {
        c->used = at + size;
        return (unsigned char *)c->data + at;
    }
    /* The first chunk was sized for the whole result; a further one is a rare fallback. */
    size_t cap = size > 16384 ? size : 16384;
    chunk *n = malloc(sizeof *n + cap);
    if (!n) {
        b->nomem = 1;
        return NULL;
    }
    n->next = c;
    n->cap = cap;
    n->used = size;
    b->h->chunks = n;
    return n->data;
}

static void *arena_array(builder *b, size_t n, size_t size, size_t align)
{
    if (n && size > SIZE_MAX / n) {
        b->nomem = 1;
        return NULL;
    }
    void *p = arena_alloc(b, n * size, align);
    if (p)
        memset(p, 0, n * size);
    return p;
}

/* The length of `s` kept: at most MAX_STRING bytes, not cutting a UTF-8 sequence. */
static size_t kept_length(const char *s, size_t len)
{
    if (len <= MAX_STRING)
        return len;
    len = MAX_STRING;
    while (len && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/* A copy of `s` in the arena; "" for the empty string (or after an allocation failed). */
static const char *arena_str(builder *b, const char *s, size_t len)
{
    len = kept_length(s, len);
    if (!len)
        return "";
    char *p = arena_alloc(b, len + 1, 1);
    if (!p)
        return "";
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void afmpeg_probe_result_free(afmpeg_probe_result *probe)
{
    if (!probe)
        return;
    chunk *c = ((holder *)probe)->chunks; /* read before the chunk holding the holder goes */
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* ---- reading fields -----------------------------------------------------------------------------
 * ffprobe prints some numbers as JSON numbers ("width": 320) and others as strings
 * ("bit_rate": "128000", "duration": "1.000000"); each reader takes both and anything else as
 * unknown. Numbers are parsed here rather than with strtod, whose decimal point follows the
 * process's locale. */

/* Parses an optionally signed decimal integer spanning all of s[0..len). */
static int parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > ((uint64_t)INT64_MAX + 1 - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (!neg && v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Parses a plain decimal ("-0.007000", "42", "1.5"), as ffprobe prints times with "%f". */
static int parse_decimal(const char *s, size_t len, double *out)
{
    size_t i = 0;
    int neg = 0, digits = 0, frac = 0, scale = 0; /* scale: integer digits that did not fit */
    uint64_t mant = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (mant <= (UINT64_MAX - 9) / 10)
            mant = mant * 10 + (unsigned)(s[i] - '0');
        else
            scale++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (!scale && mant <= (UINT64_MAX - 9) / 10) { /* later digits are below precision */
                mant = mant * 10 + (unsigned)(s[i] - '0');
                frac++;
            }
        }
    }
    if (!digits || i != len || frac > 300 || scale > 300)
        return -1;
    /* Both operands exact (mant < 2^53, 10^frac up to 10^22) make the division correctly
     * rounded, as strtod would be; beyond that pow() is close enough. */
    double v = (double)mant;
    if (scale)
        v *= pow(10.0, scale);
    if (frac)
        v /= pow(10.0, frac);
    *out = neg ? -v : v;
    return 0;
}

static int64_t get_int64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    int64_t n;
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_string(v) && parse_int64(json_string_value(v), json_string_length(v), &n) == 0)
        return n;
    return -1;
}

/* A count, size, rate or index: never negative, so a negative one is as unknown (-1). */
static int64_t get_count64(json_t *obj, const char *key)
{
    int64_t n = get_int64(obj, key);
    return n >= 0 ? n : -1;
}

static int get_count(json_t *obj, const char *key)
{
    int64_t n = get_int64(obj, key);
    return n >= 0 && n <= INT_MAX ? (int)n : -1;
}

/* A time or other real number; NaN when missing or not a finite number. */
static double get_real(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    double d = NAN;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else if (json_is_string(v) && parse_decimal(json_string_value(v), json_string_length(v), &d))
        d = NAN;
    return isfinite(d) ? d : NAN;
}

/* "num/den" (frame rates) or "num:den" (aspect ratios); 0/0 when unknown. */
static afmpeg_rational get_rational(json_t *obj, const char *key)
{
    afmpeg_rational r = {0, 0};
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return r;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *sep = memchr(s, '/', len);
    if (!sep)
        sep = memchr(s, ':', len);
    int64_t num, den;
    if (sep && parse_int64(s, (size_t)(sep - s), &num) == 0 &&
        parse_int64(sep + 1, len - (size_t)(sep - s) - 1, &den) == 0 && num >= INT_MIN &&
        num <= INT_MAX && den >= INT_MIN && den <= INT_MAX) {
        r.num = (int)num;
        r.den = (int)den;
    }
    return r;
}

/* A string field copied into the arena; "" when missing. An integer is taken in its decimal
 * form (ffprobe prints an unnamed profile as its number). */
static const char *get_str(builder *b, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v))
        return arena_str(b, json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) {
        char num[24];
        int n = snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return arena_str(b, num, (size_t)n);
    }
    return "";
}

/* ASCII-only, so the process's locale cannot change what matches. */
static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y || !x)
            return x - y;
    }
}

/* The value of tag `key` among `tags`: the exact key first, else one differing in case only
 * (FFmpeg's own tag lookups ignore case; Matroska writers use both). "" if none. */
static const char *find_tag(const afmpeg_tag *tags, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tags[i].key, key) == 0)
            return tags[i].value;
    for (size_t i = 0; i < n; i++)
        if (ascii_casecmp(tags[i].key, key) == 0)
            return tags[i].value;
    return "";
}

/* Non-NULL stand-ins for empty arrays, so a reader never meets a NULL pointer. */
static const afmpeg_tag no_tags[1];
static const afmpeg_stream_info no_streams[1];
static const afmpeg_chapter_info no_chapters[1];

/* How many tags of `obj` ("tags": {key: value}) are kept: string values, at most MAX_TAGS. */
static size_t count_tags(json_t *obj)
{
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (n == MAX_TAGS)
            break;
        n += json_is_string(v) ? 1 : 0;
    }
    (void)key;
    return n;
}

/* Copies the tags of `parent` into the arena, in ffprobe's order. */
static void fill_tags(builder *b, json_t *parent, const afmpeg_tag **out, size_t *count)
{
    json_t *obj = json_object_get(parent, "tags");
    size_t n = json_is_object(obj) ? count_tags(obj) : 0;
    afmpeg_tag *tags = n ? arena_array(b, n, sizeof *tags, alignof(afmpeg_tag)) : NULL;
    *out = no_tags;
    *count = 0;
    if (!tags)
        return;
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (i == n)
            break;
        if (!json_is_string(v))
            continue;
        tags[i].key = arena_str(b, key, strlen(key));
        tags[i].value = arena_str(b, json_string_value(v), json_string_length(v));
        i++;
    }
    *out = tags;
    *count = i;
}

static afmpeg_media_type media_type(const char *s)
{
    static const struct {
        const char *name;
        afmpeg_media_type type;
    } types[] = {{"video", AFMPEG_MEDIA_VIDEO},       {"audio", AFMPEG_MEDIA_AUDIO},
                 {"subtitle", AFMPEG_MEDIA_SUBTITLE}, {"data", AFMPEG_MEDIA_DATA},
                 {"attachment", AFMPEG_MEDIA_ATTACHMENT}};
    for (size_t i = 0; s && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(s, types[i].name) == 0)
            return types[i].type;
    return AFMPEG_MEDIA_UNKNOWN;
}

const char *afmpeg_media_type_name(afmpeg_media_type type)
{
    switch (type) {
    case AFMPEG_MEDIA_VIDEO: return "video";
    case AFMPEG_MEDIA_AUDIO: return "audio";
    case AFMPEG_MEDIA_SUBTITLE: return "subtitle";
    case AFMPEG_MEDIA_DATA: return "data";
    case AFMPEG_MEDIA_ATTACHMENT: return "attachment";
    case AFMPEG_MEDIA_UNKNOWN: break;
    }
    return "unknown";
}

/* ffprobe's "disposition" object: one 0/1 member per flag, named as FFmpeg names them. */
static unsigned get_disposition(json_t *stream)
{
    static const struct {
        const char *name;
        unsigned flag;
    } flags[] = {
        {"default", AFMPEG_DISPOSITION_DEFAULT},
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
        {"still_image", AFMPEG_DISPOSITION_STILL_IMAGE},
    };
    json_t *d = json_object_get(stream, "disposition");
    unsigned out = 0;
    if (!json_is_object(d))
        return 0;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int64_t v = get_int64(d, flags[i].name);
        if (v > 0)
            out |= flags[i].flag;
    }
    return out;
}

/* Degrees from the stream's display matrix, as ffprobe reports it in side_data_list; FFmpeg
 * 5.1 no longer exports a "rotate" tag, which is read only when there is no matrix (files
 * described by older tools). 0 when neither is there. */
static double get_rotation(json_t *stream, const afmpeg_tag *tags, size_t ntags)
{
    json_t *list = json_object_get(stream, "side_data_list");
    size_t i;
    json_t *sd;
    json_array_foreach(list, i, sd) {
        json_t *type = json_object_get(sd, "side_data_type");
        if (json_is_string(type) && strcmp(json_string_value(type), "Display Matrix") == 0) {
            double r = get_real(sd, "rotation");
            return isnan(r) ? 0 : r;
        }
    }
    const char *rotate = find_tag(tags, ntags, "rotate");
    double r;
    if (*rotate && parse_decimal(rotate, strlen(rotate), &r) == 0 && isfinite(r))
        return r;
    return 0;
}

static void fill_stream(builder *b, json_t *js, afmpeg_stream_info *s)
{
    json_t *type = json_object_get(js, "codec_type");
    s->index = get_count(js, "index");
    s->type = media_type(json_string_value(type));
    s->codec = get_str(b, js, "codec_name");
    s->codec_long_name = get_str(b, js, "codec_long_name");
    s->profile = get_str(b, js, "profile");
    s->width = get_count(js, "width");
    s->height = get_count(js, "height");
    s->pixel_format = get_str(b, js, "pix_fmt");
    s->sample_aspect_ratio = get_rational(js, "sample_aspect_ratio");
    s->avg_frame_rate = get_rational(js, "avg_frame_rate");
    s->real_frame_rate = get_rational(js, "r_frame_rate");
    s->sample_rate = get_count(js, "sample_rate");
    s->channels = get_count(js, "channels");
    s->channel_layout = get_str(b, js, "channel_layout");
    s->bit_rate = get_count64(js, "bit_rate");
    s->start_time = get_real(js, "start_time");
    s->duration = get_real(js, "duration");
    s->frame_count = get_count64(js, "nb_frames");
    s->disposition = get_disposition(js);
    fill_tags(b, js, &s->tags, &s->tag_count);
    s->language = find_tag(s->tags, s->tag_count, "language");
    s->title = find_tag(s->tags, s->tag_count, "title");
    s->rotation = get_rotation(js, s->tags, s->tag_count);
}

static void fill_chapter(builder *b, json_t *jc, afmpeg_chapter_info *c)
{
    c->id = get_int64(jc, "id");
    c->start = get_real(jc, "start_time");
    c->end = get_real(jc, "end_time");
    json_t *tags = json_object_get(jc, "tags");
    c->title = "";
    const char *key;
    json_t *v;
    /* Only the title is kept of a chapter's tags; looked up as find_tag() does. */
    json_t *exact = json_object_get(tags, "title"), *other = NULL;
    if (!json_is_string(exact)) {
        exact = NULL;
        json_object_foreach(tags, key, v) {
            if (json_is_string(v) && ascii_casecmp(key, "title") == 0) {
                other = v;
                break;
            }
        }
    }
    json_t *t = exact ? exact : other;
    if (t)
        c->title = arena_str(b, json_string_value(t), json_string_length(t));
}

static size_t bounded_size(json_t *array, size_t max)
{
    size_t n = json_array_size(array);
    return n < max ? n : max;
}

/* Builds the result from ffprobe's JSON (`json_len` bytes of it, to size the arena). NULL when
 * out of memory. */
static afmpeg_probe_result *build(json_t *root, json_t *format, size_t json_len)
{
    json_t *streams = json_object_get(root, "streams");
    json_t *chapters = json_object_get(root, "chapters");
    size_t ns = bounded_size(streams, MAX_STREAMS), nc = bounded_size(chapters, MAX_CHAPTERS);

    /* Every string kept is at most as long as it is in the JSON, quotes included, so the JSON's
     * length bounds the strings; the structs are counted. One allocation then holds it all. */
    size_t cap = sizeof(holder) + json_len + 256 + ns * sizeof(afmpeg_stream_info) +
                 nc * sizeof(afmpeg_chapter_info) + 64;
    size_t ntags = count_tags(json_object_get(format, "tags"));
    for (size_t i = 0; i < ns; i++)
        ntags += count_tags(json_object_get(json_array_get(streams, i), "tags"));
    cap += ntags * sizeof(afmpeg_tag) + 4 * alignof(max_align_t);
    chunk *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = sizeof(holder);
    holder *h = (holder *)c->data;
    memset(h, 0, sizeof *h);
    h->chunks = c;
    builder b = {h, 0};
    afmpeg_probe_result *r = &h->res;

    r->format_name = get_str(&b, format, "format_name");
    r->format_long_name = get_str(&b, format, "format_long_name");
    r->duration = get_real(format, "duration");
    r->start_time = get_real(format, "start_time");
    r->size = get_count64(format, "size");
    r->bit_rate = get_count64(format, "bit_rate");
    fill_tags(&b, format, &r->tags, &r->tag_count);

    r->streams = no_streams;
    afmpeg_stream_info *si = NULL;
    if (ns && (si = arena_array(&b, ns, sizeof *si, alignof(afmpeg_stream_info)))) {
        size_t k = 0;
        for (size_t i = 0; i < ns; i++) {
            json_t *js = json_array_get(streams, i);
            if (json_is_object(js))
                fill_stream(&b, js, &si[k++]);
        }
        r->streams = si;
        r->stream_count = k;
    }
    r->chapters = no_chapters;
    afmpeg_chapter_info *ci = NULL;
    if (nc && (ci = arena_array(&b, nc, sizeof *ci, alignof(afmpeg_chapter_info)))) {
        size_t k = 0;
        for (size_t i = 0; i < nc; i++) {
            json_t *jc = json_array_get(chapters, i);
            if (json_is_object(jc))
                fill_chapter(&b, jc, &ci[k++]);
        }
        r->chapters = ci;
        r->chapter_count = k;
    }
    if (b.nomem) {
        afmpeg_probe_result_free(r);
        return NULL;
    }
    return r;
}

/* ---- running ffprobe ------------------------------------------------------------------------- */

/* ffprobe's stdout, captured up to MAX_JSON_BYTES. */
typedef struct capture {
    char *data;
    size_t len, cap;
    int overflow, nomem;
} capture;

/* An afmpeg_output_fn: past the cap (or out of memory) the guest's writes fail, and ffprobe,
 * which ignores failed writes, runs to its end without us holding more. */
static int capture_stdout(const void *data, size_t len, void *payload)
{
    capture *c = payload;
    if (c->overflow || c->nomem)
        return 1;
    if (len > MAX_JSON_BYTES - c->len) {
        c->overflow = 1;
        return 1;
    }
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 16384;
        while (cap < c->len + len + 1)
            cap *= 2;
        char *p = realloc(c->data, cap);
        if (!p) {
            c->nomem = 1;
            return 1;
        }
        c->data = p;
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;
    c->data[c->len] = '\0';
    return 0;
}

int afmpeg_probe(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                 const afmpeg_job_options *opts, afmpeg_probe_result **out)
{
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!rt || !fs)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !rt ? "rt" : "fs");
    int err = afm_check_ffmpeg(rt, "afmpeg_probe()");
    if (!err)
        err = afm_check_job_options(opts);
    if (!err) /* a missing file is AFMPEG_ENOENT, not ffprobe's message, and costs no job */
        err = afm_check_input(fs, path);
    if (err)
        return err;
    int shown = PATH_SHOWN; /* enough of the path to recognise it, whatever its length */

    capture cap = {NULL, 0, 0, 0, 0};
    afmpeg_job_options o;
    afm_derive_options(opts, capture_stdout, NULL, &cap, &o);
    o.stderr_limit = STDERR_KEEP;
    char *url = afm_media_url(path, 0);
    if (!url)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    /* Compact JSON: the same fields in fewer bytes to capture and parse. "--" ends the options,
     * so a path beginning with '-' is still a path. */
    const char *argv[] = {"ffprobe", "-hide_banner", "-v", "error", "-print_format", "json=c=1",
                          "-show_format", "-show_streams", "-show_chapters", "--", url, NULL};
    afmpeg_result *res = NULL;
    err = afm_run(rt, fs, argv, &o, NULL, &res);
    free(url);

    char tail[TAIL_MAX + 1];
    afm_stderr_summary(res, tail, sizeof tail);
    if (err) {
        /* Stopped (or never ran): the run's message; a trap also shows where ffprobe had got
         * to. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", afmpeg_last_error());
        if (err == AFMPEG_ETRAP && *tail)
            afm_error(err, "%.*s: %s; ffprobe said: %s", shown, path, msg, tail);
        else
            afm_error(err, "%.*s: %s", shown, path, msg);
        afmpeg_result_free(res);
        free(cap.data);
        return err;
    }
    int code = afmpeg_result_exit_code(res);
    afmpeg_result_free(res);
    if (code != 0) {
        free(cap.data);
        return afm_error(AFMPEG_EMEDIA, "ffprobe could not read %.*s (exit status %d): %s",
                         shown, path, code, *tail ? tail : "(no message)");
    }
    if (cap.nomem) {
        free(cap.data);
        return afm_error(AFMPEG_ENOMEM, "out of memory capturing ffprobe's output");
    }
    if (cap.overflow) {
        free(cap.data);
        return afm_error(AFMPEG_EMEDIA, "ffprobe's description of %.*s is over %u MiB; not kept",
                         shown, path, MAX_JSON_BYTES >> 20);
    }

    json_error_t jerr;
    json_t *root = cap.data ? json_loadb(cap.data, cap.len, 0, &jerr) : NULL;
    if (!cap.data)
        snprintf(jerr.text, sizeof jerr.text, "no output");
    size_t json_len = cap.len;
    free(cap.data);
    json_t *format = json_object_get(root, "format");
    if (!root || !json_is_object(format)) {
        if (root)
            snprintf(jerr.text, sizeof jerr.text, "no \"format\" section");
        json_decref(root);
        return afm_error(AFMPEG_EMEDIA, "ffprobe's description of %.*s is unusable (%s)%s%s",
                         shown, path, jerr.text, *tail ? ": " : "", tail);
    }
    afmpeg_probe_result *r = build(root, format, json_len);
    json_decref(root);
    if (!r)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    *out = r;
    afm_error_clear();
    return AFMPEG_OK;
}
