/* afmpeg: one guest module serving both ffmpeg and ffprobe, chosen by the last path component of
 * argv[0] (as a busybox-style multi-call binary). The two tools are compiled with their
 * tool-specific globals renamed (see link.sh); the shared fftools code (cmdutils, opt_common)
 * reads the afm_* versions below, which are set to the chosen tool's before it starts. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
