/* afmpeg: stand-in for <sys/sysctl.h>: there is no kernel to ask, so every query fails with ENOSYS
 * (callers fall back to one CPU). */
#ifndef AFM_COMPAT_SYS_SYSCTL_H
#define AFM_COMPAT_SYS_SYSCTL_H
#include <errno.h>
#include <stddef.h>
#define CTL_HW 6
#define HW_NCPU 3
static inline int sysctl(const int *name, unsigned namelen, void *old, size_t *oldlen,
                         const void *newp, size_t newlen) {
    (void)name; (void)namelen; (void)old; (void)oldlen; (void)newp; (void)newlen;
    errno = ENOSYS;
    return -1;
}
static inline int sysctlbyname(const char *name, void *old, size_t *oldlen, const void *newp,
                               size_t newlen) {
    (void)name; (void)old; (void)oldlen; (void)newp; (void)newlen;
    errno = ENOSYS;
    return -1;
}
#endif
