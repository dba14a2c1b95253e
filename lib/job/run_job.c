/* afmpeg_run_job(): a command checked against the module, run with its concat lists on an
 * overlay and its progress on a sink, and the result described: each output's streams (from
 * FFmpeg's "Output #N" and "Stream mapping" report, and a probe of the file) and the
 * measurements analysis filters logged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "fs/overlay.h"
#include "job/command.h"
#include "job/crop.h"
#include "job/progress.h"
#include "job/split.h"

/* ---- checks against the module -------------------------------------------------------------- */

/* 1 when every name is there; 0 with the message set; or a negative error. */
static int need_component(afmpeg_runtime *rt, afm_component kind, const char *name,
                          const char *where)
{
    static const char *const what[] = {"encoder", "filter", "muxer (output format)",
                                       "demuxer (input format)", "bitstream filter"};
    int r = afm_component_has(rt, kind, name);
    if (r == 0)
        afm_error(AFMPEG_EINVAL, "%s: the embedded module has no %s \"%s\"", where,
                  what[kind], name);
    return r;
}

/* Checks every filter a graph (or a simple chain) names. */
static int need_filters(afmpeg_runtime *rt, const char *graph_text, const char *where)
{
    afm_graph g;
    if (afm_graph_parse(graph_text, &g)) {
        afm_error(AFMPEG_EINVAL, "%s: %s", where, g.error);
        afm_graph_free(&g);
        return 0;
    }
    int r = 1, crop = 0;
    for (size_t i = 0; i < g.filters.n && r == 1; i++) {
        /* A module without cropdetect runs bbox in its place (crop.c). */
        if (!strcmp(g.filters.v[i], "cropdetect") && (r = afm_crop_emulated(rt)) != 0)
            crop = r == 1;
        else
            r = need_component(rt, AFM_FILTER, g.filters.v[i], where);
    }
    afm_graph_free(&g);
    char why[256];
    if (r == 1 && crop && afm_crop_check(graph_text, why, sizeof why)) {
        afm_error(AFMPEG_EINVAL, "%s: %s", where, why);
        r = 0;
    }
    return r;
}

/* Checks each bitstream filter of a list "a,b=opt=1". */
static int need_bsfs(afmpeg_runtime *rt, const char *list, const char *where)
{
    char *copy = strdup(list);
    if (!copy)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    int r = 1;
    for (char *save = NULL, *b = strtok_r(copy, ",", &save); b && r == 1;
         b = strtok_r(NULL, ",", &save)) {
        b[strcspn(b, "=")] = '\0';
        r = need_component(rt, AFM_BSF, b, where);
    }
    free(copy);
    return r;
}

static int check_components(const afmpeg_command *cmd, afmpeg_runtime *rt)
{
    static const char *const type_name[AFM_TYPES] = {"video", "audio", "subtitle", "data"};
    char where[96];
    int r = 1;
    for (size_t i = 0; i < cmd->n_inputs && r == 1; i++) {
        snprintf(where, sizeof where, "input %zu: format", i);
        if (cmd->inputs[i].format)
            r = need_component(rt, AFM_DEMUXER, cmd->inputs[i].format, where);
    }
    if (r == 1 && cmd->graph)
        r = need_filters(rt, cmd->graph, "filter_complex");
    for (size_t oi = 0; oi < cmd->n_outputs && r == 1; oi++) {
        const afm_output *o = &cmd->outputs[oi];
        if (o->format) {
            snprintf(where, sizeof where, "output %zu: format", oi);
            r = need_component(rt, AFM_MUXER, o->format, where);
        }
        for (int t = 0; t < AFM_TYPES && r == 1; t++) {
            if (o->codec[t] && strcmp(o->codec[t], "copy") != 0) {
                snprintf(where, sizeof where, "output %zu: %s codec", oi, type_name[t]);
                r = need_component(rt, AFM_ENCODER, o->codec[t], where);
            }
            if (r == 1 && o->filter[t]) {
                snprintf(where, sizeof where, "output %zu: %s filter", oi, type_name[t]);
                r = need_filters(rt, o->filter[t], where);
            }
        }
        for (size_t k = 0; k + 1 < o->bsfs.n && r == 1; k += 2) {
            snprintf(where, sizeof where, "output %zu: bsf:%s", oi, o->bsfs.v[k]);
            r = need_bsfs(rt, o->bsfs.v[k + 1], where);
        }
    }
    return r == 1 ? AFMPEG_OK : r == 0 ? AFMPEG_EINVAL : r;
}

static int validate(const afmpeg_command *cmd, afmpeg_runtime *rt)
{
    int err = afm_command_check_shape(cmd);
    if (!err && rt)
        err = check_components(cmd, rt);
    return err;
}

int afmpeg_command_validate(const afmpeg_command *cmd, afmpeg_runtime *rt)
{
    afm_error_clear();
    int err = validate(cmd, rt);
    if (!err)
        afm_error_clear();
    return err;
}

/* ---- reading FFmpeg's report (stderr) ------------------------------------------------------- */

#define MAX_STREAMS 64  /* per output, described in the result */
#define MAX_MEASUREMENTS 100000

typedef struct seen_stream {
    afmpeg_media_type type;
    char codec[32], encoder[48];
    int copied, known;
} seen_stream;

/* What the stderr tap gathers while the job runs. */
typedef struct report {
    size_t n_outputs;
    seen_stream (*streams)[MAX_STREAMS]; /* [output][stream] */
    int current_output;      /* the "Output #N" section being read, or -1 */
    afmpeg_measurement *m;
    size_t n_m, cap_m;
    afm_strv strings;        /* owns the measurements' strings */
    afm_crop *crop;          /* bbox run in cropdetect's place, or NULL */
    char ebur_section[32];   /* inside ebur128's summary: its current section, else "" */
    int in_ebur_summary;
    afm_lines lines;
    int oom;
} report;

static const char *keep(report *r, const char *s)
{
    if (afm_strv_push(&r->strings, s)) {
        r->oom = 1;
        return "";
    }
    return r->strings.v[r->strings.n - 1];
}

static void add_measurement(report *r, const char *filter, double time, const char *key,
                            const char *value)
{
    if (r->n_m == MAX_MEASUREMENTS)
        return;
    if (r->n_m == r->cap_m) {
        size_t cap = r->cap_m ? r->cap_m * 2 : 32;
        afmpeg_measurement *p = realloc(r->m, cap * sizeof *p);
        if (!p) {
            r->oom = 1;
            return;
        }
        r->m = p;
        r->cap_m = cap;
    }
    char *end;
    double d = strtod(value, &end);
    afmpeg_measurement *m = &r->m[r->n_m++];
    m->filter = filter;
    m->time = time;
    m->key = keep(r, key);
    m->value = keep(r, value);
    m->number = (end != value && *end == '\0' && isfinite(d)) ? d : NAN;
}

/* The filter a log line's prefix names: "[Parsed_cropdetect_0 @ 0x..]" or "[blackdetect @ ..]",
 * if it is one of the analysis filters; the message follows at *rest. */
static const char *analysis_filter(const char *line, const char **rest)
{
    static const char *const names[] = {"cropdetect", "blackdetect", "silencedetect",
                                        "ebur128"};
    if (line[0] != '[')
        return NULL;
    const char *p = line + 1, *close = strstr(line, "] ");
    if (!close)
        return NULL;
    if (!strncmp(p, "Parsed_", 7))
        p += 7;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (!strncmp(p, names[i], n) && (p[n] == '_' || p[n] == ' ')) {
            *rest = close + 2;
            return names[i];
        }
    }
    return NULL;
}

/* A measurement line: "key:value", "key: value", "key=value" tokens, separated by blanks or
 * '|'. The line's time is its "t" (cropdetect, ebur128), else the first value (blackdetect's
 * black_start, silencedetect's silence_start / silence_end). */
static void measurement_line(report *r, const char *filter, const char *msg)
{
    char keys[16][32], vals[16][64];
    int n = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", msg);
    char *save = NULL, *tok = strtok_r(buf, " \t|", &save);
    while (tok && n < 16) {
        char *sep = strpbrk(tok, "=:");
        if (sep && sep == tok + strlen(tok) - 1) { /* "key:" then the value */
            *sep = '\0';
            char *v = strtok_r(NULL, " \t|", &save);
            if (!v)
                break;
            snprintf(keys[n], sizeof keys[n], "%s", tok);
            snprintf(vals[n], sizeof vals[n], "%s", v);
            n++;
        } else if (sep && sep != tok) {
            *sep = '\0';
            snprintf(keys[n], sizeof keys[n], "%s", tok);
            snprintf(vals[n], sizeof vals[n], "%s", sep + 1);
            n++;
        }
        tok = strtok_r(NULL, " \t|", &save);
    }
    if (n == 0)
        return;
    double time = NAN;
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], "t"))
            time = strtod(vals[i], NULL);
    if (isnan(time))
        time = strtod(vals[0], NULL);
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], "t") != 0 && strcmp(keys[i], "pts") != 0)
            add_measurement(r, filter, time, keys[i], vals[i]);
}

/* ebur128's summary, logged at the end without a prefix on its lines:
 *   Integrated loudness:  I: -23.0 LUFS  Threshold: -33.0 LUFS
 *   Loudness range:       LRA: 0.0 LU  Threshold: ..  LRA low: ..  LRA high: ..
 *   Sample peak / True peak:  Peak: .. dBFS
 * Keys: I, I_threshold, LRA, LRA_threshold, LRA_low, LRA_high, sample_peak, true_peak. */
static void ebur_summary_line(report *r, const char *line)
{
    const char *p = line + strspn(line, " \t");
    const char *colon = strchr(p, ':');
    if (!colon)
        return;
    char key[32];
    snprintf(key, sizeof key, "%.*s", (int)(colon - p), p);
    const char *v = colon + 1 + strspn(colon + 1, " \t");
    if (!*v) { /* a section heading */
        snprintf(r->ebur_section, sizeof r->ebur_section, "%s", key);
        return;
    }
    char value[32], name[48];
    snprintf(value, sizeof value, "%.*s", (int)strcspn(v, " \t"), v);
    const char *sec = r->ebur_section;
    if (!strcmp(key, "Threshold"))
        snprintf(name, sizeof name, "%s_threshold",
                 !strncmp(sec, "Integrated", 10) ? "I" : "LRA");
    else if (!strcmp(key, "Peak"))
        snprintf(name, sizeof name, "%s", !strncmp(sec, "True", 4) ? "true_peak" : "sample_peak");
    else if (!strcmp(key, "LRA low") || !strcmp(key, "LRA high"))
        snprintf(name, sizeof name, "LRA_%s", key + 4);
    else
        snprintf(name, sizeof name, "%s", key);
    add_measurement(r, "ebur128", NAN, name, value);
}

static afmpeg_media_type media_type(const char *word)
{
    if (!strncmp(word, "Video", 5)) return AFMPEG_MEDIA_VIDEO;
    if (!strncmp(word, "Audio", 5)) return AFMPEG_MEDIA_AUDIO;
    if (!strncmp(word, "Subtitle", 8)) return AFMPEG_MEDIA_SUBTITLE;
    if (!strncmp(word, "Data", 4)) return AFMPEG_MEDIA_DATA;
    if (!strncmp(word, "Attachment", 10)) return AFMPEG_MEDIA_ATTACHMENT;
    return AFMPEG_MEDIA_UNKNOWN;
}

static seen_stream *stream_at(report *r, long o, long k)
{
    if (o < 0 || (size_t)o >= r->n_outputs || k < 0 || k >= MAX_STREAMS)
        return NULL;
    return &r->streams[o][k];
}

/* "  Stream #0:1 -> #0:1 (copy)", "  Stream #0:0 -> #0:0 (h264 (native) -> h264 (libx))",
 * "  scale:default -> Stream #0:0 (libopenh264)": the output stream and how it is made. */
static void mapping_line(report *r, const char *line)
{
    const char *arrow = strstr(line, "-> #");
    const char *hash = arrow ? arrow + 3 : NULL;
    if (!hash && (arrow = strstr(line, "-> Stream #")))
        hash = arrow + 10;
    if (!hash)
        return;
    char *end;
    long o = strtol(hash + 1, &end, 10);
    if (*end != ':')
        return;
    long k = strtol(end + 1, &end, 10);
    seen_stream *s = stream_at(r, o, k);
    if (!s)
        return;
    if (strstr(end, "(copy)")) {
        s->copied = 1;
        s->encoder[0] = '\0';
        return;
    }
    /* The encoder is in the last parentheses; "native" means the one named like the codec,
     * which is the word before them: "-> aac (native))". */
    const char *open = strrchr(end, '(');
    if (!open)
        return;
    snprintf(s->encoder, sizeof s->encoder, "%.*s", (int)strcspn(open + 1, ")"), open + 1);
    const char *to = strstr(end, "-> ");
    if (!strcmp(s->encoder, "native") && to && to < open)
        snprintf(s->encoder, sizeof s->encoder, "%.*s", (int)strcspn(to + 3, " ("), to + 3);
}

/* "  Stream #0:0: Video: h264 (avc1 / 0x31637661), yuv420p, ..." inside "Output #N". */
static void output_stream_line(report *r, const char *line)
{
    const char *p = strstr(line, "Stream #");
    char *end;
    long o = strtol(p + 8, &end, 10);
    if (*end != ':' || o != r->current_output)
        return;
    long k = strtol(end + 1, &end, 10);
    seen_stream *s = stream_at(r, o, k);
    const char *colon = strstr(end, ": ");
    if (!s || !colon)
        return;
    const char *type = colon + 2;
    const char *codec = strstr(type, ": ");
    s->type = media_type(type);
    s->known = 1;
    if (codec)
        snprintf(s->codec, sizeof s->codec, "%.*s", (int)strcspn(codec + 2, " ,("), codec + 2);
}

static void report_line(report *r, const char *line)
{
    const char *msg;
    char crop_msg[256];
    if (afm_crop_line(r->crop, line, crop_msg, sizeof crop_msg)) {
        if (crop_msg[0])
            measurement_line(r, "cropdetect", crop_msg);
        return;
    }
    const char *filter = analysis_filter(line, &msg);
    if (filter) {
        r->in_ebur_summary = !strcmp(filter, "ebur128") && !strncmp(msg, "Summary:", 8);
        r->ebur_section[0] = '\0';
        if (!r->in_ebur_summary)
            measurement_line(r, filter, msg);
        return;
    }
    if (r->in_ebur_summary) {
        if (line[0] == ' ' || line[0] == '\0') {
            if (line[0])
                ebur_summary_line(r, line);
            return;
        }
        r->in_ebur_summary = 0;
    }
    if (!strncmp(line, "Output #", 8)) {
        r->current_output = (int)strtol(line + 8, NULL, 10);
    } else if (!strncmp(line, "Input #", 7) || !strncmp(line, "Stream mapping:", 15)) {
        r->current_output = -1;
    } else if (strstr(line, "-> #") || strstr(line, "-> Stream #")) {
        mapping_line(r, line);
    } else if (r->current_output >= 0 && !strncmp(line + strspn(line, " "), "Stream #", 8)) {
        output_stream_line(r, line);
    }
}

/* The stderr tap: FFmpeg's report, line by line (afm_lines), to report_line(). */
static int report_tap(const void *data, size_t len, void *payload)
{
    report *r = payload;
    afm_lines_feed(&r->lines, data, len);
    return 0;
}

static void report_each_line(char *line, size_t len, void *payload)
{
    report *r = payload;
    if (len || r->in_ebur_summary)
        report_line(r, line);
}

/* ---- the result ----------------------------------------------------------------------------- */

typedef struct job_info {
    afm_job_info pub;
    afm_strv strings;
    afmpeg_output_stream *streams;  /* every output's, one array */
    afmpeg_probe_result **probes;
} job_info;

static void job_info_free(afm_job_info *pub)
{
    job_info *j = (job_info *)pub;
    for (size_t i = 0; j->probes && i < pub->output_count; i++)
        afmpeg_probe_result_free(j->probes[i]);
    free(j->probes);
    free(j->streams);
    free(pub->outputs);
    free(pub->measurements);
    afm_strv_free(&j->strings);
    free(j);
}

/* Whether an output is one file that can be probed afterwards. */
static int single_file(const afm_output *o)
{
    static const char *const multi[] = {"hls", "dash", "segment", "stream_segment", "image2",
                                        "null", "framemd5", "md5", "crc", "framecrc"};
    if (strchr(o->path, '%') || !strncmp(o->path, "pipe:", 5) || !strcmp(o->path, "-"))
        return 0;
    for (size_t i = 0; o->format && i < sizeof multi / sizeof *multi; i++)
        if (!strcmp(o->format, multi[i]))
            return 0;
    return 1;
}

/* Builds the job's description: outputs (when ffmpeg exited 0) and measurements (taken from
 * the report, which gives up its array and strings). */
static int describe(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                    const afmpeg_job_options *opts, report *r, int exited_ok,
                    afm_job_info **out)
{
    job_info *j = calloc(1, sizeof *j);
    if (!j)
        return AFMPEG_ENOMEM;
    j->pub.free = job_info_free;
    j->pub.segments = 1;
    j->pub.measurements = r->m;
    j->pub.measurement_count = r->n_m;
    j->strings = r->strings;
    r->m = NULL;
    r->n_m = 0;
    memset(&r->strings, 0, sizeof r->strings);
    *out = &j->pub;
    if (!exited_ok)
        return AFMPEG_OK;

    size_t n = cmd->n_outputs, total = 0;
    for (size_t o = 0; o < n; o++)
        for (int k = 0; k < MAX_STREAMS; k++)
            total += r->streams[o][k].known;
    j->pub.outputs = calloc(n, sizeof *j->pub.outputs);
    j->probes = calloc(n, sizeof *j->probes);
    j->streams = calloc(total ? total : 1, sizeof *j->streams);
    if (!j->pub.outputs || !j->probes || !j->streams)
        return AFMPEG_ENOMEM;
    j->pub.output_count = n;
    afmpeg_output_stream *s = j->streams;
    for (size_t o = 0; o < n; o++) {
        afmpeg_output_info *info = &j->pub.outputs[o];
        if (afm_strv_push(&j->strings, cmd->outputs[o].path))
            return AFMPEG_ENOMEM;
        info->path = j->strings.v[j->strings.n - 1];
        info->streams = s;
        for (int k = 0; k < MAX_STREAMS; k++) {
            seen_stream *ss = &r->streams[o][k];
            if (!ss->known)
                continue;
            if (afm_strv_push(&j->strings, ss->codec) ||
                afm_strv_push(&j->strings, ss->copied ? "" : ss->encoder))
                return AFMPEG_ENOMEM;
            s->index = k;
            s->type = ss->type;
            s->codec = j->strings.v[j->strings.n - 2];
            s->encoder = j->strings.v[j->strings.n - 1];
            s->copied = ss->copied;
            s++;
            info->stream_count++;
        }
        if (single_file(&cmd->outputs[o])) {
            /* A failed probe (an output in a format ffprobe cannot read back) leaves it NULL:
             * the job itself succeeded. The probe derives its job from `opts`. */
            if (afmpeg_probe(rt, fs, cmd->outputs[o].path, opts, &j->probes[o]) == AFMPEG_OK)
                info->probe = j->probes[o];
        }
    }
    return AFMPEG_OK;
}

size_t afmpeg_result_segments(const afmpeg_result *res, const char **why_not)
{
    if (why_not)
        *why_not = res && res->job ? res->job->why_not : NULL;
    return res && res->job ? res->job->segments : 0;
}

/* Records how the job ran (split or not, and why) in its result's description. */
static int note_split(afmpeg_result *res, const afm_split *split, const char *why_not)
{
    if (!res || !res->job)
        return AFMPEG_OK;
    job_info *j = (job_info *)res->job;
    j->pub.segments = afm_split_segments(split);
    if (!split && why_not[0]) {
        if (afm_strv_push(&j->strings, why_not))
            return AFMPEG_ENOMEM;
        j->pub.why_not = j->strings.v[j->strings.n - 1];
    }
    return AFMPEG_OK;
}

/* The stitch copies what the pieces encoded: its report says "copy" where the pieces encoded. */
static void stitched_streams(report *r, const afm_output *o)
{
    for (int k = 0; k < MAX_STREAMS; k++) {
        seen_stream *ss = &r->streams[0][k];
        if (!ss->known)
            continue;
        const char *enc = ss->type == AFMPEG_MEDIA_VIDEO ? o->codec[0]
                        : ss->type == AFMPEG_MEDIA_AUDIO ? o->codec[1] : NULL;
        if (ss->type == AFMPEG_MEDIA_AUDIO && !enc)
            enc = ss->codec; /* the container's default encoder, named as its codec (aac) */
        if (enc && strcmp(enc, "copy") != 0) {
            snprintf(ss->encoder, sizeof ss->encoder, "%s", enc);
            ss->copied = 0;
        }
    }
}

size_t afmpeg_result_output_count(const afmpeg_result *res)
{
    return res && res->job ? res->job->output_count : 0;
}

const afmpeg_output_info *afmpeg_result_output(const afmpeg_result *res, size_t i)
{
    return res && res->job && i < res->job->output_count ? &res->job->outputs[i] : NULL;
}

size_t afmpeg_result_measurement_count(const afmpeg_result *res)
{
    return res && res->job ? res->job->measurement_count : 0;
}

const afmpeg_measurement *afmpeg_result_measurement(const afmpeg_result *res, size_t i)
{
    return res && res->job && i < res->job->measurement_count ? &res->job->measurements[i]
                                                               : NULL;
}

/* ---- progress: how long the output will be -------------------------------------------------- */

/* Seconds of media an input gives (its probed duration after its seek and -t), or -1. */
static double input_length(afmpeg_runtime *rt, afmpeg_fs *fs, const afm_input *in,
                           const afmpeg_job_options *opts)
{
    double len = 0;
    size_t files = in->concat.n ? in->concat.n : 1;
    for (size_t i = 0; i < files; i++) {
        const char *path = in->concat.n ? in->concat.v[i] : in->path;
        afmpeg_probe_result *p = NULL;
        if (afmpeg_probe(rt, fs, path, opts, &p) != AFMPEG_OK || isnan(p->duration)) {
            afmpeg_probe_result_free(p);
            return -1;
        }
        len += p->duration;
        afmpeg_probe_result_free(p);
    }
    if (in->has_seek)
        len = len > in->seek ? len - in->seek : 0;
    if (in->has_duration && in->duration < len)
        len = in->duration;
    return len;
}

/* The first output's expected length: its -t / -to, else the longest input. -1 if unknown. */
static double expected_length(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                              const afmpeg_job_options *opts)
{
    const afm_output *o = &cmd->outputs[0];
    double limit = o->has_duration ? o->duration : -1;
    if (o->has_end && (limit < 0 || o->end < limit))
        limit = o->end;
    double longest = -1;
    for (size_t i = 0; i < cmd->n_inputs; i++) {
        double l = input_length(rt, fs, &cmd->inputs[i], opts);
        if (l < 0)
            return limit;
        if (l > longest)
            longest = l;
    }
    if (limit >= 0 && (longest < 0 || limit < longest))
        return limit;
    return longest;
}

/* ---- running -------------------------------------------------------------------------------- */

/* Every input file exists before a guest runs (afm_check_input): the same error code for a
 * missing input as afmpeg_probe() and afmpeg_frames() give. Pipes, and files a concat list
 * names (checked by the demuxer, which reports them), are left to FFmpeg. */
static int check_inputs(afmpeg_fs *fs, const afmpeg_command *cmd)
{
    for (size_t i = 0; i < cmd->n_inputs; i++) {
        const afm_input *in = &cmd->inputs[i];
        const char *path = in->path;
        if (in->concat.n || !strcmp(path, "-") || !strncmp(path, "pipe:", 5))
            continue;
        int err = afm_check_input(fs, path);
        if (err)
            return afm_error(err, "input %zu: %s", i, afmpeg_last_error());
    }
    return AFMPEG_OK;
}

int afmpeg_run_job(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                   const afmpeg_job_options *opts, afmpeg_result **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!rt || !fs)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !rt ? "rt" : "fs");
    int err = afm_check_ffmpeg(rt, "afmpeg_run_job()");
    if (!err)
        err = afm_check_job_options(opts);
    if (!err)
        err = validate(cmd, rt);
    if (!err)
        err = check_inputs(fs, cmd);
    if (err)
        return err;

    afm_strv argv;
    if (afm_command_render(cmd, &argv))
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    afm_run_hooks hooks = {0};
    afmpeg_fs *overlay = NULL;
    report rep = {0};
    if (afm_crop_emulated(rt) == 1)
        err = afm_crop_prepare(&argv, &rep.crop);
    afm_progress prog;
    afmpeg_progress_fn on_progress = opts ? opts->on_progress : NULL;
    const char **run_argv = (const char **)argv.v;
    afm_split *split = NULL;
    char why_not[256] = "";
    int parallel = opts && opts->version >= 2 ? opts->parallel : 0;
    if (!err && parallel) {
        afmpeg_runtime_stats st;
        int r = afmpeg_stats(rt, &st);
        if (!r)
            r = afm_split_plan(rt, fs, cmd, opts, &argv, parallel, st.instances, &split,
                               why_not, sizeof why_not);
        if (r < 0) { /* planning failed (a probe did): the job does not run; message set */
            err = r;
            goto done;
        }
    }

    /* Concat lists live on an overlay over the caller's filesystem. */
    for (size_t i = 0; i < cmd->n_inputs && !err; i++) {
        const afm_input *in = &cmd->inputs[i];
        if (!in->concat.n)
            continue;
        if (!overlay && (err = afm_overlay_new(fs, &overlay)))
            break;
        size_t len;
        char *list = afm_command_concat_list(in, &len);
        err = list ? afm_overlay_put(overlay, strrchr(in->path, '/') + 1, list, len)
                   : AFMPEG_ENOMEM;
        free(list);
    }
    if (!err && split && !overlay)
        err = afm_overlay_new(fs, &overlay);
    hooks.fs = overlay;
    if (!err && split) {
        /* The pieces first; then the stitch runs as the job itself, without -progress (the
         * pieces reported it). */
        double total = on_progress ? expected_length(rt, fs, cmd, opts) : -1;
        afmpeg_result *failed = NULL;
        int r = afm_split_run(split, rt, overlay, opts, total, &failed);
        if (r) {
            *out = failed;
            err = r == AFM_SPLIT_EXITED ? AFMPEG_OK : r;
            char saved[1024];
            snprintf(saved, sizeof saved, "%s", afmpeg_last_error());
            if (*out && (describe(rt, fs, cmd, opts, &rep, 0, &(*out)->job) ||
                         note_split(*out, split, why_not))) {
                afmpeg_result_free(*out);
                *out = NULL;
                err = afm_error(AFMPEG_ENOMEM, "out of memory");
            } else if (err) {
                afm_error(err, "%s", saved);
            } else {
                afm_error_clear();
            }
            goto done;
        }
        run_argv = (const char **)afm_split_stitch_argv(split);
        on_progress = NULL; /* the stitch does not report; afm_split_finish() ends it */
    }
    if (!err && on_progress) {
        afm_progress_init(&prog, on_progress, opts->progress_payload,
                          expected_length(rt, fs, cmd, opts));
        hooks.sink = afm_progress_sink;
        hooks.sink_payload = &prog;
        if (!(run_argv = afm_progress_argv((const char *const *)argv.v)))
            err = AFMPEG_ENOMEM;
    }
    rep.n_outputs = cmd->n_outputs;
    rep.current_output = -1;
    afm_lines_init(&rep.lines, report_each_line, &rep);
    if (!err && !(rep.streams = calloc(cmd->n_outputs, sizeof *rep.streams)))
        err = AFMPEG_ENOMEM;
    hooks.stderr_tap = report_tap;
    hooks.tap_payload = &rep;
    if (err) {
        err = afm_error(err, "%s", err == AFMPEG_ENOMEM ? "out of memory"
                                                        : "preparing the job failed");
    } else {
        afm_error_clear();
        err = afm_run(rt, fs, run_argv, opts, &hooks, out);
    }
    if (*out) {
        afm_lines_flush(&rep.lines); /* a last line without its newline */
        int ok = err == AFMPEG_OK && afmpeg_result_exit_code(*out) == 0;
        char saved[1024]; /* describing runs probes, which reset the message */
        snprintf(saved, sizeof saved, "%s", afmpeg_last_error());
        if (split && rep.streams)
            stitched_streams(&rep, &cmd->outputs[0]);
        if (describe(rt, fs, cmd, opts, &rep, ok, &(*out)->job) || rep.oom ||
            note_split(*out, split, why_not)) {
            afmpeg_result_free(*out);
            *out = NULL;
            err = afm_error(AFMPEG_ENOMEM, "out of memory");
        } else {
            if (err)
                afm_error(err, "%s", saved);
            else
                afm_error_clear();
            if (ok && on_progress)
                afm_progress_finish(&prog);
            else if (ok && split)
                afm_split_finish(split);
        }
    }
done:
    if (run_argv != (const char **)argv.v && !split)
        free(run_argv);
    afm_split_free(split);
    free(rep.m);
    afm_crop_free(rep.crop);
    afm_strv_free(&rep.strings);
    free(rep.streams);
    afm_strv_free(&argv);
    afmpeg_fs_free(overlay);
    return err;
}
