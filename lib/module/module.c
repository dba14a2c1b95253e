/* Modules from files and bytes: a .wasm is checked, then compiled once into the cache
 * (lib/module/compile.c) and loaded from there; a module file (afmpeg_module_compile()) is loaded
 * as it is. The cache directory holds, per module and toolchain, KEY.so (the shared object),
 * KEY.sum (its SHA-256, written after it: an object without a matching sum is never loaded, and
 * is rebuilt) and KEY.lock (held while one process compiles, so that others wait for its result
 * instead of compiling too).
 *
 * Hashing an FFmpeg-sized module takes tens of milliseconds (24 MB of .wasm, 34 MB of object), so
 * a load hashes a file only when it changed since it was last hashed: KEY.sum also records the
 * object's identity (device, inode, size, modification and change times) when its sum was
 * checked, and wKEY.id, per .wasm path, the .wasm's SHA-256 and identity. A file replaced,
 * truncated or written since (a new inode, size or change time, which no program can set back)
 * is hashed again. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/errors.h"
#include "module/module.h"
#include "rt/rt.h"

#define AFM_WASI_DECLARE(name, ret, params, args) ret w2c_wasi__snapshot__preview1_##name params;
AFM_WASI_IMPORTS(AFM_WASI_DECLARE)
void w2c_wasi__snapshot__preview1_proc_exit(afm_wasi_host *w, uint32_t code);

/* 4 GiB of 64 KiB pages: the most a guest memory may be (afmpeg_limits). */
#define MAX_PAGES 65536u

static const afm_host_v1 host = {
    .abi = AFM_MODULE_ABI,
    .is_initialized = wasm_rt_is_initialized,
    .trap = wasm_rt_trap,
    .allocate_memory = wasm_rt_allocate_memory,
    .grow_memory = wasm_rt_grow_memory,
    .free_memory = wasm_rt_free_memory,
    .allocate_funcref_table = wasm_rt_allocate_funcref_table,
    .grow_funcref_table = wasm_rt_grow_funcref_table,
    .free_funcref_table = wasm_rt_free_funcref_table,
    .allocate_externref_table = wasm_rt_allocate_externref_table,
    .grow_externref_table = wasm_rt_grow_externref_table,
    .free_externref_table = wasm_rt_free_externref_table,
    .load_segment = afm_rt_load_segment,
    .proc_exit = w2c_wasi__snapshot__preview1_proc_exit,
#define AFM_HOST_INIT(name, ret, params, args) .name = w2c_wasi__snapshot__preview1_##name,
    AFM_WASI_IMPORTS(AFM_HOST_INIT)
#undef AFM_HOST_INIT
};

const afm_host_v1 *afm_module_host(void)
{
    return &host;
}

/* ---- reading files ------------------------------------------------------------------------- */

/* A whole file in memory (mapped). */
typedef struct mapped {
    void *data;
    size_t len;
    struct stat st;  /* of the file mapped */
} mapped;

static int map_file(const char *path, mapped *m)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return afm_error(e == ENOENT ? AFMPEG_ENOENT : e == EISDIR ? AFMPEG_EISDIR : AFMPEG_EIO,
                         "cannot open the module %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return afm_error(AFMPEG_EIO, "cannot read the module %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return afm_error(S_ISDIR(st.st_mode) ? AFMPEG_EISDIR : AFMPEG_EIO,
                         "the module %s is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return afm_error(AFMPEG_EMODULE, "the module %s is empty", path);
    }
    m->st = st;
    m->len = (size_t)st.st_size;
    m->data = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->data == MAP_FAILED) {
        m->data = NULL;
        return afm_error(AFMPEG_EIO, "cannot read the module %s: %s", path, strerror(errno));
    }
    return AFMPEG_OK;
}

static void unmap(mapped *m)
{
    if (m->data)
        munmap(m->data, m->len);
    m->data = NULL;
}

/* A file's identity: it changes when the file is replaced, truncated or written. */
static void identity(const struct stat *st, char out[160])
{
    snprintf(out, 160, "%ju %ju %jd %jd.%09ld %jd.%09ld", (uintmax_t)st->st_dev,
             (uintmax_t)st->st_ino, (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec,
             st->st_mtim.tv_nsec, (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* The identity of the file at `path` now ("" if it cannot be examined). */
static void path_identity(const char *path, char out[160])
{
    struct stat st;
    out[0] = '\0';
    if (!stat(path, &st))
        identity(&st, out);
}

/* SHA-256 of a file and the identity of what was hashed, or -1 if it cannot be read. */
static int file_sha256(const char *path, char out[65], char id[160])
{
    mapped m;
    if (map_file(path, &m) != AFMPEG_OK) {
        afm_error_clear();
        return -1;
    }
    afm_sha256_hex(m.data, m.len, out);
    identity(&m.st, id);
    unmap(&m);
    return 0;
}

/* ---- loading a shared object ------------------------------------------------------------------ */

static int load_so(const char *path, afm_module **out)
{
    /* dlopen() searches the library path for a name without a slash: give it the file. */
    char abs[PATH_MAX];
    if (!realpath(path, abs))
        return afm_error(AFMPEG_EIO, "cannot resolve the module %s: %s", path, strerror(errno));
    void *dl = dlopen(abs, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        return afm_error(AFMPEG_EMODULE, "cannot load the module %s: %s", path, dlerror());
    afm_module_entry_fn entry;
    *(void **)&entry = dlsym(dl, AFM_MODULE_ENTRY_NAME);
    afm_module *m = calloc(1, sizeof *m);
    if (!m) {
        dlclose(dl);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    if (!entry || entry(&host, &m->vt) != 0 || m->vt.abi != AFM_MODULE_ABI || !m->vt.sha256) {
        free(m);
        dlclose(dl);
        return afm_error(AFMPEG_EMODULE, "%s is not an afmpeg module of this version (ABI %d): "
                         "compile it again with this afmpeg", path, AFM_MODULE_ABI);
    }
    m->dl = dl;
    *out = m;
    return AFMPEG_OK;
}

void afm_module_close(afm_module *m)
{
    if (!m || !m->dl)
        return;
    dlclose(m->dl);
    free(m);
}

/* ---- the cache ------------------------------------------------------------------------------- */

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -errno;
    }
    return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

static int cache_dir(const afmpeg_runtime_options *o, char *out, size_t size)
{
    const char *env;
    int n;
    if (o->cache_dir && *o->cache_dir)
        n = snprintf(out, size, "%s", o->cache_dir);
    else if ((env = getenv("AFMPEG_CACHE_DIR")) && *env)
        n = snprintf(out, size, "%s/modules", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        n = snprintf(out, size, "%s/afmpeg/modules", env);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(out, size, "%s/.cache/afmpeg/modules", env);
    else
        return afm_error(AFMPEG_EINVAL, "no cache directory: set cache_dir, AFMPEG_CACHE_DIR, "
                         "XDG_CACHE_HOME or HOME");
    if (n < 0 || (size_t)n >= size - 80)
        return afm_error(AFMPEG_EINVAL, "the cache directory's path is too long");
    int rc = mkdirs(out);
    if (rc)
        return afm_error(AFMPEG_EIO, "cannot make the cache directory %s: %s", out,
                         strerror(-rc));
    return AFMPEG_OK;
}

/* Writes `text` to `path` whole or not at all: a temporary file of its own (several threads or
 * processes may write the same file at once), renamed over it. */
static int write_small(const char *path, const char *text, int sync)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return afm_error(AFMPEG_EIO, "cannot write %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = n < 0 ? errno : EIO;
    if (n != (ssize_t)len || fchmod(fd, 0644) || (sync && fsync(fd))) {
        e = n == (ssize_t)len ? errno : e;
        close(fd);
        unlink(tmp);
        return afm_error(AFMPEG_EIO, "cannot write %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path)) {
        e = errno;
        unlink(tmp);
        return afm_error(AFMPEG_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return AFMPEG_OK;
}

/* A record (KEY.sum, wKEY.id): a SHA-256, and the identity of the file whose sum it is when it
 * was hashed ("" in a sum written before identities were recorded). 0 if it has the SHA-256. */
static int read_record(const char *path, char sha[65], char id[160])
{
    char line[80] = "";
    FILE *f = fopen(path, "r");
    id[0] = '\0';
    if (!f)
        return -1;
    if (fgets(line, sizeof line, f) && fgets(id, 160, f))
        id[strcspn(id, "\n")] = '\0';
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (strlen(line) != 64)
        return -1;
    memcpy(sha, line, 65);
    return 0;
}

static int write_record(const char *path, const char *sha, const char *id, int sync)
{
    char text[300];
    snprintf(text, sizeof text, "%s\n%s\n", sha, id);
    return write_small(path, text, sync);
}

/* Is KEY.so there, and does it match KEY.sum? Hashed only if it changed since last checked. */
static int cache_valid(const char *so, const char *sum)
{
    char want[65], was[160], now[160], have[65];
    if (read_record(sum, want, was))
        return 0;
    path_identity(so, now);
    if (!now[0])
        return 0;
    if (was[0] && !strcmp(was, now))
        return 1;
    if (file_sha256(so, have, now) || strcmp(want, have))
        return 0;
    write_record(sum, have, now, 1);  /* the same object, touched: remember it as checked */
    afm_error_clear();
    return 1;
}

/* The SHA-256 of the .wasm mapped from `path`: from its record in the cache directory `dir`
 * when the file is the one hashed then, else hashed (and recorded, if the file did not change
 * meanwhile). */
static void wasm_sha256(const char *dir, const char *path, const mapped *m, char sha[65])
{
    char abs[PATH_MAX], key[65], rec[4200] = "", id[160], was[160];
    identity(&m->st, id);
    if (realpath(path, abs)) {
        afm_sha256_hex(abs, strlen(abs), key);
        key[32] = '\0';
        snprintf(rec, sizeof rec, "%s/w%s.id", dir, key);
        if (!read_record(rec, sha, was) && !strcmp(was, id))
            return;
    }
    afm_sha256_hex(m->data, m->len, sha);
    path_identity(path, was);
    if (rec[0] && !strcmp(was, id)) {  /* unchanged while it was hashed */
        write_record(rec, sha, id, 0);
        afm_error_clear();
    }
}

/* The module `wasm` from the cache, compiling it first when it is not there (or damaged). */
static int from_cache(const afmpeg_runtime_options *o, const char *dir, const uint8_t *wasm,
                      size_t len, const afm_wasm_info *info, const char *sha, afm_module **out)
{
    const char *tc = afm_toolchain_id();
    char key_src[2048], key[65], so[4200], sum[4200], lock[4200];
    int err = AFMPEG_OK;
    snprintf(key_src, sizeof key_src, "%s\n%s", sha, tc ? tc : "no toolchain");
    afm_sha256_hex(key_src, strlen(key_src), key);
    key[32] = '\0';
    snprintf(so, sizeof so, "%s/%s.so", dir, key);
    snprintf(sum, sizeof sum, "%s/%s.sum", dir, key);
    snprintf(lock, sizeof lock, "%s/%s.lock", dir, key);
    if (cache_valid(so, sum))
        return load_so(so, out);
    if (!tc) /* nothing cached and nothing to compile with: afm_toolchain_id() said why */
        return AFMPEG_ENOTSUP;

    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return afm_error(AFMPEG_EIO, "cannot open %s: %s", lock, strerror(errno));
    while (flock(fd, LOCK_EX) && errno == EINTR)
        ;
    if (!cache_valid(so, sum)) { /* nobody compiled it meanwhile */
        unlink(sum);
        afm_compile_ctx ctx = {o->on_compile, o->compile_payload};
        err = afm_compile(wasm, len, info, sha, so, &ctx);
        char h[65], id[160];
        if (!err && file_sha256(so, h, id))
            err = afm_error(AFMPEG_EIO, "cannot read back %s", so);
        if (!err)
            err = write_record(sum, h, id, 1);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return err ? err : load_so(so, out);
}

/* Is this an ELF file (a module file) rather than a .wasm? */
static int is_elf(const void *data, size_t len)
{
    return len >= 4 && !memcmp(data, "\x7f" "ELF", 4);
}

static int check_sha(const char *want, const char *have, const char *what)
{
    if (!want)
        return AFMPEG_OK;
    if (strlen(want) != 64 || strspn(want, "0123456789abcdefABCDEF") != 64)
        return afm_error(AFMPEG_EINVAL, "module_sha256 is not 64 hex digits");
    if (strcasecmp(want, have))
        return afm_error(AFMPEG_EMODULE, "the %s has SHA-256 %s, not the expected %s", what,
                         have, want);
    return AFMPEG_OK;
}

int afm_module_open(const afmpeg_runtime_options *o, afm_module **out)
{
    *out = NULL;
    if (o->module_path && o->module_data)
        return afm_error(AFMPEG_EINVAL, "module_path and module_data are both set");
    if (o->module_data && !o->module_size)
        return afm_error(AFMPEG_EINVAL, "module_data is set but module_size is 0");
    mapped m = {.data = NULL};
    const uint8_t *data = o->module_data;
    size_t len = o->module_size;
    int err;
    if (o->module_path) {
        if ((err = map_file(o->module_path, &m)))
            return err;
        data = m.data;
        len = m.len;
        if (is_elf(data, len)) { /* a module file: load it as it is */
            unmap(&m);
            afm_module *mod;
            if ((err = load_so(o->module_path, &mod)))
                return err;
            if ((err = check_sha(o->module_sha256, mod->vt.sha256, "module file's .wasm"))) {
                afm_module_close(mod);
                return err;
            }
            *out = mod;
            return AFMPEG_OK;
        }
    }
    char dir[4096], sha[65];
    afm_wasm_info info;
    if ((err = cache_dir(o, dir, sizeof dir))) {
        unmap(&m);
        return err;
    }
    if (o->module_path)
        wasm_sha256(dir, o->module_path, &m, sha);
    else
        afm_sha256_hex(data, len, sha);
    if (!(err = check_sha(o->module_sha256, sha, "module")) &&
        !(err = afm_wasm_check(data, len, MAX_PAGES, &info)))
        err = from_cache(o, dir, data, len, &info, sha, out);
    unmap(&m);
    return err;
}

int afmpeg_module_compile(const char *wasm_path, const char *out_path,
                          const afmpeg_runtime_options *opts)
{
    afm_error_clear();
    if (!wasm_path || !out_path)
        return afm_error(AFMPEG_EINVAL, "%s is NULL", !wasm_path ? "wasm_path" : "out_path");
    if (opts && (opts->version < 1 || opts->version > AFMPEG_RUNTIME_OPTIONS_VERSION))
        return afm_error(AFMPEG_EINVAL, "runtime options version %u is not supported",
                         opts->version);
    mapped m;
    int err = map_file(wasm_path, &m);
    if (err)
        return err;
    char sha[65];
    afm_sha256_hex(m.data, m.len, sha);
    afm_wasm_info info;
    const char *want = opts && opts->version >= 2 ? opts->module_sha256 : NULL;
    if (is_elf(m.data, m.len))
        err = afm_error(AFMPEG_EINVAL, "%s is already a compiled module", wasm_path);
    else if (!(err = check_sha(want, sha, "module")) &&
             !(err = afm_wasm_check(m.data, m.len, MAX_PAGES, &info))) {
        afm_compile_ctx ctx = {opts && opts->version >= 2 ? opts->on_compile : NULL,
                               opts && opts->version >= 2 ? opts->compile_payload : NULL};
        err = afm_compile(m.data, m.len, &info, sha, out_path, &ctx);
    }
    unmap(&m);
    return err;
}
