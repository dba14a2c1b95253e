/* The filesystem object: checking and completing a set of callbacks, and the host-side helpers,
 * which go through the same callbacks and path rules as the guest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "core/errors.h"
#include "fs/fs.h"

void afmpeg_free(void *ptr)
{
    free(ptr);
}

int afm_fs_errno_to_error(int neg_errno)
{
    switch (-neg_errno) {
    case 0:
        return AFMPEG_OK;
    case ENOENT:
        return AFMPEG_ENOENT;
    case EEXIST:
        return AFMPEG_EEXIST;
    case EACCES:
    case EPERM:
    case EXDEV:
    case ELOOP:
        return AFMPEG_EACCES;
    case EISDIR:
        return AFMPEG_EISDIR;
    case ENOTDIR:
        return AFMPEG_ENOTDIR;
    case ENOMEM:
        return AFMPEG_ENOMEM;
    case EINVAL:
    case EILSEQ:
    case ENAMETOOLONG:
        return AFMPEG_EINVAL;
    case ENOTSUP:
        return AFMPEG_ENOTSUP;
    default:
        return AFMPEG_EIO;
    }
}

/* Stand-ins for the optional callbacks, so callers never test a slot for NULL. */
static int stub_ftruncate(void *payload, void *handle, uint64_t size)
{
    return -ENOTSUP;
}

static int stub_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    return -ENOTSUP;
}

static int stub_path(void *payload, const char *path)
{
    return -ENOTSUP;
}

static int stub_rename(void *payload, const char *from, const char *to)
{
    return -ENOTSUP;
}

static void stub_destroy(void *payload)
{
}

/* Every public call of this file ends here: on failure the message names the path and the
 * error, on success it is cleared (afmpeg_last_error()). */
static int fs_done(int err, const char *path)
{
    if (!err) {
        afm_error_clear();
        return AFMPEG_OK;
    }
    if (path)
        return afm_error(err, "%.300s: %s", path, afmpeg_strerror(err));
    return afm_error(err, "%s", afmpeg_strerror(err));
}

int afmpeg_fs_new_custom(const afmpeg_fs_ops *ops, void *payload, afmpeg_fs **out)
{
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!ops)
        return afm_error(AFMPEG_EINVAL, "ops is NULL");
    if (ops->version != AFMPEG_FS_OPS_VERSION)
        return afm_error(AFMPEG_EINVAL, "fs ops version %u is not supported (this library "
                         "knows %d)", ops->version, AFMPEG_FS_OPS_VERSION);
    if (!ops->open || !ops->close || !ops->pread || !ops->pwrite || !ops->fstat || !ops->stat)
        return afm_error(AFMPEG_EINVAL, "ops lacks %s, which every filesystem needs",
                         !ops->open ? "open" : !ops->close ? "close" : !ops->pread ? "pread"
                         : !ops->pwrite ? "pwrite" : !ops->fstat ? "fstat" : "stat");
    afmpeg_fs *fs = malloc(sizeof *fs);
    if (!fs)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    fs->ops = *ops;
    fs->payload = payload;
    if (!fs->ops.ftruncate)
        fs->ops.ftruncate = stub_ftruncate;
    if (!fs->ops.readdir)
        fs->ops.readdir = stub_readdir;
    if (!fs->ops.mkdir)
        fs->ops.mkdir = stub_path;
    if (!fs->ops.unlink)
        fs->ops.unlink = stub_path;
    if (!fs->ops.rmdir)
        fs->ops.rmdir = stub_path;
    if (!fs->ops.rename)
        fs->ops.rename = stub_rename;
    if (!fs->ops.destroy)
        fs->ops.destroy = stub_destroy;
    *out = fs;
    afm_error_clear();
    return AFMPEG_OK;
}

void afmpeg_fs_free(afmpeg_fs *fs)
{
    if (!fs)
        return;
    fs->ops.destroy(fs->payload);
    free(fs);
}

/* Resolves a host-side path as the guest's would be from its current directory, the root. */
static int host_path(const afmpeg_fs *fs, const char *path, char out[AFM_PATH_MAX + 1])
{
    if (!fs || !path)
        return AFMPEG_EINVAL;
    return afm_fs_errno_to_error(afm_path_resolve("", path, strlen(path), out, AFM_PATH_MAX + 1));
}

/* The error for a pread/pwrite result that is not a usable byte count: the callback's -errno if
 * it is one, else -EIO (a callback that makes no progress or claims more than it was given). */
static int io_error(int64_t n)
{
    return n < 0 && n > -4096 ? (int)n : -EIO;
}

static int fs_write_file(afmpeg_fs *fs, const char *path, const void *data, size_t len)
{
    char p[AFM_PATH_MAX + 1];
    int rc = host_path(fs, path, p);
    if (rc)
        return rc;
    if (!data && len > 0)
        return AFMPEG_EINVAL;
    void *h;
    rc = fs->ops.open(fs->payload, p, AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC, &h);
    if (rc)
        return afm_fs_errno_to_error(rc);
    for (size_t done = 0; done < len && !rc;) {
        int64_t n = fs->ops.pwrite(fs->payload, h, (const char *)data + done, len - done, done);
        if (n <= 0 || (uint64_t)n > len - done)
            rc = io_error(n);
        else
            done += (size_t)n;
    }
    int crc = fs->ops.close(fs->payload, h);
    return afm_fs_errno_to_error(rc ? rc : crc);
}

/* Reads an open file to its end into a new NUL-terminated buffer. The size fstat gives is only
 * a hint, as the file may change while we read; room for the NUL and one spare byte lets the
 * final read see the end without growing the buffer. */
static int read_all(afmpeg_fs *fs, void *h, char **out, size_t *out_len)
{
    afmpeg_fs_stat st;
    int rc = fs->ops.fstat(fs->payload, h, &st);
    if (rc)
        return rc;
    if (st.type == AFMPEG_FS_TYPE_DIRECTORY)
        return -EISDIR;
    if (st.size > SIZE_MAX - 2)
        return -ENOMEM;
    size_t cap = (size_t)st.size + 2, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap - 1) {
            char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        int64_t n = fs->ops.pread(fs->payload, h, buf + len, cap - 1 - len, len);
        if (n == 0) {
            buf[len] = '\0';
            *out = buf;
            *out_len = len;
            return 0;
        }
        if (n < 0 || (uint64_t)n > cap - 1 - len) {
            rc = io_error(n);
            break;
        }
        len += (size_t)n;
    }
    free(buf);
    return rc;
}

static int fs_read_file(afmpeg_fs *fs, const char *path, void **out_data, size_t *out_len)
{
    if (!out_data || !out_len)
        return AFMPEG_EINVAL;
    *out_data = NULL;
    *out_len = 0;
    char p[AFM_PATH_MAX + 1];
    int rc = host_path(fs, path, p);
    if (rc)
        return rc;
    void *h;
    rc = fs->ops.open(fs->payload, p, AFMPEG_FS_READ, &h);
    if (rc)
        return afm_fs_errno_to_error(rc);
    char *buf = NULL;
    size_t len = 0;
    rc = read_all(fs, h, &buf, &len);
    int crc = fs->ops.close(fs->payload, h);
    if (!rc)
        rc = crc;
    if (rc) {
        free(buf);
        return afm_fs_errno_to_error(rc);
    }
    *out_data = buf;
    *out_len = len;
    return AFMPEG_OK;
}

static int fs_mkdir(afmpeg_fs *fs, const char *path)
{
    char p[AFM_PATH_MAX + 1];
    int rc = host_path(fs, path, p);
    return rc ? rc : afm_fs_errno_to_error(fs->ops.mkdir(fs->payload, p));
}

static int fs_remove(afmpeg_fs *fs, const char *path)
{
    char p[AFM_PATH_MAX + 1];
    int rc = host_path(fs, path, p);
    return rc ? rc : afm_fs_errno_to_error(fs->ops.unlink(fs->payload, p));
}

static int fs_stat(afmpeg_fs *fs, const char *path, afmpeg_fs_stat *out)
{
    char p[AFM_PATH_MAX + 1];
    int rc = out ? host_path(fs, path, p) : AFMPEG_EINVAL;
    return rc ? rc : afm_fs_errno_to_error(fs->ops.stat(fs->payload, p, out));
}

int afmpeg_fs_write_file(afmpeg_fs *fs, const char *path, const void *data, size_t len)
{
    return fs_done(fs_write_file(fs, path, data, len), path);
}

int afmpeg_fs_read_file(afmpeg_fs *fs, const char *path, void **out_data, size_t *out_len)
{
    return fs_done(fs_read_file(fs, path, out_data, out_len), path);
}

int afmpeg_fs_mkdir(afmpeg_fs *fs, const char *path)
{
    return fs_done(fs_mkdir(fs, path), path);
}

int afmpeg_fs_remove(afmpeg_fs *fs, const char *path)
{
    return fs_done(fs_remove(fs, path), path);
}

int afmpeg_fs_stat_path(afmpeg_fs *fs, const char *path, afmpeg_fs_stat *out)
{
    return fs_done(fs_stat(fs, path, out), path);
}
