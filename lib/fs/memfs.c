/* The in-memory filesystem: a tree of nodes under one mutex per filesystem, so jobs on several
 * runtimes may share it. A node lives while it is linked into the tree or held by an open
 * handle, so a file unlinked while open stays readable and writable through the handle, as on
 * POSIX. Paths arrive normalised (see afmpeg_fs_ops). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/errors.h"
#include "fs/fs.h"

#define MEMFS_NAME_MAX 255
/* Largest file size: it must fit a size_t (the buffer) and an int64_t (pread/pwrite results). */
#define MEMFS_SIZE_MAX ((uint64_t)SIZE_MAX < (uint64_t)INT64_MAX ? (uint64_t)SIZE_MAX \
                                                                 : (uint64_t)INT64_MAX)
#define MEMFS_OPEN_FLAGS (AFMPEG_FS_READ | AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC | \
                          AFMPEG_FS_EXCL | AFMPEG_FS_DIRECTORY)

typedef struct memnode memnode;
struct memnode {
    afmpeg_fs_type type;
    uint64_t ino;
    int64_t mtime_ns;
    size_t refs;          /* 1 while linked into the tree, plus 1 per open handle */
    memnode *parent;      /* NULL for the root and for unlinked nodes */
    char *name;
    unsigned char *data;  /* file: size bytes of content in cap allocated */
    size_t size, cap;
    memnode **kids;       /* directory: entries in creation order */
    size_t nkids, kcap;
};

typedef struct memfs {
    pthread_mutex_t lock;
    memnode *root;
    uint64_t next_ino;
} memfs;

typedef struct memhandle {
    memnode *node;
    unsigned flags;
} memhandle;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static memnode *node_new(memfs *m, afmpeg_fs_type type, const char *name)
{
    memnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = strdup(name);
    if (!n->name) {
        free(n);
        return NULL;
    }
    n->type = type;
    n->ino = m->next_ino++;
    n->mtime_ns = now_ns();
    return n;
}

static void node_free(memnode *n)
{
    free(n->name);
    free(n->data);
    free(n->kids);
    free(n);
}

/* A node's last reference goes when it is both unlinked and closed. Directories are only
 * unlinked when empty, so no children are left behind. */
static void node_unref(memnode *n)
{
    if (--n->refs == 0)
        node_free(n);
}

static void tree_free(memnode *n)
{
    for (size_t i = 0; i < n->nkids; i++)
        tree_free(n->kids[i]);
    node_free(n);
}

static memnode *kid_find(const memnode *dir, const char *name, size_t len)
{
    for (size_t i = 0; i < dir->nkids; i++) {
        memnode *k = dir->kids[i];
        if (strncmp(k->name, name, len) == 0 && k->name[len] == '\0')
            return k;
    }
    return NULL;
}

/* Makes room for one more entry, so that the change that follows cannot fail half-way. */
static int kid_reserve(memnode *dir)
{
    if (dir->nkids < dir->kcap)
        return 0;
    size_t cap = dir->kcap ? dir->kcap * 2 : 8;
    if (cap > SIZE_MAX / sizeof *dir->kids)
        return -ENOMEM;
    memnode **kids = realloc(dir->kids, cap * sizeof *kids);
    if (!kids)
        return -ENOMEM;
    dir->kids = kids;
    dir->kcap = cap;
    return 0;
}

static void kid_add(memnode *dir, memnode *n)
{
    dir->kids[dir->nkids++] = n;
    n->parent = dir;
    dir->mtime_ns = now_ns();
}

static void kid_remove(memnode *dir, memnode *n)
{
    size_t i = 0;
    while (dir->kids[i] != n)
        i++;
    memmove(dir->kids + i, dir->kids + i + 1, (dir->nkids - i - 1) * sizeof *dir->kids);
    dir->nkids--;
    n->parent = NULL;
    dir->mtime_ns = now_ns();
}

static void node_detach(memnode *n)
{
    kid_remove(n->parent, n);
    node_unref(n);
}

/*
 * Walks `path` down to its last component: *dir is the directory holding it (NULL when the path
 * is the root itself), *leaf its name (the tail of `path`) and *node the entry, or NULL if there
 * is none. Fails only if a directory on the way is missing or is not one.
 */
static int memfs_lookup(memfs *m, const char *path, memnode **dir, const char **leaf,
                        memnode **node)
{
    memnode *cur = m->root;
    *dir = NULL;
    *leaf = path;
    *node = cur;
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (len == 0)
            return -ENOENT;
        if (len > MEMFS_NAME_MAX)
            return -ENAMETOOLONG;
        memnode *kid = kid_find(cur, path, len);
        if (!slash) {
            *dir = cur;
            *leaf = path;
            *node = kid;
            return 0;
        }
        if (!kid)
            return -ENOENT;
        if (kid->type != AFMPEG_FS_TYPE_DIRECTORY)
            return -ENOTDIR;
        cur = kid;
        path = slash + 1;
    }
    return 0;
}

static int node_create(memfs *m, memnode *dir, const char *name, afmpeg_fs_type type,
                       memnode **out)
{
    if (kid_reserve(dir))
        return -ENOMEM;
    memnode *n = node_new(m, type, name);
    if (!n)
        return -ENOMEM;
    n->refs = 1;
    kid_add(dir, n);
    *out = n;
    return 0;
}

/* Sets a file's size, zero-filling any growth (the buffer may hold stale bytes past the end). */
static int file_resize(memnode *n, uint64_t size)
{
    if (size > MEMFS_SIZE_MAX)
        return -EFBIG;
    if (size > n->cap) {
        /* Doubling keeps a file written by many appends linear in time. */
        size_t cap = n->cap <= SIZE_MAX / 2 && n->cap * 2 > size ? n->cap * 2 : (size_t)size;
        unsigned char *data = realloc(n->data, cap);
        if (!data)
            return -ENOMEM;
        n->data = data;
        n->cap = cap;
    }
    if (size > n->size)
        memset(n->data + n->size, 0, (size_t)size - n->size);
    n->size = (size_t)size;
    n->mtime_ns = now_ns();
    return 0;
}

/* Finds or creates the node `path` names and checks it may be opened with `flags`. */
static int open_locked(memfs *m, const char *path, unsigned flags, memnode **out)
{
    memnode *dir, *node;
    const char *leaf;
    int rc = memfs_lookup(m, path, &dir, &leaf, &node);
    if (rc)
        return rc;
    if (!node)
        return flags & AFMPEG_FS_CREATE ? node_create(m, dir, leaf, AFMPEG_FS_TYPE_FILE, out)
                                        : -ENOENT;
    if ((flags & AFMPEG_FS_CREATE) && (flags & AFMPEG_FS_EXCL))
        return -EEXIST;
    if (node->type == AFMPEG_FS_TYPE_DIRECTORY) {
        if (flags & (AFMPEG_FS_WRITE | AFMPEG_FS_TRUNC))
            return -EISDIR;
    } else if (flags & AFMPEG_FS_DIRECTORY) {
        return -ENOTDIR;
    } else if (flags & AFMPEG_FS_TRUNC) {
        /* Release the memory too: a truncated file is usually rewritten from scratch. */
        free(node->data);
        node->data = NULL;
        node->size = node->cap = 0;
        node->mtime_ns = now_ns();
    }
    *out = node;
    return 0;
}

static int memfs_open(void *payload, const char *path, unsigned flags, void **out)
{
    if ((flags & ~MEMFS_OPEN_FLAGS) ||
        ((flags & AFMPEG_FS_DIRECTORY) && (flags & AFMPEG_FS_CREATE)))
        return -EINVAL;
    memfs *m = payload;
    memhandle *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    pthread_mutex_lock(&m->lock);
    int rc = open_locked(m, path, flags, &h->node);
    if (!rc)
        h->node->refs++;
    pthread_mutex_unlock(&m->lock);
    if (rc) {
        free(h);
        return rc;
    }
    h->flags = flags;
    *out = h;
    return 0;
}

static int memfs_close(void *payload, void *handle)
{
    memfs *m = payload;
    memhandle *h = handle;
    pthread_mutex_lock(&m->lock);
    node_unref(h->node);
    pthread_mutex_unlock(&m->lock);
    free(h);
    return 0;
}

static int64_t memfs_pread(void *payload, void *handle, void *buf, size_t len, uint64_t offset)
{
    memfs *m = payload;
    memhandle *h = handle;
    if (!(h->flags & AFMPEG_FS_READ))
        return -EBADF;
    if (h->node->type != AFMPEG_FS_TYPE_FILE)
        return -EISDIR;
    pthread_mutex_lock(&m->lock);
    memnode *n = h->node;
    size_t got = 0;
    if (offset < n->size && len > 0) {
        got = n->size - (size_t)offset < len ? n->size - (size_t)offset : len;
        memcpy(buf, n->data + offset, got);
    }
    pthread_mutex_unlock(&m->lock);
    return (int64_t)got;
}

static int64_t memfs_pwrite(void *payload, void *handle, const void *buf, size_t len,
                            uint64_t offset)
{
    memfs *m = payload;
    memhandle *h = handle;
    if (!(h->flags & AFMPEG_FS_WRITE))
        return -EBADF;
    if (len == 0)
        return 0;
    if (offset > MEMFS_SIZE_MAX || len > MEMFS_SIZE_MAX - offset)
        return -EFBIG;
    pthread_mutex_lock(&m->lock);
    memnode *n = h->node;
    int rc = 0;
    if (offset + len > n->size)
        rc = file_resize(n, offset + len);
    if (!rc) {
        memcpy(n->data + offset, buf, len);
        n->mtime_ns = now_ns();
    }
    pthread_mutex_unlock(&m->lock);
    return rc ? rc : (int64_t)len;
}

static int memfs_ftruncate(void *payload, void *handle, uint64_t size)
{
    memfs *m = payload;
    memhandle *h = handle;
    if (!(h->flags & AFMPEG_FS_WRITE))
        return -EINVAL;
    pthread_mutex_lock(&m->lock);
    int rc = file_resize(h->node, size);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void node_stat(const memnode *n, afmpeg_fs_stat *out)
{
    out->type = n->type;
    out->size = n->size;
    out->ino = n->ino;
    out->mtime_ns = n->mtime_ns;
}

static int memfs_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    memfs *m = payload;
    memhandle *h = handle;
    pthread_mutex_lock(&m->lock);
    node_stat(h->node, out);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int memfs_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    memfs *m = payload;
    memnode *dir, *node;
    const char *leaf;
    pthread_mutex_lock(&m->lock);
    int rc = memfs_lookup(m, path, &dir, &leaf, &node);
    if (!rc && !node)
        rc = -ENOENT;
    if (!rc)
        node_stat(node, out);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memfs_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    memfs *m = payload;
    memhandle *h = handle;
    if (h->node->type != AFMPEG_FS_TYPE_DIRECTORY)
        return -ENOTDIR;
    pthread_mutex_lock(&m->lock);
    memnode *n = h->node;
    int rc = index < n->nkids;
    if (rc) {
        const memnode *k = n->kids[index];
        memcpy(out->name, k->name, strlen(k->name) + 1); /* at most MEMFS_NAME_MAX bytes */
        out->type = k->type;
        out->ino = k->ino;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memfs_mkdir(void *payload, const char *path)
{
    memfs *m = payload;
    memnode *dir, *node;
    const char *leaf;
    pthread_mutex_lock(&m->lock);
    int rc = memfs_lookup(m, path, &dir, &leaf, &node);
    if (!rc)
        rc = node ? -EEXIST : node_create(m, dir, leaf, AFMPEG_FS_TYPE_DIRECTORY, &node);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memfs_unlink(void *payload, const char *path)
{
    memfs *m = payload;
    memnode *dir, *node;
    const char *leaf;
    pthread_mutex_lock(&m->lock);
    int rc = memfs_lookup(m, path, &dir, &leaf, &node);
    if (!rc && !node)
        rc = -ENOENT;
    if (!rc && node->type == AFMPEG_FS_TYPE_DIRECTORY)
        rc = -EISDIR;
    if (!rc)
        node_detach(node);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int memfs_rmdir(void *payload, const char *path)
{
    memfs *m = payload;
    memnode *dir, *node;
    const char *leaf;
    pthread_mutex_lock(&m->lock);
    int rc = memfs_lookup(m, path, &dir, &leaf, &node);
    if (!rc && !dir)
        rc = -EBUSY;
    else if (!rc && !node)
        rc = -ENOENT;
    else if (!rc && node->type != AFMPEG_FS_TYPE_DIRECTORY)
        rc = -ENOTDIR;
    else if (!rc && node->nkids > 0)
        rc = -ENOTEMPTY;
    if (!rc)
        node_detach(node);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Whether moving src onto dst (in directory tdir) is allowed, as rename(2) decides it. */
static int rename_check(const memnode *src, const memnode *tdir, const memnode *dst)
{
    if (src->type == AFMPEG_FS_TYPE_DIRECTORY) {
        for (const memnode *p = tdir; p; p = p->parent)
            if (p == src)
                return -EINVAL; /* into its own subtree: it would detach from the tree */
        if (dst && dst->type != AFMPEG_FS_TYPE_DIRECTORY)
            return -ENOTDIR;
        if (dst && dst->nkids > 0)
            return -ENOTEMPTY;
    } else if (dst && dst->type == AFMPEG_FS_TYPE_DIRECTORY) {
        return -EISDIR;
    }
    return 0;
}

static int rename_locked(memfs *m, const char *from, const char *to)
{
    memnode *fdir, *src, *tdir, *dst;
    const char *fleaf, *tleaf;
    int rc = memfs_lookup(m, from, &fdir, &fleaf, &src);
    if (!rc)
        rc = memfs_lookup(m, to, &tdir, &tleaf, &dst);
    if (rc)
        return rc;
    if (!fdir || !tdir)
        return -EBUSY; /* the root cannot move, nor be replaced */
    if (!src)
        return -ENOENT;
    if (src == dst)
        return 0;
    rc = rename_check(src, tdir, dst);
    if (rc)
        return rc;
    /* Everything that can fail comes before the first change. */
    char *name = strdup(tleaf);
    if (!name || kid_reserve(tdir)) {
        free(name);
        return -ENOMEM;
    }
    if (dst)
        node_detach(dst);
    kid_remove(fdir, src);
    free(src->name);
    src->name = name;
    kid_add(tdir, src);
    return 0;
}

static int memfs_rename(void *payload, const char *from, const char *to)
{
    memfs *m = payload;
    pthread_mutex_lock(&m->lock);
    int rc = rename_locked(m, from, to);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void memfs_destroy(void *payload)
{
    memfs *m = payload;
    tree_free(m->root);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const afmpeg_fs_ops memfs_ops = {
    .version = AFMPEG_FS_OPS_VERSION,
    .open = memfs_open,
    .close = memfs_close,
    .pread = memfs_pread,
    .pwrite = memfs_pwrite,
    .fstat = memfs_fstat,
    .ftruncate = memfs_ftruncate,
    .stat = memfs_stat,
    .readdir = memfs_readdir,
    .mkdir = memfs_mkdir,
    .unlink = memfs_unlink,
    .rmdir = memfs_rmdir,
    .rename = memfs_rename,
    .destroy = memfs_destroy,
};

int afmpeg_fs_new_memory(afmpeg_fs **out)
{
    if (!out)
        return afm_error(AFMPEG_EINVAL, "out is NULL");
    *out = NULL;
    memfs *m = calloc(1, sizeof *m);
    if (!m)
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    m->next_ino = 1;
    m->root = node_new(m, AFMPEG_FS_TYPE_DIRECTORY, "");
    if (!m->root) {
        free(m);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    m->root->refs = 1;
    if (pthread_mutex_init(&m->lock, NULL)) {
        node_free(m->root);
        free(m);
        return afm_error(AFMPEG_ENOMEM, "out of memory");
    }
    int rc = afmpeg_fs_new_custom(&memfs_ops, m, out);
    if (rc)
        memfs_destroy(m);
    return rc;
}
