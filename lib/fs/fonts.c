/* The fonts built into the library (lib/fs/fontdata.S embeds them from Debian's
 * fonts-dejavu-core): every job sees them read-only at /.afmpeg/fonts, on top of the filesystem
 * it was given. The module's drawtext and subtitles filters use them when the job names no font
 * (module/patches/ffmpeg/0004), so text renders without the caller shipping a font; a caller's
 * own fonts come through the job's filesystem as before.
 *
 * The view costs nothing per job: it lives on the stack of afm_run(), its files are the
 * library's read-only data (never copied), and a handle to one of them is a pointer into the
 * static table below, told apart from the caller's handles by its address. */
#include <errno.h>
#include <string.h>
#include "fs/fonts.h"

extern const unsigned char afm_font_sans[], afm_font_sans_end[];
extern const unsigned char afm_font_sans_bold[], afm_font_sans_bold_end[];

typedef struct builtin_file {
    const char *name;
    const unsigned char *data, *end;
} builtin_file;

static const builtin_file files[] = {
    {"DejaVuSans.ttf", afm_font_sans, afm_font_sans_end},
    {"DejaVuSans-Bold.ttf", afm_font_sans_bold, afm_font_sans_bold_end},
};
#define NFILES (sizeof files / sizeof *files)
/* The handle of the directory itself. */
static const char fonts_dir_handle;
/* Inode numbers of the built-in entries: high, out of the way of the caller's. */
#define INO_BASE 0xafafaf0000000000ull

static int is_builtin(const void *handle)
{
    return handle == &fonts_dir_handle ||
           ((const char *)handle >= (const char *)files &&
            (const char *)handle < (const char *)(files + NFILES));
}

/* 1 when a normalised path is the fonts directory or below it; *file gets the entry named, or
 * NULL for the directory (or a name that is not there: *missing). */
static int in_fonts(const char *path, const builtin_file **file, int *missing)
{
    size_t n = strlen(AFM_FONTS_DIR);
    if (strncmp(path, AFM_FONTS_DIR, n) || (path[n] != '\0' && path[n] != '/'))
        return 0;
    *file = NULL;
    *missing = 0;
    if (path[n] == '\0')
        return 1;
    for (size_t i = 0; i < NFILES; i++)
        if (!strcmp(path + n + 1, files[i].name)) {
            *file = &files[i];
            return 1;
        }
    *missing = 1;
    return 1;
}

static void file_stat(const builtin_file *f, afmpeg_fs_stat *out)
{
    memset(out, 0, sizeof *out);
    out->type = f ? AFMPEG_FS_TYPE_FILE : AFMPEG_FS_TYPE_DIRECTORY;
    out->size = f ? (uint64_t)(f->end - f->data) : 0;
    out->ino = INO_BASE + (f ? (uint64_t)(f - files) + 1 : 0);
}

static afmpeg_fs *base_of(void *payload) { return ((afm_fonts_view *)payload)->base; }

static int fv_open(void *payload, const char *path, unsigned flags, void **out)
{
    const builtin_file *f;
    int missing;
    if (!in_fonts(path, &f, &missing)) {
        afmpeg_fs *b = base_of(payload);
        return b->ops.open(b->payload, path, flags, out);
    }
    if (flags & (AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_TRUNC))
        return -EROFS;
    if (missing)
        return -ENOENT;
    if (f && (flags & AFMPEG_FS_DIRECTORY))
        return -ENOTDIR;
    *out = f ? (void *)f : (void *)&fonts_dir_handle;
    return 0;
}

static int fv_close(void *payload, void *handle)
{
    afmpeg_fs *b = base_of(payload);
    return is_builtin(handle) ? 0 : b->ops.close(b->payload, handle);
}

static int64_t fv_pread(void *payload, void *handle, void *buf, size_t len, uint64_t offset)
{
    if (!is_builtin(handle)) {
        afmpeg_fs *b = base_of(payload);
        return b->ops.pread(b->payload, handle, buf, len, offset);
    }
    if (handle == &fonts_dir_handle)
        return -EISDIR;
    const builtin_file *f = handle;
    uint64_t size = (uint64_t)(f->end - f->data);
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = (size_t)(size - offset);
    memcpy(buf, f->data + offset, len);
    return (int64_t)len;
}

static int64_t fv_pwrite(void *payload, void *handle, const void *buf, size_t len,
                         uint64_t offset)
{
    afmpeg_fs *b = base_of(payload);
    return is_builtin(handle) ? -EBADF : b->ops.pwrite(b->payload, handle, buf, len, offset);
}

static int fv_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    if (!is_builtin(handle)) {
        afmpeg_fs *b = base_of(payload);
        return b->ops.fstat(b->payload, handle, out);
    }
    file_stat(handle == &fonts_dir_handle ? NULL : handle, out);
    return 0;
}

static int fv_ftruncate(void *payload, void *handle, uint64_t size)
{
    afmpeg_fs *b = base_of(payload);
    return is_builtin(handle) ? -EBADF : b->ops.ftruncate(b->payload, handle, size);
}

static int fv_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    const builtin_file *f;
    int missing;
    if (!in_fonts(path, &f, &missing)) {
        afmpeg_fs *b = base_of(payload);
        return b->ops.stat(b->payload, path, out);
    }
    if (missing)
        return -ENOENT;
    file_stat(f, out);
    return 0;
}

static int fv_readdir(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out)
{
    if (!is_builtin(handle)) {
        afmpeg_fs *b = base_of(payload);
        return b->ops.readdir(b->payload, handle, index, out);
    }
    if (handle != &fonts_dir_handle)
        return -ENOTDIR;
    if (index >= NFILES)
        return 0;
    memset(out, 0, sizeof *out);
    strcpy(out->name, files[index].name);
    out->type = AFMPEG_FS_TYPE_FILE;
    out->ino = INO_BASE + index + 1;
    return 1;
}

/* Changes: refused in the fonts directory, passed on elsewhere. */
static int read_only(const char *path)
{
    const builtin_file *f;
    int missing;
    return in_fonts(path, &f, &missing);
}

static int fv_mkdir(void *payload, const char *path)
{
    afmpeg_fs *b = base_of(payload);
    return read_only(path) ? -EROFS : b->ops.mkdir(b->payload, path);
}

static int fv_unlink(void *payload, const char *path)
{
    afmpeg_fs *b = base_of(payload);
    return read_only(path) ? -EROFS : b->ops.unlink(b->payload, path);
}

static int fv_rmdir(void *payload, const char *path)
{
    afmpeg_fs *b = base_of(payload);
    return read_only(path) ? -EROFS : b->ops.rmdir(b->payload, path);
}

static int fv_rename(void *payload, const char *from, const char *to)
{
    afmpeg_fs *b = base_of(payload);
    return read_only(from) || read_only(to) ? -EROFS : b->ops.rename(b->payload, from, to);
}

void afm_fonts_view_init(afm_fonts_view *v, afmpeg_fs *base)
{
    static const afmpeg_fs_ops ops = {
        AFMPEG_FS_OPS_VERSION, fv_open,  fv_close,  fv_pread, fv_pwrite, fv_fstat, fv_ftruncate,
        fv_stat,               fv_readdir, fv_mkdir, fv_unlink, fv_rmdir, fv_rename, NULL,
    };
    v->base = base;
    v->fs.ops = ops;
    v->fs.payload = v;
}

size_t afm_fonts_count(void) { return NFILES; }
