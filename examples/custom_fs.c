/* custom_fs.c — a job's filesystem made of your own callbacks (afmpeg_fs_new_custom()).
 *
 * Shows: serving the caller's own storage to FFmpeg without copying it into a filesystem of the
 * library's: a read-only blob store (here: the input file, loaded once, as "/input.mp4"), and a
 * write sink for what the job writes (the directory "/out": each file is collected in memory,
 * with a quota, and delivered when the guest closes it; here, saved to OUTDIR). A real service
 * would serve blobs from its cache or object store and upload in deliver(). Every callback
 * returns 0 or a byte count, or a negative errno; afmpeg has already normalised the paths
 * ("out/audio.m4a": no leading '/', no "." or "..", "" for the root).
 *
 * Build:  cc custom_fs.c -o custom_fs $(pkg-config --cflags --libs afmpeg)
 * Run:    ./custom_fs examples/sample.mp4 OUTDIR
 *         writes OUTDIR/audio.m4a (the audio, copied) and OUTDIR/poster.jpg (the first frame).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <afmpeg.h>

#define MAX_BLOBS 16
#define MAX_SINK_FILES 16
#define SINK_QUOTA ((uint64_t)256 << 20)   /* bytes the sink holds in all: a job cannot fill RAM */

typedef struct blob {         /* the caller's read-only data */
    char name[64];
    const unsigned char *data;
    size_t size;
} blob;

typedef struct sink_file {    /* a file the job writes, in memory until delivered */
    char name[64];
    unsigned char *data;
    uint64_t size, cap;
} sink_file;

typedef struct storage {      /* the payload every callback receives */
    blob blobs[MAX_BLOBS];
    size_t blob_count;
    sink_file files[MAX_SINK_FILES];
    size_t file_count;
    uint64_t sink_bytes;      /* held in all, against SINK_QUOTA */
    const char *outdir;       /* where deliver() saves */
} storage;

/* What an open handle refers to. */
typedef enum { NODE_ROOT, NODE_OUT_DIR, NODE_BLOB, NODE_SINK } node_kind;
typedef struct handle {
    node_kind kind;
    size_t index;             /* into blobs or files */
    int wrote;                /* deliver on close */
} handle;

/* Looks a normalised path up: 0 and *kind, *index set, or -ENOENT. */
static int lookup(const storage *st, const char *path, node_kind *kind, size_t *index)
{
    if (!strcmp(path, "")) {
        *kind = NODE_ROOT;
        return 0;
    }
    if (!strcmp(path, "out")) {
        *kind = NODE_OUT_DIR;
        return 0;
    }
    if (!strncmp(path, "out/", 4)) {
        for (size_t i = 0; i < st->file_count; i++)
            if (!strcmp(st->files[i].name, path + 4)) {
                *kind = NODE_SINK;
                *index = i;
                return 0;
            }
        return -ENOENT;
    }
    for (size_t i = 0; i < st->blob_count; i++)
        if (!strcmp(st->blobs[i].name, path)) {
            *kind = NODE_BLOB;
            *index = i;
            return 0;
        }
    return -ENOENT;
}

/* Hands a finished file to the caller's storage: here, a host file in OUTDIR. */
static int deliver(const storage *st, const sink_file *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", st->outdir, f->name);
    FILE *out = fopen(path, "wb");
    int ok = out && fwrite(f->data, 1, f->size, out) == f->size;
    if (out && fclose(out))
        ok = 0;
    if (!ok) {
        perror(path);
        return -EIO;   /* the guest's close() fails, and FFmpeg says so */
    }
    printf("delivered %s (%llu bytes)\n", path, (unsigned long long)f->size);
    return 0;
}

static int fs_open(void *payload, const char *path, unsigned flags, void **out_handle)
{
    storage *st = payload;
    node_kind kind;
    size_t index = 0;
    int found = lookup(st, path, &kind, &index) == 0;
    int writing = (flags & (AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC)) != 0;

    if (found && (flags & AFMPEG_FS_CREATE) && (flags & AFMPEG_FS_EXCL))
        return -EEXIST;
    if (!found) {
        /* Only the sink takes new files: "out/NAME". */
        const char *name = path + 4;
        if (strncmp(path, "out/", 4) || strchr(name, '/'))
            return (flags & AFMPEG_FS_CREATE) ? -EROFS : -ENOENT;
        if (!(flags & AFMPEG_FS_CREATE))
            return -ENOENT;
        if (st->file_count == MAX_SINK_FILES)
            return -ENOSPC;
        if (strlen(name) >= sizeof st->files[0].name)
            return -ENAMETOOLONG;
        sink_file *f = &st->files[st->file_count];
        memset(f, 0, sizeof *f);
        strcpy(f->name, name);
        kind = NODE_SINK;
        index = st->file_count++;
    }
    if ((kind == NODE_ROOT || kind == NODE_OUT_DIR) && writing)
        return -EISDIR;
    if (kind != NODE_ROOT && kind != NODE_OUT_DIR && (flags & AFMPEG_FS_DIRECTORY))
        return -ENOTDIR;
    if (kind == NODE_BLOB && writing)
        return -EROFS;   /* the blob store is read-only */
    if (kind == NODE_SINK && (flags & AFMPEG_FS_TRUNC)) {
        st->sink_bytes -= st->files[index].size;
        st->files[index].size = 0;
    }
    handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->kind = kind;
    h->index = index;
    *out_handle = h;
    return 0;
}

static int fs_close(void *payload, void *hp)
{
    handle *h = hp;
    int err = 0;
    if (h->kind == NODE_SINK && h->wrote)
        err = deliver(payload, &((storage *)payload)->files[h->index]);
    free(h);
    return err;
}

static int64_t fs_pread(void *payload, void *hp, void *buf, size_t len, uint64_t offset)
{
    storage *st = payload;
    handle *h = hp;
    const unsigned char *data;
    uint64_t size;
    if (h->kind == NODE_BLOB) {
        data = st->blobs[h->index].data;
        size = st->blobs[h->index].size;
    } else if (h->kind == NODE_SINK) {
        data = st->files[h->index].data;   /* muxers read back what they wrote */
        size = st->files[h->index].size;
    } else {
        return -EISDIR;
    }
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = (size_t)(size - offset);
    memcpy(buf, data + offset, len);
    return (int64_t)len;
}

/* Grows sink file f to hold `size` bytes, within the quota. */
static int sink_reserve(storage *st, sink_file *f, uint64_t size)
{
    if (size <= f->size)
        return 0;
    if (size - f->size > SINK_QUOTA - st->sink_bytes)
        return -ENOSPC;
    if (size > f->cap) {
        uint64_t cap = f->cap ? f->cap : 65536;
        while (cap < size)
            cap *= 2;
        unsigned char *grown = realloc(f->data, (size_t)cap);
        if (!grown)
            return -ENOMEM;
        f->data = grown;
        f->cap = cap;
    }
    memset(f->data + f->size, 0, (size_t)(size - f->size));   /* a hole reads as zeros */
    st->sink_bytes += size - f->size;
    f->size = size;
    return 0;
}

static int64_t fs_pwrite(void *payload, void *hp, const void *buf, size_t len, uint64_t offset)
{
    storage *st = payload;
    handle *h = hp;
    if (h->kind != NODE_SINK)
        return -EBADF;
    sink_file *f = &st->files[h->index];
    if (offset > SINK_QUOTA || len > SINK_QUOTA - offset)
        return -EFBIG;
    int err = sink_reserve(st, f, offset + len);
    if (err)
        return err;
    memcpy(f->data + offset, buf, len);
    h->wrote = 1;
    return (int64_t)len;
}

static int fs_ftruncate(void *payload, void *hp, uint64_t size)
{
    storage *st = payload;
    handle *h = hp;
    if (h->kind != NODE_SINK)
        return -EINVAL;
    sink_file *f = &st->files[h->index];
    if (size < f->size) {
        st->sink_bytes -= f->size - size;
        f->size = size;
        return 0;
    }
    return sink_reserve(st, f, size);
}

static void fill_stat(const storage *st, node_kind kind, size_t index, afmpeg_fs_stat *out)
{
    memset(out, 0, sizeof *out);
    switch (kind) {
    case NODE_ROOT:
    case NODE_OUT_DIR:
        out->type = AFMPEG_FS_TYPE_DIRECTORY;
        out->ino = kind == NODE_ROOT ? 1 : 2;
        break;
    case NODE_BLOB:
        out->type = AFMPEG_FS_TYPE_FILE;
        out->size = st->blobs[index].size;
        out->ino = 100 + index;
        break;
    case NODE_SINK:
        out->type = AFMPEG_FS_TYPE_FILE;
        out->size = st->files[index].size;
        out->ino = 1000 + index;
        break;
    }
}

static int fs_fstat(void *payload, void *hp, afmpeg_fs_stat *out)
{
    handle *h = hp;
    fill_stat(payload, h->kind, h->index, out);
    return 0;
}

static int fs_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    node_kind kind;
    size_t index = 0;
    int err = lookup(payload, path, &kind, &index);
    if (!err)
        fill_stat(payload, kind, index, out);
    return err;
}

/* Entry `index` of a directory: the root holds the blobs and "out"; "out" the sink's files. */
static int fs_readdir(void *payload, void *hp, uint64_t index, afmpeg_fs_dirent *out)
{
    storage *st = payload;
    handle *h = hp;
    memset(out, 0, sizeof *out);
    if (h->kind == NODE_ROOT && index < st->blob_count) {
        strcpy(out->name, st->blobs[index].name);
        out->type = AFMPEG_FS_TYPE_FILE;
        out->ino = 100 + index;
    } else if (h->kind == NODE_ROOT && index == st->blob_count) {
        strcpy(out->name, "out");
        out->type = AFMPEG_FS_TYPE_DIRECTORY;
        out->ino = 2;
    } else if (h->kind == NODE_OUT_DIR && index < st->file_count) {
        strcpy(out->name, st->files[index].name);
        out->type = AFMPEG_FS_TYPE_FILE;
        out->ino = 1000 + index;
    } else if (h->kind == NODE_ROOT || h->kind == NODE_OUT_DIR) {
        return 0;   /* past the last entry */
    } else {
        return -ENOTDIR;
    }
    return 1;
}

/* Called by afmpeg_fs_free(): the sink's memory goes with the filesystem. */
static void fs_destroy(void *payload)
{
    storage *st = payload;
    for (size_t i = 0; i < st->file_count; i++)
        free(st->files[i].data);
    st->file_count = 0;
}

static void *read_host_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!f)
        return NULL;
    do {
        if (n == cap) {
            char *grown = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: custom_fs IN OUTDIR\n");
        return 2;
    }
    size_t len;
    void *data = read_host_file(argv[1], &len);
    if (!data) {
        perror(argv[1]);
        return 1;
    }
    static storage st;   /* zeroed; one job at a time uses it (see afmpeg_fs_ops on threads) */
    st.outdir = argv[2];
    strcpy(st.blobs[0].name, "input.mp4");
    st.blobs[0].data = data;
    st.blobs[0].size = len;
    st.blob_count = 1;

    /* Callbacks left NULL (mkdir, unlink, rmdir, rename) fail with ENOTSUP in the guest. */
    afmpeg_fs_ops ops = {0};
    ops.version = AFMPEG_FS_OPS_VERSION;
    ops.open = fs_open;
    ops.close = fs_close;
    ops.pread = fs_pread;
    ops.pwrite = fs_pwrite;
    ops.fstat = fs_fstat;
    ops.ftruncate = fs_ftruncate;
    ops.stat = fs_stat;
    ops.readdir = fs_readdir;
    ops.destroy = fs_destroy;

    afmpeg_runtime *rt = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    /* Two outputs of one job: the audio as it is, and the first frame as a JPEG. */
    const char *cmd[] = {"ffmpeg", "-v", "error", "-i", "/input.mp4",
                         "-map", "0:a", "-c", "copy", "/out/audio.m4a",
                         "-map", "0:v", "-frames:v", "1", "-update", "1", "/out/poster.jpg",
                         NULL};
    int status = 1;
    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_custom(&ops, &st, &fs);   /* ops is copied; &st is borrowed */
    if (!err)
        err = afmpeg_run(rt, fs, cmd, NULL, &res);
    if (err)
        fprintf(stderr, "afmpeg: %s\n", afmpeg_last_error());
    else if (afmpeg_result_exit_code(res) != 0)
        fprintf(stderr, "ffmpeg exited %d:\n%s", afmpeg_result_exit_code(res),
                afmpeg_result_stderr(res, NULL));
    else
        status = 0;
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);   /* calls fs_destroy(&st) */
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(data);
    return status;
}
