/* afmpeg: single-threaded stand-in for <pthread.h>, which this wasi-libc lacks. The guest is
 * built without threads: creating a thread fails with EAGAIN (callers fall back to running
 * inline), locks are no-ops, and waiting on a condition that nobody can signal fails instead of
 * hanging. */
#ifndef AFM_COMPAT_PTHREAD_H
#define AFM_COMPAT_PTHREAD_H
#include <errno.h>
#include <sched.h>
#include <time.h>

/* The pthread types themselves come from wasi-libc's <sys/types.h>. */
#include <sys/types.h>

#define PTHREAD_MUTEX_INITIALIZER {0}
#define PTHREAD_COND_INITIALIZER {0}
#define PTHREAD_ONCE_INIT 0
#define PTHREAD_SCOPE_SYSTEM 0
#ifndef SCHED_FIFO
#define SCHED_FIFO 1
#endif

/* pthread_t is a pointer in C and an integer in C++ (wasi-libc's alltypes.h): the cast fits both. */
static inline pthread_t pthread_self(void) { return (pthread_t)1; }
static inline int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *),
                                 void *arg) { (void)t; (void)a; (void)fn; (void)arg; return EAGAIN; }
static inline int pthread_join(pthread_t t, void **ret) { (void)t; (void)ret; return ESRCH; }
static inline int pthread_attr_init(pthread_attr_t *a) { (void)a; return 0; }
static inline int pthread_attr_destroy(pthread_attr_t *a) { (void)a; return 0; }
static inline int pthread_attr_setscope(pthread_attr_t *a, int s) { (void)a; (void)s; return 0; }
static inline int pthread_attr_setschedpolicy(pthread_attr_t *a, int p) { (void)a; (void)p; return 0; }
static inline int pthread_attr_setstacksize(pthread_attr_t *a, size_t s) { (void)a; (void)s; return 0; }
static inline int pthread_setname_np(pthread_t t, const char *n) { (void)t; (void)n; return 0; }
static inline int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) { (void)m; (void)a; return 0; }
static inline int pthread_mutex_destroy(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_trylock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }
static inline int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) { (void)c; (void)a; return 0; }
static inline int pthread_cond_destroy(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_signal(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_broadcast(pthread_cond_t *c) { (void)c; return 0; }
static inline int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { (void)c; (void)m; return EINVAL; }
static inline int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                         const struct timespec *t) { (void)c; (void)m; (void)t; return ETIMEDOUT; }
static inline int pthread_once(pthread_once_t *o, void (*fn)(void)) {
    if (!*o) { *o = 1; fn(); }
    return 0;
}
#endif
