/* progress.c — a transcode described with the command builder, in memory, with progress.
 *
 * Shows: afmpeg_command_* (an input, an output with codecs, a scale filter and a bit rate)
 * instead of an argv; afmpeg_command_argv() to see the ffmpeg command line it stands for;
 * afmpeg_run_job() with a progress callback (share done, speed); the typed description of the
 * output the job hands back (streams, encoders, the output probed). The files stay in memory.
 *
 * Build:  cc progress.c -o progress $(pkg-config --cflags --libs afmpeg)
 * Run:    ./progress examples/sample.mp4 out.mp4 [WIDTH]
 *         WIDTH (default 160) is the output's width; the height keeps the aspect ratio.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <afmpeg.h>

/* Called about twice a second from the thread that runs the job, and once at the end. */
static int on_progress(const afmpeg_progress *p, void *payload)
{
    int tty = *(const int *)payload;
    if (p->fraction >= 0)
        fprintf(stderr, "progress: %3.0f%%", p->fraction * 100);
    else
        fprintf(stderr, "progress:    ?");   /* the output's length is not known */
    fprintf(stderr, "  %.2f s written, frame %lld", p->out_time, (long long)p->frame);
    if (p->speed >= 0)
        fprintf(stderr, ", %.1fx real time", p->speed);
    /* On a terminal, one line redrawn; in a log, one line per report. */
    fputs(tty && !p->done ? "   \r" : "\n", stderr);
    return 0;   /* non-zero would cancel the job */
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

/* Builds the job: /in -> /out.mp4, H.264 at `width` pixels wide and 400 kb/s, AAC audio. */
static int build_command(int width, afmpeg_command **out)
{
    char scale[64];
    afmpeg_command *cmd;
    snprintf(scale, sizeof scale, "scale=%d:-2", width);
    int err = afmpeg_command_new(&cmd);
    if (err)
        return err;
    /* Inputs and outputs are numbered from 0 in the order they are added. */
    err = afmpeg_command_add_input(cmd, "/in", NULL);
    if (!err)
        err = afmpeg_command_add_output(cmd, "/out.mp4", NULL);
    if (!err)
        err = afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_VIDEO, "libopenh264");
    if (!err)
        err = afmpeg_command_output_filter(cmd, 0, AFMPEG_MEDIA_VIDEO, scale);
    if (!err)
        err = afmpeg_command_output_option(cmd, 0, "b:v", "400k");
    if (!err)
        err = afmpeg_command_output_codec(cmd, 0, AFMPEG_MEDIA_AUDIO, "aac");
    if (!err)
        err = afmpeg_command_output_option(cmd, 0, "movflags", "+faststart");
    if (err) {
        afmpeg_command_free(cmd);
        return err;
    }
    *out = cmd;
    return AFMPEG_OK;
}

/* Prints what the job wrote, as afmpeg_run_job() describes it. */
static void print_outputs(const afmpeg_result *res)
{
    for (size_t i = 0; i < afmpeg_result_output_count(res); i++) {
        const afmpeg_output_info *o = afmpeg_result_output(res, i);
        printf("output %zu: %s\n", i, o->path);
        for (size_t s = 0; s < o->stream_count; s++) {
            const afmpeg_output_stream *st = &o->streams[s];
            printf("  stream %d: %s %s (%s)\n", st->index, afmpeg_media_type_name(st->type),
                   st->codec, st->copied ? "copied" : st->encoder);
        }
        if (!o->probe)
            continue;
        for (size_t s = 0; s < o->probe->stream_count; s++) {
            const afmpeg_stream_info *st = &o->probe->streams[s];
            if (st->type == AFMPEG_MEDIA_VIDEO)
                printf("  video: %dx%d\n", st->width, st->height);
        }
        if (!isnan(o->probe->duration))
            printf("  duration: %.3f s\n", o->probe->duration);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: progress IN OUT.mp4 [WIDTH]\n");
        return 2;
    }
    int width = argc == 4 ? atoi(argv[3]) : 160;
    if (width < 2 || width > 8192 || width % 2) {
        fprintf(stderr, "progress: WIDTH must be even, from 2 to 8192\n");
        return 2;
    }
    size_t len;
    void *data = read_host_file(argv[1], &len);
    if (!data) {
        perror(argv[1]);
        return 1;
    }

    afmpeg_runtime *rt = NULL;
    afmpeg_fs *fs = NULL;
    afmpeg_command *cmd = NULL;
    afmpeg_result *res = NULL;
    void *out = NULL;
    size_t out_len = 0;
    int status = 1;
    int tty = isatty(2);

    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_memory(&fs);
    if (!err)
        err = afmpeg_fs_write_file(fs, "/in", data, len);
    free(data);
    if (!err)
        err = build_command(width, &cmd);
    if (!err) {
        /* The ffmpeg command line the job stands for: paste it after `afmpeg` to rerun it. */
        char **args;
        err = afmpeg_command_argv(cmd, &args, NULL);
        for (size_t i = 0; !err && args[i]; i++)
            printf("%s%s", args[i], args[i + 1] ? " " : "\n");
        if (!err)
            afmpeg_free(args);
    }
    if (!err) {
        afmpeg_job_options opts;
        afmpeg_job_options_init(&opts);
        opts.on_progress = on_progress;
        opts.progress_payload = &tty;
        /* Checks the command against the module (codecs, filters, formats), then runs it. */
        err = afmpeg_run_job(rt, fs, cmd, &opts, &res);
    }
    if (!err && afmpeg_result_exit_code(res) != 0) {
        fprintf(stderr, "ffmpeg exited %d:\n%s", afmpeg_result_exit_code(res),
                afmpeg_result_stderr(res, NULL));
    } else if (!err) {
        print_outputs(res);
        err = afmpeg_fs_read_file(fs, "/out.mp4", &out, &out_len);
    }
    if (err) {
        fprintf(stderr, "afmpeg: %s\n", afmpeg_last_error());
    } else if (out) {
        FILE *f = fopen(argv[2], "wb");
        int ok = f && fwrite(out, 1, out_len, f) == out_len;
        if (f && fclose(f))
            ok = 0;
        if (ok)
            status = 0;
        else
            perror(argv[2]);
    }
    afmpeg_free(out);
    afmpeg_result_free(res);
    afmpeg_command_free(cmd);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    return status;
}
