/* afmpeg thumbnail IN OUT and afmpeg frames IN OUTDIR: afmpeg_thumbnail() and afmpeg_frames().
 *
 * The guest gets IN alone, read-only (cli_fs_single_file()): the library hands the images back in
 * memory and this program writes them, so the guest writes nothing at all, and IN and OUT may be
 * anywhere the user can read and write, as with any command-line tool. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* frames asks for the frames in batches, each a job of its own that seeks to where the last one
 * stopped, so that a long video never has all its images in memory at once (the library refuses
 * past 1 GiB). The first batch is small; later ones hold about BATCH_BYTES of images. */
#define FIRST_BATCH 8u
#define MAX_BATCH 64u
#define BATCH_BYTES (128u << 20)
/* How far after the last frame taken the next batch of consecutive frames starts: more than the
 * library's 1 us slack, less than any real frame interval. */
#define NEXT_FRAME_GAP 1e-5

static const char *format_name(afmpeg_image_format f)
{
    return f == AFMPEG_IMAGE_JPEG ? "JPEG" : f == AFMPEG_IMAGE_WEBP ? "WebP" : "PNG";
}

/* The image format an extension or a --format value names: 0, or -1 if none. */
static int parse_format(const char *name, afmpeg_image_format *out)
{
    if (!strcmp(name, "png"))
        *out = AFMPEG_IMAGE_PNG;
    else if (!strcmp(name, "jpg") || !strcmp(name, "jpeg"))
        *out = AFMPEG_IMAGE_JPEG;
    else if (!strcmp(name, "webp"))
        *out = AFMPEG_IMAGE_WEBP;
    else
        return -1;
    return 0;
}

/* --width / --height, shared by both verbs. 0 if `name` is one of them (parsed), 1 if not, or an
 * exit status. */
static int size_option(const char *verb, const char *name, const char *value,
                       afmpeg_frames_options *fo)
{
    long v;
    if (strcmp(name, "--width") && strcmp(name, "--height"))
        return 1;
    if (cli_parse_count(verb, name, value, 1, 16384, &v))
        return EXIT_USAGE;
    *(name[2] == 'w' ? &fo->width : &fo->height) = (int)v;
    return 0;
}

/* ---- thumbnail ---- */

static void thumbnail_usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [-C DIR] [LIMITS] thumbnail IN OUT.png|OUT.jpg|OUT.webp\n"
            "                                [--at S] [--width W] [--height H]\n"
            "\n"
            "Writes one representative frame of IN's video (FFmpeg's thumbnail filter\n"
            "over the frames from --at on) as a PNG, JPEG or WebP image, as OUT's\n"
            "extension says. The image has square pixels: anamorphic video (720x576\n"
            "shown as 16:9) is widened to its display shape (1024x576) first.\n"
            "\n"
            "  --at S       where to look, in seconds or [HH:]MM:SS (default 0; past\n"
            "               the end: from the start)\n"
            "  --width W    scale to W pixels wide (the height follows, unless given)\n"
            "  --height H   scale to H pixels high (the width follows, unless given)\n"
            "  -h, --help   this text\n"
            "\n"
            "ffmpeg runs in the sandbox and sees IN alone, read-only; afmpeg writes OUT\n"
            "itself, so both may be anywhere you can read and write. Relative paths are\n"
            "relative to DIR when -C is given. On success, one line on stdout: OUT, its\n"
            "size and format, the frame's time. WebP needs a module built with libwebp.\n"
            "Exit status: 1 if IN is missing or has no video, if the module cannot\n"
            "write OUT's format, or OUT cannot be written; 2 for bad arguments; else as\n"
            "'afmpeg --help' says.\n");
}

int cli_thumbnail(const cli_globals *g, int argc, char **argv)
{
    static const char verb[] = "thumbnail";
    static const cli_opt opts[] = {{"--at", 1},   {"--width", 1}, {"--height", 1},
                                   {"--help", 0}, {"-h", 0},      {NULL, 0}};
    const char *in = NULL, *out = NULL;
    double at = 0;
    afmpeg_frames_options fo;
    afmpeg_frames_options_init(&fo);
    cli_args a;
    cli_args_init(&a, verb, opts, argc, argv);
    const char *name, *value;
    int kind, status;
    while ((kind = cli_args_next(&a, &name, &value)) != CLI_ARG_END) {
        if (kind == CLI_ARG_ERROR)
            return EXIT_USAGE;
        if (kind == CLI_ARG_POSITIONAL) {
            if (out) {
                cli_error(verb, "IN and OUT only ('%s' is one too many)", value);
                return EXIT_USAGE;
            }
            *(in ? &out : &in) = value;
        } else if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            thumbnail_usage(stdout);
            return 0;
        } else if (!strcmp(name, "--at")) {
            if (cli_parse_seconds(verb, name, value, &at))
                return EXIT_USAGE;
        } else if ((status = size_option(verb, name, value, &fo)) != 1) {
            if (status)
                return status;
        }
    }
    if (!out) {
        cli_error(verb, "missing %s (usage: afmpeg thumbnail IN OUT.png|OUT.jpg|OUT.webp "
                  "[--at S])", in ? "OUT" : "IN and OUT");
        return EXIT_USAGE;
    }
    char ext[16];
    cli_extension(out, ext, sizeof ext);
    if (parse_format(ext, &fo.format)) {
        cli_error(verb, "OUT '%s' must end in .png, .jpg, .jpeg or .webp", out);
        return EXIT_USAGE;
    }

    char *in_host = cli_host_path(g, in), *out_host = cli_host_path(g, out), *guest = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_frame_list *list = NULL;
    cli_session s;
    if (!in_host || !out_host) {
        cli_error(verb, "out of memory");
        status = EXIT_HOST;
        goto done;
    }
    status = cli_fs_single_file(verb, in_host, &fs, &guest);
    if (!status)
        status = cli_session_begin(&s, g, verb);
    if (status)
        goto done;
    int err = afmpeg_thumbnail(s.rt, fs, guest, at, &fo, &s.opts, &list);
    if (err)
        status = cli_report(verb, &s, err);
    cli_session_end(&s);
    if (status)
        goto done;
    if (list->count != 1) {
        cli_error(verb, "the library returned %zu images, not one", list->count);
        status = EXIT_HOST;
        goto done;
    }
    const afmpeg_frame *f = &list->frames[0];
    if (cli_write_file(out_host, f->data, f->size)) {
        cli_error(verb, "%s: %s", out, strerror(errno));
        status = EXIT_MEDIA;
        goto done;
    }
    char size[32];
    cli_format_size(size, sizeof size, f->size);
    printf("%s: %dx%d %s, frame at %.3f s, %s\n", out, f->width, f->height,
           format_name(f->format), f->time, size);
done:
    afmpeg_frame_list_free(list);
    afmpeg_fs_free(fs);
    free(guest);
    free(in_host);
    free(out_host);
    return status;
}

/* ---- frames ---- */

static void frames_usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [-C DIR] [LIMITS] frames IN OUTDIR\n"
            "                [--every S | --count N | --scene T [--min-interval S]]\n"
            "                [--start S] [--width W] [--height H] [--format png|jpg|webp]\n"
            "\n"
            "Writes frames of IN's first video stream as OUTDIR/frame-0001.png,\n"
            "frame-0002.png, ... (OUTDIR is made if missing; files in it are\n"
            "overwritten) and prints one line per frame: its file and its time in IN,\n"
            "in seconds. Images have square pixels: anamorphic video (720x576 shown\n"
            "as 16:9) is widened to its display shape (1024x576) first.\n"
            "\n"
            "  --every S    a frame every S seconds: the first frame at or after\n"
            "               START, START + S, ... (the default, with S = 1)\n"
            "  --count N    at most N frames; without --every or --scene, N\n"
            "               consecutive frames\n"
            "  --scene T    scene changes: the first frame, then each frame whose\n"
            "               scene score (FFmpeg's, 0..1) is above T, between 0 and 1;\n"
            "               0.3 to 0.4 finds cuts. Not with --every\n"
            "  --min-interval S\n"
            "               with --scene: at least S seconds between two frames\n"
            "  --start S    from S seconds on (seconds or [HH:]MM:SS; default 0)\n"
            "  --width W    scale to W pixels wide (the height follows, unless given)\n"
            "  --height H   scale to H pixels high (the width follows, unless given)\n"
            "  --format F   png (default), jpg or webp (needs a module with libwebp)\n"
            "  -h, --help   this text\n"
            "\n"
            "ffmpeg runs in the sandbox and sees IN alone, read-only; afmpeg writes the\n"
            "images itself, so both may be anywhere you can read and write. Relative\n"
            "paths are relative to DIR when -C is given. Exit status: 1 if IN is\n"
            "missing or has no video, or an image cannot be written; 2 for bad\n"
            "arguments; else as 'afmpeg --help' says.\n");
}

int cli_frames(const cli_globals *g, int argc, char **argv)
{
    static const char verb[] = "frames";
    static const cli_opt opts[] = {{"--every", 1},  {"--count", 1},  {"--start", 1},
                                   {"--width", 1},  {"--height", 1}, {"--format", 1},
                                   {"--scene", 1},  {"--min-interval", 1},
                                   {"--help", 0},   {"-h", 0},       {NULL, 0}};
    const char *in = NULL, *outdir = NULL;
    afmpeg_frames_options fo;
    afmpeg_frames_options_init(&fo);
    int has_every = 0;
    long count = 0;
    cli_args a;
    cli_args_init(&a, verb, opts, argc, argv);
    const char *name, *value;
    int kind, status;
    while ((kind = cli_args_next(&a, &name, &value)) != CLI_ARG_END) {
        if (kind == CLI_ARG_ERROR)
            return EXIT_USAGE;
        if (kind == CLI_ARG_POSITIONAL) {
            if (outdir) {
                cli_error(verb, "IN and OUTDIR only ('%s' is one too many)", value);
                return EXIT_USAGE;
            }
            *(in ? &outdir : &in) = value;
        } else if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            frames_usage(stdout);
            return 0;
        } else if (!strcmp(name, "--every")) {
            if (cli_parse_positive(verb, name, value, &fo.every))
                return EXIT_USAGE;
            if (fo.every < 0.001) {
                cli_error(verb, "--every needs at least 0.001 seconds, not '%s'", value);
                return EXIT_USAGE;
            }
            has_every = 1;
        } else if (!strcmp(name, "--count")) {
            if (cli_parse_count(verb, name, value, 1, 1000000, &count))
                return EXIT_USAGE;
        } else if (!strcmp(name, "--start")) {
            if (cli_parse_seconds(verb, name, value, &fo.start))
                return EXIT_USAGE;
        } else if (!strcmp(name, "--format")) {
            if (parse_format(value, &fo.format)) {
                cli_error(verb, "--format needs png, jpg or webp, not '%s'", value);
                return EXIT_USAGE;
            }
        } else if (!strcmp(name, "--scene")) {
            char *end;
            errno = 0;
            fo.scene = strtod(value, &end);
            if (end == value || *end || errno || !(fo.scene > 0 && fo.scene < 1)) {
                cli_error(verb, "--scene needs a threshold between 0 and 1 (exclusive), "
                          "not '%s'", value);
                return EXIT_USAGE;
            }
        } else if (!strcmp(name, "--min-interval")) {
            if (cli_parse_positive(verb, name, value, &fo.scene_min_interval))
                return EXIT_USAGE;
        } else if ((status = size_option(verb, name, value, &fo)) != 1) {
            if (status)
                return status;
        }
    }
    if (!outdir) {
        cli_error(verb, "missing %s (usage: afmpeg frames IN OUTDIR [--every S | --count N])",
                  in ? "OUTDIR" : "IN and OUTDIR");
        return EXIT_USAGE;
    }
    if (has_every && fo.scene > 0) {
        cli_error(verb, "--every and --scene cannot be used together");
        return EXIT_USAGE;
    }
    if (fo.scene_min_interval > 0 && fo.scene == 0) {
        cli_error(verb, "--min-interval needs --scene");
        return EXIT_USAGE;
    }
    /* With none, a frame a second: every decoded frame would be thousands of files. */
    if (!has_every && !count && fo.scene == 0)
        fo.every = 1;
    const char *ext = fo.format == AFMPEG_IMAGE_JPEG   ? "jpg"
                      : fo.format == AFMPEG_IMAGE_WEBP ? "webp"
                                                       : "png";

    char *in_host = cli_host_path(g, in), *dir_host = cli_host_path(g, outdir), *guest = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_frame_list *list = NULL;
    cli_session s;
    int have_session = 0;
    if (!in_host || !dir_host) {
        cli_error(verb, "out of memory");
        status = EXIT_HOST;
        goto done;
    }
    status = cli_fs_single_file(verb, in_host, &fs, &guest);
    if (status)
        goto done;
    /* Made before any job runs, so a bad OUTDIR fails at once. */
    if (cli_mkdirs(dir_host)) {
        cli_error(verb, "%s: %s", outdir, strerror(errno));
        status = EXIT_MEDIA;
        goto done;
    }
    status = cli_session_begin(&s, g, verb);
    if (status)
        goto done;
    have_session = 1;

    /* Batches. With --every, the library's slots are counted from `start` (frame k is the first
     * at or after start + k * every), so a batch that starts at the slot after the last frame
     * taken takes the frames one job would have. Consecutive frames go on just after the last
     * frame's time. With --scene, a batch starts at the last frame taken: the library takes
     * that frame again (the first from `start` on; it is skipped below), and the scene scores
     * and the minimum interval go on from it as in one job. */
    size_t written = 0, batch = FIRST_BATCH, max_size = 0;
    double start0 = fo.start, last_time = -INFINITY;
    for (;;) {
        size_t want = batch;
        if (count && (size_t)count - written < want)
            want = (size_t)count - written;
        afmpeg_frames_options bo = fo;
        int again = written && fo.scene > 0; /* the first frame is the last one taken */
        bo.count = (unsigned)(want + again);
        if (again) {
            bo.start = last_time;
        } else if (written && fo.every > 0) {
            /* the library's 1 us of slack, so a frame right on a slot's start is in it */
            double slot = floor((last_time - start0 + 1e-6) / fo.every);
            bo.start = start0 + (fmax(slot, -1) + 1) * fo.every;
        } else if (written) {
            bo.start = fmax(last_time + NEXT_FRAME_GAP, start0);
        }
        int err = afmpeg_frames(s.rt, fs, guest, &bo, &s.opts, &list);
        if (err) {
            status = cli_report(verb, &s, err);
            break;
        }
        size_t fresh = 0;
        for (size_t i = 0; i < list->count; i++) {
            const afmpeg_frame *f = &list->frames[i];
            /* A frame an earlier batch took already (should a seek land early) is written
             * once. */
            if (written && !(f->time > last_time))
                continue;
            char *path;
            if (asprintf(&path, "%s/frame-%04zu.%s", dir_host, written + 1, ext) < 0) {
                cli_error(verb, "out of memory");
                status = EXIT_HOST;
                break;
            }
            if (cli_write_file(path, f->data, f->size)) {
                cli_error(verb, "%s: %s", path, strerror(errno));
                free(path);
                status = EXIT_MEDIA;
                break;
            }
            free(path);
            /* The name as the user wrote OUTDIR, not as resolved against -C. */
            printf("%s%sframe-%04zu.%s %.3f\n", outdir,
                   outdir[strlen(outdir) - 1] == '/' ? "" : "/", written + 1, ext, f->time);
            written++;
            fresh++;
            last_time = f->time;
            if (f->size > max_size)
                max_size = f->size;
        }
        fflush(stdout);
        size_t got = list->count;
        afmpeg_frame_list_free(list);
        list = NULL;
        /* A short batch reached the end; one with nothing new would repeat itself forever. */
        if (status || got < bo.count || !fresh || (count && written >= (size_t)count))
            break;
        size_t fit = max_size ? BATCH_BYTES / max_size : MAX_BATCH;
        batch = fit < 1 ? 1 : fit > MAX_BATCH ? MAX_BATCH : fit;
    }
    if (!status && written == 0) {
        cli_error(verb, "no frames from %.3f s on: %s ends before", start0, in);
        status = EXIT_MEDIA;
    }
done:
    if (have_session)
        cli_session_end(&s);
    afmpeg_frame_list_free(list);
    afmpeg_fs_free(fs);
    free(guest);
    free(in_host);
    free(dir_host);
    return status;
}
