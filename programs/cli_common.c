/* afmpeg CLI: helpers the verbs share — messages and exit statuses, argument parsing, host paths
 * and files, the one-file read-only filesystem, and the session (runtime, limits, Ctrl-C). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

/* ---- messages and statuses ---- */

void cli_error(const char *verb, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One line: a message quoting FFmpeg may carry a newline of its own. */
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "afmpeg %s: %s\n", verb, msg);
}

const char *cli_library_error(int err)
{
    const char *msg = afmpeg_last_error();
    return *msg ? msg : afmpeg_strerror(err);
}

int cli_status(int err)
{
    switch (err) {
    case AFMPEG_OK:
        return 0;
    case AFMPEG_EINVAL:
        return EXIT_USAGE;
    case AFMPEG_ENOENT:
    case AFMPEG_EMEDIA:
    case AFMPEG_EACCES:
    case AFMPEG_EISDIR:
    case AFMPEG_ENOTDIR:
    case AFMPEG_ENOTSUP:
        return EXIT_MEDIA;
    case AFMPEG_ETRAP:
        return EXIT_TRAP;
    case AFMPEG_ETIMEDOUT:
        return EXIT_TIMEOUT;
    case AFMPEG_ELIMIT:
        return EXIT_LIMIT;
    case AFMPEG_ECANCELLED:
        return EXIT_INTERRUPT;
    default:
        return EXIT_HOST;
    }
}

/* Lines that say only that something failed; the line before says what. */
static int is_generic(const char *line, size_t len)
{
    static const char *const prefixes[] = {"Conversion failed!", "Error selecting an encoder",
                                           "Error initializing output stream", NULL};
    static const char einval[] = ": Invalid argument";
    for (const char *const *p = prefixes; *p; p++)
        if (len >= strlen(*p) && !memcmp(line, *p, strlen(*p)))
            return 1;
    return len >= sizeof einval - 1 && !memcmp(line + len - (sizeof einval - 1), einval,
                                               sizeof einval - 1);
}

/* Copies a line into buf without FFmpeg's "[ctx @ 0x1234] " prefix, which names an address. */
static void put_line(char *buf, size_t cap, const char *line, size_t len)
{
    if (len && line[0] == '[') {
        const char *close = memchr(line, ']', len);
        const char *at = close ? memchr(line, '@', (size_t)(close - line)) : NULL;
        if (at && close + 1 < line + len && close[1] == ' ') {
            len -= (size_t)(close + 2 - line);
            line = close + 2;
        }
    }
    size_t used = strlen(buf), n = len < cap - 1 - used ? len : cap - 1 - used;
    memcpy(buf + used, line, n);
    buf[used + n] = '\0';
}

void cli_last_ffmpeg_line(const char *text, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!text)
        return;
    /* the last two lines that are not empty */
    const char *last = NULL, *prev = NULL;
    size_t last_len = 0, prev_len = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        if (len && !(len == 18 && !memcmp(line, "Conversion failed!", 18))) {
            prev = last;
            prev_len = last_len;
            last = line;
            last_len = len;
        }
        if (!end)
            break;
        line = end + 1;
    }
    if (!last)
        return;
    if (prev && is_generic(last, last_len)) {
        put_line(buf, cap, prev, prev_len);
        put_line(buf, cap, " -- ", 4);
    }
    put_line(buf, cap, last, last_len);
}

void cli_put_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* C0 controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F; U+009B is
         * a CSI to some terminals) */
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fputc('?', f);
            p++;
        } else {
            fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
        }
    }
}

/* ---- argument parsing ---- */

void cli_args_init(cli_args *a, const char *verb, const cli_opt *opts, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
    a->verb = verb;
    a->opts = opts;
    a->no_more_opts = 0;
}

int cli_args_next(cli_args *a, const char **name, const char **value)
{
    *name = NULL;
    *value = NULL;
    for (;;) {
        if (a->i >= a->argc)
            return CLI_ARG_END;
        const char *arg = a->argv[a->i++];
        /* "-" alone is a name, like a file called "-"; "-2:-2" never starts a known option. */
        if (!*arg) {
            cli_error(a->verb, "an empty argument is no file name");
            return CLI_ARG_ERROR;
        }
        if (a->no_more_opts || arg[0] != '-' || !arg[1]) {
            *value = arg;
            return CLI_ARG_POSITIONAL;
        }
        if (!strcmp(arg, "--")) {
            a->no_more_opts = 1;
            continue;
        }
        const char *eq = !strncmp(arg, "--", 2) ? strchr(arg, '=') : NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        for (const cli_opt *o = a->opts; o->name; o++) {
            if (strlen(o->name) != len || strncmp(o->name, arg, len))
                continue;
            *name = o->name;
            if (!o->has_value) {
                if (eq) {
                    cli_error(a->verb, "%s takes no value", o->name);
                    return CLI_ARG_ERROR;
                }
            } else if (eq) {
                *value = eq + 1;
            } else if (a->i < a->argc) {
                *value = a->argv[a->i++];
            } else {
                cli_error(a->verb, "%s needs a value", o->name);
                return CLI_ARG_ERROR;
            }
            return CLI_ARG_OPTION;
        }
        cli_error(a->verb, "unknown option '%s' (see 'afmpeg %s --help')", arg, a->verb);
        return CLI_ARG_ERROR;
    }
}

/* Seconds as "12.5" or [[HH:]MM:]SS[.frac], the forms ffmpeg's -ss takes. */
static int parse_time(const char *s, double *out)
{
    double total = 0;
    int parts = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0)
            return -1;
        total = total * 60 + v;
        parts++;
        if (*end == ':' && parts < 3) {
            p = end + 1;
            continue;
        }
        if (*end)
            return -1;
        break;
    }
    *out = total;
    return 0;
}

int cli_parse_seconds(const char *verb, const char *opt, const char *s, double *out)
{
    if (parse_time(s, out) || *out > 1e9) {
        cli_error(verb, "%s needs a time in seconds (or [HH:]MM:SS), not '%s'", opt, s);
        return -1;
    }
    return 0;
}

int cli_parse_positive(const char *verb, const char *opt, const char *s, double *out)
{
    if (parse_time(s, out) || !(*out > 0) || *out > 1e9) {
        cli_error(verb, "%s needs a positive number of seconds, not '%s'", opt, s);
        return -1;
    }
    return 0;
}

int cli_parse_count(const char *verb, const char *opt, const char *s, long min, long max,
                    long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max) {
        cli_error(verb, "%s needs a whole number from %ld to %ld, not '%s'", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* ---- paths and files ---- */

char *cli_host_path(const cli_globals *g, const char *path)
{
    char *out;
    if (path[0] == '/' || !g->dir_given)
        return strdup(path);
    if (asprintf(&out, "%s/%s", g->dir, path) < 0)
        return NULL;
    return out;
}

const char *cli_extension(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = 0;
    if (dot && dot != base)
        for (const char *p = dot + 1; *p && n + 1 < cap; p++)
            buf[n++] = (char)tolower((unsigned char)*p);
    buf[n] = '\0';
    return buf;
}

int cli_mkdirs(const char *dir)
{
    if (!*dir) {
        errno = ENOENT;
        return -1;
    }
    char *p = strdup(dir);
    if (!p)
        return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) {
            rc = -1;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    struct stat st;
    if (!rc && stat(dir, &st)) {
        rc = -1;
    } else if (!rc && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
    }
    int saved = errno;
    free(p);
    errno = saved;
    return rc;
}

int cli_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            unlink(path);
            errno = saved;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd)) {
        int saved = errno;
        unlink(path);
        errno = saved;
        return -1;
    }
    return 0;
}

void cli_format_size(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes < 1024)
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
    else if (bytes < 1024 * 1024)
        snprintf(buf, cap, "%.0f KiB", bytes / 1024.0);
    else if (bytes < 1024ull * 1024 * 1024)
        snprintf(buf, cap, "%.1f MiB", bytes / 1048576.0);
    else
        snprintf(buf, cap, "%.2f GiB", bytes / 1073741824.0);
}

/* ---- the one-file read-only filesystem ---- */

typedef struct single_fs {
    int fd;              /* the host file, opened read-only */
    char name[256];      /* its name at the guest's root */
    char dir_token, file_token; /* their addresses are the two handles */
} single_fs;

static int is_name(const single_fs *s, const char *path)
{
    return !strcmp(path, s->name);
}

static int sf_open(void *payload, const char *path, unsigned flags, void **out)
{
    single_fs *s = payload;
    unsigned writes = AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC;
    if (!*path) {
        if (flags & writes)
            return -EISDIR;
        *out = &s->dir_token;
        return 0;
    }
    if (!is_name(s, path))
        return flags & AFMPEG_FS_CREATE ? -EROFS : -ENOENT;
    if (flags & AFMPEG_FS_DIRECTORY)
        return -ENOTDIR;
    if (flags & writes)
        return -EROFS;
    *out = &s->file_token;
    return 0;
}

static int sf_close(void *payload, void *handle)
{
    return 0;
}

static int64_t sf_pread(void *payload, void *handle, void *buf, size_t len, uint64_t offset)
{
    single_fs *s = payload;
    if (handle != &s->file_token)
        return -EISDIR;
    if (offset > INT64_MAX)
        return 0;
    if (len > (1u << 30))
        len = 1u << 30;
    for (;;) {
        ssize_t n = pread(s->fd, buf, len, (off_t)offset);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return -errno;
    }
}

static int64_t sf_pwrite(void *payload, void *handle, const void *buf, size_t len,
                         uint64_t offset)
{
    return -EBADF;
}

static void dir_stat(afmpeg_fs_stat *out)
{
    memset(out, 0, sizeof *out);
    out->type = AFMPEG_FS_TYPE_DIRECTORY;
    out->ino = 1;
}

static int file_stat(const single_fs *s, afmpeg_fs_stat *out)
{
    struct stat st;
    if (fstat(s->fd, &st))
        return -errno;
    memset(out, 0, sizeof *out);
    out->type = AFMPEG_FS_TYPE_FILE;
    out->size = (uint64_t)st.st_size;
    out->ino = 2;
    out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

static int sf_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    single_fs *s = payload;
    if (handle == &s->dir_token) {
        dir_stat(out);
        return 0;
    }
    return file_stat(s, out);
}

static int sf_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    single_fs *s = payload;
    if (!*path) {
        dir_stat(out);
        return 0;
    }
    return is_name(s, path) ? file_stat(s, out) : -ENOENT;
}

static int sf_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    single_fs *s = payload;
    if (handle != &s->dir_token)
        return -ENOTDIR;
    if (index > 0)
        return 0;
    memset(out, 0, sizeof *out);
    memcpy(out->name, s->name, strlen(s->name) + 1);
    out->type = AFMPEG_FS_TYPE_FILE;
    out->ino = 2;
    return 1;
}

static int sf_readonly(void *payload, const char *path)
{
    return -EROFS;
}

static int sf_rename(void *payload, const char *from, const char *to)
{
    return -EROFS;
}

static void sf_destroy(void *payload)
{
    single_fs *s = payload;
    close(s->fd);
    free(s);
}

/* A guest name for the file: its own when that is a plain name FFmpeg takes literally (no '%',
 * which the image demuxer reads as a pattern, no control characters), else "input.EXT". */
static void guest_name(const char *host_path, char *buf, size_t cap)
{
    const char *slash = strrchr(host_path, '/');
    const char *base = slash ? slash + 1 : host_path;
    int plain = *base && strlen(base) < cap && strcmp(base, ".") && strcmp(base, "..") &&
                base[0] != '.';
    for (const char *p = base; plain && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '%' || *p == 0x7f)
            plain = 0;
    if (plain) {
        memcpy(buf, base, strlen(base) + 1);
        return;
    }
    char ext[16];
    cli_extension(base, ext, sizeof ext);
    for (char *p = ext; *p; p++)
        if (!isalnum((unsigned char)*p))
            *p = '_';
    snprintf(buf, cap, *ext ? "input.%s" : "input", ext);
}

int cli_fs_single_file(const char *verb, const char *host_path, afmpeg_fs **out,
                       char **guest_path)
{
    *out = NULL;
    *guest_path = NULL;
    int fd = open(host_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        cli_error(verb, "%s: %s", host_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_MEDIA;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error(verb, "%s: %s", host_path,
                  S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
        close(fd);
        return EXIT_MEDIA;
    }
    single_fs *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        cli_error(verb, "out of memory");
        return EXIT_HOST;
    }
    s->fd = fd;
    guest_name(host_path, s->name, sizeof s->name);
    static const afmpeg_fs_ops ops = {
        .version = AFMPEG_FS_OPS_VERSION,
        .open = sf_open,
        .close = sf_close,
        .pread = sf_pread,
        .pwrite = sf_pwrite,
        .fstat = sf_fstat,
        .stat = sf_stat,
        .readdir = sf_readdir,
        .mkdir = sf_readonly,
        .unlink = sf_readonly,
        .rmdir = sf_readonly,
        .rename = sf_rename,
        .destroy = sf_destroy,
    };
    int err = afmpeg_fs_new_custom(&ops, s, out);
    if (err) {
        sf_destroy(s);
        cli_error(verb, "%s", cli_library_error(err));
        return cli_status(err) == EXIT_USAGE ? EXIT_HOST : cli_status(err);
    }
    if (asprintf(guest_path, "/%s", s->name) < 0) {
        *guest_path = NULL;
        afmpeg_fs_free(*out);
        *out = NULL;
        cli_error(verb, "out of memory");
        return EXIT_HOST;
    }
    return 0;
}

/* ---- the session ---- */

/* SIGINT/SIGTERM write a byte to this pipe (write() is async-signal-safe); the watcher thread
 * reads it and cancels the job, which afmpeg_cancel_token_cancel() may do from a normal thread
 * only. */
static int sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t sig_seen;
static pthread_t watcher_thread;
static struct sigaction old_int, old_term;

static void on_signal(int sig)
{
    int saved = errno;
    sig_seen = 1;
    char c = 'c';
    ssize_t n = write(sig_pipe[1], &c, 1);
    (void)n;
    errno = saved;
}

static void *watch(void *arg)
{
    cli_session *s = arg;
    for (;;) {
        char c;
        ssize_t n = read(sig_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == 'q')
            return NULL;
        afmpeg_cancel_token_cancel(s->token);
    }
}

int cli_session_begin(cli_session *s, const cli_globals *g, const char *verb)
{
    memset(s, 0, sizeof *s);
    afmpeg_job_options_init(&s->opts);
    s->opts.limits.timeout_ms = g->timeout_ms;
    s->opts.limits.memory_limit = g->memory_limit;
    s->opts.limits.output_limit = g->output_limit;
    int err = cli_new_runtime(g, verb, &s->rt);
    if (err) {
        cli_session_end(s);
        return cli_status(err) == EXIT_USAGE ? EXIT_HOST : cli_status(err);
    }
    err = afmpeg_cancel_token_new(&s->token);
    if (err) {
        cli_error(verb, "%s", cli_library_error(err));
        cli_session_end(s);
        return EXIT_HOST;
    }
    s->opts.cancel = s->token;
    if (pipe2(sig_pipe, O_CLOEXEC) == 0) {
        /* The handler must never block: a full pipe already holds a pending cancel. */
        fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
        if (pthread_create(&watcher_thread, NULL, watch, s) == 0) {
            s->watching = 1;
            /* SA_RESETHAND: a second Ctrl-C kills at once if the cancel ever hangs. */
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sa.sa_flags = SA_RESETHAND | SA_RESTART;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, &old_int);
            sigaction(SIGTERM, &sa, &old_term);
        } else {
            close(sig_pipe[0]);
            close(sig_pipe[1]);
            sig_pipe[0] = sig_pipe[1] = -1;
        }
    }
    return 0;
}

int cli_session_interrupted(const cli_session *s)
{
    return sig_seen != 0;
}

void cli_session_end(cli_session *s)
{
    if (s->watching) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        char c = 'q';
        while (write(sig_pipe[1], &c, 1) < 0 && errno == EINTR) {
        }
        pthread_join(watcher_thread, NULL);
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        sig_pipe[0] = sig_pipe[1] = -1;
        s->watching = 0;
    }
    afmpeg_close(s->rt, AFMPEG_CLOSE_WAIT);
    s->rt = NULL;
    afmpeg_cancel_token_free(s->token);
    s->token = NULL;
}

int cli_report(const char *verb, const cli_session *s, int err)
{
    if (err == AFMPEG_ECANCELLED && cli_session_interrupted(s)) {
        cli_error(verb, "interrupted");
        return EXIT_INTERRUPT;
    }
    cli_error(verb, "%s", cli_library_error(err));
    return cli_status(err);
}
