/* tests/corpus/crtrig.c — an LD_PRELOAD library for Debian's ffmpeg in the corpus test (run.sh):
 * sinf, cosf and sincosf correctly rounded (computed in double, rounded once to float).
 *
 * Why: glibc 2.36's sinf/cosf/sincosf are not correctly rounded (about 1 % of inputs in FFmpeg's
 * table set-up come out 1 ulp off); wasi-libc's, in the guest, are in every case where the two
 * differ. FFmpeg fills the AAC, WMA and Nellymoser sine windows, the Opus/AAC-LD MDCT-15 twiddles
 * and Opus's PVQ rotation with them, so those decoders give samples a few 1e-9 apart. With this
 * library the native side computes the same tables as the guest, and the decoded audio must then
 * be identical bit for bit: any other float difference would show. */
#include <math.h>

float sinf(float x) { return (float)sin((double)x); }
float cosf(float x) { return (float)cos((double)x); }
void sincosf(float x, float *s, float *c)
{
    *s = (float)sin((double)x);
    *c = (float)cos((double)x);
}
