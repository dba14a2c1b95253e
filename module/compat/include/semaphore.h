/* afmpeg: single-threaded stand-in for <semaphore.h>: a semaphore is a counter; waiting on a zero
 * count cannot be satisfied by another thread, so it fails with EAGAIN/ETIMEDOUT. */
#ifndef AFM_COMPAT_SEMAPHORE_H
#define AFM_COMPAT_SEMAPHORE_H
#include <errno.h>
#include <time.h>

typedef struct { unsigned value; } sem_t;
#define SEM_FAILED ((sem_t *)0)

static inline int sem_init(sem_t *s, int pshared, unsigned v) { (void)pshared; s->value = v; return 0; }
static inline int sem_destroy(sem_t *s) { (void)s; return 0; }
static inline int sem_post(sem_t *s) { s->value++; return 0; }
static inline int sem_getvalue(sem_t *s, int *v) { *v = (int)s->value; return 0; }
static inline int sem_trywait(sem_t *s) {
    if (!s->value) { errno = EAGAIN; return -1; }
    s->value--;
    return 0;
}
static inline int sem_wait(sem_t *s) { return sem_trywait(s); }
static inline int sem_timedwait(sem_t *s, const struct timespec *t) {
    (void)t;
    if (sem_trywait(s)) { errno = ETIMEDOUT; return -1; }
    return 0;
}
#endif
