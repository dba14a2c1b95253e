/*
 * afmpeg — sandboxed, embeddable FFmpeg for C.
 *
 * FFmpeg 5.1 (ffmpeg and ffprobe) compiled to WebAssembly (wasm32-wasi) and translated ahead of
 * time to native code. Every memory access of the guest is bounds-checked, and every file it
 * touches goes through the filesystem handed to its job.
 *
 * Objects and their lifecycle
 * ---------------------------
 *   afmpeg_runtime   afmpeg_new()  ... afmpeg_run() ...  afmpeg_close()
 *                    The compiled module, prepared once. Keep it for the life of the process.
 *                    Thread-safe: any thread may call afmpeg_run() on it at any time; a runtime
 *                    runs one invocation at a time and other callers wait their turn.
 *   afmpeg_fs        afmpeg_fs_new_memory() / afmpeg_fs_new_hostdir() / afmpeg_fs_new_custom()
 *                    ... afmpeg_fs_free()
 *                    The only files a job can see. Thread-safe for the built-in kinds (an internal
 *                    lock); a custom one is as thread-safe as its callbacks.
 *   afmpeg_pool      afmpeg_pool_new() ... afmpeg_pool_run() ... afmpeg_pool_close()
 *                    N instances for running jobs in parallel; thread-safe like a runtime.
 *   afmpeg_result    made by afmpeg_run(), freed by afmpeg_result_free(). Owned by the caller;
 *                    not shared, so any one thread may read it.
 *   afmpeg_cancel_token  afmpeg_cancel_token_new() ... afmpeg_cancel() ... _free()
 *                    Owned by the caller; afmpeg_cancel() from any thread stops its jobs.
 *
 * Limits
 * ------
 * Guest memory, wall time, bytes written and open files are limited by default (see
 * afmpeg_runtime_options); a job that hits a limit fails alone and the runtime goes on.
 * afmpeg uses SIGSEGV/SIGBUS (chained to the application's handlers) and one real-time signal,
 * SIGRTMIN + 5 (tagged; others are passed on), to stop running guests: see docs/sandbox.md.
 *
 * Errors
 * ------
 * Functions return AFMPEG_OK (0) or a negative afmpeg_error. afmpeg_strerror() names a code in
 * words; afmpeg_last_error() gives the detailed message of the calling thread's last failure.
 * The guest's own exit status is not an error: a job whose ffmpeg exits 1 returns AFMPEG_OK and
 * afmpeg_result_exit_code() == 1, with FFmpeg's message in afmpeg_result_stderr().
 *
 * Memory
 * ------
 * Strings handed to the library are copied or only read during the call, unless a comment says
 * otherwise. Buffers the library returns are owned by the object they come from, or, where the
 * comment says so, by the caller, who frees them with afmpeg_free().
 */
#ifndef AFMPEG_H
#define AFMPEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define AFMPEG_API __attribute__((visibility("default")))
#else
#define AFMPEG_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------------ */

#define AFMPEG_VERSION_MAJOR 0
#define AFMPEG_VERSION_MINOR 1
#define AFMPEG_VERSION_PATCH 0
#define AFMPEG_VERSION "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH; compare with afmpeg_version_number(). */
#define AFMPEG_VERSION_NUMBER 1000

/* The library's AFMPEG_VERSION_NUMBER, to check that header and library match. Any thread. */
AFMPEG_API int afmpeg_version_number(void);
/* The library's version string, static storage. Any thread. */
AFMPEG_API const char *afmpeg_version(void);

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------ */

/* X(name, value, message). Append only: values never change or get reused. */
#define AFMPEG_ERROR_LIST(X)                                                                   \
    X(OK, 0, "success")                                                                        \
    X(ERROR, -1, "unspecified error")                                                          \
    X(ENOMEM, -2, "out of memory")                                                             \
    X(EINVAL, -3, "invalid argument")                                                          \
    X(ENOTSUP, -4, "not supported")                                                            \
    X(EMODULE, -5, "the module could not be prepared")                                         \
    X(ETRAP, -6, "the guest trapped")                                                          \
    X(EIO, -7, "input/output error")                                                           \
    X(ENOENT, -8, "no such file or directory")                                                 \
    X(EEXIST, -9, "file exists")                                                               \
    X(EACCES, -10, "path outside the filesystem")                                              \
    X(EISDIR, -11, "is a directory")                                                           \
    X(ENOTDIR, -12, "not a directory")                                                         \
    X(ECLOSED, -13, "the runtime is closed")                                                   \
    X(ECANCELLED, -14, "the job was cancelled")                                                \
    X(ETIMEDOUT, -15, "the job ran past its deadline")                                         \
    X(ELIMIT, -16, "the job exceeded a limit")

typedef enum afmpeg_error {
#define AFMPEG_X_ENUM(name, value, msg) AFMPEG_##name = value,
    AFMPEG_ERROR_LIST(AFMPEG_X_ENUM)
#undef AFMPEG_X_ENUM
} afmpeg_error;

/* The message for an error code, e.g. "out of memory"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_strerror(int err);
/* The code's name, e.g. "AFMPEG_ENOMEM"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_errname(int err);
/* The detailed message of the calling thread's last failed afmpeg call, or "" if none. Valid
 * until that thread's next afmpeg call. */
AFMPEG_API const char *afmpeg_last_error(void);

/* Why a guest stopped abnormally (afmpeg_result_trap()). */
typedef enum afmpeg_trap {
    AFMPEG_TRAP_NONE = 0,
    AFMPEG_TRAP_OUT_OF_BOUNDS = 1,      /* memory or table access outside the guest's bounds */
    AFMPEG_TRAP_INT_OVERFLOW = 2,       /* integer overflow in a division or conversion */
    AFMPEG_TRAP_DIV_BY_ZERO = 3,        /* integer division by zero */
    AFMPEG_TRAP_INVALID_CONVERSION = 4, /* float to integer conversion of NaN */
    AFMPEG_TRAP_UNREACHABLE = 5,        /* the guest executed `unreachable` (e.g. abort()) */
    AFMPEG_TRAP_CALL_INDIRECT = 6,      /* indirect call to a null or mistyped function */
    AFMPEG_TRAP_STACK_EXHAUSTED = 7,    /* call stack exhausted (runaway recursion) */
    AFMPEG_TRAP_OTHER = 8
} afmpeg_trap;

/* The trap's name, e.g. "out of bounds memory access"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_trap_name(afmpeg_trap trap);

/* Frees memory the library handed to the caller (see each function). NULL is a no-op. */
AFMPEG_API void afmpeg_free(void *ptr);

/* ---------------------------------------------------------------------------------------------
 * Filesystems
 *
 * A job sees exactly one filesystem, as its root "/". Its current directory is "/". Paths the
 * guest uses are resolved by afmpeg against that root: "..", absolute paths and (for host
 * directories) symlinks can never lead outside it.
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_fs afmpeg_fs;

/* Flags for afmpeg_fs_ops.open. */
#define AFMPEG_FS_READ 0x01u
#define AFMPEG_FS_WRITE 0x02u
#define AFMPEG_FS_CREATE 0x04u    /* create the file if missing */
#define AFMPEG_FS_TRUNC 0x08u     /* truncate to 0 on open */
#define AFMPEG_FS_EXCL 0x10u      /* with CREATE: fail with -EEXIST if it exists */
#define AFMPEG_FS_DIRECTORY 0x20u /* the path must be a directory (opened for readdir) */

typedef enum afmpeg_fs_type {
    AFMPEG_FS_TYPE_UNKNOWN = 0,
    AFMPEG_FS_TYPE_FILE = 1,
    AFMPEG_FS_TYPE_DIRECTORY = 2
} afmpeg_fs_type;

typedef struct afmpeg_fs_stat {
    afmpeg_fs_type type;
    uint64_t size;     /* bytes, for files */
    uint64_t ino;      /* a number unique within the filesystem, or 0 */
    int64_t mtime_ns;  /* modification time, ns since the Unix epoch, or 0 */
} afmpeg_fs_stat;

typedef struct afmpeg_fs_dirent {
    char name[256];    /* one path component, NUL-terminated */
    afmpeg_fs_type type;
    uint64_t ino;
} afmpeg_fs_dirent;

#define AFMPEG_FS_OPS_VERSION 1

/*
 * A filesystem as callbacks, for afmpeg_fs_new_custom(). Every path passed in is relative to the
 * filesystem's root and already normalised by afmpeg: components separated by single '/', none
 * empty, "." or "..", no leading or trailing '/', at most 4095 bytes; "" is the root directory.
 * Errors are returned as negative POSIX errno values (-ENOENT, -EACCES, ...); afmpeg maps them to
 * the guest's errno. `payload` is the pointer given to afmpeg_fs_new_custom(). Handles returned
 * by open are opaque to afmpeg and passed back until close.
 * Callbacks may be called from whichever thread runs the job; at most one job at a time runs
 * per runtime, but one filesystem handed to jobs on several runtimes at once sees concurrent
 * calls.
 */
typedef struct afmpeg_fs_ops {
    unsigned version; /* AFMPEG_FS_OPS_VERSION */
    /* Opens a file or (with AFMPEG_FS_DIRECTORY) a directory. 0 and *out_handle set, or -errno. */
    int (*open)(void *payload, const char *path, unsigned flags, void **out_handle);
    /* Releases a handle. */
    int (*close)(void *payload, void *handle);
    /* Reads up to len bytes at offset: bytes read (0 at end of file), or -errno. */
    int64_t (*pread)(void *payload, void *handle, void *buf, size_t len, uint64_t offset);
    /* Writes len bytes at offset, growing the file as needed: bytes written, or -errno. */
    int64_t (*pwrite)(void *payload, void *handle, const void *buf, size_t len, uint64_t offset);
    /* Stat of an open handle. */
    int (*fstat)(void *payload, void *handle, afmpeg_fs_stat *out);
    /* Sets the size of an open file. May be NULL (-ENOTSUP). */
    int (*ftruncate)(void *payload, void *handle, uint64_t size);
    /* Stat of a path. */
    int (*stat)(void *payload, const char *path, afmpeg_fs_stat *out);
    /* Entry number `index` (0, 1, 2, ...) of an open directory, without "." and "..":
     * 1 and *out filled, 0 past the last entry, or -errno. May be NULL (-ENOTSUP). */
    int (*readdir)(void *payload, void *handle, uint64_t index, afmpeg_fs_dirent *out);
    /* Directory operations. Each may be NULL (-ENOTSUP). */
    int (*mkdir)(void *payload, const char *path);
    int (*unlink)(void *payload, const char *path);
    int (*rmdir)(void *payload, const char *path);
    int (*rename)(void *payload, const char *from, const char *to);
    /* Called once by afmpeg_fs_free(). May be NULL. */
    void (*destroy)(void *payload);
} afmpeg_fs_ops;

/* Constructor: an empty in-memory filesystem. Its files live in host memory until
 * afmpeg_fs_free(). Any thread. */
AFMPEG_API int afmpeg_fs_new_memory(afmpeg_fs **out);

/* Constructor: the host directory `dir`, jailed to itself: the guest can read and write what is
 * below it and nothing else ("..", absolute paths and symlinks leading out are refused with
 * EACCES-like errors). The directory must exist. `dir` is copied. Any thread. */
AFMPEG_API int afmpeg_fs_new_hostdir(afmpeg_fs **out, const char *dir);

/* Constructor: a filesystem made of the caller's callbacks. `ops` is copied; `payload` is
 * borrowed until afmpeg_fs_free(), which calls ops->destroy(payload) if set. Any thread. */
AFMPEG_API int afmpeg_fs_new_custom(afmpeg_fs **out, const afmpeg_fs_ops *ops, void *payload);

/* Destructor. Must not be called while a job is using the filesystem. NULL is a no-op. */
AFMPEG_API void afmpeg_fs_free(afmpeg_fs *fs);

/* Host-side helpers, usable on any kind of filesystem, with the same path rules the guest has
 * (a leading '/' is allowed and means the root). Any thread. */

/* Creates or replaces the file at `path` with `len` bytes of `data` (copied). Parent directories
 * must exist. */
AFMPEG_API int afmpeg_fs_write_file(afmpeg_fs *fs, const char *path, const void *data,
                                    size_t len);
/* Reads the whole file at `path` into a new buffer (NUL-terminated for convenience, the NUL not
 * counted in *out_len). The caller frees *out_data with afmpeg_free(). */
AFMPEG_API int afmpeg_fs_read_file(afmpeg_fs *fs, const char *path, void **out_data,
                                   size_t *out_len);
/* Creates a directory; its parent must exist. */
AFMPEG_API int afmpeg_fs_mkdir(afmpeg_fs *fs, const char *path);
/* Removes a file. */
AFMPEG_API int afmpeg_fs_remove(afmpeg_fs *fs, const char *path);
/* Stats a path. */
AFMPEG_API int afmpeg_fs_stat_path(afmpeg_fs *fs, const char *path, afmpeg_fs_stat *out);

/* ---------------------------------------------------------------------------------------------
 * Runtime
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_runtime afmpeg_runtime;

#define AFMPEG_RUNTIME_OPTIONS_VERSION 1

/* Limits. Every one is on by default; a runtime's options set its defaults, and a job's options
 * override them for that job. 0 always means "the default". */
typedef struct afmpeg_runtime_options {
    unsigned version;      /* AFMPEG_RUNTIME_OPTIONS_VERSION */
    /* Largest linear memory a guest may grow to, in bytes (rounded down to 64 KiB pages, at
     * most 4 GiB). 0 means the default, 512 MiB. Past it, the guest's allocations fail. */
    uint64_t memory_limit;
    /* Wall-clock time a job may run, from when it starts running (not while it queues), in
     * milliseconds. 0: one hour. Past it the job stops with AFMPEG_ETIMEDOUT. */
    uint64_t timeout_ms;
    /* Bytes a job may write to its files, in all. 0: 64 GiB. Past it the job stops with
     * AFMPEG_ELIMIT; what it wrote before stays, other files are untouched. */
    uint64_t output_limit;
    /* Files a job may have open at once. 0: 256. Past it the job stops with AFMPEG_ELIMIT. */
    unsigned max_open_files;
} afmpeg_runtime_options;

#define AFMPEG_RUNTIME_OPTIONS_INIT {AFMPEG_RUNTIME_OPTIONS_VERSION, 0, 0, 0, 0}

/* Fills *opts with the defaults, as AFMPEG_RUNTIME_OPTIONS_INIT does. */
AFMPEG_API void afmpeg_runtime_options_init(afmpeg_runtime_options *opts);

/* Constructor: prepares the embedded FFmpeg module (the expensive step: do it once and keep the
 * runtime). `opts` may be NULL for defaults; it is read during the call only. On failure *out is
 * NULL and afmpeg_last_error() says why. Any thread. */
AFMPEG_API int afmpeg_new(afmpeg_runtime **out, const afmpeg_runtime_options *opts);

/* Destructor. Waits for a running job to finish; jobs still queued return AFMPEG_ECLOSED.
 * No other call may use `rt` after this returns. NULL is a no-op. */
AFMPEG_API void afmpeg_close(afmpeg_runtime *rt);

/* ---------------------------------------------------------------------------------------------
 * Jobs
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_result afmpeg_result;

/*
 * A cancel token, owned by the caller. Hand it to one or more jobs (afmpeg_job_options.cancel);
 * afmpeg_cancel() from any thread, at any time, stops them: a job still queued returns
 * AFMPEG_ECANCELLED at once, a running one stops within milliseconds (also when the guest is in
 * a loop that never calls the host). Cancellation is sticky: a job started later with a cancelled
 * token returns AFMPEG_ECANCELLED without running. Thread-safe.
 */
typedef struct afmpeg_cancel_token afmpeg_cancel_token;

/* Constructor. Any thread. */
AFMPEG_API int afmpeg_cancel_token_new(afmpeg_cancel_token **out);
/* Destructor. No job may be using the token. NULL is a no-op. */
AFMPEG_API void afmpeg_cancel_token_free(afmpeg_cancel_token *token);
/* Cancels every job using the token, now and later. Any thread, also from an output callback.
 * Not async-signal-safe (it takes locks): from a signal handler, wake a thread that calls it. */
AFMPEG_API void afmpeg_cancel(afmpeg_cancel_token *token);
/* 1 once afmpeg_cancel() was called on the token, else 0. Any thread. */
AFMPEG_API int afmpeg_cancel_requested(const afmpeg_cancel_token *token);

/* Receives guest output as it is written. Return 0 to go on; non-zero makes the guest's write
 * fail (EIO). `data` is valid during the call only. */
typedef int (*afmpeg_output_fn)(const void *data, size_t len, void *payload);

#define AFMPEG_JOB_OPTIONS_VERSION 1

typedef struct afmpeg_job_options {
    unsigned version;            /* AFMPEG_JOB_OPTIONS_VERSION */
    /* The guest's standard input; borrowed for the duration of the call. NULL: empty. */
    const void *stdin_data;
    size_t stdin_len;
    /* Where standard output and error go. NULL: captured into the result. */
    afmpeg_output_fn on_stdout;
    afmpeg_output_fn on_stderr;
    void *output_payload;        /* passed to on_stdout and on_stderr */
    /* Most bytes of standard error kept in the result (the tail is kept). 0: 1 MiB. */
    size_t stderr_limit;
    /* Stops the job when cancelled; borrowed for the call. NULL: none. */
    afmpeg_cancel_token *cancel;
    /* This job's limits; 0 takes the runtime's (see afmpeg_runtime_options). */
    uint64_t timeout_ms;
    uint64_t memory_limit;
    uint64_t output_limit;
    unsigned max_open_files;
} afmpeg_job_options;

#define AFMPEG_JOB_OPTIONS_INIT                                                                \
    {AFMPEG_JOB_OPTIONS_VERSION, NULL, 0, NULL, NULL, NULL, 0, NULL, 0, 0, 0, 0}

/* Fills *opts with the defaults, as AFMPEG_JOB_OPTIONS_INIT does. */
AFMPEG_API void afmpeg_job_options_init(afmpeg_job_options *opts);

/*
 * Runs one ffmpeg or ffprobe command line in a fresh guest instance.
 *
 * argv:   NULL-terminated; argv[0] chooses the tool: "ffmpeg" or "ffprobe" (a path is allowed:
 *         its last component counts). Copied.
 * fs:     the job's filesystem, its root "/" and current directory. Borrowed for the call.
 * opts:   NULL for defaults.
 * out:    a new result the caller frees with afmpeg_result_free(), whenever the guest ran
 *         (AFMPEG_OK, AFMPEG_ETRAP, AFMPEG_ECANCELLED, AFMPEG_ETIMEDOUT, AFMPEG_ELIMIT); NULL
 *         when it did not.
 *
 * Returns AFMPEG_OK when the guest ran to its exit, whatever its exit code. When the guest was
 * stopped (it trapped, was cancelled, ran past its deadline or over a limit), the matching error,
 * with the result holding the output so far; afmpeg_last_error() says what happened. The runtime
 * stays usable after all of these. Other errors are the host's (invalid argument, out of memory,
 * closed runtime) or a cancel before the job started (AFMPEG_ECANCELLED, no result).
 * Thread-safe: calls on one runtime run one at a time, in turn.
 */
AFMPEG_API int afmpeg_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
                          afmpeg_result **out);
/* afmpeg_run() with job options. */
AFMPEG_API int afmpeg_run_ex(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
                             const afmpeg_job_options *opts, afmpeg_result **out);

/* The guest's exit status (0 success); -1 if it was stopped (trap, cancel, deadline, limit). */
AFMPEG_API int afmpeg_result_exit_code(const afmpeg_result *res);
/* How the guest trapped, or AFMPEG_TRAP_NONE. */
AFMPEG_API afmpeg_trap afmpeg_result_trap(const afmpeg_result *res);
/* Captured standard output: owned by the result, NUL-terminated (the NUL not counted in *len).
 * Empty when an on_stdout callback took it. `len` may be NULL. */
AFMPEG_API const char *afmpeg_result_stdout(const afmpeg_result *res, size_t *len);
/* Captured standard error (its tail, see stderr_limit), as afmpeg_result_stdout(). */
AFMPEG_API const char *afmpeg_result_stderr(const afmpeg_result *res, size_t *len);
/* Destructor. NULL is a no-op. */
AFMPEG_API void afmpeg_result_free(afmpeg_result *res);

/* ---------------------------------------------------------------------------------------------
 * Pool
 *
 * N instances of the one compiled module, for running jobs in parallel. A job takes any free
 * instance; beyond N, callers queue in arrival order. Instances are made per job and released
 * after it, so an idle pool holds no guest memory. Thread-safe, like a runtime.
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_pool afmpeg_pool;

#define AFMPEG_POOL_OPTIONS_VERSION 1

typedef struct afmpeg_pool_options {
    unsigned version;                 /* AFMPEG_POOL_OPTIONS_VERSION */
    unsigned instances;               /* 0: the number of online CPUs */
    afmpeg_runtime_options runtime;   /* the jobs' default limits */
} afmpeg_pool_options;

#define AFMPEG_POOL_OPTIONS_INIT {AFMPEG_POOL_OPTIONS_VERSION, 0, AFMPEG_RUNTIME_OPTIONS_INIT}

/* Fills *opts with the defaults, as AFMPEG_POOL_OPTIONS_INIT does. */
AFMPEG_API void afmpeg_pool_options_init(afmpeg_pool_options *opts);

/* Constructor. `opts` may be NULL. Any thread. */
AFMPEG_API int afmpeg_pool_new(afmpeg_pool **out, const afmpeg_pool_options *opts);

/* Runs a job on a free instance, as afmpeg_run_ex() does on a runtime. Thread-safe. */
AFMPEG_API int afmpeg_pool_run(afmpeg_pool *pool, afmpeg_fs *fs, const char *const *argv,
                               const afmpeg_job_options *opts, afmpeg_result **out);

typedef struct afmpeg_pool_stats {
    unsigned instances;    /* the pool's size */
    unsigned running;      /* jobs running now */
    unsigned queued;       /* callers waiting for an instance */
    uint64_t idle_bytes;   /* host memory an idle instance holds (no guest memory) */
} afmpeg_pool_stats;

/* A snapshot of the pool's state. Thread-safe. */
AFMPEG_API int afmpeg_pool_stats_get(afmpeg_pool *pool, afmpeg_pool_stats *out);

/* How afmpeg_pool_close() treats jobs still running. */
typedef enum afmpeg_close_mode {
    AFMPEG_CLOSE_WAIT = 0,   /* let running jobs finish */
    AFMPEG_CLOSE_CANCEL = 1  /* cancel them (they return AFMPEG_ECANCELLED) */
} afmpeg_close_mode;

/* Destructor. Queued callers return AFMPEG_ECLOSED at once; running jobs finish or are cancelled
 * as `mode` says; returns when none is left. NULL is a no-op. */
AFMPEG_API void afmpeg_pool_close(afmpeg_pool *pool, afmpeg_close_mode mode);

#ifdef __cplusplus
}
#endif
#endif /* AFMPEG_H */
