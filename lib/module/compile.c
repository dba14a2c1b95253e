/* Translating and compiling a .wasm into a module's shared object, with the tools installed with
 * afmpeg (its tools directory: wasm2c and its runtime headers, abi.h, glue.c, membase.py) and the
 * system's C compiler — the same steps and flags as module/build.sh uses for the embedded
 * module, so a loaded module runs the same code at the same speed.
 *
 * The tools directory is $AFMPEG_TOOLS_DIR; else the one beside the file afmpeg's code runs
 * from (libafmpeg.so or the program linking libafmpeg.a): DIR/../libexec/afmpeg/tools, as
 * installed under any prefix, or DIR/tools, as in the build tree; else AFM_TOOLS_DIR (set at
 * build time: the configured install's libexec/afmpeg/tools). The compiler is $CC, else cc. Each
 * step runs as a child process (posix_spawn), its output kept in the work directory for the
 * error message. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "core/errors.h"
#include "module/module.h"

#ifndef AFM_TOOLS_DIR
#define AFM_TOOLS_DIR "/usr/local/libexec/afmpeg/tools"
#endif
#ifndef AFM_MODULE_MARCH_FLAG
#define AFM_MODULE_MARCH_FLAG "-march=x86-64-v2"
#endif

extern char **environ;

/* module/build.sh's NATIVE_CFLAGS: keep the two the same. */
static const char *const cflags[] = {
    "-O2", AFM_MODULE_MARCH_FLAG, "-fPIC", "-fvisibility=hidden", "-fno-strict-aliasing",
    "-fstack-clash-protection", "-w", "-Werror=incompatible-pointer-types",
};
#define NCFLAGS (sizeof cflags / sizeof cflags[0])

static const char *cc_name(void);

/* Starts a compiler command line in argv: the compiler, the flags, -I. and -I`inc`. Returns
 * how many entries it wrote. */
static size_t cc_argv(char **argv, char *inc)
{
    size_t a = 0;
    argv[a++] = (char *)cc_name();
    for (size_t i = 0; i < NCFLAGS; i++)
        argv[a++] = (char *)cflags[i];
    argv[a++] = "-I.";
    argv[a++] = inc;
    return a;
}
#define MAX_UNITS 24

void afm_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The tools directory, absolute (the steps run in their work directory), resolved once with
 * the toolchain's identity. */
static char tools[PATH_MAX];

static const char *tools_dir(void)
{
    return tools;
}

static const char *cc_name(void)
{
    const char *c = getenv("CC");
    return c && *c && !strchr(c, ' ') ? c : "cc";
}

/* Runs argv (argv[0] looked up in PATH unless it has a '/') in `dir`, its output to `log`. Returns
 * the child's pid, or -errno. */
static pid_t spawn(char *const argv[], const char *dir, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? -rc : pid;
}

/* The exit status of child `pid` (only ours: a library must not reap the application's
 * children). If the application has SIGCHLD ignored, the kernel reaps it and there is no status:
 * taken as success, and a missing output fails the next step. */
static int reap(pid_t pid, int hang)
{
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, hang ? 0 : WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return -1; /* still running */
    return r < 0 ? 0 : st;
}

/* The last `max` bytes of a file, lines joined by "; ", into buf. */
static void tail_of(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char all[2048];
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    fseek(f, end > (long)sizeof all - 1 ? end - (long)sizeof all + 1 : 0, SEEK_SET);
    size_t n = fread(all, 1, sizeof all - 1, f);
    fclose(f);
    all[n] = '\0';
    while (n && (all[n - 1] == '\n' || all[n - 1] == ' '))
        all[--n] = '\0';
    char *start = all;
    int lines = 0;
    for (char *p = all + n; p > all; p--)
        if (p[-1] == '\n' && ++lines == 4) {
            start = p;
            break;
        }
    size_t j = 0;
    for (char *p = start; *p && j + 3 < size; p++) {
        if (*p == '\n') {
            buf[j++] = ';';
            buf[j++] = ' ';
        } else {
            buf[j++] = *p;
        }
    }
    buf[j] = '\0';
}

/* Runs one step to its end. AFMPEG_OK, or AFMPEG_ENOTSUP if the program is missing, or
 * AFMPEG_EMODULE with the end of its output. */
static int run_step(char *const argv[], const char *dir, const char *log, const char *what)
{
    pid_t pid = spawn(argv, dir, log);
    if (pid < 0)
        return afm_error(-pid == ENOENT ? AFMPEG_ENOTSUP : AFMPEG_EMODULE,
                         "cannot run %s (%s): %s", argv[0], what, strerror((int)-pid));
    int st = reap(pid, 1);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return AFMPEG_OK;
    char t[700];
    tail_of(log, t, sizeof t);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return afm_error(AFMPEG_ENOTSUP, "cannot run %s (%s): not installed", argv[0], what);
    return afm_error(AFMPEG_EMODULE, "%s failed (%s): %s", what, argv[0], t);
}

/* The first line a command prints, or "" (for the toolchain's identity). */
static void first_line(char *const argv[], char *out, size_t size, const char *tmpdir)
{
    char log[4096];
    out[0] = '\0';
    snprintf(log, sizeof log, "%s/afmpeg-id-%d.txt", tmpdir, (int)getpid());
    pid_t pid = spawn(argv, NULL, log);
    if (pid < 0)
        return;
    int st = reap(pid, 1);
    FILE *f = fopen(log, "r");
    if (f) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && fgets(out, (int)size, f))
            out[strcspn(out, "\n")] = '\0';
        fclose(f);
    }
    unlink(log);
}

static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static char toolchain[2048];
static char toolchain_err[4600];

/* The tools directory (realpath into tools[]), or -1 with toolchain_err saying where it looked. */
static int find_tools(void)
{
    const char *env = getenv("AFMPEG_TOOLS_DIR");
    if (env && *env) {
        if (realpath(env, tools))
            return 0;
        snprintf(toolchain_err, sizeof toolchain_err, "no module tools at AFMPEG_TOOLS_DIR=%s "
                 "(install afmpeg's module tools, or set AFMPEG_TOOLS_DIR)", env);
        return -1;
    }
    /* The file this code was loaded from: libafmpeg.so, or the program itself when it linked
     * libafmpeg.a (glibc then reports argv[0], which need not be a path: ask the kernel). */
    char self[PATH_MAX] = "", cand[2][PATH_MAX + 64];
    Dl_info dl;
    if (dladdr((void *)find_tools, &dl) && dl.dli_fname && strchr(dl.dli_fname, '/') &&
        strcmp(dl.dli_fname, program_invocation_name) && realpath(dl.dli_fname, self))
        ;
    else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
    }
    char *slash = strrchr(self, '/');
    int ncand = 0;
    if (slash) {
        *slash = '\0';
        snprintf(cand[ncand++], sizeof cand[0], "%s/../libexec/afmpeg/tools", self);
        snprintf(cand[ncand++], sizeof cand[0], "%s/tools", self);
    }
    for (int i = 0; i < ncand; i++) {
        char w2c[sizeof cand[0] + 8];
        snprintf(w2c, sizeof w2c, "%.*s/wasm2c", (int)sizeof cand[0] - 1, cand[i]);
        if (access(w2c, X_OK) == 0 && realpath(cand[i], tools))
            return 0;
    }
    if (realpath(AFM_TOOLS_DIR, tools))
        return 0;
    snprintf(toolchain_err, sizeof toolchain_err, "no module tools at %s%s%s (install afmpeg's "
             "module tools, or set AFMPEG_TOOLS_DIR)", AFM_TOOLS_DIR,
             ncand ? " or beside " : "", ncand ? self : "");
    return -1;
}

static void make_id(void)
{
    char w2c[PATH_MAX + 16], ccv[256], wv[128];
    if (find_tools())
        return;
    const char *td = tools;
    snprintf(w2c, sizeof w2c, "%s/wasm2c", td);
    if (access(w2c, X_OK) != 0) {
        snprintf(toolchain_err, sizeof toolchain_err, "no translator at %s (install afmpeg's "
                 "module tools, or set AFMPEG_TOOLS_DIR)", w2c);
        return;
    }
    const char *tmp = getenv("TMPDIR");
    tmp = tmp && *tmp ? tmp : "/tmp";
    char *wargv[] = {w2c, "--version", NULL};
    first_line(wargv, wv, sizeof wv, tmp);
    char *cargv[] = {(char *)cc_name(), "--version", NULL};
    first_line(cargv, ccv, sizeof ccv, tmp);
    if (!ccv[0]) {
        snprintf(toolchain_err, sizeof toolchain_err, "no C compiler: '%s --version' failed "
                 "(install gcc, e.g. apt-get install gcc, or set CC)", cc_name());
        return;
    }
    /* The tools' own files are part of the identity: a changed glue or rewriter is another
     * toolchain. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    const char *files[] = {"abi.h", "glue.c", "membase.py", "include/wasm-rt.h"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[PATH_MAX + 64], buf[8192];
        snprintf(p, sizeof p, "%s/%s", td, files[i]);
        FILE *f = fopen(p, "rb");
        if (!f) {
            snprintf(toolchain_err, sizeof toolchain_err, "the module tools at %s lack %s "
                     "(install afmpeg's module tools, or set AFMPEG_TOOLS_DIR)", td, files[i]);
            EVP_MD_CTX_free(md);
            return;
        }
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            EVP_DigestUpdate(md, buf, n);
        fclose(f);
    }
    unsigned char d[32];
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    char dh[65];
    for (int i = 0; i < 32; i++)
        snprintf(dh + 2 * i, 3, "%02x", d[i]);
    int len = snprintf(toolchain, sizeof toolchain, "abi %d; %s; %s; tools %s;", AFM_MODULE_ABI,
                       wv, ccv, dh);
    for (size_t i = 0; i < NCFLAGS && len > 0 && (size_t)len < sizeof toolchain; i++)
        len += snprintf(toolchain + len, sizeof toolchain - (size_t)len, " %s", cflags[i]);
}

const char *afm_toolchain_id(void)
{
    pthread_once(&id_once, make_id);
    if (!toolchain[0]) {
        afm_error(AFMPEG_ENOTSUP, "cannot compile a .wasm: %s", toolchain_err);
        return NULL;
    }
    return toolchain;
}

static void progress(const afm_compile_ctx *ctx, const char *step, double f)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx->payload, step, f);
}

static int write_all(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        data += n;
        len -= (size_t)n;
    }
    return close(fd) ? -errno : 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Compiles the units gen/afm_N.c (N < units) with up to `jobs` compilers at once. */
static int compile_units(const char *work, unsigned units, const char *td,
                         const afm_compile_ctx *ctx)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = ncpu > 0 ? (unsigned)ncpu : 1;
    pid_t pids[MAX_UNITS];
    unsigned unit_of[MAX_UNITS];
    unsigned next = 0, running = 0, done = 0;
    int err = AFMPEG_OK;
    char inc[4200];
    snprintf(inc, sizeof inc, "-I%s/include", td);
    while ((next < units && !err) || running) {
        while (!err && next < units && running < jobs) {
            char src[64], obj[64], log[4200];
            snprintf(src, sizeof src, "afm_%u.c", next);
            snprintf(obj, sizeof obj, "afm_%u.o", next);
            snprintf(log, sizeof log, "%s/cc_%u.log", work, next);
            char *argv[NCFLAGS + 8];
            size_t a = cc_argv(argv, inc);
            argv[a++] = "-c";
            argv[a++] = src;
            argv[a++] = "-o";
            argv[a++] = obj;
            argv[a] = NULL;
            pid_t pid = spawn(argv, work, log);
            if (pid < 0) {
                err = afm_error(-pid == ENOENT ? AFMPEG_ENOTSUP : AFMPEG_EMODULE,
                                "cannot run the C compiler %s: %s", cc_name(),
                                strerror((int)-pid));
                break;
            }
            pids[running] = pid;
            unit_of[running++] = next++;
        }
        if (!running)
            break;
        /* Whichever of ours ends first (polled: waiting for any child would reap the
         * application's too). */
        int st = -1;
        unsigned i;
        for (;;) {
            for (i = 0; i < running && (st = reap(pids[i], 0)) == -1; i++)
                ;
            if (i < running)
                break;
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
        unsigned unit = unit_of[i];
        pids[i] = pids[--running];
        unit_of[i] = unit_of[running];
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !err) {
            char log[4200], t[700];
            snprintf(log, sizeof log, "%s/cc_%u.log", work, unit);
            tail_of(log, t, sizeof t);
            err = afm_error(AFMPEG_EMODULE, "compiling the translated module failed (%s): %s",
                            cc_name(), t);
        }
        done++;
        progress(ctx, "compile", 0.1 + 0.85 * done / units);
    }
    return err;
}

int afm_compile(const uint8_t *wasm, size_t len, const afm_wasm_info *info, const char *sha256,
                const char *out_so, const afm_compile_ctx *ctx)
{
    if (!afm_toolchain_id())
        return AFMPEG_ENOTSUP;
    const char *td = tools_dir();
    char made[4096], work[PATH_MAX];
    snprintf(made, sizeof made, "%s.work-XXXXXX", out_so);
    if (!mkdtemp(made))
        return afm_error(AFMPEG_EIO, "cannot make a work directory beside %s: %s", out_so,
                         strerror(errno));
    /* Absolute: the steps run inside it, and their logs and output are named from outside. */
    if (!realpath(made, work)) {
        int e = errno;
        rmdir(made);
        return afm_error(AFMPEG_EIO, "cannot resolve %s: %s", made, strerror(e));
    }
    char path[4200], log[4200], tmp_so[4200];
    int err = AFMPEG_OK;
    snprintf(path, sizeof path, "%s/module.wasm", work);
    int rc = write_all(path, wasm, len);
    if (rc) {
        err = afm_error(AFMPEG_EIO, "cannot write %s: %s", path, strerror(-rc));
        goto out;
    }

    /* Translate: a unit per MiB of module, at least two (wasm2c writes the shared
     * afm-impl.h that membase.py rewrites only when it splits its output). */
    progress(ctx, "translate", 0.0);
    unsigned units = (unsigned)(len >> 20);
    units = units < 2 ? 2 : units > MAX_UNITS ? MAX_UNITS : units;
    char w2c[4200], nout[32];
    snprintf(w2c, sizeof w2c, "%s/wasm2c", td);
    snprintf(nout, sizeof nout, "--num-outputs=%u", units);
    snprintf(log, sizeof log, "%s/wasm2c.log", work);
    {
        char *argv[] = {w2c, "-n", "afm", nout, "module.wasm", "-o", "afm.c", NULL};
        if ((err = run_step(argv, work, log, "translating the module")))
            goto out;
    }
    {
        char mb[4200];
        snprintf(mb, sizeof mb, "%s/membase.py", td);
        snprintf(log, sizeof log, "%s/membase.log", work);
        char *argv[] = {"python3", mb, ".", NULL};
        if ((err = run_step(argv, work, log, "rewriting memory accesses (membase.py)")))
            goto out;
    }
    progress(ctx, "compile", 0.1);
    if ((err = compile_units(work, units, td, ctx)))
        goto out;

    /* The glue, then one shared object. */
    {
        char glue[4200], inc1[4200], inc2[4200], dsha[128], dff[32];
        snprintf(glue, sizeof glue, "%s/glue.c", td);
        snprintf(inc1, sizeof inc1, "-I%s", td);
        snprintf(inc2, sizeof inc2, "-I%s/include", td);
        snprintf(dsha, sizeof dsha, "-DAFM_GLUE_SHA256=\"%s\"", sha256);
        snprintf(dff, sizeof dff, "-DAFM_GLUE_FFMPEG=%d", info->is_ffmpeg ? 1 : 0);
        snprintf(log, sizeof log, "%s/glue.log", work);
        char *argv[NCFLAGS + 14];
        size_t a = cc_argv(argv, inc2);
        argv[a++] = inc1;
        argv[a++] = "-DAFM_GLUE_HEADER=\"afm.h\"";
        argv[a++] = dsha;
        argv[a++] = dff;
        if (!info->imports)
            argv[a++] = "-DAFM_GLUE_NO_IMPORTS";
        argv[a++] = "-c";
        argv[a++] = glue;
        argv[a++] = "-o";
        argv[a++] = "glue.o";
        argv[a] = NULL;
        if ((err = run_step(argv, work, log, "compiling the module's glue")))
            goto out;
    }
    progress(ctx, "link", 0.95);
    snprintf(tmp_so, sizeof tmp_so, "%s/module.so", work);
    snprintf(log, sizeof log, "%s/link.log", work);
    {
        char *argv[MAX_UNITS + 12];
        char objs[MAX_UNITS][32];
        size_t a = 0;
        argv[a++] = (char *)cc_name();
        argv[a++] = "-shared";
        argv[a++] = "-Wl,--no-undefined";
        argv[a++] = "-Wl,-z,noexecstack";
        argv[a++] = "-o";
        argv[a++] = tmp_so;
        argv[a++] = "glue.o";
        for (unsigned u = 0; u < units; u++) {
            snprintf(objs[u], sizeof objs[u], "afm_%u.o", u);
            argv[a++] = objs[u];
        }
        argv[a++] = "-lm";
        argv[a] = NULL;
        if ((err = run_step(argv, work, log, "linking the module")))
            goto out;
    }
    if (rename(tmp_so, out_so))
        err = afm_error(AFMPEG_EIO, "cannot move the compiled module to %s: %s", out_so,
                        strerror(errno));
    else
        progress(ctx, "link", 1.0);
out:
    remove_tree(work);
    return err;
}
