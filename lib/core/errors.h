/* Internal: the calling thread's detailed error message (afmpeg_last_error()). */
#ifndef AFM_ERRORS_H
#define AFM_ERRORS_H

/* Sets the calling thread's message (printf-style) and returns `err`, so a failing path can
 * `return afm_error(AFMPEG_EINVAL, "argv is empty");`. */
int afm_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the calling thread's message (at the start of a public call that can fail). */
void afm_error_clear(void);

#endif
