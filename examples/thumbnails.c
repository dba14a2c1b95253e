/* thumbnails.c — a poster image and a strip of frames from a video, written to files.
 *
 * Shows: afmpeg_thumbnail() (one representative frame near a time, as JPEG) and afmpeg_frames()
 * (one frame every N seconds, as PNG), both scaled to a width with the height following the
 * aspect ratio; the images come back in memory (afmpeg_frame_list) and this program writes
 * them. Nothing is written to the job's filesystem.
 *
 * Build:  cc thumbnails.c -o thumbnails $(pkg-config --cflags --libs afmpeg)
 * Run:    ./thumbnails examples/sample.mp4 OUTDIR [WIDTH [EVERY]]
 *         writes OUTDIR/poster.jpg and OUTDIR/frame-001.png, ... one every EVERY seconds
 *         (default 1), WIDTH pixels wide (default 160). OUTDIR must exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <afmpeg.h>

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

static int write_frame(const char *path, const afmpeg_frame *fr)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(fr->data, 1, fr->size, f) == fr->size;
    if (f && fclose(f))
        ok = 0;
    if (!ok) {
        perror(path);
        return -1;
    }
    printf("%s: %dx%d at %.3f s\n", path, fr->width, fr->height, fr->time);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: thumbnails IN OUTDIR [WIDTH [EVERY]]\n");
        return 2;
    }
    int width = argc > 3 ? atoi(argv[3]) : 160;
    double every = argc > 4 ? atof(argv[4]) : 1.0;
    if (width < 1 || width > 8192 || !(every > 0)) {
        fprintf(stderr, "thumbnails: WIDTH must be 1 to 8192 and EVERY positive\n");
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
    afmpeg_frame_list *poster = NULL, *strip = NULL;
    int status = 1;
    int err = afmpeg_new(NULL, &rt);
    if (!err)
        err = afmpeg_fs_new_memory(&fs);
    if (!err)
        err = afmpeg_fs_write_file(fs, "/video", data, len);
    free(data);

    /* The poster: FFmpeg's thumbnail filter picks a representative frame from 1 s on. */
    afmpeg_frames_options fo = AFMPEG_FRAMES_OPTIONS_INIT;
    fo.format = AFMPEG_IMAGE_JPEG;
    fo.width = width;   /* height 0: follows the aspect ratio */
    if (!err)
        err = afmpeg_thumbnail(rt, fs, "/video", 1.0, &fo, NULL, &poster);

    /* The strip: the first frame at or after 0, EVERY, 2 * EVERY, ... seconds, to the end. */
    afmpeg_frames_options_init(&fo);
    fo.format = AFMPEG_IMAGE_PNG;
    fo.width = width;
    fo.every = every;
    if (!err)
        err = afmpeg_frames(rt, fs, "/video", &fo, NULL, &strip);

    if (err) {   /* AFMPEG_EMEDIA for a file with no video or one FFmpeg cannot read */
        fprintf(stderr, "thumbnails: %s: %s\n", argv[1], afmpeg_last_error());
    } else {
        char path[4096];
        status = 0;
        snprintf(path, sizeof path, "%s/poster.jpg", argv[2]);
        if (write_frame(path, &poster->frames[0]))
            status = 1;
        for (size_t i = 0; i < strip->count; i++) {
            snprintf(path, sizeof path, "%s/frame-%03zu.png", argv[2], i + 1);
            if (write_frame(path, &strip->frames[i]))
                status = 1;
        }
    }
    afmpeg_frame_list_free(poster);
    afmpeg_frame_list_free(strip);
    afmpeg_fs_free(fs);
    afmpeg_close(rt, AFMPEG_CLOSE_WAIT);
    return status;
}
