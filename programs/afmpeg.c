/* afmpeg — the command-line tool, built only on the public API (include/afmpeg.h).
 *
 *   afmpeg [OPTIONS] ffmpeg ARGS...     run ffmpeg in the sandbox
 *   afmpeg [OPTIONS] ffprobe ARGS...    run ffprobe in the sandbox
 *   ffmpeg ARGS... / ffprobe ARGS...   the same, through a link named after the tool
 *   afmpeg [OPTIONS] probe|transcode|thumbnail|frames|serve|worker ...   the verbs (cli_*.c), thin layers
 *                                       over afmpeg_probe(), afmpeg_run_job() and afmpeg_frames()
 *
 * The job's filesystem is the current directory (or DIR), jailed to itself: the guest sees it as
 * "/" and cannot reach anything outside it. Standard output and error stream through; standard
 * input is passed in when an argument reads it ("-" or "pipe:..."). The exit status is the
 * guest's. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "afmpeg.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: afmpeg [OPTIONS] ffmpeg ARGS...\n"
            "       afmpeg [OPTIONS] ffprobe ARGS...\n"
            "       afmpeg [OPTIONS] VERB ARGS...\n"
            "       afmpeg [OPTIONS] run FILE.wasm ARGS...\n"
            "       afmpeg compile IN.wasm -o OUT\n"
            "       afmpeg --version | --help\n"
            "\n"
            "Runs FFmpeg's ffmpeg or ffprobe in a WebAssembly sandbox. The job sees only the\n"
            "current directory (or DIR, with -C) as its root '/'; paths leading outside it fail.\n"
            "Invoked through a link named ffmpeg or ffprobe, behaves as that tool.\n"
            "\n"
            "Verbs ('afmpeg VERB --help' for each):\n"
            "  probe FILE [--json]           describe a media file\n"
            "  transcode IN OUT [OPTIONS]    convert a file (IN and OUT inside DIR)\n"
            "  thumbnail IN OUT.png|.jpg|.webp  one representative frame as an image\n"
            "  frames IN OUTDIR              frames as images: one a second, or per scene\n"
            "  serve [OPTIONS]               the HTTP service: probe, thumbnail, frames and\n"
            "                                transcode for media sent in requests\n"
            "  worker --nats URL [OPTIONS]   run the jobs of a NATS JetStream queue (fed by\n"
            "                                'serve --nats'), media by URL\n"
            "  run FILE.wasm ARGS...         run any WASI command module in the sandbox\n"
            "  compile IN.wasm -o OUT        compile a module ahead of time (loads without a\n"
            "                                compiler)\n"
            "probe, thumbnail and frames show the guest IN alone, read-only, and afmpeg\n"
            "writes the images itself; transcode's ffmpeg works in DIR, as ffmpeg does.\n"
            "\n"
            "Options:\n"
            "  -C DIR                 the job's directory (default: the current one)\n"
            "  --module FILE          run this module (a .wasm, compiled once and cached, or a\n"
            "                         module file from 'afmpeg compile') instead of the\n"
            "                         embedded FFmpeg\n"
            "  --instances N          jobs the runtime runs at once (default: one per core,\n"
            "                         at most 16, for transcode, which splits a long job\n"
            "                         across them, and serve; 1 for the others)\n"
            "  --timeout SECONDS      stop the job after this long (default: 1 hour)\n"
            "  --memory-limit MIB     the guest's memory cap (default: 512)\n"
            "  --output-limit MIB     bytes the job may write in all (default: 65536)\n"
            "  --version              afmpeg's and the embedded FFmpeg's versions, its licence\n"
            "                         and its components (encoders, filters, formats, ...)\n"
            "\n"
            "Exit status: the tool's own (for a verb: 0; 1 if the media could not be read\n"
            "or ffmpeg failed; 2 for bad arguments; 130 if interrupted); 70 if the guest\n"
            "trapped, 71 if the job could not be run, 73 if it hit the output or open-file\n"
            "limit, 124 if it ran past --timeout.\n");
}

/* Prints `label` in the 11 columns the verbs' summaries use, then the names of `list` separated
 * by spaces, wrapped before column 80 with the continuation lines indented to match. */
static void print_list(const char *label, const char *const *list)
{
    int col = printf("%-11s", label);
    size_t n = 0;
    for (const char *const *p = list; *p; p++, n++) {
        int len = (int)strlen(*p);
        if (n && col + 1 + len > 79) {
            printf("\n%11s", "");
            col = 11;
        } else if (n) {
            putchar(' ');
            col++;
        }
        cli_put_safe(stdout, *p);
        col += len;
    }
    printf("%s\n", n ? "" : "(none)");
}

/* --version: afmpeg's version, then what the embedded module is, as the module says
 * (afmpeg_module_info_get(): a few short guest jobs). */
static int print_version(const cli_globals *g)
{
    printf("afmpeg %s\n", afmpeg_version());
    fflush(stdout);
    afmpeg_runtime *rt = NULL;
    const afmpeg_module_info *info = NULL;
    int err = cli_new_runtime(g, NULL, &rt);
    if (err)
        return cli_status(err) == EXIT_USAGE ? EXIT_HOST : cli_status(err);
    err = afmpeg_module_info_get(rt, &info);
    if (err) {
        fprintf(stderr, "afmpeg: cannot describe the %s: %s\n",
                g->module ? "module" : "embedded FFmpeg",
                *afmpeg_last_error() ? afmpeg_last_error() : afmpeg_strerror(err));
        afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
        return cli_status(err) == EXIT_USAGE ? EXIT_HOST : cli_status(err);
    }
    printf("%-11s", "ffmpeg:");
    cli_put_safe(stdout, info->ffmpeg_version);
    printf("\n%-11s", "license:");
    cli_put_safe(stdout, info->license);
    printf("\n");
    print_list("encoders:", info->encoders);
    print_list("decoders:", info->decoders);
    print_list("muxers:", info->muxers);
    print_list("demuxers:", info->demuxers);
    print_list("filters:", info->filters);
    print_list("bsfs:", info->bsfs);
    print_list("protocols:", info->protocols);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int to_stdout(const void *data, size_t len, void *payload)
{
    (void)payload;
    return write_all(1, data, len);
}

static int to_stderr(const void *data, size_t len, void *payload)
{
    (void)payload;
    return write_all(2, data, len);
}

/* Reads all of standard input (for jobs that read "-" or "pipe:"). */
static int slurp_stdin(char **out, size_t *out_len)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            char *p = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return -1;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Whether the command line reads standard input: an input named "-", "pipe:" or "pipe:0"
 * (for ffmpeg, the argument after -i; an output "-" writes stdout and reads nothing). Only
 * then is stdin read, so a command never waits on a stdin it does not use. */
static int stdin_name(const char *a)
{
    return !strcmp(a, "-") || !strcmp(a, "pipe:") || !strcmp(a, "pipe:0");
}

static int reads_stdin(const char *tool, int argc, char **argv)
{
    int ffmpeg = !strcmp(tool, "ffmpeg");
    for (int i = 1; i < argc; i++) {
        if (ffmpeg ? !strcmp(argv[i], "-i") && i + 1 < argc && stdin_name(argv[i + 1])
                   : stdin_name(argv[i]))
            return 1;
    }
    return 0;
}

static int run_tool(const char *dir, const cli_globals *lim, const char *tool, int argc,
                    char **argv)
{
    afmpeg_fs *fs = NULL;
    afmpeg_runtime *rt = NULL;
    afmpeg_result *res = NULL;
    char *input = NULL;
    size_t input_len = 0;
    int status = EXIT_HOST;

    int err = afmpeg_fs_new_hostdir(dir, &fs);
    if (err) {
        fprintf(stderr, "afmpeg: cannot use directory '%s': %s\n", dir,
                *afmpeg_last_error() ? afmpeg_last_error() : afmpeg_strerror(err));
        return EXIT_HOST;
    }
    err = cli_new_runtime(lim, NULL, &rt);
    if (err) {
        status = cli_status(err) == EXIT_USAGE ? EXIT_HOST : cli_status(err);
        goto done;
    }
    afmpeg_job_options opts = AFMPEG_JOB_OPTIONS_INIT;
    opts.on_stdout = to_stdout;
    opts.on_stderr = to_stderr;
    opts.limits.timeout_ms = lim->timeout_ms;
    opts.limits.memory_limit = lim->memory_limit;
    opts.limits.output_limit = lim->output_limit;
    if (reads_stdin(tool, argc, argv) && !isatty(0)) {
        if (slurp_stdin(&input, &input_len)) {
            fprintf(stderr, "afmpeg: reading standard input: %s\n", strerror(errno));
            goto done;
        }
        opts.stdin_data = input;
        opts.stdin_len = input_len;
    }

    /* The guest's argv: the tool's name, then the arguments as given. */
    const char **gargv = calloc((size_t)argc + 1, sizeof *gargv);
    if (!gargv) {
        fprintf(stderr, "afmpeg: out of memory\n");
        goto done;
    }
    gargv[0] = tool;
    for (int i = 1; i < argc; i++)
        gargv[i] = argv[i];
    err = afmpeg_run(rt, fs, gargv, &opts, &res);
    free(gargv);
    if (err == AFMPEG_ETRAP || err == AFMPEG_ETIMEDOUT || err == AFMPEG_ELIMIT) {
        fprintf(stderr, "afmpeg: %s: %s\n", tool, afmpeg_last_error());
        status = err == AFMPEG_ETRAP ? EXIT_TRAP : err == AFMPEG_ETIMEDOUT ? EXIT_TIMEOUT
                                                                          : EXIT_LIMIT;
    } else if (err) {
        fprintf(stderr, "afmpeg: %s\n", afmpeg_last_error());
    } else {
        status = afmpeg_result_exit_code(res);
    }
done:
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    afmpeg_fs_free(fs);
    free(input);
    return status;
}

int main(int argc, char **argv)
{
    const char *self = argc > 0 ? argv[0] : "afmpeg";
    const char *base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
    cli_globals lim;
    memset(&lim, 0, sizeof lim);
    lim.dir = ".";
    if (!strcmp(base, "ffmpeg") || !strcmp(base, "ffprobe"))
        return run_tool(".", &lim, base, argc, argv);

    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "-C") && val) {
            lim.dir = val;
            lim.dir_given = 1;
            i += 2;
        } else if (!strcmp(opt, "--timeout") || !strcmp(opt, "--memory-limit") ||
                   !strcmp(opt, "--output-limit")) {
            char *end = NULL;
            double v = val ? strtod(val, &end) : 0;
            if (!val || end == val || *end || !(v > 0) || v > 1e12) {
                fprintf(stderr, "afmpeg: %s needs a positive number\n", opt);
                return 2;
            }
            if (!strcmp(opt, "--timeout")) {
                lim.timeout_ms = v * 1000 < 1 ? 1 : (uint64_t)(v * 1000);
                lim.timeout_arg = val;
            } else if (!strcmp(opt, "--memory-limit")) {
                lim.memory_limit = (uint64_t)(v * 1048576);
                lim.memory_arg = val;
            } else {
                lim.output_limit = (uint64_t)(v * 1048576);
                lim.output_arg = val;
            }
            i += 2;
        } else if (!strcmp(opt, "--module") && val) {
            lim.module = val;
            i += 2;
        } else if (!strcmp(opt, "--instances")) {
            char *end = NULL;
            long v = val ? strtol(val, &end, 10) : 0;
            if (!val || end == val || *end || v < 1 || v > 1024) {
                fprintf(stderr, "afmpeg: --instances needs a number from 1 to 1024\n");
                return 2;
            }
            lim.instances = (unsigned)v;
            i += 2;
        } else if (!strcmp(argv[i], "--version")) {
            return print_version(&lim);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "afmpeg: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    static const struct {
        const char *name;
        int (*run)(const cli_globals *, int, char **);
    } verbs[] = {{"probe", cli_probe},
                 {"transcode", cli_transcode},
                 {"thumbnail", cli_thumbnail},
                 {"frames", cli_frames},
                 {"serve", cli_serve},
                 {"worker", cli_worker}};
    for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
        if (!strcmp(argv[i], verbs[v].name))
            return verbs[v].run(&lim, argc - i, argv + i);
    if (!strcmp(argv[i], "compile"))
        return cli_compile(&lim, argc - i, argv + i);
    if (!strcmp(argv[i], "run")) { /* run FILE.wasm ARGS...: the guest's argv[0] is FILE.wasm */
        if (i + 1 >= argc || lim.module) {
            fprintf(stderr, "afmpeg run: %s\n", lim.module ? "--module and run do not go "
                    "together (run names its module)" : "usage: afmpeg run FILE.wasm ARGS...");
            return 2;
        }
        lim.module = argv[i + 1];
        const char *b = strrchr(argv[i + 1], '/');
        return run_tool(lim.dir, &lim, b ? b + 1 : argv[i + 1], argc - i - 1, argv + i + 1);
    }
    if (strcmp(argv[i], "ffmpeg") && strcmp(argv[i], "ffprobe")) {
        fprintf(stderr, "afmpeg: unknown command '%s' (expected ffmpeg, ffprobe, probe, "
                "transcode, thumbnail, frames, serve, worker, compile or run)\n", argv[i]);
        return 2;
    }
    return run_tool(lim.dir, &lim, argv[i], argc - i, argv + i);
}
