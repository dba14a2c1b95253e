/* The jobs API: the command builder, afmpeg_run_job() and its results, checks, argv, progress.
 *
 * Most cases are data: the .case files in tests/jobs/cases, each a list of builder calls and
 * expectations (see tests/jobs/README.md), run on the media tests/jobs/fixtures.sh makes with
 * Debian's ffmpeg. Every output is probed by the sandbox (afmpeg_result_output) and, where a
 * case says "expect native", decoded in full by Debian's ffmpeg and its streams compared. */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include "engine_util.h"

static afmpeg_runtime *rt;
static char fixtures[256];

/* ---- case files ------------------------------------------------------------------------------ */

#define MAX_LINES 64
#define MAX_CASES 128

typedef struct job_case {
    char name[64];
    char file[256];
    int first_line;
    int n;
    char *lines[MAX_LINES];
} job_case;

static job_case cases[MAX_CASES];
static int n_cases;

static void load_cases(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "test_jobs: cannot open %s\n", dir);
        exit(1);
    }
    struct dirent *e;
    char *names[64];
    int n_files = 0;
    while ((e = readdir(d)) && n_files < 64)
        if (strstr(e->d_name, ".case"))
            names[n_files++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < n_files; i++) /* a stable order */
        for (int j = i + 1; j < n_files; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int f = 0; f < n_files; f++) {
        char path[512], line[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *in = fopen(path, "r");
        int lineno = 0;
        job_case *c = NULL;
        while (in && fgets(line, sizeof line, in)) {
            lineno++;
            line[strcspn(line, "\n")] = '\0';
            char *s = line + strspn(line, " \t");
            if (!*s || *s == '#')
                continue;
            if (!strncmp(s, "case ", 5)) {
                if (n_cases == MAX_CASES) {
                    fprintf(stderr, "test_jobs: too many cases\n");
                    exit(1);
                }
                c = &cases[n_cases++];
                snprintf(c->name, sizeof c->name, "%s", s + 5);
                snprintf(c->file, sizeof c->file, "%s", names[f]);
                c->first_line = lineno;
            } else if (c && c->n < MAX_LINES) {
                c->lines[c->n++] = strdup(s);
            } else {
                fprintf(stderr, "test_jobs: %s:%d: outside a case or too long\n", path, lineno);
                exit(1);
            }
        }
        if (in)
            fclose(in);
        free(names[f]);
    }
}

/* Splits a line into words; the last word takes the rest of the line when `rest` is set. */
static int words(char *s, char **w, int max)
{
    int n = 0;
    while (*s && n < max) {
        s += strspn(s, " \t");
        if (!*s)
            break;
        if (n == max - 1) {
            w[n++] = s;
            break;
        }
        w[n++] = s;
        s += strcspn(s, " \t");
        if (*s)
            *s++ = '\0';
    }
    return n;
}

static afmpeg_media_type type_of(const char *s)
{
    if (!strcmp(s, "video")) return AFMPEG_MEDIA_VIDEO;
    if (!strcmp(s, "audio")) return AFMPEG_MEDIA_AUDIO;
    if (!strcmp(s, "subtitle")) return AFMPEG_MEDIA_SUBTITLE;
    if (!strcmp(s, "data")) return AFMPEG_MEDIA_DATA;
    return AFMPEG_MEDIA_UNKNOWN;
}

static int error_code(const char *name)
{
    for (int e = 0; e >= -40; e--)
        if (!strcmp(afmpeg_errname(e) + 7, name)) /* after "AFMPEG_" */
            return e;
    fail_msg("unknown error name %s", name);
    return 1;
}

static unsigned disposition_flag(const char *name)
{
    static const struct { const char *n; unsigned f; } t[] = {
        {"default", AFMPEG_DISPOSITION_DEFAULT}, {"dub", AFMPEG_DISPOSITION_DUB},
        {"original", AFMPEG_DISPOSITION_ORIGINAL}, {"comment", AFMPEG_DISPOSITION_COMMENT},
        {"forced", AFMPEG_DISPOSITION_FORCED},
        {"hearing_impaired", AFMPEG_DISPOSITION_HEARING_IMPAIRED},
        {"visual_impaired", AFMPEG_DISPOSITION_VISUAL_IMPAIRED},
        {"captions", AFMPEG_DISPOSITION_CAPTIONS},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(t[i].n, name))
            return t[i].f;
    fail_msg("unknown disposition %s", name);
    return 0;
}

/* Loads a fixture into the job's filesystem under its own name. */
static void put_fixture(afmpeg_fs *fs, const char *name)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    void *data = read_host_file(path, &len);
    if (!data)
        fail_msg("no fixture %s", name);
    assert_int_equal(afmpeg_fs_write_file(fs, name, data, len), AFMPEG_OK);
    free(data);
}

/* Applies a builder line. Returns the setter's error (0), for "expect error" after it. */
static int build_line(afmpeg_command *cmd, afmpeg_fs *fs, char *line, int *in, int *out)
{
    if (!strncmp(line, "graph ", 6)) /* the rest of the line is the graph */
        return afmpeg_command_filter_complex(cmd, line + 6);
    char *w[12] = {0};
    int n = words(line, w, 12);
    const char *k = w[0];
#define ARGS(m) do { if (n < (m)) fail_msg("%s: needs %d words", k, (m) - 1); } while (0)
    if (!strcmp(k, "input")) {
        ARGS(2);
        put_fixture(fs, w[1]);
        return afmpeg_command_add_input(cmd, w[1], in);
    }
    if (!strcmp(k, "file")) { /* a fixture in the job's files that is not an input */
        ARGS(2);
        put_fixture(fs, w[1]);
        return AFMPEG_OK;
    }
    if (!strcmp(k, "input-path")) { /* an input not loaded from the fixtures */
        ARGS(2);
        return afmpeg_command_add_input(cmd, w[1], in);
    }
    if (!strcmp(k, "concat")) {
        for (int i = 1; i < n; i++)
            put_fixture(fs, w[i]);
        return afmpeg_command_add_concat_input(cmd, (const char *const *)(w + 1),
                                               (size_t)(n - 1), in);
    }
    if (!strcmp(k, "rawvideo")) {
        ARGS(6);
        put_fixture(fs, w[1]);
        return afmpeg_command_add_raw_video_input(cmd, w[1], atoi(w[2]), atoi(w[3]), w[4], w[5],
                                                  in);
    }
    if (!strcmp(k, "rawaudio")) {
        ARGS(5);
        put_fixture(fs, w[1]);
        return afmpeg_command_add_raw_audio_input(cmd, w[1], w[2], atoi(w[3]), w[4], in);
    }
    if (!strcmp(k, "in.format")) return afmpeg_command_input_format(cmd, *in, w[1]);
    if (!strcmp(k, "in.option")) {
        ARGS(3);
        return afmpeg_command_input_option(cmd, *in, w[1], w[2]);
    }
    if (!strcmp(k, "in.seek")) {
        ARGS(3);
        return afmpeg_command_input_seek(cmd, *in, atof(w[1]), !strcmp(w[2], "fast")
                                         ? AFMPEG_SEEK_FAST : AFMPEG_SEEK_ACCURATE);
    }
    if (!strcmp(k, "in.duration")) return afmpeg_command_input_duration(cmd, *in, atof(w[1]));
    if (!strcmp(k, "copyts")) return afmpeg_command_copyts(cmd, 1);
    if (!strcmp(k, "output")) {
        ARGS(2);
        return afmpeg_command_add_output(cmd, w[1], out);
    }
    if (!strcmp(k, "out.format")) return afmpeg_command_output_format(cmd, *out, w[1]);
    if (!strcmp(k, "out.map")) return afmpeg_command_output_map(cmd, *out, w[1]);
    if (!strcmp(k, "out.codec")) {
        ARGS(3);
        return afmpeg_command_output_codec(cmd, *out, type_of(w[1]), w[2]);
    }
    if (!strcmp(k, "out.filter")) {
        ARGS(3);
        return afmpeg_command_output_filter(cmd, *out, type_of(w[1]), w[2]);
    }
    if (!strcmp(k, "out.option")) {
        ARGS(3);
        return afmpeg_command_output_option(cmd, *out, w[1], w[2]);
    }
    if (!strcmp(k, "out.bsf")) {
        ARGS(3);
        return afmpeg_command_output_bsf(cmd, *out, w[1], w[2]);
    }
    if (!strcmp(k, "out.duration")) return afmpeg_command_output_duration(cmd, *out, atof(w[1]));
    if (!strcmp(k, "out.end")) return afmpeg_command_output_end(cmd, *out, atof(w[1]));
    if (!strcmp(k, "out.metadata")) {
        ARGS(3);
        return afmpeg_command_output_metadata(cmd, *out, w[1], w[2]);
    }
    if (!strcmp(k, "out.stream-metadata")) {
        ARGS(4);
        return afmpeg_command_output_stream_metadata(cmd, *out, w[1], w[2], w[3]);
    }
    if (!strcmp(k, "out.disposition")) {
        ARGS(3);
        return afmpeg_command_output_disposition(cmd, *out, w[1], w[2]);
    }
    if (!strcmp(k, "out.chapters")) return afmpeg_command_output_chapters(cmd, *out, atoi(w[1]));
#undef ARGS
    fail_msg("unknown builder line \"%s\"", k);
    return 0;
}

static const afmpeg_probe_result *output_probe(afmpeg_result *res, int o)
{
    const afmpeg_output_info *info = afmpeg_result_output(res, (size_t)o);
    if (!info)
        fail_msg("no output %d in the result", o);
    if (!info->probe)
        fail_msg("output %d (%s) was not probed", o, info->path);
    return info->probe;
}

static const afmpeg_stream_info *probe_stream(afmpeg_result *res, int o, int s)
{
    const afmpeg_probe_result *p = output_probe(res, o);
    if (s < 0 || (size_t)s >= p->stream_count)
        fail_msg("output %d has %zu streams, not stream %d", o, p->stream_count, s);
    return &p->streams[s];
}

static const char *tag(const afmpeg_tag *tags, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(tags[i].key, key))
            return tags[i].value;
    return NULL;
}

static void expect_near(const char *what, double got, double want, double tol)
{
    if (isnan(got) || fabs(got - want) > tol)
        fail_msg("%s: got %.6f, want %.6f +- %.3f", what, got, want, tol);
}

/* Writes an output out of the job's filesystem and checks it with Debian's ffmpeg: it decodes
 * without an error, and ffprobe sees the streams the sandbox reported. */
static void expect_native(afmpeg_fs *fs, afmpeg_result *res, int o)
{
    const afmpeg_output_info *info = afmpeg_result_output(res, (size_t)o);
    assert_non_null(info);
    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, info->path, &data, &len), AFMPEG_OK);
    char host[512];
    const char *base = strrchr(info->path, '/') ? strrchr(info->path, '/') + 1 : info->path;
    snprintf(host, sizeof host, "%s/native-%s", fixtures, base);
    assert_int_equal(write_host_file(host, data, len), 0);
    afmpeg_free(data);
    char *errors = sh_capture("ffmpeg -nostdin -v error -i '%s' -f null - 2>&1", host);
    assert_non_null(errors);
    if (errors[0])
        fail_msg("Debian's ffmpeg decoding %s: %s", info->path, errors);
    free(errors);
    char *codecs = sh_capture("ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '%s'",
                              host);
    assert_non_null(codecs);
    char want[512] = "";
    for (size_t i = 0; i < info->stream_count; i++) {
        strcat(want, info->streams[i].codec);
        strcat(want, "\n");
    }
    if (strcmp(codecs, want) != 0)
        fail_msg("native ffprobe sees codecs [%s], the sandbox reported [%s]", codecs, want);
    free(codecs);
    unlink(host);
}

/* Checks one "expect" line against the finished job. */
static void expect_line(afmpeg_fs *fs, afmpeg_result *res, const char *argv_text, char *line)
{
    if (!strncmp(line, "expect argv ", 12)) { /* the rest of the line is the text */
        if (!strstr(argv_text, line + 12))
            fail_msg("argv \"%s\" lacks \"%s\"", argv_text, line + 12);
        return;
    }
    char *w[12] = {0};
    int n = words(line, w, 12);
    const char *k = w[1];
    if (n < 2)
        fail_msg("empty expect");
    if (!strcmp(k, "exit")) {
        if (afmpeg_result_exit_code(res) != atoi(w[2]))
            fail_msg("exit %d, want %s; stderr: %s", afmpeg_result_exit_code(res), w[2],
                     afmpeg_result_stderr(res, NULL));
    } else if (!strcmp(k, "streams")) {
        const afmpeg_output_info *info = afmpeg_result_output(res, (size_t)atoi(w[2]));
        assert_non_null(info);
        char got[512] = "", want[512] = "";
        for (size_t i = 0; i < info->stream_count; i++) {
            const afmpeg_output_stream *s = &info->streams[i];
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s:%s:%s", i ? " " : "",
                     afmpeg_media_type_name(s->type), s->codec, s->copied ? "copy" : s->encoder);
        }
        for (int i = 3; i < n; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i > 3 ? " " : "",
                     w[i]);
        if (strcmp(got, want) != 0)
            fail_msg("output %s streams [%s], want [%s]", w[2], got, want);
    } else if (!strcmp(k, "duration")) {
        expect_near("duration", output_probe(res, atoi(w[2]))->duration, atof(w[3]),
                    atof(w[4]));
    } else if (!strcmp(k, "start")) {
        expect_near("start_time", output_probe(res, atoi(w[2]))->start_time, atof(w[3]),
                    atof(w[4]));
    } else if (!strcmp(k, "video")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), 0);
        if (s->width != atoi(w[3]) || s->height != atoi(w[4]))
            fail_msg("video %dx%d, want %sx%s", s->width, s->height, w[3], w[4]);
    } else if (!strcmp(k, "audio")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), atoi(w[3]));
        if (s->sample_rate != atoi(w[4]) || s->channels != atoi(w[5]))
            fail_msg("audio %d Hz %d ch, want %s Hz %s ch", s->sample_rate, s->channels, w[4],
                     w[5]);
    } else if (!strcmp(k, "frames")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), atoi(w[3]));
        if (s->frame_count != atoll(w[4]))
            fail_msg("frame count %lld, want %s", (long long)s->frame_count, w[4]);
    } else if (!strcmp(k, "tag")) {
        const afmpeg_probe_result *p = output_probe(res, atoi(w[2]));
        const char *v = tag(p->tags, p->tag_count, w[3]);
        if (!v || strcmp(v, w[4]) != 0)
            fail_msg("tag %s = %s, want %s", w[3], v ? v : "(none)", w[4]);
    } else if (!strcmp(k, "no-tag")) {
        const afmpeg_probe_result *p = output_probe(res, atoi(w[2]));
        if (tag(p->tags, p->tag_count, w[3]))
            fail_msg("tag %s is there", w[3]);
    } else if (!strcmp(k, "stream-tag")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), atoi(w[3]));
        const char *v = tag(s->tags, s->tag_count, w[4]);
        if (!v || strcmp(v, w[5]) != 0)
            fail_msg("stream %s tag %s = %s, want %s", w[3], w[4], v ? v : "(none)", w[5]);
    } else if (!strcmp(k, "language")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), atoi(w[3]));
        if (strcmp(s->language, w[4]) != 0)
            fail_msg("stream %s language \"%s\", want %s", w[3], s->language, w[4]);
    } else if (!strcmp(k, "disposition")) {
        const afmpeg_stream_info *s = probe_stream(res, atoi(w[2]), atoi(w[3]));
        unsigned want = 0;
        for (int i = 4; i < n; i++)
            want |= !strcmp(w[i], "none") ? 0 : disposition_flag(w[i]);
        unsigned mask = AFMPEG_DISPOSITION_DEFAULT | AFMPEG_DISPOSITION_FORCED |
                        AFMPEG_DISPOSITION_COMMENT | AFMPEG_DISPOSITION_HEARING_IMPAIRED;
        if ((s->disposition & mask) != want)
            fail_msg("stream %s disposition 0x%x, want 0x%x", w[3], s->disposition & mask,
                     want);
    } else if (!strcmp(k, "chapters")) {
        const afmpeg_probe_result *p = output_probe(res, atoi(w[2]));
        if (p->chapter_count != (size_t)atoi(w[3]))
            fail_msg("%zu chapters, want %s", p->chapter_count, w[3]);
        if (p->chapter_count && n > 4 && strcmp(p->chapters[0].title, w[4]) != 0)
            fail_msg("chapter 0 title \"%s\", want %s", p->chapters[0].title, w[4]);
    } else if (!strcmp(k, "file")) {
        afmpeg_fs_stat st;
        if (afmpeg_fs_stat_path(fs, w[2], &st) != AFMPEG_OK || st.size == 0)
            fail_msg("no file %s (or it is empty)", w[2]);
    } else if (!strcmp(k, "no-file")) {
        afmpeg_fs_stat st;
        if (afmpeg_fs_stat_path(fs, w[2], &st) == AFMPEG_OK)
            fail_msg("file %s exists", w[2]);
    } else if (!strcmp(k, "contains")) { /* expect contains FILE WORD: a text output has */
        void *data;
        size_t len;
        assert_int_equal(afmpeg_fs_read_file(fs, w[2], &data, &len), AFMPEG_OK);
        if (!strstr(data, w[3]))
            fail_msg("%s lacks \"%s\": %s", w[2], w[3], (char *)data);
        afmpeg_free(data);
    } else if (!strcmp(k, "before")) { /* expect before FILE A B: bytes A come before B */
        void *data;
        size_t len;
        assert_int_equal(afmpeg_fs_read_file(fs, w[2], &data, &len), AFMPEG_OK);
        const char *a = memmem(data, len, w[3], strlen(w[3]));
        const char *b = memmem(data, len, w[4], strlen(w[4]));
        if (!a || !b || a > b)
            fail_msg("in %s, \"%s\" is not before \"%s\"", w[2], w[3], w[4]);
        afmpeg_free(data);
    } else if (!strcmp(k, "measurement")) { /* FILTER KEY VALUE or FILTER KEY ~NUM TOL */
        int found = 0;
        for (size_t i = 0; i < afmpeg_result_measurement_count(res) && !found; i++) {
            const afmpeg_measurement *m = afmpeg_result_measurement(res, i);
            if (strcmp(m->filter, w[2]) || strcmp(m->key, w[3]))
                continue;
            if (w[4][0] == '~')
                found = !isnan(m->number) && fabs(m->number - atof(w[4] + 1)) <= atof(w[5]);
            else
                found = !strcmp(m->value, w[4]);
        }
        if (!found) {
            fprintf(stderr, "measurements:\n");
            for (size_t i = 0; i < afmpeg_result_measurement_count(res); i++) {
                const afmpeg_measurement *m = afmpeg_result_measurement(res, i);
                fprintf(stderr, "  %s t=%g %s=%s\n", m->filter, m->time, m->key, m->value);
            }
            fail_msg("no measurement %s %s %s", w[2], w[3], w[4]);
        }
    } else if (!strcmp(k, "measurement-at") || !strcmp(k, "measurement-count")) {
        /* FILTER KEY TIME VALUE: the row at that time (to 0.5 ms) has the value;
         * FILTER KEY N: there are N rows */
        int at = !strcmp(k, "measurement-at"), count = 0;
        const afmpeg_measurement *hit = NULL;
        for (size_t i = 0; i < afmpeg_result_measurement_count(res); i++) {
            const afmpeg_measurement *m = afmpeg_result_measurement(res, i);
            if (strcmp(m->filter, w[2]) || strcmp(m->key, w[3]))
                continue;
            count++;
            if (at && fabs(m->time - atof(w[4])) <= 0.0005)
                hit = m;
        }
        if (at && (!hit || strcmp(hit->value, w[5])))
            fail_msg("measurement %s %s at %s is %s, want %s", w[2], w[3], w[4],
                     hit ? hit->value : "missing", w[5]);
        if (!at && count != atoi(w[4]))
            fail_msg("%d measurements %s %s, want %s", count, w[2], w[3], w[4]);
    } else if (!strcmp(k, "native")) {
        expect_native(fs, res, atoi(w[2]));
    } else {
        fail_msg("unknown expectation \"%s\"", k);
    }
}

static void run_case(void **state)
{
    job_case *c = *state;
    fprintf(stderr, "case %s (%s:%d)\n", c->name, c->file, c->first_line);
    afmpeg_fs *fs;
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    int in = -1, out = -1, i = 0, err = 0;
    char buf[2048];
    /* Builder lines, up to the first expectation. A setter's failure must be expected. */
    for (; i < c->n && strncmp(c->lines[i], "expect", 6) != 0; i++) {
        snprintf(buf, sizeof buf, "%s", c->lines[i]);
        err = build_line(cmd, fs, buf, &in, &out);
        if (err)
            break;
    }
    if (err) {
        i++;
        if (i >= c->n || strncmp(c->lines[i], "expect error ", 13) != 0)
            fail_msg("\"%s\" failed: %s", c->lines[i - 1], afmpeg_last_error());
    }
    afmpeg_result *res = NULL;
    char argv_text[4096] = "";
    if (!err) {
        char **argv;
        if (afmpeg_command_argv(cmd, &argv, NULL) == AFMPEG_OK) {
            for (char **a = argv; *a; a++)
                snprintf(argv_text + strlen(argv_text), sizeof argv_text - strlen(argv_text),
                         "%s%s", a == argv ? "" : " ", *a);
            afmpeg_free(argv);
        }
        err = afmpeg_run_job(rt, fs, cmd, NULL, &res);
    }
    if (i < c->n && !strncmp(c->lines[i], "expect error ", 13)) {
        snprintf(buf, sizeof buf, "%s", c->lines[i] + 13);
        char *w[3] = {0};
        words(buf, w, 2);
        if (err != error_code(w[0]))
            fail_msg("got %s (%s), want %s", afmpeg_errname(err), afmpeg_last_error(), w[0]);
        if (!strstr(afmpeg_last_error(), w[1]))
            fail_msg("message \"%s\" lacks \"%s\"", afmpeg_last_error(), w[1]);
        assert_null(res);
    } else {
        if (err != AFMPEG_OK)
            fail_msg("run_job: %s: %s", afmpeg_errname(err), afmpeg_last_error());
        if (afmpeg_result_exit_code(res) != 0)
            fail_msg("ffmpeg exited %d: %s", afmpeg_result_exit_code(res),
                     afmpeg_result_stderr(res, NULL));
        for (; i < c->n; i++) {
            snprintf(buf, sizeof buf, "%s", c->lines[i]);
            expect_line(fs, res, argv_text, buf);
        }
    }
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* ---- tests that are code ----------------------------------------------------------------- */

/* The argv of a command, exactly: every builder field in its place. */
static void test_argv_exact(void **state)
{
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    int i, o;
    assert_int_equal(afmpeg_command_add_input(cmd, "in.mp4", &i), AFMPEG_OK);
    assert_int_equal(i, 0);
    assert_int_equal(afmpeg_command_input_format(cmd, i, "mov"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_input_option(cmd, i, "probesize", "5000000"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_input_seek(cmd, i, 1.25, AFMPEG_SEEK_FAST), AFMPEG_OK);
    assert_int_equal(afmpeg_command_input_duration(cmd, i, 10), AFMPEG_OK);
    assert_int_equal(afmpeg_command_filter_complex(cmd, "[0:v]scale=160:-2[v]"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_copyts(cmd, 1), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "out.mp4", &o), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_map(cmd, o, "[v]"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_map(cmd, o, "0:a:0?"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, o, AFMPEG_MEDIA_VIDEO, "libopenh264"), 0);
    assert_int_equal(afmpeg_command_output_codec(cmd, o, AFMPEG_MEDIA_AUDIO, "copy"), 0);
    assert_int_equal(afmpeg_command_output_option(cmd, o, "b:v", "500k"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_option(cmd, o, "movflags", "+faststart"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_bsf(cmd, o, "v", "h264_metadata"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_duration(cmd, o, 2.5), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_end(cmd, o, 3), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_metadata(cmd, o, "title", "A b"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_stream_metadata(cmd, o, "a:0", "language", "fra"), 0);
    assert_int_equal(afmpeg_command_output_disposition(cmd, o, "a:0", "default"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_chapters(cmd, o, -1), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_format(cmd, o, "mp4"), AFMPEG_OK);
    char **argv;
    size_t argc;
    assert_int_equal(afmpeg_command_argv(cmd, &argv, &argc), AFMPEG_OK);
    const char *want[] = {
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y", "-copyts", "-f", "mov",
        "-probesize", "5000000", "-noaccurate_seek", "-ss", "1.25", "-t", "10", "-i", "in.mp4",
        "-filter_complex", "[0:v]scale=160:-2[v]", "-map", "[v]", "-map", "0:a:0?",
        "-c:v", "libopenh264", "-c:a", "copy", "-b:v", "500k", "-movflags", "+faststart",
        "-bsf:v", "h264_metadata", "-t", "2.5", "-to", "3", "-metadata", "title=A b",
        "-metadata:s:a:0", "language=fra", "-disposition:a:0", "default", "-map_chapters", "-1",
        "-f", "mp4", "out.mp4", NULL};
    size_t n = 0;
    for (; want[n]; n++) {
        assert_non_null(argv[n]);
        assert_string_equal(argv[n], want[n]);
    }
    assert_int_equal(argc, n);
    assert_null(argv[n]);
    afmpeg_free(argv);
    afmpeg_command_free(cmd);
}

/* Setter and check errors name the field; nothing runs. */
static void test_builder_errors(void **state)
{
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    char **argv = (char **)1;
    assert_int_equal(afmpeg_command_argv(cmd, &argv, NULL), AFMPEG_EINVAL);
    assert_null(argv);
    assert_non_null(strstr(afmpeg_last_error(), "no inputs"));
    assert_int_equal(afmpeg_command_add_input(cmd, "", NULL), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "path is empty"));
    assert_int_equal(afmpeg_command_add_input(cmd, NULL, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_add_input(cmd, "a.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_validate(cmd, NULL), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "no outputs"));
    assert_int_equal(afmpeg_command_input_seek(cmd, 1, 1, AFMPEG_SEEK_FAST), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "no input 1"));
    assert_int_equal(afmpeg_command_input_seek(cmd, 0, -1, AFMPEG_SEEK_FAST), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_input_seek(cmd, 0, NAN, AFMPEG_SEEK_FAST), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_input_option(cmd, 0, "-ss", "1"), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "x"), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "no output 0"));
    assert_int_equal(afmpeg_command_add_output(cmd, "o.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, (afmpeg_media_type)9, "x"),
                     AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_filter(cmd, 0, AFMPEG_MEDIA_SUBTITLE, "null"),
                     AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_map(cmd, 0, "[v"), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_bsf(cmd, 0, "v;rm", "null"), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_metadata(cmd, 0, "a=b", "c"), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_output_chapters(cmd, 0, 3), AFMPEG_EINVAL);
    const char *none[] = {"a.mp4"};
    assert_int_equal(afmpeg_command_add_concat_input(cmd, none, 0, NULL), AFMPEG_EINVAL);
    const char *bad[] = {"a.mp4", "b\n.mp4"};
    assert_int_equal(afmpeg_command_add_concat_input(cmd, bad, 2, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_add_raw_video_input(cmd, "r", 0, 10, "rgb24", "25", NULL),
                     AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_add_raw_audio_input(cmd, "r", "s16le", 0, "stereo", NULL),
                     AFMPEG_EINVAL);
    /* Failed setters added nothing: one input, one output, valid. */
    assert_int_equal(afmpeg_command_validate(cmd, NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_filter_complex(cmd, "[0:v]split[a][b"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_validate(cmd, NULL), AFMPEG_EINVAL);
    assert_non_null(strstr(afmpeg_last_error(), "filter_complex: unterminated label"));
    assert_int_equal(afmpeg_command_filter_complex(cmd, NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_validate(cmd, NULL), AFMPEG_OK);
    afmpeg_command_free(cmd);
    afmpeg_command_free(NULL);
    assert_int_equal(afmpeg_command_new(NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_command_validate(NULL, NULL), AFMPEG_EINVAL);
    afmpeg_result *res = (afmpeg_result *)1;
    assert_int_equal(afmpeg_run_job(rt, NULL, NULL, NULL, &res), AFMPEG_EINVAL);
    assert_null(res);
    assert_int_equal(afmpeg_result_output_count(NULL), 0);
    assert_null(afmpeg_result_output(NULL, 0));
    assert_int_equal(afmpeg_result_measurement_count(NULL), 0);
    assert_null(afmpeg_result_measurement(NULL, 0));
}

/* Progress: monotonic, bounded, the fraction known, completion only in the last call. */
typedef struct progress_log {
    int calls, done_calls, cancel_after;
    double last_fraction, last_time;
    int monotonic, bounded, done_last;
    int64_t last_frame;
} progress_log;

static int on_progress(const afmpeg_progress *p, void *payload)
{
    progress_log *l = payload;
    if (l->done_calls)
        l->done_last = 0; /* a call after the done one */
    l->calls++;
    if (p->fraction < l->last_fraction || p->out_time < l->last_time || p->frame < l->last_frame)
        l->monotonic = 0;
    if (p->fraction != -1 && (p->fraction < 0 || p->fraction > 1))
        l->bounded = 0;
    if (!p->done && p->fraction >= 1)
        l->bounded = 0;
    if (p->done) {
        l->done_calls++;
        l->done_last = p->fraction == 1;
    }
    l->last_fraction = p->fraction;
    l->last_time = p->out_time;
    l->last_frame = p->frame;
    return l->cancel_after && l->calls >= l->cancel_after;
}

static afmpeg_command *transcode_command(afmpeg_fs *fs, double out_duration)
{
    put_fixture(fs, "a.mp4");
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "a.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "out.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "libopenh264"), 0);
    if (out_duration > 0)
        assert_int_equal(afmpeg_command_output_duration(cmd, 0, out_duration), AFMPEG_OK);
    return cmd;
}

static void test_progress(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_command *cmd = transcode_command(fs, 0);
    progress_log l = {0, 0, 0, 0, 0, 1, 1, 0, 0};
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.on_progress = on_progress;
    o.progress_payload = &l;
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_true(l.calls >= 2);
    assert_true(l.monotonic);
    assert_true(l.bounded);
    assert_int_equal(l.done_calls, 1);
    assert_true(l.done_last);
    assert_int_equal(l.last_frame, 75); /* 3 s at 25 fps */
    expect_near("out_time", l.last_time, 3.0, 0.1);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);

    /* With -t 1 the fraction is measured against 1 s, not the input's 3 s. */
    cmd = transcode_command(fs, 1);
    progress_log l2 = {0, 0, 0, 0, 0, 1, 1, 0, 0};
    o.progress_payload = &l2;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, &o, &res), AFMPEG_OK);
    assert_true(l2.monotonic && l2.bounded && l2.done_last);
    assert_int_equal(l2.last_frame, 25);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);

    /* A raw argv through afmpeg_run() gets progress too, without a fraction. */
    const char *argv[] = {"ffmpeg", "-i", "a.mp4", "-c:v", "libopenh264", "-y", "raw.mp4", NULL};
    progress_log l3 = {0, 0, 0, -1, 0, 1, 1, 0, 0};
    o.progress_payload = &l3;
    assert_int_equal(afmpeg_run(rt, fs, argv, &o, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_true(l3.calls >= 2 && l3.done_last && l3.monotonic);
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
}

static void test_progress_cancel(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_command *cmd = transcode_command(fs, 0);
    progress_log l = {0, 0, 1, 0, 0, 1, 1, 0, 0};
    afmpeg_job_options o = AFMPEG_JOB_OPTIONS_INIT;
    o.on_progress = on_progress;
    o.progress_payload = &l;
    afmpeg_result *res = NULL;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, &o, &res), AFMPEG_ECANCELLED);
    assert_non_null(res);
    assert_int_equal(afmpeg_result_exit_code(res), -1);
    assert_int_equal(l.calls, 1);
    assert_int_equal(l.done_calls, 0);
    assert_int_equal(afmpeg_result_output_count(res), 0);
    afmpeg_result_free(res);
    /* The runtime goes on. */
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_int_equal(afmpeg_result_output_count(res), 1);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* A failing ffmpeg is not a library error: exit code and message, no outputs described. */
static void test_guest_failure(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    /* The concat demuxer opens the files of its list itself: a missing one is ffmpeg's
     * failure, not a check of afmpeg_run_job(). */
    const char *missing[] = {"missing.mp4"};
    assert_int_equal(afmpeg_command_add_concat_input(cmd, missing, 1, NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "out.mp4", NULL), AFMPEG_OK);
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_string_equal(afmpeg_last_error(), "");
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    assert_non_null(strstr(afmpeg_result_stderr(res, NULL), "No such file or directory"));
    assert_int_equal(afmpeg_result_output_count(res), 0);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* API 1.0: afmpeg_run_job() checks its input files before running anything, as afmpeg_probe()
 * and afmpeg_frames() do: a missing input, a directory, or a path leading outside the
 * filesystem is the call's error, with no result (it used to run ffmpeg to exit 1). */
static void test_input_checks(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_fixture(fs, "a.mp4");
    assert_int_equal(afmpeg_fs_mkdir(fs, "adir"), AFMPEG_OK);
    static const struct {
        const char *path;
        int err;
        const char *msg;
    } bad[] = {
        {"missing.mp4", AFMPEG_ENOENT, "input 1: missing.mp4: no such file"},
        {"/no/such/dir/x.mp4", AFMPEG_ENOENT, "input 1: /no/such/dir/x.mp4: no such file"},
        {"a.mp4/x", AFMPEG_ENOENT, "input 1: a.mp4/x: no such file"},
        {"adir", AFMPEG_EISDIR, "input 1: adir: is a directory"},
        {"../a.mp4", AFMPEG_EACCES, "input 1: ../a.mp4: the path leads outside the filesystem"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        afmpeg_command *cmd;
        assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
        assert_int_equal(afmpeg_command_add_input(cmd, "a.mp4", NULL), AFMPEG_OK);
        assert_int_equal(afmpeg_command_add_input(cmd, bad[k].path, NULL), AFMPEG_OK);
        assert_int_equal(afmpeg_command_add_output(cmd, "out.mp4", NULL), AFMPEG_OK);
        afmpeg_result *res = (afmpeg_result *)1;
        int err = afmpeg_run_job(rt, fs, cmd, NULL, &res);
        if (err != bad[k].err)
            fail_msg("%s: got %s (%s), want %s", bad[k].path, afmpeg_errname(err),
                     afmpeg_last_error(), afmpeg_errname(bad[k].err));
        assert_null(res);
        assert_string_equal(afmpeg_last_error(), bad[k].msg);
        afmpeg_command_free(cmd);
    }
    /* Nothing ran: no output was made. */
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "out.mp4", &st), AFMPEG_ENOENT);
    afmpeg_fs_free(fs);
}

/* API 1.0: a path is a file wherever the builder puts it, also one FFmpeg would read as a URL
 * ("a:b.mp4", "file:x"): the rendered argv shows it as "file:PATH". "-" and "pipe:N" stay the
 * pipes they name. */
static void test_url_like_paths(void **state)
{
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "a:b.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "pipe:0", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "dir/c:d.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "x:y.mkv", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "-", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_format(cmd, 1, "nut"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "pipe:1", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_format(cmd, 2, "nut"), AFMPEG_OK);
    char **argv;
    size_t argc;
    assert_int_equal(afmpeg_command_argv(cmd, &argv, &argc), AFMPEG_OK);
    const char *want[] = {"ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y",
                          "-i", "file:a:b.mp4", "-i", "pipe:0", "-i", "dir/c:d.mp4",
                          "file:x:y.mkv", "-f", "nut", "-", "-f", "nut", "pipe:1", NULL};
    size_t n = 0;
    for (; want[n]; n++) {
        assert_non_null(argv[n]);
        assert_string_equal(argv[n], want[n]);
    }
    assert_int_equal(argc, n);
    afmpeg_free(argv);
    afmpeg_command_free(cmd);

    /* And it runs: "a:b.mp4" in, "x:y.mkv" out, both files of the job's filesystem. */
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/a.mp4", fixtures);
    void *data = read_host_file(path, &len);
    assert_non_null(data);
    assert_int_equal(afmpeg_fs_write_file(fs, "a:b.mp4", data, len), AFMPEG_OK);
    free(data);
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "a:b.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "x:y.mkv", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "copy"), 0);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_AUDIO, "copy"), 0);
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    if (afmpeg_result_exit_code(res) != 0)
        fail_msg("ffmpeg exited %d: %s", afmpeg_result_exit_code(res),
                 afmpeg_result_stderr(res, NULL));
    const afmpeg_output_info *info = afmpeg_result_output(res, 0);
    assert_non_null(info);
    assert_non_null(info->probe); /* the output probed back, by its file name */
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "x:y.mkv", &st), AFMPEG_OK);
    assert_true(st.size > 0);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* cropdetect on either module: the GPL one runs it, the LGPL one runs bbox in its place
 * (lib/job/crop.c) and refuses what that route cannot do, naming the GPL module. */
static void test_cropdetect_route(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_fixture(fs, "letterbox.mp4");
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_input(cmd, "letterbox.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "-", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_format(cmd, 0, "null"), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_filter(cmd, 0, AFMPEG_MEDIA_VIDEO,
                                                  "cropdetect@c=limit=0.1"), AFMPEG_OK);
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    const char *err = afmpeg_result_stderr(res, NULL);
    int emulated = strstr(err, "[bbox@afm_cropdetect_0 @ ") != NULL;
    assert_true(emulated || strstr(err, "[cropdetect@c @ "));
    fprintf(stderr, "cropdetect runs as %s\n", emulated ? "bbox (LGPL module)" : "itself");
    afmpeg_result_free(res);

    static const char *const refused[] = {"cropdetect=max_outliers=2", "cropdetect=foo=1",
                                          "cropdetect=limit=24/255"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        assert_int_equal(afmpeg_command_output_filter(cmd, 0, AFMPEG_MEDIA_VIDEO, refused[i]),
                         AFMPEG_OK);
        int r = afmpeg_command_validate(cmd, rt);
        if (!emulated && i == 0) {
            assert_int_equal(r, AFMPEG_OK);
            continue;
        }
        if (emulated) {
            assert_int_equal(r, AFMPEG_EINVAL);
            assert_non_null(strstr(afmpeg_last_error(), "cropdetect"));
            if (i == 0)
                assert_non_null(strstr(afmpeg_last_error(), "MODULE=gpl"));
        }
    }
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* The concat list lives on the job's overlay: the caller's filesystem gets nothing new, and the
 * guest cannot write into the overlay. */
static void test_overlay_private(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    put_fixture(fs, "a.mp4");
    put_fixture(fs, "b.mp4");
    afmpeg_command *cmd;
    assert_int_equal(afmpeg_command_new(&cmd), AFMPEG_OK);
    const char *files[] = {"a.mp4", "b.mp4"};
    assert_int_equal(afmpeg_command_add_concat_input(cmd, files, 2, NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_add_output(cmd, "/.afmpeg/evil.mp4", NULL), AFMPEG_OK);
    assert_int_equal(afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "copy"), 0);
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(rt, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_int_not_equal(afmpeg_result_exit_code(res), 0);
    assert_non_null(strstr(afmpeg_result_stderr(res, NULL), "Read-only file system"));
    afmpeg_result_free(res);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, ".afmpeg", &st), AFMPEG_ENOENT);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
}

/* run_job on a runtime of several instances (what was the pool). */
static void test_instances_run_job(void **state)
{
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_command *cmd = transcode_command(fs, 1);
    afmpeg_result *res;
    assert_int_equal(afmpeg_run_job(pool, fs, cmd, NULL, &res), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    const afmpeg_output_info *info = afmpeg_result_output(res, 0);
    assert_non_null(info);
    assert_non_null(info->probe);
    expect_near("duration", info->probe->duration, 1.0, 0.1);
    afmpeg_result_free(res);
    assert_int_equal(afmpeg_run_job(NULL, fs, cmd, NULL, &res), AFMPEG_EINVAL);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

/* A built command is read-only: threads may run and render it at once. */
typedef struct shared_job {
    afmpeg_runtime *pool; /* two instances */
    const afmpeg_command *cmd;
    int ok;
} shared_job;

static void *run_shared(void *arg)
{
    shared_job *j = arg;
    afmpeg_fs *fs;
    if (afmpeg_fs_new_memory(&fs) != AFMPEG_OK)
        return NULL;
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/a.mp4", fixtures);
    void *data = read_host_file(path, &len);
    afmpeg_result *res = NULL;
    char **argv = NULL;
    j->ok = data && afmpeg_fs_write_file(fs, "a.mp4", data, len) == AFMPEG_OK &&
            afmpeg_command_argv(j->cmd, &argv, NULL) == AFMPEG_OK &&
            afmpeg_run_job(j->pool, fs, j->cmd, NULL, &res) == AFMPEG_OK &&
            afmpeg_result_exit_code(res) == 0 && afmpeg_result_output_count(res) == 1;
    afmpeg_free(argv);
    afmpeg_result_free(res);
    free(data);
    afmpeg_fs_free(fs);
    return NULL;
}

static void test_shared_command(void **state)
{
    afmpeg_runtime_options po = AFMPEG_RUNTIME_OPTIONS_INIT;
    po.instances = 2;
    afmpeg_runtime *pool;
    assert_int_equal(afmpeg_new(&po, &pool), AFMPEG_OK);
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_command *cmd = transcode_command(fs, 0.5);
    shared_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (shared_job){pool, cmd, 0};
        assert_int_equal(pthread_create(&th[i], NULL, run_shared, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
    afmpeg_close(pool, AFMPEG_CLOSE_WAIT);
}

static int setup(void **state)
{
    snprintf(fixtures, sizeof fixtures, "/tmp/afmpeg-jobs-XXXXXX");
    if (!mkdtemp(fixtures) || sh("tests/jobs/fixtures.sh %s", fixtures) != 0)
        return -1;
    /* AFMPEG_TEST_MODULE: the cases on a module loaded at run time (test-gpl: the GPL one). */
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.module_path = getenv("AFMPEG_TEST_MODULE");
    if (afmpeg_new(&o, &rt)) {
        fprintf(stderr, "afmpeg_new: %s\n", afmpeg_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    sh("rm -rf '%s'", fixtures);
    return 0;
}

int main(void)
{
    const char *dir = getenv("AFMPEG_JOB_CASES") ? getenv("AFMPEG_JOB_CASES")
                                                 : "tests/jobs/cases";
    load_cases(dir);
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_argv_exact),
        cmocka_unit_test(test_builder_errors),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_progress_cancel),
        cmocka_unit_test(test_guest_failure),
        cmocka_unit_test(test_input_checks),
        cmocka_unit_test(test_url_like_paths),
        cmocka_unit_test(test_overlay_private),
        cmocka_unit_test(test_cropdetect_route),
        cmocka_unit_test(test_instances_run_job),
        cmocka_unit_test(test_shared_command),
    };
    size_t n_fixed = sizeof fixed / sizeof *fixed;
    struct CMUnitTest *tests = calloc(n_fixed + (size_t)n_cases, sizeof *tests);
    memcpy(tests, fixed, sizeof fixed);
    for (int i = 0; i < n_cases; i++) {
        struct CMUnitTest *t = &tests[n_fixed + (size_t)i];
        t->name = cases[i].name;
        t->test_func = run_case;
        t->initial_state = &cases[i];
    }
    int failed = _cmocka_run_group_tests("jobs", tests, n_fixed + (size_t)n_cases, setup,
                                         teardown);
    free(tests);
    for (int i = 0; i < n_cases; i++)
        for (int j = 0; j < cases[i].n; j++)
            free(cases[i].lines[j]);
    return failed;
}
