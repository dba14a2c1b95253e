/* Internal: the command builder's state, its checks and rendering, and the filter-graph reader
 * (lib/job). */
#ifndef AFM_COMMAND_H
#define AFM_COMMAND_H

#include <stddef.h>
#include "afmpeg.h"

/* A list of owned strings; option lists hold (key, value) pairs or (stream, key, value)
 * triples one after the other. */
typedef struct afm_strv {
    char **v;
    size_t n, cap;
} afm_strv;

#define AFM_TYPES 4                 /* v, a, s, d */
#define AFM_CHAPTERS_DEFAULT (-2)   /* no -map_chapters: ffmpeg's default */

typedef struct afm_input {
    char *path;
    char *format;            /* -f, or NULL */
    afm_strv options;        /* demuxer options (pairs) */
    afm_strv concat;         /* the files of a concat input, else empty */
    double seek, duration;
    int has_seek, has_duration;
    afmpeg_seek_mode seek_mode;
} afm_input;

typedef struct afm_output {
    char *path;
    char *format;
    afm_strv maps;           /* one map per entry */
    char *codec[AFM_TYPES];
    char *filter[AFM_TYPES]; /* video and audio only */
    afm_strv options;        /* encoder and muxer options (pairs) */
    afm_strv bsfs;           /* (stream, filters) pairs */
    afm_strv metadata;       /* (key, value) pairs */
    afm_strv stream_metadata; /* (stream, key, value) triples */
    afm_strv dispositions;   /* (stream, value) pairs */
    double duration, end;
    int has_duration, has_end;
    int chapters;            /* input to copy from, -1 none, AFM_CHAPTERS_DEFAULT */
} afm_output;

struct afmpeg_command {
    afm_input *inputs;
    size_t n_inputs, cap_inputs;
    afm_output *outputs;
    size_t n_outputs, cap_outputs;
    char *graph;
    int copyts;
};

/* The shape checks of afmpeg_command_validate(cmd, NULL). */
int afm_command_check_shape(const afmpeg_command *cmd);
/* The ffmpeg argv (argv[0] "ffmpeg") into *out, with out->v[out->n] NULL so it is an argv
 * (free with afm_strv_free). 0 or ENOMEM. */
int afm_command_render(const afmpeg_command *cmd, afm_strv *out);
int afm_strv_push(afm_strv *v, const char *s); /* copies s; 0 or AFMPEG_ENOMEM */
void afm_strv_free(afm_strv *v);
/* The ffconcat list of a concat input (malloc'd), or NULL when out of memory. */
char *afm_command_concat_list(const afm_input *in, size_t *out_len);

/* ---- filter graphs (graph.c) ---- */

/* A filter graph as far as afmpeg needs to know it: the filter names it uses and the labels of
 * its outputs that no filter of the graph consumes (what -map "[label]" can take). */
typedef struct afm_graph {
    afm_strv filters;        /* filter names, in order, with repeats */
    afm_strv outputs;        /* unconsumed output labels, without brackets */
    char error[160];         /* why afm_graph_parse failed */
} afm_graph;

/* Reads `text` (FFmpeg's filtergraph syntax). 0, or -1 with g->error set; either way free g
 * with afm_graph_free. */
int afm_graph_parse(const char *text, afm_graph *g);
int afm_graph_has_output(const afm_graph *g, const char *label, size_t len);
void afm_graph_free(afm_graph *g);

/* ---- the module's components (components.c) ---- */

typedef enum afm_component {
    AFM_ENCODER = 0,
    AFM_FILTER,
    AFM_MUXER,
    AFM_DEMUXER,
    AFM_BSF,
    AFM_COMPONENT_KINDS
} afm_component;

/* Whether the embedded module has the component; the lists are read from the module once per
 * process (by jobs on `rt`). 1 yes, 0 no, or a negative afmpeg_error if reading them failed. */
int afm_component_has(afmpeg_runtime *rt, afm_component kind, const char *name);

#endif
