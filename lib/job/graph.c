/* Reading FFmpeg's filtergraph syntax far enough to check a command before it runs: which
 * filters a graph uses, and which labelled outputs it leaves for -map. The grammar, as FFmpeg's
 * graph parser reads it:
 *   graph  = [ "sws_flags=" flags ";" ] chain { ";" chain }
 *   chain  = filter { "," filter }
 *   filter = { "[" label "]" } name [ "=" args ] { "[" label "]" }
 * where args run to the first unquoted, unescaped one of "[],;" ('...' quotes, '\' escapes).
 * Labels before a filter's name are its inputs, after its args its outputs. */
#include <string.h>
#include <stdio.h>
#include "job/command.h"

static const char *skip_ws(const char *p)
{
    return p + strspn(p, " \t\r\n");
}

static int fail(afm_graph *g, const char *fmt, const char *at)
{
    snprintf(g->error, sizeof g->error, fmt, at);
    return -1;
}

static int push_n(afm_strv *v, const char *s, size_t n)
{
    char buf[256];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return afm_strv_push(v, buf);
}

/* Reads labels at *pp into `into`. 0, or -1 with the error set. */
static int labels(afm_graph *g, const char **pp, afm_strv *into)
{
    const char *p = skip_ws(*pp);
    while (*p == '[') {
        const char *end = strchr(p + 1, ']');
        if (!end)
            return fail(g, "unterminated label at \"%.40s\"", p);
        if (end == p + 1)
            return fail(g, "empty label at \"%.40s\"", p);
        if (push_n(into, p + 1, (size_t)(end - p - 1)))
            return fail(g, "out of memory%s", "");
        p = skip_ws(end + 1);
    }
    *pp = p;
    return 0;
}

/* Skips a filter's arguments: to the first unquoted, unescaped one of "[],;". */
static const char *skip_args(const char *p)
{
    while (*p && !strchr("[],;", *p)) {
        if (*p == '\\' && p[1]) {
            p += 2;
        } else if (*p == '\'') {
            const char *q = strchr(p + 1, '\'');
            p = q ? q + 1 : p + strlen(p);
        } else {
            p++;
        }
    }
    return p;
}

int afm_graph_parse(const char *text, afm_graph *g)
{
    memset(g, 0, sizeof *g);
    afm_strv ins = {0}, outs = {0};
    const char *p = skip_ws(text);
    int err = 0;
    if (!strncmp(p, "sws_flags=", 10)) {
        p = strchr(p, ';');
        p = p ? p + 1 : text + strlen(text);
    }
    while (!err && *(p = skip_ws(p))) {
        if ((err = labels(g, &p, &ins)))
            break;
        size_t n = strcspn(p, "=,;[] \t\r\n");
        if (n == 0) {
            err = fail(g, "expected a filter name at \"%.40s\"", *p ? p : "(end)");
            break;
        }
        size_t name_len = n;
        const char *at = memchr(p, '@', n); /* "scale@id": the filter is "scale" */
        if (at)
            name_len = (size_t)(at - p);
        if (push_n(&g->filters, p, name_len)) {
            err = fail(g, "out of memory%s", "");
            break;
        }
        p = skip_ws(p + n);
        if (*p == '=')
            p = skip_args(p + 1);
        if ((err = labels(g, &p, &outs)))
            break;
        if (*p == ',' || *p == ';') {
            p++;
            if (!*skip_ws(p))
                err = fail(g, "the graph ends after a separator%s", "");
        } else if (*p) {
            err = fail(g, "unexpected \"%.40s\"", p);
        }
    }
    if (!err && g->filters.n == 0)
        err = fail(g, "the graph has no filters%s", "");
    /* The outputs left for -map: labelled outputs no filter takes as input. */
    for (size_t i = 0; i < outs.n && !err; i++) {
        int used = 0;
        for (size_t j = 0; j < ins.n && !used; j++)
            used = !strcmp(outs.v[i], ins.v[j]);
        if (!used && push_n(&g->outputs, outs.v[i], strlen(outs.v[i])))
            err = fail(g, "out of memory%s", "");
    }
    afm_strv_free(&ins);
    afm_strv_free(&outs);
    return err;
}

int afm_graph_has_output(const afm_graph *g, const char *label, size_t len)
{
    for (size_t i = 0; i < g->outputs.n; i++)
        if (strlen(g->outputs.v[i]) == len && !memcmp(g->outputs.v[i], label, len))
            return 1;
    return 0;
}

void afm_graph_free(afm_graph *g)
{
    afm_strv_free(&g->filters);
    afm_strv_free(&g->outputs);
}
