/* Internal: the WASI preview1 host. All state is per guest instance (struct afm_wasi); nothing is
 * global. The generated code calls the imports with a pointer to this struct, under the name
 * wasm2c gives the import module's instance. */
#ifndef AFM_WASI_H
#define AFM_WASI_H

#include <stddef.h>
#include <stdint.h>
#include <wasm-rt.h>
#include "afmpeg.h"

#define AFM_WASI_MAX_FDS 1024

typedef enum afm_fd_kind {
    AFM_FD_FREE = 0,
    AFM_FD_STDIN,
    AFM_FD_STDOUT,
    AFM_FD_STDERR,
    AFM_FD_DIR,   /* a directory (the preopened root is fd 3) */
    AFM_FD_FILE,
    AFM_FD_SINK   /* write-only, to the host's sink callback (FFmpeg's -progress pipe:4) */
} afm_fd_kind;

typedef struct afm_fd {
    afm_fd_kind kind;
    void *handle;          /* the filesystem's handle (files, and directories opened on it) */
    char *path;            /* normalised path of a directory, for lookups relative to it */
    uint64_t offset;       /* file position */
    int append;            /* writes go to the end */
    int readable, writable;
} afm_fd;

/* Growable byte buffer, optionally keeping only its last `limit` bytes. */
typedef struct afm_buf {
    char *data;
    size_t len, cap;
    size_t limit;          /* 0: unlimited */
    int truncated;         /* bytes were dropped from the front */
} afm_buf;

typedef struct w2c_wasi__snapshot__preview1 {
    wasm_rt_memory_t *mem;         /* the guest's linear memory, set once instantiated */
    afmpeg_fs *fs;
    char **argv;
    int argc;
    char **envv;
    int envc;
    const unsigned char *stdin_data;
    size_t stdin_len, stdin_pos;
    afmpeg_output_fn on_stdout, on_stderr;
    void *output_payload;
    afm_buf out, err;
    /* Host hooks (internal, set after afm_wasi_init): the sink behind AFM_FD_SINK (non-zero
     * from it cancels the job), and a tap that sees every byte written to stderr before it is
     * captured or passed on. */
    afmpeg_output_fn on_sink, on_stderr_tap;
    void *sink_payload, *tap_payload;
    /* Limits (set by the runtime after afm_wasi_init): bytes written to files and standard
     * output, in all; files open at once. Past either the job stops with AFMPEG_ELIMIT and
     * limit_msg says which. */
    uint64_t output_limit, written;
    unsigned max_open_files, open_files;
    char limit_msg[160];
    afm_fd fds[AFM_WASI_MAX_FDS];
} afm_wasi;

/* Prepares `w` for one job: stdio on fds 0-2, the filesystem's root preopened as "/" on fd 3.
 * argv and envv are copied. Returns 0 or AFMPEG_ENOMEM. */
int afm_wasi_init(afm_wasi *w, afmpeg_fs *fs, const char *const *argv, const char *const *envv,
                  const afmpeg_job_options *opts);
/* Closes every open fd and frees what afm_wasi_init allocated, except the out/err buffers, which
 * are handed to the result (free them with afm_buf_free). */
void afm_wasi_release(afm_wasi *w);
/* Opens fd `fd` (4, right after the preopened root) as a sink to `fn`. Call after
 * afm_wasi_init, before the guest runs. */
void afm_wasi_set_sink(afm_wasi *w, int fd, afmpeg_output_fn fn, void *payload);
void afm_buf_free(afm_buf *b);

#endif
