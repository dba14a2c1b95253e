/* lib/fs: path resolution, the memory and host-directory filesystems, custom callbacks, and the
 * host-side helpers. The host-directory tests check on the host itself that nothing outside the
 * jail was read, written or created. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "afmpeg.h"
#include "fs/fonts.h"
#include "fs/fs.h"

/* The memory filesystem must answer a huge allocation with -ENOMEM; under ASan that needs the
 * allocator to return NULL instead of aborting. */
__attribute__((visibility("default"))) const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* Direct calls of a filesystem's callbacks, as the WASI host makes them. */
static int xopen(afmpeg_fs *fs, const char *path, unsigned flags, void **h)
{
    return fs->ops.open(fs->payload, path, flags, h);
}
static int xclose(afmpeg_fs *fs, void *h)
{
    return fs->ops.close(fs->payload, h);
}
static int64_t xpread(afmpeg_fs *fs, void *h, void *buf, size_t len, uint64_t off)
{
    return fs->ops.pread(fs->payload, h, buf, len, off);
}
static int64_t xpwrite(afmpeg_fs *fs, void *h, const char *s, uint64_t off)
{
    return fs->ops.pwrite(fs->payload, h, s, strlen(s), off);
}
static int xfstat(afmpeg_fs *fs, void *h, afmpeg_fs_stat *st)
{
    return fs->ops.fstat(fs->payload, h, st);
}
static int xstat(afmpeg_fs *fs, const char *path, afmpeg_fs_stat *st)
{
    return fs->ops.stat(fs->payload, path, st);
}

static void expect_file(afmpeg_fs *fs, const char *path, const char *want)
{
    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, path, &data, &len), AFMPEG_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len + 1); /* with the terminating NUL */
    afmpeg_free(data);
}

static void expect_read_error(afmpeg_fs *fs, const char *path, int err)
{
    void *data = (void *)1;
    size_t len = 1;
    assert_int_equal(afmpeg_fs_read_file(fs, path, &data, &len), err);
    assert_null(data);
    assert_int_equal(len, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Paths */

static void test_path_table(void **state)
{
    static const struct {
        const char *base, *path;
        int rc;
        const char *out;
    } cases[] = {
        {"", "a/b", 0, "a/b"},
        {"", "/a//b/", 0, "a/b"},
        {"", "/", 0, ""},
        {"", ".", 0, ""},
        {"", "./a/./b/.", 0, "a/b"},
        {"", "a/../b", 0, "b"},
        {"", "a/..", 0, ""},
        {"", "...", 0, "..."},
        {"", "..a/b..", 0, "..a/b.."},
        {"a/b", "c", 0, "a/b/c"},
        {"a/b", ".", 0, "a/b"},
        {"a/b", "..", 0, "a"},
        {"a/b", "../..", 0, ""},
        {"a/b", "/c", 0, "c"},
        {"a/b", "/../c", -EACCES, NULL},
        {"a/b", "../../..", -EACCES, NULL},
        {"a/b", "../../../a/b", -EACCES, NULL}, /* escaping and coming back is still escaping */
        {"", "..", -EACCES, NULL},
        {"", "../x", -EACCES, NULL},
        {"", "a/../../x", -EACCES, NULL},
        {"", "/..", -EACCES, NULL},
        {"", "", -ENOENT, NULL},
        {"a", "", -ENOENT, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[AFM_PATH_MAX + 1];
        int rc = afm_path_resolve(cases[i].base, cases[i].path, strlen(cases[i].path), out,
                                  sizeof out);
        if (rc != cases[i].rc || (rc == 0 && strcmp(out, cases[i].out) != 0))
            fail_msg("resolve(\"%s\", \"%s\"): %d \"%s\", want %d \"%s\"", cases[i].base,
                     cases[i].path, rc, rc ? "" : out, cases[i].rc,
                     cases[i].out ? cases[i].out : "");
    }
}

static void test_path_limits(void **state)
{
    char out[AFM_PATH_MAX + 1];
    /* Only `len` bytes count; NUL inside them is refused. */
    assert_int_equal(afm_path_resolve("", "a/bXYZ", 3, out, sizeof out), 0);
    assert_string_equal(out, "a/b");
    assert_int_equal(afm_path_resolve("", "a\0b", 3, out, sizeof out), -EILSEQ);
    assert_int_equal(afm_path_resolve("", "a/..\0", 5, out, sizeof out), -EILSEQ);

    /* Components: 255 bytes is the limit, even for one a later ".." drops. */
    char name[300];
    memset(name, 'n', sizeof name);
    char path[12000];
    snprintf(path, sizeof path, "d/%.255s", name);
    assert_int_equal(afm_path_resolve("", path, strlen(path), out, sizeof out), 0);
    assert_int_equal(strlen(out), 257);
    snprintf(path, sizeof path, "d/%.256s", name);
    assert_int_equal(afm_path_resolve("", path, strlen(path), out, sizeof out), -ENAMETOOLONG);
    snprintf(path, sizeof path, "%.256s/..", name);
    assert_int_equal(afm_path_resolve("", path, strlen(path), out, sizeof out), -ENAMETOOLONG);

    /* The result: at most AFM_PATH_MAX bytes, but only the result counts, not the way there. */
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "%.255s/", name);
    assert_true(n > AFM_PATH_MAX);
    assert_int_equal(afm_path_resolve("", path, n, out, sizeof out), -ENAMETOOLONG);
    for (int i = 0; i < 19; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "../");
    n += (size_t)snprintf(path + n, sizeof path - n, "x");
    assert_int_equal(afm_path_resolve("", path, n, out, sizeof out), 0);
    assert_int_equal(strlen(out), 257);
    assert_memory_equal(out + 255, "/x", 3);

    /* Exactly AFM_PATH_MAX fits (16 components of 255 plus 15 separators). */
    n = 0;
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "%s%.255s", i ? "/" : "", name);
    assert_int_equal(n, AFM_PATH_MAX);
    assert_int_equal(afm_path_resolve("", path, n, out, sizeof out), 0);
    assert_int_equal(strlen(out), AFM_PATH_MAX);
    assert_int_equal(afm_path_resolve("", path, n, out, sizeof out - 1), -ENAMETOOLONG);
    path[n] = '\0';
    assert_int_equal(afm_path_resolve(path, "x", 1, out, sizeof out), -ENAMETOOLONG);

    /* A small output buffer bounds the result too. */
    char small[4];
    assert_int_equal(afm_path_resolve("", "abc", 3, small, sizeof small), 0);
    assert_string_equal(small, "abc");
    assert_int_equal(afm_path_resolve("", "abcd", 4, small, sizeof small), -ENAMETOOLONG);
    assert_int_equal(afm_path_resolve("", "ab/c", 4, small, sizeof small), -ENAMETOOLONG);
    assert_int_equal(afm_path_resolve("", "abcd/..", 7, small, sizeof small), 0);
    assert_string_equal(small, "");
    assert_int_equal(afm_path_resolve("", "abcd/x/..", 9, small, sizeof small), -ENAMETOOLONG);
    assert_int_equal(afm_path_resolve("", "abcd/x/../../y", 14, small, sizeof small), 0);
    assert_string_equal(small, "y");
    assert_int_equal(afm_path_resolve("ab", "c", 1, small, sizeof small), -ENAMETOOLONG);
    assert_int_equal(afm_path_resolve("", "a", 1, small, 0), -ENAMETOOLONG);
}

static void test_errno_map(void **state)
{
    static const int map[][2] = {
        {0, AFMPEG_OK},           {-ENOENT, AFMPEG_ENOENT},  {-EEXIST, AFMPEG_EEXIST},
        {-EACCES, AFMPEG_EACCES}, {-EPERM, AFMPEG_EACCES},   {-EXDEV, AFMPEG_EACCES},
        {-ELOOP, AFMPEG_EACCES},  {-EISDIR, AFMPEG_EISDIR},  {-ENOTDIR, AFMPEG_ENOTDIR},
        {-ENOMEM, AFMPEG_ENOMEM}, {-EINVAL, AFMPEG_EINVAL},  {-EILSEQ, AFMPEG_EINVAL},
        {-ENAMETOOLONG, AFMPEG_EINVAL}, {-ENOTSUP, AFMPEG_ENOTSUP}, {-ENOTEMPTY, AFMPEG_EIO},
        {-EIO, AFMPEG_EIO},       {-EFBIG, AFMPEG_EIO},      {-12345, AFMPEG_EIO},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        assert_int_equal(afm_fs_errno_to_error(map[i][0]), map[i][1]);
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour both built-in filesystems share */

static void check_files(afmpeg_fs *fs)
{
    assert_int_equal(afmpeg_fs_write_file(fs, "/a.bin", "x\0y", 3), AFMPEG_OK);
    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, "a.bin", &data, &len), AFMPEG_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "x\0y", 4);
    afmpeg_free(data);
    assert_int_equal(afmpeg_fs_write_file(fs, "./q/../a.bin", "z", 1), AFMPEG_OK);
    expect_file(fs, "/a.bin", "z"); /* replaced, not overwritten in place */
    assert_int_equal(afmpeg_fs_write_file(fs, "empty", NULL, 0), AFMPEG_OK);
    expect_file(fs, "empty", "");

    expect_read_error(fs, "nope", AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_remove(fs, "nope"), AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_mkdir(fs, "d"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "d"), AFMPEG_EEXIST);
    assert_int_equal(afmpeg_fs_mkdir(fs, "/"), AFMPEG_EEXIST);
    assert_int_equal(afmpeg_fs_mkdir(fs, "no/x"), AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_write_file(fs, "no/x", "1", 1), AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_write_file(fs, "a.bin/x", "1", 1), AFMPEG_ENOTDIR);
    assert_int_equal(afmpeg_fs_write_file(fs, "d", "1", 1), AFMPEG_EISDIR);
    expect_read_error(fs, "d", AFMPEG_EISDIR);
    assert_int_equal(afmpeg_fs_remove(fs, "d"), AFMPEG_EISDIR);

    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "/a.bin", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_FILE);
    assert_int_equal(st.size, 1);
    assert_int_equal(afmpeg_fs_stat_path(fs, "d", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);
    assert_int_equal(afmpeg_fs_stat_path(fs, "/", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);
    assert_int_equal(afmpeg_fs_stat_path(fs, "nope", &st), AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_remove(fs, "a.bin"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(fs, "a.bin", &st), AFMPEG_ENOENT);
}

static void check_offsets(afmpeg_fs *fs)
{
    void *h;
    char buf[64];
    afmpeg_fs_stat st;
    unsigned rw = AFMPEG_FS_READ | AFMPEG_FS_WRITE;
    assert_int_equal(xopen(fs, "f", rw | AFMPEG_FS_CREATE, &h), 0);
    assert_int_equal(xpwrite(fs, h, "abc", 0), 3);
    assert_int_equal(xpwrite(fs, h, "Z", 10), 1); /* past the end: the gap reads as zeros */
    assert_int_equal(xfstat(fs, h, &st), 0);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_FILE);
    assert_int_equal(st.size, 11);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), 11);
    assert_memory_equal(buf, "abc\0\0\0\0\0\0\0Z", 11);
    assert_int_equal(xpread(fs, h, buf, 2, 1), 2);
    assert_memory_equal(buf, "bc", 2);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 11), 0);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 1000), 0);

    /* Shrinking then growing must not bring old bytes back. */
    assert_int_equal(fs->ops.ftruncate(fs->payload, h, 2), 0);
    assert_int_equal(fs->ops.ftruncate(fs->payload, h, 6), 0);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "ab\0\0\0\0", 6);
    assert_int_equal(xpwrite(fs, h, "Q", 6), 1); /* append by offset */
    assert_int_equal(xfstat(fs, h, &st), 0);
    assert_int_equal(st.size, 7);
    assert_int_equal(xclose(fs, h), 0);

    /* Access modes are enforced per handle. */
    assert_int_equal(xopen(fs, "f", AFMPEG_FS_READ, &h), 0);
    assert_int_equal(xpwrite(fs, h, "no", 0), -EBADF);
    assert_int_equal(xclose(fs, h), 0);
    assert_int_equal(xopen(fs, "f", AFMPEG_FS_WRITE | AFMPEG_FS_TRUNC, &h), 0);
    assert_int_equal(xpread(fs, h, buf, 1, 0), -EBADF);
    assert_int_equal(xfstat(fs, h, &st), 0);
    assert_int_equal(st.size, 0);
    assert_int_equal(xclose(fs, h), 0);
}

static void check_open_flags(afmpeg_fs *fs)
{
    void *h;
    char buf[4];
    assert_int_equal(afmpeg_fs_mkdir(fs, "od"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "od/f", "1", 1), AFMPEG_OK);
    assert_int_equal(xopen(fs, "od/f", AFMPEG_FS_WRITE | AFMPEG_FS_CREATE | AFMPEG_FS_EXCL, &h),
                     -EEXIST);
    assert_int_equal(xopen(fs, "od/f", AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY, &h), -ENOTDIR);
    assert_int_equal(xopen(fs, "od", AFMPEG_FS_WRITE, &h), -EISDIR);
    assert_int_equal(xopen(fs, "od", AFMPEG_FS_READ | AFMPEG_FS_WRITE, &h), -EISDIR);
    assert_int_equal(xopen(fs, "od/none", AFMPEG_FS_READ, &h), -ENOENT);
    assert_int_equal(xopen(fs, "od/f/x", AFMPEG_FS_READ, &h), -ENOTDIR);
    assert_int_equal(xopen(fs, "od", AFMPEG_FS_CREATE | AFMPEG_FS_DIRECTORY, &h), -EINVAL);
    assert_int_equal(xopen(fs, "od/f", AFMPEG_FS_READ | 0x1000u, &h), -EINVAL);
    /* A directory may be opened to read, but reads as a directory. */
    assert_int_equal(xopen(fs, "od", AFMPEG_FS_READ, &h), 0);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), -EISDIR);
    assert_int_equal(xclose(fs, h), 0);
    assert_int_equal(xopen(fs, "", AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY, &h), 0);
    assert_int_equal(xclose(fs, h), 0);
}

static int cmp_dirent(const void *a, const void *b)
{
    return strcmp(((const afmpeg_fs_dirent *)a)->name, ((const afmpeg_fs_dirent *)b)->name);
}

static void check_readdir(afmpeg_fs *fs)
{
    assert_int_equal(afmpeg_fs_mkdir(fs, "r"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "r/b", "b", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "r/a", "a", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "r/c"), AFMPEG_OK);
    void *h;
    afmpeg_fs_dirent e[4], again;
    assert_int_equal(xopen(fs, "r", AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY, &h), 0);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(fs->ops.readdir(fs->payload, h, i, &e[i]), 1);
    assert_int_equal(fs->ops.readdir(fs->payload, h, 3, &e[3]), 0);
    assert_int_equal(fs->ops.readdir(fs->payload, h, 1, &again), 1); /* going back works */
    assert_string_equal(again.name, e[1].name);
    assert_int_equal(fs->ops.readdir(fs->payload, h, 0, &again), 1);
    assert_string_equal(again.name, e[0].name);
    assert_int_equal(xclose(fs, h), 0);
    qsort(e, 3, sizeof e[0], cmp_dirent); /* a host directory has its own order */
    assert_string_equal(e[0].name, "a");
    assert_int_equal(e[0].type, AFMPEG_FS_TYPE_FILE);
    assert_string_equal(e[1].name, "b");
    assert_string_equal(e[2].name, "c");
    assert_int_equal(e[2].type, AFMPEG_FS_TYPE_DIRECTORY);
    afmpeg_fs_stat st;
    assert_int_equal(xstat(fs, "r/c", &st), 0);
    assert_int_equal(e[2].ino, st.ino);
    assert_true(e[0].ino != e[1].ino && e[1].ino != e[2].ino && e[0].ino != e[2].ino);

    assert_int_equal(xopen(fs, "r/a", AFMPEG_FS_READ, &h), 0);
    assert_int_equal(fs->ops.readdir(fs->payload, h, 0, &again), -ENOTDIR);
    assert_int_equal(xclose(fs, h), 0);
}

static void check_rename_remove(afmpeg_fs *fs)
{
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_mkdir(fs, "m"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "m/sub"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "m/a", "A", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "m/b", "B", 1), AFMPEG_OK);
    assert_int_equal(fs->ops.rename(fs->payload, "m/a", "m/a2"), 0);
    assert_int_equal(xstat(fs, "m/a", &st), -ENOENT);
    expect_file(fs, "m/a2", "A");
    assert_int_equal(fs->ops.rename(fs->payload, "m/a2", "m/b"), 0); /* replaces a file */
    expect_file(fs, "m/b", "A");
    assert_int_equal(fs->ops.rename(fs->payload, "m/b", "m/b"), 0);
    expect_file(fs, "m/b", "A");
    assert_int_equal(fs->ops.rename(fs->payload, "m", "m2"), 0); /* a directory, with content */
    expect_file(fs, "m2/b", "A");
    assert_int_equal(fs->ops.rename(fs->payload, "m2", "m2/sub/x"), -EINVAL);
    assert_int_equal(fs->ops.rename(fs->payload, "m2", "m2/x"), -EINVAL);
    assert_int_equal(fs->ops.rename(fs->payload, "nope", "x"), -ENOENT);
    assert_int_equal(fs->ops.rename(fs->payload, "m2/b", "nope/x"), -ENOENT);

    assert_int_equal(afmpeg_fs_mkdir(fs, "full"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "full/f", "F", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "hollow"), AFMPEG_OK);
    assert_int_equal(fs->ops.rename(fs->payload, "m2/sub", "full"), -ENOTEMPTY);
    assert_int_equal(fs->ops.rename(fs->payload, "m2/b", "hollow"), -EISDIR);
    assert_int_equal(fs->ops.rename(fs->payload, "hollow", "m2/b"), -ENOTDIR);
    assert_int_equal(fs->ops.rename(fs->payload, "m2/sub", "hollow"), 0); /* an empty one goes */
    assert_int_equal(xstat(fs, "m2/sub", &st), -ENOENT);
    assert_int_equal(xstat(fs, "hollow", &st), 0);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);

    assert_int_equal(fs->ops.rmdir(fs->payload, "full"), -ENOTEMPTY);
    assert_int_equal(fs->ops.rmdir(fs->payload, "full/f"), -ENOTDIR);
    assert_int_equal(fs->ops.rmdir(fs->payload, "nope"), -ENOENT);
    assert_int_equal(fs->ops.unlink(fs->payload, "full"), -EISDIR);
    assert_int_equal(fs->ops.unlink(fs->payload, "full/f"), 0);
    assert_int_equal(fs->ops.rmdir(fs->payload, "full"), 0);
    assert_int_equal(xstat(fs, "full", &st), -ENOENT);
    assert_int_equal(fs->ops.rmdir(fs->payload, ""), -EBUSY);
    assert_int_equal(fs->ops.rename(fs->payload, "", "x"), -EBUSY);
    assert_int_equal(fs->ops.rename(fs->payload, "hollow", ""), -EBUSY);
}

static void check_unlink_open(afmpeg_fs *fs)
{
    void *h;
    char buf[16];
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_write_file(fs, "u", "keep", 4), AFMPEG_OK);
    assert_int_equal(xopen(fs, "u", AFMPEG_FS_READ | AFMPEG_FS_WRITE, &h), 0);
    assert_int_equal(afmpeg_fs_remove(fs, "u"), AFMPEG_OK);
    assert_int_equal(xstat(fs, "u", &st), -ENOENT);
    assert_int_equal(xpwrite(fs, h, "XY", 4), 2);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), 6);
    assert_memory_equal(buf, "keepXY", 6);
    assert_int_equal(afmpeg_fs_write_file(fs, "u", "new", 3), AFMPEG_OK);
    expect_file(fs, "u", "new");
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), 6);
    assert_int_equal(xclose(fs, h), 0);
    expect_file(fs, "u", "new");
}

static void check_stat_times(afmpeg_fs *fs)
{
    afmpeg_fs_stat a, b, c;
    assert_int_equal(afmpeg_fs_write_file(fs, "t1", "1", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "t2", "2", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(fs, "t1", &a), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(fs, "t2", &b), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(fs, "/", &c), AFMPEG_OK);
    assert_true(a.ino != 0 && a.ino != b.ino && a.ino != c.ino && b.ino != c.ino);
    assert_true(a.mtime_ns > 0);
    /* Longer than a coarse kernel clock tick, so a host file's mtime must move too. */
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    void *h;
    assert_int_equal(xopen(fs, "t1", AFMPEG_FS_WRITE, &h), 0);
    assert_int_equal(xpwrite(fs, h, "x", 0), 1);
    assert_int_equal(xfstat(fs, h, &b), 0);
    assert_int_equal(xclose(fs, h), 0);
    assert_true(b.mtime_ns > a.mtime_ns);
    assert_int_equal(b.ino, a.ino);
}

static void check_semantics(afmpeg_fs *fs)
{
    check_files(fs);
    check_offsets(fs);
    check_open_flags(fs);
    check_readdir(fs);
    check_rename_remove(fs);
    check_unlink_open(fs);
    check_stat_times(fs);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory filesystem */

static void test_memfs_semantics(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    check_semantics(fs);
    afmpeg_fs_free(fs); /* with files and directories left in it */
}

static void test_memfs_limits(void **state)
{
    afmpeg_fs *fs;
    void *h;
    char buf[8];
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_new_memory(NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(xopen(fs, "big", AFMPEG_FS_READ | AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &h),
                     0);
    assert_int_equal(xpwrite(fs, h, "ok", 0), 2);
    assert_int_equal(xpwrite(fs, h, "x", UINT64_MAX), -EFBIG);
    assert_int_equal(xpwrite(fs, h, "xy", INT64_MAX), -EFBIG);
    assert_int_equal(xpwrite(fs, h, "", UINT64_MAX), 0);
    assert_int_equal(xpwrite(fs, h, "x", (uint64_t)1 << 50), -ENOMEM);
    assert_int_equal(fs->ops.ftruncate(fs->payload, h, UINT64_MAX), -EFBIG);
    assert_int_equal(fs->ops.ftruncate(fs->payload, h, (uint64_t)1 << 50), -ENOMEM);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, UINT64_MAX), 0);
    /* The failures changed nothing. */
    assert_int_equal(xfstat(fs, h, &st), 0);
    assert_int_equal(st.size, 2);
    assert_int_equal(xpread(fs, h, buf, sizeof buf, 0), 2);
    assert_memory_equal(buf, "ok", 2);
    assert_int_equal(xclose(fs, h), 0);

    /* Growth by many small appends. */
    assert_int_equal(xopen(fs, "grow", AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &h), 0);
    for (uint64_t i = 0; i < 10000; i++)
        assert_int_equal(xpwrite(fs, h, "0123456789", i * 10), 10);
    assert_int_equal(xclose(fs, h), 0);
    assert_int_equal(afmpeg_fs_stat_path(fs, "grow", &st), AFMPEG_OK);
    assert_int_equal(st.size, 100000);

    /* Components longer than a dirent name are refused even if a caller skips resolution. */
    char name[300];
    memset(name, 'n', 256);
    name[256] = '\0';
    assert_int_equal(xopen(fs, name, AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &h), -ENAMETOOLONG);
    assert_int_equal(fs->ops.mkdir(fs->payload, name), -ENAMETOOLONG);

    /* A directory removed while open reads as empty. */
    assert_int_equal(afmpeg_fs_mkdir(fs, "gone"), AFMPEG_OK);
    assert_int_equal(xopen(fs, "gone", AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY, &h), 0);
    assert_int_equal(fs->ops.rmdir(fs->payload, "gone"), 0);
    afmpeg_fs_dirent e;
    assert_int_equal(fs->ops.readdir(fs->payload, h, 0, &e), 0);
    assert_int_equal(xclose(fs, h), 0);
    afmpeg_fs_free(fs);
}

enum { THREADS = 4, ROUNDS = 300 };

typedef struct worker {
    afmpeg_fs *fs;
    int id;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char dir[32], path[64], content[64];
    snprintf(dir, sizeof dir, "/w%d", w->id);
    w->failures += afmpeg_fs_mkdir(w->fs, dir) != AFMPEG_OK;
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(path, sizeof path, "%s/f%d", dir, i % 7);
        int n = snprintf(content, sizeof content, "thread %d round %d", w->id, i);
        w->failures += afmpeg_fs_write_file(w->fs, path, content, (size_t)n) != AFMPEG_OK;
        void *data;
        size_t len;
        if (afmpeg_fs_read_file(w->fs, path, &data, &len) != AFMPEG_OK) {
            w->failures++;
            continue;
        }
        w->failures += len != (size_t)n || memcmp(data, content, len) != 0;
        afmpeg_free(data);
        /* Shared directory traffic from every thread. */
        snprintf(path, sizeof path, "/shared/t%d", w->id);
        w->failures += afmpeg_fs_write_file(w->fs, path, "s", 1) != AFMPEG_OK;
        w->failures += afmpeg_fs_remove(w->fs, path) != AFMPEG_OK;
    }
    return NULL;
}

static void test_memfs_threads(void **state)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "shared"), AFMPEG_OK);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){fs, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    afmpeg_fs_free(fs);
}

/* ------------------------------------------------------------------------------------------ */
/* Host directory */

typedef struct host_fixture {
    char base[PATH_MAX];    /* fresh temporary directory, removed afterwards */
    char jail[PATH_MAX];    /* base/jail: the filesystem's root */
    char outside[PATH_MAX]; /* base/outside: must stay untouched */
    char secret[PATH_MAX];  /* base/outside/secret */
    afmpeg_fs *fs;          /* NULL when the kernel (or valgrind) lacks openat2 */
    int fds;                /* descriptors open before the test, to catch leaks */
} host_fixture;

static int count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
}

static void host_write(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, strlen(s), f), strlen(s));
    assert_int_equal(fclose(f), 0);
}

static void join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_MAX);
}

static int host_setup(void **state)
{
    host_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->fds = count_fds();
    const char *tmp = getenv("TMPDIR");
    snprintf(f->base, sizeof f->base, "%s/afm_test_fs_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->base))
        return -1;
    umask(022);
    join(f->jail, f->base, "jail");
    join(f->outside, f->base, "outside");
    join(f->secret, f->outside, "secret");
    if (mkdir(f->jail, 0755) || mkdir(f->outside, 0755))
        return -1;
    int rc = afmpeg_fs_new_hostdir(f->jail, &f->fs);
    return rc == AFMPEG_OK || rc == AFMPEG_ENOTSUP ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static int host_teardown(void **state)
{
    host_fixture *f = *state;
    afmpeg_fs_free(f->fs);
    int rc = nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
    if (count_fds() != f->fds) {
        fprintf(stderr, "descriptors leaked: %d before, %d after\n", f->fds, count_fds());
        rc = -1;
    }
    free(f);
    return rc;
}

static afmpeg_fs *host_fs(void **state)
{
    host_fixture *f = *state;
    if (!f->fs)
        skip(); /* openat2 unavailable: the constructor refused, as it must */
    return f->fs;
}

static void test_hostfs_new(void **state)
{
    host_fixture *f = *state;
    afmpeg_fs *fs = (afmpeg_fs *)1;
    char path[PATH_MAX];
    join(path, f->base, "missing");
    assert_int_equal(afmpeg_fs_new_hostdir(path, &fs), AFMPEG_ENOENT);
    assert_null(fs);
    join(path, f->base, "plain");
    host_write(path, "x");
    assert_int_equal(afmpeg_fs_new_hostdir(path, &fs), AFMPEG_ENOTDIR);
    assert_int_equal(afmpeg_fs_new_hostdir(NULL, &fs), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_new_hostdir(f->jail, NULL), AFMPEG_EINVAL);
}

static void test_hostfs_semantics(void **state)
{
    host_fixture *f = *state;
    afmpeg_fs *fs = host_fs(state);
    check_semantics(fs);

    /* What the helpers wrote is on the host, with the documented modes. */
    char path[PATH_MAX], buf[16];
    struct stat st;
    assert_int_equal(afmpeg_fs_mkdir(fs, "/made"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "/made/file.txt", "host", 4), AFMPEG_OK);
    join(path, f->jail, "made/file.txt");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fread(buf, 1, sizeof buf, file), 4);
    fclose(file);
    assert_memory_equal(buf, "host", 4);
    join(path, f->jail, "made");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    join(path, f->jail, "made/from_host");
    host_write(path, "from the host");
    expect_file(fs, "made/from_host", "from the host");
}

static void expect_outside_untouched(host_fixture *f, const struct stat *before)
{
    struct stat st;
    char buf[64];
    assert_int_equal(stat(f->secret, &st), 0);
    assert_int_equal(st.st_size, before->st_size);
    assert_int_equal(st.st_mtim.tv_sec, before->st_mtim.tv_sec);
    assert_int_equal(st.st_mtim.tv_nsec, before->st_mtim.tv_nsec);
    FILE *file = fopen(f->secret, "rb");
    assert_non_null(file);
    size_t n = fread(buf, 1, sizeof buf, file);
    fclose(file);
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "secret!", 7);
    /* The outside directory still holds the secret alone. */
    int entries = 0;
    DIR *dir = opendir(f->outside);
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            assert_string_equal(e->d_name, "secret");
            entries++;
        }
    }
    closedir(dir);
    assert_int_equal(entries, 1);
}

static void test_hostfs_jail(void **state)
{
    host_fixture *f = *state;
    afmpeg_fs *fs = host_fs(state);
    char path[PATH_MAX];
    host_write(f->secret, "secret!");
    /* Past a coarse clock tick, so that any write through an escape would move the mtime. */
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    struct stat before;
    assert_int_equal(stat(f->secret, &before), 0);

#define JAIL_LINK(target, name)                                                                \
    do {                                                                                       \
        join(path, f->jail, name);                                                             \
        assert_int_equal(symlink(target, path), 0);                                            \
    } while (0)
    JAIL_LINK("../outside/secret", "esc_file");
    JAIL_LINK(f->secret, "esc_abs");
    JAIL_LINK("../outside", "esc_dir");
    JAIL_LINK(f->outside, "esc_dir_abs");
    JAIL_LINK("/", "esc_root");
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "sub/f", "inner", 5), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "top", "top", 3), AFMPEG_OK);
    JAIL_LINK("sub/f", "in_link");
    JAIL_LINK("../top", "sub/up");
    JAIL_LINK("../../outside/secret", "sub/esc_deep");
#undef JAIL_LINK

    /* Files through escaping symlinks: no read, write or stat. */
    const char *const esc_files[] = {"esc_file", "esc_abs", "sub/esc_deep", "esc_dir/secret",
                                     "esc_dir_abs/secret", "esc_root/etc/passwd"};
    afmpeg_fs_stat st;
    void *h;
    for (size_t i = 0; i < sizeof esc_files / sizeof esc_files[0]; i++) {
        const char *p = esc_files[i];
        expect_read_error(fs, p, AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_write_file(fs, p, "pwned", 5), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_stat_path(fs, p, &st), AFMPEG_EACCES);
        assert_int_equal(xopen(fs, p, AFMPEG_FS_READ, &h), -EACCES);
        assert_int_equal(xopen(fs, p, AFMPEG_FS_WRITE | AFMPEG_FS_TRUNC, &h), -EACCES);
        assert_int_equal(xopen(fs, p, AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &h), -EACCES);
    }
    /* Directories through escaping symlinks: nothing created, listed or removed there. */
    assert_int_equal(afmpeg_fs_mkdir(fs, "esc_dir/new"), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_mkdir(fs, "esc_dir_abs/new"), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_write_file(fs, "esc_dir/new.txt", "x", 1), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_write_file(fs, "esc_dir_abs/new.txt", "x", 1), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_remove(fs, "esc_dir/secret"), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_stat_path(fs, "esc_dir", &st), AFMPEG_EACCES);
    assert_int_equal(xopen(fs, "esc_dir", AFMPEG_FS_READ | AFMPEG_FS_DIRECTORY, &h), -EACCES);
    assert_int_equal(fs->ops.rmdir(fs->payload, "esc_dir/x"), -EACCES);
    /* Renames that would move a file out, or one in from outside. */
    assert_int_equal(fs->ops.rename(fs->payload, "top", "esc_dir/moved"), -EACCES);
    assert_int_equal(fs->ops.rename(fs->payload, "top", "esc_dir_abs/moved"), -EACCES);
    assert_int_equal(fs->ops.rename(fs->payload, "esc_dir/secret", "stolen"), -EACCES);
    expect_file(fs, "top", "top");
    assert_int_equal(afmpeg_fs_stat_path(fs, "stolen", &st), AFMPEG_ENOENT);

    /* ".." and absolute paths, whether resolved first or handed straight to the callbacks. */
    char out[AFM_PATH_MAX + 1];
    assert_int_equal(afm_path_resolve("", "../x", 4, out, sizeof out), -EACCES);
    assert_int_equal(afmpeg_fs_write_file(fs, "../x", "x", 1), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_write_file(fs, "/../outside/secret", "x", 1), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub/../../y"), AFMPEG_EACCES);
    join(path, f->base, "x");
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(xstat(fs, "../outside/secret", &st), -EACCES);
    assert_int_equal(xstat(fs, f->secret, &st), -EACCES);
    assert_int_equal(xopen(fs, f->secret, AFMPEG_FS_READ, &h), -EACCES);
    assert_int_equal(fs->ops.mkdir(fs->payload, "../outside/evil"), -EACCES);
    assert_int_equal(fs->ops.unlink(fs->payload, "../outside/secret"), -EACCES);
    assert_int_equal(fs->ops.unlink(fs->payload, "sub/.."), -EINVAL);
    assert_int_equal(fs->ops.rename(fs->payload, "top", "../outside/x"), -EACCES);
    assert_int_equal(fs->ops.rename(fs->payload, "../outside/secret", "x"), -EACCES);

    expect_outside_untouched(f, &before);

    /* Symlinks that stay inside work, ".." within the jail included. */
    expect_file(fs, "in_link", "inner");
    expect_file(fs, "sub/up", "top");
    assert_int_equal(afmpeg_fs_write_file(fs, "in_link", "changed", 7), AFMPEG_OK);
    expect_file(fs, "sub/f", "changed");
    assert_int_equal(afmpeg_fs_stat_path(fs, "sub/up", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_FILE);
    /* Removing an escaping link removes the link only. */
    assert_int_equal(afmpeg_fs_remove(fs, "esc_file"), AFMPEG_OK);
    join(path, f->jail, "esc_file");
    struct stat lst;
    assert_int_equal(lstat(path, &lst), -1);
    expect_outside_untouched(f, &before);
}

static void test_hostfs_names(void **state)
{
    host_fixture *f = *state;
    afmpeg_fs *fs = host_fs(state);
    char name[300], path[PATH_MAX];
    void *h;
    memset(name, 'a', 300);
    name[299] = '\0';
    assert_int_equal(afmpeg_fs_write_file(fs, name, "x", 1), AFMPEG_EINVAL);
    name[256] = '\0';
    assert_int_equal(xopen(fs, name, AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &h), -ENAMETOOLONG);
    assert_int_equal(fs->ops.mkdir(fs->payload, name), -ENAMETOOLONG);
    name[255] = '\0';
    assert_int_equal(afmpeg_fs_write_file(fs, name, "x", 1), AFMPEG_OK);
    expect_file(fs, name, "x");

    /* A directory is no file to write, and FIFOs are refused instead of blocking the job. */
    assert_int_equal(afmpeg_fs_mkdir(fs, "dir"), AFMPEG_OK);
    assert_int_equal(xopen(fs, "dir", AFMPEG_FS_WRITE, &h), -EISDIR);
    assert_int_equal(afmpeg_fs_write_file(fs, "dir", "x", 1), AFMPEG_EISDIR);
    join(path, f->jail, "fifo");
    assert_int_equal(mkfifo(path, 0644), 0);
    assert_int_equal(xopen(fs, "fifo", AFMPEG_FS_READ, &h), -ENXIO);
    assert_int_equal(xopen(fs, "fifo", AFMPEG_FS_WRITE, &h), -ENXIO);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "fifo", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_UNKNOWN);
}

/* ------------------------------------------------------------------------------------------ */
/* Custom filesystem: one flat directory of at most two files, and only the required callbacks */

typedef struct flat_file {
    char name[32];
    char data[64];
    size_t len;
    int used;
} flat_file;

typedef struct flat_fs {
    flat_file files[2];
    int64_t pread_bonus; /* added to pread's count, to misbehave */
    int pwrite_stall;    /* pwrite returns 0 */
    int size_lie;        /* fstat says the file is empty, as if it grew since */
    int destroyed;
} flat_fs;

static int flat_open(void *payload, const char *path, unsigned flags, void **out)
{
    flat_fs *ffs = payload;
    flat_file *free_slot = NULL;
    if (strlen(path) >= sizeof ffs->files[0].name || strchr(path, '/') || !*path)
        return -ENOTSUP;
    for (int i = 0; i < 2; i++) {
        flat_file *file = &ffs->files[i];
        if (file->used && strcmp(file->name, path) == 0) {
            if (flags & AFMPEG_FS_TRUNC)
                file->len = 0;
            *out = file;
            return 0;
        }
        if (!file->used && !free_slot)
            free_slot = file;
    }
    if (!(flags & AFMPEG_FS_CREATE))
        return -ENOENT;
    if (!free_slot)
        return -ENOSPC;
    strcpy(free_slot->name, path);
    free_slot->len = 0;
    free_slot->used = 1;
    *out = free_slot;
    return 0;
}

static int flat_close(void *payload, void *handle)
{
    return 0;
}

static int64_t flat_pread(void *payload, void *handle, void *buf, size_t len, uint64_t off)
{
    flat_fs *ffs = payload;
    flat_file *file = handle;
    if (off >= file->len)
        return 0;
    size_t n = file->len - off < len ? file->len - off : len;
    memcpy(buf, file->data + off, n);
    return (int64_t)n + ffs->pread_bonus;
}

static int64_t flat_pwrite(void *payload, void *handle, const void *buf, size_t len,
                           uint64_t off)
{
    flat_fs *ffs = payload;
    flat_file *file = handle;
    if (ffs->pwrite_stall)
        return 0;
    if (off > sizeof file->data || len > sizeof file->data - off)
        return -EFBIG;
    memcpy(file->data + off, buf, len);
    if (off + len > file->len)
        file->len = off + len;
    return (int64_t)len;
}

static int flat_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    flat_fs *ffs = payload;
    flat_file *file = handle;
    *out = (afmpeg_fs_stat){AFMPEG_FS_TYPE_FILE, ffs->size_lie ? 0 : file->len, 0, 0};
    return 0;
}

static int flat_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    void *h;
    int rc = flat_open(payload, path, 0, &h);
    return rc ? rc : flat_fstat(payload, h, out);
}

static void flat_destroy(void *payload)
{
    ((flat_fs *)payload)->destroyed++;
}

static const afmpeg_fs_ops flat_ops = {
    .version = AFMPEG_FS_OPS_VERSION,
    .open = flat_open,
    .close = flat_close,
    .pread = flat_pread,
    .pwrite = flat_pwrite,
    .fstat = flat_fstat,
    .stat = flat_stat,
};

static void test_custom(void **state)
{
    flat_fs ffs = {0};
    afmpeg_fs_ops ops = flat_ops;
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_custom(&ops, &ffs, &fs), AFMPEG_OK);
    ops.open = NULL; /* the ops were copied */
    assert_int_equal(afmpeg_fs_write_file(fs, "/hello.txt", "hi there", 8), AFMPEG_OK);
    expect_file(fs, "hello.txt", "hi there");
    assert_int_equal(afmpeg_fs_write_file(fs, "/hello.txt", "bye", 3), AFMPEG_OK);
    expect_file(fs, "./hello.txt", "bye");
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "hello.txt", &st), AFMPEG_OK);
    assert_int_equal(st.size, 3);
    expect_read_error(fs, "missing", AFMPEG_ENOENT);
    static const char hundred[100];
    assert_int_equal(afmpeg_fs_write_file(fs, "big", hundred, 100), AFMPEG_EIO); /* -EFBIG */

    /* The optional callbacks answer ENOTSUP. */
    assert_int_equal(afmpeg_fs_mkdir(fs, "d"), AFMPEG_ENOTSUP);
    assert_int_equal(afmpeg_fs_remove(fs, "hello.txt"), AFMPEG_ENOTSUP);
    void *h;
    afmpeg_fs_dirent e;
    assert_int_equal(xopen(fs, "hello.txt", AFMPEG_FS_READ, &h), 0);
    assert_int_equal(fs->ops.ftruncate(fs->payload, h, 0), -ENOTSUP);
    assert_int_equal(fs->ops.readdir(fs->payload, h, 0, &e), -ENOTSUP);
    assert_int_equal(xclose(fs, h), 0);
    assert_int_equal(fs->ops.rmdir(fs->payload, "d"), -ENOTSUP);
    assert_int_equal(fs->ops.rename(fs->payload, "a", "b"), -ENOTSUP);

    /* Callbacks that misbehave give an error, not a loop or an overrun. */
    ffs.pread_bonus = 1000;
    expect_read_error(fs, "hello.txt", AFMPEG_EIO);
    ffs.pread_bonus = INT64_MIN / 2; /* negative, but no -errno */
    expect_read_error(fs, "hello.txt", AFMPEG_EIO);
    ffs.pread_bonus = 0;
    ffs.size_lie = 1; /* read_file reads to the end, not to the size it was told */
    assert_int_equal(afmpeg_fs_write_file(fs, "hello.txt", "0123456789abcdefghij", 20), AFMPEG_OK);
    expect_file(fs, "hello.txt", "0123456789abcdefghij");
    ffs.size_lie = 0;
    ffs.pwrite_stall = 1;
    assert_int_equal(afmpeg_fs_write_file(fs, "hello.txt", "x", 1), AFMPEG_EIO);
    afmpeg_fs_free(fs); /* no destroy callback: nothing to call */

    ops = flat_ops;
    ops.destroy = flat_destroy;
    assert_int_equal(afmpeg_fs_new_custom(&ops, &ffs, &fs), AFMPEG_OK);
    afmpeg_fs_free(fs);
    assert_int_equal(ffs.destroyed, 1);
}

static void test_custom_invalid(void **state)
{
    afmpeg_fs_ops ops = flat_ops;
    afmpeg_fs *fs = (afmpeg_fs *)1;
    assert_int_equal(afmpeg_fs_new_custom(NULL, NULL, &fs), AFMPEG_EINVAL);
    assert_null(fs);
    assert_int_equal(afmpeg_fs_new_custom(&ops, NULL, NULL), AFMPEG_EINVAL);
    ops.version = AFMPEG_FS_OPS_VERSION + 1;
    assert_int_equal(afmpeg_fs_new_custom(&ops, NULL, &fs), AFMPEG_EINVAL);
    /* Each required callback missing in turn. */
    afmpeg_fs_ops lacking[6] = {flat_ops, flat_ops, flat_ops, flat_ops, flat_ops, flat_ops};
    lacking[0].open = NULL;
    lacking[1].close = NULL;
    lacking[2].pread = NULL;
    lacking[3].pwrite = NULL;
    lacking[4].fstat = NULL;
    lacking[5].stat = NULL;
    for (size_t i = 0; i < 6; i++) {
        fs = (afmpeg_fs *)1;
        assert_int_equal(afmpeg_fs_new_custom(&lacking[i], NULL, &fs), AFMPEG_EINVAL);
        assert_null(fs);
    }
}

static void test_helper_args(void **state)
{
    afmpeg_fs *fs;
    void *data;
    size_t len;
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(NULL, "x", "x", 1), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_write_file(fs, NULL, "x", 1), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_write_file(fs, "x", NULL, 1), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_write_file(fs, "", "x", 1), AFMPEG_ENOENT);
    assert_int_equal(afmpeg_fs_write_file(fs, "/", "x", 1), AFMPEG_EISDIR);
    assert_int_equal(afmpeg_fs_read_file(fs, "x", NULL, &len), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_read_file(fs, "x", &data, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_read_file(NULL, "x", &data, &len), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_stat_path(fs, "/", NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_stat_path(NULL, "/", &st), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_mkdir(NULL, "d"), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_remove(fs, NULL), AFMPEG_EINVAL);
    assert_int_equal(afmpeg_fs_remove(fs, "/"), AFMPEG_EISDIR);
    assert_int_equal(afmpeg_fs_write_file(fs, "a\xff", "x", 1), AFMPEG_OK); /* bytes, not UTF-8 */
    afmpeg_fs_free(fs);
    afmpeg_fs_free(NULL);
    afmpeg_free(NULL);
}

/* The built-in fonts on top of a job's filesystem (fs/fonts.c): readable TrueType files, a
 * directory listing them, nothing in it writable, everything else the caller's. */
static void test_fonts_view(void **state)
{
    (void)state;
    afmpeg_fs *base;
    assert_int_equal(afmpeg_fs_new_memory(&base), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(base, "/a.txt", "abc", 3), AFMPEG_OK);
    afm_fonts_view v;
    afm_fonts_view_init(&v, base);
    afmpeg_fs *fs = &v.fs;

    void *data;
    size_t len;
    assert_int_equal(afmpeg_fs_read_file(fs, "/.afmpeg/fonts/DejaVuSans.ttf", &data, &len),
                     AFMPEG_OK);
    assert_true(len > 100000);
    assert_memory_equal(data, "\0\1\0\0", 4); /* a TrueType font's sfnt version */
    afmpeg_free(data);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "/.afmpeg/fonts", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);
    assert_int_equal(afmpeg_fs_stat_path(fs, "/.afmpeg/fonts/DejaVuSans-Bold.ttf", &st),
                     AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_FILE);
    assert_int_equal(afmpeg_fs_stat_path(fs, "/.afmpeg/fonts/Nope.ttf", &st), AFMPEG_ENOENT);

    /* the listing, through the callbacks as the WASI layer calls them */
    void *dir;
    afmpeg_fs_dirent e;
    assert_int_equal(fs->ops.open(fs->payload, ".afmpeg/fonts", AFMPEG_FS_DIRECTORY, &dir), 0);
    size_t n = 0;
    while (fs->ops.readdir(fs->payload, dir, n, &e) == 1) {
        assert_true(strstr(e.name, ".ttf") != NULL);
        assert_int_equal(e.type, AFMPEG_FS_TYPE_FILE);
        n++;
    }
    assert_int_equal(n, afm_fonts_count());
    assert_int_equal(n, 2);
    assert_int_equal(fs->ops.pread(fs->payload, dir, e.name, 1, 0), -EISDIR);
    assert_int_equal(fs->ops.close(fs->payload, dir), 0);
    assert_int_equal(fs->ops.open(fs->payload, ".afmpeg/fonts/DejaVuSans.ttf",
                                  AFMPEG_FS_DIRECTORY, &dir), -ENOTDIR);

    /* read-only */
    assert_int_equal(fs->ops.open(fs->payload, ".afmpeg/fonts/x.ttf",
                                  AFMPEG_FS_WRITE | AFMPEG_FS_CREATE, &dir), -EROFS);
    assert_int_equal(fs->ops.unlink(fs->payload, ".afmpeg/fonts/DejaVuSans.ttf"), -EROFS);
    assert_int_equal(fs->ops.rename(fs->payload, "a.txt", ".afmpeg/fonts/a.ttf"), -EROFS);
    assert_int_equal(fs->ops.mkdir(fs->payload, ".afmpeg/fonts/d"), -EROFS);
    assert_int_not_equal(afmpeg_fs_write_file(fs, "/.afmpeg/fonts/x.ttf", "x", 1), AFMPEG_OK);

    /* the rest is the caller's, both ways; a name that merely starts alike too */
    assert_int_equal(afmpeg_fs_read_file(fs, "/a.txt", &data, &len), AFMPEG_OK);
    assert_int_equal(len, 3);
    afmpeg_free(data);
    assert_int_equal(afmpeg_fs_write_file(fs, "/b.txt", "de", 2), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "/.afmpeg"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "/.afmpeg/fontsx", "f", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(base, "/b.txt", &st), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(base, "/.afmpeg/fontsx", &st), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_stat_path(base, "/.afmpeg/fonts", &st), AFMPEG_ENOENT);
    afmpeg_fs_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_table),
        cmocka_unit_test(test_path_limits),
        cmocka_unit_test(test_errno_map),
        cmocka_unit_test(test_memfs_semantics),
        cmocka_unit_test(test_memfs_limits),
        cmocka_unit_test(test_memfs_threads),
        cmocka_unit_test(test_fonts_view),
        cmocka_unit_test_setup_teardown(test_hostfs_new, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_hostfs_semantics, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_hostfs_jail, host_setup, host_teardown),
        cmocka_unit_test_setup_teardown(test_hostfs_names, host_setup, host_teardown),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_custom_invalid),
        cmocka_unit_test(test_helper_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
