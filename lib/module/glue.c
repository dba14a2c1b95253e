/*
 * Compiled into every module libafmpeg builds from a .wasm (lib/module/compile.c), next to
 * wasm2c's output for it, with -DAFM_GLUE_HEADER='"afm.h"' (the generated header; the module
 * named "afm" by wasm2c -n, as the embedded one: module/membase.py applies to both),
 * -DAFM_GLUE_SHA256='"<hex>"' (the .wasm's), -DAFM_GLUE_FFMPEG=0|1 and, for a module that
 * imports nothing, -DAFM_GLUE_NO_IMPORTS.
 * Everything here is hidden but the entry point (abi.h says why it exists).
 */
#include "abi.h"
#include AFM_GLUE_HEADER

static const afm_host_v1 *host;

/* ---- wasm2c's runtime, as the generated code calls it ---------------------------------------- */

bool wasm_rt_is_initialized(void)
{
    return host->is_initialized();
}

void wasm_rt_trap(wasm_rt_trap_t t)
{
    host->trap(t);
    __builtin_unreachable(); /* the host's trap unwinds to the job's start */
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint64_t initial, uint64_t max, bool is64)
{
    host->allocate_memory(m, initial, max, is64);
}

uint64_t wasm_rt_grow_memory(wasm_rt_memory_t *m, uint64_t delta)
{
    return host->grow_memory(m, delta);
}

void wasm_rt_free_memory(wasm_rt_memory_t *m)
{
    host->free_memory(m);
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *t, uint32_t n, uint32_t max)
{
    host->allocate_funcref_table(t, n, max);
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *t, uint32_t delta,
                                    wasm_rt_funcref_t init)
{
    return host->grow_funcref_table(t, delta, init);
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *t)
{
    host->free_funcref_table(t);
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *t, uint32_t n, uint32_t max)
{
    host->allocate_externref_table(t, n, max);
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *t, uint32_t delta,
                                      wasm_rt_externref_t init)
{
    return host->grow_externref_table(t, delta, init);
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t *t)
{
    host->free_externref_table(t);
}

void afm_rt_load_segment(wasm_rt_memory_t *m, uint64_t offset, const uint8_t *src, uint32_t size)
{
    host->load_segment(m, offset, src, size);
}

/* ---- the WASI imports ------------------------------------------------------------------------ */

void w2c_wasi__snapshot__preview1_proc_exit(afm_wasi_host *w, uint32_t code)
{
    host->proc_exit(w, code);
}

#define AFM_GLUE_IMPORT(name, ret, params, args)                                                  \
    ret w2c_wasi__snapshot__preview1_##name params                                                \
    {                                                                                             \
        return host->name args;                                                                   \
    }
AFM_WASI_IMPORTS(AFM_GLUE_IMPORT)

/* ---- the module, as the host sees it --------------------------------------------------------- */

static void glue_instantiate(void *instance, afm_wasi_host *wasi)
{
#ifdef AFM_GLUE_NO_IMPORTS
    (void)wasi;
    wasm2c_afm_instantiate(instance);
#else
    wasm2c_afm_instantiate(instance, wasi);
#endif
}

static wasm_rt_memory_t *glue_memory(void *instance)
{
    return w2c_afm_memory(instance);
}

static void glue_start(void *instance)
{
    w2c_afm_0x5Fstart(instance);
}

static void glue_free(void *instance)
{
    wasm2c_afm_free(instance);
}

__attribute__((visibility("default"))) int AFM_MODULE_ENTRY(const afm_host_v1 *h,
                                                            afm_module_v1 *out)
{
    if (!h || h->abi != AFM_MODULE_ABI || !out)
        return -1;
    host = h;
    out->abi = AFM_MODULE_ABI;
    out->instance_size = sizeof(w2c_afm);
    out->instantiate = glue_instantiate;
    out->memory = glue_memory;
    out->start = glue_start;
    out->free = glue_free;
    out->sha256 = AFM_GLUE_SHA256;
    out->is_ffmpeg = AFM_GLUE_FFMPEG;
    return 0;
}
