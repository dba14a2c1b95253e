/* The one path for the guest jobs the library runs on its own account (core.h says what each
 * piece is for). Keeping them here, rather than in each of probe, frames and run_job, is what
 * keeps those calls agreeing: the same limits reach every job a call runs, the same path names
 * the same file, the same condition gives the same error code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"

void afm_derive_options(const afmpeg_job_options *caller, afmpeg_output_fn on_stdout,
                        afmpeg_output_fn on_stderr, void *payload, afmpeg_job_options *out)
{
    afmpeg_job_options_init(out);
    if (caller) {
        out->limits = caller->limits;
        out->cancel = caller->cancel;
    }
    out->on_stdout = on_stdout;
    out->on_stderr = on_stderr;
    out->output_payload = payload;
}

/* Whether FFmpeg would take `path` for a URL: a run of URL scheme characters, then ':'. */
static int looks_like_url(const char *path)
{
    size_t n = strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    return n > 0 && path[n] == ':';
}

char *afm_media_url(const char *path, int pipes)
{
    int keep = pipes && (!strcmp(path, "-") || !strncmp(path, "pipe:", 5));
    int prefix = !keep && (!strcmp(path, "-") || looks_like_url(path));
    size_t n = strlen(path);
    char *url = malloc(n + 6);
    if (url)
        snprintf(url, n + 6, "%s%s", prefix ? "file:" : "", path);
    return url;
}

/* Enough of a path to recognise it in a message, whatever its length. */
#define PATH_SHOWN 300

int afm_check_input(afmpeg_fs *fs, const char *path)
{
    if (!path)
        return afm_error(AFMPEG_EINVAL, "path is NULL");
    if (!*path)
        return afm_error(AFMPEG_EINVAL, "path is empty");
    afmpeg_fs_stat st;
    int err = afmpeg_fs_stat_path(fs, path, &st);
    int shown = PATH_SHOWN;
    switch (err) {
    case AFMPEG_OK:
        break;
    case AFMPEG_ENOENT:
    case AFMPEG_ENOTDIR:
        return afm_error(AFMPEG_ENOENT, "%.*s: no such file", shown, path);
    case AFMPEG_EACCES:
        return afm_error(err, "%.*s: the path leads outside the filesystem", shown, path);
    case AFMPEG_EINVAL:
        return afm_error(err, "%.*s: not a valid path", shown, path);
    default:
        return afm_error(err, "%.*s: %s", shown, path, afmpeg_strerror(err));
    }
    if (st.type == AFMPEG_FS_TYPE_DIRECTORY)
        return afm_error(AFMPEG_EISDIR, "%.*s: is a directory", shown, path);
    afm_error_clear();
    return AFMPEG_OK;
}

void afm_lines_init(afm_lines *l, afm_line_fn fn, void *payload)
{
    memset(l, 0, sizeof *l);
    l->fn = fn;
    l->payload = payload;
}

static void emit(afm_lines *l)
{
    l->buf[l->len] = '\0';
    l->fn(l->buf, l->len, l->payload);
    l->len = 0;
}

void afm_lines_feed(afm_lines *l, const void *data, size_t len)
{
    const char *d = data;
    for (size_t i = 0; i < len; i++) {
        char ch = d[i];
        int cr = l->cr;
        l->cr = ch == '\r';
        if (ch == '\n' && cr)
            continue; /* the '\n' of "\r\n": the line ended at '\r' */
        if (ch == '\n' || ch == '\r')
            emit(l);
        else if (l->len + 1 < sizeof l->buf)
            l->buf[l->len++] = ch;
    }
}

void afm_lines_flush(afm_lines *l)
{
    if (l->len)
        emit(l);
    l->cr = 0;
}

int afm_log_line(const char *line, size_t len, const char **ctx, size_t *ctx_len,
                 const char **text)
{
    static const char *const names[] = {"panic", "fatal", "error", "warning", "info",
                                        "verbose", "debug", "trace"};
    const char *p = line, *end = line + len;
    *ctx = NULL;
    *ctx_len = 0;
    *text = line;
    while (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close || close + 1 >= end || close[1] != ' ')
            break;
        size_t n = (size_t)(close - p - 1);
        for (int i = 0; i < (int)(sizeof names / sizeof *names); i++) {
            if (strlen(names[i]) == n && !memcmp(p + 1, names[i], n)) {
                *text = close + 2;
                return i;
            }
        }
        *ctx = p + 1;
        *ctx_len = n;
        p = close + 2;
    }
    *ctx = NULL;
    *ctx_len = 0;
    return -1;
}

/* Appends the line's text to out (n bytes used of cap), shown safely, with a newline between
 * lines. */
static void put_line(char *out, size_t *n, size_t cap, const char *text, size_t len)
{
    if (*n && *n + 1 < cap)
        out[(*n)++] = '\n';
    for (size_t i = 0; i < len && *n + 1 < cap; i++) {
        unsigned char ch = (unsigned char)text[i];
        out[(*n)++] = (ch < 0x20 && ch != '\t') || ch == 0x7F ? '?' : (char)ch;
    }
    out[*n] = '\0';
}

#define SUMMARY_LINES 6

typedef struct summary_line {
    const char *text;
    size_t len;
} summary_line;

/* Keeps the line as the newest of at most SUMMARY_LINES, dropping the oldest. */
static void keep_line(summary_line *lines, size_t *n, const char *text, size_t len)
{
    if (*n == SUMMARY_LINES) {
        memmove(lines, lines + 1, (SUMMARY_LINES - 1) * sizeof *lines);
        (*n)--;
    }
    lines[*n].text = text;
    lines[(*n)++].len = len;
}

void afm_stderr_summary(const afmpeg_result *res, char *out, size_t cap)
{
    size_t len;
    const char *s = afmpeg_result_stderr(res, &len);
    if (!cap)
        return;
    out[0] = '\0';
    /* The last SUMMARY_LINES lines, and the last SUMMARY_LINES at error level or worse (a
     * line without a tag continues the level of the one before it). */
    summary_line last[SUMMARY_LINES], errs[SUMMARY_LINES];
    size_t n_last = 0, n_errs = 0;
    int level = AFM_LOG_INFO;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && s[j] != '\n' && s[j] != '\r')
            j++;
        const char *text, *ctx;
        size_t l = j - i, ctx_len;
        int lv = afm_log_line(s + i, l, &ctx, &ctx_len, &text);
        level = lv >= 0 ? lv : level;
        l -= (size_t)(text - (s + i));
        while (l && (text[l - 1] == ' ' || text[l - 1] == '\t'))
            l--;
        if (l) {
            keep_line(last, &n_last, text, l);
            if (level <= AFM_LOG_ERROR)
                keep_line(errs, &n_errs, text, l);
        }
        i = j + 1;
    }
    size_t n = 0, count = n_errs ? n_errs : n_last;
    for (size_t i = 0; i < count; i++) {
        const char *t = n_errs ? errs[i].text : last[i].text;
        size_t l = n_errs ? errs[i].len : last[i].len;
        /* the end of the log matters most: drop whole first lines that would not fit */
        size_t rest = 0;
        for (size_t k = i; k < count; k++)
            rest += (n_errs ? errs[k].len : last[k].len) + 1;
        if (rest > cap && i + 1 < count)
            continue;
        if (l + 1 > cap) {
            t += l - (cap - 1), l = cap - 1;
            while (l && ((unsigned char)*t & 0xC0) == 0x80) /* not inside a UTF-8 character */
                t++, l--;
        }
        put_line(out, &n, cap, t, l);
    }
}
