/* Internal to lib/rt: the per-thread state shared by rt.c (calls, traps, fault handling) and
 * wasm_rt.c (the functions of <wasm-rt.h> that the generated code calls). */
#ifndef AFM_RT_THREAD_H
#define AFM_RT_THREAD_H

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <wasm-rt-exceptions.h>
#include "rt.h"

#define AFM_RT_WASM_PAGE 65536u

/* Address space reserved for every linear memory. wasm2c (with WASM_RT_MEMCHECK_GUARD_PAGES)
 * accesses data + (u64)address + offset, both u32, without a check: the highest byte touched is
 * below 2^33 - 2 + 16 (the widest access, v128). One spare wasm page past 8 GiB covers it, so
 * every out-of-bounds access lands on a PROT_NONE page of the memory's own reservation. */
#define AFM_RT_RESERVATION (((size_t)1 << 33) + AFM_RT_WASM_PAGE)

/* The most a 32-bit linear memory can have: 4 GiB. */
#define AFM_RT_MAX_PAGES 65536u

/* The real-time signal that stops a running guest (see rt.c). glibc keeps the first few for
 * itself; SIGRTMIN is the first it leaves to programs. */
#define AFM_RT_STOP_SIGNAL (SIGRTMIN + 5)

/* Memories one afm_rt_call() may allocate (a module normally has one). */
#define AFM_RT_MAX_MEMORIES 8

/* Data segments a memory image (image.c) records; a module with more is not imaged. */
#define AFM_RT_IMAGE_SEGMENTS 64

/* What image.c is doing for the current call's first memory. */
enum {
    AFM_RT_IMAGE_NONE,     /* nothing: its segments are copied */
    AFM_RT_IMAGE_RECORD,   /* recording its segments for the image (copied too) */
    AFM_RT_IMAGE_RECORDED, /* recorded, instantiation done: the next call builds the image */
    AFM_RT_IMAGE_MAPPED,   /* mapped from the image: loads of the image's segments are skipped */
};

/* Largest exception payload wasm_rt_load_exception() accepts. */
#define AFM_RT_EXCEPTION_MAX 256

typedef struct afm_rt_thread {
    sigjmp_buf jmp;                    /* where the current afm_rt_call() resumes on a trap */
    volatile sig_atomic_t in_guest;    /* inside afm_rt_call(), running fn */
    volatile afmpeg_trap trap;         /* why the guest was stopped */
    volatile int exited, exit_code;    /* afm_rt_exit() */
    uint32_t max_pages;                /* the current call's page limit for memories */
    afm_rt_ctl *ctl;                   /* the current call's control, or NULL */
    volatile sig_atomic_t in_host;     /* depth of host functions entered from the guest */
    volatile int stop;                 /* the afmpeg_error the guest was stopped with */

    /* Reservations of the memories allocated during the current call: a fault inside one of
     * them is the guest's out-of-bounds access. Read by the fault handler on this thread only;
     * n_mems is updated after the slot it covers is written. */
    uintptr_t mem_base[AFM_RT_MAX_MEMORIES];
    volatile sig_atomic_t n_mems;

    /* The thread's stack [stack_lo, stack_hi) and the guard size below it, for telling a stack
     * overflow from other faults. All zero if unknown. */
    uintptr_t stack_lo, stack_hi, stack_guard;

    /* Our alternate signal stack (mapping, guard page included), or NULL if the thread already
     * had one of its own. */
    void *altstack;
    size_t altstack_len;
    unsigned altstack_vg_id;           /* its valgrind stack id, see rt.c */

    /* The memory image of the current call (its ctl's), and what image.c does with it. */
    afm_rt_image *image;
    int image_mode;
    uintptr_t image_mem;               /* the memory it applies to */
    unsigned image_next;               /* segments loaded so far */

    /* Exception handling (the modules are built without it; kept correct anyway). */
    wasm_rt_jmp_buf *unwind_target;
    wasm_rt_tag_t exc_tag;
    uint32_t exc_size;
    unsigned char exc[AFM_RT_EXCEPTION_MAX];
} afm_rt_thread;

/* The calling thread's state, NULL until its first afm_rt_call(). initial-exec: the fault handler
 * reads it, and that model never allocates (general-dynamic TLS may, in a dlopen()ed library). */
extern __thread afm_rt_thread *afm_rt_self __attribute__((tls_model("initial-exec")));

/* The calling thread's state if it is running guest code inside afm_rt_call(), else NULL. */
static inline afm_rt_thread *afm_rt_guest_thread(void)
{
    afm_rt_thread *t = afm_rt_self;
    return t != NULL && t->in_guest ? t : NULL;
}

/* image.c: a memory the call allocated (its first, already counted in n_mems) is mapped from the
 * call's image, or recorded for it. */
void afm_rt_image_begin(afm_rt_thread *t, wasm_rt_memory_t *memory);
/* image.c: at the end of a call, builds the image it recorded, or gives back the recording. */
void afm_rt_image_end(afm_rt_thread *t);

/* Whether afm_rt_global_init() has succeeded. */
int afm_rt_ready(void);

/* Ends the running guest with `trap`, back to its afm_rt_call(). Outside one (a host bug: there is
 * nowhere to return to) prints `what` and aborts. */
__attribute__((noreturn)) void afm_rt_trap_with(afmpeg_trap trap, const char *what);

/* For errors with no caller to report to (outside afm_rt_call()): prints and aborts. */
__attribute__((noreturn)) void afm_rt_fatal(const char *msg);

#endif
