/* Internal: the module a runtime runs — the embedded one, or one loaded from a .wasm (translated
 * and compiled once, then cached) or from a module file made by afmpeg_module_compile(). */
#ifndef AFM_MODULE_H
#define AFM_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include "afmpeg.h"
#include "module/abi.h"

typedef struct afm_module {
    afm_module_v1 vt; /* how to instantiate, start and free an instance; what it is */
    void *dl;         /* dlopen handle; NULL for the embedded module */
} afm_module;

/* The module built into the library (never freed). */
const afm_module *afm_module_embedded(void);

/* The module `o` names (module_path or module_data), compiled or taken from the cache as needed,
 * checked against o->module_sha256. AFMPEG_OK with *out set, or an error with its message. */
int afm_module_open(const afmpeg_runtime_options *o, afm_module **out);
/* Unloads a module from afm_module_open(); NULL and the embedded module are no-ops. */
void afm_module_close(afm_module *m);

/* The host side of abi.h: what every loaded module is given. */
const afm_host_v1 *afm_module_host(void);

/* ---- wasm.c -------------------------------------------------------------------------------- */

typedef struct afm_wasm_info {
    unsigned imports;       /* how many (all WASI functions the host has, or it was refused) */
    uint32_t initial_pages; /* of its memory */
    int is_ffmpeg;          /* its name section names afmpeg's multi-call mains */
} afm_wasm_info;

/* Checks a .wasm as abi.h and a WASI command need it (wasm.c says what is checked). AFMPEG_OK,
 * or AFMPEG_EMODULE / AFMPEG_ENOMEM with a message naming the cause. */
int afm_wasm_check(const uint8_t *data, size_t len, uint64_t max_pages, afm_wasm_info *info);

/* ---- compile.c ----------------------------------------------------------------------------- */

typedef struct afm_compile_ctx {
    afmpeg_compile_progress_fn progress;
    void *payload;
} afm_compile_ctx;

/* The toolchain's identity (translator, compiler, flags, ABI): part of every cache key. Made
 * once per process. NULL, with a message, when there is no usable toolchain. */
const char *afm_toolchain_id(void);

/* Translates and compiles `wasm` (already checked) into the shared object `out_so`, written
 * whole or not at all. `sha256` (hex) is recorded in it. AFMPEG_OK, AFMPEG_ENOTSUP (no
 * translator or C compiler: the message says what to install) or AFMPEG_EMODULE (the
 * translator or compiler failed: the message has its last lines). */
int afm_compile(const uint8_t *wasm, size_t len, const afm_wasm_info *info, const char *sha256,
                const char *out_so, const afm_compile_ctx *ctx);

/* SHA-256 of a buffer, as 64 lowercase hex digits and a NUL. */
void afm_sha256_hex(const void *data, size_t len, char out[65]);

#endif
