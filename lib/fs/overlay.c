/* The job overlay: the caller's filesystem with a read-only directory ".afmpeg" of files the host
 * made for the job (concat lists), served from memory. Everything else goes to the caller's
 * filesystem untouched. Used by afmpeg_run_job(); never seen by callers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fs/fs.h"
#include "fs/overlay.h"

typedef struct overlay {
    afmpeg_fs *base;   /* the caller's, borrowed */
    afmpeg_fs *upper;  /* an in-memory filesystem holding ".afmpeg/..." */
    char scratch[AFM_PATH_MAX + 2]; /* ".afmpeg/NAME/", writable by the guest; "" if none */
} overlay;

/* A handle remembers which side it came from. */
typedef struct ov_handle {
    afmpeg_fs *fs;
    void *inner;
} ov_handle;

/* Whether the guest may write `path` (in the upper side): inside the scratch directory. */
static int writable(const overlay *ov, const char *path)
{
    size_t n = strlen(ov->scratch);
    return n > 0 && !strncmp(path, ov->scratch, n) && path[n] != '\0';
}

/* The side a normalised path belongs to. */
static afmpeg_fs *side(const overlay *ov, const char *path)
{
    size_t n = strlen(AFM_OVERLAY_DIR);
    if (!strncmp(path, AFM_OVERLAY_DIR, n) && (path[n] == '\0' || path[n] == '/'))
        return ov->upper;
    return ov->base;
}

static int ov_open(void *payload, const char *path, unsigned flags, void **out)
{
    overlay *ov = payload;
    afmpeg_fs *fs = side(ov, path);
    if (fs == ov->upper && (flags & (AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC)) &&
        !writable(ov, path))
        return -EROFS;
    ov_handle *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    int r = fs->ops.open(fs->payload, path, flags, &h->inner);
    if (r < 0) {
        free(h);
        return r;
    }
    h->fs = fs;
    *out = h;
    return 0;
}

static int ov_close(void *payload, void *handle)
{
    ov_handle *h = handle;
    int r = h->fs->ops.close(h->fs->payload, h->inner);
    free(h);
    return r;
}

static int64_t ov_pread(void *payload, void *handle, void *buf, size_t len, uint64_t off)
{
    ov_handle *h = handle;
    return h->fs->ops.pread(h->fs->payload, h->inner, buf, len, off);
}

static int64_t ov_pwrite(void *payload, void *handle, const void *buf, size_t len, uint64_t off)
{
    ov_handle *h = handle;
    return h->fs->ops.pwrite(h->fs->payload, h->inner, buf, len, off);
}

static int ov_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    ov_handle *h = handle;
    return h->fs->ops.fstat(h->fs->payload, h->inner, out);
}

static int ov_ftruncate(void *payload, void *handle, uint64_t size)
{
    ov_handle *h = handle;
    return h->fs->ops.ftruncate(h->fs->payload, h->inner, size);
}

static int ov_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    ov_handle *h = handle;
    return h->fs->ops.readdir(h->fs->payload, h->inner, index, out);
}

static int ov_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    afmpeg_fs *fs = side(payload, path);
    return fs->ops.stat(fs->payload, path, out);
}

/* Changes to the tree: refused inside the overlay directory, passed on elsewhere. */
static int ov_mkdir(void *payload, const char *path)
{
    afmpeg_fs *fs = side(payload, path);
    return fs == ((overlay *)payload)->upper ? -EROFS : fs->ops.mkdir(fs->payload, path);
}

static int ov_unlink(void *payload, const char *path)
{
    afmpeg_fs *fs = side(payload, path);
    return fs == ((overlay *)payload)->upper && !writable(payload, path)
               ? -EROFS
               : fs->ops.unlink(fs->payload, path);
}

static int ov_rmdir(void *payload, const char *path)
{
    afmpeg_fs *fs = side(payload, path);
    return fs == ((overlay *)payload)->upper ? -EROFS : fs->ops.rmdir(fs->payload, path);
}

static int ov_rename(void *payload, const char *from, const char *to)
{
    overlay *ov = payload;
    if (side(ov, from) == ov->upper || side(ov, to) == ov->upper)
        return -EROFS;
    return ov->base->ops.rename(ov->base->payload, from, to);
}

static void ov_destroy(void *payload)
{
    overlay *ov = payload;
    afmpeg_fs_free(ov->upper);
    free(ov);
}

int afm_overlay_new(afmpeg_fs *base, afmpeg_fs **out)
{
    static const afmpeg_fs_ops ops = {
        AFMPEG_FS_OPS_VERSION, ov_open, ov_close, ov_pread, ov_pwrite, ov_fstat, ov_ftruncate,
        ov_stat, ov_readdir, ov_mkdir, ov_unlink, ov_rmdir, ov_rename, ov_destroy,
    };
    *out = NULL;
    overlay *ov = calloc(1, sizeof *ov);
    if (!ov)
        return AFMPEG_ENOMEM;
    ov->base = base;
    int err = afmpeg_fs_new_memory(&ov->upper);
    if (!err)
        err = afmpeg_fs_mkdir(ov->upper, AFM_OVERLAY_DIR);
    if (!err)
        err = afmpeg_fs_new_custom(&ops, ov, out);
    if (err) {
        afmpeg_fs_free(ov->upper);
        free(ov);
    }
    return err;
}

int afm_overlay_put(afmpeg_fs *overlay_fs, const char *name, const void *data, size_t len)
{
    overlay *ov = overlay_fs->payload;
    char path[AFM_PATH_MAX + 1];
    size_t n = strlen(AFM_OVERLAY_DIR) + 1 + strlen(name);
    if (n > AFM_PATH_MAX)
        return AFMPEG_EINVAL;
    strcpy(path, AFM_OVERLAY_DIR "/");
    strcat(path, name);
    return afmpeg_fs_write_file(ov->upper, path, data, len);
}

int afm_overlay_scratch(afmpeg_fs *overlay_fs, const char *name)
{
    overlay *ov = overlay_fs->payload;
    char path[AFM_PATH_MAX + 1];
    int n = snprintf(path, sizeof path, "%s/%s", AFM_OVERLAY_DIR, name);
    if (n < 0 || (size_t)n + 1 > AFM_PATH_MAX || strchr(name, '/'))
        return AFMPEG_EINVAL;
    int err = afmpeg_fs_mkdir(ov->upper, path);
    if (!err)
        snprintf(ov->scratch, sizeof ov->scratch, "%s/", path);
    return err;
}
