/*
 * Guest program for tests/unit/test_rt.c: one export per behaviour the runtime must handle.
 * Built freestanding (no WASI) by build.sh, translated by wasm2c, compiled with gcc -O2.
 * Values that must not be folded at compile time go through volatile objects, so clang emits
 * the trapping instruction instead of proving the trap and deleting the code.
 */
#include <limits.h>

#define EXPORT __attribute__((visibility("default")))

/* The only import: lets the test's host function end the guest with afm_rt_exit(). */
__attribute__((import_module("host"), import_name("exit"))) void host_exit(int code);

/* A normal computation that uses linear memory (a small sieve): the number of primes below n. */
static unsigned char sieve[65536];

EXPORT int count_primes(int n)
{
    if (n < 0 || n > (int)sizeof(sieve))
        return -1;
    /* Through a volatile pointer, or clang turns the loop into memset, which -nostdlib lacks. */
    volatile unsigned char *init = sieve;
    for (int i = 0; i < n; i++)
        init[i] = 1;
    int count = 0;
    for (int i = 2; i < n; i++) {
        if (!sieve[i])
            continue;
        count++;
        for (int j = 2 * i; j < n; j += i)
            sieve[j] = 0;
    }
    return count;
}

/* A 32-bit load at an arbitrary address: near 4 GiB it is far outside the memory. */
EXPORT int load_at(unsigned addr)
{
    return *(volatile int *)addr;
}

/* A load with the largest constant offset a wasm32 load can carry, 2^32 - 1 (in inline assembly:
 * clang folds an offset only when it can prove the addition does not wrap). With base 2^32 - 1 the
 * 4 bytes read end 2 bytes past 8 GiB: the far end of the runtime's reservation. */
EXPORT int load_far_offset(unsigned base)
{
    int value;
    __asm__ volatile("local.get %1\n\ti32.load 4294967295\n\tlocal.set %0"
                     : "=r"(value)
                     : "r"(base));
    return value;
}

/* A 32-bit store at an arbitrary address (the test straddles the end of memory with it). */
EXPORT void store_at(unsigned addr, int value)
{
    *(volatile int *)addr = value;
}

EXPORT void trap_unreachable(void)
{
    __builtin_trap();
}

EXPORT int divide(int a, int b)
{
    volatile int x = a, y = b;
    return x / y;
}

EXPORT int div_by_zero(void)
{
    volatile int x = 1, y = 0;
    return x / y;
}

EXPORT int div_overflow(void)
{
    volatile int x = INT_MIN, y = -1;
    return x / y;
}

/* Unbounded recursion. The call goes through a volatile function pointer (call_indirect), so
 * neither clang nor gcc can see the cycle and turn it into a loop; the result depends on the
 * callee, so it cannot become a tail call. No locals live in linear memory, so it is the native
 * stack, not the guest's shadow stack, that runs out. */
static int recurse(int n);
static int (*volatile recurse_fn)(int) = recurse;

static int recurse(int n)
{
    return recurse_fn(n + 1) + n;
}

EXPORT int recurse_forever(int n)
{
    return recurse_fn(n);
}

/* Grows memory by `step` pages until memory.grow fails; returns the final size in pages, or -1
 * if `touch` and a newly grown page did not read as zero (the first byte of each new block is
 * checked, then written). */
EXPORT int grow_until_fail(int step, int touch)
{
    for (;;) {
        int old = __builtin_wasm_memory_grow(0, step);
        if (old == -1)
            break;
        if (touch && step > 0) {
            volatile unsigned char *p = (unsigned char *)((unsigned)old * 65536u);
            volatile unsigned char *last = p + (unsigned)step * 65536u - 1;
            if (*p != 0 || *last != 0)
                return -1;
            *p = 0xa5;
            *last = 0x5a;
        }
    }
    return (int)__builtin_wasm_memory_size(0);
}

EXPORT int call_null(void)
{
    int (*volatile fn)(void) = 0;
    return fn();
}

/* Calls the host, which ends the guest; returning from host_exit is a failure. */
EXPORT int exit_via_host(int code)
{
    host_exit(code);
    return -1;
}
