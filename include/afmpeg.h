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
 *                    The compiled module, prepared once: build it at startup, share it across
 *                    requests, close it at shutdown. Thread-safe: any thread may run jobs on it at
 *                    any time. It runs `instances` jobs at once (afmpeg_runtime_options, default
 *                    1); further callers wait their turn in arrival order.
 *   afmpeg_fs        afmpeg_fs_new_memory() / afmpeg_fs_new_hostdir() / afmpeg_fs_new_custom()
 *                    ... afmpeg_fs_free()
 *                    The only files a job can see. Thread-safe for the built-in kinds (an internal
 *                    lock); a custom one is as thread-safe as its callbacks.
 *   afmpeg_result    made by afmpeg_run(), freed by afmpeg_result_free(). Owned by the caller;
 *                    not shared, so any one thread may read it.
 *   afmpeg_cancel_token  afmpeg_cancel_token_new() ... afmpeg_cancel_token_cancel() ... _free()
 *                    Owned by the caller; cancelling it from any thread stops its jobs.
 *   afmpeg_command   afmpeg_command_new() ... setters ... afmpeg_run_job() ... _free()
 *                    A job described rather than spelled as an argv. Built by one thread; once
 *                    built, read-only and usable by many at once.
 *   afmpeg_probe_result  made by afmpeg_probe(), freed by afmpeg_probe_result_free().
 *   afmpeg_frame_list    made by afmpeg_frames() / afmpeg_thumbnail(), freed by
 *                    afmpeg_frame_list_free(). Results are the caller's, like afmpeg_result.
 *
 * Conventions
 * -----------
 *   Names     afmpeg_<verb> acts on a runtime (afmpeg_run, afmpeg_probe); every other call is
 *             afmpeg_<object>_<verb> (afmpeg_fs_write_file, afmpeg_command_add_input).
 *   Arguments the object acted on comes first; output parameters come last and are named out or
 *             out_<what>. On failure an output pointer is set to NULL (or 0).
 *   Options   a call that takes options takes a pointer to a versioned struct that may be NULL
 *             for the defaults; there are no _ex variants. Initialise a struct with its _INIT
 *             macro or its _init() function (the two give the same bytes) and set the fields you
 *             need: fields are only ever appended, with the version raised. A struct of an
 *             older version (a program built against an older header) is read up to its own
 *             fields only, with the meaning they had in that version; the fields it lacks take
 *             the values that keep that meaning. Fields added after 1.0 say "since 1.x".
 *   Callbacks each says which thread calls it and what it may do. None may close the runtime or
 *             free an object the running call uses.
 *
 * Limits
 * ------
 * Guest memory, wall time, bytes written and open files are limited by default (see
 * afmpeg_limits); a job that hits a limit fails alone and the runtime goes on.
 * afmpeg uses SIGSEGV/SIGBUS (chained to the application's handlers) and one real-time signal,
 * SIGRTMIN + 5 (tagged; others are passed on), to stop running guests: see docs/sandbox.md.
 *
 * Errors
 * ------
 * Functions return AFMPEG_OK (0) or a negative afmpeg_error. afmpeg_strerror() names a code in
 * words; afmpeg_last_error() gives the detailed message of the calling thread's last call: every
 * public call that returns an afmpeg_error sets it when it fails and empties it when it succeeds.
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

/* MAJOR changes only with an incompatible change of this API or ABI (and the shared library's
 * soname, libafmpeg.so.MAJOR, with it); MINOR when something is added. */
#define AFMPEG_VERSION_MAJOR 1
#define AFMPEG_VERSION_MINOR 3
#define AFMPEG_VERSION_PATCH 0
#define AFMPEG_VERSION "1.3.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH; compare with afmpeg_version_number(). */
#define AFMPEG_VERSION_NUMBER 1003000

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
    X(ELIMIT, -16, "the job exceeded a limit")                                                 \
    X(EMEDIA, -17, "the media could not be read")

typedef enum afmpeg_error {
#define AFMPEG_X_ENUM(name, value, msg) AFMPEG_##name = value,
    AFMPEG_ERROR_LIST(AFMPEG_X_ENUM)
#undef AFMPEG_X_ENUM
} afmpeg_error;

/* The message for an error code, e.g. "out of memory"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_strerror(int err);
/* The code's name, e.g. "AFMPEG_ENOMEM"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_errname(int err);
/* The detailed message of the calling thread's last afmpeg call that returns an afmpeg_error:
 * what failed and why, e.g. "in.mp4: no such file" (no function name); "" when that call
 * succeeded. Valid until that thread's next afmpeg call. */
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
 * Callbacks are called from the thread that runs the job (the caller of afmpeg_run() and the
 * other job calls) and from the thread calling an afmpeg_fs_* helper. One filesystem handed to
 * several jobs at once (on a runtime with more than one instance, or on several runtimes) sees
 * concurrent calls: the callbacks must then be thread-safe. They must not call into afmpeg
 * with this filesystem or the runtime running the job.
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
AFMPEG_API int afmpeg_fs_new_hostdir(const char *dir, afmpeg_fs **out);

/* Constructor: a filesystem made of the caller's callbacks. `ops` is copied; `payload` is
 * borrowed until afmpeg_fs_free(), which calls ops->destroy(payload) if set. Any thread. */
AFMPEG_API int afmpeg_fs_new_custom(const afmpeg_fs_ops *ops, void *payload,
                                    afmpeg_fs **out);

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

/* Limits on one job. Every one is on by default: a runtime's limits are its jobs' defaults, and a
 * job's own (afmpeg_job_options.limits) override them for that job, field by field. 0 always
 * means "the default". */
typedef struct afmpeg_limits {
    /* Largest linear memory a guest may grow to, in bytes (rounded down to 64 KiB pages, at
     * most 4 GiB). 0 means the default, 512 MiB. Past it, the guest's allocations fail. Below
     * what the module needs to start (about 11 MiB), jobs stop at once with AFMPEG_ELIMIT. */
    uint64_t memory_limit;
    /* Wall-clock time a job may run, from when it starts running (not while it queues), in
     * milliseconds. 0: one hour. Past it the job stops with AFMPEG_ETIMEDOUT. */
    uint64_t timeout_ms;
    /* Bytes a job may write to its files, in all. 0: 64 GiB. Past it the job stops with
     * AFMPEG_ELIMIT; what it wrote before stays, other files are untouched. */
    uint64_t output_limit;
    /* Files a job may have open at once. 0: 256. Past it the job stops with AFMPEG_ELIMIT. */
    unsigned max_open_files;
} afmpeg_limits;

#define AFMPEG_LIMITS_INIT {0, 0, 0, 0}

/* Called while afmpeg_new() or afmpeg_module_compile() translates and compiles a module, on the
 * calling thread: `step` is "translate", "compile" or "link", `fraction` the share of the whole
 * compile done so far (0 to 1). It may not call into the runtime being made. */
typedef void (*afmpeg_compile_progress_fn)(void *payload, const char *step, double fraction);

#define AFMPEG_RUNTIME_OPTIONS_VERSION 2

typedef struct afmpeg_runtime_options {
    unsigned version;      /* AFMPEG_RUNTIME_OPTIONS_VERSION */
    /*
     * How many jobs the runtime runs at once, each on a guest instance of its own. 0 means 1,
     * the default: one job at a time, others wait in arrival order. A job runs on one core, so
     * for parallel work choose about the number of cores you give to media work; every running
     * job holds its own guest memory (up to limits.memory_limit), so memory_limit * instances
     * bounds the guest memory of the whole runtime. Instances are made per job and released
     * after it: an idle runtime holds no guest memory. At most 1024.
     */
    unsigned instances;
    afmpeg_limits limits;  /* the jobs' default limits */
    /*
     * Since 1.2: the module the runtime runs; all NULL: the one built into the library. Either
     * a file, a WebAssembly module (.wasm) or a module file made by afmpeg_module_compile(), or
     * a .wasm in memory (module_data, module_size bytes; read during afmpeg_new() only). A .wasm
     * is checked (a WASI preview1 command importing only the WASI functions afmpeg provides:
     * docs/modules.md), translated and compiled to native code once and kept in cache_dir; a
     * later afmpeg_new() of the same module, in this process or another, loads it from there.
     * Compiling needs the translator installed with afmpeg and a C compiler (AFMPEG_ENOTSUP
     * names what is missing) and takes from a second to minutes (FFmpeg: about 8 minutes on 2
     * cores); a module file needs neither. Not both module_path and module_data.
     */
    const char *module_path;
    const void *module_data;
    size_t module_size;
    /* Since 1.2: the SHA-256 the .wasm must have (64 hex digits), or NULL. For a module file,
     * the SHA-256 of the .wasm it was compiled from. A mismatch fails with AFMPEG_EMODULE before
     * anything is compiled or run. */
    const char *module_sha256;
    /* Since 1.2: where compiled modules are kept. NULL: $AFMPEG_CACHE_DIR/modules, else
     * $XDG_CACHE_HOME/afmpeg/modules, else ~/.cache/afmpeg/modules. */
    const char *cache_dir;
    /* Since 1.2: compile progress (may be NULL), and its payload. */
    afmpeg_compile_progress_fn on_compile;
    void *compile_payload;
} afmpeg_runtime_options;

#define AFMPEG_RUNTIME_OPTIONS_INIT \
    {AFMPEG_RUNTIME_OPTIONS_VERSION, 0, AFMPEG_LIMITS_INIT, NULL, NULL, 0, NULL, NULL, NULL, NULL}

/* Fills *opts with the defaults, as AFMPEG_RUNTIME_OPTIONS_INIT does. NULL is a no-op. */
AFMPEG_API void afmpeg_runtime_options_init(afmpeg_runtime_options *opts);

/* Constructor: prepares the module (the embedded FFmpeg one unless `opts` names another; the
 * expensive step: do it once and keep the runtime). `opts` may be NULL for defaults; it is read
 * during the call only. On failure *out is NULL and afmpeg_last_error() says why: AFMPEG_EINVAL
 * for bad options, AFMPEG_ENOTSUP on an x86-64 CPU older than x86-64-v2 (SSE4.2; the module's
 * native code needs it) or when a .wasm needs compiling and no translator or C compiler is
 * installed, AFMPEG_ENOENT for a module file that does not exist, AFMPEG_EMODULE for a module
 * that is invalid, imports what afmpeg does not provide, has another SHA-256 than
 * module_sha256, or fails to compile (the message names the cause). Any thread; several
 * runtimes, each with its own module, may exist at once. */
AFMPEG_API int afmpeg_new(const afmpeg_runtime_options *opts, afmpeg_runtime **out);

/* Since 1.2: translates and compiles the .wasm at `wasm_path` into a module file at `out_path`
 * (replaced whole or not at all) that afmpeg_new() loads through module_path, also on a machine
 * without a compiler (same afmpeg version and CPU kind). `opts` (may be NULL): module_sha256 and
 * on_compile are used. Errors as for afmpeg_new(). Any thread. */
AFMPEG_API int afmpeg_module_compile(const char *wasm_path, const char *out_path,
                                     const afmpeg_runtime_options *opts);

/* How afmpeg_close() treats jobs still running. */
typedef enum afmpeg_close_mode {
    AFMPEG_CLOSE_WAIT = 0,   /* let running jobs finish */
    AFMPEG_CLOSE_CANCEL = 1  /* cancel them (they return AFMPEG_ECANCELLED) */
} afmpeg_close_mode;

/* Destructor. Jobs still waiting for an instance return AFMPEG_ECLOSED at once; running jobs
 * finish or are cancelled as `mode` says; returns when none is left. New calls on `rt` made
 * while it closes return AFMPEG_ECLOSED; no call may use `rt` after this returns. Must not be
 * called from a callback of a job on `rt`. NULL is a no-op. */
AFMPEG_API void afmpeg_close(afmpeg_runtime *rt, afmpeg_close_mode mode);

typedef struct afmpeg_runtime_stats {
    unsigned instances;    /* jobs the runtime runs at once */
    unsigned running;      /* jobs running now */
    unsigned queued;       /* callers waiting for an instance */
    uint64_t idle_bytes;   /* host memory an idle instance holds: no guest memory, its share of
                            * the runtime's memory image (docs/api.md) */
} afmpeg_runtime_stats;

/* A snapshot of the runtime's state into *out. Thread-safe. */
AFMPEG_API int afmpeg_stats(afmpeg_runtime *rt, afmpeg_runtime_stats *out);

/* What a runtime's module is: its FFmpeg and what it was built with. */
typedef struct afmpeg_module_info {
    const char *ffmpeg_version;  /* as `ffmpeg -version` says, e.g. "5.1.9" */
    /* FFmpeg's own words for the licence of the build: "LGPL version 2.1 or later", or
     * "GPL version 2 or later" for the GPL variant (docs/build.md). */
    const char *license;
    const char *configuration;   /* configure's arguments, as `ffmpeg -buildconf` gives them */
    /* The components, NULL-terminated lists of the names ffmpeg's command line takes. */
    const char *const *encoders;
    const char *const *decoders;
    const char *const *muxers;
    const char *const *demuxers;
    const char *const *filters;
    const char *const *bsfs;
    const char *const *protocols;
} afmpeg_module_info;

/* Describes the runtime's module into *out, owned by the runtime and valid until
 * afmpeg_close(). The first call asks the module (a few short guest jobs, run as the runtime's
 * jobs are); later calls return the same description. Thread-safe. */
AFMPEG_API int afmpeg_module_info_get(afmpeg_runtime *rt, const afmpeg_module_info **out);

/* ---------------------------------------------------------------------------------------------
 * Jobs
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_result afmpeg_result;

/*
 * A cancel token, owned by the caller. Hand it to one or more jobs (afmpeg_job_options.cancel);
 * afmpeg_cancel_token_cancel() from any thread, at any time, stops them: a job still queued returns
 * AFMPEG_ECANCELLED at once, a running one stops within milliseconds (also when the guest is in
 * a loop that never calls the host). Cancellation is sticky: a job started later with a cancelled
 * token returns AFMPEG_ECANCELLED without running. Thread-safe.
 */
typedef struct afmpeg_cancel_token afmpeg_cancel_token;

/* Constructor. Any thread. */
AFMPEG_API int afmpeg_cancel_token_new(afmpeg_cancel_token **out);
/* Destructor. No job may be using the token. NULL is a no-op. */
AFMPEG_API void afmpeg_cancel_token_free(afmpeg_cancel_token *token);
/* Cancels every job using the token, now and later. Any thread, also from a job's callbacks.
 * Not async-signal-safe (it takes locks): from a signal handler, wake a thread that calls it.
 * NULL is a no-op. */
AFMPEG_API void afmpeg_cancel_token_cancel(afmpeg_cancel_token *token);
/* 1 once the token was cancelled, else 0 (also for NULL). Any thread. */
AFMPEG_API int afmpeg_cancel_token_is_cancelled(const afmpeg_cancel_token *token);

/* Receives guest output as it is written, on the thread that runs the job, while the job runs.
 * Return 0 to go on; non-zero makes the guest's write fail (EIO). `data` is valid during the
 * call only. It may cancel a token; it must not run jobs on, or close, the job's runtime. */
typedef int (*afmpeg_output_fn)(const void *data, size_t len, void *payload);

/* What a running ffmpeg reports about its progress (see afmpeg_job_options.on_progress). Values
 * FFmpeg has not reported yet are 0, or -1 where the comment says so. */
typedef struct afmpeg_progress {
    int64_t frame;       /* video frames written so far */
    double fps;          /* frames per second of work */
    double out_time;     /* seconds of output written (the output timeline) */
    double speed;        /* out_time per second of work (1.0 = real time); -1 if unknown */
    double bitrate;      /* output bits per second so far; -1 if unknown */
    int64_t total_size;  /* bytes written to the output so far; -1 if unknown */
    /* Share of the job done, in [0, 1], when the output's length is known (from the inputs'
     * durations, their seeks and -t, and the outputs' -t / -to), else -1. It reaches 1 only in
     * the last call, made once the job has ended successfully. */
    double fraction;
    int done;            /* 1 in that last call, else 0 */
} afmpeg_progress;

/* Receives progress, on the thread that runs the job, about twice a second and once at the
 * end. `p` is valid during the call only. Return 0 to go on; non-zero cancels the job, which
 * then returns AFMPEG_ECANCELLED. It may cancel a token; it must not run jobs on, or close, the
 * job's runtime. */
typedef int (*afmpeg_progress_fn)(const afmpeg_progress *p, void *payload);

#define AFMPEG_JOB_OPTIONS_VERSION 2

/* afmpeg_job_options.parallel: as many video segments as the runtime has instances. */
#define AFMPEG_PARALLEL_AUTO (-1)

typedef struct afmpeg_job_options {
    unsigned version;            /* AFMPEG_JOB_OPTIONS_VERSION */
    /* This job's limits; a 0 field takes the runtime's (see afmpeg_limits). */
    afmpeg_limits limits;
    /* Stops the job when cancelled; borrowed for the call. NULL: none. */
    afmpeg_cancel_token *cancel;
    /* The guest's standard input; borrowed for the duration of the call. NULL: empty. Used by
     * afmpeg_run() only. */
    const void *stdin_data;
    size_t stdin_len;
    /* Where standard output and error go. NULL: captured into the result. Used by afmpeg_run()
     * and afmpeg_run_job(); the library's own jobs (probe, frames) keep their output. */
    afmpeg_output_fn on_stdout;
    afmpeg_output_fn on_stderr;
    void *output_payload;        /* passed to on_stdout and on_stderr */
    /* Most bytes of standard error kept in the result (the tail is kept). 0: 1 MiB. */
    size_t stderr_limit;
    /* Progress of an ffmpeg job (afmpeg_run_job(), and afmpeg_run() of an ffmpeg command line,
     * where the fraction is always -1 since afmpeg does not know the inputs). Not called by
     * ffprobe jobs, afmpeg_probe() and afmpeg_frames(). NULL: none. */
    afmpeg_progress_fn on_progress;
    void *progress_payload;
    /* Since 1.3 (version 2): split and stitch, for afmpeg_run_job() (docs/jobs.md). 0: the job
     * runs as one piece, on one instance. AFMPEG_PARALLEL_AUTO: its video is cut at the input's
     * keyframes into as many segments as the runtime has instances, which encode at once (the
     * audio as one piece beside them), and the pieces are joined by a stream copy. N >= 2: N
     * segments (at most 64). A command that cannot be split without changing its output runs as
     * one piece; afmpeg_result_segments() tells which way it ran and why. The limits apply to
     * each piece; progress calls come from the pieces' threads, one at a time. */
    int parallel;
} afmpeg_job_options;

#define AFMPEG_JOB_OPTIONS_INIT                                                                \
    {AFMPEG_JOB_OPTIONS_VERSION, AFMPEG_LIMITS_INIT, NULL, NULL, 0, NULL, NULL, NULL, 0, NULL,  \
     NULL, 0}

/* Fills *opts with the defaults, as AFMPEG_JOB_OPTIONS_INIT does. NULL is a no-op. */
AFMPEG_API void afmpeg_job_options_init(afmpeg_job_options *opts);

/*
 * Runs one ffmpeg or ffprobe command line in a fresh guest instance.
 *
 * argv:   NULL-terminated; argv[0] chooses the tool: "ffmpeg" or "ffprobe" (a path is allowed:
 *         its last component counts). Copied.
 * fs:     the job's filesystem, its root "/" and current directory. Borrowed for the call.
 * opts:   NULL for defaults; borrowed for the call.
 * out:    a new result the caller frees with afmpeg_result_free(), whenever the guest ran
 *         (AFMPEG_OK, AFMPEG_ETRAP, AFMPEG_ECANCELLED, AFMPEG_ETIMEDOUT, AFMPEG_ELIMIT); NULL
 *         when it did not.
 *
 * Returns AFMPEG_OK when the guest ran to its exit, whatever its exit code. When the guest was
 * stopped (it trapped, was cancelled, ran past its deadline or over a limit), the matching error,
 * with the result holding the output so far; afmpeg_last_error() says what happened. The runtime
 * stays usable after all of these. Other errors are the host's (invalid argument, out of memory,
 * closed runtime) or a cancel before the job started (AFMPEG_ECANCELLED, no result).
 * Thread-safe: a runtime runs `instances` jobs at once; other calls wait their turn.
 */
AFMPEG_API int afmpeg_run(afmpeg_runtime *rt, afmpeg_fs *fs, const char *const *argv,
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
 * Media descriptions (shared by probe results and job results)
 *
 * The structs below are made by the library and read by the caller: never allocate one
 * yourself, as later versions may append fields. Strings in them are never NULL ("" when
 * unknown) and live as long as the object that holds them.
 * ------------------------------------------------------------------------------------------ */

typedef enum afmpeg_media_type {
    AFMPEG_MEDIA_UNKNOWN = 0,
    AFMPEG_MEDIA_VIDEO = 1,
    AFMPEG_MEDIA_AUDIO = 2,
    AFMPEG_MEDIA_SUBTITLE = 3,
    AFMPEG_MEDIA_DATA = 4,
    AFMPEG_MEDIA_ATTACHMENT = 5
} afmpeg_media_type;

/* "video", "audio", "subtitle", "data", "attachment" or "unknown"; static storage. Any thread. */
AFMPEG_API const char *afmpeg_media_type_name(afmpeg_media_type type);

typedef struct afmpeg_rational {
    int num, den; /* 0/0 when unknown */
} afmpeg_rational;

typedef struct afmpeg_tag {
    const char *key, *value;
} afmpeg_tag;

/* Disposition flags of a stream (FFmpeg's AV_DISPOSITION_*, same names). */
#define AFMPEG_DISPOSITION_DEFAULT 0x0001u
#define AFMPEG_DISPOSITION_DUB 0x0002u
#define AFMPEG_DISPOSITION_ORIGINAL 0x0004u
#define AFMPEG_DISPOSITION_COMMENT 0x0008u
#define AFMPEG_DISPOSITION_LYRICS 0x0010u
#define AFMPEG_DISPOSITION_KARAOKE 0x0020u
#define AFMPEG_DISPOSITION_FORCED 0x0040u
#define AFMPEG_DISPOSITION_HEARING_IMPAIRED 0x0080u
#define AFMPEG_DISPOSITION_VISUAL_IMPAIRED 0x0100u
#define AFMPEG_DISPOSITION_CLEAN_EFFECTS 0x0200u
#define AFMPEG_DISPOSITION_ATTACHED_PIC 0x0400u
#define AFMPEG_DISPOSITION_TIMED_THUMBNAILS 0x0800u
#define AFMPEG_DISPOSITION_CAPTIONS 0x10000u
#define AFMPEG_DISPOSITION_DESCRIPTIONS 0x20000u
#define AFMPEG_DISPOSITION_METADATA 0x40000u
#define AFMPEG_DISPOSITION_DEPENDENT 0x80000u
#define AFMPEG_DISPOSITION_STILL_IMAGE 0x100000u

/* One stream of a container. Numbers not known are -1 (counts, rates, sizes) and times not known
 * are NaN (test with isnan()). */
typedef struct afmpeg_stream_info {
    int index;                     /* the stream's index in the container */
    afmpeg_media_type type;
    const char *codec;             /* codec name, e.g. "h264", "aac" */
    const char *codec_long_name;
    const char *profile;           /* e.g. "High", "LC"; "" if none */
    /* video */
    int width, height;
    const char *pixel_format;      /* e.g. "yuv420p" */
    afmpeg_rational sample_aspect_ratio;
    afmpeg_rational avg_frame_rate;
    afmpeg_rational real_frame_rate; /* ffprobe's r_frame_rate */
    double rotation;               /* degrees, from the display matrix; 0 if none */
    /* audio */
    int sample_rate, channels;
    const char *channel_layout;    /* e.g. "stereo" */
    /* all */
    int64_t bit_rate;              /* bits per second */
    double start_time, duration;   /* seconds */
    int64_t frame_count;           /* frames (nb_frames) when the container says */
    const char *language, *title;  /* from the stream's tags */
    unsigned disposition;          /* AFMPEG_DISPOSITION_* flags */
    size_t tag_count;
    const afmpeg_tag *tags;
} afmpeg_stream_info;

typedef struct afmpeg_chapter_info {
    int64_t id;
    double start, end;             /* seconds */
    const char *title;
} afmpeg_chapter_info;

/* ---------------------------------------------------------------------------------------------
 * Probe
 * ------------------------------------------------------------------------------------------ */

/* What afmpeg_probe() found, owned by the caller (afmpeg_probe_result_free()). */
typedef struct afmpeg_probe_result {
    const char *format_name;       /* e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    const char *format_long_name;
    double duration, start_time;   /* seconds; NaN when unknown */
    int64_t size, bit_rate;        /* bytes, bits per second; -1 when unknown */
    size_t tag_count;
    const afmpeg_tag *tags;        /* container tags */
    size_t chapter_count;
    const afmpeg_chapter_info *chapters;
    size_t stream_count;
    const afmpeg_stream_info *streams;
} afmpeg_probe_result;

/*
 * Probes the media file at `path` in `fs` (ffprobe in the sandbox) and returns its typed
 * description in *out, which the caller frees with afmpeg_probe_result_free().
 * Returns AFMPEG_OK; AFMPEG_ENOENT when the file does not exist, AFMPEG_EISDIR for a directory,
 * AFMPEG_EACCES for a path leading outside `fs`, AFMPEG_EINVAL for an empty one; AFMPEG_EMEDIA
 * when ffprobe cannot read it (afmpeg_last_error() then ends with the tail of ffprobe's
 * message); or the errors of afmpeg_run() (stopped, cancelled, closed). On error *out is NULL.
 * `opts` (may be NULL) gives the limits and the cancel token; output callbacks, stdin and
 * on_progress are not used.
 * What is kept of hostile media is bounded: at most 4096 streams, 65536 chapters, 1024 tags per
 * container or stream, and 64 KiB per string.
 * Thread-safe, like afmpeg_run().
 */
AFMPEG_API int afmpeg_probe(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                            const afmpeg_job_options *opts, afmpeg_probe_result **out);
/* Destructor. NULL is a no-op. */
AFMPEG_API void afmpeg_probe_result_free(afmpeg_probe_result *probe);

/* ---------------------------------------------------------------------------------------------
 * Commands
 *
 * An afmpeg_command describes an ffmpeg job: inputs, an optional filter graph, and outputs with
 * their maps, codecs and options. afmpeg_run_job() checks it and runs it; afmpeg_command_argv()
 * shows the ffmpeg command line it stands for. Setters copy their strings. Inputs and outputs are
 * numbered from 0 in the order they are added, as in ffmpeg. Times are in seconds.
 * A command is not thread-safe while it is being built; once built, any number of threads may
 * run or render it at once (those calls only read it).
 * Setters return AFMPEG_OK, or AFMPEG_EINVAL (bad index, NULL or empty string, negative time)
 * with a message naming the field, or AFMPEG_ENOMEM.
 * ------------------------------------------------------------------------------------------ */

typedef struct afmpeg_command afmpeg_command;

/* How an input seek lands (afmpeg_command_input_seek()). */
typedef enum afmpeg_seek_mode {
    /* Decode and discard up to the exact time. Cannot feed a stream copy. */
    AFMPEG_SEEK_ACCURATE = 0,
    /* Start at the keyframe at or before the time (cheap; stream copies start there too). */
    AFMPEG_SEEK_FAST = 1
} afmpeg_seek_mode;

/* Constructor: an empty command. Any thread. */
AFMPEG_API int afmpeg_command_new(afmpeg_command **out);
/* Destructor. NULL is a no-op. */
AFMPEG_API void afmpeg_command_free(afmpeg_command *cmd);

/* Adds an input file; *out_index (may be NULL) receives its number. */
AFMPEG_API int afmpeg_command_add_input(afmpeg_command *cmd, const char *path, int *out_index);
/* Adds one input that plays `count` files one after the other (FFmpeg's concat demuxer); the
 * files must have the same streams and codecs. afmpeg_run_job() hands the guest the list at
 * /.afmpeg/concat-N.txt, a read-only file of the job that shadows the same path in `fs`. */
AFMPEG_API int afmpeg_command_add_concat_input(afmpeg_command *cmd, const char *const *paths,
                                               size_t count, int *out_index);
/* Adds a raw video input: frames of `pixel_format` (e.g. "rgb24", "yuv420p"), width x height,
 * at `rate` frames per second (e.g. "25", "30000/1001"). */
AFMPEG_API int afmpeg_command_add_raw_video_input(afmpeg_command *cmd, const char *path,
                                                  int width, int height,
                                                  const char *pixel_format, const char *rate,
                                                  int *out_index);
/* Adds a raw PCM input: `sample_format` is a PCM format name ("s16le", "f32le"), at
 * `sample_rate` Hz with `channel_layout` ("mono", "stereo", "5.1"). */
AFMPEG_API int afmpeg_command_add_raw_audio_input(afmpeg_command *cmd, const char *path,
                                                  const char *sample_format, int sample_rate,
                                                  const char *channel_layout, int *out_index);
/* Forces the input's format (ffmpeg -f before -i), e.g. "mp4", "wav". */
AFMPEG_API int afmpeg_command_input_format(afmpeg_command *cmd, int input, const char *format);
/* Sets a demuxer option of the input (-key value before -i), e.g. "probesize", "5000000". */
AFMPEG_API int afmpeg_command_input_option(afmpeg_command *cmd, int input, const char *key,
                                           const char *value);
/* Starts reading the input at `seconds` (-ss before -i), as `mode` says. */
AFMPEG_API int afmpeg_command_input_seek(afmpeg_command *cmd, int input, double seconds,
                                         afmpeg_seek_mode mode);
/* Reads at most `seconds` of the input (-t before -i). */
AFMPEG_API int afmpeg_command_input_duration(afmpeg_command *cmd, int input, double seconds);

/* The command's filter graph (-filter_complex), as one string; its unlabelled inputs and
 * labelled outputs are used as in ffmpeg. Replaces an earlier one; NULL removes it. */
AFMPEG_API int afmpeg_command_filter_complex(afmpeg_command *cmd, const char *graph);
/* Keeps the inputs' timestamps (-copyts) when `on` is non-zero. */
AFMPEG_API int afmpeg_command_copyts(afmpeg_command *cmd, int on);

/* Adds an output file; *out_index (may be NULL) receives its number. */
AFMPEG_API int afmpeg_command_add_output(afmpeg_command *cmd, const char *path, int *out_index);
/* Forces the output's format (-f), e.g. "mp4", "hls", "segment". */
AFMPEG_API int afmpeg_command_output_format(afmpeg_command *cmd, int output, const char *format);
/* Adds a map to the output (-map): a graph label "[v]" or a stream specifier such as "0:v",
 * "0:a:1", "1:s" or "0:v:0?" . Output streams are numbered in the order of their maps. */
AFMPEG_API int afmpeg_command_output_map(afmpeg_command *cmd, int output, const char *map);
/* Sets the codec for the output's streams of `type` (-c:v, -c:a, -c:s): an encoder name, or
 * "copy" to copy the input's packets. */
AFMPEG_API int afmpeg_command_output_codec(afmpeg_command *cmd, int output,
                                           afmpeg_media_type type, const char *codec);
/* Sets a simple filter chain for the output's streams of `type` (-filter:v / -filter:a), e.g.
 * "scale=640:-2" or "cropdetect". */
AFMPEG_API int afmpeg_command_output_filter(afmpeg_command *cmd, int output,
                                            afmpeg_media_type type, const char *filter);
/* Sets an encoder or muxer option (-key value), e.g. "crf" "23", "b:v" "1M", "g" "50",
 * "movflags" "+faststart", "hls_time" "2", "segment_time" "1". Later values of a key win. */
AFMPEG_API int afmpeg_command_output_option(afmpeg_command *cmd, int output, const char *key,
                                            const char *value);
/* Sets the bitstream filters (-bsf:STREAM) for the output streams `stream` selects (a stream
 * specifier relative to the output: "v", "a:0", "1"), e.g. "h264_mp4toannexb". */
AFMPEG_API int afmpeg_command_output_bsf(afmpeg_command *cmd, int output, const char *stream,
                                         const char *filters);
/* Stops writing the output after `seconds` of it (-t). */
AFMPEG_API int afmpeg_command_output_duration(afmpeg_command *cmd, int output, double seconds);
/* Stops writing the output at its time `seconds` (-to). */
AFMPEG_API int afmpeg_command_output_end(afmpeg_command *cmd, int output, double seconds);
/* Sets a container tag (-metadata key=value); an empty value removes the tag. */
AFMPEG_API int afmpeg_command_output_metadata(afmpeg_command *cmd, int output, const char *key,
                                              const char *value);
/* Sets a tag of the output streams `stream` selects (-metadata:s:STREAM key=value), e.g.
 * "a:0" "language" "eng", or "s:0" "title" "English". */
AFMPEG_API int afmpeg_command_output_stream_metadata(afmpeg_command *cmd, int output,
                                                     const char *stream, const char *key,
                                                     const char *value);
/* Sets the disposition of the output streams `stream` selects (-disposition:STREAM), e.g.
 * "default", "default+forced", or "0" to clear it. */
AFMPEG_API int afmpeg_command_output_disposition(afmpeg_command *cmd, int output,
                                                 const char *stream, const char *disposition);
/* Copies chapters from input `input` (-map_chapters N); -1 writes none. Default: ffmpeg's
 * (from the first input that has any). */
AFMPEG_API int afmpeg_command_output_chapters(afmpeg_command *cmd, int output, int input);

/*
 * Checks the command without running it. Without a runtime (rt NULL) it checks the shape: at
 * least one input and one output, no empty paths, an accurate seek never feeding a stream copy,
 * every "[label]" map defined by the filter graph. With a runtime it also checks that each
 * codec, filter and format named is in the embedded module. Returns AFMPEG_OK or AFMPEG_EINVAL,
 * with afmpeg_last_error() naming the field, e.g. "output 0: map [v]: the filter graph has no
 * output labelled [v]". Thread-safe.
 */
AFMPEG_API int afmpeg_command_validate(const afmpeg_command *cmd, afmpeg_runtime *rt);

/*
 * Renders the command as the ffmpeg argv afmpeg_run_job() would run (argv[0] is "ffmpeg"),
 * without running anything; the shape is checked as afmpeg_command_validate(cmd, NULL) does.
 * *out_argv is NULL-terminated and one allocation the caller frees with afmpeg_free();
 * *out_argc (may be NULL) receives the count. Thread-safe.
 */
AFMPEG_API int afmpeg_command_argv(const afmpeg_command *cmd, char ***out_argv,
                                   size_t *out_argc);

/*
 * Runs the command: checks it (afmpeg_command_validate() with the runtime), runs ffmpeg on `fs`,
 * and, when ffmpeg exits 0, describes each output that is a file (probing it) in the result.
 * Returns as afmpeg_run() does: AFMPEG_OK whenever ffmpeg ran to its exit (see
 * afmpeg_result_exit_code()), the stop's error with a result when it was stopped, and other
 * errors (AFMPEG_EINVAL for a command that does not check out) with no result.
 * opts->on_progress gets the job's progress with a fraction when the length is known.
 * Thread-safe, like afmpeg_run().
 */
AFMPEG_API int afmpeg_run_job(afmpeg_runtime *rt, afmpeg_fs *fs, const afmpeg_command *cmd,
                              const afmpeg_job_options *opts, afmpeg_result **out);

/* One stream of a job's output. */
typedef struct afmpeg_output_stream {
    int index;                   /* the stream's index in the output */
    afmpeg_media_type type;
    const char *codec;           /* the codec written, e.g. "h264" */
    const char *encoder;         /* the encoder used, e.g. "libopenh264"; "" when copied */
    int copied;                  /* 1 when the packets were copied, not encoded */
} afmpeg_output_stream;

/* One output of a job, after it ran (afmpeg_result_output()). */
typedef struct afmpeg_output_info {
    const char *path;
    size_t stream_count;
    const afmpeg_output_stream *streams;
    /* The output file probed, or NULL when it is not a single file (a pattern, a playlist's
     * segments, a pipe) or could not be probed. */
    const afmpeg_probe_result *probe;
} afmpeg_output_info;

/* Since 1.3: how many video segments an afmpeg_run_job() was encoded in: 1 when it ran as one
 * piece. *why_not (when why_not is not NULL) is then the reason it was not split, owned by the
 * result, or NULL when no split was asked for (afmpeg_job_options.parallel 0) or it was split. 0
 * for a result not from afmpeg_run_job(). */
AFMPEG_API size_t afmpeg_result_segments(const afmpeg_result *res, const char **why_not);

/* The number of outputs described: the command's outputs after a run_job whose ffmpeg exited 0,
 * else 0. */
AFMPEG_API size_t afmpeg_result_output_count(const afmpeg_result *res);
/* Output i (0-based), owned by the result; NULL when i is out of range. */
AFMPEG_API const afmpeg_output_info *afmpeg_result_output(const afmpeg_result *res, size_t i);

/* A measurement an analysis filter logged (cropdetect, blackdetect, silencedetect, ebur128). */
typedef struct afmpeg_measurement {
    const char *filter;  /* "cropdetect", "blackdetect", "silencedetect" or "ebur128" */
    double time;         /* seconds on the filter's timeline; NaN for a summary value */
    const char *key;     /* e.g. "crop", "black_start", "silence_end", "I" (integrated LUFS) */
    const char *value;   /* as logged, e.g. "320:240:0:0", "1.5", "-23.0" */
    double number;       /* value as a number, NaN when it is not one */
} afmpeg_measurement;

/* The measurements of a run_job in log order; 0 when there are none. */
AFMPEG_API size_t afmpeg_result_measurement_count(const afmpeg_result *res);
/* Measurement i, owned by the result; NULL when out of range. */
AFMPEG_API const afmpeg_measurement *afmpeg_result_measurement(const afmpeg_result *res,
                                                               size_t i);

/* ---------------------------------------------------------------------------------------------
 * Frames and thumbnails
 * ------------------------------------------------------------------------------------------ */

typedef enum afmpeg_image_format {
    AFMPEG_IMAGE_PNG = 0,
    AFMPEG_IMAGE_JPEG = 1,
    AFMPEG_IMAGE_RGB24 = 2,  /* raw, width * height * 3 bytes, rows top to bottom */
    AFMPEG_IMAGE_RGBA = 3,   /* raw, width * height * 4 bytes */
    /* Since 1.1: lossy WebP (FFmpeg's libwebp encoder at quality 85), a RIFF file per image.
     * AFMPEG_ENOTSUP from a module built without libwebp. */
    AFMPEG_IMAGE_WEBP = 4
} afmpeg_image_format;

/* 2 since 1.1 (scene, scene_min_interval, ignore_sar); a version 1 struct is read as 1.0 did. */
#define AFMPEG_FRAMES_OPTIONS_VERSION 2

/* Which frames to take and how to deliver them. With the defaults: the first frame, as PNG, at
 * its own size (with square pixels, see ignore_sar). */
typedef struct afmpeg_frames_options {
    unsigned version;            /* AFMPEG_FRAMES_OPTIONS_VERSION */
    afmpeg_image_format format;
    /* Scale to this size; with one of them 0 the other follows the frame's display aspect ratio
     * (see ignore_sar); both 0 keeps the frame's size (its width scaled by the sample aspect
     * ratio, see ignore_sar); both given: exactly that size. */
    int width, height;
    /* The first frame taken is the first at or after `start` (as ffmpeg's -ss), in seconds on
     * the file's own timeline: the times ffprobe shows, so an MPEG-TS file starts near 1.4. */
    double start;
    /* > 0: frame k is the first at or after start + k * every; 0: consecutive frames. */
    double every;
    /* At most this many frames; 0: all with every or scene, else 1. */
    unsigned count;
    /* Since 1.1. > 0: scene changes, a threshold in (0, 1) on FFmpeg's scene score (the select
     * filter's gt(scene,T): 0 for identical frames, near 1 for a cut between unrelated
     * pictures; 0.3 to 0.4 finds cuts, lower values also catch fades and fast motion). The
     * first frame at or after `start` is taken (it opens the first scene), then every frame
     * whose score against the frame decoded before it is above the threshold. Not with
     * `every`. 0: no scene selection. */
    double scene;
    /* Since 1.1. With scene: a frame is taken only if at least this many seconds after the
     * frame taken before it (a burst of cuts gives one frame). 0: no minimum. */
    double scene_min_interval;
    /* Since 1.1. 0, the default: the image has square pixels: anamorphic video (a sample
     * aspect ratio other than 1:1, e.g. 720x576 with 64:45) has its width scaled by that
     * ratio (1024x576) before width and height apply, so a side given alone follows the
     * display aspect ratio. 1: the stored pixels as they are, as 1.0 did (anamorphic video
     * comes out squeezed or stretched). A version 1 struct is read with 1 here. */
    int ignore_sar;
} afmpeg_frames_options;

#define AFMPEG_FRAMES_OPTIONS_INIT                                                             \
    {AFMPEG_FRAMES_OPTIONS_VERSION, AFMPEG_IMAGE_PNG, 0, 0, 0, 0, 0, 0, 0, 0}

/* Fills *opts with the defaults, as AFMPEG_FRAMES_OPTIONS_INIT does. NULL is a no-op. */
AFMPEG_API void afmpeg_frames_options_init(afmpeg_frames_options *opts);

typedef struct afmpeg_frame {
    double time;                 /* presentation time on the file's timeline, seconds */
    int width, height;
    afmpeg_image_format format;
    size_t size;
    const unsigned char *data;   /* the encoded image, or the raw pixels */
} afmpeg_frame;

/* Frames taken from a video, owned by the caller (afmpeg_frame_list_free()). */
typedef struct afmpeg_frame_list {
    size_t count;
    const afmpeg_frame *frames;  /* in time order */
} afmpeg_frame_list;

/*
 * Takes frames from the first video stream of `path` in `fs` as `fo` says (NULL: defaults) into
 * memory; nothing is written to `fs`. Returns AFMPEG_OK with *out holding the frames (none when
 * `start` is past the end); for the path, the errors of afmpeg_probe() (AFMPEG_ENOENT,
 * AFMPEG_EISDIR, AFMPEG_EACCES, AFMPEG_EINVAL); AFMPEG_EMEDIA (no video stream, or unreadable,
 * with FFmpeg's message in afmpeg_last_error()), AFMPEG_EINVAL for bad options, AFMPEG_ENOTSUP
 * for a format the module has no encoder for (WebP without libwebp), or afmpeg_run()'s errors.
 * `opts` as for afmpeg_probe(). Thread-safe, like afmpeg_run().
 */
AFMPEG_API int afmpeg_frames(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path,
                             const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                             afmpeg_frame_list **out);
/*
 * One representative frame near `time` (FFmpeg's thumbnail filter over the frames from there on,
 * or from the start when `time` is past the end), in the format and size `fo` says (its start,
 * every, count, scene and scene_min_interval are ignored). *out holds exactly one frame. Errors
 * as afmpeg_frames().
 */
AFMPEG_API int afmpeg_thumbnail(afmpeg_runtime *rt, afmpeg_fs *fs, const char *path, double time,
                                const afmpeg_frames_options *fo, const afmpeg_job_options *opts,
                                afmpeg_frame_list **out);
/* Destructor. NULL is a no-op. */
AFMPEG_API void afmpeg_frame_list_free(afmpeg_frame_list *list);

#ifdef __cplusplus
}
#endif
#endif /* AFMPEG_H */
