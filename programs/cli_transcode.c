/* afmpeg transcode IN OUT [OPTIONS]: an afmpeg_command built from a few flags, run with
 * afmpeg_run_job() on the job's directory.
 *
 * The guest writes OUT itself, so it gets the same host-directory jail the ffmpeg command has:
 * DIR (-C, default the current directory) as its root, nothing outside it. IN and OUT must both
 * be inside DIR; that is checked here first, so the user reads "must be inside DIR" rather than
 * FFmpeg's "Permission denied". The paths handed to the guest are absolute in the jail ("/a.mp4"),
 * which FFmpeg can never read as an option or a protocol, and which --print-argv prints: pasted
 * after `afmpeg` (with the same -C) they name the same files. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "transcode.h"

static const char verb[] = "transcode";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [-C DIR] [LIMITS] transcode IN OUT [OPTIONS]\n"
            "\n"
            "Converts IN to OUT with ffmpeg in the sandbox.\n"
            "\n"
            "  --vcodec C      video encoder (libopenh264, mjpeg, png, ...) or copy\n"
            "  --acodec C      audio encoder (aac, flac, pcm_s16le, ...) or copy\n"
            "  --scale W:H     resize the video; a side of -1 or -2 keeps the aspect\n"
            "                  ratio (-2: an even size, which H.264 needs)\n"
            "  --bitrate B     video bit rate, e.g. 800k or 2M\n"
            "  --abitrate B    audio bit rate, e.g. 128k\n"
            "  --crf N         constant quality (0-51, lower is better) with libx264,\n"
            "                  which only the GPL build of afmpeg has (make MODULE=gpl);\n"
            "                  libopenh264 has none: use --bitrate there\n"
            "  --preset P      libx264's speed/size trade-off: ultrafast, superfast,\n"
            "                  veryfast, faster, fast, medium (its default), slow,\n"
            "                  slower, veryslow, placebo (GPL build only)\n"
            "  --start S       start S seconds into IN (seconds or [HH:]MM:SS)\n"
            "  --duration D    write D seconds of OUT\n"
            "  --parallel N    cut the video at keyframes into N segments encoded at\n"
            "                  once (auto, the default: one per instance, see afmpeg\n"
            "                  --instances; off: one piece), the audio in one piece,\n"
            "                  joined without re-encoding. Only when the output cannot\n"
            "                  change: one video stream at a constant frame rate,\n"
            "                  MP4/MOV out, no --start, --duration or frame-rate change;\n"
            "                  -v says why a job ran as one piece\n"
            "  --print-argv    print the ffmpeg command line instead of running it,\n"
            "                  quoted to be pasted after 'afmpeg'\n"
            "  -v, --verbose   show FFmpeg's messages\n"
            "  -h, --help      this text\n"
            "\n"
            "Codecs by OUT's extension (FFmpeg's defaults for others):\n"
            "  .mp4 .m4v .mov .3gp .mkv .ts .m2ts .avi .flv  H.264 (libopenh264; libx264\n"
            "                  with --crf or --preset, in the GPL build) + AAC\n"
            "  .webm           VP9 (libvpx-vp9, CRF 32 unless --crf or --bitrate) + Opus\n"
            "  .ogg .oga       Vorbis      .opus  Opus      .mp3  MP3 (LAME)\n"
            "  .m4a            AAC         .gif   GIF with a palette made for the clip\n"
            "  .webp           animated WebP\n"
            "The audio-only ones drop the video, .gif and .webp the audio. The summary\n"
            "line names each output stream's codec and the encoder that made it.\n"
            "With a copied stream, --start starts at the keyframe before S.\n"
            "\n"
            "Files: ffmpeg sees only DIR (the current directory, or -C DIR) and can\n"
            "read or write nothing outside it, so IN and OUT must be inside DIR;\n"
            "relative paths are relative to DIR. OUT is overwritten; if the job fails,\n"
            "an OUT it created is removed.\n"
            "\n"
            "On success, one line on stdout: OUT, its duration, streams and size, and\n"
            "the time taken; a progress bar on stderr when that is a terminal. Ctrl-C\n"
            "stops the job (exit 130). Exit status: 1 if ffmpeg failed; 2 for bad\n"
            "arguments, also a codec the sandbox lacks; else as 'afmpeg --help' says.\n");
}

/* ---- paths ---- */

/* Is `path` (canonical) `root` or below it? */
static int is_inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (!strcmp(root, "/"))
        return path[0] == '/';
    return !strncmp(path, root, n) && (path[n] == '\0' || path[n] == '/');
}

/* The guest's name for canonical `path` inside `root`: "/" plus the rest. */
static char *guest_of(const char *root, const char *path)
{
    const char *rest = strcmp(root, "/") ? path + strlen(root) : path;
    return strdup(*rest ? rest : "/");
}

typedef struct paths {
    char *root;                /* DIR, canonical */
    char *in_host, *out_host;  /* as the host opens them */
    char *in_guest, *out_guest;
    int out_existed;           /* OUT was there before the job */
} paths;

static void paths_free(paths *p)
{
    free(p->root);
    free(p->in_host);
    free(p->out_host);
    free(p->in_guest);
    free(p->out_guest);
}

static int outside(const char *what, const char *arg, const char *root)
{
    cli_error(verb, "%s '%s' must be inside %s, the job's directory (the current directory, or "
              "-C DIR)", what, arg, root);
    return EXIT_USAGE;
}

/* Resolves IN and OUT against DIR and checks both are inside it. 0, or an exit status with the
 * error printed. */
static int resolve_paths(const cli_globals *g, const char *in, const char *out, paths *p)
{
    memset(p, 0, sizeof *p);
    p->root = realpath(g->dir, NULL);
    if (!p->root) {
        cli_error(verb, "cannot use directory '%s': %s", g->dir, strerror(errno));
        return EXIT_HOST;
    }
    p->in_host = cli_host_path(g, in);
    p->out_host = cli_host_path(g, out);
    if (!p->in_host || !p->out_host) {
        cli_error(verb, "out of memory");
        return EXIT_HOST;
    }

    /* IN: it must exist; its real place (symlinks followed) must be inside. */
    struct stat in_st, out_st;
    char *real = realpath(p->in_host, NULL);
    if (!real || stat(real, &in_st)) {
        cli_error(verb, "%s: %s", in, strerror(errno));
        free(real);
        return EXIT_MEDIA;
    }
    if (!is_inside(p->root, real)) {
        free(real);
        return outside("IN", in, p->root);
    }
    if (S_ISDIR(in_st.st_mode)) {
        free(real);
        cli_error(verb, "%s: is a directory", in);
        return EXIT_MEDIA;
    }
    p->in_guest = guest_of(p->root, real);
    free(real);

    /* OUT: its directory must exist and be inside; if OUT exists, so must its real place. */
    size_t len = strlen(p->out_host);
    if (!len || p->out_host[len - 1] == '/') {
        cli_error(verb, "OUT '%s' must name a file", out);
        return EXIT_USAGE;
    }
    char *slash = strrchr(p->out_host, '/');
    const char *base = slash ? slash + 1 : p->out_host;
    if (!strcmp(base, ".") || !strcmp(base, "..")) {
        cli_error(verb, "OUT '%s' must name a file", out);
        return EXIT_USAGE;
    }
    char *dir = slash ? strndup(p->out_host, (size_t)(slash - p->out_host)) : strdup(".");
    if (dir && !*dir) {
        free(dir);
        dir = strdup("/");
    }
    real = dir ? realpath(dir, NULL) : NULL;
    if (!real) {
        cli_error(verb, "%s: the directory of OUT: %s", out,
                  dir ? strerror(errno) : "out of memory");
        free(dir);
        return EXIT_MEDIA;
    }
    free(dir);
    if (!is_inside(p->root, real)) {
        free(real);
        return outside("OUT", out, p->root);
    }
    char *dir_guest = guest_of(p->root, real);
    free(real);
    if (!dir_guest || asprintf(&p->out_guest, "%s%s%s", dir_guest,
                               strcmp(dir_guest, "/") ? "/" : "", base) < 0) {
        p->out_guest = NULL;
        free(dir_guest);
        cli_error(verb, "out of memory");
        return EXIT_HOST;
    }
    free(dir_guest);
    if (lstat(p->out_host, &out_st) == 0) {
        p->out_existed = 1;
        real = realpath(p->out_host, NULL);
        if (real && !is_inside(p->root, real)) {
            free(real);
            return outside("OUT", out, p->root);
        }
        free(real);
        if (stat(p->out_host, &out_st) == 0) {
            if (S_ISDIR(out_st.st_mode)) {
                cli_error(verb, "%s: is a directory", out);
                return EXIT_USAGE;
            }
            if (out_st.st_dev == in_st.st_dev && out_st.st_ino == in_st.st_ino) {
                cli_error(verb, "OUT '%s' is IN: ffmpeg would overwrite what it reads", out);
                return EXIT_USAGE;
            }
        }
    }
    return 0;
}

/* ---- --print-argv ---- */

/* Prints `s` as one shell word. */
static void put_word(const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "_@%+=:,./-";
    if (*s && strspn(s, safe) == strlen(s) && *s != '=') {
        fputs(s, stdout);
        return;
    }
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*s);
    }
    putchar('\'');
}

/* Prints the words of an afmpeg command line: the global options given, then the argv. */
static void print_argv(const cli_globals *g, char **argv)
{
    const char *words[8];
    size_t n = 0;
    if (g->dir_given) {
        words[n++] = "-C";
        words[n++] = g->dir;
    }
    if (g->timeout_arg) {
        words[n++] = "--timeout";
        words[n++] = g->timeout_arg;
    }
    if (g->memory_arg) {
        words[n++] = "--memory-limit";
        words[n++] = g->memory_arg;
    }
    if (g->output_arg) {
        words[n++] = "--output-limit";
        words[n++] = g->output_arg;
    }
    for (size_t i = 0; i < n; i++) {
        put_word(words[i]);
        putchar(' ');
    }
    for (char **a = argv; *a; a++) {
        put_word(*a);
        putchar(a[1] ? ' ' : '\n');
    }
}

/* ---- progress ---- */

typedef struct progress_state {
    int tty;       /* stderr is a terminal: draw the bar */
    int drawn;     /* the bar is on the screen now */
} progress_state;

static void clear_bar(progress_state *ps)
{
    if (ps->drawn) {
        fputs("\r\033[K", stderr);
        ps->drawn = 0;
    }
}

static int on_progress(const afmpeg_progress *p, void *payload)
{
    progress_state *ps = payload;
    if (!ps->tty || p->done)
        return 0;
    char line[160];
    int n;
    if (p->fraction >= 0) {
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        int fill = (int)(p->fraction * WIDTH + 0.5);
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[WIDTH] = '\0';
        n = snprintf(line, sizeof line, "\r[%s] %3.0f%%  %.2f s", bar, p->fraction * 100,
                     p->out_time);
    } else {
        n = snprintf(line, sizeof line, "\r%.2f s written", p->out_time);
    }
    if (p->speed > 0 && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "  %.2fx", p->speed);
    fputs(line, stderr);
    fputs("\033[K", stderr);
    ps->drawn = 1;
    return 0;
}

/* --verbose: FFmpeg's messages stream to stderr, the bar cleared before each. */
static int on_stderr(const void *data, size_t len, void *payload)
{
    clear_bar(payload);
    return fwrite(data, 1, len, stderr) == len ? 0 : -1;
}

/* ---- the summary ---- */

static void print_summary(const char *out, const char *out_host, const afmpeg_result *res,
                          double seconds)
{
    const afmpeg_output_info *info = afmpeg_result_output(res, 0);
    const afmpeg_probe_result *pr = info ? info->probe : NULL;
    printf("%s:", out);
    const char *sep = " ";
    if (pr && isfinite(pr->duration)) {
        printf(" %.2f s", pr->duration);
        sep = ", ";
    }
    size_t n = pr ? pr->stream_count : info ? info->stream_count : 0;
    for (size_t i = 0; i < n; i++) {
        fputs(i ? " + " : sep, stdout);
        if (pr) {
            const afmpeg_stream_info *st = &pr->streams[i];
            cli_put_safe(stdout, *st->codec ? st->codec : afmpeg_media_type_name(st->type));
            if (st->type == AFMPEG_MEDIA_VIDEO && st->width > 0 && st->height > 0)
                printf(" %dx%d", st->width, st->height);
            /* the encoder, when the job says which made this stream (not for a copy) */
            if (info && i < info->stream_count && *info->streams[i].encoder) {
                fputs(" (", stdout);
                cli_put_safe(stdout, info->streams[i].encoder);
                fputs(")", stdout);
            }
        } else {
            cli_put_safe(stdout, *info->streams[i].codec ? info->streams[i].codec
                                                         : afmpeg_media_type_name(
                                                               info->streams[i].type));
        }
        sep = ", ";
    }
    struct stat st;
    char size[32] = "";
    if (stat(out_host, &st) == 0 && S_ISREG(st.st_mode))
        cli_format_size(size, sizeof size, (uint64_t)st.st_size);
    else if (pr && pr->size >= 0)
        cli_format_size(size, sizeof size, (uint64_t)pr->size);
    if (*size) {
        printf("%s%s", sep, size);
        sep = ", ";
    }
    size_t segments = afmpeg_result_segments(res, NULL);
    if (segments > 1) {
        printf("%s%zu segments at once", sep, segments);
        sep = ", ";
    }
    printf("%s%.2f s\n", sep, seconds);
}

/* ---- the verb ---- */

typedef struct options {
    const char *in, *out;
    tx_spec tx;
    int print_argv, verbose;
    int parallel;   /* afmpeg_job_options.parallel */
} options;

/* 0 with *o filled, -1 for --help (printed), or an exit status. */
static int parse(int argc, char **argv, options *o)
{
    static const cli_opt opts[] = {
        {"--vcodec", 1}, {"--acodec", 1},   {"--scale", 1},       {"--crf", 1}, {"--preset", 1},
        {"--bitrate", 1}, {"--abitrate", 1}, {"--start", 1},      {"--duration", 1},
        {"--print-argv", 0}, {"--verbose", 0}, {"-v", 0}, {"--help", 0}, {"-h", 0},
        {"--parallel", 1}, {NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->parallel = AFMPEG_PARALLEL_AUTO;
    cli_args a;
    cli_args_init(&a, verb, opts, argc, argv);
    const char *name, *value;
    int kind;
    while ((kind = cli_args_next(&a, &name, &value)) != CLI_ARG_END) {
        if (kind == CLI_ARG_ERROR)
            return EXIT_USAGE;
        if (kind == CLI_ARG_POSITIONAL) {
            if (o->out) {
                cli_error(verb, "IN and OUT only ('%s' is one too many)", value);
                return EXIT_USAGE;
            }
            *(o->in ? &o->out : &o->in) = value;
        } else if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(name, "--vcodec") || !strcmp(name, "--acodec")) {
            if (!*value) {
                cli_error(verb, "%s needs a codec name", name);
                return EXIT_USAGE;
            }
            *(name[2] == 'v' ? &o->tx.vcodec : &o->tx.acodec) = value;
        } else if (!strcmp(name, "--scale")) {
            if (!tx_valid_scale(value)) {
                cli_error(verb, "--scale needs W:H in pixels (e.g. 640:-2), not '%s'", value);
                return EXIT_USAGE;
            }
            o->tx.scale = value;
        } else if (!strcmp(name, "--bitrate") || !strcmp(name, "--abitrate")) {
            if (!tx_valid_bitrate(value)) {
                cli_error(verb, "%s needs a bit rate such as 800k or 2M, not '%s'", name, value);
                return EXIT_USAGE;
            }
            *(name[2] == 'b' ? &o->tx.bitrate : &o->tx.abitrate) = value;
        } else if (!strcmp(name, "--crf")) {
            long crf;
            if (cli_parse_count(verb, name, value, 0, 63, &crf))
                return EXIT_USAGE;
            o->tx.crf = value;
        } else if (!strcmp(name, "--preset")) {
            if (!tx_in_list(tx_x264_presets, value)) {
                cli_error(verb, "--preset needs one of libx264's presets (ultrafast ... medium ... "
                          "placebo), not '%s'", value);
                return EXIT_USAGE;
            }
            o->tx.preset = value;
        } else if (!strcmp(name, "--start")) {
            if (cli_parse_seconds(verb, name, value, &o->tx.start))
                return EXIT_USAGE;
            o->tx.has_start = 1;
        } else if (!strcmp(name, "--duration")) {
            if (cli_parse_positive(verb, name, value, &o->tx.duration))
                return EXIT_USAGE;
            o->tx.has_duration = 1;
        } else if (!strcmp(name, "--parallel")) {
            long n;
            if (!strcmp(value, "auto"))
                o->parallel = AFMPEG_PARALLEL_AUTO;
            else if (!strcmp(value, "off"))
                o->parallel = 0;
            else if (cli_parse_count(verb, name, value, 1, 64, &n))
                return EXIT_USAGE;
            else
                o->parallel = n == 1 ? 0 : (int)n;
        } else if (!strcmp(name, "--print-argv")) {
            o->print_argv = 1;
        } else {
            o->verbose = 1;
        }
    }
    if (!o->out) {
        cli_error(verb, "missing %s (usage: afmpeg transcode IN OUT [OPTIONS])",
                  o->in ? "OUT" : "IN and OUT");
        return EXIT_USAGE;
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int cli_transcode(const cli_globals *g, int argc, char **argv)
{
    options o;
    int status = parse(argc, argv, &o);
    if (status)
        return status < 0 ? 0 : status;
    paths p;
    afmpeg_command *cmd = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    cli_session s;
    int have_session = 0, err;
    memset(&p, 0, sizeof p);
    /* The runtime first: the codecs are settled against the module (x264 or not). */
    status = cli_session_begin(&s, g, verb);
    if (status)
        goto done;
    have_session = 1;
    char ext[16], msg[512];
    if (tx_settle(&o.tx, cli_extension(o.out, ext, sizeof ext), s.rt, msg, sizeof msg)) {
        cli_error(verb, "%s", msg);
        status = EXIT_USAGE;
    }
    if (!status)
        status = resolve_paths(g, o.in, o.out, &p);
    if (status)
        goto done;
    err = tx_build(&o.tx, p.in_guest, p.out_guest, &cmd);
    if (err) {
        status = cli_report(verb, &s, err);
        goto done;
    }

    if (o.print_argv) {
        /* Checked against the module too, so that what is printed runs. */
        char **argv_out = NULL;
        err = afmpeg_command_validate(cmd, s.rt);
        if (!err)
            err = afmpeg_command_argv(cmd, &argv_out, NULL);
        if (err)
            status = cli_report(verb, &s, err);
        else
            print_argv(g, argv_out);
        afmpeg_free(argv_out);
        goto done;
    }

    err = afmpeg_fs_new_hostdir(p.root, &fs);
    if (err) {
        cli_error(verb, "cannot use directory '%s': %s", p.root, cli_library_error(err));
        status = EXIT_HOST;
        goto done;
    }
    progress_state ps = {isatty(2), 0};
    s.opts.parallel = o.parallel;
    s.opts.on_progress = on_progress;
    s.opts.progress_payload = &ps;
    if (o.verbose) {
        s.opts.on_stderr = on_stderr;
        s.opts.output_payload = &ps;
    }
    double t0 = now();
    err = afmpeg_run_job(s.rt, fs, cmd, &s.opts, &res);
    double took = now() - t0;
    clear_bar(&ps);
    if (err) {
        status = cli_report(verb, &s, err);
    } else if (afmpeg_result_exit_code(res) != 0) {
        char line[512];
        cli_last_ffmpeg_line(afmpeg_result_stderr(res, NULL), line, sizeof line);
        if (*line)
            cli_error(verb, "%s", line);
        else
            cli_error(verb, "ffmpeg failed (exit status %d)", afmpeg_result_exit_code(res));
        status = EXIT_MEDIA;
    } else {
        const char *why = NULL;
        if (afmpeg_result_segments(res, &why) <= 1 && why && o.verbose)
            cli_error(verb, "ran as one piece: %s", why);
        print_summary(o.out, p.out_host, res, took);
        /* ffmpeg exits 0 when nothing at all was encoded, e.g. for a --start past the end */
        const afmpeg_output_info *info = afmpeg_result_output(res, 0);
        if (info && info->probe && info->probe->stream_count == 0)
            cli_error(verb, "warning: %s holds no streams: nothing was encoded%s", o.out,
                      o.tx.has_start ? " (is --start past the end of IN?)" : "");
    }
    /* A half-written OUT is no use; one that was there before is left as ffmpeg left it, and
     * a pattern ("img-%03d.png") names files this cannot know. */
    if (status && !p.out_existed && !strchr(p.out_host, '%'))
        unlink(p.out_host);
done:
    if (have_session)
        cli_session_end(&s);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    afmpeg_command_free(cmd);
    paths_free(&p);
    return status;
}
