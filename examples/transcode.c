/* transcode IN OUT — transcodes a file to H.264 (OpenH264) + AAC MP4 inside the afmpeg sandbox.
 * The input is copied into an in-memory filesystem, FFmpeg runs on it, and the output is copied
 * back out: the guest never sees the host's files. */
#include <stdio.h>
#include <stdlib.h>
#include "afmpeg.h"

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    void *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: transcode IN OUT.mp4\n");
        return 2;
    }
    size_t len;
    void *input = slurp(argv[1], &len);
    if (!input) {
        perror(argv[1]);
        return 1;
    }

    afmpeg_runtime *rt = NULL;   /* prepare once, keep for the life of the process */
    afmpeg_fs *fs = NULL;        /* one filesystem per job */
    afmpeg_result *res = NULL;
    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_memory(&fs);
    if (!err)
        err = afmpeg_fs_write_file(fs, "/in", input, len);
    free(input);
    const char *cmd[] = {"ffmpeg", "-hide_banner", "-v", "error", "-i", "/in", "-c:v",
                         "libopenh264", "-b:v", "600k", "-c:a", "aac", "/out.mp4", NULL};
    if (!err)
        err = afmpeg_run(rt, fs, cmd, NULL, &res);
    if (err) {
        fprintf(stderr, "afmpeg: %s\n", afmpeg_last_error());
    } else if (afmpeg_result_exit_code(res) != 0) {
        fprintf(stderr, "ffmpeg failed (%d):\n%s", afmpeg_result_exit_code(res),
                afmpeg_result_stderr(res, NULL));
        err = 1;
    } else {
        void *out = NULL;
        size_t out_len;
        FILE *f = NULL;
        err = afmpeg_fs_read_file(fs, "/out.mp4", &out, &out_len);
        if (!err && (!(f = fopen(argv[2], "wb")) || fwrite(out, 1, out_len, f) != out_len)) {
            perror(argv[2]);
            err = 1;
        }
        if (f && fclose(f))
            err = 1;
        if (!err)
            printf("transcoded %s -> %s (%zu bytes) in the sandbox\n", argv[1], argv[2], out_len);
        afmpeg_free(out);
    }
    afmpeg_result_free(res);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    return err ? 1 : 0;
}
