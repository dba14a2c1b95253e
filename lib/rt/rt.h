/* Internal: afmpeg's own runtime for wasm2c-generated code (wabt 1.0.36's ABI, declared by
 * Debian's <wasm-rt.h>), fit for a library: trap state per thread, signal handlers installed once
 * and chained to the application's, linear memory reserved per instance and released on free. */
#ifndef AFM_RT_H
#define AFM_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <wasm-rt.h>
#include "afmpeg.h"

/* Installs the fault handlers (once per process; later calls return at once). Thread-safe.
 * Returns 0 or -errno. */
int afm_rt_global_init(void);

typedef struct afm_rt_outcome {
    int exited;        /* 1 if the guest called afm_rt_exit() (WASI proc_exit) */
    int exit_code;     /* its status, when exited */
    afmpeg_trap trap;  /* AFMPEG_TRAP_NONE, or why the guest was stopped */
    int stop;          /* 0, or the afmpeg_error the host stopped it with (cancel, deadline,
                        * limit: afm_rt_stop(), the deadline, afm_rt_abort()) */
} afm_rt_outcome;

/*
 * Control of one guest call from other threads. The owner initialises it, passes it to
 * afm_rt_call(), and destroys it after. afm_rt_stop() may be called from any thread at any time
 * (before, during or after the call); the first reason given wins.
 */
/*
 * A copy-on-write image of a module's initial memory (image.c): the first call on it records the
 * data segments the module's instantiation loads, the second builds the image, and from then on
 * calls' memories are mapped from it and skip those loads. One per runtime (one module); shared by its calls on any thread. NULL from
 * afm_rt_image_new() means no image (out of memory, or AFMPEG_MEMORY_IMAGE=0): every call copies.
 */
typedef struct afm_rt_image afm_rt_image;
afm_rt_image *afm_rt_image_new(void);
/* After every call that used it has returned. */
void afm_rt_image_free(afm_rt_image *img);
/* The bytes of memory the image holds (0 until it is built, or for NULL). Any thread. */
size_t afm_rt_image_bytes(const afm_rt_image *img);
/* Called by the guest function of afm_rt_call() once the instance is instantiated (its memories
 * allocated and loaded): what was recorded is complete. */
void afm_rt_image_instantiated(void);
/* Called by the generated code (module/membase.py) for each active data segment: copies `size`
 * bytes from `src` to `offset` of `m`, or nothing if `m` was mapped from an image holding them.
 * Traps if out of bounds. */
void afm_rt_load_segment(wasm_rt_memory_t *m, uint64_t offset, const uint8_t *src, uint32_t size);

typedef struct afm_rt_ctl {
    pthread_mutex_t lock;
    _Atomic int stop;      /* requested stop (an afmpeg_error), 0 if none */
    int running;           /* under lock: the call's guest is running on `thread` */
    pthread_t thread;
    afm_rt_image *image;   /* set by the owner before the call: its memory image, or NULL */
} afm_rt_ctl;

void afm_rt_ctl_init(afm_rt_ctl *ctl);
void afm_rt_ctl_destroy(afm_rt_ctl *ctl);
/* Stops the call under `ctl` with `reason` (an afmpeg_error): at once if its guest is running
 * guest code, else when the host function it is in returns; if it has not started, it will not
 * run. Any thread, async-signal-unsafe (takes a lock). */
void afm_rt_stop(afm_rt_ctl *ctl, int reason);

/* Host functions called by the guest bracket their work with these, so that an asynchronous stop
 * never abandons host code half-way (a lock held, a buffer half-written): the stop waits for
 * afm_rt_host_leave(), which then unwinds to afm_rt_call(). Outside a guest call they do
 * nothing. */
void afm_rt_host_enter(void);
void afm_rt_host_leave(void);

/* From a host function the guest called, inside afm_rt_call(): ends the guest now, stopped with
 * `reason` (an afmpeg_error, e.g. AFMPEG_ELIMIT). */
__attribute__((noreturn)) void afm_rt_abort(int reason);

/*
 * Runs fn(arg) on the calling thread as guest code: a wasm_rt_trap(), a fault inside a linear
 * memory allocated during this call (out-of-bounds access), or native stack exhaustion inside the
 * call unwinds back here and is reported in *out; afm_rt_exit() from a host import unwinds here
 * too. Memories allocated during the call may grow to at most `max_pages` 64 KiB pages (also
 * capped by the module's own maximum). With timeout_ms > 0 the call is stopped with
 * AFMPEG_ETIMEDOUT that long after it starts. `ctl` (may be NULL) lets other threads stop it.
 * Not reentrant on one thread. Returns 0, or -errno if the per-thread set-up (alternate signal
 * stack, deadline timer) failed.
 */
int afm_rt_call(void (*fn)(void *), void *arg, uint32_t max_pages, uint64_t timeout_ms,
                afm_rt_ctl *ctl, afm_rt_outcome *out);

/* From a host function the guest called, inside afm_rt_call(): ends the guest with `code`. */
__attribute__((noreturn)) void afm_rt_exit(int code);

/* Maps a wasm2c trap code to afmpeg_trap. */
afmpeg_trap afm_rt_trap_from_wasm(wasm_rt_trap_t t);

#endif
