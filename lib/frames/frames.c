/* Frames and thumbnails: ffmpeg in the sandbox decodes the first video stream, selects, scales
 * and encodes the frames, and writes the images one after the other to its stdout; the showinfo
 * filter, last in the chain, logs each frame's timestamp and size on stderr. The host splits
 * stdout into images (PNG chunks, JPEG markers, WebP's RIFF size, or a fixed size for raw
 * pixels) and pairs the n-th image with the n-th showinfo line. Nothing is written to the
 * caller's filesystem.
 *
 * Frames are selected by time (start, every, count) or by scene changes (the select filter's
 * scene score), and scaled to square pixels unless the caller asks for the stored ones: the
 * scale filter's `sar` is the sample aspect ratio of the frames it gets (1 when unknown), so
 * iw*sar is the width of the picture as it is meant to be shown (see build_argv).
 *
 * Times are on the input's own timeline (-copyts): a frame's time is its presentation timestamp
 * as the demuxer gives it, the time ffprobe shows for it, so an MPEG-TS file whose first frame
 * is at 1.48 s reports 1.48, not 0. `start` is read on that same timeline (so a frame's time
 * given back as `start` returns that frame): ffmpeg's -ss is relative to the file's start time,
 * hence -seek_timestamp 1, and since ffmpeg's accurate seek would trim at -ss plus that start
 * time anyway, the seek is a fast one (to the keyframe at or before `start`) and a select filter
 * drops what comes before `start`; a first showinfo, before select, tells whether the seek
 * landed early enough (see frames_impl). */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "job/command.h"

/* Largest width or height asked for: swscale and the encoders refuse much beyond it anyway. */
#define MAX_SIDE 16384
/* One image held in memory (a 8K RGBA frame is 127 MiB), and all of them together. Past
 * either the job is stopped with AFMPEG_ELIMIT. */
#define MAX_FRAME_BYTES (256u << 20)
#define MAX_TOTAL_BYTES ((size_t)1 << 30)
#define MAX_FRAMES 1000000u
/* Slack for comparing frame times with `start` and `every`: timestamps in seconds are
 * products like 1536 * (1/12800) and a time given as 0.12 must select the frame at 0.12. A
 * microsecond is below any real time base step that matters (1/90000 s is 11 us). */
#define TIME_EPS 1e-6
/* Longest sane `start` / `every`, so that the numbers in the select expression stay exact. */
#define MAX_SECONDS 1e9
/* The thumbnail filter keeps every candidate frame in memory until it picks one: 16 frames
 * 0.25 s apart cover 4 s of video and hold at most 16 decoded frames (200 MiB at 4K). */
#define THUMB_CANDIDATES "16"
#define THUMB_SPACING "0.25"
/* JPEG quantiser scale (-q:v, 2 = best .. 31): without it mjpeg aims at 200 kb/s per 25
 * frames, about 1 KiB an image, which is unusable. */
#define JPEG_QSCALE "2"
/* WebP quality (libwebp's 0..100; its default is 75). WebP is the format asked for to keep
 * images small, yet frames are looked at closely (previews, contact sheets, analysis): at 75,
 * photographic frames show ringing and lose fine texture (SSIM 0.966-0.969 on two 720x477
 * photographs), at 85 they do not (SSIM 0.983) and still take about 35% fewer bytes than the
 * JPEG output above (q 2, SSIM 0.990-0.992) -- and half as many on synthetic video (testsrc2).
 * 90 and up cost 25-40% more bytes for the last SSIM hundredths JPEG already gives. */
#define WEBP_QUALITY "85"
/* Largest scene threshold: FFmpeg's scene score is at most 1, and gt(scene,1) takes nothing. */
#define SCENE_MAX 1.0

/* FFmpeg's log kept in the result, for the failure message (afm_stderr_summary). */
#define STDERR_KEEP (64u << 10)
#define SUMMARY_MAX 1024

/* What showinfo said about one frame. */
typedef struct shown {
    double time;
    int width, height;
} shown;

/* One complete image in the collector's buffer. */
typedef struct image {
    size_t offset, size;
} image;


/* The state of one guest job's output, shared by the stdout and stderr callbacks. */
typedef struct collector {
    afmpeg_image_format format;
    /* stdout: the complete images one after the other, then the one still arriving */
    unsigned char *data;
    size_t len, cap;
    size_t cur;         /* where the image being received starts */
    size_t scan;        /* how far into it the parser got (relative to cur) */
    int in_entropy;     /* JPEG: the parser is inside entropy-coded data */
    size_t riff_size;   /* WebP: the image's whole size, from its RIFF header, once read */
    image *images;
    size_t image_count, image_cap;
    /* stderr, read by the tap */
    afm_lines lines;
    int last_level;
    int tb_num, tb_den; /* the last showinfo's input time base */
    shown *shows;       /* what the last showinfo said, frame by frame */
    size_t show_count, show_cap;
    /* with a first showinfo before select (plan.probe_first): the time of the first frame
     * decoded, NaN if none was */
    int probe_first, probe_tb_num, probe_tb_den;
    double first_decoded;
    /* set when a callback stopped the output */
    int fail;
    char fail_msg[200];
} collector;

/* ---- options ------------------------------------------------------------------------------ */

void afmpeg_frames_options_init(afmpeg_frames_options *opts)
{
    static const afmpeg_frames_options d = AFMPEG_FRAMES_OPTIONS_INIT;
    if (opts)
        memcpy(opts, &d, sizeof d);
}

static int bytes_per_pixel(afmpeg_image_format f)
{
    return f == AFMPEG_IMAGE_RGB24 ? 3 : f == AFMPEG_IMAGE_RGBA ? 4 : 0;
}

static const char *format_name(afmpeg_image_format f)
{
    return f == AFMPEG_IMAGE_PNG ? "PNG" : f == AFMPEG_IMAGE_JPEG ? "JPEG"
           : f == AFMPEG_IMAGE_WEBP ? "WebP" : "non-empty raw";
}

/* Checks the options shared by frames and thumbnails (format, size, ignore_sar) and, with
 * `timing`, also start, every, count, scene and scene_min_interval. Copies them into *o (the
 * defaults for NULL). */
static int check_options(const afmpeg_frames_options *fo, int timing, afmpeg_frames_options *o)
{
    afmpeg_frames_options_init(o);
    if (!fo)
        return AFMPEG_OK;
    if (fo->version < 1 || fo->version > AFMPEG_FRAMES_OPTIONS_VERSION)
        return afm_error(AFMPEG_EINVAL, "frames options version %u is not supported (this "
                         "library knows up to %d)", fo->version,
                         AFMPEG_FRAMES_OPTIONS_VERSION);
    if (fo->version == 1) {
        /* 1.0's struct ends where scene begins: read no further, and keep 1.0's meaning of
         * the size (the stored pixels, anamorphic or not) */
        memcpy(o, fo, offsetof(afmpeg_frames_options, scene));
        o->ignore_sar = 1;
    } else {
        *o = *fo;
    }
    switch (o->format) {
    case AFMPEG_IMAGE_PNG:
    case AFMPEG_IMAGE_JPEG:
    case AFMPEG_IMAGE_RGB24:
    case AFMPEG_IMAGE_RGBA:
    case AFMPEG_IMAGE_WEBP:
        break;
    default:
        return afm_error(AFMPEG_EINVAL, "format %d is not an afmpeg_image_format", (int)o->format);
    }
    if (o->ignore_sar != 0 && o->ignore_sar != 1)
        return afm_error(AFMPEG_EINVAL, "ignore_sar %d is neither 0 nor 1", o->ignore_sar);
    if (o->width < 0 || o->width > MAX_SIDE)
        return afm_error(AFMPEG_EINVAL, "width %d is not in 0..%d", o->width,
                         MAX_SIDE);
    if (o->height < 0 || o->height > MAX_SIDE)
        return afm_error(AFMPEG_EINVAL, "height %d is not in 0..%d", o->height,
                         MAX_SIDE);
    int bpp = bytes_per_pixel(o->format);
    if ((uint64_t)o->width * (uint64_t)o->height * (uint64_t)(bpp ? bpp : 4) > MAX_FRAME_BYTES)
        return afm_error(AFMPEG_EINVAL, "width x height %dx%d makes images over %u MiB",
                         o->width, o->height, MAX_FRAME_BYTES >> 20);
    if (!timing)
        return AFMPEG_OK;
    if (!(o->start >= 0 && o->start <= MAX_SECONDS)) /* also NaN */
        return afm_error(AFMPEG_EINVAL, "start %g is not a time in 0..%g seconds", o->start,
                         MAX_SECONDS);
    if (!(o->every == 0 || (o->every >= 0.001 && o->every <= MAX_SECONDS)))
        return afm_error(AFMPEG_EINVAL, "every %g is neither 0 nor in 0.001..%g seconds",
                         o->every, MAX_SECONDS);
    if (o->count > MAX_FRAMES)
        return afm_error(AFMPEG_EINVAL, "count %u is over %u", o->count, MAX_FRAMES);
    if (!(o->scene == 0 || (o->scene > 0 && o->scene < SCENE_MAX)))
        return afm_error(AFMPEG_EINVAL, "scene %g is neither 0 nor a threshold between 0 and "
                         "1 (exclusive)", o->scene);
    if (o->scene > 0 && o->every > 0)
        return afm_error(AFMPEG_EINVAL, "scene and every cannot be used together (scene %g, "
                         "every %g)", o->scene, o->every);
    if (!(o->scene_min_interval >= 0 && o->scene_min_interval <= MAX_SECONDS))
        return afm_error(AFMPEG_EINVAL, "scene_min_interval %g is not in 0..%g seconds",
                         o->scene_min_interval, MAX_SECONDS);
    if (o->scene_min_interval > 0 && o->scene == 0)
        return afm_error(AFMPEG_EINVAL, "scene_min_interval %g needs scene (a threshold)",
                         o->scene_min_interval);
    return AFMPEG_OK;
}

/* Whether the module can write `format`: AFMPEG_OK, or AFMPEG_ENOTSUP with a message. The
 * encoders of PNG, JPEG and raw video are in every module; libwebp is an external library the
 * module may be built without (the first WebP call per runtime lists the encoders, a few short
 * guest jobs). */
static int check_encoder(afmpeg_runtime *rt, afmpeg_image_format format)
{
    if (format != AFMPEG_IMAGE_WEBP)
        return AFMPEG_OK;
    int r = afm_component_has(rt, AFM_ENCODER, "libwebp");
    if (r < 0)
        return r;
    if (r == 0)
        return afm_error(AFMPEG_ENOTSUP, "WebP images need FFmpeg's libwebp encoder, which "
                         "this module was built without");
    return AFMPEG_OK;
}

/* ---- stdout: splitting images ----------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int stop(collector *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records why the output was refused; the guest's write then fails and ffmpeg ends. */
static int stop(collector *c, int err, const char *fmt, ...)
{
    if (!c->fail) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->fail_msg, sizeof c->fail_msg, fmt, ap);
        va_end(ap);
        c->fail = err;
    }
    return 1;
}

/* The parsers look at the image being received, p[0..n), from c->scan on; they return its
 * length once it is complete, 0 while more is needed, -1 if it is not an image, or -2 if it
 * is too large. */

/* PNG: the signature, then chunks (length, type, data, CRC) up to IEND. */
static int64_t png_end(collector *c, const unsigned char *p, size_t n)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (c->scan == 0) {
        if (n < 8)
            return 0;
        if (memcmp(p, sig, 8) != 0)
            return -1;
        c->scan = 8;
    }
    while (c->scan + 8 <= n) {
        uint32_t len = be32(p + c->scan);
        if (len > 0x7fffffffu) /* the PNG limit */
            return -1;
        size_t next = c->scan + 12 + (size_t)len;
        if (next > n)
            return 0;
        int iend = memcmp(p + c->scan + 4, "IEND", 4) == 0;
        c->scan = next;
        if (iend)
            return (int64_t)next;
    }
    return 0;
}

/* JPEG: SOI, then marker segments (0xFF, marker, 2-byte length) up to EOI. After SOS comes
 * entropy-coded data, where 0xFF is followed by 0x00 (a stuffed 0xFF byte), a restart marker
 * RST0-7, or fill 0xFF bytes; any other marker ends it. A marker split across two writes
 * waits for the next one, because the parser only moves past whole markers. */
static int64_t jpeg_end(collector *c, const unsigned char *p, size_t n)
{
    if (c->scan == 0) {
        if (n < 2)
            return 0;
        if (p[0] != 0xFF || p[1] != 0xD8)
            return -1;
        c->scan = 2;
        c->in_entropy = 0;
    }
    for (;;) {
        if (c->in_entropy) {
            while (c->scan < n) {
                const unsigned char *ff = memchr(p + c->scan, 0xFF, n - c->scan);
                if (!ff) {
                    c->scan = n;
                    return 0;
                }
                c->scan = (size_t)(ff - p);
                if (c->scan + 1 >= n)
                    return 0; /* the byte after 0xFF is still to come */
                unsigned char b = p[c->scan + 1];
                if (b == 0x00 || (b >= 0xD0 && b <= 0xD7))
                    c->scan += 2;
                else if (b == 0xFF)
                    c->scan += 1;
                else {
                    c->in_entropy = 0;
                    break;
                }
            }
            if (c->in_entropy)
                return 0;
        }
        if (c->scan + 2 > n)
            return 0;
        if (p[c->scan] != 0xFF)
            return -1;
        unsigned char m = p[c->scan + 1];
        if (m == 0xFF) { /* fill byte before a marker */
            c->scan += 1;
            continue;
        }
        if (m == 0xD9)
            return (int64_t)(c->scan + 2);
        if (m == 0xD8 || m == 0x00)
            return -1;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* markers without a length */
            c->scan += 2;
            continue;
        }
        if (c->scan + 4 > n)
            return 0;
        size_t len = (size_t)p[c->scan + 2] << 8 | p[c->scan + 3];
        if (len < 2)
            return -1;
        if (c->scan + 2 + len > n)
            return 0;
        c->scan += 2 + len;
        if (m == 0xDA)
            c->in_entropy = 1;
    }
}

/* WebP: a RIFF file, "RIFF", its size after these 8 bytes (little-endian), "WEBP", chunks; the
 * size says where the image ends (libwebp pads every chunk to an even size, so the RIFF size
 * covers the whole file). */
static int64_t webp_end(collector *c, const unsigned char *p, size_t n)
{
    if (c->riff_size == 0) {
        if (n < 12)
            return 0;
        if (memcmp(p, "RIFF", 4) != 0 || memcmp(p + 8, "WEBP", 4) != 0)
            return -1;
        uint64_t size = 8 + ((uint64_t)p[4] | (uint64_t)p[5] << 8 | (uint64_t)p[6] << 16 |
                             (uint64_t)p[7] << 24);
        if (size < 12 + 8) /* "WEBP" and at least one chunk header */
            return -1;
        if (size > MAX_FRAME_BYTES)
            return -2;
        c->riff_size = (size_t)size;
    }
    return n >= c->riff_size ? (int64_t)c->riff_size : 0;
}

/* Raw pixels: the size showinfo gave for this frame; it logs a frame before ffmpeg encodes and
 * writes it, so the size is known by the time its bytes arrive (if not, they wait). */
static int64_t raw_end(collector *c, size_t n)
{
    if (c->image_count >= c->show_count)
        return 0;
    const shown *s = &c->shows[c->image_count];
    uint64_t size = (uint64_t)s->width * (uint64_t)s->height * bytes_per_pixel(c->format);
    if (size == 0)
        return -1;
    if (size > MAX_FRAME_BYTES)
        return -2;
    return n >= size ? (int64_t)size : 0;
}

static int on_stdout(const void *data, size_t len, void *payload)
{
    collector *c = payload;
    if (c->fail)
        return 1;
    if (len > MAX_TOTAL_BYTES - c->len)
        return stop(c, AFMPEG_ELIMIT, "the images took more than %zu MiB of memory; take fewer "
                    "(count, every) or smaller ones", MAX_TOTAL_BYTES >> 20);
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 1u << 16;
        while (cap < c->len + len)
            cap = cap > MAX_TOTAL_BYTES / 2 ? MAX_TOTAL_BYTES : cap * 2;
        unsigned char *d = realloc(c->data, cap);
        if (!d)
            return stop(c, AFMPEG_ENOMEM, "out of memory for the images");
        c->data = d;
        c->cap = cap;
    }
    memcpy(c->data + c->len, data, len);
    c->len += len;

    for (;;) {
        const unsigned char *p = c->data + c->cur;
        size_t n = c->len - c->cur;
        if (n == 0)
            return 0;
        int64_t end = c->format == AFMPEG_IMAGE_PNG    ? png_end(c, p, n)
                      : c->format == AFMPEG_IMAGE_JPEG ? jpeg_end(c, p, n)
                      : c->format == AFMPEG_IMAGE_WEBP ? webp_end(c, p, n)
                                                       : raw_end(c, n);
        if (end == -2 && c->format == AFMPEG_IMAGE_WEBP)
            return stop(c, AFMPEG_ELIMIT, "an image is over %u MiB", MAX_FRAME_BYTES >> 20);
        if (end == -2)
            return stop(c, AFMPEG_ELIMIT, "a frame of %dx%d pixels is over %u MiB",
                        c->shows[c->image_count].width, c->shows[c->image_count].height,
                        MAX_FRAME_BYTES >> 20);
        if (end < 0)
            return stop(c, AFMPEG_ERROR, "image %zu of FFmpeg's output is not a %s image",
                        c->image_count, format_name(c->format));
        if (end == 0) {
            if (n > MAX_FRAME_BYTES)
                return stop(c, AFMPEG_ELIMIT, "an image is over %u MiB",
                            MAX_FRAME_BYTES >> 20);
            return 0;
        }
        if (c->image_count >= MAX_FRAMES)
            return stop(c, AFMPEG_ELIMIT, "more than %u frames", MAX_FRAMES);
        if (c->image_count == c->image_cap) {
            size_t cap = c->image_cap ? c->image_cap * 2 : 16;
            image *im = realloc(c->images, cap * sizeof *im);
            if (!im)
                return stop(c, AFMPEG_ENOMEM, "out of memory for the images");
            c->images = im;
            c->image_cap = cap;
        }
        c->images[c->image_count++] = (image){c->cur, (size_t)end};
        c->cur += (size_t)end;
        c->scan = 0;
        c->in_entropy = 0;
        c->riff_size = 0;
    }
}

/* ---- stderr: showinfo's lines and FFmpeg's errors ----------------------------------------- */

/* showinfo's lines: "config in time_base: 1/12800, frame_rate: 25/1" once the filter is set up
 * (again if the graph is rebuilt), then per frame "n:   0 pts:  12800 pts_time:1 pos: ...
 * fmt:yuv420p sar:1/1 s:320x240 ...". The time is pts times the time base: pts_time is printed
 * with 6 significant digits only. Returns 1 for a frame's line, with *out filled. */
static int parse_showinfo(const char *s, int *tb_num, int *tb_den, shown *out)
{
    int num, den;
    if (sscanf(s, "config in time_base: %d/%d", &num, &den) == 2) {
        *tb_num = num;
        *tb_den = den;
        return 0;
    }
    if (strncmp(s, "n:", 2) != 0)
        return 0;
    const char *pts = strstr(s, " pts:"), *pts_time = strstr(s, " pts_time:");
    const char *size = strstr(s, " s:");
    shown sh = {NAN, 0, 0};
    if (!size || sscanf(size, " s:%dx%d", &sh.width, &sh.height) != 2)
        return 0;
    if (pts && *tb_den > 0 && *tb_num > 0) {
        char *end;
        long long v = strtoll(pts + 5, &end, 10);
        if (end != pts + 5 && (*end == ' ' || *end == '\0')) /* not "NOPTS" */
            sh.time = (double)v * *tb_num / *tb_den;
    } else if (pts_time) {
        char *end;
        double v = strtod(pts_time + 10, &end);
        if (end != pts_time + 10)
            sh.time = v;
    }
    *out = sh;
    return 1;
}

static void showinfo_line(collector *c, int index, const char *s)
{
    shown sh;
    if (c->probe_first && index == 0) {
        if (parse_showinfo(s, &c->probe_tb_num, &c->probe_tb_den, &sh) &&
            isnan(c->first_decoded))
            c->first_decoded = sh.time;
        return;
    }
    if (!parse_showinfo(s, &c->tb_num, &c->tb_den, &sh))
        return;
    if (c->show_count >= MAX_FRAMES + 64u) /* more frames than images can ever be asked for */
        return;
    if (c->show_count == c->show_cap) {
        size_t cap = c->show_cap ? c->show_cap * 2 : 16;
        shown *n = realloc(c->shows, cap * sizeof *n);
        if (!n) {
            stop(c, AFMPEG_ENOMEM, "out of memory for the frame descriptions");
            return;
        }
        c->shows = n;
        c->show_cap = cap;
    }
    c->shows[c->show_count++] = sh;
}

/* One line of FFmpeg's log (afm_log_line): a line without a level tag belongs to the previous
 * line's level; showinfo's lines are at info level, in the context "Parsed_showinfo_N". */
static void log_line(char *s, size_t len, void *payload)
{
    collector *c = payload;
    const char *ctx, *text;
    size_t ctx_len;
    int level = afm_log_line(s, len, &ctx, &ctx_len, &text);
    if (level < 0)
        level = c->last_level;
    c->last_level = level;
    if (level == AFM_LOG_INFO && ctx && ctx_len > 16 && !strncmp(ctx, "Parsed_showinfo_", 16))
        showinfo_line(c, atoi(ctx + 16), text);
}

/* The stderr tap: FFmpeg's log, line by line (afm_lines). */
static int on_stderr(const void *data, size_t len, void *payload)
{
    collector *c = payload;
    afm_lines_feed(&c->lines, data, len);
    return 0;
}

/* ---- running the job ---------------------------------------------------------------------- */

static void collector_init(collector *c, afmpeg_image_format format, int probe_first)
{
    memset(c, 0, sizeof *c);
    c->format = format;
    c->last_level = AFM_LOG_INFO;
    afm_lines_init(&c->lines, log_line, c);
    c->probe_first = probe_first;
    c->first_decoded = NAN;
}

static void collector_free(collector *c)
{
    free(c->data);
    free(c->images);
    free(c->shows);
    memset(c, 0, sizeof *c);
}

/* What one guest job is to do. */
typedef struct plan {
    const char *path;
    afmpeg_frames_options fo;
    double from;     /* frames at or after this time; 0: from the first frame */
    double seek;     /* > 0: seek to the keyframe at or before this time first */
    int probe_first; /* log the first frame decoded (a showinfo before select) */
    int thumbnail;   /* 1: one frame picked by the thumbnail filter, fo's timing ignored */
} plan;

/* A number for an ffmpeg expression: exact (17 significant digits). */
static void fmt_num(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.17g", v);
}

/* Builds the ffmpeg argv for `p` in argv (at least 40 slots), with its strings in the
 * caller's buffers. Returns 0, or AFMPEG_ENOMEM. */
static int build_argv(const plan *p, const char **argv, const char *input, char *seek,
                      char *graph, size_t graph_size, char *frames)
{
    size_t n = 0;
    char lo[40], every[40], scene[40], gap[40], w[16], h[16];
    argv[n++] = "ffmpeg";
    argv[n++] = "-hide_banner";
    argv[n++] = "-nostdin";
    argv[n++] = "-nostats";
    /* info for showinfo; the level tags tell FFmpeg's errors from the rest */
    argv[n++] = "-loglevel";
    argv[n++] = "level+info";
    argv[n++] = "-copyts";
    if (p->seek > 0) {
        /* seek to the keyframe at or before `seek` on the input's timeline; the select
         * filter below takes the frames from `from` on */
        snprintf(seek, 40, "%.6f", p->seek - 2 * TIME_EPS > 0 ? p->seek - 2 * TIME_EPS : 0);
        argv[n++] = "-seek_timestamp";
        argv[n++] = "1";
        argv[n++] = "-noaccurate_seek";
        argv[n++] = "-ss";
        argv[n++] = seek;
    }
    argv[n++] = "-i";
    argv[n++] = input;
    argv[n++] = "-map";
    argv[n++] = "0:v:0";

    /* The filter chain: [showinfo,] [select,] [thumbnail,] [scale,[setsar,]] showinfo. */
    size_t g = 0;
    graph[0] = '\0';
#define GRAPH_APPEND(...)                                                                      \
    (g += (size_t)snprintf(graph + g, g < graph_size ? graph_size - g : 0, __VA_ARGS__))
    if (p->probe_first)
        GRAPH_APPEND("showinfo=checksum=0,");
    fmt_num(lo, sizeof lo, p->from - TIME_EPS);
    char from_cond[64] = ""; /* "gte(t,LO)*": nothing before `from` */
    if (p->from > 0)
        snprintf(from_cond, sizeof from_cond, "gte(t,%s)*", lo);
    if (p->thumbnail) {
        /* candidates at least THUMB_SPACING apart, the first one the first frame from `from` */
        GRAPH_APPEND("select='%s(isnan(prev_selected_t)+gte(t-prev_selected_t,%s))',"
                     "thumbnail=n=%s,",
                     from_cond, THUMB_SPACING, THUMB_CANDIDATES);
    } else if (p->fo.every > 0) {
        /* Frame k is the first frame at or after from + k * every: with slot(t) = floor((t -
         * from) / every) (TIME_EPS of slack in `lo`), a frame is taken when its slot is past
         * the slot of the last frame taken. A slot with no frame in it (a gap in the video, or
         * `every` shorter than a frame) gives no frame of its own. */
        fmt_num(every, sizeof every, p->fo.every);
        GRAPH_APPEND("select='%s(isnan(prev_selected_t)+gt(floor((t-(%s))/%s),"
                     "floor((prev_selected_t-(%s))/%s)))',", from_cond, lo, every, lo, every);
    } else if (p->fo.scene > 0) {
        /* The first frame from `from` on, then each frame whose scene score (select computes
         * it for every frame it sees, against the one before, also those before `from` after
         * a seek) is above the threshold, and, with a minimum interval, that far after the
         * last frame taken. */
        fmt_num(scene, sizeof scene, p->fo.scene);
        if (p->fo.scene_min_interval > 0) {
            fmt_num(gap, sizeof gap, p->fo.scene_min_interval - TIME_EPS);
            GRAPH_APPEND("select='%s(isnan(prev_selected_t)+gt(scene,%s)*"
                         "gte(t-prev_selected_t,%s))',", from_cond, scene, gap);
        } else {
            GRAPH_APPEND("select='%s(isnan(prev_selected_t)+gt(scene,%s))',", from_cond, scene);
        }
    } else if (p->from > 0) {
        GRAPH_APPEND("select='gte(t,%s)',", lo);
    }
    /* One side 0 follows the other's aspect ratio, rounded to the nearest whole pixel and at
     * least 1 -- what scale's -1 does, without its 0 for an extreme ratio. With square pixels
     * (ignore_sar 0) that is the display aspect ratio, iw*sar:ih, and a frame of the stored
     * size is widened (or narrowed) to iw*sar first; setsar=1 then says so in the image (the
     * scale filter's own SAR would be off by its rounding). The scale filter passes frames of
     * the size and format it is asked for through untouched, so square-pixel video costs
     * nothing. Both sides given: exactly that size, whatever the pixels. */
    if (p->fo.width)
        snprintf(w, sizeof w, "%d", p->fo.width);
    if (p->fo.height)
        snprintf(h, sizeof h, "%d", p->fo.height);
    const char *iw = p->fo.ignore_sar ? "iw" : "iw*sar";
    if (p->fo.width && p->fo.height)
        GRAPH_APPEND("scale=w=%s:h=%s,", w, h);
    else if (p->fo.width)
        GRAPH_APPEND("scale=w=%s:h='max(1,round(%s*ih/(%s)))',", w, w, iw);
    else if (p->fo.height)
        GRAPH_APPEND("scale=w='max(1,round(%s*%s/ih))':h=%s,", h, iw, h);
    else if (!p->fo.ignore_sar)
        GRAPH_APPEND("scale=w='max(1,round(iw*sar))':h=ih,");
    if (!p->fo.ignore_sar && !(p->fo.width && p->fo.height))
        GRAPH_APPEND("setsar=1,");
    GRAPH_APPEND("showinfo=checksum=0");
#undef GRAPH_APPEND
    if (g >= graph_size)
        return AFMPEG_ENOMEM;
    argv[n++] = "-vf";
    argv[n++] = graph;
    /* one image per frame out of the graph: no duplicates or drops for a constant rate */
    argv[n++] = "-fps_mode";
    argv[n++] = "passthrough";
    unsigned count = p->thumbnail                            ? 1
                     : p->fo.count                           ? p->fo.count
                     : p->fo.every > 0 || p->fo.scene > 0 ? 0
                                                             : 1;
    if (count) {
        snprintf(frames, 16, "%u", count);
        argv[n++] = "-frames:v";
        argv[n++] = frames;
    }
    /* images: one encoded file after another through image2pipe, with the encoder's option;
     * raw pixels: rawvideo in the asked layout */
    const char *format = "image2pipe", *codec, *opt, *val;
    switch (p->fo.format) {
    case AFMPEG_IMAGE_PNG:
        codec = "png", opt = NULL, val = NULL;
        break;
    case AFMPEG_IMAGE_JPEG:
        codec = "mjpeg", opt = "-q:v", val = JPEG_QSCALE;
        break;
    case AFMPEG_IMAGE_WEBP:
        /* libwebp writes each frame as a complete still WebP file (libwebp_anim would make
         * one animation) */
        codec = "libwebp", opt = "-quality", val = WEBP_QUALITY;
        break;
    default:
        format = codec = "rawvideo", opt = "-pix_fmt";
        val = p->fo.format == AFMPEG_IMAGE_RGB24 ? "rgb24" : "rgba";
        break;
    }
    argv[n++] = "-f";
    argv[n++] = format;
    argv[n++] = "-c:v";
    argv[n++] = codec;
    if (opt) {
        argv[n++] = opt;
        argv[n++] = val;
    }
    argv[n++] = "pipe:1";
    argv[n] = NULL;
    return AFMPEG_OK;
}

/* Runs one guest job for `p` into *c. AFMPEG_OK when ffmpeg ran to exit 0 and its output made
 * whole images, each described by showinfo. */
static int run_plan(afmpeg_runtime *rt, afmpeg_fs *fs, const plan *p,
                    const afmpeg_job_options *opts, collector *c)
{
    afmpeg_job_options o;
    afm_derive_options(opts, on_stdout, NULL, c, &o);
    o.stderr_limit = STDERR_KEEP;
    afm_run_hooks hooks = {NULL, NULL, NULL, on_stderr, c};
    char *input = afm_media_url(p->path, 0);
    if (!input)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    const char *argv[48];
    char seek[40], graph[1024], frames[16];
    int err = build_argv(p, argv, input, seek, graph, sizeof graph, frames);
    if (err) {
        free(input);
        return afm_error(err, "the filter graph does not fit");
    }
    afmpeg_result *res = NULL;
    err = afm_run(rt, fs, argv, &o, &hooks, &res);
    free(input);
    afm_lines_flush(&c->lines); /* a last line without its newline */
    int exit_code = afmpeg_result_exit_code(res);
    char summary[SUMMARY_MAX];
    afm_stderr_summary(res, summary, sizeof summary);
    afmpeg_result_free(res);
    if (err) /* stopped, cancelled, closed: the run's message says what happened */
        return err;
    if (c->fail)
        return afm_error(c->fail, "%s", c->fail_msg);
    if (exit_code != 0) {
        if (strstr(summary, "Stream map '0:v:0' matches no streams")) /* FFmpeg's advice is for
                                                                      * its CLI, not callers */
            return afm_error(AFMPEG_EMEDIA, "'%s' has no video stream", p->path);
        return afm_error(AFMPEG_EMEDIA, "no frames could be taken from '%s' (ffmpeg exit %d): "
                         "%s", p->path, exit_code, summary);
    }
    if (c->len > c->cur)
        return afm_error(AFMPEG_ERROR, "FFmpeg's output ended inside image %zu",
                         c->image_count);
    if (c->image_count > c->show_count)
        return afm_error(AFMPEG_ERROR, "FFmpeg wrote %zu images but described %zu frames",
                         c->image_count, c->show_count);
    return AFMPEG_OK;
}

/* ---- the list ----------------------------------------------------------------------------- */

/* The list, its frames in the same allocation, and the images in one buffer. */
typedef struct frame_list {
    afmpeg_frame_list pub; /* first: the public pointer is this struct's */
    unsigned char *data;
    afmpeg_frame frames[];
} frame_list;

/* Hands the first `count` images of *c over to a new list (the buffer moves, no copy). */
static int make_list(collector *c, size_t count, afmpeg_frame_list **out)
{
    if (count > c->image_count)
        count = c->image_count;
    frame_list *l = calloc(1, sizeof *l + count * sizeof l->frames[0]);
    if (!l)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    size_t used = count ? c->images[count - 1].offset + c->images[count - 1].size : 0;
    if (used) {
        /* give back what the doubling reserved */
        unsigned char *d = used < c->cap ? realloc(c->data, used) : c->data;
        l->data = d ? d : c->data;
        c->data = NULL;
        c->len = c->cap = c->cur = 0;
    }
    for (size_t i = 0; i < count; i++) {
        afmpeg_frame *f = &l->frames[i];
        f->time = c->shows[i].time;
        f->width = c->shows[i].width;
        f->height = c->shows[i].height;
        f->format = c->format;
        f->size = c->images[i].size;
        f->data = l->data + c->images[i].offset;
    }
    l->pub.count = count;
    l->pub.frames = l->frames;
    *out = &l->pub;
    return AFMPEG_OK;
}

void afmpeg_frame_list_free(afmpeg_frame_list *list)
{
    if (!list)
        return;
    frame_list *l = (frame_list *)list;
    free(l->data);
    free(l);
}

/* ---- the calls ---------------------------------------------------------------------------- */

/* Arguments every call checks, and the file (afm_check_input) before any guest runs. */
static int check_call(const char *call, afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                      const afmpeg_job_options *opts, afmpeg_frame_list **out)
{
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!rt || !fs)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !rt ? "rt" : "fs");
    int err = afm_check_ffmpeg(rt, call);
    if (!err)
        err = afm_check_job_options(opts);
    return err ? err : afm_check_input(fs, path);
}

/* How far before `start` the second try seeks, at least (see frames_impl). */
#define SEEK_BACK 10.0

static int frames_impl(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                       const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                       afmpeg_frame_list **out)
{
    afm_error_clear();
    int err = check_call("afmpeg_frames()", rt, fs, path, opts, out);
    if (err)
        return err;
    plan p = {path, {0}, 0, 0, 0, 0};
    err = check_options(fo, 1, &p.fo);
    if (!err)
        err = check_encoder(rt, p.fo.format);
    if (err)
        return err;
    p.from = p.seek = p.fo.start;
    p.probe_first = p.from > 0;
    collector c;
    collector_init(&c, p.fo.format, p.probe_first);
    err = run_plan(rt, fs, &p, opts, &c);
    /* The seek is trusted when a frame at or before `start` was decoded: from there on the
     * decoder saw every frame, so the first one select let through is the first at or after
     * `start`. Files without an index (MPEG-TS, raw streams) seek by timestamps to a packet
     * that need not be a keyframe, and the decoder skips to the next keyframe, which can be
     * after `start` (native ffmpeg's -ss does the same). Then a second job seeks further back:
     * SEEK_BACK seconds, or twice as far as the first landed past `start`. If `start` is
     * before the video's first frame, that second job finds the same frames. */
    if (!err && p.probe_first && !(c.first_decoded <= p.from + TIME_EPS)) {
        double back = !isnan(c.first_decoded)
                          ? fmax(SEEK_BACK, 2 * (c.first_decoded - p.from)) : SEEK_BACK;
        collector_free(&c);
        p.seek = p.from - back > 0 ? p.from - back : 0;
        p.probe_first = 0;
        collector_init(&c, p.fo.format, 0);
        err = run_plan(rt, fs, &p, opts, &c);
    }
    if (!err && c.image_count == 0 && p.from == 0)
        err = afm_error(AFMPEG_EMEDIA, "no frame of the video in '%s' could be decoded", path);
    if (!err) {
        size_t want = p.fo.count                          ? p.fo.count
                      : p.fo.every > 0 || p.fo.scene > 0 ? c.image_count
                                                          : 1;
        err = make_list(&c, want, out);
    }
    collector_free(&c);
    return err;
}

/* The thumbnail filter's pick is "near `time`" by nature, so its seek is not checked as
 * frames_impl checks its own: at most two jobs, the second when nothing came from `time` on. */
static int thumbnail_impl(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path, double time,
                          const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                          afmpeg_frame_list **out)
{
    afm_error_clear();
    int err = check_call("afmpeg_thumbnail()", rt, fs, path, opts, out);
    if (err)
        return err;
    plan p = {path, {0}, 0, 0, 0, 1};
    err = check_options(fo, 0, &p.fo);
    if (err)
        return err;
    if (!(time >= 0 && time <= MAX_SECONDS))
        return afm_error(AFMPEG_EINVAL, "time %g is not in 0..%g seconds", time,
                         MAX_SECONDS);
    err = check_encoder(rt, p.fo.format);
    if (err)
        return err;
    p.from = p.seek = time;
    collector c;
    collector_init(&c, p.fo.format, 0);
    err = run_plan(rt, fs, &p, opts, &c);
    if (!err && c.image_count == 0 && p.from > 0) {
        /* nothing from `time` on: past the end, so the thumbnail is taken from the start */
        collector_free(&c);
        collector_init(&c, p.fo.format, 0);
        p.from = p.seek = 0;
        err = run_plan(rt, fs, &p, opts, &c);
    }
    if (!err && c.image_count == 0)
        err = afm_error(AFMPEG_EMEDIA, "no frame of the video in '%s' could be decoded", path);
    if (!err)
        err = make_list(&c, 1, out);
    collector_free(&c);
    return err;
}

int afmpeg_frames(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                  const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                  afmpeg_frame_list **out)
{
    int err = frames_impl(rt, fs, path, fo, opts, out);
    if (!err)
        afm_error_clear();
    return err;
}

int afmpeg_thumbnail(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path, double time,
                     const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                     afmpeg_frame_list **out)
{
    int err = thumbnail_impl(rt, fs, path, time, fo, opts, out);
    if (!err)
        afm_error_clear();
    return err;
}
