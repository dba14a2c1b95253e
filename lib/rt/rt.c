/*
 * Running guest code: afm_rt_call(), traps and exits unwinding back to it, and the SIGSEGV/SIGBUS
 * handler that turns faults of guest code into traps.
 *
 * wasm2c's code (compiled with WASM_RT_MEMCHECK_GUARD_PAGES) checks neither memory bounds nor
 * stack depth: an out-of-bounds access hits a PROT_NONE page of the memory's reservation and a
 * runaway recursion hits the thread's stack guard. Both arrive here as signals. A fault is the
 * guest's only if the thread is inside afm_rt_call() and the address is in a memory allocated
 * during that call or at the thread's stack limit; anything else is passed on to whatever handler
 * the application had installed before us, as if we were not there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "rt.h"
#include "rt_thread.h"

/* Under valgrind, the alternate signal stack is declared as a stack of its own. Otherwise memcheck
 * may take the siglongjmp from it back to the thread's stack (often a neighbouring mapping) for
 * ordinary stack growth and mark the live frames in between undefined. Client requests are a few
 * no-op instructions when not under valgrind; without the header they compile to nothing. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define AFM_RT_VG_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define AFM_RT_VG_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#endif
#endif
#ifndef AFM_RT_VG_STACK_REGISTER
#define AFM_RT_VG_STACK_REGISTER(lo, hi) 0u
#define AFM_RT_VG_STACK_DEREGISTER(id) ((void)(id))
#endif

__thread afm_rt_thread *afm_rt_self __attribute__((tls_model("initial-exec")));

/* Size of the alternate signal stack we give threads that have none. The handler itself needs
 * little, but a chained handler (a sanitizer's report, a crash reporter) runs on it too. */
#define AFM_RT_ALTSTACK_SIZE (256u * 1024u)

/* How far below the stack's low end a fault still counts as stack overflow: the guard area (its
 * size is per thread) plus this, because a frame may step over part of the guard. */
#define AFM_RT_STACK_SLACK (256u * 1024u)

/* A fault anywhere in or just below the stack while the stack pointer is this close to the low
 * end is also a stack overflow (e.g. a large frame touching memory below the guard first). */
#define AFM_RT_STACK_NEAR (64u * 1024u)

static pthread_once_t afm_rt_once = PTHREAD_ONCE_INIT;
static int afm_rt_init_err;
static atomic_int afm_rt_inited;
static pthread_key_t afm_rt_key;

/* The handlers that were installed before ours. Written once, before ours is installed, and only
 * read afterwards. */
static struct sigaction afm_rt_prev_segv, afm_rt_prev_bus;

/* ---------------------------------------------------------------------------------------------
 * Diagnostics for host bugs (nothing to return an error to)
 * ------------------------------------------------------------------------------------------ */

static void afm_rt_write_stderr(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

void afm_rt_fatal(const char *msg)
{
    afm_rt_write_stderr("afmpeg runtime: ");
    afm_rt_write_stderr(msg);
    afm_rt_write_stderr("\n");
    abort();
}

/* ---------------------------------------------------------------------------------------------
 * Traps
 * ------------------------------------------------------------------------------------------ */

afmpeg_trap afm_rt_trap_from_wasm(wasm_rt_trap_t t)
{
    switch (t) {
    case WASM_RT_TRAP_NONE:
        return AFMPEG_TRAP_NONE;
    case WASM_RT_TRAP_OOB:
        return AFMPEG_TRAP_OUT_OF_BOUNDS;
    case WASM_RT_TRAP_INT_OVERFLOW:
        return AFMPEG_TRAP_INT_OVERFLOW;
    case WASM_RT_TRAP_DIV_BY_ZERO:
        return AFMPEG_TRAP_DIV_BY_ZERO;
    case WASM_RT_TRAP_INVALID_CONVERSION:
        return AFMPEG_TRAP_INVALID_CONVERSION;
    case WASM_RT_TRAP_UNREACHABLE:
        return AFMPEG_TRAP_UNREACHABLE;
    case WASM_RT_TRAP_CALL_INDIRECT:
        return AFMPEG_TRAP_CALL_INDIRECT;
    case WASM_RT_TRAP_EXHAUSTION:
        return AFMPEG_TRAP_STACK_EXHAUSTED;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION:
    case WASM_RT_TRAP_UNALIGNED:
    default:
        return AFMPEG_TRAP_OTHER;
    }
}

void afm_rt_trap_with(afmpeg_trap trap, const char *what)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL)
        afm_rt_fatal(what);
    t->trap = trap;
    siglongjmp(t->jmp, 1);
}

void wasm_rt_trap(wasm_rt_trap_t code)
{
    afmpeg_trap trap = afm_rt_trap_from_wasm(code);
    if (trap == AFMPEG_TRAP_NONE)
        trap = AFMPEG_TRAP_OTHER; /* a trap must say that something happened */
    afm_rt_trap_with(trap, "guest code trapped outside afm_rt_call()");
}

void afm_rt_exit(int code)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL)
        afm_rt_fatal("afm_rt_exit() called outside afm_rt_call()");
    t->exited = 1;
    t->exit_code = code;
    t->trap = AFMPEG_TRAP_NONE;
    siglongjmp(t->jmp, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Fault handler (async-signal-safe throughout)
 * ------------------------------------------------------------------------------------------ */

static uintptr_t afm_rt_context_sp(const void *uctx)
{
    const ucontext_t *uc = uctx;
    if (uc == NULL)
        return 0;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.sp;
#else
    return 0; /* unknown: only the guard-area test below applies */
#endif
}

static int afm_rt_is_stack_overflow(const afm_rt_thread *t, uintptr_t addr, uintptr_t sp)
{
    if (t->stack_hi == 0)
        return 0;
    uintptr_t below = t->stack_guard + AFM_RT_STACK_SLACK;
    uintptr_t floor = t->stack_lo > below ? t->stack_lo - below : 0;
    if (addr >= floor && addr < t->stack_lo)
        return 1;
    return sp != 0 && sp < t->stack_lo + AFM_RT_STACK_NEAR && addr >= floor &&
           addr < t->stack_hi;
}

/* Passes a fault that is not the guest's to the handler installed before ours, doing what the
 * kernel would have done with it. */
static void afm_rt_chain(int sig, siginfo_t *info, void *uctx)
{
    const struct sigaction *prev = sig == SIGBUS ? &afm_rt_prev_bus : &afm_rt_prev_segv;
    int sent = info == NULL || info->si_code <= 0; /* kill(), raise(), sigqueue(): not a fault */

    if ((prev->sa_flags & SA_SIGINFO) || (prev->sa_handler != SIG_DFL &&
                                          prev->sa_handler != SIG_IGN)) {
        /* Run it as the kernel would have: with its own mask added, and reset first if it asked
         * for SA_RESETHAND. It may return (after repairing the cause) or siglongjmp away. */
        if (prev->sa_flags & SA_RESETHAND) {
            struct sigaction dfl;
            memset(&dfl, 0, sizeof(dfl));
            dfl.sa_handler = SIG_DFL;
            sigemptyset(&dfl.sa_mask);
            sigaction(sig, &dfl, NULL);
        }
        sigset_t old;
        pthread_sigmask(SIG_BLOCK, &prev->sa_mask, &old);
        if (prev->sa_flags & SA_SIGINFO)
            prev->sa_sigaction(sig, info, uctx);
        else
            prev->sa_handler(sig);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return;
    }
    if (prev->sa_handler == SIG_IGN && sent)
        return; /* the application ignores this signal when it is sent */

    /* SIG_DFL, or SIG_IGN for a real fault (which cannot be ignored: the kernel would kill the
     * process): restore the default action and return. The faulting instruction runs again and the
     * process dies of the original fault, with its core dump. A sent signal does not come back by
     * itself, so it is raised again; it stays blocked until this handler returns. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (sent)
        raise(sig);
}

static void afm_rt_on_fault(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    afm_rt_thread *t = afm_rt_self;

    /* Only a fault raised by the kernel for an instruction of this thread can be the guest's. */
    if (t != NULL && t->in_guest && info != NULL && info->si_code > 0) {
        uintptr_t addr = (uintptr_t)info->si_addr;
        afmpeg_trap trap = AFMPEG_TRAP_NONE;
        for (sig_atomic_t i = 0; i < t->n_mems; i++) {
            if (addr - t->mem_base[i] < AFM_RT_RESERVATION) {
                trap = AFMPEG_TRAP_OUT_OF_BOUNDS;
                break;
            }
        }
        if (trap == AFMPEG_TRAP_NONE && afm_rt_is_stack_overflow(t, addr, afm_rt_context_sp(uctx)))
            trap = AFMPEG_TRAP_STACK_EXHAUSTED;
        if (trap != AFMPEG_TRAP_NONE) {
            /* sigsetjmp saved the mask, so this also unblocks the signal; the alternate stack is
             * left simply by no longer running on it. */
            t->trap = trap;
            siglongjmp(t->jmp, 1);
        }
    }

    if (t != NULL && t->in_guest) {
        /* A host bug during a guest call. While the previous handler runs, the thread does not
         * count as in the guest: if it siglongjmps out of the call for good, a later fault on this
         * thread must not be taken for the guest's. If it returns, the guest goes on. */
        t->in_guest = 0;
        errno = saved_errno;
        afm_rt_chain(sig, info, uctx);
        t->in_guest = 1;
    } else {
        errno = saved_errno;
        afm_rt_chain(sig, info, uctx);
    }
    errno = saved_errno;
}

/* ---------------------------------------------------------------------------------------------
 * Stopping a running guest from other threads (cancel, deadline)
 *
 * The stop signal is sent to the guest's thread, by afm_rt_stop() (pthread_sigqueue) or by the
 * call's deadline timer, always carrying &afm_rt_stop_tag, so the handler knows its own signals
 * (a late one, after the call ended, is ignored) from the application's (chained). In generated
 * code the handler unwinds at once: that code holds no locks and its instance is discarded after
 * the call. In a host function it only leaves the stop for afm_rt_host_leave().
 * ------------------------------------------------------------------------------------------ */

static char afm_rt_stop_tag;
static int afm_rt_stop_signo;
static struct sigaction afm_rt_prev_stop;

static int afm_rt_is_ours(const siginfo_t *info)
{
    return info != NULL && (info->si_code == SI_TIMER || info->si_code == SI_QUEUE) &&
           info->si_value.sival_ptr == &afm_rt_stop_tag;
}

static void afm_rt_on_stop(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    if (!afm_rt_is_ours(info)) {
        const struct sigaction *prev = &afm_rt_prev_stop;
        if (prev->sa_flags & SA_SIGINFO)
            prev->sa_sigaction(sig, info, uctx);
        else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN)
            prev->sa_handler(sig);
        errno = saved_errno;
        return;
    }
    afm_rt_thread *t = afm_rt_self;
    afm_rt_ctl *ctl = t != NULL ? t->ctl : NULL;
    if (ctl == NULL) {
        errno = saved_errno;
        return; /* late: the call it was for has ended */
    }
    if (info->si_code == SI_TIMER) {
        int none = 0;
        atomic_compare_exchange_strong(&ctl->stop, &none, AFMPEG_ETIMEDOUT);
    }
    int reason = atomic_load(&ctl->stop);
    /* Not yet in the guest: afm_rt_run() looks again once it is. In a host function: its
     * afm_rt_host_leave() unwinds. */
    if (reason != 0 && t->in_guest && !t->in_host) {
        t->stop = reason;
        siglongjmp(t->jmp, 1);
    }
    errno = saved_errno;
}

void afm_rt_ctl_init(afm_rt_ctl *ctl)
{
    pthread_mutex_init(&ctl->lock, NULL);
    atomic_init(&ctl->stop, 0);
    ctl->running = 0;
    ctl->image = NULL;
}

void afm_rt_ctl_destroy(afm_rt_ctl *ctl)
{
    pthread_mutex_destroy(&ctl->lock);
}

void afm_rt_stop(afm_rt_ctl *ctl, int reason)
{
    int none = 0;
    atomic_compare_exchange_strong(&ctl->stop, &none, reason);
    /* Under the lock the thread cannot leave its call (it takes the lock to clear `running`), so
     * the signal reaches the right thread while it is still inside. */
    pthread_mutex_lock(&ctl->lock);
    if (ctl->running) {
        union sigval v = {.sival_ptr = &afm_rt_stop_tag};
        pthread_sigqueue(ctl->thread, afm_rt_stop_signo, v);
    }
    pthread_mutex_unlock(&ctl->lock);
}

void afm_rt_host_enter(void)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t != NULL)
        t->in_host++;
}

void afm_rt_host_leave(void)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL)
        return;
    t->in_host--;
    if (t->in_host == 0 && t->ctl != NULL) {
        int reason = atomic_load(&t->ctl->stop);
        if (reason != 0) {
            t->stop = reason;
            siglongjmp(t->jmp, 1);
        }
    }
}

void afm_rt_abort(int reason)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (t == NULL)
        afm_rt_fatal("afm_rt_abort outside a guest call");
    t->stop = reason;
    siglongjmp(t->jmp, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Per-thread state
 * ------------------------------------------------------------------------------------------ */

/* Disables and frees the thread's alternate signal stack, unless the thread is running on it (a
 * destructor called from a signal handler?): then it cannot be freed under our feet, and is left
 * to the process. */
static void afm_rt_release_altstack(afm_rt_thread *t)
{
    if (t->altstack == NULL)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *sp = (char *)t->altstack + page;
    stack_t cur;
    int ours = sigaltstack(NULL, &cur) == 0 && cur.ss_sp == sp && !(cur.ss_flags & SS_DISABLE);
    if (ours && (cur.ss_flags & SS_ONSTACK))
        return;
    if (ours) {
        stack_t off;
        memset(&off, 0, sizeof(off));
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    AFM_RT_VG_STACK_DEREGISTER(t->altstack_vg_id);
    munmap(t->altstack, t->altstack_len);
    t->altstack = NULL;
}

static void afm_rt_thread_destroy(void *p)
{
    afm_rt_thread *t = p;
    afm_rt_release_altstack(t);
    if (afm_rt_self == t)
        afm_rt_self = NULL;
    free(t);
}

/* The thread's stack bounds, for telling stack overflow from other faults. Left zero (no
 * detection: such a fault is then passed on) if the system cannot say. */
static void afm_rt_find_stack(afm_rt_thread *t)
{
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    void *addr;
    size_t size, guard;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size > 0) {
        t->stack_lo = (uintptr_t)addr;
        t->stack_hi = (uintptr_t)addr + size;
    }
    if (pthread_attr_getguardsize(&attr, &guard) != 0)
        guard = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    t->stack_guard = guard > page ? guard : page;
    pthread_attr_destroy(&attr);
}

/* Stack overflow is only recoverable if the handler runs on another stack. A thread that already
 * has an alternate stack (the application's, a sanitizer's) keeps it. */
static int afm_rt_setup_altstack(afm_rt_thread *t)
{
    stack_t cur;
    if (sigaltstack(NULL, &cur) != 0)
        return -errno;
    if (!(cur.ss_flags & SS_DISABLE) && cur.ss_size >= (size_t)MINSIGSTKSZ)
        return 0;

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = AFM_RT_ALTSTACK_SIZE;
    long min = sysconf(_SC_SIGSTKSZ);
    if (min > 0 && (size_t)min * 4 > size)
        size = ((size_t)min * 4 + page - 1) / page * page;
    size_t len = size + page;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    /* A guard page at the low end: overflowing the alternate stack faults (and, the signal being
     * blocked there, kills the process) instead of silently corrupting the memory below. */
    if (mprotect(p, page, PROT_NONE) != 0) {
        int err = -errno;
        munmap(p, len);
        return err;
    }
    stack_t ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = (char *)p + page;
    ss.ss_size = size;
    if (sigaltstack(&ss, NULL) != 0) {
        int err = -errno;
        munmap(p, len);
        return err;
    }
    t->altstack = p;
    t->altstack_len = len;
    t->altstack_vg_id = AFM_RT_VG_STACK_REGISTER((char *)p + page, (char *)p + len);
    return 0;
}

static int afm_rt_thread_get(afm_rt_thread **out)
{
    afm_rt_thread *t = afm_rt_self;
    if (t != NULL) {
        *out = t;
        return 0;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    afm_rt_find_stack(t);
    int err = afm_rt_setup_altstack(t);
    if (err == 0) {
        /* The key's destructor frees the state and the alternate stack at thread exit. */
        err = -pthread_setspecific(afm_rt_key, t);
        if (err != 0)
            afm_rt_release_altstack(t);
    }
    if (err != 0) {
        free(t);
        return err;
    }
    afm_rt_self = t;
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Global initialisation and calls
 * ------------------------------------------------------------------------------------------ */

static void afm_rt_init_once(void)
{
    int err = pthread_key_create(&afm_rt_key, afm_rt_thread_destroy);
    if (err != 0) {
        afm_rt_init_err = -err;
        return;
    }
    /* Read the previous handlers first and install ours after: our handler may run (on another
     * thread) as soon as it is installed, and must find them saved. */
    if (sigaction(SIGSEGV, NULL, &afm_rt_prev_segv) != 0 ||
        sigaction(SIGBUS, NULL, &afm_rt_prev_bus) != 0) {
        afm_rt_init_err = -errno;
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = afm_rt_on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) {
        afm_rt_init_err = -errno;
        return;
    }
    if (sigaction(SIGBUS, &sa, NULL) != 0) {
        afm_rt_init_err = -errno;
        sigaction(SIGSEGV, &afm_rt_prev_segv, NULL);
        return;
    }
    /* The stop signal: a real-time signal (queued, never merged with the application's), chained
     * to any handler the application has for it. */
    afm_rt_stop_signo = AFM_RT_STOP_SIGNAL;
    struct sigaction st;
    memset(&st, 0, sizeof(st));
    st.sa_sigaction = afm_rt_on_stop;
    st.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&st.sa_mask);
    if (sigaction(afm_rt_stop_signo, NULL, &afm_rt_prev_stop) != 0 ||
        sigaction(afm_rt_stop_signo, &st, NULL) != 0) {
        afm_rt_init_err = -errno;
        sigaction(SIGSEGV, &afm_rt_prev_segv, NULL);
        sigaction(SIGBUS, &afm_rt_prev_bus, NULL);
        return;
    }
    atomic_store(&afm_rt_inited, 1);
}

int afm_rt_global_init(void)
{
    pthread_once(&afm_rt_once, afm_rt_init_once);
    return afm_rt_init_err;
}

/* The application (or its test framework: cmocka swaps SIGSEGV handlers around every test) may
 * install its own SIGSEGV/SIGBUS handler after ours. The guest's bounds checks depend on ours, so
 * before each call ours is put back in front, chaining to whatever was installed meanwhile.
 * Two sigaction() reads per call when nothing changed. */
static pthread_mutex_t afm_rt_arm_lock = PTHREAD_MUTEX_INITIALIZER;

static int afm_rt_rearm(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction cur;
        if (sigaction(sigs[i], NULL, &cur) != 0)
            return -errno;
        if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == afm_rt_on_fault)
            continue;
        pthread_mutex_lock(&afm_rt_arm_lock);
        int err = 0;
        if (sigaction(sigs[i], NULL, &cur) != 0) {
            err = -errno;
        } else if (!((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == afm_rt_on_fault)) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_sigaction = afm_rt_on_fault;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
            sigemptyset(&sa.sa_mask);
            *(sigs[i] == SIGBUS ? &afm_rt_prev_bus : &afm_rt_prev_segv) = cur;
            if (sigaction(sigs[i], &sa, NULL) != 0)
                err = -errno;
        }
        pthread_mutex_unlock(&afm_rt_arm_lock);
        if (err)
            return err;
    }
    return 0;
}

int afm_rt_ready(void)
{
    return atomic_load(&afm_rt_inited);
}

/* The guest runs inside this frame, so t->jmp stays valid for as long as it can be jumped to.
 * Kept out of line so that no variable of afm_rt_call() lives across sigsetjmp. */
static __attribute__((noinline)) void afm_rt_run(afm_rt_thread *t, void (*fn)(void *), void *arg)
{
    /* Saving the signal mask matters: a trap from the fault handler arrives with the signal
     * blocked, and siglongjmp restores the mask saved here. */
    if (sigsetjmp(t->jmp, 1) == 0) {
        t->in_guest = 1;
        atomic_signal_fence(memory_order_seq_cst);
        /* A stop that came after afm_rt_call() looked, but before the guest counted as running,
         * was left here by the handler. */
        int reason = atomic_load(&t->ctl->stop);
        if (reason != 0) {
            t->stop = reason;
            return;
        }
        fn(arg);
    }
}

/* The deadline: a POSIX timer that sends the stop signal to this thread. */
static int afm_rt_arm_deadline(timer_t *timer, uint64_t timeout_ms)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = afm_rt_stop_signo;
    sev.sigev_value.sival_ptr = &afm_rt_stop_tag;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &sev, timer) != 0)
        return -errno;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(timeout_ms / 1000);
    its.it_value.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    if (timer_settime(*timer, 0, &its, NULL) != 0) {
        int err = -errno;
        timer_delete(*timer);
        return err;
    }
    return 0;
}

int afm_rt_call(void (*fn)(void *), void *arg, uint32_t max_pages, uint64_t timeout_ms,
                afm_rt_ctl *ctl, afm_rt_outcome *out)
{
    int err = afm_rt_global_init();
    if (err != 0)
        return err;
    afm_rt_thread *t;
    err = afm_rt_thread_get(&t);
    if (err != 0)
        return err;
    if (t->in_guest)
        return -EBUSY; /* called from inside a guest call on this thread: not reentrant */
    err = afm_rt_rearm();
    if (err != 0)
        return err;

    t->trap = AFMPEG_TRAP_NONE;
    t->exited = 0;
    t->exit_code = 0;
    t->stop = 0;
    t->in_host = 0;
    t->max_pages = max_pages;
    t->n_mems = 0;
    t->unwind_target = NULL;
    t->exc_tag = 0;
    t->exc_size = 0;

    afm_rt_ctl own;
    if (ctl == NULL) { /* nobody else can stop this call, but its deadline needs one */
        afm_rt_ctl_init(&own);
        ctl = &own;
    }
    t->ctl = ctl;
    t->image = ctl->image;
    t->image_mode = AFM_RT_IMAGE_NONE;
    /* The guest depends on SIGSEGV/SIGBUS (bounds checks) and the stop signal reaching this
     * thread: unblock them for the call, whatever the caller's mask, and restore it after. */
    sigset_t needed, caller_mask;
    sigemptyset(&needed);
    sigaddset(&needed, SIGSEGV);
    sigaddset(&needed, SIGBUS);
    sigaddset(&needed, afm_rt_stop_signo);
    pthread_sigmask(SIG_UNBLOCK, &needed, &caller_mask);
    timer_t timer;
    int timed = 0;
    pthread_mutex_lock(&ctl->lock);
    ctl->thread = pthread_self();
    ctl->running = 1;
    pthread_mutex_unlock(&ctl->lock);
    t->stop = atomic_load(&ctl->stop); /* stopped before it started: do not run */
    if (t->stop == 0 && timeout_ms > 0) {
        err = afm_rt_arm_deadline(&timer, timeout_ms);
        timed = err == 0;
    }
    if (t->stop == 0 && err == 0)
        afm_rt_run(t, fn, arg);
    atomic_signal_fence(memory_order_seq_cst);
    t->in_guest = 0;
    t->in_host = 0;
    if (timed)
        timer_delete(timer);
    pthread_mutex_lock(&ctl->lock);
    ctl->running = 0;
    pthread_mutex_unlock(&ctl->lock);
    pthread_sigmask(SIG_SETMASK, &caller_mask, NULL);
    t->ctl = NULL;
    if (ctl == &own)
        afm_rt_ctl_destroy(&own);
    /* The memories of this call stay usable (and freeable) afterwards, but a fault in them no
     * longer belongs to a guest call. */
    t->n_mems = 0;
    t->unwind_target = NULL;
    afm_rt_image_end(t);
    if (err != 0)
        return err;

    if (out != NULL) {
        out->exited = t->exited;
        out->exit_code = t->exited ? t->exit_code : 0;
        out->trap = t->stop ? AFMPEG_TRAP_NONE : t->trap;
        out->stop = t->stop;
    }
    return 0;
}
