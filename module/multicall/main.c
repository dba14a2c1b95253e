/* afmpeg: one guest module serving both ffmpeg and ffprobe, chosen by the last path component of
 * argv[0] (as a busybox-style multi-call binary). The two tools are compiled with their
 * tool-specific globals renamed (see link.sh); the shared fftools code (cmdutils, opt_common)
 * reads the afm_* versions below, which are set to the chosen tool's before it starts. */
#include <stdio.h>
#include <string.h>

int afm_ffmpeg_main(int argc, char **argv);
int afm_ffprobe_main(int argc, char **argv);
void afm_ffmpeg_show_help_default(const char *opt, const char *arg);
void afm_ffprobe_show_help_default(const char *opt, const char *arg);
extern const char afm_ffmpeg_program_name[], afm_ffprobe_program_name[];
extern const int afm_ffmpeg_program_birth_year, afm_ffprobe_program_birth_year;

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
    fprintf(stderr, "afmpeg: unknown tool '%s' (argv[0] must be ffmpeg or ffprobe)\n", name);
    return 127;
}
