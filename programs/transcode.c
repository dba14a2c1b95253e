/* What `afmpeg transcode` and `afmpeg serve`'s /v1/transcode share: the codecs chosen by the
 * output's extension, the checks of the flags against them and the module, and the command. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "transcode.h"

static void say(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* The encoders transcode picks by OUT's extension, where FFmpeg's own default is missing from the
 * module (libx264, libtheora), is poor for a service (mpeg4, a GIF without a palette), or where
 * the output holds only audio. NULL: FFmpeg's default; "-": that kind of stream is dropped.
 * The summary line names the encoders used. */
typedef struct codec_default {
    const char *exts; /* space-separated */
    const char *video, *audio;
} codec_default;
static const codec_default codec_defaults[] = {
    {"mp4 m4v mov 3gp mkv ts m2ts mts avi flv", "libopenh264", "aac"},
    {"webm", "libvpx-vp9", "libopus"},
    {"ogg oga", "-", "libvorbis"},
    {"opus", "-", "libopus"},
    {"mp3", "-", "libmp3lame"},
    {"m4a", "-", "aac"},
    {"gif", "gif", "-"},
    {"webp", "libwebp_anim", "-"},
};
/* GIF's 256 colours, chosen for the clip (palettegen) rather than a fixed palette. */
static const char gif_palette[] = "split[a][b];[a]palettegen[p];[b][p]paletteuse";
/* libvpx-vp9 without a rate: constant quality 32 (its own default is a 256 kbit/s target), and
 * speed 4 of 0-8 (its default, 1, is several times slower for a small gain). */
static const char vp9_crf[] = "32", vp9_speed[] = "4";

static const codec_default *default_codecs(const char *ext)
{
    for (size_t i = 0; i < sizeof codec_defaults / sizeof *codec_defaults; i++) {
        const char *e = codec_defaults[i].exts;
        size_t n = strlen(ext);
        while (*e) {
            size_t len = strcspn(e, " ");
            if (len == n && !strncmp(e, ext, n))
                return &codec_defaults[i];
            e += len + (e[len] == ' ');
        }
    }
    return NULL;
}

/* Encoders with a constant-quality "crf" option: libx264 in the GPL module (make MODULE=gpl);
 * a module built with another would take --crf without a change here. */
static const char *const crf_encoders[] = {"libx264", "libx265", "libvpx", "libvpx-vp9",
                                           "libaom-av1", "libsvtav1", NULL};

/* x264's presets (x264_preset_names). */
const char *const tx_x264_presets[] = {"ultrafast", "superfast", "veryfast", "faster",
                                           "fast", "medium", "slow", "slower", "veryslow",
                                           "placebo", NULL};

int tx_in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return 1;
    return 0;
}


/* W:H with each side an integer: positive, 0 (the input's), or -1..-16 (follow the aspect
 * ratio, divisible by that); not both following. */
int tx_valid_scale(const char *s)
{
    long side[2];
    const char *p = s;
    for (int i = 0; i < 2; i++) {
        char *end;
        errno = 0;
        side[i] = strtol(p, &end, 10);
        if (end == p || errno || side[i] < -16 || side[i] > 16384 || *end != (i ? '\0' : ':'))
            return 0;
        p = end + 1;
    }
    return !(side[0] < 0 && side[1] < 0);
}

/* A bit rate as FFmpeg takes it: a positive number with an optional k, M or G. */
int tx_valid_bitrate(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v > 0) || !isfinite(v))
        return 0;
    if (*end == 'k' || *end == 'K' || *end == 'M' || *end == 'G')
        end++;
    return *end == '\0' && (s[0] >= '0' && s[0] <= '9');
}

/* Whether the module has an encoder (afmpeg_module_info_get()). */
static int has_encoder(afmpeg_runtime *rt, const char *name)
{
    const afmpeg_module_info *info;
    return afmpeg_module_info_get(rt, &info) == AFMPEG_OK && tx_in_list(info->encoders, name);
}

int tx_settle(tx_spec *o, const char *ext, afmpeg_runtime *rt, char *msg, size_t cap)
{
    /* x264 (--crf, --preset) is in the GPL module only. */
    int quality = o->crf || o->preset;
    int x264_named = o->vcodec && !strcmp(o->vcodec, "libx264");
    int x264 = (quality || x264_named) && has_encoder(rt, "libx264");
    if (x264_named && !x264) {
        say(msg, cap, "--vcodec libx264: x264 is only in the GPL build of afmpeg (make "
                  "MODULE=gpl); this one has libopenh264");
        return -1;
    }
    const codec_default *d = default_codecs(ext);
    if (d) {
        if (!o->vcodec)
            o->vcodec = quality && x264 && !strcmp(d->video, "libopenh264") ? "libx264" : d->video;
        if (!o->acodec)
            o->acodec = d->audio;
    }
    if (o->vcodec && !strcmp(o->vcodec, "-") && (o->scale || o->bitrate || o->crf || o->preset)) {
        say(msg, cap, "%s: .%s output holds no video", o->scale ? "--scale" : o->bitrate ?
                  "--bitrate" : o->crf ? "--crf" : "--preset", ext);
        return -1;
    }
    if (o->acodec && !strcmp(o->acodec, "-") && o->abitrate) {
        say(msg, cap, "--abitrate: .%s output holds no audio", ext);
        return -1;
    }
    int vcopy = o->vcodec && !strcmp(o->vcodec, "copy");
    if (vcopy && (o->scale || o->bitrate || o->crf || o->preset)) {
        say(msg, cap, "%s needs the video re-encoded, not --vcodec copy",
                  o->scale ? "--scale" : o->bitrate ? "--bitrate" : o->crf ? "--crf" : "--preset");
        return -1;
    }
    if (o->preset && !(o->vcodec && !strcmp(o->vcodec, "libx264"))) {
        if (!x264)
            say(msg, cap, "--preset: x264's presets are only in the GPL build of afmpeg (make "
                      "MODULE=gpl)");
        else
            say(msg, cap, "--preset is libx264's: not for --vcodec %s", o->vcodec ? o->vcodec
                                                                                   : "(default)");
        return -1;
    }
    if (o->abitrate && o->acodec && !strcmp(o->acodec, "copy")) {
        say(msg, cap, "--abitrate needs the audio re-encoded, not --acodec copy");
        return -1;
    }
    /* FFmpeg ignores an option its encoder lacks, with a warning nobody reads: a --crf that
     * cannot work is refused instead of silently giving the encoder's default quality. */
    if (o->crf && !(o->vcodec && tx_in_list(crf_encoders, o->vcodec))) {
        if (o->vcodec && !strcmp(o->vcodec, "libopenh264") && x264)
            say(msg, cap, "--crf: libopenh264 has no CRF (constant quality); use --vcodec "
                      "libx264, or --bitrate");
        else if (o->vcodec && !strcmp(o->vcodec, "libopenh264"))
            say(msg, cap, "--crf: the embedded libopenh264 has no CRF (constant quality); use "
                      "--bitrate, or the GPL build of afmpeg (make MODULE=gpl), whose libx264 "
                      "has it");
        else if (o->vcodec)
            say(msg, cap, "--crf: the encoder %s has no CRF (constant quality); use --bitrate",
                      o->vcodec);
        else
            say(msg, cap, "--crf: FFmpeg's default encoder for '.%s' has no CRF (constant "
                      "quality); use --bitrate", ext);
        return -1;
    }
    return 0;
}

int tx_build(const tx_spec *o, const char *in_guest, const char *out_guest, afmpeg_command **out)
{
    afmpeg_command *cmd = NULL;
    int in = 0, ou = 0;
    int err = afmpeg_command_new(&cmd);
    if (!err)
        err = afmpeg_command_add_input(cmd, in_guest, &in);
    if (!err && o->has_start) {
        /* An accurate seek decodes up to S and cannot feed a copied stream; a copy starts at
         * the keyframe before S instead (as ffmpeg -ss with -c copy does). */
        int copy = (o->vcodec && !strcmp(o->vcodec, "copy")) ||
                   (o->acodec && !strcmp(o->acodec, "copy"));
        err = afmpeg_command_input_seek(cmd, in, o->start,
                                        copy ? AFMPEG_SEEK_FAST : AFMPEG_SEEK_ACCURATE);
    }
    if (!err)
        err = afmpeg_command_add_output(cmd, out_guest, &ou);
    /* "-" (codec_defaults): an audio-only output maps IN's audio alone (the mp3, ipod and ogg
     * muxers would take a video stream as cover art or Theora); GIF and WebP hold no audio, and
     * ffmpeg maps none to them. */
    if (!err && o->vcodec)
        err = !strcmp(o->vcodec, "-") ? afmpeg_command_output_map(cmd, ou, "0:a")
                                      : afmpeg_command_output_codec(cmd, ou, AFMPEG_MEDIA_VIDEO,
                                                                    o->vcodec);
    if (!err && o->acodec && strcmp(o->acodec, "-"))
        err = afmpeg_command_output_codec(cmd, ou, AFMPEG_MEDIA_AUDIO, o->acodec);
    int gif = o->vcodec && !strcmp(o->vcodec, "gif");
    if (!err && (o->scale || gif)) {
        char filter[128];
        snprintf(filter, sizeof filter, "%s%s%s%s", o->scale ? "scale=" : "",
                 o->scale ? o->scale : "", o->scale && gif ? "," : "", gif ? gif_palette : "");
        err = afmpeg_command_output_filter(cmd, ou, AFMPEG_MEDIA_VIDEO, filter);
    }
    if (!err && o->vcodec && !strcmp(o->vcodec, "libvpx-vp9")) {
        if (!o->crf && !o->bitrate)
            err = afmpeg_command_output_option(cmd, ou, "crf", vp9_crf);
        if (!err && !o->bitrate)
            err = afmpeg_command_output_option(cmd, ou, "b:v", "0");
        if (!err)
            err = afmpeg_command_output_option(cmd, ou, "cpu-used", vp9_speed);
    }
    if (!err && o->vcodec && !strcmp(o->vcodec, "libwebp_anim"))
        err = afmpeg_command_output_option(cmd, ou, "loop", "0");
    if (!err && o->crf)
        err = afmpeg_command_output_option(cmd, ou, "crf", o->crf);
    if (!err && o->preset)
        err = afmpeg_command_output_option(cmd, ou, "preset", o->preset);
    if (!err && o->bitrate)
        err = afmpeg_command_output_option(cmd, ou, "b:v", o->bitrate);
    if (!err && o->abitrate)
        err = afmpeg_command_output_option(cmd, ou, "b:a", o->abitrate);
    if (!err && o->has_duration)
        err = afmpeg_command_output_duration(cmd, ou, o->duration);
    if (err) {
        afmpeg_command_free(cmd);
        cmd = NULL;
    }
    *out = cmd;
    return err;
}
