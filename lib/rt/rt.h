/* Internal: afmpeg's own runtime for wasm2c-generated code (wabt 1.0.32's ABI, declared by
 * Debian's <wasm-rt.h>), fit for a library: trap state per thread, signal handlers installed once
 * and chained to the application's, linear memory reserved per instance and released on free. */
#ifndef AFM_RT_H
#define AFM_RT_H

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
} afm_rt_outcome;

/*
 * Runs fn(arg) on the calling thread as guest code: a wasm_rt_trap(), a fault inside a linear
 * memory allocated during this call (out-of-bounds access), or native stack exhaustion inside the
 * call unwinds back here and is reported in *out; afm_rt_exit() from a host import unwinds here
 * too. Memories allocated during the call may grow to at most `max_pages` 64 KiB pages (also
 * capped by the module's own maximum). Not reentrant on one thread. Returns 0, or -errno if
 * the per-thread set-up (alternate signal stack) failed.
 */
int afm_rt_call(void (*fn)(void *), void *arg, uint32_t max_pages, afm_rt_outcome *out);

/* From a host function the guest called, inside afm_rt_call(): ends the guest with `code`. */
__attribute__((noreturn)) void afm_rt_exit(int code);

/* Maps a wasm2c trap code to afmpeg_trap. */
afmpeg_trap afm_rt_trap_from_wasm(wasm_rt_trap_t t);

#endif
