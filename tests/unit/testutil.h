/* Shared helpers for the cmocka suites. */
#ifndef AFM_TESTUTIL_H
#define AFM_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#endif
