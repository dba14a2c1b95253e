/* Error codes, their names and messages (one list: AFMPEG_ERROR_LIST), the per-thread detailed
 * message, and the version. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "afmpeg.h"
#include "core/errors.h"

static _Thread_local char last_error[4096];

/* Formatted into a buffer of its own first: a message may quote the current one
 * (afm_error(err, "input %zu: %s", i, afmpeg_last_error())), and vsnprintf's source and
 * destination must not overlap. */
int afm_error(int err, const char *fmt, ...)
{
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return err;
}

void afm_error_clear(void)
{
    last_error[0] = '\0';
}

const char *afmpeg_last_error(void)
{
    return last_error;
}

const char *afmpeg_strerror(int err)
{
    switch (err) {
#define AFM_X_MSG(name, value, msg) case value: return msg;
        AFMPEG_ERROR_LIST(AFM_X_MSG)
#undef AFM_X_MSG
    }
    return "unknown error";
}

const char *afmpeg_errname(int err)
{
    switch (err) {
#define AFM_X_NAME(name, value, msg) case value: return "AFMPEG_" #name;
        AFMPEG_ERROR_LIST(AFM_X_NAME)
#undef AFM_X_NAME
    }
    return "AFMPEG_UNKNOWN";
}

const char *afmpeg_trap_name(afmpeg_trap trap)
{
    switch (trap) {
    case AFMPEG_TRAP_NONE: return "no trap";
    case AFMPEG_TRAP_OUT_OF_BOUNDS: return "out of bounds memory access";
    case AFMPEG_TRAP_INT_OVERFLOW: return "integer overflow";
    case AFMPEG_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case AFMPEG_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case AFMPEG_TRAP_UNREACHABLE: return "unreachable executed";
    case AFMPEG_TRAP_CALL_INDIRECT: return "invalid indirect call";
    case AFMPEG_TRAP_STACK_EXHAUSTED: return "call stack exhausted";
    case AFMPEG_TRAP_OTHER: break;
    }
    return "trap";
}

int afmpeg_version_number(void)
{
    return AFMPEG_VERSION_NUMBER;
}

const char *afmpeg_version(void)
{
    return AFMPEG_VERSION;
}
