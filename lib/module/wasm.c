/* Checks a .wasm before anything translates or runs it: the binary's structure as far as afmpeg
 * relies on it (sections in bounds, every length inside its section), its imports (only the WASI
 * preview1 functions the host implements, with their signatures), its memory (one, 32-bit, not
 * shared, starting within the runtime's cap) and the exports of a WASI command (_start and
 * memory). Everything else — the code itself, features the translator lacks — is wasm2c's to
 * refuse, and compile.c passes its message on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/errors.h"
#include "module/module.h"

typedef struct reader {
    const uint8_t *p, *end;
    const uint8_t *base;
    const char *what; /* the section being read, for messages */
} reader;

static int truncated(reader *r)
{
    return afm_error(AFMPEG_EMODULE, "invalid module: the %s ends early (byte %zu)", r->what,
                     (size_t)(r->p - r->base));
}

static int u32_leb(reader *r, uint32_t *out)
{
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (r->p >= r->end)
            return truncated(r);
        uint8_t b = *r->p++;
        v |= (uint32_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return afm_error(AFMPEG_EMODULE, "invalid module: a number in the %s is too long", r->what);
}

static int byte(reader *r, uint8_t *out)
{
    if (r->p >= r->end)
        return truncated(r);
    *out = *r->p++;
    return 0;
}

/* A name: its bytes (not NUL-terminated) and length. */
static int name(reader *r, const char **s, uint32_t *len)
{
    int err = u32_leb(r, len);
    if (err)
        return err;
    if (*len > (size_t)(r->end - r->p))
        return truncated(r);
    *s = (const char *)r->p;
    r->p += *len;
    return 0;
}

/* Limits of a memory or table: flags, min, optional max. */
static int limits(reader *r, uint8_t *flags, uint32_t *min, uint32_t *max)
{
    int err = byte(r, flags);
    if (!err)
        err = u32_leb(r, min);
    *max = UINT32_MAX;
    if (!err && (*flags & 1))
        err = u32_leb(r, max);
    return err;
}

/* The WASI imports the host implements and their signatures (abi.h's list): parameters and
 * results as 'i' (i32) and 'I' (i64). */
static const struct {
    const char *name, *params, *results;
} wasi_imports[] = {
    {"args_get", "ii", "i"},          {"args_sizes_get", "ii", "i"},
    {"environ_get", "ii", "i"},       {"environ_sizes_get", "ii", "i"},
    {"clock_time_get", "iIi", "i"},   {"poll_oneoff", "iiii", "i"},
    {"fd_prestat_get", "ii", "i"},    {"fd_prestat_dir_name", "iii", "i"},
    {"fd_close", "i", "i"},           {"fd_fdstat_get", "ii", "i"},
    {"fd_fdstat_set_flags", "ii", "i"}, {"fd_filestat_get", "ii", "i"},
    {"fd_write", "iiii", "i"},        {"fd_read", "iiii", "i"},
    {"fd_seek", "iIii", "i"},         {"fd_readdir", "iiiIi", "i"},
    {"path_open", "iiiiiIIii", "i"},  {"path_filestat_get", "iiiii", "i"},
    {"path_create_directory", "iii", "i"}, {"path_remove_directory", "iii", "i"},
    {"path_unlink_file", "iii", "i"}, {"path_rename", "iiiiii", "i"},
    {"proc_exit", "i", ""},
};

#define MAX_TYPES 100000u
#define MAX_SIG 64

typedef struct sig {
    char params[MAX_SIG + 1], results[MAX_SIG + 1];
} sig;

/* Appends "MODULE.FIELD" to the list of unknown imports in `buf`. */
static void add_unknown(char *buf, size_t size, int *count, const char *mod, uint32_t mod_len,
                        const char *field, uint32_t field_len, const char *why)
{
    size_t used = strlen(buf);
    if (++*count > 8) {
        if (*count == 9 && used + 6 < size)
            strcat(buf, ", ...");
        return;
    }
    snprintf(buf + used, size - used, "%s%.*s.%.*s%s", used ? ", " : "", (int)mod_len, mod,
             (int)field_len, field, why);
}

static char valtype_char(uint8_t t)
{
    switch (t) {
    case 0x7f: return 'i';
    case 0x7e: return 'I';
    case 0x7d: return 'f';
    case 0x7c: return 'F';
    case 0x7b: return 'v';
    default: return '?';
    }
}

static int read_vec_types(reader *r, char *out)
{
    uint32_t n;
    int err = u32_leb(r, &n);
    if (err)
        return err;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t t = 0;
        if ((err = byte(r, &t)))
            return err;
        if (i < MAX_SIG)
            out[i] = valtype_char(t);
    }
    out[n < MAX_SIG ? n : MAX_SIG] = '\0';
    return 0;
}

/* The function-names subsection of a "name" section: does it name both multi-call mains? */
static int names_ffmpeg(const uint8_t *p, const uint8_t *end)
{
    reader r = {p, end, p, "name section"};
    int ffmpeg = 0, ffprobe = 0;
    while (r.p < r.end) {
        uint8_t id;
        uint32_t size;
        if (byte(&r, &id) || u32_leb(&r, &size) || size > (size_t)(r.end - r.p))
            return 0;
        if (id == 1) {
            reader s = {r.p, r.p + size, p, "name section"};
            uint32_t n;
            if (u32_leb(&s, &n))
                return 0;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t idx, len;
                const char *nm = NULL;
                if (u32_leb(&s, &idx) || name(&s, &nm, &len))
                    return 0;
                if (len == 15 && !memcmp(nm, "afm_ffmpeg_main", 15))
                    ffmpeg = 1;
                if (len == 16 && !memcmp(nm, "afm_ffprobe_main", 16))
                    ffprobe = 1;
            }
        }
        r.p += size;
    }
    return ffmpeg && ffprobe;
}

int afm_wasm_check(const uint8_t *data, size_t len, uint64_t max_pages, afm_wasm_info *info)
{
    memset(info, 0, sizeof *info);
    reader r = {data, data + len, data, "header"};
    static const uint8_t magic[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
    if (len < 4 || memcmp(data, magic, 4))
        return afm_error(AFMPEG_EMODULE, "not a WebAssembly module (no \\0asm magic)");
    if (len < 8)
        return truncated(&r);
    if (memcmp(data + 4, magic + 4, 4))
        return afm_error(AFMPEG_EMODULE, "unsupported WebAssembly binary version %u (a "
                         "component, or a future format?): only version 1 modules run",
                         data[4] | data[5] << 8 | data[6] << 16 | (unsigned)data[7] << 24);
    r.p += 8;

    sig *types = NULL;
    uint32_t ntypes = 0;
    char unknown[512] = "";
    int nunknown = 0, err = 0, memories = 0, has_start = 0, has_memory = 0;
    while (!err && r.p < r.end) {
        uint8_t id;
        uint32_t size;
        r.what = "section header";
        if ((err = byte(&r, &id)) || (err = u32_leb(&r, &size)))
            break;
        if (size > (size_t)(r.end - r.p)) {
            err = afm_error(AFMPEG_EMODULE, "invalid or truncated module: section %u of %u "
                            "bytes at byte %zu runs past the end (%zu bytes)", id, size,
                            (size_t)(r.p - data), len);
            break;
        }
        reader s = {r.p, r.p + size, data, "section"};
        r.p += size;
        switch (id) {
        case 0: { /* custom: only "name" matters, to recognise afmpeg's FFmpeg modules */
            const char *nm = NULL;
            uint32_t nl;
            s.what = "custom section";
            if ((err = name(&s, &nm, &nl)))
                break;
            if (nl == 4 && !memcmp(nm, "name", 4) && names_ffmpeg(s.p, s.end))
                info->is_ffmpeg = 1;
            break;
        }
        case 1: { /* types */
            s.what = "type section";
            if ((err = u32_leb(&s, &ntypes)))
                break;
            if (ntypes > MAX_TYPES) {
                err = afm_error(AFMPEG_EMODULE, "invalid module: %u function types", ntypes);
                break;
            }
            free(types);
            types = calloc(ntypes ? ntypes : 1, sizeof *types);
            if (!types) {
                err = afm_error(AFMPEG_ENOMEM, "out of memory");
                break;
            }
            for (uint32_t i = 0; !err && i < ntypes; i++) {
                uint8_t form = 0;
                if (!(err = byte(&s, &form)) && form != 0x60)
                    err = afm_error(AFMPEG_EMODULE, "invalid module: type %u is not a "
                                    "function type", i);
                if (!err)
                    err = read_vec_types(&s, types[i].params);
                if (!err)
                    err = read_vec_types(&s, types[i].results);
            }
            break;
        }
        case 2: { /* imports */
            uint32_t n;
            s.what = "import section";
            if ((err = u32_leb(&s, &n)))
                break;
            for (uint32_t i = 0; !err && i < n; i++) {
                const char *mod, *field;
                uint32_t ml, fl, idx = 0, mn, mx;
                uint8_t kind = 0, b, fl8;
                if ((err = name(&s, &mod, &ml)) || (err = name(&s, &field, &fl)) ||
                    (err = byte(&s, &kind)))
                    break;
                switch (kind) {
                case 0: err = u32_leb(&s, &idx); break;
                case 1: if (!(err = byte(&s, &b))) err = limits(&s, &fl8, &mn, &mx); break;
                case 2: err = limits(&s, &fl8, &mn, &mx); break;
                case 3: if (!(err = byte(&s, &b))) err = byte(&s, &b); break;
                case 4: if (!(err = byte(&s, &b))) err = u32_leb(&s, &idx); break;
                default:
                    err = afm_error(AFMPEG_EMODULE, "invalid module: import %u has kind %u", i,
                                    kind);
                }
                if (err)
                    break;
                info->imports++;
                const char *why = kind == 0 ? "" : kind == 2 ? " (a memory)"
                                : kind == 1 ? " (a table)" : kind == 3 ? " (a global)" : " (a tag)";
                size_t k, nk = sizeof wasi_imports / sizeof wasi_imports[0];
                for (k = 0; k < nk; k++)
                    if (strlen(wasi_imports[k].name) == fl &&
                        !memcmp(wasi_imports[k].name, field, fl))
                        break;
                int wasi = ml == 22 && !memcmp(mod, "wasi_snapshot_preview1", 22);
                if (!wasi || k == nk || kind != 0) {
                    add_unknown(unknown, sizeof unknown, &nunknown, mod, ml, field, fl, why);
                } else if (idx >= ntypes ||
                           strcmp(types[idx].params, wasi_imports[k].params) ||
                           strcmp(types[idx].results, wasi_imports[k].results)) {
                    add_unknown(unknown, sizeof unknown, &nunknown, mod, ml, field, fl,
                                " (another signature)");
                }
            }
            break;
        }
        case 5: { /* memories */
            uint32_t n;
            s.what = "memory section";
            if ((err = u32_leb(&s, &n)))
                break;
            for (uint32_t i = 0; !err && i < n; i++) {
                uint8_t flags;
                uint32_t mn, mx;
                if ((err = limits(&s, &flags, &mn, &mx)))
                    break;
                memories++;
                if (flags & 2)
                    err = afm_error(AFMPEG_EMODULE, "unsupported module: its memory is shared "
                                    "(WebAssembly threads); afmpeg runs single-threaded guests");
                else if (flags & 4)
                    err = afm_error(AFMPEG_EMODULE, "unsupported module: its memory is 64-bit "
                                    "(memory64)");
                else if (mn > max_pages)
                    err = afm_error(AFMPEG_EMODULE, "the module's memory starts at %u pages "
                                    "(%llu MiB), over the runtime's cap of %llu pages", mn,
                                    (unsigned long long)mn / 16,
                                    (unsigned long long)max_pages);
                info->initial_pages = mn;
            }
            break;
        }
        case 7: { /* exports */
            uint32_t n;
            s.what = "export section";
            if ((err = u32_leb(&s, &n)))
                break;
            for (uint32_t i = 0; !err && i < n; i++) {
                const char *nm = NULL;
                uint32_t nl = 0, idx;
                uint8_t kind = 0;
                if ((err = name(&s, &nm, &nl)) || (err = byte(&s, &kind)) ||
                    (err = u32_leb(&s, &idx)))
                    break;
                if (nl == 6 && !memcmp(nm, "_start", 6) && kind == 0)
                    has_start = 1;
                if (nl == 6 && !memcmp(nm, "memory", 6) && kind == 2)
                    has_memory = 1;
            }
            break;
        }
        case 13:
            err = afm_error(AFMPEG_EMODULE, "unsupported module: it uses WebAssembly exception "
                            "handling (a tag section)");
            break;
        default:
            break; /* code, data, ...: wasm2c checks them */
        }
    }
    free(types);
    if (err)
        return err;
    if (nunknown)
        return afm_error(AFMPEG_EMODULE, "the module imports what afmpeg does not provide: %s "
                         "(afmpeg provides %zu wasi_snapshot_preview1 functions: "
                         "docs/modules.md)", unknown, sizeof wasi_imports / sizeof wasi_imports[0]);
    if (memories != 1 || !has_memory)
        return afm_error(AFMPEG_EMODULE, "the module %s (a WASI command defines one memory and "
                         "exports it as \"memory\")",
                         memories == 0 ? "defines no memory"
                         : memories > 1 ? "defines more than one memory"
                         : "does not export its memory");
    if (!has_start)
        return afm_error(AFMPEG_EMODULE, "the module exports no _start function: it is not a "
                         "WASI command (a reactor or a library module cannot run as a job)");
    return AFMPEG_OK;
}
