/* What a runtime's module is (afmpeg_module_info_get()) and has (afm_component_has(), for
 * afmpeg_command_validate()): its version and configuration (ffmpeg -version) and its
 * components (ffmpeg -encoders, -decoders, ...), read from the module itself the first time
 * they are asked for and kept for the life of the runtime. Asking the module, rather than
 * keeping a list at build time, gives the names ffmpeg takes on its command line (configure's
 * names differ: "movtext" is the encoder "mov_text"). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "core/errors.h"
#include "job/command.h"

/* The listings, in the order of afm_module_info.lists. */
enum { L_ENCODERS, L_DECODERS, L_MUXERS, L_DEMUXERS, L_FILTERS, L_BSFS, L_PROTOCOLS, L_KINDS };
static const char *const list_option[L_KINDS] = {
    "-encoders", "-decoders", "-muxers", "-demuxers", "-filters", "-bsfs", "-protocols",
};

struct afm_module_info {
    afmpeg_module_info pub;
    afm_strv lists[L_KINDS];  /* each ends with a NULL: the public lists point into them */
    char *version, *license, *configuration;
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

/* Reads one listing. Every kind prints a header, then one component per line: encoders,
 * decoders, muxers and demuxers after a line starting " --" as "FLAGS name description";
 * filters as "FLAGS name IN->OUT description" after a legend; bitstream filters as bare names
 * after "Bitstream filters:"; protocols as indented names under "Input:" and "Output:" (a name in
 * both is listed once). */
static int parse_list(int kind, const char *text, afm_strv *v)
{
    int in_body = kind == L_FILTERS;
    char name[128], third[64];
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        int err = AFMPEG_OK;
        if (kind == L_PROTOCOLS) {
            token(line, len, 0, name, sizeof name);
            int dup = 0;
            for (size_t i = 0; i < v->n && !dup; i++)
                dup = !strcmp(v->v[i], name);
            if (line[0] == ' ' && name[0] && !dup)
                err = afm_strv_push(v, name);
        } else if (kind == L_BSFS) {
            token(line, len, 0, name, sizeof name);
            if (in_body && name[0])
                err = afm_strv_push(v, name);
            if (!strncmp(line, "Bitstream filters:", 18))
                in_body = 1;
        } else if (kind == L_FILTERS) {
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

void afm_module_info_free(afm_module_info *info)
{
    if (!info)
        return;
    for (int k = 0; k < L_KINDS; k++)
        afm_strv_free(&info->lists[k]);
    free(info->version);
    free(info->license);
    free(info->configuration);
    free(info);
}

/* One listing job: ffmpeg with `option`, its stdout (a new string) into *out. */
static int listing(afmpeg_runtime *rt, afmpeg_fs *fs, const char *option, char **out)
{
    const char *argv[] = {"ffmpeg", "-hide_banner", option, NULL};
    afmpeg_job_options o;
    afm_derive_options(NULL, NULL, NULL, NULL, &o);
    afmpeg_result *res = NULL;
    *out = NULL;
    int err = afm_run(rt, fs, argv, &o, NULL, &res);
    if (!err && afmpeg_result_exit_code(res) != 0) {
        char why[512];
        afm_stderr_summary(res, why, sizeof why);
        err = afm_error(AFMPEG_EMODULE, "the module's ffmpeg %s failed: %s", option, why);
    }
    if (!err && !(*out = strdup(afmpeg_result_stdout(res, NULL))))
        err = afm_error(AFMPEG_ENOMEM, "out of memory");
    afmpeg_result_free(res);
    return err;
}

/* What follows `key` on the line it starts: the rest of the line, or with `word` only up to
 * the next blank. A new string, "" when no line starts with `key`; NULL when out of memory. */
static char *line_value(const char *text, const char *key, int word)
{
    size_t klen = strlen(key);
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, klen))
            return strndup(p + klen, strcspn(p + klen, word ? " \t\r\n" : "\r\n"));
    return strdup("");
}

/* FFmpeg's licence words for a configuration, as its configure decides them (FFMPEG_LICENSE). */
static const char *license_of(const char *conf)
{
    int gpl = strstr(conf, "--enable-gpl") != NULL;
    int v3 = strstr(conf, "--enable-version3") != NULL;
    if (strstr(conf, "--enable-nonfree"))
        return "nonfree and unredistributable";
    if (gpl)
        return v3 ? "GPL version 3 or later" : "GPL version 2 or later";
    return v3 ? "LGPL version 3 or later" : "LGPL version 2.1 or later";
}

/* Asks the module what it is: its version and configuration, then every listing. */
static int load(afmpeg_runtime *rt, afm_module_info **out)
{
    afm_module_info *info = calloc(1, sizeof *info);
    afmpeg_fs *fs = NULL;
    if (!info)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    int err = afmpeg_fs_new_memory(&fs);
    char *text = NULL;
    if (!err)
        err = listing(rt, fs, "-version", &text);
    if (!err) {
        info->version = line_value(text, "ffmpeg version ", 1);
        info->configuration = line_value(text, "configuration: ", 0);
        info->license = info->configuration ? strdup(license_of(info->configuration)) : NULL;
        if (!info->version || !info->configuration || !info->license)
            err = afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    free(text);
    for (int k = 0; k < L_KINDS && !err; k++) {
        err = listing(rt, fs, list_option[k], &text);
        if (!err && parse_list(k, text, &info->lists[k]))
            err = afm_error(AFMPEG_EMODULE, "could not read the module's ffmpeg %s listing",
                            list_option[k]);
        free(text);
        /* NULL-terminated for the public lists */
        if (!err && afm_strv_push(&info->lists[k], "")) /* a slot to hold the NULL */
            err = afm_error(AFMPEG_ENOMEM, "out of memory");
        if (!err) {
            afm_strv *v = &info->lists[k];
            free(v->v[v->n - 1]);
            v->v[--v->n] = NULL;
        }
    }
    afmpeg_fs_free(fs);
    if (err) {
        afm_module_info_free(info);
        return err;
    }
    afmpeg_module_info *pub = &info->pub;
    pub->ffmpeg_version = info->version;
    pub->license = info->license;
    pub->configuration = info->configuration;
    const char *const **lists[L_KINDS] = {&pub->encoders, &pub->decoders, &pub->muxers,
                                          &pub->demuxers, &pub->filters, &pub->bsfs,
                                          &pub->protocols};
    for (int k = 0; k < L_KINDS; k++)
        *lists[k] = (const char *const *)info->lists[k].v;
    *out = info;
    return AFMPEG_OK;
}

/* The runtime's description, made on first use (guarded by the runtime's info lock). */
static int get_info(afmpeg_runtime *rt, afm_module_info **out)
{
    pthread_mutex_t *lock;
    afm_module_info **slot = afm_runtime_info_slot(rt, &lock);
    pthread_mutex_lock(lock);
    int err = *slot ? AFMPEG_OK : load(rt, slot);
    *out = *slot;
    pthread_mutex_unlock(lock);
    return err;
}

int afmpeg_module_info_get(afmpeg_runtime *rt, const afmpeg_module_info **out)
{
    afm_error_clear();
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!rt)
        return afm_error(AFMPEG_EINVAL, "rt is NULL");
    afm_module_info *info;
    int err = afm_check_ffmpeg(rt, "afmpeg_module_info_get()");
    if (err)
        return err;
    err = get_info(rt, &info);
    if (!err) {
        *out = &info->pub;
        afm_error_clear();
    }
    return err;
}

int afm_component_has(afmpeg_runtime *rt, afm_component kind, const char *name)
{
    static const int list_of[AFM_COMPONENT_KINDS] = {L_ENCODERS, L_FILTERS, L_MUXERS,
                                                     L_DEMUXERS, L_BSFS};
    afm_module_info *info;
    int err = get_info(rt, &info);
    if (err)
        return err;
    const afm_strv *v = &info->lists[list_of[kind]];
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], name))
            return 1;
    return 0;
}
