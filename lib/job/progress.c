/* FFmpeg's -progress output to afmpeg_progress callbacks (see progress.h). FFmpeg writes a block
 * of key=value lines about twice a second and once at the end; the block's last line is
 * "progress=continue" or "progress=end", and that is when the callback runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "job/progress.h"

static void reset_block(afmpeg_progress *c)
{
    memset(c, 0, sizeof *c);
    c->speed = -1;
    c->bitrate = -1;
    c->total_size = -1;
    c->fraction = -1;
}

void afm_progress_init(afm_progress *p, afmpeg_progress_fn fn, void *payload, double total)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->payload = payload;
    p->total = total > 0 ? total : -1;
    p->last_fraction = 0;
    reset_block(&p->cur);
    reset_block(&p->last);
}

/* A number FFmpeg printed, or `fallback` for "N/A" and the like. */
static double num(const char *v, double fallback)
{
    char *end;
    double d = strtod(v, &end);
    return end != v && isfinite(d) ? d : fallback;
}

/* One "key=value" line; returns the callback's verdict at the end of a block, else 0. */
static int line(afm_progress *p, char *s)
{
    char *eq = strchr(s, '=');
    if (!eq)
        return 0;
    *eq = '\0';
    const char *k = s, *v = eq + 1;
    afmpeg_progress *c = &p->cur;
    if (!strcmp(k, "frame"))
        c->frame = (int64_t)num(v, 0);
    else if (!strcmp(k, "fps"))
        c->fps = num(v, 0);
    else if (!strcmp(k, "out_time_us"))
        c->out_time = num(v, 0) > 0 ? num(v, 0) / 1e6 : 0; /* "N/A" and negatives: 0 */
    else if (!strcmp(k, "speed"))
        c->speed = num(v, -1); /* "1.5x": strtod stops at the x */
    else if (!strcmp(k, "bitrate")) /* "128.0kbits/s" */
        c->bitrate = num(v, -1) >= 0 ? num(v, -1) * 1000 : -1;
    else if (!strcmp(k, "total_size"))
        c->total_size = (int64_t)num(v, -1);
    else if (!strcmp(k, "progress")) {
        /* Completion is only reported by afm_progress_finish(), once the job has ended: a
         * block, even "progress=end", stays just under 1. */
        if (p->total > 0) {
            double f = c->out_time / p->total;
            f = f < 0 ? 0 : f > 0.999 ? 0.999 : f;
            if (f < p->last_fraction)
                f = p->last_fraction;
            p->last_fraction = f;
            c->fraction = f;
        }
        afmpeg_progress report = *c;
        p->last = report;
        reset_block(c);
        c->frame = report.frame; /* carried over, so a short block never goes back */
        c->out_time = report.out_time;
        return p->fn(&report, p->payload);
    }
    return 0;
}

int afm_progress_sink(const void *data, size_t len, void *payload)
{
    afm_progress *p = payload;
    const char *d = data;
    for (size_t i = 0; i < len; i++) {
        if (d[i] == '\n') {
            int r = 0;
            if (!p->overlong) {
                p->line[p->len] = '\0';
                r = line(p, p->line);
            }
            p->len = 0;
            p->overlong = 0;
            if (r)
                return r;
        } else if (p->len + 1 < sizeof p->line) {
            p->line[p->len++] = d[i];
        } else {
            p->overlong = 1;
        }
    }
    return 0;
}

void afm_progress_finish(afm_progress *p)
{
    afmpeg_progress last = p->last; /* FFmpeg's final block (progress=end), or the last one */
    last.fraction = 1;
    last.done = 1;
    p->fn(&last, p->payload);
}

const char **afm_progress_argv(const char *const *argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    const char **v = malloc((n + 3) * sizeof *v);
    if (!v)
        return NULL;
    v[0] = argv[0];
    v[1] = "-progress";
    v[2] = AFM_PROGRESS_URL;
    memcpy(v + 3, argv + 1, n * sizeof *v); /* with the NULL */
    return v;
}
