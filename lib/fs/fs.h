/* Internal: the filesystem object and the path rules shared by the WASI host and the helpers. */
#ifndef AFM_FS_H
#define AFM_FS_H

#include <stddef.h>
#include "afmpeg.h"

/* Longest normalised path, in bytes, without the NUL. */
#define AFM_PATH_MAX 4095

struct afmpeg_fs {
    afmpeg_fs_ops ops; /* callbacks; every slot non-NULL after construction (stubs for -ENOTSUP) */
    void *payload;
};

/*
 * Resolves `path` (`len` bytes, need not be NUL-terminated) against the directory `base` (a
 * normalised path, "" for the root) into a normalised path (see afmpeg_fs_ops) in out[cap].
 * A path starting with '/' starts from the root. "." components are dropped, ".." removes the
 * previous component. Returns 0, or:
 *   -EACCES        ".." would climb above the root (the path escapes the filesystem);
 *   -EILSEQ        the path contains a NUL byte;
 *   -ENAMETOOLONG  the result, or one component, is too long (component > 255 bytes);
 *   -ENOENT        the path is empty.
 */
int afm_path_resolve(const char *base, const char *path, size_t len, char *out, size_t cap);

/* Maps a negative errno from a filesystem callback to an afmpeg_error. */
int afm_fs_errno_to_error(int neg_errno);

#endif
