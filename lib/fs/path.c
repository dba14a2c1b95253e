/* Lexical path resolution. It is the guest's only way to name a file, so it alone decides whether
 * a path stays inside its filesystem: it never asks the filesystem, and refuses rather than
 * clamps a ".." above the root, so an escape attempt is an error and not a different file. */
#include <errno.h>
#include <string.h>
#include "fs/fs.h"

/* Longest component, as NAME_MAX; also what fits in afmpeg_fs_dirent.name. */
#define AFM_NAME_MAX 255

int afm_path_resolve(const char *base, const char *path, size_t len, char *out, size_t cap)
{
    if (len == 0)
        return -ENOENT;
    if (memchr(path, '\0', len))
        return -EILSEQ;
    if (cap == 0)
        return -ENAMETOOLONG;
    size_t max = cap - 1 < AFM_PATH_MAX ? cap - 1 : AFM_PATH_MAX;
    size_t n = 0;
    if (path[0] != '/') {
        n = strlen(base);
        if (n > max)
            return -ENAMETOOLONG;
        memmove(out, base, n);
    }
    /* Components that did not fit in out. A later ".." may still undo them, so only the final
     * result has to fit; everything kept in out lies above them and stays exact. */
    size_t pending = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && path[i] == '/')
            i++;
        const char *c = path + i;
        while (i < len && path[i] != '/')
            i++;
        size_t clen = (size_t)(path + i - c);
        if (clen == 0 || (clen == 1 && c[0] == '.'))
            continue;
        if (clen > AFM_NAME_MAX)
            return -ENAMETOOLONG;
        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            if (pending > 0) {
                pending--;
            } else if (n == 0) {
                return -EACCES;
            } else {
                while (n > 0 && out[n - 1] != '/')
                    n--;
                if (n > 0)
                    n--; /* the separator before the dropped component */
            }
            continue;
        }
        size_t need = n + (n > 0) + clen;
        if (pending > 0 || need > max) {
            pending++;
            continue;
        }
        if (n > 0)
            out[n++] = '/';
        memcpy(out + n, c, clen);
        n = need;
    }
    if (pending > 0)
        return -ENAMETOOLONG;
    out[n] = '\0';
    return 0;
}
