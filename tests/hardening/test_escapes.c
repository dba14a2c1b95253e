/* Escapes from a job's filesystem, tried by the real guest: ffmpeg and ffprobe command lines run
 * through afmpeg_run(), so the WASI layer (lib/wasi/wasi.c) and the path rules (lib/fs/path.c)
 * are what is tested, on a jailed host directory, on the in-memory filesystem and on a custom
 * filesystem that records every path it is handed.
 *
 * Every escape must fail for the expected reason (the guest's error message is checked, so a
 * case cannot pass because, say, the input was missing for another reason), and afterwards the
 * host is compared with a snapshot taken before: every file and directory outside the jail has
 * the same bytes, type, size and mtime, and nothing was created or removed there. Each family of
 * escapes has control cases: the same command with a path inside the jail works. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "engine_util.h"
#pragma GCC diagnostic pop

/* The guest's strerror() texts (wasi-libc) for the reasons an escape is refused. */
#define CAP "Capabilities insufficient" /* ENOTCAPABLE: ".." above the root, symlink out */
#define NOENT "No such file or directory"
#define TOOLONG "Filename too long"
#define ISDIR "Is a directory"
#define NOTDIR "Not a directory"
#define LOOP "Symbolic link loop"

static afmpeg_runtime *rt;
static char root[128];   /* scratch: the "outside" (files next to the jail) */
static char jail[192];   /* root/jail: the host directory handed to the jobs */
static char gen[192];    /* root/gen: media made by Debian's ffmpeg (also outside) */

/* ---- host snapshot: everything under root except the jail -------------------------------- */

typedef struct snap_entry {
    char *rel;
    mode_t mode;
    off_t size;
    struct timespec mtime;
    uint64_t hash; /* FNV-1a of the contents, for files */
    char link[PATH_MAX];
} snap_entry;

typedef struct snap {
    snap_entry *v;
    size_t n, cap;
} snap;

static snap baseline;

static uint64_t hash_file(const char *path)
{
    uint64_t h = 1469598103934665603ull;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    int c;
    while ((c = getc(f)) != EOF)
        h = (h ^ (uint8_t)c) * 1099511628211ull;
    fclose(f);
    return h;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds root/rel and, for a directory, its entries (sorted), skipping root/skip entirely. */
static void snap_add(snap *s, const char *rel, const char *skip)
{
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%s%s%s", root, *rel ? "/" : "", rel);
    if (skip && !strcmp(rel, skip))
        return;
    struct stat st;
    if (lstat(full, &st))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    snap_entry *e = &s->v[s->n++];
    memset(e, 0, sizeof *e);
    e->rel = strdup(rel);
    e->mode = st.st_mode;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    if (S_ISREG(st.st_mode))
        e->hash = hash_file(full);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(full, e->link, sizeof e->link - 1);
        e->link[n > 0 ? n : 0] = '\0';
    }
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(full);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        snap_add(s, sub, skip);
        free(names[i]);
    }
    free(names);
}

static void snap_free(snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].rel);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* The outside as it is now equals the baseline (`what` names the case in a failure). */
static void assert_outside_unchanged(const char *what)
{
    snap now = {0};
    snap_add(&now, "", "jail");
    for (size_t i = 0; i < now.n || i < baseline.n; i++) {
        if (i >= now.n)
            fail_msg("%s: outside, %s/%s disappeared", what, root, baseline.v[i].rel);
        if (i >= baseline.n)
            fail_msg("%s: outside, %s/%s was created", what, root, now.v[i].rel);
        snap_entry *a = &baseline.v[i], *b = &now.v[i];
        if (strcmp(a->rel, b->rel))
            fail_msg("%s: outside, entries differ: %s/%s became %s/%s", what, root, a->rel, root,
                     b->rel);
        if (a->mode != b->mode || a->size != b->size || a->hash != b->hash ||
            a->mtime.tv_sec != b->mtime.tv_sec || a->mtime.tv_nsec != b->mtime.tv_nsec ||
            strcmp(a->link, b->link))
            fail_msg("%s: outside, %s/%s changed (mode %o->%o size %lld->%lld mtime %lld.%09ld->"
                     "%lld.%09ld)", what, root, a->rel, (unsigned)a->mode, (unsigned)b->mode,
                     (long long)a->size, (long long)b->size, (long long)a->mtime.tv_sec,
                     a->mtime.tv_nsec, (long long)b->mtime.tv_sec, b->mtime.tv_nsec);
    }
    snap_free(&now);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static void put_random(const char *path, size_t len, unsigned seed)
{
    unsigned char *b = malloc(len);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
    if (write_host_file(path, b, len))
        fail_msg("writing %s: %s", path, strerror(errno));
    free(b);
}

static void host_link(const char *target, const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", jail, name);
    unlink(p);
    if (symlink(target, p))
        fail_msg("symlink %s -> %s: %s", p, target, strerror(errno));
}

static int host_exists(const char *fmt, const char *a)
{
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, fmt, a);
    return lstat(p, &st) == 0;
}

/*
 * root/
 *   secret.raw, secret.wav, secret.ts      files outside the jail
 *   outdir/keep.raw                        a directory outside
 *   gen/                                   media made by Debian's ffmpeg
 *   jail/                                  the job's filesystem (host directory tests)
 *     in.raw in.wav in.ts sub/deeper/
 *     symlinks out (relative and absolute, to files and directories, chains, dangling, loops)
 *     and symlinks that stay inside (controls)
 */
static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/afmpeg-escapes-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(jail, sizeof jail, "%s/jail", root);
    snprintf(gen, sizeof gen, "%s/gen", root);
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1 -fflags +bitexact -flags +bitexact";
    if (sh("mkdir -p %s/sub/deeper %s/outdir %s && cd %s && "
           "%s -f lavfi -i sine=frequency=440:duration=0.5 -ac 1 -ar 8000 in.wav && "
           "%s -f lavfi -i sine=frequency=880:duration=0.5 -ac 1 -ar 8000 secret.wav && "
           "%s -f lavfi -i sine=frequency=440:duration=0.5 -ac 1 -ar 8000 -c:a aac in.ts && "
           "%s -f lavfi -i sine=frequency=880:duration=0.5 -ac 1 -ar 8000 -c:a aac secret.ts",
           jail, root, gen, gen, ff, ff, ff, ff))
        return -1;
    return afmpeg_new(NULL, &rt);
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    rt = NULL;
    snap_free(&baseline);
    sh("rm -rf '%s'", root);
    return 0;
}

/* A fresh host layout for one test; the baseline snapshot is taken at its end. */
static void host_fixture(void)
{
    char p[PATH_MAX];
    assert_int_equal(sh("rm -rf %s/jail %s/outdir %s/secret.* && mkdir -p %s/sub/deeper "
                        "%s/outdir && cp %s/secret.wav %s/secret.ts %s/ && cp %s/in.wav "
                        "%s/in.ts %s/", root, root, root, jail, root, gen, gen, root, gen, gen,
                        jail), 0);
    snprintf(p, sizeof p, "%s/secret.raw", root);
    put_random(p, 4096, 1);
    snprintf(p, sizeof p, "%s/outdir/keep.raw", root);
    put_random(p, 4096, 2);
    snprintf(p, sizeof p, "%s/in.raw", jail);
    put_random(p, 4096, 3);

    char abs[PATH_MAX];
    host_link("../secret.raw", "ln_file_rel");
    snprintf(abs, sizeof abs, "%s/secret.raw", root);
    host_link(abs, "ln_file_abs");
    host_link("ln_chain2", "ln_chain1");
    host_link("sub/ln_chain3", "ln_chain2");
    host_link("../../secret.raw", "sub/ln_chain3");
    host_link("../outdir", "ln_dir_rel");
    snprintf(abs, sizeof abs, "%s/outdir", root);
    host_link(abs, "ln_dir_abs");
    host_link("ln_dir_rel", "ln_dir_chain");
    host_link("..", "ln_dotdot");
    host_link("/", "ln_root");
    host_link("../dangling.raw", "ln_dangling_rel");
    snprintf(abs, sizeof abs, "%s/dangling.raw", root);
    host_link(abs, "ln_dangling_abs");
    host_link("ln_loop_b", "ln_loop_a");
    host_link("ln_loop_a", "ln_loop_b");
    host_link("../secret.wav", "ln_wav_rel");
    host_link("../secret.ts", "ln_ts_rel.ts");
    /* Links that stay inside: controls. */
    host_link("../in.raw", "sub/ln_up");
    host_link("sub/ln_chain_in2", "ln_chain_in1");
    host_link("../in.raw", "sub/ln_chain_in2");
    host_link("sub", "ln_dir_in");
    host_link("sub/created.raw", "ln_dangling_in");

    snap_free(&baseline);
    snap_add(&baseline, "", "jail");
    assert_true(baseline.n >= 8);
}

/* ---- running jobs -------------------------------------------------------------------------- */

/* Runs argv; the call itself must succeed (a trap is a failure of this suite). */
static afmpeg_result *job(afmpeg_fs *fs, const char *const *argv)
{
    afmpeg_result *res = NULL;
    int err = afmpeg_run(rt, fs, argv, NULL, &res);
    if (err)
        fail_msg("afmpeg_run(%s ... %s): %s (%s)", argv[0], argv[1], afmpeg_errname(err),
                 afmpeg_last_error());
    assert_non_null(res);
    return res;
}

/* The last 400 bytes of a log (messages about long paths are long). */
static const char *tail(const char *s)
{
    size_t n = strlen(s);
    return n > 400 ? s + n - 400 : s;
}

static void expect_ok(afmpeg_result *res, const char *what)
{
    if (afmpeg_result_exit_code(res) != 0)
        fail_msg("control %s failed (exit %d):\n%s", what, afmpeg_result_exit_code(res),
                 tail(afmpeg_result_stderr(res, NULL)));
}

/* The job failed (non-zero exit), and for the expected reason. */
static void expect_refused(afmpeg_result *res, const char *what, const char *why)
{
    const char *err = tail(afmpeg_result_stderr(res, NULL));
    if (afmpeg_result_exit_code(res) == 0)
        fail_msg("%s succeeded; it must fail (%s)\n%s", what, why, err);
    if (!strstr(err, why))
        fail_msg("%s failed, but not with \"%s\":\n%s", what, why, err);
}

/* ffmpeg reads `path` as raw bytes and copies them to copy.raw. */
static afmpeg_result *ffmpeg_read(afmpeg_fs *fs, const char *path)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f",
                          "rawvideo", "-pix_fmt", "gray", "-s", "16x16", "-i", path, "-f",
                          "rawvideo", "copy.raw", NULL};
    return job(fs, argv);
}

/* ffprobe reads `path` as raw bytes; prints its size. */
static afmpeg_result *ffprobe_read(afmpeg_fs *fs, const char *path)
{
    const char *argv[] = {"ffprobe", "-hide_banner", "-v", "error", "-f", "rawvideo",
                          "-pixel_format", "gray", "-video_size", "16x16", "-show_entries",
                          "format=size", "-of", "csv=p=0", path, NULL};
    return job(fs, argv);
}

/* ffmpeg copies in.raw to `path`. */
static afmpeg_result *ffmpeg_write(afmpeg_fs *fs, const char *path)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f",
                          "rawvideo", "-pix_fmt", "gray", "-s", "16x16", "-i", "in.raw", "-f",
                          "rawvideo", path, NULL};
    return job(fs, argv);
}

/* Set while the test itself looks into a filesystem (not the guest): the recording custom
 * filesystem below does not count those calls. */
static int host_side;

static void *fs_bytes(afmpeg_fs *fs, const char *path, size_t *len)
{
    void *data = NULL;
    host_side = 1;
    int err = afmpeg_fs_read_file(fs, path, &data, len);
    host_side = 0;
    if (err)
        fail_msg("reading %s from the job's filesystem: %s", path, afmpeg_errname(err));
    return data;
}

static int fs_exists(afmpeg_fs *fs, const char *path)
{
    afmpeg_fs_stat st;
    host_side = 1;
    int err = afmpeg_fs_stat_path(fs, path, &st);
    host_side = 0;
    return err == AFMPEG_OK;
}

/* Control read: both tools read `path`, and what ffmpeg copied is `expect` (fs path). */
static void read_ok(afmpeg_fs *fs, const char *path, const char *expect)
{
    afmpeg_result *res = ffmpeg_read(fs, path);
    expect_ok(res, path);
    afmpeg_result_free(res);
    size_t a_len, b_len;
    void *a = fs_bytes(fs, "copy.raw", &a_len), *b = fs_bytes(fs, expect, &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    afmpeg_free(a);
    afmpeg_free(b);
    assert_int_equal(afmpeg_fs_remove(fs, "copy.raw"), AFMPEG_OK);
    res = ffprobe_read(fs, path);
    expect_ok(res, path);
    char want[32];
    snprintf(want, sizeof want, "%zu\n", b_len);
    assert_string_equal(afmpeg_result_stdout(res, NULL), want);
    afmpeg_result_free(res);
}

/* Escape read: both tools fail for `why`, nothing was copied, the outside is unchanged. */
static void read_refused(afmpeg_fs *fs, const char *path, const char *why, int hostdir)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "reading '%.200s'%s", path, strlen(path) > 200 ? "..." : "");
    afmpeg_result *res = ffmpeg_read(fs, path);
    expect_refused(res, what, why);
    afmpeg_result_free(res);
    assert_false(fs_exists(fs, "copy.raw"));
    res = ffprobe_read(fs, path);
    expect_refused(res, what, why);
    assert_string_equal(afmpeg_result_stdout(res, NULL), "");
    afmpeg_result_free(res);
    if (hostdir)
        assert_outside_unchanged(what);
}

/* Escape write: ffmpeg fails for `why`; nothing appeared inside under the escaping name either
 * (".." is refused, never clamped to the root); the outside is unchanged. */
static void write_refused(afmpeg_fs *fs, const char *path, const char *why, int hostdir)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "writing '%.200s'%s", path, strlen(path) > 200 ? "..." : "");
    afmpeg_result *res = ffmpeg_write(fs, path);
    expect_refused(res, what, why);
    afmpeg_result_free(res);
    assert_false(fs_exists(fs, "escaped.raw"));
    assert_false(fs_exists(fs, "dangling.raw"));
    if (hostdir)
        assert_outside_unchanged(what);
}

/* Control write: ffmpeg writes `path`, which then holds in.raw's bytes at fs path `lands`. */
static void write_ok(afmpeg_fs *fs, const char *path, const char *lands)
{
    afmpeg_result *res = ffmpeg_write(fs, path);
    expect_ok(res, path);
    afmpeg_result_free(res);
    size_t a_len, b_len;
    void *a = fs_bytes(fs, lands, &a_len), *b = fs_bytes(fs, "in.raw", &b_len);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    afmpeg_free(a);
    afmpeg_free(b);
    assert_int_equal(afmpeg_fs_remove(fs, lands), AFMPEG_OK);
}

/* A path template with %s standing for the host scratch root (for absolute host paths). */
static const char *expand(char *buf, size_t cap, const char *tmpl)
{
    snprintf(buf, cap, tmpl, root);
    return buf;
}

/* ---- escape tables --------------------------------------------------------------------------- */

typedef struct esc {
    const char *path; /* may contain %s: the host root's absolute path */
    const char *why;
    int symlinks;     /* needs the host fixture's symlinks */
} esc;

/* Reading outside. The in-memory filesystem has in.raw at its root, so a ".." that were clamped
 * instead of refused would find a file there. */
static const esc read_escapes[] = {
    {"../in.raw", CAP, 0},
    {"../secret.raw", CAP, 0},
    {"../../../../../../secret.raw", CAP, 0},
    {"sub/../../secret.raw", CAP, 0},
    {"sub/deeper/../../../secret.raw", CAP, 0},
    {"sub/./.././../secret.raw", CAP, 0},
    {"./../in.raw", CAP, 0},
    {"/../in.raw", CAP, 0},
    {"/sub/../../in.raw", CAP, 0},
    {"..//in.raw", CAP, 0},
    {"../jail/in.raw", CAP, 0},      /* out and back in: refused, not resolved on the host */
    {"file:../in.raw", CAP, 0},      /* FFmpeg's file protocol prefix */
    {"%s/secret.raw", NOENT, 0},     /* absolute host path: rooted at the job's "/" */
    {"/etc/passwd", NOENT, 0},
    {"/proc/self/environ", NOENT, 0},
    {"ln_file_rel", CAP, 1},
    {"ln_file_abs", CAP, 1},
    {"ln_chain1", CAP, 1},           /* link -> link -> link -> ../../secret.raw */
    {"ln_dir_rel/keep.raw", CAP, 1},
    {"ln_dir_abs/keep.raw", CAP, 1},
    {"ln_dir_chain/keep.raw", CAP, 1},
    {"ln_dotdot/secret.raw", CAP, 1},
    {"ln_root/etc/passwd", CAP, 1},
    {"sub/../ln_file_rel", CAP, 1},
    {"ln_dir_in/../ln_file_rel", CAP, 1},
    {"ln_dir_rel", CAP, 1},          /* a directory outside, as input */
    {"ln_loop_a", LOOP, 1},
};

/* Writing outside: "escaped.raw" and "dangling.raw" are the names an escape would create. */
static const esc write_escapes[] = {
    {"../escaped.raw", CAP, 0},
    {"sub/../../escaped.raw", CAP, 0},
    {"sub/deeper/../../../escaped.raw", CAP, 0},
    {"/../escaped.raw", CAP, 0},
    {"../outdir/escaped.raw", CAP, 0},
    {"../jail/escaped.raw", CAP, 0},
    {"file:../escaped.raw", CAP, 0},
    {"%s/outdir/escaped.raw", NOENT, 0},
    {"%s/escaped.raw", NOENT, 0},
    {"ln_dir_rel/escaped.raw", CAP, 1},
    {"ln_dir_abs/escaped.raw", CAP, 1},
    {"ln_dir_chain/escaped.raw", CAP, 1},
    {"ln_dotdot/escaped.raw", CAP, 1},
    {"ln_root/tmp/escaped.raw", CAP, 1},
    {"ln_file_rel", CAP, 1},         /* overwrite a file outside through a link */
    {"ln_file_abs", CAP, 1},
    {"ln_chain1", CAP, 1},
    {"ln_dangling_rel", CAP, 1},     /* create a file outside through a dangling link */
    {"ln_dangling_abs", CAP, 1},
    {"ln_loop_a", LOOP, 1},
};

/* Directories used as files. */
static const esc dir_inputs[] = {
    {"sub", ISDIR, 0}, {"sub/", ISDIR, 0}, {".", ISDIR, 0}, {"/", ISDIR, 0},
    {"sub/deeper/..", ISDIR, 0}, {"in.raw/..", ISDIR, 0}, {"in.raw/x", NOTDIR, 0},
    {"ln_dir_in", ISDIR, 1},
};

static void run_read_escapes(afmpeg_fs *fs, int hostdir)
{
    char buf[PATH_MAX];
    for (size_t i = 0; i < sizeof read_escapes / sizeof *read_escapes; i++)
        if (hostdir || !read_escapes[i].symlinks)
            read_refused(fs, expand(buf, sizeof buf, read_escapes[i].path), read_escapes[i].why,
                         hostdir);
}

static void run_write_escapes(afmpeg_fs *fs, int hostdir)
{
    char buf[PATH_MAX];
    for (size_t i = 0; i < sizeof write_escapes / sizeof *write_escapes; i++)
        if (hostdir || !write_escapes[i].symlinks)
            write_refused(fs, expand(buf, sizeof buf, write_escapes[i].path),
                          write_escapes[i].why, hostdir);
}

/* A directory as input. A directory opens for reading (as on POSIX) and its first read fails:
 * with probing (no -f) both tools fail. With -f rawvideo nothing is read before the first packet,
 * and ffmpeg and ffprobe then exit 0 after "Is a directory", exactly as Debian's native FFmpeg
 * does on a host directory: for that command the checks are the message and an empty output. */
static void dir_read_refused(afmpeg_fs *fs, const char *path, const char *why, int hostdir)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "reading directory '%s'", path);
    const char *probe[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-i", path, "-f",
                           "null", "-", NULL};
    afmpeg_result *res = job(fs, probe);
    expect_refused(res, what, why);
    afmpeg_result_free(res);
    const char *fprobe[] = {"ffprobe", "-hide_banner", "-v", "error", "-show_format", path, NULL};
    res = job(fs, fprobe);
    expect_refused(res, what, why);
    assert_string_equal(afmpeg_result_stdout(res, NULL), "");
    afmpeg_result_free(res);
    res = ffmpeg_read(fs, path);
    if (!strstr(afmpeg_result_stderr(res, NULL), why))
        fail_msg("%s as rawvideo: expected \"%s\":\n%s", what, why,
                 afmpeg_result_stderr(res, NULL));
    afmpeg_result_free(res);
    afmpeg_fs_stat st;
    if (afmpeg_fs_stat_path(fs, "copy.raw", &st) == AFMPEG_OK) {
        assert_int_equal(st.size, 0);
        assert_int_equal(afmpeg_fs_remove(fs, "copy.raw"), AFMPEG_OK);
    }
    if (hostdir)
        assert_outside_unchanged(what);
}

static void run_dir_cases(afmpeg_fs *fs, int hostdir)
{
    for (size_t i = 0; i < sizeof dir_inputs / sizeof *dir_inputs; i++) {
        if (!hostdir && dir_inputs[i].symlinks)
            continue;
        dir_read_refused(fs, dir_inputs[i].path, dir_inputs[i].why, hostdir);
        /* The same directory as output: opened for writing, it is refused. */
        const char *why = !strcmp(dir_inputs[i].why, NOTDIR) ? NOTDIR : ISDIR;
        write_refused(fs, dir_inputs[i].path, why, hostdir);
    }
    /* Still directories, still empty of what the jobs tried to write. */
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "sub", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);
    assert_int_equal(afmpeg_fs_stat_path(fs, "in.raw", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_FILE);
    assert_int_equal(st.size, 4096);
}

/* ---- host directory ------------------------------------------------------------------------- */

static void test_host_reads(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    /* Controls: the same reads of files inside work, including through links that stay inside
     * and ".." that stays inside. */
    read_ok(fs, "in.raw", "in.raw");
    read_ok(fs, "/in.raw", "in.raw");
    read_ok(fs, "./in.raw", "in.raw");
    read_ok(fs, "sub/../in.raw", "in.raw");
    read_ok(fs, "sub/deeper/../../in.raw", "in.raw");
    read_ok(fs, "/sub/deeper/../.././in.raw", "in.raw");
    read_ok(fs, "file:in.raw", "in.raw");
    read_ok(fs, "sub/ln_up", "in.raw");
    read_ok(fs, "ln_chain_in1", "in.raw");
    read_ok(fs, "ln_dir_in/../in.raw", "in.raw");
    assert_outside_unchanged("controls");

    run_read_escapes(fs, 1);

    /* An absolute host path names a file below the jail's root, not the host's: with a mirror
     * of the host path made inside the jail, the read returns the mirror's bytes. */
    char p[PATH_MAX];
    assert_int_equal(sh("mkdir -p %s%s && head -c 2048 %s/in.raw > %s%s/secret.raw", jail, root,
                        jail, jail, root), 0);
    snprintf(p, sizeof p, "%s/secret.raw", root);
    char mirror[PATH_MAX];
    snprintf(mirror, sizeof mirror, "%s/secret.raw", root + 1);
    read_ok(fs, p, mirror);
    assert_outside_unchanged("absolute path control");
    afmpeg_fs_free(fs);
}

static void test_host_writes(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    write_ok(fs, "w1.raw", "w1.raw");
    write_ok(fs, "sub/w2.raw", "sub/w2.raw");
    write_ok(fs, "/sub/deeper/../w3.raw", "sub/w3.raw");
    write_ok(fs, "file:w4.raw", "w4.raw");
    write_ok(fs, "ln_dir_in/w5.raw", "sub/w5.raw");
    write_ok(fs, "ln_dangling_in", "sub/created.raw"); /* a dangling link that stays inside */
    assert_outside_unchanged("controls");

    run_write_escapes(fs, 1);
    /* The links are still links, and what they point at outside is unchanged (checked above). */
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/ln_file_rel", jail);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_false(host_exists("%s/dangling.raw", root));
    assert_false(host_exists("%s/outdir/escaped.raw", root));

    /* An absolute host path lands below the jail's root: with the directories mirrored inside,
     * the write succeeds there and the host's outdir is untouched. */
    assert_int_equal(sh("mkdir -p %s%s/outdir", jail, root), 0);
    char lands[PATH_MAX];
    snprintf(p, sizeof p, "%s/outdir/w6.raw", root);
    snprintf(lands, sizeof lands, "%s/outdir/w6.raw", root + 1);
    write_ok(fs, p, lands);
    assert_outside_unchanged("absolute path control");
    afmpeg_fs_free(fs);
}

/* Other writers than the rawvideo muxer, with their own ways of naming files. */
static void test_host_other_writers(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    /* exit0: FFmpeg's hls muxer logs a segment or playlist it could not write and carries on
     * (Debian's native ffmpeg exits 0 the same way), so there the refusal is read from the log. */
    static const struct {
        const char *args[12];
        const char *why;
        int exit0;
        const char *control[12]; /* the same writer inside, which must work */
    } cases[] = {
        {{"-f", "wav", "ln_dir_rel/escaped.wav"}, CAP, 0, {"-f", "wav", "ok.wav"}},
        {{"-f", "segment", "-segment_time", "0.2", "../escaped%d.wav"}, CAP, 0,
         {"-f", "segment", "-segment_time", "0.2", "sub/ok%d.wav"}},
        {{"-f", "segment", "-segment_time", "0.2", "-segment_list", "ln_dir_rel/list.csv",
          "s%d.wav"}, CAP, 0,
         {"-f", "segment", "-segment_time", "0.2", "-segment_list", "sub/list.csv", "s%d.wav"}},
        {{"-f", "hls", "-hls_segment_filename", "ln_dir_abs/s%d.ts", "pl.m3u8"},
         "Failed to open file 'ln_dir_abs/s0.ts'", 1,
         {"-f", "hls", "-hls_segment_filename", "sub/s%d.ts", "pl.m3u8"}},
        {{"-f", "hls", "-hls_segment_filename", "s%d.ts", "ln_dir_rel/pl.m3u8"},
         "failed to rename file ln_dir_rel/pl.m3u8.tmp to ln_dir_rel/pl.m3u8: " CAP, 1,
         {"-f", "hls", "-hls_segment_filename", "s%d.ts", "sub/pl.m3u8"}},
        /* -strftime_mkdir makes the segments' directories: never outside. (FFmpeg reports the
         * failed mkdir with a clobbered errno, "Not a tty"; its own message is checked.) */
        {{"-f", "hls", "-strftime", "1", "-strftime_mkdir", "1", "-hls_segment_filename",
          "../newdir/s.ts", "pl.m3u8"}, "Could not create directory ../newdir", 0,
         {"-f", "hls", "-strftime", "1", "-strftime_mkdir", "1", "-hls_segment_filename",
          "newdir/s.ts", "pl.m3u8"}},
        {{"-f", "hls", "-strftime", "1", "-strftime_mkdir", "1", "-hls_segment_filename",
          "ln_dir_rel/newdir/s.ts", "pl.m3u8"}, "Could not create directory ln_dir_rel/newdir", 0,
         {"-f", "hls", "-strftime", "1", "-strftime_mkdir", "1", "-hls_segment_filename",
          "ln_dir_in/newdir2/s.ts", "pl.m3u8"}},
        {{"-f", "ffmetadata", "ln_file_abs"}, CAP, 0, {"-f", "ffmetadata", "meta.txt"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int pass = 0; pass < 2; pass++) {
            const char *argv[24] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
                                    "-i", "in.wav"};
            int n = 8;
            const char *const *extra = pass ? cases[i].args : cases[i].control;
            for (int k = 0; extra[k]; k++)
                argv[n++] = extra[k];
            argv[n] = NULL;
            afmpeg_result *res = job(fs, argv);
            char what[256];
            snprintf(what, sizeof what, "writer %zu (%s ... %s)", i, extra[1], extra[n - 9]);
            if (!pass)
                expect_ok(res, what);
            else if (!cases[i].exit0)
                expect_refused(res, what, cases[i].why);
            else if (!strstr(afmpeg_result_stderr(res, NULL), cases[i].why))
                fail_msg("%s: expected \"%s\" in:\n%s", what, cases[i].why,
                         afmpeg_result_stderr(res, NULL));
            afmpeg_result_free(res);
            assert_outside_unchanged(what);
        }
    }
    assert_false(host_exists("%s/newdir", root));
    assert_true(host_exists("%s/newdir/s.ts", jail));
    assert_true(host_exists("%s/sub/newdir2/s.ts", jail));
    afmpeg_fs_free(fs);
}

static void test_host_directories_as_files(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    run_dir_cases(fs, 1);
    afmpeg_fs_free(fs);
}

/* Media that names files: a concat list or an HLS playlist inside the jail that points outside
 * is as confined as a command line. */
static void test_host_indirect_references(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    char text[PATH_MAX + 256];
    static const esc concat[] = {
        {"in.wav", NULL, 0}, {"sub/../in.wav", NULL, 0},
        {"../secret.wav", CAP, 0}, {"sub/../../secret.wav", CAP, 0},
        {"%s/secret.wav", NOENT, 0}, {"ln_wav_rel", CAP, 1}, /* ".." is lexical: it cancels the link's name, it does not climb from the link's target */
        {"ln_dir_rel/../secret.wav", NOENT, 1},
    };
    for (size_t i = 0; i < sizeof concat / sizeof *concat; i++) {
        char path[PATH_MAX];
        expand(path, sizeof path, concat[i].path);
        snprintf(text, sizeof text, "ffconcat version 1.0\nfile '%s'\n", path);
        assert_int_equal(afmpeg_fs_write_file(fs, "list.ffconcat", text, strlen(text)), 0);
        const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-f",
                              "concat", "-safe", "0", "-i", "list.ffconcat", "-f", "null", "-",
                              NULL};
        afmpeg_result *res = job(fs, argv);
        snprintf(text, sizeof text, "concat of '%s'", path);
        if (concat[i].why)
            expect_refused(res, text, concat[i].why);
        else
            expect_ok(res, text);
        afmpeg_result_free(res);
        assert_outside_unchanged(text);
    }
    static const esc hls[] = {
        {"in.ts", NULL, 0}, {"sub/../in.ts", NULL, 0},
        {"../secret.ts", "Error when loading first segment", 0},
        {"%s/secret.ts", "Error when loading first segment", 0},
        {"ln_ts_rel.ts", "Error when loading first segment", 1},
    };
    for (size_t i = 0; i < sizeof hls / sizeof *hls; i++) {
        char path[PATH_MAX];
        expand(path, sizeof path, hls[i].path);
        snprintf(text, sizeof text, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
                 "#EXTINF:0.5,\n%s\n#EXT-X-ENDLIST\n", path);
        assert_int_equal(afmpeg_fs_write_file(fs, "pl.m3u8", text, strlen(text)), 0);
        const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-i",
                              "pl.m3u8", "-f", "null", "-", NULL};
        afmpeg_result *res = job(fs, argv);
        snprintf(text, sizeof text, "HLS segment '%s'", path);
        if (hls[i].why)
            expect_refused(res, text, hls[i].why);
        else
            expect_ok(res, text);
        afmpeg_result_free(res);
        assert_outside_unchanged(text);
    }
    afmpeg_fs_free(fs);
}

/* ---- renames ------------------------------------------------------------------------------- */

/* image2 with -update 1 -atomic_writing 1 writes TARGET.tmp, then renames it onto TARGET. */
static afmpeg_result *image2_atomic(afmpeg_fs *fs, const char *target)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-f",
                          "rawvideo", "-pix_fmt", "gray", "-s", "16x16", "-i", "in.raw",
                          "-frames:v", "2", "-c:v", "png", "-f", "image2", "-update", "1",
                          "-atomic_writing", "1", target, NULL};
    return job(fs, argv);
}

/* The hls muxer writes a live playlist as NAME.tmp and renames it onto NAME (and ignores a
 * failed rename: the job still exits 0, so the refusal is read from its log). */
static afmpeg_result *hls_playlist(afmpeg_fs *fs, const char *name)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", "-i",
                          "in.wav", "-f", "hls", "-hls_segment_filename", "seg%d.ts", name, NULL};
    return job(fs, argv);
}

/* With -strftime 1 -hls_flags second_level_segment_size the hls muxer writes a segment named
 * with size 0 ("d0/seg.ts" for "d%%s/seg.ts"), then renames it to the name with its real size
 * ("dN/seg.ts"): a rename into another directory, the one guest command found that renames
 * across directories. With dN a link out of the jail, that is a rename across the boundary.
 * The opposite direction (a source outside) cannot be produced by FFmpeg: its writers only rename
 * files they have just written, which are inside; a rename's source goes through the same path
 * resolution as its target (afm_path_resolve, then openat2 of its parent). */
static afmpeg_result *hls_sized(afmpeg_fs *fs)
{
    const char *argv[] = {"ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
                          "-fflags", "+bitexact", "-flags", "+bitexact", "-i", "in.wav",
                          "-f", "hls", "-strftime", "1", "-hls_flags",
                          "second_level_segment_size", "-hls_segment_filename", "d%%s/seg.ts",
                          "sized.m3u8", NULL};
    return job(fs, argv);
}

static void expect_rename_refused(afmpeg_result *res, const char *what, const char *why)
{
    const char *err = afmpeg_result_stderr(res, NULL);
    if (!strstr(err, "failed to rename file") || !strstr(err, why))
        fail_msg("%s: expected a refused rename (%s):\n%s", what, why, err);
}

/* The renames common to both filesystems. Returns N, the size the hls segment is renamed to. */
static long run_rename_cases(afmpeg_fs *fs, int hostdir)
{
    /* Controls. */
    afmpeg_result *res = image2_atomic(fs, "img.png");
    expect_ok(res, "image2 atomic img.png");
    afmpeg_result_free(res);
    assert_true(fs_exists(fs, "img.png"));
    assert_false(fs_exists(fs, "img.png.tmp"));
    res = hls_playlist(fs, "pl.m3u8");
    expect_ok(res, "hls pl.m3u8");
    assert_null(strstr(afmpeg_result_stderr(res, NULL), "rename"));
    afmpeg_result_free(res);
    assert_true(fs_exists(fs, "pl.m3u8"));
    assert_false(fs_exists(fs, "pl.m3u8.tmp"));

    /* Renames onto ".." (above the root), from a temporary file inside. */
    static const char *const above[] = {"..", "sub/../..", "/..", "sub/deeper/../../.."};
    for (size_t i = 0; i < sizeof above / sizeof *above; i++) {
        char what[128];
        snprintf(what, sizeof what, "image2 atomic rename onto '%s'", above[i]);
        res = image2_atomic(fs, above[i]);
        expect_refused(res, what, CAP);
        expect_rename_refused(res, what, CAP);
        afmpeg_result_free(res);
        if (hostdir)
            assert_outside_unchanged(what);
        snprintf(what, sizeof what, "hls playlist rename onto '%s'", above[i]);
        res = hls_playlist(fs, above[i]);
        expect_rename_refused(res, what, CAP);
        afmpeg_result_free(res);
        if (hostdir)
            assert_outside_unchanged(what);
    }
    /* Renames onto a directory. */
    res = image2_atomic(fs, "sub");
    expect_refused(res, "image2 atomic rename onto a directory", ISDIR);
    afmpeg_result_free(res);
    afmpeg_fs_stat st;
    assert_int_equal(afmpeg_fs_stat_path(fs, "sub", &st), AFMPEG_OK);
    assert_int_equal(st.type, AFMPEG_FS_TYPE_DIRECTORY);

    /* The cross-directory rename: learn N from a run where dN does not exist... */
    res = hls_sized(fs);
    const char *err = afmpeg_result_stderr(res, NULL);
    const char *to = strstr(err, "d0/seg.ts to d");
    if (!to || !strstr(err, NOENT))
        fail_msg("expected the sized segment's rename to fail for a missing directory:\n%s", err);
    long n = strtol(to + strlen("d0/seg.ts to d"), NULL, 10);
    assert_true(n > 0);
    afmpeg_result_free(res);
    /* ...then, with dN made inside, it works. */
    char dn[64], dn_seg[80];
    snprintf(dn, sizeof dn, "d%ld", n);
    snprintf(dn_seg, sizeof dn_seg, "d%ld/seg.ts", n);
    assert_int_equal(afmpeg_fs_mkdir(fs, dn), AFMPEG_OK);
    res = hls_sized(fs);
    expect_ok(res, "hls sized segment");
    assert_null(strstr(afmpeg_result_stderr(res, NULL), "rename"));
    afmpeg_result_free(res);
    assert_true(fs_exists(fs, dn_seg));
    assert_false(fs_exists(fs, "d0/seg.ts"));
    return n;
}

static void test_host_renames(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    assert_int_equal(afmpeg_fs_mkdir(fs, "d0"), AFMPEG_OK);
    long n = run_rename_cases(fs, 1);
    assert_outside_unchanged("rename controls");

    /* Now dN is a link to a directory outside: the same rename must be refused, leaving the
     * segment in d0 and nothing in the outside directory. */
    char dn[64], p[PATH_MAX], abs[PATH_MAX];
    snprintf(dn, sizeof dn, "d%ld", n);
    assert_int_equal(sh("rm -rf %s/%s", jail, dn), 0);
    snprintf(abs, sizeof abs, "%s/outdir", root);
    const char *targets[] = {"../outdir", abs, "ln_dir_rel", "ln_dotdot"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        host_link(targets[i], dn);
        afmpeg_result *res = hls_sized(fs);
        char what[PATH_MAX + 64];
        snprintf(what, sizeof what, "rename into %s -> %s", dn, targets[i]);
        expect_rename_refused(res, what, CAP);
        afmpeg_result_free(res);
        assert_true(fs_exists(fs, "d0/seg.ts"));
        assert_false(host_exists("%s/outdir/seg.ts", root));
        assert_false(host_exists("%s/seg.ts", root));
        assert_outside_unchanged(what);
    }

    /* A rename onto a link that points outside replaces the link (inside the jail) and leaves
     * its target alone. */
    afmpeg_result *res = image2_atomic(fs, "ln_file_rel");
    expect_ok(res, "image2 atomic onto a link");
    afmpeg_result_free(res);
    struct stat st;
    snprintf(p, sizeof p, "%s/ln_file_rel", jail);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_outside_unchanged("rename onto a link that points outside");
    afmpeg_fs_free(fs);
}

/* ---- in-memory filesystem ----------------------------------------------------------------- */

static afmpeg_fs *memory_fixture(void)
{
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    char p[PATH_MAX];
    size_t len = 0;
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub/deeper"), AFMPEG_OK);
    static const char *const files[] = {"in.wav", "in.ts"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", gen, files[i]);
        void *data = read_host_file(p, &len);
        assert_non_null(data);
        assert_int_equal(afmpeg_fs_write_file(fs, files[i], data, len), AFMPEG_OK);
        free(data);
    }
    unsigned char raw[4096];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(afmpeg_fs_write_file(fs, "in.raw", raw, sizeof raw), AFMPEG_OK);
    return fs;
}

/* The in-memory filesystem is never the host's: with the whole scratch root (jail included)
 * compared, no job touched the host. */
static void test_memory(void **state)
{
    (void)state;
    host_fixture();
    snap_free(&baseline);
    snap_add(&baseline, "", NULL);
    afmpeg_fs *fs = memory_fixture();
    read_ok(fs, "in.raw", "in.raw");
    read_ok(fs, "/sub/deeper/../../in.raw", "in.raw");
    read_ok(fs, "file:in.raw", "in.raw");
    write_ok(fs, "sub/w.raw", "sub/w.raw");
    write_ok(fs, "/sub/deeper/../w.raw", "sub/w.raw");
    run_read_escapes(fs, 0);
    run_write_escapes(fs, 0);
    run_dir_cases(fs, 0);
    assert_int_equal(afmpeg_fs_mkdir(fs, "d0"), AFMPEG_OK);
    run_rename_cases(fs, 0);
    /* Absolute host paths are paths of the in-memory tree. */
    char p[PATH_MAX], mirror[PATH_MAX];
    snprintf(mirror, sizeof mirror, "%s", root + 1);
    for (char *s = mirror; (s = strchr(s + 1, '/'));) {
        *s = '\0';
        afmpeg_fs_mkdir(fs, mirror);
        *s = '/';
    }
    assert_int_equal(afmpeg_fs_mkdir(fs, mirror), AFMPEG_OK);
    snprintf(p, sizeof p, "%s/escaped.raw", root);
    snprintf(mirror, sizeof mirror, "%s/escaped.raw", root + 1);
    write_ok(fs, p, mirror);

    snap now = {0};
    snap_add(&now, "", NULL);
    assert_int_equal(now.n, baseline.n);
    for (size_t i = 0; i < now.n; i++) {
        assert_string_equal(now.v[i].rel, baseline.v[i].rel);
        assert_int_equal(now.v[i].hash, baseline.v[i].hash);
        assert_int_equal(now.v[i].mtime.tv_nsec, baseline.v[i].mtime.tv_nsec);
    }
    snap_free(&now);
    afmpeg_fs_free(fs);
}

/* ---- long paths ---------------------------------------------------------------------------- */

static char *repeat(const char *unit, size_t times, const char *tail)
{
    size_t u = strlen(unit), t = strlen(tail);
    char *s = malloc(u * times + t + 1), *o = s;
    for (size_t i = 0; i < times; i++, o += u)
        memcpy(o, unit, u);
    memcpy(o, tail, t + 1);
    return s;
}

static void long_path_cases(afmpeg_fs *fs, int hostdir)
{
    char name[300];
    /* A component of 255 bytes works; 256 is refused. */
    memset(name, 'n', 255);
    name[255] = '\0';
    size_t len = 0;
    void *raw = fs_bytes(fs, "in.raw", &len);
    assert_int_equal(afmpeg_fs_write_file(fs, name, raw, len), AFMPEG_OK);
    afmpeg_free(raw);
    read_ok(fs, name, "in.raw");
    write_ok(fs, name, name);
    memset(name, 'n', 256);
    name[256] = '\0';
    read_refused(fs, name, TOOLONG, hostdir);
    write_refused(fs, name, TOOLONG, hostdir);
    char *p = repeat("sub/", 1, name);
    write_refused(fs, p, TOOLONG, hostdir);
    free(p);

    /* Total length: 3986 bytes that resolve to in.raw work; over 4095 is refused whatever it
     * resolves to, and a long path does not hide an escape. */
    p = repeat("./", 1990, "in.raw");
    read_ok(fs, p, "in.raw");
    free(p);
    p = repeat("./", 2100, "in.raw");
    read_refused(fs, p, TOOLONG, hostdir);
    write_refused(fs, p, TOOLONG, hostdir);
    free(p);
    p = repeat("../", 1400, "etc/passwd");
    read_refused(fs, p, TOOLONG, hostdir);
    free(p);
    p = repeat("./", 1990, "../in.raw");
    read_refused(fs, p, CAP, hostdir);
    free(p);
    p = repeat("sub/deeper/../../", 230, "../in.raw");
    assert_true(strlen(p) < 4096);
    read_refused(fs, p, CAP, hostdir);
    free(p);
    p = repeat("x/", 3000, "../../escaped.raw");
    write_refused(fs, p, TOOLONG, hostdir);
    free(p);

    /* A real directory tree nearly 4096 bytes deep: a file at 19 levels of 200-byte names
     * (3819 + 6 bytes) is written and read back; at 21 levels (4226 bytes) the path is too
     * long. */
    char comp[201];
    memset(comp, 'd', 200);
    comp[200] = '\0';
    char deep[8192] = "";
    for (int i = 0; i < 19; i++) {
        if (i)
            strcat(deep, "/");
        strcat(deep, comp);
        assert_int_equal(afmpeg_fs_mkdir(fs, deep), AFMPEG_OK);
    }
    char file[8300];
    snprintf(file, sizeof file, "%s/w.raw", deep);
    write_ok(fs, file, file);
    snprintf(file, sizeof file, "%s/%s/%s/w.raw", deep, comp, comp);
    write_refused(fs, file, TOOLONG, hostdir);
    /* The helpers refuse the same. */
    raw = fs_bytes(fs, "in.raw", &len);
    assert_int_equal(afmpeg_fs_write_file(fs, file, raw, len), AFMPEG_EINVAL);
    afmpeg_free(raw);
}

static void test_long_paths_memory(void **state)
{
    (void)state;
    afmpeg_fs *fs = memory_fixture();
    long_path_cases(fs, 0);
    afmpeg_fs_free(fs);
}

static void test_long_paths_host(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    long_path_cases(fs, 1);
    afmpeg_fs_free(fs);
}

/* ---- the host-side helpers ---------------------------------------------------------------- */

static void helper_cases(afmpeg_fs *fs, int hostdir)
{
    static const char *const outside[] = {"../x", "/../x", "sub/../../x", "./../x", "..",
                                          "sub/deeper/../../../x"};
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        void *data;
        size_t len;
        afmpeg_fs_stat st;
        assert_int_equal(afmpeg_fs_write_file(fs, outside[i], "x", 1), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_read_file(fs, outside[i], &data, &len), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_mkdir(fs, outside[i]), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_remove(fs, outside[i]), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_stat_path(fs, outside[i], &st), AFMPEG_EACCES);
    }
    /* Odd bytes are just bytes of a name: newline, control characters, invalid UTF-8, a
     * backslash, spaces; the guest can use them too. A NUL cannot be part of a C string path;
     * the guest's path calls carry a length, and a NUL in them is refused (EILSEQ, the path
     * unit tests). */
    static const char odd[] = "odd\n\x01\x7f\xff\xfe \\ name.raw";
    unsigned char raw[512];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)i;
    assert_int_equal(afmpeg_fs_write_file(fs, odd, raw, sizeof raw), AFMPEG_OK);
    read_ok(fs, odd, odd);
    if (hostdir)
        assert_true(host_exists("%s/odd\n\x01\x7f\xff\xfe \\ name.raw", jail));
    char name[300];
    memset(name, 'n', 256);
    name[256] = '\0';
    assert_int_equal(afmpeg_fs_write_file(fs, name, "x", 1), AFMPEG_EINVAL);
    /* The helpers limit the normalised path to 4095 bytes (the guest's calls also limit what
     * it passes in, see the long path cases). */
    char *p = repeat("d/", 2048, "x");
    assert_int_equal(afmpeg_fs_write_file(fs, p, "x", 1), AFMPEG_EINVAL);
    free(p);
    assert_int_not_equal(afmpeg_fs_write_file(fs, "", "x", 1), AFMPEG_OK);
    assert_int_not_equal(afmpeg_fs_write_file(fs, "/", "x", 1), AFMPEG_OK);
    assert_int_not_equal(afmpeg_fs_write_file(fs, "sub", "x", 1), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "sub/../ok.raw", "x", 1), AFMPEG_OK);
    assert_true(fs_exists(fs, "ok.raw"));
    if (!hostdir)
        return;
    /* Links out, from the host side. */
    static const char *const links[] = {"ln_file_rel", "ln_file_abs", "ln_chain1",
                                        "ln_dangling_rel", "ln_dir_rel/x", "ln_dir_abs/x",
                                        "ln_dotdot/x", "ln_root/tmp/x"};
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        void *data;
        size_t len;
        afmpeg_fs_stat st;
        assert_int_equal(afmpeg_fs_write_file(fs, links[i], "x", 1), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_read_file(fs, links[i], &data, &len), AFMPEG_EACCES);
        assert_int_equal(afmpeg_fs_stat_path(fs, links[i], &st), AFMPEG_EACCES);
    }
    assert_int_equal(afmpeg_fs_mkdir(fs, "ln_dir_rel/new"), AFMPEG_EACCES);
    assert_int_equal(afmpeg_fs_remove(fs, "ln_dir_rel/keep.raw"), AFMPEG_EACCES);
    assert_outside_unchanged("helpers");
}

static void test_helpers_memory(void **state)
{
    (void)state;
    afmpeg_fs *fs = memory_fixture();
    helper_cases(fs, 0);
    afmpeg_fs_free(fs);
}

static void test_helpers_host(void **state)
{
    (void)state;
    host_fixture();
    afmpeg_fs *fs = hostdir_or_skip(jail);
    helper_cases(fs, 1);
    afmpeg_fs_free(fs);
}

/* ---- a custom filesystem sees only normalised paths ----------------------------------------- */

/* A flat table of files and directories that records every path a callback receives. */
typedef struct rnode {
    char *path;
    int dir;
    unsigned char *data;
    size_t len;
} rnode;

typedef struct recfs {
    pthread_mutex_t lock;
    rnode nodes[256];
    size_t n;
    char **seen;
    size_t nseen;
} recfs;

static void rec_path(recfs *r, const char *path)
{
    if (host_side)
        return;
    for (size_t i = 0; i < r->nseen; i++)
        if (!strcmp(r->seen[i], path))
            return;
    r->seen = realloc(r->seen, (r->nseen + 1) * sizeof *r->seen);
    r->seen[r->nseen++] = strdup(path);
}

static rnode *rec_find(recfs *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->nodes[i].path && !strcmp(r->nodes[i].path, path))
            return &r->nodes[i];
    return NULL;
}

/* 0 if every directory on the way to path's last component exists, else -ENOENT/-ENOTDIR. */
static int rec_walk(recfs *r, const char *path)
{
    for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
        char *prefix = strndup(path, (size_t)(s - path));
        rnode *n = rec_find(r, prefix);
        free(prefix);
        if (!n)
            return -ENOENT;
        if (!n->dir)
            return -ENOTDIR;
    }
    return 0;
}

/* The parent of path exists and is a directory. */
static int rec_parent_ok(recfs *r, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return 1;
    char *parent = strndup(path, (size_t)(slash - path));
    rnode *p = rec_find(r, parent);
    free(parent);
    return p && p->dir;
}

static rnode *rec_add(recfs *r, const char *path, int dir)
{
    for (size_t i = 0; i < r->n; i++)
        if (!r->nodes[i].path) {
            r->nodes[i] = (rnode){strdup(path), dir, NULL, 0};
            return &r->nodes[i];
        }
    if (r->n == sizeof r->nodes / sizeof *r->nodes)
        return NULL;
    r->nodes[r->n] = (rnode){strdup(path), dir, NULL, 0};
    return &r->nodes[r->n++];
}

static int rec_open(void *payload, const char *path, unsigned flags, void **out)
{
    recfs *r = payload;
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    rec_path(r, path);
    rnode *n = *path ? rec_find(r, path) : &r->nodes[0];
    if (!n && rec_walk(r, path)) {
        rc = rec_walk(r, path);
    } else if (!n) {
        if (!(flags & AFMPEG_FS_CREATE))
            rc = -ENOENT;
        else if (!rec_parent_ok(r, path))
            rc = -ENOENT;
        else if (!(n = rec_add(r, path, 0)))
            rc = -ENOSPC;
    } else if ((flags & AFMPEG_FS_CREATE) && (flags & AFMPEG_FS_EXCL)) {
        rc = -EEXIST;
    } else if ((flags & AFMPEG_FS_DIRECTORY) && !n->dir) {
        rc = -ENOTDIR;
    } else if (n->dir && (flags & AFMPEG_FS_WRITE)) {
        rc = -EISDIR;
    } else if (flags & AFMPEG_FS_TRUNC) {
        n->len = 0;
    }
    if (!rc)
        *out = n;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int rec_close(void *payload, void *handle)
{
    return 0;
}

static int64_t rec_pread(void *payload, void *handle, void *buf, size_t len, uint64_t off)
{
    recfs *r = payload;
    rnode *n = handle;
    pthread_mutex_lock(&r->lock);
    int64_t got = n->dir ? -EISDIR : 0;
    if (!n->dir && off < n->len) {
        got = (int64_t)(n->len - off < len ? n->len - off : len);
        memcpy(buf, n->data + off, (size_t)got);
    }
    pthread_mutex_unlock(&r->lock);
    return got;
}

static int64_t rec_pwrite(void *payload, void *handle, const void *buf, size_t len, uint64_t off)
{
    recfs *r = payload;
    rnode *n = handle;
    if (off + len > (64u << 20))
        return -EFBIG;
    pthread_mutex_lock(&r->lock);
    if (off + len > n->len) {
        n->data = realloc(n->data, off + len);
        if (off > n->len)
            memset(n->data + n->len, 0, off - n->len);
        n->len = off + len;
    }
    memcpy(n->data + off, buf, len);
    pthread_mutex_unlock(&r->lock);
    return (int64_t)len;
}

static int rec_fstat(void *payload, void *handle, afmpeg_fs_stat *out)
{
    rnode *n = handle;
    memset(out, 0, sizeof *out);
    out->type = n->dir ? AFMPEG_FS_TYPE_DIRECTORY : AFMPEG_FS_TYPE_FILE;
    out->size = n->dir ? 0 : n->len;
    out->ino = (uint64_t)(uintptr_t)n;
    return 0;
}

static int rec_stat(void *payload, const char *path, afmpeg_fs_stat *out)
{
    recfs *r = payload;
    pthread_mutex_lock(&r->lock);
    rec_path(r, path);
    rnode *n = *path ? rec_find(r, path) : &r->nodes[0];
    int rc = n ? 0 : rec_walk(r, path) ? rec_walk(r, path) : -ENOENT;
    pthread_mutex_unlock(&r->lock);
    return n ? rec_fstat(payload, n, out) : rc;
}

static int rec_mkdir(void *payload, const char *path)
{
    recfs *r = payload;
    pthread_mutex_lock(&r->lock);
    rec_path(r, path);
    int rc = rec_find(r, path) || !*path ? -EEXIST : !rec_parent_ok(r, path) ? -ENOENT
           : rec_add(r, path, 1) ? 0 : -ENOSPC;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int rec_unlink(void *payload, const char *path)
{
    recfs *r = payload;
    pthread_mutex_lock(&r->lock);
    rec_path(r, path);
    rnode *n = *path ? rec_find(r, path) : NULL;
    int rc = !n ? -ENOENT : n->dir ? -EISDIR : 0;
    if (!rc) {
        free(n->path);
        free(n->data);
        memset(n, 0, sizeof *n);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static int rec_rename(void *payload, const char *from, const char *to)
{
    recfs *r = payload;
    pthread_mutex_lock(&r->lock);
    rec_path(r, from);
    rec_path(r, to);
    rnode *a = rec_find(r, from), *b = rec_find(r, to);
    int rc = !a ? -ENOENT : a->dir ? -ENOTSUP : (b && b->dir) ? -EISDIR
           : !rec_parent_ok(r, to) ? -ENOENT : 0;
    if (!rc) {
        if (b) {
            free(b->path);
            free(b->data);
            memset(b, 0, sizeof *b);
        }
        free(a->path);
        a->path = strdup(to);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* A path as afmpeg_fs_ops promises: components separated by single '/', none empty, "." or
 * "..", no leading or trailing '/', at most 4095 bytes, components at most 255. */
static const char *normalised_violation(const char *p)
{
    size_t len = strlen(p);
    if (len > 4095)
        return "longer than 4095 bytes";
    if (!len)
        return NULL;
    if (p[0] == '/' || p[len - 1] == '/')
        return "leading or trailing '/'";
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 0)
            return "empty component";
        if (n > 255)
            return "component over 255 bytes";
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return "'.' or '..' component";
        c += n;
        if (*c == '/')
            c++;
    }
    return NULL;
}

static void test_custom_fs_sees_normalised_paths(void **state)
{
    (void)state;
    recfs *r = calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->nodes[0] = (rnode){strdup(""), 1, NULL, 0}; /* the root */
    r->n = 1;
    afmpeg_fs_ops ops = {
        .version = AFMPEG_FS_OPS_VERSION, .open = rec_open, .close = rec_close,
        .pread = rec_pread, .pwrite = rec_pwrite, .fstat = rec_fstat, .stat = rec_stat,
        .mkdir = rec_mkdir, .unlink = rec_unlink, .rename = rec_rename,
    };
    afmpeg_fs *fs;
    assert_int_equal(afmpeg_fs_new_custom(&ops, r, &fs), AFMPEG_OK);
    unsigned char raw[4096];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (unsigned char)(i * 13);
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "sub/deeper"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_mkdir(fs, "d0"), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "in.raw", raw, sizeof raw), AFMPEG_OK);
    char p[PATH_MAX];
    size_t len = 0;
    snprintf(p, sizeof p, "%s/in.wav", gen);
    void *wav = read_host_file(p, &len);
    assert_non_null(wav);
    assert_int_equal(afmpeg_fs_write_file(fs, "in.wav", wav, len), AFMPEG_OK);
    free(wav);

    read_ok(fs, "sub/deeper/../../in.raw", "in.raw");
    write_ok(fs, "/sub/./w.raw", "sub/w.raw");
    static const char odd[] = "odd\n\x01\x7f\xff name.raw";
    assert_int_equal(afmpeg_fs_write_file(fs, odd, raw, 512), AFMPEG_OK);
    read_ok(fs, odd, odd);
    run_read_escapes(fs, 0);
    run_write_escapes(fs, 0);
    run_dir_cases(fs, 0);
    run_rename_cases(fs, 0);
    char *lp = repeat("./", 1990, "in.raw");
    read_ok(fs, lp, "in.raw");
    free(lp);
    lp = repeat("./", 2100, "../in.raw");
    read_refused(fs, lp, TOOLONG, 0);
    free(lp);

    /* Every path any callback saw is normalised; none is the name an escape would have
     * produced by clamping ".." to the root; the odd name arrived byte for byte. */
    int saw_odd = 0;
    for (size_t i = 0; i < r->nseen; i++) {
        const char *v = normalised_violation(r->seen[i]);
        if (v)
            fail_msg("the filesystem was handed '%s': %s", r->seen[i], v);
        if (!strcmp(r->seen[i], "escaped.raw") || !strcmp(r->seen[i], "secret.raw") ||
            !strcmp(r->seen[i], "jail/in.raw") || !strcmp(r->seen[i], "dangling.raw"))
            fail_msg("an escaping path reached the filesystem as '%s'", r->seen[i]);
        saw_odd |= !strcmp(r->seen[i], odd);
    }
    assert_true(saw_odd);
    assert_true(r->nseen > 20);
    afmpeg_fs_free(fs);
    for (size_t i = 0; i < r->n; i++) {
        free(r->nodes[i].path);
        free(r->nodes[i].data);
    }
    for (size_t i = 0; i < r->nseen; i++)
        free(r->seen[i]);
    free(r->seen);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_reads),
        cmocka_unit_test(test_host_writes),
        cmocka_unit_test(test_host_other_writers),
        cmocka_unit_test(test_host_directories_as_files),
        cmocka_unit_test(test_host_indirect_references),
        cmocka_unit_test(test_host_renames),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_long_paths_memory),
        cmocka_unit_test(test_long_paths_host),
        cmocka_unit_test(test_helpers_memory),
        cmocka_unit_test(test_helpers_host),
        cmocka_unit_test(test_custom_fs_sees_normalised_paths),
    };
    return cmocka_run_group_tests_name("escapes", tests, setup, teardown);
}
