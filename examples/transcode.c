/* transcode.c — the smallest complete program: one file transcoded to H.264 + AAC in MP4.
 *
 * Shows: a runtime, an in-memory filesystem for the job, afmpeg_run() with an ffmpeg argv, the
 * guest's exit code and messages, reading the output back. The input is copied into memory and
 * the output out of it: FFmpeg never sees the host's files. This is the README's example.
 *
 * Build:  cc transcode.c -o transcode $(pkg-config --cflags --libs afmpeg)
 * Run:    ./transcode examples/sample.mp4 out.mp4
 */
#include <stdio.h>
#include <stdlib.h>
#include <afmpeg.h>

/* The whole file at `path` in a malloc'd buffer, or NULL (errno set). */
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

static int write_host_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f))
        ok = 0;
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: transcode IN OUT.mp4\n");
        return 2;
    }
    size_t len;
    void *data = read_host_file(argv[1], &len);
    if (!data) {
        perror(argv[1]);
        return 1;
    }

    /* README example: begin */
    afmpeg_runtime *rt = NULL;   /* prepare once: keep it for the life of the process */
    afmpeg_fs *fs = NULL;        /* one filesystem per job */
    afmpeg_result *res = NULL;
    void *out = NULL;            /* the output file, freed with afmpeg_free() */
    size_t out_len = 0;
    const char *cmd[] = {"ffmpeg", "-i", "/input", "-c:v", "libopenh264", "-b:v", "600k",
                         "-c:a", "aac", "/output.mp4", NULL};
    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_memory(&fs);
    if (!err)
        err = afmpeg_fs_write_file(fs, "/input", data, len);
    if (!err)
        err = afmpeg_run(rt, fs, cmd, NULL, &res);
    if (!err && afmpeg_result_exit_code(res) != 0)   /* FFmpeg failed: its own words */
        fprintf(stderr, "ffmpeg exited %d:\n%s", afmpeg_result_exit_code(res),
                afmpeg_result_stderr(res, NULL));
    else if (!err)
        err = afmpeg_fs_read_file(fs, "/output.mp4", &out, &out_len);
    if (err)
        fprintf(stderr, "afmpeg: %s\n", afmpeg_last_error());
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    /* README example: end */

    free(data);
    int status = 1;
    if (out && write_host_file(argv[2], out, out_len) == 0) {
        printf("transcoded %s -> %s (%zu bytes) in the sandbox\n", argv[1], argv[2], out_len);
        status = 0;
    } else if (out) {
        perror(argv[2]);
    }
    afmpeg_free(out);
    return status;
}
