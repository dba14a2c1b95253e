/* afmpeg: one guest module serving both ffmpeg and ffprobe, chosen by the last path component of
 * argv[0] (as a busybox-style multi-call binary). The two tools are compiled with their
 * tool-specific globals renamed (see link.sh); the shared fftools code (cmdutils, opt_common)
 * reads the afm_* versions below, which are set to the chosen tool's before it starts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int afm_ffmpeg_main(int argc, char **argv);
int afm_ffprobe_main(int argc, char **argv);
void afm_ffmpeg_show_help_default(const char *opt, const char *arg);
void afm_ffprobe_show_help_default(const char *opt, const char *arg);
extern const char afm_ffmpeg_program_name[], afm_ffprobe_program_name[];
extern const int afm_ffmpeg_program_birth_year, afm_ffprobe_program_birth_year;

/* "afmpeg-selftest KIND": makes the guest fail in one known way, so the host's handling of guest
 * faults can be tested on the real module. Each kind is something a bug in FFmpeg could do. */
static volatile int zero = 0, one = 1;

/* Recursion with a big frame: exhausts the guest's shadow stack (in linear memory). */
static int recurse_frame(volatile char *prev)
{
    volatile char frame[256];
    frame[0] = prev ? prev[0] + 1 : 0;
    return recurse_frame(frame) + frame[1];
}

/* Recursion through a function pointer with nothing on the shadow stack: exhausts the native
 * call stack that the translated code runs on. */
static int recurse_call(int n);
static int (*volatile next_call)(int) = recurse_call;

static int recurse_call(int n)
{
    return next_call(n + 1) + 1;
}

/* A loop on registers only: no memory access, no host call, no end in practice (a 64-bit LCG
 * meets 7 after some 2^63 steps). Only an asynchronous stop can end it. This file is compiled
 * with -fno-finite-loops, so the compiler may not assume the loop ends and delete it. */
static int spin(void)
{
    uint64_t x = (uint64_t)one, target = (uint64_t)zero + 7u;
    while (x != target)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return (int)x;
}

static int selftest(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "";
    if (!strcmp(kind, "unreachable"))
        __builtin_trap();
    if (!strcmp(kind, "oob"))
        return *(volatile int *)(uintptr_t)0xfffffff0u;
    if (!strcmp(kind, "divzero"))
        return one / zero;
    if (!strcmp(kind, "stack"))
        return recurse_call(0);
    if (!strcmp(kind, "shadowstack"))
        return recurse_frame(NULL);
    if (!strcmp(kind, "exit"))
        return 42;
    if (!strcmp(kind, "spin"))
        return spin();
    if (!strcmp(kind, "sleep")) /* in host calls (poll_oneoff) forever */
        for (;;)
            usleep(100000);
    if (!strcmp(kind, "write")) { /* standard output, forever */
        static char buf[65536];
        for (;;)
            if (fwrite(buf, 1, sizeof buf, stdout) != sizeof buf)
                return 3;
    }
    if (!strcmp(kind, "open")) { /* files kept open: argv[2] of them */
        int n = argc > 2 ? atoi(argv[2]) : 0;
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "open-%d", i);
            if (!fopen(name, "w")) {
                fprintf(stderr, "afmpeg-selftest: fopen %s failed\n", name);
                return 4;
            }
        }
        return 0;
    }
    if (!strcmp(kind, "alloc")) { /* 1 MiB blocks until refused; prints how many */
        static void *volatile last; /* kept, so the allocations cannot be optimised away */
        unsigned long n = 0;
        while ((last = malloc(1 << 20)) != NULL)
            n++;
        printf("%lu\n", n);
        return 0;
    }
    fprintf(stderr, "afmpeg-selftest: unknown kind '%s'\n", kind);
    return 2;
}

/* Read by the shared fftools objects in place of program_name / program_birth_year. */
char afm_program_name[16];
int afm_program_birth_year;
static void (*help_default)(const char *opt, const char *arg);

void afm_show_help_default(const char *opt, const char *arg)
{
    help_default(opt, arg);
}

int main(int argc, char **argv)
{
    const char *name = argc > 0 && argv[0] ? argv[0] : "";
    const char *slash = strrchr(name, '/');
    if (slash)
        name = slash + 1;

    if (!strcmp(name, "ffprobe")) {
        strcpy(afm_program_name, afm_ffprobe_program_name);
        afm_program_birth_year = afm_ffprobe_program_birth_year;
        help_default = afm_ffprobe_show_help_default;
        return afm_ffprobe_main(argc, argv);
    }
    if (!strcmp(name, "ffmpeg")) {
        strcpy(afm_program_name, afm_ffmpeg_program_name);
        afm_program_birth_year = afm_ffmpeg_program_birth_year;
        help_default = afm_ffmpeg_show_help_default;
        return afm_ffmpeg_main(argc, argv);
    }
    if (!strcmp(name, "afmpeg-selftest"))
        return selftest(argc, argv);
    fprintf(stderr, "afmpeg: unknown tool '%s' (argv[0] must be ffmpeg or ffprobe)\n", name);
    return 127;
}
