/*
 * Copy-on-write images of a module's initial memory.
 *
 * Instantiating a module allocates its linear memory and copies the module's active data
 * segments into it (FFmpeg's: 4.4 MB, most of it read-only tables a job never reads). Done for
 * every job, that copy and the page faults under it were most of a job's fixed cost. Instead, the
 * first instantiation on an image records the segments the generated code loads (their offsets,
 * sizes and addresses in the module's own read-only data: module/membase.py routes those loads
 * through afm_rt_load_segment()), and the next instantiation writes them once into a sealed
 * memfd. Every later memory of that module is that file mapped MAP_PRIVATE over the start of its
 * fresh reservation: it holds the segments before the guest runs, a page is read from the shared
 * page cache only when the guest touches it, and the first write to a page gives the instance its
 * own copy. Nothing an instance writes reaches the file (it is sealed against writes) or any
 * other instance, and the memory is unmapped with the instance, as before. The file is written
 * by the second instantiation, not the first: a process that runs one job (the CLI) never pays
 * for it.
 *
 * The segments' loads are then skipped: a load is skipped only if it is the same segment (offset,
 * size, source address) the image holds at that position, so the memory's bytes are exactly what
 * the copies would have made. Anything unexpected (a second memory, more segments, a mapping that
 * fails) falls back to the copy.
 *
 * AFMPEG_MEMORY_IMAGE=0 in the environment turns images off (every load copies), for comparisons.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt.h"
#include "rt_thread.h"

/* EMPTY -> RECORDING (a call claims the recording) -> RECORDED (its instantiation finished) ->
 * BUILDING (the next call claims the build) -> READY, or OFF if it cannot be built. A recording
 * that did not finish goes back to EMPTY. */
enum { IMAGE_EMPTY, IMAGE_RECORDING, IMAGE_RECORDED, IMAGE_BUILDING, IMAGE_READY, IMAGE_OFF };

typedef struct segment {
    uint64_t offset;
    const uint8_t *src;
    uint32_t size;
} segment;

struct afm_rt_image {
    _Atomic int state;
    /* Written by the one recording thread, then read-only once state is IMAGE_READY. */
    int fd;
    size_t len;        /* bytes mapped: the segments' end, rounded up to the host page */
    uint64_t memory_bytes; /* the recorded memory's initial size */
    unsigned n;
    int overflow;      /* more segments than fit: the image is not built */
    segment seg[AFM_RT_IMAGE_SEGMENTS];
};

afm_rt_image *afm_rt_image_new(void)
{
    const char *env = getenv("AFMPEG_MEMORY_IMAGE");
    if (env && strcmp(env, "0") == 0)
        return NULL;
    afm_rt_image *img = calloc(1, sizeof *img);
    if (img) {
        img->fd = -1;
        atomic_init(&img->state, IMAGE_EMPTY);
    }
    return img;
}

void afm_rt_image_free(afm_rt_image *img)
{
    if (!img)
        return;
    if (img->fd >= 0)
        close(img->fd);
    free(img);
}

size_t afm_rt_image_bytes(const afm_rt_image *img)
{
    if (!img || atomic_load_explicit(&((afm_rt_image *)img)->state, memory_order_acquire) !=
                    IMAGE_READY)
        return 0;
    return img->len;
}

/* Whether any two segments overlap (then skipping some loads and not others could leave a later
 * segment's bytes where an earlier one's belong: never the case for a linker's output). */
static int overlapping(const afm_rt_image *img)
{
    for (unsigned i = 0; i < img->n; i++)
        for (unsigned j = i + 1; j < img->n; j++)
            if (img->seg[i].offset < img->seg[j].offset + img->seg[j].size &&
                img->seg[j].offset < img->seg[i].offset + img->seg[i].size)
                return 1;
    return 0;
}

/* Writes the recorded segments into a new sealed memfd. 0, or -1 (no image: copies go on).
 * Called by one thread, from a guest's memory allocation (host code). */
static int build(afm_rt_image *img)
{
    uint64_t end = 0;
    for (unsigned i = 0; i < img->n; i++)
        if (img->seg[i].offset + img->seg[i].size > end)
            end = img->seg[i].offset + img->seg[i].size;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t len = (end + page - 1) / page * page;
    if (img->overflow || img->n == 0 || len > img->memory_bytes || overlapping(img))
        return -1;
    int fd = memfd_create("afmpeg-memory-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0)
        goto fail;
    for (unsigned i = 0; i < img->n; i++) {
        const uint8_t *p = img->seg[i].src;
        size_t left = img->seg[i].size;
        off_t at = (off_t)img->seg[i].offset;
        while (left > 0) {
            ssize_t w = pwrite(fd, p, left, at);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto fail;
            p += w;
            at += w;
            left -= (size_t)w;
        }
    }
    /* Nobody can change the file from here on: not this process, not a descriptor leaked to a
     * child (there is none: CLOEXEC). */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        goto fail;
    img->fd = fd;
    img->len = (size_t)len;
    return 0;
fail:
    close(fd);
    return -1;
}

void afm_rt_image_begin(afm_rt_thread *t, wasm_rt_memory_t *memory)
{
    afm_rt_image *img = t->image;
    t->image_mode = AFM_RT_IMAGE_NONE;
    t->image_next = 0;
    if (!img)
        return;
    int state = atomic_load_explicit(&img->state, memory_order_acquire);
    if (state == IMAGE_EMPTY) {
        int expected = IMAGE_EMPTY;
        if (atomic_compare_exchange_strong(&img->state, &expected, IMAGE_RECORDING)) {
            img->n = 0;
            img->overflow = 0;
            t->image_mode = AFM_RT_IMAGE_RECORD;
            t->image_mem = (uintptr_t)memory->data;
            img->memory_bytes = memory->size;
        }
        return;
    }
    if (state == IMAGE_RECORDED) {
        int expected = IMAGE_RECORDED;
        if (!atomic_compare_exchange_strong(&img->state, &expected, IMAGE_BUILDING))
            return;
        state = build(img) == 0 ? IMAGE_READY : IMAGE_OFF;
        atomic_store_explicit(&img->state, state, memory_order_release);
    }
    if (state != IMAGE_READY || img->len > memory->size)
        return;
    void *p = mmap(memory->data, img->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                   img->fd, 0);
    if (p == MAP_FAILED) {
        /* A failed MAP_FIXED may have unmapped the range: make it the plain zeroed memory it
         * was, and copy. */
        if (mmap(memory->data, img->len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            afm_rt_trap_with(AFMPEG_TRAP_OTHER, "cannot map a linear memory's initial pages");
        return;
    }
    t->image_mode = AFM_RT_IMAGE_MAPPED;
    t->image_mem = (uintptr_t)memory->data;
}

void afm_rt_load_segment(wasm_rt_memory_t *m, uint64_t offset, const uint8_t *src, uint32_t size)
{
    if (offset + size > m->size)
        wasm_rt_trap(WASM_RT_TRAP_OOB);
    afm_rt_thread *t = afm_rt_self;
    if (t && t->image_mode != AFM_RT_IMAGE_NONE && t->image_mem == (uintptr_t)m->data) {
        afm_rt_image *img = t->image;
        unsigned k = t->image_next++;
        if (t->image_mode == AFM_RT_IMAGE_MAPPED) {
            if (k < img->n && img->seg[k].offset == offset && img->seg[k].src == src &&
                img->seg[k].size == size)
                return; /* the mapped image holds these bytes */
        } else if (t->image_mode == AFM_RT_IMAGE_RECORD) {
            if (k < AFM_RT_IMAGE_SEGMENTS) {
                img->seg[k] = (segment){offset, src, size};
                img->n = k + 1;
            } else {
                img->overflow = 1;
            }
        }
    }
    if (size > 0)
        memcpy(m->data + offset, src, size);
}

void afm_rt_image_instantiated(void)
{
    afm_rt_thread *t = afm_rt_guest_thread();
    if (!t)
        return;
    if (t->image_mode == AFM_RT_IMAGE_RECORD)
        t->image_mode = AFM_RT_IMAGE_RECORDED;
    else
        t->image_mode = AFM_RT_IMAGE_NONE;
}

void afm_rt_image_end(afm_rt_thread *t)
{
    afm_rt_image *img = t->image;
    int mode = t->image_mode;
    t->image_mode = AFM_RT_IMAGE_NONE;
    t->image = NULL;
    if (mode == AFM_RT_IMAGE_RECORD) /* the instantiation did not finish: let another try */
        atomic_store_explicit(&img->state, IMAGE_EMPTY, memory_order_release);
    else if (mode == AFM_RT_IMAGE_RECORDED)
        atomic_store_explicit(&img->state, IMAGE_RECORDED, memory_order_release);
}
