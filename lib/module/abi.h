/*
 * The interface between libafmpeg and a module it loaded from a shared object (a .wasm translated
 * by wasm2c and compiled with glue.c: lib/module/compile.c). Installed with the library's module
 * tools, since every compiled module is built against it.
 *
 * The compiled code calls wasm2c's runtime (wasm_rt_*) and the WASI preview1 imports
 * (w2c_wasi__snapshot__preview1_*) by name. In a shared object loaded RTLD_LOCAL those names
 * cannot bind to libafmpeg's (which exports nothing but afmpeg_*), so glue.c defines them as
 * calls through the table the host hands to the module's one exported symbol, AFM_MODULE_ENTRY:
 * the module runs on the host's own runtime (traps, memories, limits, WASI) exactly as the
 * embedded module does.
 *
 * AFM_MODULE_ABI changes whenever either struct, the meaning of a field, wasm-rt.h or the
 * compile flags do: a module of another ABI is refused (and a cached one rebuilt).
 */
#ifndef AFM_MODULE_ABI_H
#define AFM_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <wasm-rt.h>

#define AFM_MODULE_ABI 2
#define AFM_MODULE_ENTRY afm_module_entry_v1
#define AFM_MODULE_ENTRY_NAME "afm_module_entry_v1"

struct w2c_wasi__snapshot__preview1;
typedef struct w2c_wasi__snapshot__preview1 afm_wasi_host;

/* WASI preview1 imports the host implements: X(name, return type, parameters, arguments). The
 * parameter types are the ones wasm2c gives an import of that WebAssembly signature. */
#define AFM_WASI_IMPORTS(X)                                                                       \
    X(args_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))                  \
    X(args_sizes_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))            \
    X(environ_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))               \
    X(environ_sizes_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))         \
    X(clock_time_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint64_t b, uint32_t c),           \
      (w, a, b, c))                                                                               \
    X(poll_oneoff, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d),  \
      (w, a, b, c, d))                                                                            \
    X(fd_prestat_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))            \
    X(fd_prestat_dir_name, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c),      \
      (w, a, b, c))                                                                               \
    X(fd_close, uint32_t, (afm_wasi_host *w, uint32_t a), (w, a))                                 \
    X(fd_fdstat_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))             \
    X(fd_fdstat_set_flags, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))       \
    X(fd_filestat_get, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b), (w, a, b))           \
    X(fd_write, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d),     \
      (w, a, b, c, d))                                                                            \
    X(fd_read, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d),      \
      (w, a, b, c, d))                                                                            \
    X(fd_seek, uint32_t, (afm_wasi_host *w, uint32_t a, uint64_t b, uint32_t c, uint32_t d),      \
      (w, a, b, c, d))                                                                            \
    X(fd_readdir, uint32_t,                                                                       \
      (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint64_t d, uint32_t e),             \
      (w, a, b, c, d, e))                                                                         \
    X(path_open, uint32_t,                                                                        \
      (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint64_t f,  \
       uint64_t g, uint32_t h, uint32_t i),                                                       \
      (w, a, b, c, d, e, f, g, h, i))                                                             \
    X(path_filestat_get, uint32_t,                                                                \
      (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e),             \
      (w, a, b, c, d, e))                                                                         \
    X(path_create_directory, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c),    \
      (w, a, b, c))                                                                               \
    X(path_remove_directory, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c),    \
      (w, a, b, c))                                                                               \
    X(path_unlink_file, uint32_t, (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c),         \
      (w, a, b, c))                                                                               \
    X(path_rename, uint32_t,                                                                      \
      (afm_wasi_host *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t e, uint32_t f), \
      (w, a, b, c, d, e, f))

/* What the host gives a module: wasm2c's runtime and the WASI imports. */
typedef struct afm_host_v1 {
    unsigned abi; /* AFM_MODULE_ABI */
    bool (*is_initialized)(void);
    void (*trap)(wasm_rt_trap_t);
    void (*allocate_memory)(wasm_rt_memory_t *, uint64_t initial, uint64_t max, bool is64);
    uint64_t (*grow_memory)(wasm_rt_memory_t *, uint64_t delta);
    void (*free_memory)(wasm_rt_memory_t *);
    void (*allocate_funcref_table)(wasm_rt_funcref_table_t *, uint32_t elements,
                                   uint32_t max_elements);
    uint32_t (*grow_funcref_table)(wasm_rt_funcref_table_t *, uint32_t delta,
                                   wasm_rt_funcref_t init);
    void (*free_funcref_table)(wasm_rt_funcref_table_t *);
    void (*allocate_externref_table)(wasm_rt_externref_table_t *, uint32_t elements,
                                     uint32_t max_elements);
    uint32_t (*grow_externref_table)(wasm_rt_externref_table_t *, uint32_t delta,
                                     wasm_rt_externref_t init);
    void (*free_externref_table)(wasm_rt_externref_table_t *);
    /* An active data segment, loaded at instantiation (module/membase.py; ABI 2). */
    void (*load_segment)(wasm_rt_memory_t *, uint64_t offset, const uint8_t *src, uint32_t size);
    void (*proc_exit)(afm_wasi_host *, uint32_t code);
#define AFM_HOST_FIELD(name, ret, params, args) ret(*name) params;
    AFM_WASI_IMPORTS(AFM_HOST_FIELD)
#undef AFM_HOST_FIELD
} afm_host_v1;

/* What a module gives the host. The instance is opaque memory of instance_size bytes, zeroed. */
typedef struct afm_module_v1 {
    unsigned abi;          /* AFM_MODULE_ABI */
    size_t instance_size;
    void (*instantiate)(void *instance, afm_wasi_host *wasi);
    wasm_rt_memory_t *(*memory)(void *instance);
    void (*start)(void *instance);
    void (*free)(void *instance);
    const char *sha256;    /* of the .wasm it was compiled from, 64 hex digits */
    int is_ffmpeg;         /* afmpeg's multi-call ffmpeg + ffprobe module */
} afm_module_v1;

/* The one symbol a module exports: checks host->abi, keeps `host` for the module's lifetime,
 * fills *out. Returns 0, or -1 if the ABIs differ. */
typedef int (*afm_module_entry_fn)(const afm_host_v1 *host, afm_module_v1 *out);

#endif
