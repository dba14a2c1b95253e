/* afmpeg CLI: what the verbs (probe, transcode, thumbnail, frames) share with main(). Everything
 * here is built on the public API only (include/afmpeg.h). */
#ifndef AFMPEG_CLI_H
#define AFMPEG_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "afmpeg.h"

#define EXIT_MEDIA 1       /* the media could not be read, or ffmpeg failed on it */
#define EXIT_USAGE 2       /* bad arguments */
#define EXIT_TRAP 70       /* the guest trapped (EX_SOFTWARE) */
#define EXIT_HOST 71       /* the host failed to run the job (EX_OSERR) */
#define EXIT_LIMIT 73      /* the job wrote too much or opened too many files */
#define EXIT_TIMEOUT 124   /* the job ran past --timeout (as timeout(1)) */
#define EXIT_INTERRUPT 130 /* stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report) */

/* The options given before the tool or verb name. */
typedef struct cli_globals {
    const char *dir;   /* -C DIR, or "." */
    int dir_given;     /* -C was on the command line (--print-argv repeats it) */
    const char *timeout_arg, *memory_arg, *output_arg; /* as typed, for --print-argv */
    uint64_t timeout_ms, memory_limit, output_limit;   /* 0 keeps the library's defaults */
    const char *module; /* --module FILE (a .wasm or a compiled module), or NULL: the embedded */
    unsigned instances; /* --instances N; 0: transcode one per core (at most 16), others 1 */
} cli_globals;

/* afmpeg_new() with the module of `g` (compile progress on stderr when it is a terminal). On
 * failure prints "afmpeg[ VERB]: MESSAGE" and returns the library's error. */
int cli_new_runtime(const cli_globals *g, const char *verb, afmpeg_runtime **rt);
/* afmpeg compile IN.wasm -o OUT, and afmpeg run FILE.wasm ARGS... (argv[0] is the command). */
int cli_compile(const cli_globals *g, int argc, char **argv);

/* The verbs: argv[0] is the verb's name. Each returns the process's exit status. */
int cli_probe(const cli_globals *g, int argc, char **argv);
int cli_transcode(const cli_globals *g, int argc, char **argv);
int cli_thumbnail(const cli_globals *g, int argc, char **argv);
int cli_frames(const cli_globals *g, int argc, char **argv);

/* The probe as JSON (afmpeg probe --json, afmpeg serve's /v1/probe): a new object, NULL when out
 * of memory. Needs <jansson.h>. */
struct json_t;
struct json_t *cli_probe_json(const afmpeg_probe_result *p);
/* A JSON string of untrusted text, invalid UTF-8 replaced by U+FFFD; null for "" (unknown). */
struct json_t *cli_json_string(const char *s);
/* afmpeg serve (cli_serve.c, serve_*.c). */
int cli_serve(const cli_globals *g, int argc, char **argv);
/* afmpeg worker (cli_worker.c, serve_nats.c): runs the jobs of a JetStream queue. */
int cli_worker(const cli_globals *g, int argc, char **argv);

/* ---- messages and statuses ---- */

/* Prints "afmpeg VERB: MESSAGE" as one line on stderr. */
void cli_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* afmpeg_last_error() (what failed and why, with no function name), or afmpeg_strerror(err)
 * when there is no message. */
const char *cli_library_error(int err);
/* The exit status for a library error code (AFMPEG_OK is 0). */
int cli_status(int err);
/* The last line of FFmpeg's standard error worth showing, into buf, preceded by the line before
 * when the last one only says that something failed ("Error selecting an encoder ...");
 * "" when there is none. */
void cli_last_ffmpeg_line(const char *text, char *buf, size_t cap);
/* Writes `s` with control characters replaced by '?': strings from media files are untrusted,
 * and escape sequences in a title must not reach the terminal. */
void cli_put_safe(FILE *f, const char *s);

/* ---- argument parsing ---- */

typedef struct cli_opt {
    const char *name;  /* "--json", or "-h" */
    int has_value;
} cli_opt;

/* Walks a verb's arguments: options from `opts` (also "--name=value") anywhere, positional
 * arguments in between, "--" ends the options. */
typedef struct cli_args {
    int argc, i;
    char **argv;
    const char *verb;
    const cli_opt *opts;
    int no_more_opts;
} cli_args;

#define CLI_ARG_END 0
#define CLI_ARG_OPTION 1
#define CLI_ARG_POSITIONAL 2
#define CLI_ARG_ERROR 3 /* reported on stderr already */

void cli_args_init(cli_args *a, const char *verb, const cli_opt *opts, int argc, char **argv);
/* The next argument: an option (*name set, *value its value or NULL) or a positional (*value). */
int cli_args_next(cli_args *a, const char **name, const char **value);

/* Number parsers: 0 on success, else an error "afmpeg VERB: OPT needs ..." printed. */
int cli_parse_seconds(const char *verb, const char *opt, const char *s, double *out);
int cli_parse_positive(const char *verb, const char *opt, const char *s, double *out);
int cli_parse_count(const char *verb, const char *opt, const char *s, long min, long max,
                    long *out);

/* ---- paths and files ---- */

/* `path` as the user means it: relative paths are relative to DIR (-C), like the ffmpeg
 * command's. A new string, or NULL when out of memory. */
char *cli_host_path(const cli_globals *g, const char *path);
/* The extension of `path` lower-cased into buf ("" if none). */
const char *cli_extension(const char *path, char *buf, size_t cap);
/* Creates `dir` and its missing parents (mkdir -p). 0, or -1 with errno set. */
int cli_mkdirs(const char *dir);
/* Writes `len` bytes to the host file `path` (created or truncated); on failure removes what it
 * created. 0, or -1 with errno set. */
int cli_write_file(const char *path, const void *data, size_t len);
/* "123 KiB" style. */
void cli_format_size(char *buf, size_t cap, uint64_t bytes);

/* A filesystem holding exactly one file, read-only: the host file `host_path` as /NAME, where
 * NAME is its last component (or "input.EXT" when that is not a plain name). The guest can read
 * that file and list the root; every write, and every other path, fails. *guest_path receives
 * "/NAME" (the caller frees it). Returns 0, or an exit status with the error printed. */
int cli_fs_single_file(const char *verb, const char *host_path, afmpeg_fs **out,
                       char **guest_path);

/* ---- running jobs ---- */

/* A runtime, plus job options carrying the global limits and a cancel token that SIGINT and
 * SIGTERM trigger (from a watcher thread: afmpeg_cancel_token_cancel() is not
 * async-signal-safe). */
typedef struct cli_session {
    afmpeg_runtime *rt;
    afmpeg_job_options opts;
    afmpeg_cancel_token *token;
    int watching;
} cli_session;

/* 0, or an exit status with the error printed. */
int cli_session_begin(cli_session *s, const cli_globals *g, const char *verb);
/* 1 once SIGINT or SIGTERM arrived. */
int cli_session_interrupted(const cli_session *s);
void cli_session_end(cli_session *s);

/* Reports a failed library call on `verb` (an interrupt as such) and returns the exit status.
 * `s` may be NULL before the session began. */
int cli_report(const char *verb, const cli_session *s, int err);

#endif
