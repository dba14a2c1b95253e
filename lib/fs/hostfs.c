/*
 * A host directory, jailed to itself. Every path is resolved by the kernel with openat2() and
 * RESOLVE_BENEATH, relative to a descriptor of the root taken at construction: "..", absolute
 * paths and symlinks that lead out fail inside the kernel's own walk, so no check-then-use race
 * can let a path escape. Operations on a last component (mkdir, unlink, rmdir, rename) run as
 * *at() calls in its parent directory opened that way; those calls never follow the last
 * component. The filesystem holds no mutable state of its own; a handle's state (its directory
 * stream) is used only by the job that opened it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "core/errors.h"
#include "fs/fs.h"

#define HOSTFS_OPEN_FLAGS (AFMPEG_FS_READ | AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC | \
                           AFMPEG_FS_EXCL | AFMPEG_FS_DIRECTORY)

typedef struct hostfs {
    int root; /* O_PATH descriptor of the jail's root */
} hostfs;

typedef struct hosthandle {
    int fd;
    DIR *dir;      /* opened by the first readdir, on a duplicate of fd */
    uint64_t next; /* index of the entry the next readdir(dir) returns */
} hosthandle;

/* Opens `path` ("" for the root) beneath the root: a descriptor, or -errno. */
static int jail_open(const hostfs *fs, const char *path, uint64_t flags, uint64_t mode)
{
    struct open_how how = {
        .flags = flags | O_CLOEXEC,
        .mode = mode,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int retries = 8;
    for (;;) {
        long fd = syscall(SYS_openat2, fs->root, *path ? path : ".", &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        /* EAGAIN: a concurrent rename made the kernel unsure the walk stayed beneath the root;
         * the call may be retried. */
        if (errno == EINTR || (errno == EAGAIN && retries-- > 0))
            continue;
        /* EXDEV is how RESOLVE_BENEATH reports an escape; the guest sees a refusal. */
        return errno == EXDEV ? -EACCES : -errno;
    }
}

/* Opens the directory holding the last component of `path` (not the root); *leaf points at the
 * component. */
static int parent_open(const hostfs *fs, const char *path, const char **leaf)
{
    const char *slash = strrchr(path, '/');
    *leaf = slash ? slash + 1 : path;
    /* Normalised paths never end in these; refuse them rather than act on the parent or above. */
    if (!strcmp(*leaf, "") || !strcmp(*leaf, ".") || !strcmp(*leaf, ".."))
        return -EINVAL;
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len > AFM_PATH_MAX)
        return -ENAMETOOLONG;
    char dir[AFM_PATH_MAX + 1];
    memcpy(dir, path, len);
    dir[len] = '\0';
    return jail_open(fs, dir, O_PATH | O_DIRECTORY, 0);
}

static void fill_stat(const struct stat *st, afmpeg_fs_stat *out)
{
    out->type = S_ISDIR(st->st_mode)   ? AFMPEG_FS_TYPE_DIRECTORY
                : S_ISREG(st->st_mode) ? AFMPEG_FS_TYPE_FILE
                                       : AFMPEG_FS_TYPE_UNKNOWN;
    out->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    out->ino = st->st_ino;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int hostfs_open(void *payload, const char *path, unsigned flags, void **out)
{
    if ((flags & ~HOSTFS_OPEN_FLAGS) ||
        ((flags & AFMPEG_FS_DIRECTORY) && (flags & AFMPEG_FS_CREATE)))
        return -EINVAL;
    /* O_NONBLOCK so that opening a FIFO cannot hang the job, and O_NOCTTY so that a terminal
     * cannot become ours, before either is refused below. */
    int oflags = O_NONBLOCK | O_NOCTTY;
    if ((flags & AFMPEG_FS_READ) && (flags & AFMPEG_FS_WRITE))
        oflags |= O_RDWR;
    else if (flags & AFMPEG_FS_WRITE)
        oflags |= O_WRONLY;
    else
        oflags |= O_RDONLY;
    if (flags & AFMPEG_FS_CREATE)
        oflags |= O_CREAT;
    if (flags & AFMPEG_FS_TRUNC)
        oflags |= O_TRUNC;
    if (flags & AFMPEG_FS_EXCL)
        oflags |= O_EXCL;
    if (flags & AFMPEG_FS_DIRECTORY)
        oflags |= O_DIRECTORY;
    hosthandle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->fd = jail_open(payload, path, (uint64_t)oflags, flags & AFMPEG_FS_CREATE ? 0644 : 0);
    if (h->fd < 0) {
        int rc = h->fd;
        free(h);
        return rc;
    }
    /* Only files and directories: pread/pwrite mean nothing on FIFOs, sockets and devices. */
    struct stat st;
    int rc = fstat(h->fd, &st) ? -errno : 0;
    if (!rc && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        rc = -ENXIO;
    if (!rc && fcntl(h->fd, F_SETFL, 0)) /* O_NONBLOCK is the only status flag we set */
        rc = -errno;
    if (rc) {
        close(h->fd);
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

static int hostfs_close(void *payload, void *handle)
{
    hosthandle *h = handle;
    if (h->dir)
        closedir(h->dir);
    int rc = close(h->fd) ? -errno : 0;
    free(h);
    /* The descriptor is released even when close() reports EINTR. */
    return rc == -EINTR ? 0 : rc;
}

static int64_t hostfs_pread(void *payload, void *handle, void *buf, size_t len, uint64_t offset)
{
    hosthandle *h = handle;
    if (offset > INT64_MAX)
        return -EINVAL;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    ssize_t n;
    do
        n = pread(h->fd, buf, len, (off_t)offset);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int64_t hostfs_pwrite(void *payload, void *handle, const void *buf, size_t len,
                             uint64_t offset)
{
    hosthandle *h = handle;
    if (offset > INT64_MAX)
        return -EFBIG;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    ssize_t n;
    do
        n = pwrite(h->fd, buf, len, (off_t)offset);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int hostfs_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    hosthandle *h = handle;
    struct stat st;
    if (fstat(h->fd, &st))
        return -errno;
    fill_stat(&st, out);
    return 0;
}

static int hostfs_ftruncate(void *payload, void *handle, uint64_t size)
{
    hosthandle *h = handle;
    if (size > INT64_MAX)
        return -EFBIG;
    int rc;
    do
        rc = ftruncate(h->fd, (off_t)size);
    while (rc && errno == EINTR);
    return rc ? -errno : 0;
}

/* Follows symlinks, but only through openat2(), so one leading out fails like any escape. */
static int hostfs_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    int fd = jail_open(payload, path, O_PATH, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : 0;
    close(fd);
    if (!rc)
        fill_stat(&st, out);
    return rc;
}

static afmpeg_fs_type dirent_type(DIR *dir, const struct dirent *e)
{
    struct stat st;
    switch (e->d_type) {
    case DT_DIR:
        return AFMPEG_FS_TYPE_DIRECTORY;
    case DT_REG:
        return AFMPEG_FS_TYPE_FILE;
    case DT_UNKNOWN: /* some filesystems leave it to us; the name is a plain entry of dir */
        if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return S_ISDIR(st.st_mode)   ? AFMPEG_FS_TYPE_DIRECTORY
                   : S_ISREG(st.st_mode) ? AFMPEG_FS_TYPE_FILE
                                         : AFMPEG_FS_TYPE_UNKNOWN;
        return AFMPEG_FS_TYPE_UNKNOWN;
    default: /* symlinks included: the guest stats the path to learn where one leads */
        return AFMPEG_FS_TYPE_UNKNOWN;
    }
}

static int hostfs_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    hosthandle *h = handle;
    if (!h->dir) {
        /* A duplicate, because closedir() closes the descriptor it was given. */
        int fd = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        h->dir = fdopendir(fd);
        if (!h->dir) {
            int rc = -errno;
            close(fd);
            return rc;
        }
    }
    /* Sequential reads cost one step each; going back starts over. */
    if (index < h->next) {
        rewinddir(h->dir);
        h->next = 0;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(h->dir);
        if (!e)
            return errno ? -errno : 0;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (h->next++ < index)
            continue;
        size_t len = strlen(e->d_name);
        if (len >= sizeof out->name)
            return -ENAMETOOLONG;
        memcpy(out->name, e->d_name, len + 1);
        out->type = dirent_type(h->dir, e);
        out->ino = e->d_ino;
        return 1;
    }
}

static int hostfs_mkdir(void *payload, const char *path)
{
    if (!*path)
        return -EEXIST;
    const char *leaf;
    int dfd = parent_open(payload, path, &leaf);
    if (dfd < 0)
        return dfd;
    int rc = mkdirat(dfd, leaf, 0755) ? -errno : 0;
    close(dfd);
    return rc;
}

static int remove_at(const hostfs *fs, const char *path, int flags)
{
    const char *leaf;
    int dfd = parent_open(fs, path, &leaf);
    if (dfd < 0)
        return dfd;
    int rc = unlinkat(dfd, leaf, flags) ? -errno : 0;
    close(dfd);
    return rc;
}

static int hostfs_unlink(void *payload, const char *path)
{
    return *path ? remove_at(payload, path, 0) : -EISDIR;
}

static int hostfs_rmdir(void *payload, const char *path)
{
    return *path ? remove_at(payload, path, AT_REMOVEDIR) : -EBUSY;
}

static int hostfs_rename(void *payload, const char *from, const char *to)
{
    if (!*from || !*to)
        return -EBUSY;
    const char *fleaf, *tleaf;
    int fdir = parent_open(payload, from, &fleaf);
    if (fdir < 0)
        return fdir;
    int tdir = parent_open(payload, to, &tleaf);
    int rc = tdir;
    if (tdir >= 0) {
        rc = renameat(fdir, fleaf, tdir, tleaf) ? -errno : 0;
        close(tdir);
    }
    close(fdir);
    return rc;
}

static void hostfs_destroy(void *payload)
{
    hostfs *fs = payload;
    close(fs->root);
    free(fs);
}

static const afmpeg_fs_ops hostfs_ops = {
    .version = AFMPEG_FS_OPS_VERSION,
    .open = hostfs_open,
    .close = hostfs_close,
    .pread = hostfs_pread,
    .pwrite = hostfs_pwrite,
    .fstat = hostfs_fstat,
    .ftruncate = hostfs_ftruncate,
    .stat = hostfs_stat,
    .readdir = hostfs_readdir,
    .mkdir = hostfs_mkdir,
    .unlink = hostfs_unlink,
    .rmdir = hostfs_rmdir,
    .rename = hostfs_rename,
    .destroy = hostfs_destroy,
};

int afmpeg_fs_new_hostdir(const char *dir, afmpeg_fs **out)
{
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    if (!dir)
        return afm_error(AFMPEG_EINVAL, "dir is NULL");
    hostfs *fs = malloc(sizeof *fs);
    if (!fs)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    fs->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fs->root < 0) {
        int e = errno, rc = afm_fs_errno_to_error(-e);
        free(fs);
        return afm_error(rc, "%.300s: %s", dir, strerror(e));
    }
    /* Without openat2 (Linux < 5.6, or filtered by seccomp: ENOSYS or EPERM) there is no jail;
     * refuse rather than run unconfined. */
    int fd = jail_open(fs, "", O_PATH | O_DIRECTORY, 0);
    if (fd < 0) {
        hostfs_destroy(fs);
        if (fd == -ENOSYS || fd == -EPERM)
            return afm_error(AFMPEG_ENOTSUP, "this kernel cannot jail a directory (openat2 with "
                             "RESOLVE_BENEATH is missing or filtered): refusing to run unjailed");
        return afm_error(afm_fs_errno_to_error(fd), "%.300s: %s", dir, strerror(-fd));
    }
    close(fd);
    int rc = afmpeg_fs_new_custom(&hostfs_ops, fs, out);
    if (rc)
        hostfs_destroy(fs);
    return rc;
}
