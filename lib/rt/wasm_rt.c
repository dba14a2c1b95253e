/*
 * The functions wasm2c's <wasm-rt.h> and <wasm-rt-exceptions.h> (Debian's wabt 1.0.36, fetched by
 * module/wabt.sh) declare and the generated code calls: initialisation, linear memories, tables
 * and exceptions. (Function types need no registry: wasm2c names each by a 32-byte id that
 * indirect calls compare.)
 *
 * Linear memories are 8 GiB reservations of PROT_NONE address space with the first `pages`
 * made read/write: the generated code does no bounds checks, so every out-of-bounds access of
 * the guest faults inside its memory's reservation, and rt.c's handler turns that into a trap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rt.h"
#include "rt_thread.h"

/* ---------------------------------------------------------------------------------------------
 * Initialisation
 * ------------------------------------------------------------------------------------------ */

void wasm_rt_init(void)
{
    (void)afm_rt_global_init(); /* wasm_rt_is_initialized() tells whether it worked */
}

bool wasm_rt_is_initialized(void)
{
    return afm_rt_ready() != 0;
}

void wasm_rt_free(void)
{
    /* Nothing to do: the signal handlers are shared by every module and thread of the
     * process and must outlive any one user, so they live as long as the process. */
}

/* Per-thread set-up happens in afm_rt_call() (the alternate signal stack, the thread's state) and
 * is released when the thread exits: nothing for these two to do. */
void wasm_rt_init_thread(void)
{
}

void wasm_rt_free_thread(void)
{
}

const char *wasm_rt_strerror(wasm_rt_trap_t trap)
{
    switch (trap) {
    case WASM_RT_TRAP_NONE:
        return "no error";
    case WASM_RT_TRAP_OOB:
        return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW:
        return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO:
        return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION:
        return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE:
        return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT:
        return "invalid indirect call";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
        return "uncaught exception";
    case WASM_RT_TRAP_EXHAUSTION:
        return "call stack exhausted";
    }
    return "unknown trap";
}

/* ---------------------------------------------------------------------------------------------
 * Exceptions. afmpeg's modules are built without them; this is the minimal correct version: the
 * active exception and the innermost handler (unwind target) are per thread, and a throw with no
 * handler inside the guest ends it with AFMPEG_TRAP_OTHER (uncaught exception).
 * ------------------------------------------------------------------------------------------ */

void wasm_rt_load_exception(const wasm_rt_tag_t tag, uint32_t size, const void *values)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL)
        afm_rt_fatal("wasm_rt_load_exception() called outside afm_rt_call()");
    if (size > AFM_RT_EXCEPTION_MAX)
        afm_rt_trap_with(AFMPEG_TRAP_OTHER, "exception payload too large");
    t->exc_tag = tag;
    t->exc_size = size;
    if (size > 0)
        memcpy(t->exc, values, size);
}

void wasm_rt_throw(void)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL || t->unwind_target == NULL)
        wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
    /* The generated code set the target with WASM_RT_SETJMP (sigsetjmp). */
    WASM_RT_LONGJMP(*t->unwind_target, WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}

WASM_RT_UNWIND_TARGET *wasm_rt_get_unwind_target(void)
{
    afm_rt_thread *t = afm_rt_self;
    return t != NULL ? t->unwind_target : NULL;
}

void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET *target)
{
    afm_rt_thread *t = afm_rt_self;
    if (t != NULL)
        t->unwind_target = target;
    else if (target != NULL)
        afm_rt_fatal("wasm_rt_set_unwind_target() called outside afm_rt_call()");
}

wasm_rt_tag_t wasm_rt_exception_tag(void)
{
    afm_rt_thread *t = afm_rt_self;
    return t != NULL ? t->exc_tag : NULL;
}

uint32_t wasm_rt_exception_size(void)
{
    afm_rt_thread *t = afm_rt_self;
    return t != NULL ? t->exc_size : 0;
}

void *wasm_rt_exception(void)
{
    afm_rt_thread *t = afm_rt_self;
    return t != NULL ? t->exc : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Linear memories
 * ------------------------------------------------------------------------------------------ */

/* An allocation the generated code cannot be told about failed: inside a guest call the
 * instantiation traps, outside one there is nothing to return to. */
static __attribute__((noreturn)) void afm_rt_alloc_failed(const char *what)
{
    afm_rt_trap_with(AFMPEG_TRAP_OTHER, what);
}

static void afm_rt_impl_allocate_memory(wasm_rt_memory_t *memory, uint64_t initial_pages,
                                        uint64_t max_pages, bool is64)
{
    memset(memory, 0, sizeof(*memory));
    if (is64)
        afm_rt_alloc_failed("64-bit linear memories are not supported");
    afm_rt_thread *t = afm_rt_guest_thread();
    uint64_t limit = max_pages < AFM_RT_MAX_PAGES ? max_pages : AFM_RT_MAX_PAGES;
    if (t != NULL && t->max_pages < limit)
        limit = t->max_pages;
    if (initial_pages > limit) {
        /* The job's memory limit is below what the module needs to start: the job's limit, not
         * a fault of the guest. */
        if (t != NULL && t->max_pages < initial_pages)
            afm_rt_abort(AFMPEG_ELIMIT);
        afm_rt_alloc_failed("a linear memory's initial size exceeds its page limit");
    }
    if (t != NULL && t->n_mems >= AFM_RT_MAX_MEMORIES)
        afm_rt_alloc_failed("too many linear memories in one call");

    /* MAP_NORESERVE: the reservation costs address space only; pages are committed as they are
     * made accessible (and, being anonymous and never used before, read as zero). */
    void *base = mmap(NULL, AFM_RT_RESERVATION, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        afm_rt_alloc_failed("cannot reserve address space for a linear memory");
    size_t bytes = (size_t)initial_pages * AFM_RT_WASM_PAGE;
    if (bytes > 0 && mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, AFM_RT_RESERVATION);
        afm_rt_alloc_failed("cannot commit the initial pages of a linear memory");
    }
    memory->data = base;
    memory->pages = initial_pages;
    memory->max_pages = limit;
    memory->size = bytes;

    if (t != NULL) {
        /* Slot first, count after: the fault handler reads only slots below the count. */
        t->mem_base[t->n_mems] = (uintptr_t)base;
        atomic_signal_fence(memory_order_seq_cst);
        t->n_mems = t->n_mems + 1;
        if (t->n_mems == 1)
            afm_rt_image_begin(t, memory);
    }
}

static uint64_t afm_rt_impl_grow_memory(wasm_rt_memory_t *memory, uint64_t delta)
{
    uint64_t old = memory->pages;
    uint64_t limit = memory->max_pages;
    /* A memory allocated in an earlier call is also held to the current call's limit. */
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t != NULL && t->max_pages < limit)
        limit = t->max_pages;
    if (delta == 0)
        return old;
    if (memory->data == NULL || old > limit || delta > limit - old)
        return UINT64_MAX;
    uint64_t pages = old + delta;
    if (mprotect(memory->data + (size_t)old * AFM_RT_WASM_PAGE, (size_t)delta * AFM_RT_WASM_PAGE,
                 PROT_READ | PROT_WRITE) != 0)
        return UINT64_MAX; /* out of memory (e.g. strict overcommit): memory.grow fails */
    memory->pages = pages;
    memory->size = pages * AFM_RT_WASM_PAGE;
    return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t *memory)
{
    if (memory->data == NULL)
        return;
    afm_rt_thread *t = afm_rt_self;
    if (t != NULL) {
        /* Stop claiming its faults before the address range can be reused. The last slot moves
         * into the freed one before the count drops, so the others stay covered throughout. */
        for (sig_atomic_t i = 0; i < t->n_mems; i++) {
            if (t->mem_base[i] == (uintptr_t)memory->data) {
                sig_atomic_t last = t->n_mems - 1;
                t->mem_base[i] = t->mem_base[last];
                atomic_signal_fence(memory_order_seq_cst);
                t->n_mems = last;
                break;
            }
        }
    }
    munmap(memory->data, AFM_RT_RESERVATION);
    memory->data = NULL;
    memory->pages = 0;
    memory->size = 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tables (ordinary heap arrays: the generated code bounds-checks every table access)
 * ------------------------------------------------------------------------------------------ */

static void *afm_rt_table_alloc(uint32_t elements, size_t elem_size)
{
    /* calloc(0) may return NULL; a zero-length table still gets a valid pointer. */
    void *data = calloc(elements > 0 ? elements : 1, elem_size);
    if (data == NULL)
        afm_rt_alloc_failed("cannot allocate a table");
    return data;
}

/* Room for `delta` more elements, or NULL (the table is unchanged) if over max_size or out of
 * memory. */
static void *afm_rt_table_grow(void *data, uint32_t size, uint32_t max_size, uint32_t delta,
                               size_t elem_size)
{
    if (size > max_size || delta > max_size - size)
        return NULL;
    return realloc(data, ((size_t)size + delta) * elem_size);
}

static void afm_rt_impl_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements,
                                               uint32_t max_elements)
{
    table->data = NULL;
    table->size = 0;
    table->max_size = max_elements;
    table->data = afm_rt_table_alloc(elements, sizeof(wasm_rt_funcref_t));
    table->size = elements;
}

static void afm_rt_impl_allocate_externref_table(wasm_rt_externref_table_t *table,
                                                 uint32_t elements,
                                                 uint32_t max_elements)
{
    table->data = NULL;
    table->size = 0;
    table->max_size = max_elements;
    table->data = afm_rt_table_alloc(elements, sizeof(wasm_rt_externref_t));
    table->size = elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table)
{
    free(table->data);
    table->data = NULL;
    table->size = 0;
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t *table)
{
    free(table->data);
    table->data = NULL;
    table->size = 0;
}

static uint32_t afm_rt_impl_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                               wasm_rt_funcref_t init)
{
    uint32_t old = table->size;
    if (delta == 0)
        return old;
    wasm_rt_funcref_t *data =
        afm_rt_table_grow(table->data, old, table->max_size, delta, sizeof(*data));
    if (data == NULL)
        return UINT32_MAX;
    for (uint32_t i = old; i < old + delta; i++)
        data[i] = init;
    table->data = data;
    table->size = old + delta;
    return old;
}

static uint32_t afm_rt_impl_grow_externref_table(wasm_rt_externref_table_t *table, uint32_t delta,
                                                 wasm_rt_externref_t init)
{
    uint32_t old = table->size;
    if (delta == 0)
        return old;
    wasm_rt_externref_t *data =
        afm_rt_table_grow(table->data, old, table->max_size, delta, sizeof(*data));
    if (data == NULL)
        return UINT32_MAX;
    for (uint32_t i = old; i < old + delta; i++)
        data[i] = init;
    table->data = data;
    table->size = old + delta;
    return old;
}

/* ---------------------------------------------------------------------------------------------
 * The entry points the generated code calls. They allocate (mmap, mprotect, calloc, realloc), so
 * they run as host code: a stop (cancel, deadline) waits until they return.
 * ------------------------------------------------------------------------------------------ */

void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint64_t initial_pages, uint64_t max_pages,
                             bool is64)
{
    afm_rt_host_enter();
    afm_rt_impl_allocate_memory(memory, initial_pages, max_pages, is64);
    afm_rt_host_leave();
}

uint64_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint64_t delta)
{
    afm_rt_host_enter();
    uint64_t r = afm_rt_impl_grow_memory(memory, delta);
    afm_rt_host_leave();
    return r;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements,
                                    uint32_t max_elements)
{
    afm_rt_host_enter();
    afm_rt_impl_allocate_funcref_table(table, elements, max_elements);
    afm_rt_host_leave();
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *table, uint32_t elements,
                                      uint32_t max_elements)
{
    afm_rt_host_enter();
    afm_rt_impl_allocate_externref_table(table, elements, max_elements);
    afm_rt_host_leave();
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *table, uint32_t delta,
                                    wasm_rt_funcref_t init)
{
    afm_rt_host_enter();
    uint32_t r = afm_rt_impl_grow_funcref_table(table, delta, init);
    afm_rt_host_leave();
    return r;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *table, uint32_t delta,
                                      wasm_rt_externref_t init)
{
    afm_rt_host_enter();
    uint32_t r = afm_rt_impl_grow_externref_table(table, delta, init);
    afm_rt_host_leave();
    return r;
}
