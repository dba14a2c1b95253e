/* The module built into the library (module/build.sh's native objects, linked in), behind the same
 * interface as a loaded one. */
#include "module/module.h"
#include "afm.h"

static void embedded_instantiate(void *instance, afm_wasi_host *wasi)
{
    wasm2c_afm_instantiate(instance, wasi);
}

static wasm_rt_memory_t *embedded_memory(void *instance)
{
    return w2c_afm_memory(instance);
}

static void embedded_start(void *instance)
{
    w2c_afm_0x5Fstart(instance);
}

static void embedded_free(void *instance)
{
    wasm2c_afm_free(instance);
}

static const afm_module embedded = {
    .vt = {
        .abi = AFM_MODULE_ABI,
        .instance_size = sizeof(w2c_afm),
        .instantiate = embedded_instantiate,
        .memory = embedded_memory,
        .start = embedded_start,
        .free = embedded_free,
        .sha256 = "",
        .is_ffmpeg = 1,
    },
    .dl = NULL,
};

const afm_module *afm_module_embedded(void)
{
    return &embedded;
}
