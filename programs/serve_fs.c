/* afmpeg serve's job filesystem: one flat directory in memory holding the request's upload,
 * read-only and borrowed (never copied: the body is buffered once), and the files the job
 * writes beside it. Subdirectories are refused. Thread-safe (one lock): a split job's pieces
 * read the input at once. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "serve.h"

#define MAX_FILES 64
#define MAX_FILE (4ull << 30) /* a job's output limit stops it long before */

typedef struct mfile {
    char *name;
    const unsigned char *ro; /* the upload, borrowed */
    unsigned char *data;     /* a written file */
    size_t len, cap;
    int opens;
    int unlinked;
} mfile;

struct srv_fs {
    pthread_mutex_t lock;
    mfile *files[MAX_FILES];
    size_t count;
};

static mfile *find(srv_fs *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (!f->files[i]->unlinked && !strcmp(f->files[i]->name, name))
            return f->files[i];
    return NULL;
}

static void file_free(mfile *m)
{
    free(m->name);
    free(m->data);
    free(m);
}

/* Drops unlinked files nobody has open. */
static void collect(srv_fs *f)
{
    size_t j = 0;
    for (size_t i = 0; i < f->count; i++) {
        if (f->files[i]->unlinked && !f->files[i]->opens)
            file_free(f->files[i]);
        else
            f->files[j++] = f->files[i];
    }
    f->count = j;
}

static mfile *add(srv_fs *f, const char *name)
{
    collect(f);
    if (f->count == MAX_FILES)
        return NULL;
    mfile *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name))) {
        free(m);
        return NULL;
    }
    f->files[f->count++] = m;
    return m;
}

/* The root directory's handle. */
static char root_handle;

static int fs_open(void *payload, const char *path, unsigned flags, void **out)
{
    srv_fs *f = payload;
    if (!*path) {
        if (flags & AFMPEG_FS_WRITE)
            return -EISDIR;
        *out = &root_handle;
        return 0;
    }
    if (strchr(path, '/'))
        return -ENOENT;
    if (flags & AFMPEG_FS_DIRECTORY)
        return -ENOTDIR;
    int ret = 0;
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, path);
    if (m && (flags & AFMPEG_FS_CREATE) && (flags & AFMPEG_FS_EXCL)) {
        ret = -EEXIST;
    } else if (!m && !(flags & AFMPEG_FS_CREATE)) {
        ret = -ENOENT;
    } else if (m && m->ro && (flags & (AFMPEG_FS_WRITE | AFMPEG_FS_TRUNC))) {
        ret = -EACCES;
    } else {
        if (!m && !(m = add(f, path)))
            ret = f->count == MAX_FILES ? -EMFILE : -ENOMEM;
        if (!ret && (flags & AFMPEG_FS_TRUNC))
            m->len = 0;
        if (!ret) {
            m->opens++;
            *out = m;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static int fs_close(void *payload, void *handle)
{
    srv_fs *f = payload;
    if (handle == &root_handle)
        return 0;
    pthread_mutex_lock(&f->lock);
    ((mfile *)handle)->opens--;
    collect(f);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int64_t fs_pread(void *payload, void *handle, void *buf, size_t len, uint64_t off)
{
    srv_fs *f = payload;
    if (handle == &root_handle)
        return -EISDIR;
    mfile *m = handle;
    pthread_mutex_lock(&f->lock);
    const unsigned char *src = m->ro ? m->ro : m->data;
    size_t n = off >= m->len ? 0 : m->len - off < len ? m->len - off : len;
    if (n)
        memcpy(buf, src + off, n);
    pthread_mutex_unlock(&f->lock);
    return (int64_t)n;
}

static int64_t fs_pwrite(void *payload, void *handle, const void *buf, size_t len, uint64_t off)
{
    srv_fs *f = payload;
    if (handle == &root_handle)
        return -EISDIR;
    mfile *m = handle;
    if (m->ro)
        return -EBADF;
    if (off > MAX_FILE || len > MAX_FILE - off)
        return -EFBIG;
    int64_t ret = (int64_t)len;
    pthread_mutex_lock(&f->lock);
    size_t end = (size_t)off + len;
    if (end > m->cap) {
        size_t cap = m->cap ? m->cap : 64 * 1024;
        while (cap < end)
            cap *= 2;
        unsigned char *p = realloc(m->data, cap);
        if (!p) {
            ret = -ENOSPC;
            goto out;
        }
        m->data = p;
        m->cap = cap;
    }
    if (off > m->len)
        memset(m->data + m->len, 0, (size_t)off - m->len);
    memcpy(m->data + off, buf, len);
    if (end > m->len)
        m->len = end;
out:
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static void stat_of(const mfile *m, afmpeg_fs_stat *out)
{
    memset(out, 0, sizeof *out);
    if (!m) {
        out->type = AFMPEG_FS_TYPE_DIRECTORY;
        out->ino = 1;
        return;
    }
    out->type = AFMPEG_FS_TYPE_FILE;
    out->size = m->len;
    out->ino = (uint64_t)(uintptr_t)m;
}

static int fs_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    srv_fs *f = payload;
    pthread_mutex_lock(&f->lock);
    stat_of(handle == &root_handle ? NULL : handle, out);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fs_ftruncate(void *payload, void *handle, uint64_t size)
{
    srv_fs *f = payload;
    mfile *m = handle;
    if (handle == &root_handle || m->ro)
        return -EBADF;
    if (size > m->len) {
        char zero = 0;
        return fs_pwrite(payload, handle, &zero, 0, size) < 0 ? -ENOSPC : 0;
    }
    pthread_mutex_lock(&f->lock);
    m->len = (size_t)size;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fs_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    srv_fs *f = payload;
    if (!*path) {
        stat_of(NULL, out);
        return 0;
    }
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, path);
    if (m)
        stat_of(m, out);
    pthread_mutex_unlock(&f->lock);
    return m ? 0 : -ENOENT;
}

static int fs_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    srv_fs *f = payload;
    if (handle != &root_handle)
        return -ENOTDIR;
    int ret = 0;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0, k = 0; i < f->count; i++) {
        if (f->files[i]->unlinked)
            continue;
        if (k++ == index) {
            memset(out, 0, sizeof *out);
            strncpy(out->name, f->files[i]->name, sizeof out->name - 1);
            out->type = AFMPEG_FS_TYPE_FILE;
            out->ino = (uint64_t)(uintptr_t)f->files[i];
            ret = 1;
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static int fs_mkdir(void *payload, const char *path)
{
    (void)payload, (void)path;
    return -EACCES;
}

static int fs_unlink(void *payload, const char *path)
{
    srv_fs *f = payload;
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, path);
    int ret = !m ? -ENOENT : m->ro ? -EACCES : 0;
    if (!ret) {
        m->unlinked = 1;
        collect(f);
    }
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static int fs_rename(void *payload, const char *from, const char *to)
{
    srv_fs *f = payload;
    if (strchr(to, '/') || !*to)
        return -EACCES;
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, from), *old = find(f, to);
    char *name = NULL;
    int ret = !m ? -ENOENT : (m->ro || (old && old->ro)) ? -EACCES : 0;
    if (!ret && m != old && !(name = strdup(to)))
        ret = -ENOMEM;
    if (!ret && m != old) {
        if (old)
            old->unlinked = 1;
        free(m->name);
        m->name = name;
        collect(f);
    }
    pthread_mutex_unlock(&f->lock);
    return ret;
}

static void fs_destroy(void *payload)
{
    srv_fs *f = payload;
    for (size_t i = 0; i < f->count; i++)
        file_free(f->files[i]);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const afmpeg_fs_ops ops = {
    AFMPEG_FS_OPS_VERSION, fs_open,  fs_close, fs_pread,  fs_pwrite, fs_fstat,  fs_ftruncate,
    fs_stat,               fs_readdir, fs_mkdir, fs_unlink, fs_mkdir, fs_rename, fs_destroy,
};

int srv_fs_new(const char *name, const void *data, size_t len, srv_fs **out, afmpeg_fs **fs)
{
    srv_fs *f = calloc(1, sizeof *f);
    if (!f)
        return AFMPEG_ENOMEM;
    pthread_mutex_init(&f->lock, NULL);
    mfile *m = add(f, name);
    if (!m) {
        fs_destroy(f);
        return AFMPEG_ENOMEM;
    }
    m->ro = data ? data : (const unsigned char *)"";
    m->len = len;
    int err = afmpeg_fs_new_custom(&ops, f, fs);
    if (err) {
        fs_destroy(f);
        return err;
    }
    *out = f;
    return 0;
}

int srv_fs_add(srv_fs *f, const char *name, const void *data, size_t len)
{
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, name) ? NULL : add(f, name);
    if (m) {
        m->ro = data ? data : (const unsigned char *)"";
        m->len = len;
    }
    pthread_mutex_unlock(&f->lock);
    return m ? 0 : -1;
}

int srv_fs_take(srv_fs *f, const char *name, void **data, size_t *len)
{
    pthread_mutex_lock(&f->lock);
    mfile *m = find(f, name);
    int ret = !m || m->ro ? -ENOENT : 0;
    if (!ret) {
        *data = m->data;
        *len = m->len;
        m->data = NULL;
        m->len = m->cap = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return ret;
}
