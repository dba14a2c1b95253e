/* Modules from files and bytes (lib/module): small WASI programs in C (tests/modules/, built for
 * wasm32-wasi by the Makefile into build/tests/wasi/) loaded from a file, from bytes and from a
 * module file; what they do through the per-job filesystem, clocks, exit codes, traps, the
 * deadline and the memory cap; the modules refused at load time and why; the cache (a hit, a
 * damaged object rebuilt, two processes compiling once); and a loaded module beside the
 * embedded one in one process.
 *
 * The programs and the module tools are found next to this executable (../tools: the build
 * tree's, unless AFMPEG_TOOLS_DIR is set); the cache is a fresh directory per run. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include "engine_util.h"

static char wasi_dir[1100];
static char cache[64];
static char prog[1200];
static int compiles; /* compiles started in this process (on_compile's "translate" at 0) */

static void count_compiles(void *payload, const char *step, double fraction)
{
    (void)payload;
    if (!strcmp(step, "translate") && fraction == 0.0)
        compiles++;
}

/* A runtime on the module at `path` (or `data`), compiled into this run's cache. */
static int open_module(const char *path, const void *data, size_t size, const char *sha,
                       uint64_t memory_limit, afmpeg_runtime **rt)
{
    afmpeg_runtime_options o = AFMPEG_RUNTIME_OPTIONS_INIT;
    o.module_path = path;
    o.module_data = data;
    o.module_size = size;
    o.module_sha256 = sha;
    o.cache_dir = cache;
    o.on_compile = count_compiles;
    o.limits.memory_limit = memory_limit;
    return afmpeg_new(&o, rt);
}

/* Runs prog with argv on `rt` in a fresh memory filesystem (with /input.txt); the result and,
 * through *out, its standard output. */
static int run_prog(afmpeg_runtime *rt, const char *const *argv, uint64_t timeout_ms,
                    afmpeg_result **res, const char **out)
{
    afmpeg_fs *fs = NULL;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    assert_int_equal(afmpeg_fs_write_file(fs, "/input.txt", "from the host\n", 14), AFMPEG_OK);
    afmpeg_job_options jo = AFMPEG_JOB_OPTIONS_INIT;
    jo.limits.timeout_ms = timeout_ms;
    int err = afmpeg_run(rt, fs, argv, &jo, res);
    size_t len = 0;
    *out = *res ? afmpeg_result_stdout(*res, &len) : "";
    afmpeg_fs_free(fs);
    return err;
}

static afmpeg_runtime *prog_rt;

static int setup(void **state)
{
    (void)state;
    snprintf(cache, sizeof cache, "/tmp/afmpeg-modules-XXXXXX");
    if (!mkdtemp(cache))
        return -1;
    if (open_module(prog, NULL, 0, NULL, 64ull << 20, &prog_rt)) {
        fprintf(stderr, "loading %s: %s\n", prog, afmpeg_last_error());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    afmpeg_close(prog_rt, AFMPEG_CLOSE_WAIT);
    return sh("rm -rf '%s'", cache) ? -1 : 0;
}

static void test_argv_exit_code(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "hello", "7", "two words", NULL};
    assert_int_equal(run_prog(prog_rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 7);
    assert_string_equal(out, "argv[0]=prog\nargv[1]=hello\nargv[2]=7\nargv[3]=two words\n"
                             "environ=0\n");
    afmpeg_result_free(res);
}

static void test_clocks(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "clock", NULL};
    assert_int_equal(run_prog(prog_rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_string_equal(out, "clock ok\n");
    afmpeg_result_free(res);
}

static void test_files(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "files", NULL};
    assert_int_equal(run_prog(prog_rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    assert_string_equal(out, "read: written by the guest\ninput: from the host\n"
                             "entry: b.txt\nsize: 21\nescape: refused\nescape2: refused\n"
                             "files ok\n");
    afmpeg_result_free(res);
}

static void test_trap(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "trap", NULL};
    EXPECTED_FAULTS_BEGIN();
    int err = run_prog(prog_rt, argv, 0, &res, &out);
    EXPECTED_FAULTS_END();
    assert_int_equal(err, AFMPEG_ETRAP);
    assert_int_equal(afmpeg_result_trap(res), AFMPEG_TRAP_UNREACHABLE);
    assert_non_null(strstr(afmpeg_last_error(), "unreachable"));
    afmpeg_result_free(res);
}

/* The module's own faults are the sandbox's to catch, as in the embedded module: a read past
 * its memory, a recursion overflowing the C stack it keeps in linear memory, and one exhausting
 * the call stack each trap that job alone. */
static void test_faults_trap(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        afmpeg_trap trap;
    } cases[] = {{"oob", AFMPEG_TRAP_OUT_OF_BOUNDS},
                 {"recurse", AFMPEG_TRAP_OUT_OF_BOUNDS},
                 {"deep", AFMPEG_TRAP_STACK_EXHAUSTED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        afmpeg_result *res = NULL;
        const char *out;
        const char *argv[] = {"prog", cases[i].what, NULL};
        EXPECTED_FAULTS_BEGIN();
        int err = run_prog(prog_rt, argv, 0, &res, &out);
        EXPECTED_FAULTS_END();
        assert_int_equal(err, AFMPEG_ETRAP);
        assert_int_equal(afmpeg_result_trap(res), cases[i].trap);
        afmpeg_result_free(res);
    }
}

static void test_deadline_then_usable(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *loop[] = {"prog", "loop", NULL};
    double t0 = now_ms();
    assert_int_equal(run_prog(prog_rt, loop, 200, &res, &out), AFMPEG_ETIMEDOUT);
    assert_true(now_ms() - t0 < 5000);
    afmpeg_result_free(res);
    const char *hello[] = {"prog", "hello", "3", NULL};
    assert_int_equal(run_prog(prog_rt, hello, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 3);
    afmpeg_result_free(res);
}

/* The runtime's 64 MiB cap: malloc fails before it, the program sees that and exits. */
static void test_memory_cap(void **state)
{
    (void)state;
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "grow", NULL};
    assert_int_equal(run_prog(prog_rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    unsigned mib = 0;
    assert_int_equal(sscanf(out, "grew %u MiB", &mib), 1);
    assert_in_range(mib, 56, 63);
    afmpeg_result_free(res);
}

/* How many descriptors of this process are memory images (lib/rt/image.c's memfds). */
static int memory_images(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[300], target[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strstr(target, "memfd:afmpeg-memory-image") != NULL;
        }
    }
    closedir(d);
    return n;
}

/* Nothing a job wrote is there for the next one on the same runtime: not its heap (4 MiB of a
 * marker), its stack, or its globals, initialised (the pages the memory image maps, copy on
 * write) or not. The first job records what the runtime's image holds, the second builds the
 * image and writes its markers into memory mapped from it, the third scans every byte of its
 * memory. */
static void test_next_job_sees_nothing(void **state)
{
    (void)state;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_module(prog, NULL, 0, NULL, 64ull << 20, &rt), AFMPEG_OK);
    int images = memory_images();
    afmpeg_result *res = NULL;
    const char *out;
    const char *plant[] = {"prog", "secret", NULL};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(run_prog(rt, plant, 0, &res, &out), AFMPEG_OK);
        assert_string_equal(out, "planted\n");
        afmpeg_result_free(res);
        /* The second job built the image and ran on it (unless images are off). */
        const char *env = getenv("AFMPEG_MEMORY_IMAGE");
        assert_int_equal(memory_images(), images + (i == 1 && !(env && !strcmp(env, "0"))));
    }
    const char *scan[] = {"prog", "secret", "scan", NULL};
    assert_int_equal(run_prog(rt, scan, 0, &res, &out), AFMPEG_OK);
    assert_non_null(strstr(out, ", found 0, data 1\n"));
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    assert_int_equal(memory_images(), images); /* closed with its runtime */
}

/* The same module from bytes: the cache already has it (no compile), and it runs. */
static void test_bytes_cache_hit(void **state)
{
    (void)state;
    size_t len = 0;
    void *data = read_host_file(prog, &len);
    assert_non_null(data);
    int before = compiles;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_module(NULL, data, len, NULL, 0, &rt), AFMPEG_OK);
    free(data); /* read during afmpeg_new() only */
    assert_int_equal(compiles, before);
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "hello", "0", NULL};
    assert_int_equal(run_prog(rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 0);
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
}

static void expect_refused(const char *path, const void *data, size_t size, const char *sha,
                           int code, const char *words)
{
    afmpeg_runtime *rt = (afmpeg_runtime *)1;
    int before = compiles;
    assert_int_equal(open_module(path, data, size, sha, 0, &rt), code);
    assert_null(rt);
    assert_int_equal(compiles, before); /* refused before anything was compiled */
    if (!strstr(afmpeg_last_error(), words))
        fail_msg("message '%s' lacks '%s'", afmpeg_last_error(), words);
    assert_no_function_name(afmpeg_last_error());
}

static void test_refused_modules(void **state)
{
    (void)state;
    char p[1200];
    snprintf(p, sizeof p, "%s/unknown_import.wasm", wasi_dir);
    expect_refused(p, NULL, 0, NULL, AFMPEG_EMODULE, "env.host_magic");
    snprintf(p, sizeof p, "%s/reactor.wasm", wasi_dir);
    expect_refused(p, NULL, 0, NULL, AFMPEG_EMODULE, "no _start");
    expect_refused(NULL, "hello, world", 12, NULL, AFMPEG_EMODULE, "not a WebAssembly module");
    expect_refused(NULL, "\0asm\x0d\0\x01\0", 8, NULL, AFMPEG_EMODULE, "binary version");
    size_t len = 0;
    unsigned char *data = read_host_file(prog, &len);
    assert_non_null(data);
    expect_refused(NULL, data, len / 2, NULL, AFMPEG_EMODULE, "truncated");
    expect_refused(prog, NULL, 0, "0000000000000000000000000000000000000000000000000000000000000000",
                   AFMPEG_EMODULE, "not the expected");
    expect_refused(prog, NULL, 0, "abc", AFMPEG_EINVAL, "64 hex digits");
    expect_refused(prog, data, len, NULL, AFMPEG_EINVAL, "both");
    expect_refused("/nonexistent/prog.wasm", NULL, 0, NULL, AFMPEG_ENOENT, "/nonexistent");
    expect_refused(wasi_dir, NULL, 0, NULL, AFMPEG_EISDIR, "not a regular file");
    free(data);
}

/* The right SHA-256 is accepted. */
static void test_sha256_accepted(void **state)
{
    (void)state;
    char *sha = sha256_of(prog);
    assert_non_null(sha);
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_module(prog, NULL, 0, sha, 0, &rt), AFMPEG_OK);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(sha);
}

static void test_ffmpeg_calls_refused(void **state)
{
    (void)state;
    afmpeg_fs *fs = NULL;
    assert_int_equal(afmpeg_fs_new_memory(&fs), AFMPEG_OK);
    afmpeg_probe_result *p = NULL;
    assert_int_equal(afmpeg_probe(prog_rt, fs, "/x.mp4", NULL, &p), AFMPEG_ENOTSUP);
    assert_null(p);
    assert_non_null(strstr(afmpeg_last_error(), "needs an FFmpeg module"));
    const afmpeg_module_info *info = NULL;
    assert_int_equal(afmpeg_module_info_get(prog_rt, &info), AFMPEG_ENOTSUP);
    afmpeg_frame_list *fl = NULL;
    assert_int_equal(afmpeg_thumbnail(prog_rt, fs, "/x.mp4", 0, NULL, NULL, &fl),
                     AFMPEG_ENOTSUP);
    afmpeg_fs_free(fs);
}

/* The embedded module and a loaded one, each on its own runtime, jobs at the same time. */
typedef struct two {
    afmpeg_runtime *rt;
    const char *const *argv;
    int err, code;
    char out[256];
} two;

static void *run_two(void *arg)
{
    two *t = arg;
    afmpeg_fs *fs = NULL;
    afmpeg_result *res = NULL;
    afmpeg_fs_new_memory(&fs);
    for (int i = 0; i < 5 && !t->err; i++) {
        afmpeg_result_free(res);
        res = NULL;
        t->err = afmpeg_run(t->rt, fs, t->argv, NULL, &res);
    }
    size_t len = 0;
    t->code = res ? afmpeg_result_exit_code(res) : -1;
    snprintf(t->out, sizeof t->out, "%s", res ? afmpeg_result_stdout(res, &len) : "");
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    return NULL;
}

static void test_beside_the_embedded_module(void **state)
{
    (void)state;
    afmpeg_runtime *emb = NULL;
    assert_int_equal(afmpeg_new(NULL, &emb), AFMPEG_OK);
    const char *ff[] = {"ffmpeg", "-hide_banner", "-version", NULL};
    const char *hello[] = {"prog", "hello", "4", NULL};
    two a = {emb, ff, 0, 0, ""}, b = {prog_rt, hello, 0, 0, ""};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_two, &a);
    pthread_create(&tb, NULL, run_two, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.err, AFMPEG_OK);
    assert_int_equal(a.code, 0);
    assert_non_null(strstr(a.out, "ffmpeg version 5.1"));
    assert_int_equal(b.err, AFMPEG_OK);
    assert_int_equal(b.code, 4);
    assert_non_null(strstr(b.out, "argv[1]=hello"));
    afmpeg_close(emb, AFMPEG_CLOSE_WAIT);
}

/* The cached object of prog, damaged: the next load notices and compiles again. */
static void test_damaged_cache_rebuilt(void **state)
{
    (void)state;
    char *so = sh_capture("ls '%s'/*.so | head -n1", cache);
    assert_non_null(so);
    so[strcspn(so, "\n")] = '\0';
    /* A damaged copy renamed over it: the runtime of setup() still maps the original. */
    assert_int_equal(sh("cp '%s' '%s.bad' && printf 'XXXX' | dd of='%s.bad' bs=1 seek=4096 "
                        "conv=notrunc 2>/dev/null && mv '%s.bad' '%s'", so, so, so, so, so), 0);
    int before = compiles;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_module(prog, NULL, 0, NULL, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before + 1);
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "hello", "0", NULL};
    assert_int_equal(run_prog(rt, argv, 0, &res, &out), AFMPEG_OK);
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    /* Truncated to nothing, too. */
    assert_int_equal(sh(": > '%s.bad' && mv '%s.bad' '%s'", so, so, so), 0);
    assert_int_equal(open_module(prog, NULL, 0, NULL, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before + 2);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(so);
}

/* A load hashes a file only when it changed since it was hashed: the object touched (same
 * bytes, a new change time) is hashed again, loads without a compile and has its new identity
 * recorded; a .wasm rewritten in place under a path loaded before is hashed again, so it is
 * compiled as the new module it is, never taken for the old one. */
static void test_changed_files_hashed_again(void **state)
{
    (void)state;
    char *so = sh_capture("ls '%s'/*.so | head -n1", cache);
    assert_non_null(so);
    so[strcspn(so, "\n")] = '\0';
    char sum[1200], copy[1200];
    snprintf(sum, sizeof sum, "%.*s.sum", (int)(strlen(so) - 3), so);
    char *id_before = sh_capture("sed -n 2p '%s'", sum);
    assert_non_null(id_before);
    assert_true(strlen(id_before) > 10);
    usleep(20000);  /* past the file system's time granularity */
    assert_int_equal(sh("touch '%s'", so), 0);
    int before = compiles;
    afmpeg_runtime *rt = NULL;
    assert_int_equal(open_module(prog, NULL, 0, NULL, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    char *id_after = sh_capture("sed -n 2p '%s'", sum);
    assert_non_null(id_after);
    assert_string_not_equal(id_before, id_after);

    snprintf(copy, sizeof copy, "%s/copy.wasm", cache);
    assert_int_equal(sh("cp '%s' '%s'", prog, copy), 0);
    assert_int_equal(open_module(copy, NULL, 0, NULL, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before);  /* the same bytes as prog: its object */
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    /* In place (same inode): prog plus a custom section, a valid module of its own. */
    assert_int_equal(sh("{ cat '%s'; printf '\\000\\004\\001x\\000\\000'; } > '%s.new' && "
                        "cat '%s.new' > '%s'", prog, copy, copy, copy), 0);
    assert_int_equal(open_module(copy, NULL, 0, NULL, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before + 1);
    afmpeg_result *res = NULL;
    const char *out;
    const char *argv[] = {"prog", "hello", "6", NULL};
    assert_int_equal(run_prog(rt, argv, 0, &res, &out), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 6);
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    free(so);
    free(id_before);
    free(id_after);
}

/* Two processes loading a module new to the cache at once: one compiles, the other waits for
 * it and loads its object. Each child writes a line to `log` per compile it starts. */
static void test_two_processes_compile_once(void **state)
{
    (void)state;
    char dir[1100], log[1200];
    snprintf(dir, sizeof dir, "%s/shared", cache);
    snprintf(log, sizeof log, "%s/compiles.log", cache);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            snprintf(cache, sizeof cache, "%.60s", dir);
            compiles = 0;
            afmpeg_runtime *rt = NULL;
            int err = open_module(prog, NULL, 0, NULL, 0, &rt);
            FILE *f = fopen(log, "a");
            for (int i = 0; f && i < compiles; i++)
                fprintf(f, "compiled\n");
            if (f)
                fclose(f);
            afmpeg_result *res = NULL;
            const char *out;
            const char *argv[] = {"prog", "hello", "9", NULL};
            if (!err)
                err = run_prog(rt, argv, 0, &res, &out);
            int code = !err && afmpeg_result_exit_code(res) == 9 ? 0 : 1;
            afmpeg_result_free(res);
            afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
            _exit(code);
        }
    }
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char *n = sh_capture("wc -l < '%s'", log);
    assert_non_null(n);
    assert_int_equal(atoi(n), 1);
    free(n);
}

/* A compile waits for its own children only: the application's child, ending meanwhile, is
 * still the application's to reap, with its status. */
static void test_app_children_untouched(void **state)
{
    (void)state;
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        usleep(200 * 1000);
        _exit(42);
    }
    char out[1100];
    snprintf(out, sizeof out, "%s/children.afm", cache);
    assert_int_equal(afmpeg_module_compile(prog, out, NULL), AFMPEG_OK);
    int st = 0;
    assert_int_equal(waitpid(kid, &st, 0), kid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 42);
}

/* afmpeg_module_compile(): a module file that loads with no tools at all, and keeps the SHA-256
 * of its .wasm. */
static void test_module_file(void **state)
{
    (void)state;
    char out[1100];
    snprintf(out, sizeof out, "%s/prog.afm", cache);
    assert_int_equal(afmpeg_module_compile(prog, out, NULL), AFMPEG_OK);
    char *sha = sha256_of(prog);
    assert_non_null(sha);
    afmpeg_runtime *rt = NULL;
    int before = compiles;
    assert_int_equal(open_module(out, NULL, 0, sha, 0, &rt), AFMPEG_OK);
    assert_int_equal(compiles, before);
    afmpeg_result *res = NULL;
    const char *text;
    const char *argv[] = {"prog", "hello", "5", NULL};
    assert_int_equal(run_prog(rt, argv, 0, &res, &text), AFMPEG_OK);
    assert_int_equal(afmpeg_result_exit_code(res), 5);
    afmpeg_result_free(res);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    sha[0] = sha[0] == '0' ? '1' : '0';
    expect_refused(out, NULL, 0, sha, AFMPEG_EMODULE, "not the expected");
    /* Not an afmpeg module: a shared object without the entry point. */
    expect_refused("/lib/x86_64-linux-gnu/libm.so.6", NULL, 0, NULL, AFMPEG_EMODULE,
                   "not an afmpeg module");
    free(sha);
}

int main(int argc, char **argv)
{
    (void)argc;
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    char *slash = strrchr(self, '/');
    const char *here = slash ? (*slash = '\0', self) : ".";
    snprintf(wasi_dir, sizeof wasi_dir, "%s/wasi", here);
    snprintf(prog, sizeof prog, "%s/prog.wasm", wasi_dir);
    if (!getenv("AFMPEG_TOOLS_DIR")) {
        char tools[1100];
        snprintf(tools, sizeof tools, "%s/../tools", here);
        setenv("AFMPEG_TOOLS_DIR", tools, 1);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_exit_code),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_trap),
        cmocka_unit_test(test_faults_trap),
        cmocka_unit_test(test_deadline_then_usable),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_next_job_sees_nothing),
        cmocka_unit_test(test_bytes_cache_hit),
        cmocka_unit_test(test_refused_modules),
        cmocka_unit_test(test_sha256_accepted),
        cmocka_unit_test(test_ffmpeg_calls_refused),
        cmocka_unit_test(test_beside_the_embedded_module),
        cmocka_unit_test(test_damaged_cache_rebuilt),
        cmocka_unit_test(test_changed_files_hashed_again),
        cmocka_unit_test(test_two_processes_compile_once),
        cmocka_unit_test(test_module_file),
        cmocka_unit_test(test_app_children_untouched),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
