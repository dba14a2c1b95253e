/* cropdetect through an LGPL route. cropdetect is GPL-only in FFmpeg 5.1, so the default (LGPL)
 * module has none. When a command's filters name it and the module lacks it, afmpeg_run_job runs
 * the LGPL bbox filter in its place and does the rest of cropdetect's work (vf_cropdetect.c) in
 * the host, from bbox's per-frame lines:
 *   - bbox logs each frame's box of luma brighter than min_val: cropdetect's `limit`, a limit
 *     below 1 being a fraction of the 8-bit range (default 24/255, so 24);
 *   - the host skips the first `skip` frames (default 2), keeps the running box since the start
 *     (a side only ever moves outwards), starts it again every `reset` frames (0: never), rounds
 *     it as cropdetect does (x, y up to even; w, h down to a multiple of `round`, 16 for 0 or 1,
 *     doubled when odd; x, y moved by half the cut, made even), and
 *   - hands the report the line cropdetect would have logged for the frame
 *     ("x1:.. x2:.. y1:.. y2:.. w:.. h:.. x:.. y:.. pts:.. t:.. crop=W:H:X:Y"), so the
 *     measurement rows are cropdetect's.
 * Where it differs (docs/jobs.md): a row or column counts as picture when one pixel is over the
 * limit (cropdetect: its average); frames before the first with any picture since the start or
 * a reset give no row (cropdetect logs placeholders computed from the frame size, which bbox does
 * not report); a fractional limit is scaled to 8 bits; times have bbox's 6 significant digits;
 * max_outliers is refused. Each rewritten filter is named bbox@afm_cropdetect_K, K numbering the
 * cropdetects of the command, so its lines are recognised and given their options. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "job/crop.h"

#define TAG "bbox@afm_cropdetect_"
#define MAX_INSTANCES 64

typedef struct crop_opts {
    int min_val, round, reset, skip;
    const char *enable;      /* the raw "enable=..." option, passed on to bbox, or NULL */
    size_t enable_len;
} crop_opts;

typedef struct crop_inst {
    char name[96];           /* the log prefix's context: "bbox@afm_cropdetect_K @ 0x..." */
    size_t k;
    long long last_n;
    int frame_nb, found, x1, y1, x2, y2;
} crop_inst;

struct afm_crop {
    crop_opts *opts;         /* one per rewritten cropdetect, by K */
    size_t n_opts;
    crop_inst inst[MAX_INSTANCES];
    size_t n_inst;
};

int afm_crop_emulated(afmpeg_runtime *rt)
{
    int r = afm_component_has(rt, AFM_FILTER, "cropdetect");
    if (r != 0)
        return r < 0 ? r : 0;
    r = afm_component_has(rt, AFM_FILTER, "bbox");
    return r < 0 ? r : r ? 1 : 0;
}

/* ---- the filter's options -------------------------------------------------------------------- */

/* The end of a graph-level token starting at p: the first unquoted, unescaped one of `stop`
 * ('...' quotes, '\' escapes, as FFmpeg's av_get_token). */
static const char *token_end(const char *p, const char *end, const char *stop)
{
    while (p < end && !strchr(stop, *p)) {
        if (*p == '\\' && p + 1 < end) {
            p += 2;
        } else if (*p == '\'') {
            const char *q = memchr(p + 1, '\'', (size_t)(end - p - 1));
            p = q ? q + 1 : end;
        } else {
            p++;
        }
    }
    return p;
}

/* [p, end) without its quotes and escapes into buf. */
static void unquote(const char *p, const char *end, char *buf, size_t cap)
{
    size_t n = 0;
    int quoted = 0;
    for (; p < end && n + 1 < cap; p++) {
        if (*p == '\'')
            quoted = !quoted;
        else if (*p == '\\' && !quoted && p + 1 < end)
            buf[n++] = *++p;
        else
            buf[n++] = *p;
    }
    buf[n] = '\0';
}

/* cropdetect's options in their shorthand order (vf_cropdetect.c). */
static const char *const opt_names[] = {"limit", "round", "reset", "skip", "reset_count",
                                        "max_outliers"};

static int set_opt(crop_opts *o, float *limit, const char *key, const char *value, char *err,
                   size_t cap)
{
    char *end;
    if (!strcmp(key, "limit")) {
        float f = strtof(value, &end);
        if (end == value || *end || !(f >= 0 && f <= 65535))
            goto bad;
        *limit = f;
        return 0;
    }
    size_t i;
    for (i = 1; i < sizeof opt_names / sizeof *opt_names; i++)
        if (!strcmp(key, opt_names[i]))
            break;
    if (i == sizeof opt_names / sizeof *opt_names) {
        snprintf(err, cap, "cropdetect has no option \"%s\" on this module, which runs bbox in "
                 "its place (options: limit, round, reset, reset_count, skip, enable)", key);
        return -1;
    }
    long v = strtol(value, &end, 10);
    if (end == value || *end || v < 0 || v > INT_MAX)
        goto bad;
    if (!strcmp(key, "round"))
        o->round = (int)v;
    else if (!strcmp(key, "skip"))
        o->skip = (int)v;
    else if (!strcmp(key, "max_outliers") && v != 0) {
        snprintf(err, cap, "cropdetect's max_outliers needs the GPL module (make MODULE=gpl): "
                 "this module runs bbox in cropdetect's place");
        return -1;
    } else if (strcmp(key, "max_outliers") != 0)
        o->reset = (int)v; /* reset, reset_count */
    return 0;
bad:
    snprintf(err, cap, "cropdetect option %s: \"%s\" is not a number in its range (this module "
             "runs bbox in cropdetect's place and takes plain numbers)", key, value);
    return -1;
}

/* Reads cropdetect's arguments [args, end): "limit:round:reset:..." then "key=value" pairs. */
static int parse_opts(const char *args, const char *end, crop_opts *o, char *err, size_t cap)
{
    float limit = 24.0f / 255;
    memset(o, 0, sizeof *o);
    o->round = 16;
    o->skip = 2;
    size_t pos = 0;
    int keyed = 0;
    for (const char *p = args; args && p < end;) {
        const char *seg_end = token_end(p, end, ":");
        const char *eq = token_end(p, seg_end, "=");
        char key[32], value[64];
        if (eq < seg_end) {
            unquote(p, eq, key, sizeof key);
            unquote(eq + 1, seg_end, value, sizeof value);
            keyed = 1;
        } else if (keyed || pos == sizeof opt_names / sizeof *opt_names) {
            unquote(p, seg_end, value, sizeof value);
            snprintf(err, cap, "cropdetect: option \"%s\" has no name", value);
            return -1;
        } else {
            snprintf(key, sizeof key, "%s", opt_names[pos++]);
            unquote(p, seg_end, value, sizeof value);
        }
        if (!strcmp(key, "enable")) {
            o->enable = p;
            o->enable_len = (size_t)(seg_end - p);
        } else if (set_opt(o, &limit, key, value, err, cap)) {
            return -1;
        }
        p = seg_end < end ? seg_end + 1 : end;
    }
    if (limit < 1.0f)
        limit *= 255; /* (1 << depth) - 1, for 8-bit luma */
    o->min_val = (int)lrintf(limit);
    if (o->round <= 1)
        o->round = 16;
    if (o->round % 2)
        o->round = o->round > INT_MAX / 2 ? INT_MAX - 1 : o->round * 2;
    return 0;
}

/* ---- rewriting a graph ----------------------------------------------------------------------- */

static const char *skip_ws(const char *p)
{
    return p + strspn(p, " \t\r\n");
}

static const char *skip_labels(const char *p)
{
    for (p = skip_ws(p); *p == '[';) {
        const char *close = strchr(p, ']');
        if (!close)
            return p + strlen(p);
        p = skip_ws(close + 1);
    }
    return p;
}

/* Walks a graph (graph.c has the grammar; it has been checked). With c, writes it to out with
 * each cropdetect replaced by bbox and its options kept in c; without, only checks the options.
 * Returns the number of cropdetects, or -1 with err set (or AFMPEG_ENOMEM). */
static int walk(const char *text, afm_crop *c, FILE *out, char *err, size_t cap)
{
    const char *p = skip_ws(text), *copied = text;
    int found = 0;
    if (!strncmp(p, "sws_flags=", 10)) {
        const char *semi = strchr(p, ';');
        p = semi ? semi + 1 : p + strlen(p);
    }
    while (*(p = skip_labels(p))) {
        const char *name = p;
        size_t n = strcspn(p, "=,;[] \t\r\n");
        if (!n)
            break;
        const char *at = memchr(name, '@', n);
        size_t name_len = at ? (size_t)(at - name) : n;
        const char *q = skip_ws(p + n), *args = NULL, *args_end = p + n;
        if (*q == '=') {
            args = q + 1;
            args_end = token_end(args, args + strlen(args), "[],;");
        }
        if (name_len == 10 && !strncmp(name, "cropdetect", 10)) {
            crop_opts o;
            if (parse_opts(args, args_end, &o, err, cap))
                return -1;
            found++;
            if (c) {
                crop_opts *v = realloc(c->opts, (c->n_opts + 1) * sizeof *v);
                if (!v)
                    return AFMPEG_ENOMEM;
                c->opts = v;
                c->opts[c->n_opts] = o;
                c->opts[c->n_opts].enable = NULL; /* points into the text being replaced */
                fprintf(out, "%.*s" TAG "%zu=min_val=%d", (int)(name - copied), copied,
                        c->n_opts++, o.min_val);
                if (o.enable)
                    fprintf(out, ":%.*s", (int)o.enable_len, o.enable);
                copied = args_end;
            }
        }
        p = skip_labels(args ? args_end : p + n);
        if (*p != ',' && *p != ';')
            break;
        p++;
    }
    if (c)
        fputs(copied, out);
    return found;
}

int afm_crop_check(const char *graph, char *err, size_t cap)
{
    return walk(graph, NULL, NULL, err, cap) < 0 ? -1 : 0;
}

int afm_crop_prepare(afm_strv *argv, afm_crop **out)
{
    *out = NULL;
    afm_crop *c = NULL; /* made at the first filter string that names cropdetect */
    for (size_t i = 1; i < argv->n; i++) {
        const char *opt = argv->v[i - 1];
        if (strcmp(opt, "-filter_complex") != 0 && strncmp(opt, "-filter:", 8) != 0)
            continue;
        if (!strstr(argv->v[i], "cropdetect"))
            continue;
        if (!c && !(c = calloc(1, sizeof *c)))
            return AFMPEG_ENOMEM;
        char err[160], *text = NULL;
        size_t len;
        FILE *out = open_memstream(&text, &len);
        int n = out ? walk(argv->v[i], c, out, err, sizeof err) : AFMPEG_ENOMEM;
        if ((out && fclose(out)) || n == AFMPEG_ENOMEM) {
            free(text);
            afm_crop_free(c);
            return AFMPEG_ENOMEM;
        }
        if (n > 0) { /* (n == -1 cannot be: the command was checked) */
            free(argv->v[i]);
            argv->v[i] = text;
        } else {
            free(text);
        }
    }
    if (c && c->n_opts)
        *out = c;
    else
        afm_crop_free(c);
    return AFMPEG_OK;
}

/* ---- bbox's lines, as cropdetect's ----------------------------------------------------------- */

static void restart(crop_inst *s)
{
    s->found = 0;
    s->x1 = s->y1 = INT_MAX; /* cropdetect: width - 1, height - 1 */
    s->x2 = s->y2 = 0;
}

/* "[bbox@afm_cropdetect_K @ 0x...] n:N pts:P pts_time:T[ x1:.. x2:.. y1:.. y2:.. ...]" */
int afm_crop_line(afm_crop *c, const char *line, char *msg, size_t cap)
{
    if (!c || line[0] != '[' || strncmp(line + 1, TAG, strlen(TAG)) != 0)
        return 0;
    const char *close = strstr(line, "] ");
    char *end;
    size_t k = strtoul(line + 1 + strlen(TAG), &end, 10);
    if (!close || *end != ' ' || k >= c->n_opts)
        return 0;
    const crop_opts *o = &c->opts[k];
    long long n;
    char pts[32], pts_time[32];
    if (sscanf(close + 2, "n:%lld pts:%31s pts_time:%31s", &n, pts, pts_time) != 3)
        return 0;
    msg[0] = '\0';

    size_t name_len = (size_t)(close - line - 1);
    crop_inst *s = NULL;
    for (size_t i = 0; i < c->n_inst && !s; i++)
        if (strlen(c->inst[i].name) == name_len && !memcmp(c->inst[i].name, line + 1, name_len))
            s = &c->inst[i];
    if (!s || n <= s->last_n) { /* a new filter (a graph is rebuilt when the input changes) */
        if (!s && c->n_inst == MAX_INSTANCES)
            return 1;
        if (!s)
            s = &c->inst[c->n_inst++];
        snprintf(s->name, sizeof s->name, "%.*s", (int)name_len, line + 1);
        s->k = k;
        s->frame_nb = -o->skip;
        restart(s);
    }
    s->last_n = n;
    if (++s->frame_nb <= 0)
        return 1;
    if (o->reset > 0 && s->frame_nb > o->reset) {
        restart(s);
        s->frame_nb = 1;
    }
    int bx1, bx2, by1, by2;
    const char *box = strstr(close, " x1:");
    if (box && sscanf(box, " x1:%d x2:%d y1:%d y2:%d", &bx1, &bx2, &by1, &by2) == 4) {
        /* cropdetect's scans: top, bottom (down to the new top), left, right. */
        if (by1 < s->y1)
            s->y1 = by1;
        if (by2 > (s->y2 > s->y1 ? s->y2 : s->y1))
            s->y2 = by2;
        if (bx1 < s->x1)
            s->x1 = bx1;
        if (bx2 > (s->x2 > s->x1 ? s->x2 : s->x1))
            s->x2 = bx2;
        s->found = 1;
    }
    if (!s->found)
        return 1;
    int x = (s->x1 + 1) & ~1, y = (s->y1 + 1) & ~1;
    int w = s->x2 - x + 1, h = s->y2 - y + 1;
    int shrink = w % o->round;
    w -= shrink;
    x += (shrink / 2 + 1) & ~1;
    shrink = h % o->round;
    h -= shrink;
    y += (shrink / 2 + 1) & ~1;
    double t = strcmp(pts_time, "NOPTS") ? strtod(pts_time, NULL) : -1;
    snprintf(msg, cap, "x1:%d x2:%d y1:%d y2:%d w:%d h:%d x:%d y:%d pts:%s t:%f crop=%d:%d:%d:%d",
             s->x1, s->x2, s->y1, s->y2, w, h, x, y, pts, t, w, h, x, y);
    return 1;
}

void afm_crop_free(afm_crop *c)
{
    if (c)
        free(c->opts);
    free(c);
}
