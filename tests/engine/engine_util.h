/* Shared fixtures for the engine suites: test media made by Debian's native ffmpeg in a scratch
 * directory, and small helpers to run native tools and read files. */
#ifndef AFM_ENGINE_UTIL_H
#define AFM_ENGINE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "afmpeg.h"

/* Jobs that fault on purpose (the trap tests) touch protected pages; under valgrind those
 * accesses are what the test expects, not errors. Per thread. */
#if defined(__has_include) && __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define EXPECTED_FAULTS_BEGIN() VALGRIND_DISABLE_ERROR_REPORTING
#define EXPECTED_FAULTS_END() VALGRIND_ENABLE_ERROR_REPORTING
#define AFM_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define EXPECTED_FAULTS_BEGIN() ((void)0)
#define EXPECTED_FAULTS_END() ((void)0)
#define AFM_UNDER_VALGRIND() 0
#endif

/* Whether the process runs under ASan or valgrind, whose own allocators make the process's
 * memory use and mappings grow without a leak of ours. */
static inline int under_instrumentation(void)
{
#ifdef __SANITIZE_ADDRESS__
    return 1;
#else
    return AFM_UNDER_VALGRIND();
#endif
}

/* A host-directory filesystem, or skip the test where the kernel interface the jail needs
 * (openat2) is missing: valgrind 3.19 does not know it, and afmpeg refuses to run unjailed. */
static inline afmpeg_fs *hostdir_or_skip(const char *dir)
{
    afmpeg_fs *fs = NULL;
    int err = afmpeg_fs_new_hostdir(dir, &fs);
    if (err == AFMPEG_ENOTSUP) {
        fprintf(stderr, "skipped: %s\n", afmpeg_last_error()[0] ? afmpeg_last_error()
                                                                : "openat2 is not available");
        skip();
    }
    assert_int_equal(err, AFMPEG_OK);
    return fs;
}

/* A failed call's message (afmpeg_last_error()): there is one, and it does not start with a
 * function name ("afmpeg_probe: ..."), which API 1.0 dropped from every message. */
static inline void assert_no_function_name(const char *msg)
{
    if (!msg[0])
        fail_msg("the failed call left no message");
    if (!strncmp(msg, "afmpeg_", 7))
        fail_msg("the message starts with a function name: %s", msg);
}

static inline double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A thread body: sleeps delay_ms, then cancels the token. */
typedef struct canceller {
    afmpeg_cancel_token *token;
    int delay_ms;
} canceller;

static inline void *cancel_later(void *arg)
{
    canceller *c = arg;
    struct timespec ts = {c->delay_ms / 1000, (c->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    afmpeg_cancel_token_cancel(c->token);
    return NULL;
}

/* The scratch directory with the generated media (made once per process). */
static char media_dir[256];

/* Runs a shell command; returns its stdout (malloc'd, NUL-terminated) or NULL on failure. */
static inline char *sh_capture(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *q = realloc(buf, cap * 2);
            if (!q) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = q;
            cap *= 2;
        }
    }
    int status = pclose(p);
    if (!buf || status != 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static inline int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* The SHA-256 of a host file, 64 hex digits (Debian's sha256sum; malloc'd), or NULL. */
static inline char *sha256_of(const char *path)
{
    char *sha = sh_capture("sha256sum '%s' | cut -c1-64", path);
    if (sha)
        sha[strcspn(sha, "\n")] = '\0';
    return sha;
}

static inline void *read_host_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static inline int write_host_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* Generates the test media with Debian's ffmpeg (once). */
static inline int make_media(void)
{
    if (media_dir[0])
        return 0;
    snprintf(media_dir, sizeof media_dir, "/tmp/afmpeg-media-XXXXXX");
    if (!mkdtemp(media_dir))
        return -1;
    const char *ff = "ffmpeg -nostdin -v error -y -threads 1";
    const char *v = "-f lavfi -i testsrc2=size=320x240:rate=25:duration=3";
    const char *a = "-f lavfi -i sine=frequency=440:duration=3";
    return sh("cd %s && %s %s %s -c:v libx264 -pix_fmt yuv420p -g 25 -c:a aac -shortest h264_aac.mp4"
              " && %s %s -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p hevc.mkv"
              " && %s %s -c:v libvpx-vp9 -b:v 300k -pix_fmt yuv420p vp9.webm",
              media_dir, ff, v, a, ff, v, ff, v);
}

static inline void remove_media(void)
{
    if (media_dir[0])
        sh("rm -rf '%s'", media_dir);
    media_dir[0] = '\0';
}

/* Loads media file `name` into the memory filesystem as `as`. */
static inline void put_media(afmpeg_fs *fs, const char *name, const char *as)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", media_dir, name);
    void *data = read_host_file(path, &len);
    assert_non_null(data);
    assert_int_equal(afmpeg_fs_write_file(fs, as, data, len), AFMPEG_OK);
    free(data);
}

/* Keeps only the lines of framemd5 output that describe frames (drops '#' headers). */
static inline char *frame_lines(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s + 1) : strlen(s);
        if (*s != '#') {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
    }
    *o = '\0';
    return out;
}

#endif
