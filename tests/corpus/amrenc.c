/*
 * tests/corpus/amrenc.c — writes AMR for the generated corpus, which Debian's ffmpeg cannot: it is
 * built without the opencore/vo-amrwbenc encoders. Uses Debian's own encoder libraries.
 *
 *   amrenc nb MODE < s16le-mono-8kHz  > out.amr   AMR-NB, MODE 0..7 (4.75..12.2 kbit/s)
 *   amrenc wb MODE < s16le-mono-16kHz > out.awb   AMR-WB, MODE 0..8 (6.6..23.85 kbit/s)
 *
 * Output is the RFC 4867 storage format (the "#!AMR\n" / "#!AMR-WB\n" magic, then frames), which
 * FFmpeg's amr demuxer reads. A short last frame is padded with silence. Exit 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opencore-amrnb/interf_enc.h>
#include <vo-amrwbenc/enc_if.h>

int
main(int argc, char **argv)
{
    short pcm[320];
    unsigned char frame[64];
    int wide, mode, n, samples, rc = 0;
    void *enc;

    if (argc != 3 || (strcmp(argv[1], "nb") && strcmp(argv[1], "wb"))) {
        fprintf(stderr, "usage: amrenc nb|wb MODE < s16le > out\n");
        return 1;
    }
    wide = argv[1][0] == 'w';
    mode = atoi(argv[2]);
    if (mode < 0 || mode > (wide ? 8 : 7)) {
        fprintf(stderr, "amrenc: mode %d out of range\n", mode);
        return 1;
    }
    samples = wide ? 320 : 160; /* 20 ms */
    enc = wide ? E_IF_init() : Encoder_Interface_init(0);
    if (enc == NULL) {
        fprintf(stderr, "amrenc: encoder init failed\n");
        return 1;
    }
    fputs(wide ? "#!AMR-WB\n" : "#!AMR\n", stdout);
    while ((n = (int)fread(pcm, sizeof(short), (size_t)samples, stdin)) > 0) {
        if (n < samples)
            memset(pcm + n, 0, (size_t)(samples - n) * sizeof(short));
        n = wide ? E_IF_encode(enc, mode, pcm, frame, 0)
                 : Encoder_Interface_Encode(enc, (enum Mode)mode, pcm, frame, 0);
        if (n <= 0 || fwrite(frame, 1, (size_t)n, stdout) != (size_t)n) {
            fprintf(stderr, "amrenc: encoding or writing a frame failed\n");
            rc = 1;
            break;
        }
    }
    if (ferror(stdin) || fflush(stdout) != 0) {
        fprintf(stderr, "amrenc: I/O error\n");
        rc = 1;
    }
    if (wide)
        E_IF_exit(enc);
    else
        Encoder_Interface_exit(enc);
    return rc;
}
