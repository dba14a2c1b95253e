/* tests/corpus/guestlibm.c — an LD_PRELOAD library for Debian's ffmpeg in the corpus test (run.sh):
 * its math functions become musl's, the libm the guest has (wasi-libc's libm is musl's).
 *
 * Why: FFmpeg's float decoders give the same samples in the sandbox and natively except where
 * glibc's libm and musl's round differently. Neither is correctly rounded everywhere, and they
 * differ on a few percent of inputs of some functions: glibc 2.36's sinf/cosf/sincosf (AAC, WMA and
 * Nellymoser sine windows, the Opus/AAC-LD MDCT-15 twiddles, Opus's PVQ rotation) and log10f (the
 * AMR-NB/WB gain predictor, celp's prediction error) among them, so the decoded audio is a few 1e-9
 * to 1e-7 apart. With this library native ffmpeg computes with the guest's libm, and its samples
 * must equal the sandbox's bit for bit: any other float difference would show.
 *
 * musl's libc.so (Debian's musl package) is opened beside glibc only for these pure functions:
 * musl's libm reports errors through floating-point exceptions, never errno, so nothing of musl's
 * runtime state (never initialised here) is touched. Listed: every inexact function that Debian's
 * libavcodec, libavformat, libavfilter, libavutil, libswresample and libswscale import from libm
 * (the others, floor, sqrt, fmod, ldexp and the like, are exact in both). A missing one aborts. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef MUSL_LIBC
#define MUSL_LIBC "/lib/x86_64-linux-musl/libc.so"
#endif

static void *
musl(const char *name)
{
    static void *lib;
    void *sym;

    if (lib == NULL && (lib = dlopen(MUSL_LIBC, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "guestlibm: %s (install Debian's musl)\n", dlerror());
        abort();
    }
    if ((sym = dlsym(lib, name)) == NULL) {
        fprintf(stderr, "guestlibm: musl has no %s\n", name);
        abort();
    }
    return sym;
}

/* FORWARD(RET, NAME, PARAMS, ARGS): RET NAME PARAMS, calling musl's NAME with ARGS. */
#define FORWARD(RET, NAME, PARAMS, ARGS)                       \
    RET NAME PARAMS                                            \
    {                                                          \
        static RET (*fn) PARAMS;                               \
        if (fn == NULL)                                        \
            *(void **)&fn = musl(#NAME);                       \
        return fn ARGS;                                        \
    }
#define D1(NAME) FORWARD(double, NAME, (double x), (x))
#define D2(NAME) FORWARD(double, NAME, (double x, double y), (x, y))
#define F1(NAME) FORWARD(float, NAME, (float x), (x))
#define F2(NAME) FORWARD(float, NAME, (float x, float y), (x, y))

D1(acos) D1(acosh) D1(asin) D1(asinh) D1(atan) D1(atanh) D2(atan2) D1(cbrt) D1(cos) D1(cosh) D1(exp) D1(exp2) D1(expm1)
D2(hypot) D1(log) D1(log10) D1(log1p) D1(log2) D2(pow) D1(sin) D1(sinh) D1(tan) D1(tanh)
D1(erf)
F1(erff)
F1(acosf) F1(asinf) F1(atanf) F2(atan2f) F1(cbrtf) F1(cosf) F1(coshf) F1(expf) F1(exp2f)
F1(expm1f) F2(hypotf) F1(logf) F1(log10f) F1(log1pf) F1(log2f) F2(powf) F1(sinf) F1(sinhf)
F1(tanf) F1(tanhf)
FORWARD(void, sincos, (double x, double *s, double *c), (x, s, c))
FORWARD(void, sincosf, (float x, float *s, float *c), (x, s, c))
