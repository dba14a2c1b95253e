/* What the embedded module has: its encoders, filters, muxers, demuxers and bitstream filters,
 * read from the module itself (ffmpeg -encoders, ...) the first time a command is checked, and
 * kept for the life of the process (the embedded module never changes). Asking the module,
 * rather than keeping a list at build time, gives the names ffmpeg takes on its command line
 * (configure's names differ: "movtext" is the encoder "mov_text"). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "job/command.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static afm_strv lists[AFM_COMPONENT_KINDS];
static int loaded;

static const char *const list_option[AFM_COMPONENT_KINDS] = {
    "-encoders", "-filters", "-muxers", "-demuxers", "-bsfs",
};

/* The whitespace-separated token `n` (0-based) of `line` (len bytes) into buf, or "". */
static void token(const char *line, size_t len, int n, char *buf, size_t cap)
{
    size_t i = 0;
    buf[0] = '\0';
    for (int k = 0; i < len; k++) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        if (start == i)
            return;
        if (k == n) {
            size_t l = i - start < cap - 1 ? i - start : cap - 1;
            memcpy(buf, line + start, l);
            buf[l] = '\0';
            return;
        }
    }
}

/* Adds each comma-separated name of `names` ("mov,mp4,m4a") to the list. */
static int add_names(afm_strv *v, char *names)
{
    for (char *save = NULL, *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save))
        if (afm_strv_push(v, n))
            return AFMPEG_ENOMEM;
    return AFMPEG_OK;
}

/* Reads one listing. Every kind prints a header, then one component per line: encoders, muxers
 * and demuxers after a line starting " --" as "FLAGS name description"; filters as
 * "FLAGS name IN->OUT description" after a legend; bitstream filters as bare names after
 * "Bitstream filters:". */
static int parse_list(afm_component kind, const char *text, afm_strv *v)
{
    int in_body = kind == AFM_FILTER;
    char name[128], third[64];
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int err = AFMPEG_OK;
        if (kind == AFM_BSF) {
            token(line, len, 0, name, sizeof name);
            if (in_body && name[0])
                err = afm_strv_push(v, name);
            if (!strncmp(line, "Bitstream filters:", 18))
                in_body = 1;
        } else if (kind == AFM_FILTER) {
            token(line, len, 1, name, sizeof name);
            token(line, len, 2, third, sizeof third);
            if (name[0] && strstr(third, "->"))
                err = afm_strv_push(v, name);
        } else if (!in_body) {
            in_body = len >= 3 && !strncmp(line, " --", 3);
        } else {
            token(line, len, 1, name, sizeof name);
            if (name[0])
                err = add_names(v, name);
        }
        if (err)
            return err;
        line = nl ? nl + 1 : line + len;
    }
    return v->n ? AFMPEG_OK : AFMPEG_ERROR;
}

/* Reads every listing from the module; called with the lock held. */
static int load(afmpeg_runtime *rt)
{
    afmpeg_fs *fs;
    int err = afmpeg_fs_new_memory(&fs);
    for (int k = 0; k < AFM_COMPONENT_KINDS && !err; k++) {
        const char *argv[] = {"ffmpeg", "-hide_banner", list_option[k], NULL};
        afmpeg_result *res = NULL;
        err = afm_run(rt, fs, argv, NULL, NULL, "afmpeg_command_validate", &res);
        if (!err && afmpeg_result_exit_code(res) != 0)
            err = afm_error(AFMPEG_ERROR, "afmpeg_command_validate: ffmpeg %s failed",
                            list_option[k]);
        if (!err && parse_list((afm_component)k, afmpeg_result_stdout(res, NULL), &lists[k]))
            err = afm_error(AFMPEG_ERROR, "afmpeg_command_validate: could not read ffmpeg's %s "
                            "listing", list_option[k]);
        afmpeg_result_free(res);
    }
    afmpeg_fs_free(fs);
    if (err) {
        for (int k = 0; k < AFM_COMPONENT_KINDS; k++)
            afm_strv_free(&lists[k]);
        return err;
    }
    loaded = 1;
    return AFMPEG_OK;
}

int afm_component_has(afmpeg_runtime *rt, afm_component kind, const char *name)
{
    pthread_mutex_lock(&lock);
    int err = loaded ? AFMPEG_OK : load(rt);
    int found = 0;
    for (size_t i = 0; !err && i < lists[kind].n && !found; i++)
        found = !strcmp(lists[kind].v[i], name);
    pthread_mutex_unlock(&lock);
    return err ? err : found;
}
