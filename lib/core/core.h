/* Internal: what the job areas (lib/job, lib/probe, lib/frames) need of the runtime and pool. */
#ifndef AFM_CORE_H
#define AFM_CORE_H

#include "afmpeg.h"

/* The runtime a pool's jobs run on (a pool is a runtime with N slots). NULL for NULL. */
afmpeg_runtime *afm_pool_runtime(afmpeg_pool *pool);

#endif
