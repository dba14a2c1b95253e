/* WASI preview1, the calls the FFmpeg module imports, over a per-job afmpeg_fs.
 *
 * Every pointer the guest passes is checked against its linear memory before use (EFAULT), every
 * path is resolved by afm_path_resolve() against the directory fd it is relative to, so nothing
 * outside the job's filesystem can be named. proc_exit unwinds to the host (afm_rt_exit). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "fs/fs.h"
#include "rt/rt.h"
#include "wasi/wasi.h"

/* The module's import signatures, as wasm2c declares them. */
#include "afm.h"

/* ---- WASI constants (preview1, wasi_snapshot_preview1.witx) ---------------------------------- */
enum {
    W_ESUCCESS = 0, W_E2BIG = 1, W_EACCES = 2, W_EAGAIN = 6, W_EBADF = 8, W_EEXIST = 20,
    W_EFAULT = 21, W_EFBIG = 22, W_EILSEQ = 25, W_EINVAL = 28, W_EIO = 29, W_EISDIR = 31,
    W_ELOOP = 32, W_EMFILE = 33, W_ENAMETOOLONG = 37, W_ENOENT = 44, W_ENOMEM = 48,
    W_ENOSPC = 51, W_ENOSYS = 52, W_ENOTDIR = 54, W_ENOTEMPTY = 55, W_ENOTSUP = 58,
    W_EOVERFLOW = 61, W_EPERM = 63, W_EROFS = 69, W_ESPIPE = 70, W_EXDEV = 75,
    W_ENOTCAPABLE = 76
};
enum { FT_UNKNOWN = 0, FT_DIRECTORY = 3, FT_REGULAR_FILE = 4 };
enum { OFLAG_CREAT = 1, OFLAG_DIRECTORY = 2, OFLAG_EXCL = 4, OFLAG_TRUNC = 8 };
enum { FDFLAG_APPEND = 1 };
enum { WHENCE_SET = 0, WHENCE_CUR = 1, WHENCE_END = 2 };
#define RIGHT_FD_READ (1ull << 1)
#define RIGHT_FD_SEEK (1ull << 2)
#define RIGHT_FD_TELL (1ull << 5)
#define RIGHT_FD_WRITE (1ull << 6)
#define RIGHT_FD_READDIR (1ull << 14)
#define RIGHTS_ALL 0x1fffffffull
#define RIGHTS_STDIO (RIGHT_FD_READ | RIGHT_FD_WRITE | (1ull << 27))
#define RIGHTS_FILE (RIGHTS_ALL & ~((1ull << 9) | (1ull << 10) | (1ull << 13) | RIGHT_FD_READDIR))

typedef afm_wasi W;

/* ---- guest memory ---------------------------------------------------------------------------- */

/* A host pointer to guest bytes [addr, addr+len), or NULL if any of them is outside memory. */
static uint8_t *gptr(W *w, uint32_t addr, uint64_t len)
{
    if ((uint64_t)addr + len > w->mem->size)
        return NULL;
    return w->mem->data + addr;
}

/* Little-endian stores and loads into guest memory: 1, or 0 if out of bounds. */
#define AFM_GUEST_ACCESS(name, type)                                                             \
    static int put_##name(W *w, uint32_t a, type v)                                             \
    {                                                                                            \
        uint8_t *p = gptr(w, a, sizeof v);                                                      \
        if (!p)                                                                                  \
            return 0;                                                                            \
        memcpy(p, &v, sizeof v);                                                                 \
        return 1;                                                                                \
    }
AFM_GUEST_ACCESS(u8, uint8_t)
AFM_GUEST_ACCESS(u16, uint16_t)
AFM_GUEST_ACCESS(u32, uint32_t)
AFM_GUEST_ACCESS(u64, uint64_t)

static int get_u32(W *w, uint32_t a, uint32_t *v)
{
    uint8_t *p = gptr(w, a, 4);
    if (!p)
        return 0;
    memcpy(v, p, 4);
    return 1;
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Host errno (negative, from a filesystem callback or afm_path_resolve) to WASI errno. */
static uint32_t werr(int neg)
{
    switch (-neg) {
    case 0: return W_ESUCCESS;
    case EACCES: return W_ENOTCAPABLE; /* leaving the job's filesystem */
    case EPERM: return W_EPERM;
    case EROFS: return W_EROFS;
    case EXDEV: return W_ENOTCAPABLE;
    case ELOOP: return W_ELOOP;
    case ENOENT: return W_ENOENT;
    case EEXIST: return W_EEXIST;
    case EISDIR: return W_EISDIR;
    case ENOTDIR: return W_ENOTDIR;
    case ENOTEMPTY: return W_ENOTEMPTY;
    case ENOMEM: return W_ENOMEM;
    case ENOSPC: return W_ENOSPC;
    case EFBIG: return W_EFBIG;
    case EINVAL: return W_EINVAL;
    case EILSEQ: return W_EILSEQ;
    case ENAMETOOLONG: return W_ENAMETOOLONG;
    case EBADF: return W_EBADF;
    case EMFILE: return W_EMFILE;
    case ENOTSUP: return W_ENOTSUP;
    case ENOSYS: return W_ENOSYS;
    case EOVERFLOW: return W_EOVERFLOW;
    case EAGAIN: return W_EAGAIN;
    default: return W_EIO;
    }
}

/* ---- buffers --------------------------------------------------------------------------------- */

static int buf_append(afm_buf *b, const void *data, size_t len)
{
    if (b->limit && len >= b->limit) { /* only the tail of this write survives */
        data = (const char *)data + (len - b->limit);
        len = b->limit;
        b->truncated = b->truncated || b->len > 0 || len > 0;
        b->len = 0;
    }
    if (b->limit && b->len + len > b->limit) { /* drop the oldest bytes */
        size_t drop = b->len + len - b->limit;
        memmove(b->data, b->data + drop, b->len - drop);
        b->len -= drop;
        b->truncated = 1;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return -ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

void afm_buf_free(afm_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static char **copy_strv(const char *const *v, int *count)
{
    int n = 0;
    while (v && v[n])
        n++;
    char **c = calloc((size_t)n + 1, sizeof *c);
    if (!c)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (!(c[i] = strdup(v[i]))) {
            while (i--)
                free(c[i]);
            free(c);
            return NULL;
        }
    }
    *count = n;
    return c;
}

static void free_strv(char **v)
{
    for (int i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int afm_wasi_init(W *w, afmpeg_fs *fs, const char *const *argv, const char *const *envv,
                  const afmpeg_job_options *opts)
{
    memset(w, 0, sizeof *w);
    w->fs = fs;
    w->argv = copy_strv(argv, &w->argc);
    w->envv = copy_strv(envv, &w->envc);
    w->fds[3].path = strdup("");
    if (!w->argv || !w->envv || !w->fds[3].path) {
        afm_wasi_release(w);
        return AFMPEG_ENOMEM;
    }
    w->fds[0].kind = AFM_FD_STDIN;
    w->fds[0].readable = 1;
    w->fds[1].kind = AFM_FD_STDOUT;
    w->fds[1].writable = 1;
    w->fds[2].kind = AFM_FD_STDERR;
    w->fds[2].writable = 1;
    w->fds[3].kind = AFM_FD_DIR;
    if (opts) {
        w->stdin_data = opts->stdin_data;
        w->stdin_len = opts->stdin_data ? opts->stdin_len : 0;
        w->on_stdout = opts->on_stdout;
        w->on_stderr = opts->on_stderr;
        w->output_payload = opts->output_payload;
        w->err.limit = opts->stderr_limit;
    }
    if (!w->err.limit)
        w->err.limit = 1u << 20;
    w->output_limit = UINT64_MAX;
    w->max_open_files = AFM_WASI_MAX_FDS;
    return AFMPEG_OK;
}

static void fd_release(W *w, afm_fd *f)
{
    if (f->handle)
        w->fs->ops.close(w->fs->payload, f->handle);
    free(f->path);
    memset(f, 0, sizeof *f);
}

void afm_wasi_release(W *w)
{
    for (int i = 0; i < AFM_WASI_MAX_FDS; i++)
        if (w->fds[i].kind != AFM_FD_FREE || w->fds[i].path)
            fd_release(w, &w->fds[i]);
    free_strv(w->argv);
    free_strv(w->envv);
    w->argv = w->envv = NULL;
}

/* ---- fds ------------------------------------------------------------------------------------- */

static afm_fd *fd_get(W *w, uint32_t fd)
{
    if (fd >= AFM_WASI_MAX_FDS || w->fds[fd].kind == AFM_FD_FREE)
        return NULL;
    return &w->fds[fd];
}

static int fd_alloc(W *w)
{
    for (int i = 4; i < AFM_WASI_MAX_FDS; i++)
        if (w->fds[i].kind == AFM_FD_FREE)
            return i;
    return -1;
}

/* Copies the guest path and resolves it against directory fd `dirfd` into out. WASI errno. */
static uint32_t resolve(W *w, uint32_t dirfd, uint32_t path, uint32_t len, char *out, size_t cap)
{
    afm_fd *d = fd_get(w, dirfd);
    if (!d)
        return W_EBADF;
    if (d->kind != AFM_FD_DIR)
        return W_ENOTDIR;
    if (len > AFM_PATH_MAX)
        return W_ENAMETOOLONG;
    const uint8_t *p = gptr(w, path, len);
    if (!p)
        return W_EFAULT;
    return werr(afm_path_resolve(d->path, (const char *)p, len, out, cap));
}

static uint8_t filetype(afmpeg_fs_type t)
{
    return t == AFMPEG_FS_TYPE_DIRECTORY ? FT_DIRECTORY
         : t == AFMPEG_FS_TYPE_FILE ? FT_REGULAR_FILE : FT_UNKNOWN;
}

static uint32_t put_filestat(W *w, uint32_t out, const afmpeg_fs_stat *st)
{
    uint8_t *p = gptr(w, out, 64);
    if (!p)
        return W_EFAULT;
    memset(p, 0, 64);
    put_u64(w, out + 8, st->ino);
    put_u8(w, out + 16, filetype(st->type));
    put_u64(w, out + 24, 1);
    put_u64(w, out + 32, st->size);
    put_u64(w, out + 40, (uint64_t)st->mtime_ns);
    put_u64(w, out + 48, (uint64_t)st->mtime_ns);
    put_u64(w, out + 56, (uint64_t)st->mtime_ns);
    return W_ESUCCESS;
}

/* ---- args, environment, clocks --------------------------------------------------------------- */

static uint32_t strv_sizes(W *w, char **v, int n, uint32_t count_out, uint32_t size_out)
{
    uint64_t size = 0;
    for (int i = 0; i < n; i++)
        size += strlen(v[i]) + 1;
    if (size > UINT32_MAX)
        return W_E2BIG;
    if (!put_u32(w, count_out, (uint32_t)n) || !put_u32(w, size_out, (uint32_t)size))
        return W_EFAULT;
    return W_ESUCCESS;
}

static uint32_t strv_get(W *w, char **v, int n, uint32_t ptrs, uint32_t buf)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        uint8_t *p = gptr(w, buf, len);
        if (!p || !put_u32(w, ptrs + 4u * (uint32_t)i, buf))
            return W_EFAULT;
        memcpy(p, v[i], len);
        buf += (uint32_t)len;
    }
    return W_ESUCCESS;
}

static u32 w_args_sizes_get(W *w, u32 count, u32 size)
{
    return strv_sizes(w, w->argv, w->argc, count, size);
}

static u32 w_args_get(W *w, u32 ptrs, u32 buf)
{
    return strv_get(w, w->argv, w->argc, ptrs, buf);
}

static u32 w_environ_sizes_get(W *w, u32 count, u32 size)
{
    return strv_sizes(w, w->envv, w->envc, count, size);
}

static u32 w_environ_get(W *w, u32 ptrs, u32 buf)
{
    return strv_get(w, w->envv, w->envc, ptrs, buf);
}

static u32 w_clock_time_get(W *w, u32 id, u64 precision, u32 out)
{
    static const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                    CLOCK_THREAD_CPUTIME_ID};
    struct timespec ts;
    if (id >= sizeof ids / sizeof ids[0])
        return W_EINVAL;
    /* Process CPU time would include the host's other threads: report the thread's. */
    if (clock_gettime(id == 2 ? CLOCK_THREAD_CPUTIME_ID : ids[id], &ts))
        return W_EIO;
    if (!put_u64(w, out, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec))
        return W_EFAULT;
    return W_ESUCCESS;
}

void w2c_wasi__snapshot__preview1_proc_exit(W *w, u32 code)
{
    afm_rt_exit((int)code);
}

/* poll_oneoff: clock subscriptions sleep (FFmpeg's av_usleep); fd subscriptions are always
 * ready, as files and captured stdio never block. */
static u32 w_poll_oneoff(W *w, u32 in, u32 out, u32 n, u32 nevents)
{
    if (!n)
        return W_EINVAL;
    if (!gptr(w, in, (uint64_t)n * 48) || !gptr(w, out, (uint64_t)n * 32))
        return W_EFAULT;
    uint64_t sleep_ns = UINT64_MAX;
    uint32_t ready = 0;
    for (u32 i = 0; i < n; i++) {
        uint8_t *s = gptr(w, in + 48 * i, 48);
        uint8_t tag = s[8];
        if (tag == 0) {
            uint32_t clock;
            uint64_t timeout;
            uint16_t flags;
            memcpy(&clock, s + 16, 4);
            memcpy(&timeout, s + 24, 8);
            memcpy(&flags, s + 40, 2);
            if (flags & 1) { /* absolute time on that clock */
                struct timespec now;
                clock_gettime(clock == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &now);
                uint64_t t = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
                timeout = timeout > t ? timeout - t : 0;
            }
            if (timeout < sleep_ns)
                sleep_ns = timeout;
        }
    }
    int any_fd = 0;
    for (u32 i = 0; i < n; i++)
        any_fd |= gptr(w, in + 48 * i, 48)[8] != 0;
    if (!any_fd && sleep_ns != UINT64_MAX) {
        /* A guest's sleep is capped at one second per call; it may loop. */
        if (sleep_ns > 1000000000u)
            sleep_ns = 1000000000u;
        struct timespec ts = {(time_t)(sleep_ns / 1000000000u), (long)(sleep_ns % 1000000000u)};
        nanosleep(&ts, NULL);
    }
    for (u32 i = 0; i < n; i++) {
        uint8_t *s = gptr(w, in + 48 * i, 48);
        uint8_t *e = gptr(w, out + 32 * ready, 32);
        uint8_t tag = s[8];
        if (any_fd && tag == 0)
            continue; /* fds are ready at once: the timers have not fired */
        memset(e, 0, 32);
        memcpy(e, s, 8); /* userdata */
        e[10] = tag;
        if (tag != 0) {
            uint32_t fd;
            memcpy(&fd, s + 16, 4);
            if (!fd_get(w, fd)) {
                uint16_t err = W_EBADF;
                memcpy(e + 8, &err, 2);
            }
        }
        ready++;
    }
    return put_u32(w, nevents, ready) ? W_ESUCCESS : W_EFAULT;
}

/* ---- fd calls -------------------------------------------------------------------------------- */

static u32 w_fd_prestat_get(W *w, u32 fd, u32 out)
{
    /* Only fd 3, the job's root, is preopened; it is named "/". */
    if (fd != 3 || w->fds[3].kind != AFM_FD_DIR)
        return W_EBADF;
    if (!put_u8(w, out, 0) || !put_u32(w, out + 4, 1))
        return W_EFAULT;
    return W_ESUCCESS;
}

static u32 w_fd_prestat_dir_name(W *w, u32 fd, u32 path, u32 len)
{
    if (fd != 3 || w->fds[3].kind != AFM_FD_DIR)
        return W_EBADF;
    if (len < 1)
        return W_ENAMETOOLONG;
    return put_u8(w, path, '/') ? W_ESUCCESS : W_EFAULT;
}

static u32 w_fd_close(W *w, u32 fd)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (fd > 3 && w->open_files > 0)
        w->open_files--;
    fd_release(w, f);
    return W_ESUCCESS;
}

static u32 w_fd_fdstat_get(W *w, u32 fd, u32 out)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    uint8_t *p = gptr(w, out, 24);
    if (!p)
        return W_EFAULT;
    uint8_t type = FT_UNKNOWN;
    uint64_t base = RIGHTS_STDIO, inheriting = 0;
    if (f->kind == AFM_FD_DIR) {
        type = FT_DIRECTORY;
        base = RIGHTS_ALL & ~(RIGHT_FD_READ | RIGHT_FD_WRITE | RIGHT_FD_SEEK | RIGHT_FD_TELL);
        inheriting = RIGHTS_ALL;
    } else if (f->kind == AFM_FD_FILE) {
        type = FT_REGULAR_FILE;
        base = RIGHTS_FILE;
        if (!f->readable)
            base &= ~RIGHT_FD_READ;
        if (!f->writable)
            base &= ~RIGHT_FD_WRITE;
    }
    memset(p, 0, 24);
    put_u8(w, out, type);
    put_u16(w, out + 2, f->append ? FDFLAG_APPEND : 0);
    put_u64(w, out + 8, base);
    put_u64(w, out + 16, inheriting);
    return W_ESUCCESS;
}

static u32 w_fd_fdstat_set_flags(W *w, u32 fd, u32 flags)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (flags & ~(uint32_t)FDFLAG_APPEND)
        return W_ENOTSUP;
    f->append = (flags & FDFLAG_APPEND) != 0;
    return W_ESUCCESS;
}

static u32 w_fd_filestat_get(W *w, u32 fd, u32 out)
{
    afm_fd *f = fd_get(w, fd);
    afmpeg_fs_stat st = {0};
    if (!f)
        return W_EBADF;
    if (f->handle) {
        int r = w->fs->ops.fstat(w->fs->payload, f->handle, &st);
        if (r < 0)
            return werr(r);
    } else if (f->kind == AFM_FD_DIR) {
        int r = w->fs->ops.stat(w->fs->payload, f->path, &st);
        if (r < 0)
            return werr(r);
    } else {
        st.type = AFMPEG_FS_TYPE_UNKNOWN;
    }
    /* stdio is neither a file nor a terminal to the guest: type unknown, as fd_fdstat_get says. */
    return put_filestat(w, out, &st);
}

void afm_wasi_set_sink(W *w, int fd, afmpeg_output_fn fn, void *payload)
{
    w->fds[fd].kind = AFM_FD_SINK;
    w->fds[fd].writable = 1;
    w->on_sink = fn;
    w->sink_payload = payload;
}

/* Output to stdout/stderr: the caller's callback, else the capture buffer; to the sink: the
 * host's hook, which cancels the job by returning non-zero. */
static uint32_t write_stdio(W *w, afm_fd *f, const void *data, size_t len)
{
    if (f->kind == AFM_FD_SINK) {
        if (w->on_sink(data, len, w->sink_payload))
            afm_rt_abort(AFMPEG_ECANCELLED);
        return W_ESUCCESS;
    }
    if (f->kind == AFM_FD_STDERR && w->on_stderr_tap)
        w->on_stderr_tap(data, len, w->tap_payload);
    afmpeg_output_fn fn = f->kind == AFM_FD_STDOUT ? w->on_stdout : w->on_stderr;
    if (fn)
        return fn(data, len, w->output_payload) ? W_EIO : W_ESUCCESS;
    return buf_append(f->kind == AFM_FD_STDOUT ? &w->out : &w->err, data, len) ? W_ENOMEM
                                                                                 : W_ESUCCESS;
}

static uint32_t do_write(W *w, u32 fd, u32 iovs, u32 n, int positional, uint64_t pos, u32 nout)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (!f->writable)
        return f->kind == AFM_FD_DIR ? W_EISDIR : W_EBADF;
    if (!gptr(w, iovs, (uint64_t)n * 8))
        return W_EFAULT;
    uint64_t total = 0;
    if (f->kind == AFM_FD_FILE && f->append && !positional) {
        afmpeg_fs_stat st;
        int r = w->fs->ops.fstat(w->fs->payload, f->handle, &st);
        if (r < 0)
            return werr(r);
        f->offset = st.size;
    }
    uint64_t off = positional ? pos : f->offset;
    for (u32 i = 0; i < n; i++) {
        uint32_t base = 0, len = 0;
        get_u32(w, iovs + 8 * i, &base);
        get_u32(w, iovs + 8 * i + 4, &len);
        const uint8_t *p = gptr(w, base, len);
        if (!p)
            return W_EFAULT;
        if (!len)
            continue;
        int counted = f->kind == AFM_FD_FILE || f->kind == AFM_FD_STDOUT;
        if (counted && len > w->output_limit - w->written) {
            snprintf(w->limit_msg, sizeof w->limit_msg,
                     "the job wrote more than its output limit of %llu bytes",
                     (unsigned long long)w->output_limit);
            afm_rt_abort(AFMPEG_ELIMIT);
        }
        if (counted)
            w->written += len;
        if (f->kind == AFM_FD_FILE) {
            int64_t r = w->fs->ops.pwrite(w->fs->payload, f->handle, p, len, off);
            if (r < 0) {
                if (total)
                    break;
                return werr((int)r);
            }
            off += (uint64_t)r;
            total += (uint64_t)r;
            if ((uint64_t)r < len)
                break;
        } else {
            uint32_t e = write_stdio(w, f, p, len);
            if (e)
                return e;
            total += len;
        }
    }
    if (f->kind == AFM_FD_FILE && !positional)
        f->offset = off;
    return put_u32(w, nout, (uint32_t)total) ? W_ESUCCESS : W_EFAULT;
}

static u32 w_fd_write(W *w, u32 fd, u32 iovs, u32 n, u32 nwritten)
{
    return do_write(w, fd, iovs, n, 0, 0, nwritten);
}

static u32 w_fd_read(W *w, u32 fd, u32 iovs, u32 n, u32 nread)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (!f->readable)
        return f->kind == AFM_FD_DIR ? W_EISDIR : W_EBADF;
    if (!gptr(w, iovs, (uint64_t)n * 8))
        return W_EFAULT;
    uint64_t total = 0;
    for (u32 i = 0; i < n; i++) {
        uint32_t base = 0, len = 0;
        get_u32(w, iovs + 8 * i, &base);
        get_u32(w, iovs + 8 * i + 4, &len);
        uint8_t *p = gptr(w, base, len);
        if (!p)
            return W_EFAULT;
        if (!len)
            continue;
        size_t got;
        if (f->kind == AFM_FD_STDIN) {
            size_t left = w->stdin_len - w->stdin_pos;
            got = len < left ? len : left;
            memcpy(p, w->stdin_data + w->stdin_pos, got);
            w->stdin_pos += got;
        } else {
            int64_t r = w->fs->ops.pread(w->fs->payload, f->handle, p, len, f->offset);
            if (r < 0) {
                if (total)
                    break;
                return werr((int)r);
            }
            got = (size_t)r;
            f->offset += got;
        }
        total += got;
        if (got < len)
            break;
    }
    return put_u32(w, nread, (uint32_t)total) ? W_ESUCCESS : W_EFAULT;
}

static u32 w_fd_seek(W *w, u32 fd, u64 offset, u32 whence, u32 out)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (f->kind != AFM_FD_FILE)
        return f->kind == AFM_FD_DIR ? W_EBADF : W_ESPIPE;
    int64_t base;
    if (whence == WHENCE_SET) {
        base = 0;
    } else if (whence == WHENCE_CUR) {
        base = (int64_t)f->offset;
    } else if (whence == WHENCE_END) {
        afmpeg_fs_stat st;
        int r = w->fs->ops.fstat(w->fs->payload, f->handle, &st);
        if (r < 0)
            return werr(r);
        base = (int64_t)st.size;
    } else {
        return W_EINVAL;
    }
    int64_t delta = (int64_t)offset, pos;
    if (__builtin_add_overflow(base, delta, &pos) || pos < 0)
        return W_EINVAL;
    f->offset = (uint64_t)pos;
    return put_u64(w, out, f->offset) ? W_ESUCCESS : W_EFAULT;
}

static u32 w_fd_readdir(W *w, u32 fd, u32 buf, u32 len, u64 cookie, u32 used)
{
    afm_fd *f = fd_get(w, fd);
    if (!f)
        return W_EBADF;
    if (f->kind != AFM_FD_DIR)
        return W_ENOTDIR;
    if (!gptr(w, buf, len))
        return W_EFAULT;
    if (!f->handle) { /* the preopened root gets a handle of its own when first listed */
        int r = w->fs->ops.open(w->fs->payload, f->path, AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY,
                                &f->handle);
        if (r < 0)
            return werr(r);
    }
    void *h = f->handle;
    uint32_t pos = 0;
    uint32_t err = W_ESUCCESS;
    for (uint64_t i = cookie; pos < len; i++) {
        afmpeg_fs_dirent d;
        int r = w->fs->ops.readdir(w->fs->payload, h, i, &d);
        if (r < 0) {
            err = werr(r);
            break;
        }
        if (r == 0)
            break;
        uint8_t ent[24] = {0};
        uint64_t next = i + 1, ino = d.ino;
        uint32_t namelen = (uint32_t)strnlen(d.name, sizeof d.name);
        memcpy(ent, &next, 8);
        memcpy(ent + 8, &ino, 8);
        memcpy(ent + 16, &namelen, 4);
        ent[20] = filetype(d.type);
        /* Entries that do not fit are cut: the guest sees a full buffer and asks again. */
        uint32_t n = len - pos < 24 ? len - pos : 24;
        memcpy(w->mem->data + buf + pos, ent, n);
        pos += n;
        n = len - pos < namelen ? len - pos : namelen;
        memcpy(w->mem->data + buf + pos, d.name, n);
        pos += n;
    }
    if (err)
        return err;
    return put_u32(w, used, pos) ? W_ESUCCESS : W_EFAULT;
}

/* ---- path calls ------------------------------------------------------------------------------ */

static u32 w_path_open(W *w, u32 dirfd, u32 dirflags, u32 path, u32 path_len,
                                        u32 oflags, u64 rights, u64 inheriting, u32 fdflags,
                                        u32 out)
{
    char p[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, dirfd, path, path_len, p, sizeof p);
    if (e)
        return e;
    if (!gptr(w, out, 4))
        return W_EFAULT;
    int want_read = (rights & (RIGHT_FD_READ | RIGHT_FD_READDIR)) != 0;
    int want_write = (rights & RIGHT_FD_WRITE) != 0;
    int want_dir = (oflags & OFLAG_DIRECTORY) != 0;
    if (!want_dir && !(oflags & OFLAG_CREAT)) {
        /* Opening an existing directory without O_DIRECTORY (e.g. to stat it) is allowed for
         * reading only. */
        afmpeg_fs_stat st;
        if (w->fs->ops.stat(w->fs->payload, p, &st) == 0 &&
            st.type == AFMPEG_FS_TYPE_DIRECTORY) {
            if (want_write)
                return W_EISDIR;
            want_dir = 1;
        }
    }
    if (w->open_files >= w->max_open_files) {
        snprintf(w->limit_msg, sizeof w->limit_msg,
                 "the job opened more than its limit of %u files at once", w->max_open_files);
        afm_rt_abort(AFMPEG_ELIMIT);
    }
    int fd = fd_alloc(w);
    if (fd < 0)
        return W_EMFILE;
    unsigned flags = 0;
    if (want_dir) {
        flags = AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY;
    } else {
        if (want_read || !want_write)
            flags |= AFMPEG_FS_READ;
        if (want_write)
            flags |= AFMPEG_FS_WRITE;
        if (oflags & OFLAG_CREAT)
            flags |= AFMPEG_FS_CREATE;
        if (oflags & OFLAG_EXCL)
            flags |= AFMPEG_FS_EXCL;
        if (oflags & OFLAG_TRUNC)
            flags |= AFMPEG_FS_TRUNC;
    }
    void *h = NULL;
    int r = w->fs->ops.open(w->fs->payload, p, flags, &h);
    if (r < 0)
        return werr(r);
    afm_fd *f = &w->fds[fd];
    memset(f, 0, sizeof *f);
    f->handle = h;
    if (want_dir) {
        if (!(f->path = strdup(p))) {
            w->fs->ops.close(w->fs->payload, h);
            return W_ENOMEM;
        }
        f->kind = AFM_FD_DIR;
    } else {
        f->kind = AFM_FD_FILE;
        f->readable = (flags & AFMPEG_FS_READ) != 0;
        f->writable = (flags & AFMPEG_FS_WRITE) != 0;
        f->append = (fdflags & FDFLAG_APPEND) != 0;
    }
    w->open_files++;
    put_u32(w, out, (uint32_t)fd);
    return W_ESUCCESS;
}

static u32 w_path_filestat_get(W *w, u32 dirfd, u32 flags, u32 path, u32 len,
                                                u32 out)
{
    char p[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, dirfd, path, len, p, sizeof p);
    if (e)
        return e;
    afmpeg_fs_stat st;
    int r = w->fs->ops.stat(w->fs->payload, p, &st);
    if (r < 0)
        return werr(r);
    return put_filestat(w, out, &st);
}

static u32 w_path_create_directory(W *w, u32 dirfd, u32 path, u32 len)
{
    char p[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, dirfd, path, len, p, sizeof p);
    return e ? e : werr(w->fs->ops.mkdir(w->fs->payload, p));
}

static u32 w_path_remove_directory(W *w, u32 dirfd, u32 path, u32 len)
{
    char p[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, dirfd, path, len, p, sizeof p);
    if (e)
        return e;
    if (!*p)
        return W_EPERM; /* the root itself cannot be removed */
    return werr(w->fs->ops.rmdir(w->fs->payload, p));
}

static u32 w_path_unlink_file(W *w, u32 dirfd, u32 path, u32 len)
{
    char p[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, dirfd, path, len, p, sizeof p);
    return e ? e : werr(w->fs->ops.unlink(w->fs->payload, p));
}

static u32 w_path_rename(W *w, u32 fd, u32 from, u32 from_len, u32 newfd,
                                          u32 to, u32 to_len)
{
    char a[AFM_PATH_MAX + 1], b[AFM_PATH_MAX + 1];
    uint32_t e = resolve(w, fd, from, from_len, a, sizeof a);
    if (!e)
        e = resolve(w, newfd, to, to_len, b, sizeof b);
    if (e)
        return e;
    if (!*a || !*b)
        return W_EPERM; /* the root itself cannot be moved or replaced */
    return werr(w->fs->ops.rename(w->fs->payload, a, b));
}

/* ---- the imports ----------------------------------------------------------------------------
 * Each runs as host code (afm_rt_host_enter/leave): a cancel or deadline that arrives meanwhile
 * takes effect when it returns, never half-way through a filesystem call. */
#define AFM_IMPORT(name, params, args)                                                             \
    u32 w2c_wasi__snapshot__preview1_##name params                                                    \
    {                                                                                              \
        afm_rt_host_enter();                                                                       \
        u32 r = w_##name args;                                                                     \
        afm_rt_host_leave();                                                                       \
        return r;                                                                                  \
    }

AFM_IMPORT(args_sizes_get, (W *w, u32 count, u32 size), (w, count, size))
AFM_IMPORT(args_get, (W *w, u32 ptrs, u32 buf), (w, ptrs, buf))
AFM_IMPORT(environ_sizes_get, (W *w, u32 count, u32 size), (w, count, size))
AFM_IMPORT(environ_get, (W *w, u32 ptrs, u32 buf), (w, ptrs, buf))
AFM_IMPORT(clock_time_get, (W *w, u32 id, u64 precision, u32 out), (w, id, precision, out))
AFM_IMPORT(poll_oneoff, (W *w, u32 in, u32 out, u32 n, u32 nevents), (w, in, out, n, nevents))
AFM_IMPORT(fd_prestat_get, (W *w, u32 fd, u32 out), (w, fd, out))
AFM_IMPORT(fd_prestat_dir_name, (W *w, u32 fd, u32 path, u32 len), (w, fd, path, len))
AFM_IMPORT(fd_close, (W *w, u32 fd), (w, fd))
AFM_IMPORT(fd_fdstat_get, (W *w, u32 fd, u32 out), (w, fd, out))
AFM_IMPORT(fd_fdstat_set_flags, (W *w, u32 fd, u32 flags), (w, fd, flags))
AFM_IMPORT(fd_filestat_get, (W *w, u32 fd, u32 out), (w, fd, out))
AFM_IMPORT(fd_write, (W *w, u32 fd, u32 iovs, u32 n, u32 nwritten), (w, fd, iovs, n, nwritten))
AFM_IMPORT(fd_read, (W *w, u32 fd, u32 iovs, u32 n, u32 nread), (w, fd, iovs, n, nread))
AFM_IMPORT(fd_seek, (W *w, u32 fd, u64 offset, u32 whence, u32 out), (w, fd, offset, whence, out))
AFM_IMPORT(fd_readdir, (W *w, u32 fd, u32 buf, u32 len, u64 cookie, u32 used),
           (w, fd, buf, len, cookie, used))
AFM_IMPORT(path_open, (W *w, u32 dirfd, u32 dirflags, u32 path, u32 path_len, u32 oflags,
                       u64 rights, u64 inheriting, u32 fdflags, u32 out),
           (w, dirfd, dirflags, path, path_len, oflags, rights, inheriting, fdflags, out))
AFM_IMPORT(path_filestat_get, (W *w, u32 dirfd, u32 flags, u32 path, u32 len, u32 out),
           (w, dirfd, flags, path, len, out))
AFM_IMPORT(path_create_directory, (W *w, u32 dirfd, u32 path, u32 len), (w, dirfd, path, len))
AFM_IMPORT(path_remove_directory, (W *w, u32 dirfd, u32 path, u32 len), (w, dirfd, path, len))
AFM_IMPORT(path_unlink_file, (W *w, u32 dirfd, u32 path, u32 len), (w, dirfd, path, len))
AFM_IMPORT(path_rename, (W *w, u32 fd, u32 from, u32 from_len, u32 newfd, u32 to, u32 to_len),
           (w, fd, from, from_len, newfd, to, to_len))
