/* The command builder: an ffmpeg job described field by field, its checks, and its rendering as
 * an ffmpeg argv (see afmpeg.h, "Commands"). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "fs/overlay.h"
#include "job/command.h"

/* ---- small owned-string lists ------------------------------------------------------------ */

int afm_strv_push(afm_strv *v, const char *s)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        char **p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return AFMPEG_ENOMEM;
        v->v = p;
        v->cap = cap;
    }
    if (!(v->v[v->n] = strdup(s)))
        return AFMPEG_ENOMEM;
    v->n++;
    return AFMPEG_OK;
}

static void strv_free(afm_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

/* Pushes 2 or 3 strings as one entry of a tuple list (option pairs, per-stream settings). */
static int strv_push_tuple(afm_strv *v, const char *a, const char *b, const char *c)
{
    size_t n = v->n;
    int err = afm_strv_push(v, a);
    if (!err)
        err = afm_strv_push(v, b);
    if (!err && c)
        err = afm_strv_push(v, c);
    if (err) { /* all or nothing */
        while (v->n > n)
            free(v->v[--v->n]);
    }
    return err;
}

static char *dup_or_null(const char *s, int *err)
{
    char *d = strdup(s);
    if (!d)
        *err = AFMPEG_ENOMEM;
    return d;
}

/* ---- construction --------------------------------------------------------------------------- */

int afmpeg_command_new(afmpeg_command **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? AFMPEG_OK : afm_error(AFMPEG_ENOMEM, "out of memory");
}

static void input_free(afm_input *in)
{
    free(in->path);
    free(in->format);
    strv_free(&in->concat);
    strv_free(&in->options);
}

static void output_free(afm_output *o)
{
    free(o->path);
    free(o->format);
    for (int t = 0; t < AFM_TYPES; t++) {
        free(o->codec[t]);
        free(o->filter[t]);
    }
    strv_free(&o->maps);
    strv_free(&o->options);
    strv_free(&o->bsfs);
    strv_free(&o->metadata);
    strv_free(&o->stream_metadata);
    strv_free(&o->dispositions);
}

void afmpeg_command_free(afmpeg_command *cmd)
{
    if (!cmd)
        return;
    for (size_t i = 0; i < cmd->n_inputs; i++)
        input_free(&cmd->inputs[i]);
    for (size_t i = 0; i < cmd->n_outputs; i++)
        output_free(&cmd->outputs[i]);
    free(cmd->inputs);
    free(cmd->outputs);
    free(cmd->graph);
    free(cmd);
}

/* Checks a string argument: non-NULL and non-empty. `what` names it for the message. */
static int need_str(const char *what, const char *s)
{
    if (!s)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", what);
    if (!*s)
        return afm_error(AFMPEG_EINVAL, "%s is empty", what);
    return AFMPEG_OK;
}

static int need_time(const char *what, double t)
{
    if (!isfinite(t) || t < 0)
        return afm_error(AFMPEG_EINVAL, "%s %g is not a time (seconds >= 0)", what, t);
    return AFMPEG_OK;
}

static afm_input *get_input(afmpeg_command *cmd, int i)
{
    if (!cmd) {
        afm_error(AFMPEG_EINVAL, "cmd is NULL");
        return NULL;
    }
    if (i < 0 || (size_t)i >= cmd->n_inputs) {
        afm_error(AFMPEG_EINVAL, "there is no input %d (the command has %zu)", i,
                  cmd->n_inputs);
        return NULL;
    }
    return &cmd->inputs[i];
}

static afm_output *get_output(afmpeg_command *cmd, int i)
{
    if (!cmd) {
        afm_error(AFMPEG_EINVAL, "cmd is NULL");
        return NULL;
    }
    if (i < 0 || (size_t)i >= cmd->n_outputs) {
        afm_error(AFMPEG_EINVAL, "there is no output %d (the command has %zu)", i,
                  cmd->n_outputs);
        return NULL;
    }
    return &cmd->outputs[i];
}

/* A new zeroed input, or NULL (message set). */
static afm_input *new_input(afmpeg_command *cmd)
{
    if (cmd->n_inputs == cmd->cap_inputs) {
        size_t cap = cmd->cap_inputs ? cmd->cap_inputs * 2 : 4;
        afm_input *p = realloc(cmd->inputs, cap * sizeof *p);
        if (!p) {
            afm_error(AFMPEG_ENOMEM, "out of memory");
            return NULL;
        }
        cmd->inputs = p;
        cmd->cap_inputs = cap;
    }
    afm_input *in = &cmd->inputs[cmd->n_inputs];
    memset(in, 0, sizeof *in);
    return in;
}

/* Commits the input new_input() prepared, or frees what it holds on error. */
static int finish_input(afmpeg_command *cmd, afm_input *in, int err, int *out_index)
{
    if (err) {
        input_free(in);
        return err == AFMPEG_ENOMEM ? afm_error(err, "out of memory") : err;
    }
    if (out_index)
        *out_index = (int)cmd->n_inputs;
    cmd->n_inputs++;
    return AFMPEG_OK;
}

int afmpeg_command_add_input(afmpeg_command *cmd, const char *path, int *out_index)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    int err = need_str("path", path);
    afm_input *in = err ? NULL : new_input(cmd);
    if (!in)
        return err ? err : AFMPEG_ENOMEM;
    in->path = dup_or_null(path, &err);
    return finish_input(cmd, in, err, out_index);
}

int afmpeg_command_add_concat_input(afmpeg_command *cmd, const char *const *paths, size_t count,
                                    int *out_index)
{
    afm_error_clear();
    if (!cmd || !paths)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !cmd ? "cmd" : "paths");
    if (count == 0)
        return afm_error(AFMPEG_EINVAL, "no paths to join");
    for (size_t i = 0; i < count; i++) {
        char what[32];
        snprintf(what, sizeof what, "paths[%zu]", i);
        int err = need_str(what, paths[i]);
        if (err)
            return err;
        if (strchr(paths[i], '\n') || strchr(paths[i], '\r'))
            return afm_error(AFMPEG_EINVAL, "paths[%zu] contains a line break", i);
    }
    afm_input *in = new_input(cmd);
    if (!in)
        return AFMPEG_ENOMEM;
    int err = AFMPEG_OK;
    for (size_t i = 0; i < count && !err; i++)
        err = afm_strv_push(&in->concat, paths[i]);
    if (!err) {
        char name[64];
        snprintf(name, sizeof name, "/%s/concat-%zu.txt", AFM_OVERLAY_DIR, cmd->n_inputs);
        in->path = dup_or_null(name, &err);
    }
    if (!err)
        in->format = dup_or_null("concat", &err);
    if (!err)
        err = strv_push_tuple(&in->options, "safe", "0", NULL);
    return finish_input(cmd, in, err, out_index);
}

int afmpeg_command_add_raw_video_input(afmpeg_command *cmd, const char *path, int width,
                                       int height, const char *pixel_format, const char *rate,
                                       int *out_index)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    int err = need_str("path", path);
    if (!err)
        err = need_str("pixel_format", pixel_format);
    if (!err)
        err = need_str("rate", rate);
    if (!err && (width <= 0 || height <= 0 || width > 32768 || height > 32768))
        err = afm_error(AFMPEG_EINVAL, "size %dx%d is not a frame size", width,
                        height);
    afm_input *in = err ? NULL : new_input(cmd);
    if (!in)
        return err ? err : AFMPEG_ENOMEM;
    char size[32];
    snprintf(size, sizeof size, "%dx%d", width, height);
    in->path = dup_or_null(path, &err);
    if (!err)
        in->format = dup_or_null("rawvideo", &err);
    if (!err)
        err = strv_push_tuple(&in->options, "pixel_format", pixel_format, NULL);
    if (!err)
        err = strv_push_tuple(&in->options, "video_size", size, NULL);
    if (!err)
        err = strv_push_tuple(&in->options, "framerate", rate, NULL);
    return finish_input(cmd, in, err, out_index);
}

int afmpeg_command_add_raw_audio_input(afmpeg_command *cmd, const char *path,
                                       const char *sample_format, int sample_rate,
                                       const char *channel_layout, int *out_index)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    int err = need_str("path", path);
    if (!err)
        err = need_str("sample_format", sample_format);
    if (!err)
        err = need_str("channel_layout", channel_layout);
    if (!err && (sample_rate <= 0 || sample_rate > 1000000))
        err = afm_error(AFMPEG_EINVAL, "sample_rate %d is not a rate", sample_rate);
    afm_input *in = err ? NULL : new_input(cmd);
    if (!in)
        return err ? err : AFMPEG_ENOMEM;
    char rate[16];
    snprintf(rate, sizeof rate, "%d", sample_rate);
    in->path = dup_or_null(path, &err);
    if (!err)
        in->format = dup_or_null(sample_format, &err);
    if (!err)
        err = strv_push_tuple(&in->options, "sample_rate", rate, NULL);
    if (!err)
        err = strv_push_tuple(&in->options, "ch_layout", channel_layout, NULL);
    return finish_input(cmd, in, err, out_index);
}

/* Replaces an owned string field with a copy of `s`. */
static int set_str(char **field, const char *s)
{
    char *d = strdup(s);
    if (!d)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    free(*field);
    *field = d;
    return AFMPEG_OK;
}

/* Pushes a tuple, with the builder's message on failure. */
static int push(afm_strv *v, const char *a, const char *b, const char *c)
{
    return strv_push_tuple(v, a, b, c) ? afm_error(AFMPEG_ENOMEM, "out of memory") : 0;
}

int afmpeg_command_input_format(afmpeg_command *cmd, int input, const char *format)
{
    afm_error_clear();
    afm_input *in = get_input(cmd, input);
    int err = in ? need_str("format", format) : AFMPEG_EINVAL;
    return err ? err : set_str(&in->format, format);
}

/* An option key as ffmpeg takes it: no leading '-', no spaces. */
static int need_key(const char *key)
{
    int err = need_str("key", key);
    if (!err && (key[0] == '-' || strpbrk(key, " \t\n=")))
        err = afm_error(AFMPEG_EINVAL, "key \"%s\" must be an option name without '-', "
                        "spaces or '='", key);
    return err;
}

int afmpeg_command_input_option(afmpeg_command *cmd, int input, const char *key,
                                const char *value)
{
    afm_error_clear();
    afm_input *in = get_input(cmd, input);
    int err = in ? need_key(key) : AFMPEG_EINVAL;
    if (!err && !value)
        err = afm_error(AFMPEG_EINVAL, "value is NULL");
    return err ? err : push(&in->options, key, value, NULL);
}

int afmpeg_command_input_seek(afmpeg_command *cmd, int input, double seconds,
                              afmpeg_seek_mode mode)
{
    afm_error_clear();
    afm_input *in = get_input(cmd, input);
    int err = in ? need_time("seconds", seconds) : AFMPEG_EINVAL;
    if (!err && mode != AFMPEG_SEEK_ACCURATE && mode != AFMPEG_SEEK_FAST)
        err = afm_error(AFMPEG_EINVAL, "mode %d is not an afmpeg_seek_mode", (int)mode);
    if (err)
        return err;
    in->seek = seconds;
    in->has_seek = 1;
    in->seek_mode = mode;
    return AFMPEG_OK;
}

int afmpeg_command_input_duration(afmpeg_command *cmd, int input, double seconds)
{
    afm_error_clear();
    afm_input *in = get_input(cmd, input);
    int err = in ? need_time("seconds", seconds) : AFMPEG_EINVAL;
    if (err)
        return err;
    in->duration = seconds;
    in->has_duration = 1;
    return AFMPEG_OK;
}

int afmpeg_command_filter_complex(afmpeg_command *cmd, const char *graph)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    if (!graph) {
        free(cmd->graph);
        cmd->graph = NULL;
        return AFMPEG_OK;
    }
    int err = need_str("graph", graph);
    return err ? err : set_str(&cmd->graph, graph);
}

int afmpeg_command_copyts(afmpeg_command *cmd, int on)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    cmd->copyts = on != 0;
    return AFMPEG_OK;
}

int afmpeg_command_add_output(afmpeg_command *cmd, const char *path, int *out_index)
{
    afm_error_clear();
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    int err = need_str("path", path);
    if (err)
        return err;
    if (cmd->n_outputs == cmd->cap_outputs) {
        size_t cap = cmd->cap_outputs ? cmd->cap_outputs * 2 : 4;
        afm_output *p = realloc(cmd->outputs, cap * sizeof *p);
        if (!p)
            return afm_error(AFMPEG_ENOMEM, "out of memory");
        cmd->outputs = p;
        cmd->cap_outputs = cap;
    }
    afm_output *o = &cmd->outputs[cmd->n_outputs];
    memset(o, 0, sizeof *o);
    o->chapters = AFM_CHAPTERS_DEFAULT;
    if (!(o->path = strdup(path)))
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    if (out_index)
        *out_index = (int)cmd->n_outputs;
    cmd->n_outputs++;
    return AFMPEG_OK;
}

int afmpeg_command_output_format(afmpeg_command *cmd, int output, const char *format)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_str("format", format) : AFMPEG_EINVAL;
    return err ? err : set_str(&o->format, format);
}

int afmpeg_command_output_map(afmpeg_command *cmd, int output, const char *map)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_str("map", map) : AFMPEG_EINVAL;
    if (!err && map[0] == '[' && (map[strlen(map) - 1] != ']' || strlen(map) < 3))
        err = afm_error(AFMPEG_EINVAL, "map \"%s\" is not a graph label like [v]", map);
    if (!err && afm_strv_push(&o->maps, map))
        err = afm_error(AFMPEG_ENOMEM, "out of memory");
    return err;
}

/* The index of a stream type in the per-type arrays, or -1 (message set). */
static int type_slot(afmpeg_media_type type)
{
    switch (type) {
    case AFMPEG_MEDIA_VIDEO: return 0;
    case AFMPEG_MEDIA_AUDIO: return 1;
    case AFMPEG_MEDIA_SUBTITLE: return 2;
    case AFMPEG_MEDIA_DATA: return 3;
    default:
        afm_error(AFMPEG_EINVAL, "type %d is not video, audio, subtitle or data",
                  (int)type);
        return -1;
    }
}

static const char type_letter[AFM_TYPES] = {'v', 'a', 's', 'd'};

int afmpeg_command_output_codec(afmpeg_command *cmd, int output, afmpeg_media_type type,
                                const char *codec)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_str("codec", codec) : AFMPEG_EINVAL;
    int t = err ? -1 : type_slot(type);
    return t < 0 ? AFMPEG_EINVAL : set_str(&o->codec[t], codec);
}

int afmpeg_command_output_filter(afmpeg_command *cmd, int output, afmpeg_media_type type,
                                 const char *filter)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_str("filter", filter) : AFMPEG_EINVAL;
    int t = err ? -1 : type_slot(type);
    if (t >= 2)
        return afm_error(AFMPEG_EINVAL, "only video and audio streams take filters");
    return t < 0 ? AFMPEG_EINVAL : set_str(&o->filter[t], filter);
}

int afmpeg_command_output_option(afmpeg_command *cmd, int output, const char *key,
                                 const char *value)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_key(key) : AFMPEG_EINVAL;
    if (!err && !value)
        err = afm_error(AFMPEG_EINVAL, "value is NULL");
    return err ? err : push(&o->options, key, value, NULL);
}

/* A stream specifier relative to an output: letters, digits, ':' (e.g. "v", "a:0", "1"). */
static int need_spec(const char *spec)
{
    int err = need_str("stream", spec);
    if (!err && spec[strspn(spec, "vVasdt0123456789:")] != '\0')
        err = afm_error(AFMPEG_EINVAL, "stream \"%s\" is not a stream specifier such as "
                        "\"v\", \"a:0\" or \"1\"", spec);
    return err;
}

int afmpeg_command_output_bsf(afmpeg_command *cmd, int output, const char *stream,
                              const char *filters)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_spec(stream) : AFMPEG_EINVAL;
    if (!err)
        err = need_str("filters", filters);
    return err ? err : push(&o->bsfs, stream, filters, NULL);
}

int afmpeg_command_output_duration(afmpeg_command *cmd, int output, double seconds)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_time("seconds", seconds) : AFMPEG_EINVAL;
    if (err)
        return err;
    o->duration = seconds;
    o->has_duration = 1;
    return AFMPEG_OK;
}

int afmpeg_command_output_end(afmpeg_command *cmd, int output, double seconds)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_time("seconds", seconds) : AFMPEG_EINVAL;
    if (err)
        return err;
    o->end = seconds;
    o->has_end = 1;
    return AFMPEG_OK;
}

static int need_tag_key(const char *key)
{
    int err = need_str("key", key);
    if (!err && strchr(key, '='))
        err = afm_error(AFMPEG_EINVAL, "key \"%s\" contains '='", key);
    return err;
}

int afmpeg_command_output_metadata(afmpeg_command *cmd, int output, const char *key,
                                   const char *value)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_tag_key(key) : AFMPEG_EINVAL;
    if (!err && !value)
        err = afm_error(AFMPEG_EINVAL, "value is NULL");
    return err ? err : push(&o->metadata, key, value, NULL);
}

int afmpeg_command_output_stream_metadata(afmpeg_command *cmd, int output, const char *stream,
                                          const char *key, const char *value)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_spec(stream) : AFMPEG_EINVAL;
    if (!err)
        err = need_tag_key(key);
    if (!err && !value)
        err = afm_error(AFMPEG_EINVAL, "value is NULL");
    return err ? err : push(&o->stream_metadata, stream, key, value);
}

int afmpeg_command_output_disposition(afmpeg_command *cmd, int output, const char *stream,
                                      const char *disposition)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    int err = o ? need_spec(stream) : AFMPEG_EINVAL;
    if (!err)
        err = need_str("disposition", disposition);
    return err ? err : push(&o->dispositions, stream, disposition, NULL);
}

int afmpeg_command_output_chapters(afmpeg_command *cmd, int output, int input)
{
    afm_error_clear();
    afm_output *o = get_output(cmd, output);
    if (!o)
        return AFMPEG_EINVAL;
    if (input < -1 || input >= (int)cmd->n_inputs)
        return afm_error(AFMPEG_EINVAL, "there is no input %d to copy chapters from (-1 "
                         "drops them)", input);
    o->chapters = input;
    return AFMPEG_OK;
}

/* ---- checks --------------------------------------------------------------------------------- */

/* The input a map like "1:a:0" or "1" reads, or -1 for a graph label or something else. Sets
 * *type to the stream type letter it selects ('v', 'a', 's', 'd', or 0 for any). */
static int map_input(const char *map, char *type)
{
    *type = 0;
    const char *p = map;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    long i = strtol(p, (char **)&p, 10);
    if (*p == ':' && strchr("vVasd", p[1]) && p[1])
        *type = p[1] == 'V' ? 'v' : p[1];
    return (int)i;
}

/* Whether output o copies streams of type slot t that input i can feed. */
static int output_copies_from(const afm_output *o, int t, int i)
{
    if (!o->codec[t] || strcmp(o->codec[t], "copy") != 0)
        return 0;
    if (o->maps.n == 0)
        return 1; /* ffmpeg's own choice may take it from any input */
    for (size_t m = 0; m < o->maps.n; m++) {
        char type;
        if (map_input(o->maps.v[m], &type) == i && (!type || type == type_letter[t]))
            return 1;
    }
    return 0;
}

int afm_command_check_shape(const afmpeg_command *cmd)
{
    if (!cmd)
        return afm_error(AFMPEG_EINVAL, "cmd is NULL");
    if (cmd->n_inputs == 0 && !cmd->graph)
        return afm_error(AFMPEG_EINVAL, "the command has no inputs");
    if (cmd->n_outputs == 0)
        return afm_error(AFMPEG_EINVAL, "the command has no outputs");
    afm_graph graph;
    memset(&graph, 0, sizeof graph);
    int err = cmd->graph ? afm_graph_parse(cmd->graph, &graph) : 0;
    if (err) {
        afm_graph_free(&graph);
        return afm_error(AFMPEG_EINVAL, "filter_complex: %s", graph.error);
    }
    for (size_t oi = 0; oi < cmd->n_outputs && !err; oi++) {
        const afm_output *o = &cmd->outputs[oi];
        for (size_t m = 0; m < o->maps.n && !err; m++) {
            const char *map = o->maps.v[m];
            char type;
            int in = map_input(map, &type);
            if (map[0] == '[') {
                if (!afm_graph_has_output(&graph, map + 1, strlen(map) - 2))
                    err = afm_error(AFMPEG_EINVAL, "output %zu: map %s: the filter graph "
                                    "has no output labelled %s", oi, map, map);
            } else if (in < 0) {
                err = afm_error(AFMPEG_EINVAL, "output %zu: map \"%s\" is neither a graph "
                                "label nor a stream specifier starting with an input number", oi,
                                map);
            } else if ((size_t)in >= cmd->n_inputs) {
                err = afm_error(AFMPEG_EINVAL, "output %zu: map %s: there is no input %d", oi,
                                map, in);
            }
        }
        if (o->chapters >= (int)cmd->n_inputs)
            err = afm_error(AFMPEG_EINVAL, "output %zu: chapters: there is no input %d",
                            oi, o->chapters);
        for (int t = 0; t < AFM_TYPES && !err; t++) {
            for (size_t i = 0; i < cmd->n_inputs && !err; i++) {
                const afm_input *in = &cmd->inputs[i];
                if (in->has_seek && in->seek_mode == AFMPEG_SEEK_ACCURATE && in->seek > 0 &&
                    output_copies_from(o, t, (int)i))
                    err = afm_error(AFMPEG_EINVAL, "input %zu: an accurate seek cannot feed "
                                    "a stream copy (output %zu copies its %s); seek with "
                                    "AFMPEG_SEEK_FAST or encode", i, oi,
                                    t == 0 ? "video" : t == 1 ? "audio" : t == 2 ? "subtitles"
                                                                                : "data");
            }
        }
    }
    afm_graph_free(&graph);
    return err;
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* Seconds as ffmpeg reads them: fixed point with up to 6 decimals, no trailing zeros. */
static void fmt_time(char *buf, size_t cap, double t)
{
    snprintf(buf, cap, "%.6f", t);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
}

static int arg(afm_strv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int arg(afm_strv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    if (!s)
        return AFMPEG_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int err = afm_strv_push(v, s);
    free(s);
    return err;
}

/* Appends a path as its URL (afm_media_url: pipes kept, "a:b.mp4" is a file). */
static int url_arg(afm_strv *v, const char *path)
{
    char *url = afm_media_url(path, 1);
    int err = url ? afm_strv_push(v, url) : AFMPEG_ENOMEM;
    free(url);
    return err;
}

/* Appends the argv of the command to v (which starts empty). */
static int render(const afmpeg_command *cmd, afm_strv *v)
{
    char t[64];
    int err = 0;
#define ARG(...) do { if (!err) err = arg(v, __VA_ARGS__); } while (0)
#define URL(path) do { if (!err) err = url_arg(v, path); } while (0)
    ARG("ffmpeg");
    ARG("-hide_banner");
    ARG("-nostdin");
    ARG("-nostats");
    ARG("-y");
    if (cmd->copyts)
        ARG("-copyts");
    for (size_t i = 0; i < cmd->n_inputs; i++) {
        const afm_input *in = &cmd->inputs[i];
        if (in->format) {
            ARG("-f");
            ARG("%s", in->format);
        }
        for (size_t k = 0; k + 1 < in->options.n; k += 2) {
            ARG("-%s", in->options.v[k]);
            ARG("%s", in->options.v[k + 1]);
        }
        if (in->has_seek) {
            if (in->seek_mode == AFMPEG_SEEK_FAST)
                ARG("-noaccurate_seek");
            fmt_time(t, sizeof t, in->seek);
            ARG("-ss");
            ARG("%s", t);
        }
        if (in->has_duration) {
            fmt_time(t, sizeof t, in->duration);
            ARG("-t");
            ARG("%s", t);
        }
        ARG("-i");
        URL(in->path);
    }
    if (cmd->graph) {
        ARG("-filter_complex");
        ARG("%s", cmd->graph);
    }
    for (size_t oi = 0; oi < cmd->n_outputs; oi++) {
        const afm_output *o = &cmd->outputs[oi];
        for (size_t m = 0; m < o->maps.n; m++) {
            ARG("-map");
            ARG("%s", o->maps.v[m]);
        }
        for (int ty = 0; ty < AFM_TYPES; ty++) {
            if (o->codec[ty]) {
                ARG("-c:%c", type_letter[ty]);
                ARG("%s", o->codec[ty]);
            }
            if (o->filter[ty]) {
                ARG("-filter:%c", type_letter[ty]);
                ARG("%s", o->filter[ty]);
            }
        }
        for (size_t k = 0; k + 1 < o->options.n; k += 2) {
            ARG("-%s", o->options.v[k]);
            ARG("%s", o->options.v[k + 1]);
        }
        for (size_t k = 0; k + 1 < o->bsfs.n; k += 2) {
            ARG("-bsf:%s", o->bsfs.v[k]);
            ARG("%s", o->bsfs.v[k + 1]);
        }
        if (o->has_duration) {
            fmt_time(t, sizeof t, o->duration);
            ARG("-t");
            ARG("%s", t);
        }
        if (o->has_end) {
            fmt_time(t, sizeof t, o->end);
            ARG("-to");
            ARG("%s", t);
        }
        for (size_t k = 0; k + 1 < o->metadata.n; k += 2) {
            ARG("-metadata");
            ARG("%s=%s", o->metadata.v[k], o->metadata.v[k + 1]);
        }
        for (size_t k = 0; k + 2 < o->stream_metadata.n; k += 3) {
            ARG("-metadata:s:%s", o->stream_metadata.v[k]);
            ARG("%s=%s", o->stream_metadata.v[k + 1], o->stream_metadata.v[k + 2]);
        }
        for (size_t k = 0; k + 1 < o->dispositions.n; k += 2) {
            ARG("-disposition:%s", o->dispositions.v[k]);
            ARG("%s", o->dispositions.v[k + 1]);
        }
        if (o->chapters != AFM_CHAPTERS_DEFAULT) {
            ARG("-map_chapters");
            ARG("%d", o->chapters);
        }
        if (o->format) {
            ARG("-f");
            ARG("%s", o->format);
        }
        URL(o->path);
    }
#undef ARG
#undef URL
    return err;
}

int afm_command_render(const afmpeg_command *cmd, afm_strv *out)
{
    memset(out, 0, sizeof *out);
    int err = render(cmd, out);
    if (!err && out->n == out->cap) { /* room for the NULL that ends it as an argv */
        char **p = realloc(out->v, (out->cap + 1) * sizeof *p);
        if (p) {
            out->v = p;
            out->cap++;
        } else {
            err = AFMPEG_ENOMEM;
        }
    }
    if (err)
        strv_free(out);
    else
        out->v[out->n] = NULL;
    return err;
}

void afm_strv_free(afm_strv *v)
{
    strv_free(v);
}

int afmpeg_command_argv(const afmpeg_command *cmd, char ***out_argv, size_t *out_argc)
{
    afm_error_clear();
    if (!out_argv)
        return afm_error(AFMPEG_EINVAL, "out_argv is NULL");
    *out_argv = NULL;
    if (out_argc)
        *out_argc = 0;
    int err = afm_command_check_shape(cmd);
    if (err)
        return err;
    afm_strv v;
    if (afm_command_render(cmd, &v))
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    /* One block: the pointers, then the strings, so afmpeg_free() releases it all. */
    size_t bytes = (v.n + 1) * sizeof(char *);
    for (size_t i = 0; i < v.n; i++)
        bytes += strlen(v.v[i]) + 1;
    char **argv = malloc(bytes);
    if (!argv) {
        strv_free(&v);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    char *s = (char *)(argv + v.n + 1);
    for (size_t i = 0; i < v.n; i++) {
        size_t n = strlen(v.v[i]) + 1;
        memcpy(s, v.v[i], n);
        argv[i] = s;
        s += n;
    }
    argv[v.n] = NULL;
    if (out_argc)
        *out_argc = v.n;
    *out_argv = argv;
    strv_free(&v);
    return AFMPEG_OK;
}

/* The concat list of an input, as FFmpeg's concat demuxer reads it: absolute paths, quoted. */
char *afm_command_concat_list(const afm_input *in, size_t *out_len)
{
    size_t cap = 32;
    for (size_t i = 0; i < in->concat.n; i++)
        cap += 16 + 4 * strlen(in->concat.v[i]);
    char *s = malloc(cap), *p = s;
    if (!s)
        return NULL;
    p += sprintf(p, "ffconcat version 1.0\n");
    for (size_t i = 0; i < in->concat.n; i++) {
        const char *f = in->concat.v[i];
        p += sprintf(p, "file '%s", f[0] == '/' ? "" : "/");
        for (; *f; f++) {
            if (*f == '\'')
                p += sprintf(p, "'\\''");
            else
                *p++ = *f;
        }
        p += sprintf(p, "'\n");
    }
    *out_len = (size_t)(p - s);
    return s;
}
