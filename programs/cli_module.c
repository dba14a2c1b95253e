/* Modules other than the embedded one: --module FILE for every command, and
 *   afmpeg compile IN.wasm -o OUT [--sha256 HEX]   a module file, loadable without a compiler
 * (afmpeg run FILE.wasm ARGS... is afmpeg.c's: it runs FILE as the job's program). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "afmpeg.h"
#include "cli.h"

/* Compile progress, on stderr when it is a terminal: one line rewritten in place. */
static void show_progress(void *payload, const char *step, double fraction)
{
    (void)payload;
    fprintf(stderr, "\rafmpeg: compiling the module: %-9s %3d%%", step, (int)(fraction * 100));
    if (fraction >= 1.0)
        fputc('\n', stderr);
    fflush(stderr);
}

int cli_new_runtime(const cli_globals *g, const char *verb, afmpeg_runtime **rt)
{
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.module_path = g->module;
    o.instances = g->instances;
    if (!o.instances && verb && !strcmp(verb, "transcode")) {
        /* Split and stitch runs one segment per instance: one per core. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o.instances = cores < 1 ? 1 : cores > 16 ? 16 : (unsigned)cores;
    }
    if (g->module && isatty(2))
        o.on_compile = show_progress;
    int err = afmpeg_new(&o, rt);
    if (err) {
        if (verb)
            cli_error(verb, "%s", cli_library_error(err));
        else
            fprintf(stderr, "afmpeg: %s\n", cli_library_error(err));
    }
    return err;
}

int cli_compile(const cli_globals *g, int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *sha = NULL;
    (void)g;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--sha256") && i + 1 < argc)
            sha = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: afmpeg compile IN.wasm -o OUT [--sha256 HEX]\n"
                   "Translates and compiles a WASI module to native code ahead of time. "
                   "'afmpeg --module OUT ...'\n(or afmpeg_new() with module_path) loads OUT "
                   "without a compiler, on a machine with the\nsame afmpeg version and CPU "
                   "kind. --sha256: refuse IN unless it has this SHA-256.\n");
            return 0;
        } else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else {
            cli_error("compile", "unexpected argument '%s' (see afmpeg compile --help)",
                      argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!in || !out) {
        cli_error("compile", "usage: afmpeg compile IN.wasm -o OUT [--sha256 HEX]");
        return EXIT_USAGE;
    }
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.module_sha256 = sha;
    if (isatty(2))
        o.on_compile = show_progress;
    int err = afmpeg_module_compile(in, out, &o);
    if (err) {
        cli_error("compile", "%s", cli_library_error(err));
        return cli_status(err);
    }
    return 0;
}
