/* tests/modules/prog.c — a small WASI command for the module tests (test_modules.c), built with
 * clang-19 --target=wasm32-wasi and Debian's wasi-libc. argv[1] picks what it does:
 *   hello CODE ARGS...  prints its argv and how many environment variables it has; exits CODE
 *   clock               checks the real-time and monotonic clocks; prints "clock ok"
 *   files               makes, writes, reads, lists, renames and removes files under /work;
 *                       tries to leave the root; prints what it saw
 *   trap                executes unreachable
 *   oob                 reads past the end of its linear memory
 *   recurse             recurses without end with a frame in memory (overflows the stack in
 *                       linear memory: an out-of-bounds access)
 *   deep                recurses without end in WebAssembly locals only (exhausts the call
 *                       stack)
 *   loop                never returns (for the deadline)
 *   grow                allocates 1 MiB blocks until malloc fails; prints how many it got
 *   secret              fills 4 MiB of heap, 16 KiB of initialised and of zeroed globals and 8 KiB
 *                       of stack with a marker; secret scan: counts the markers in all memory
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int hello(int argc, char **argv)
{
    int n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("environ=%d\n", n);
    return argc > 2 ? atoi(argv[2]) : 0;
}

static int clocks(void)
{
    struct timespec a, b, r;
    if (clock_gettime(CLOCK_REALTIME, &r) || clock_gettime(CLOCK_MONOTONIC, &a))
        return 10;
    for (volatile int i = 0; i < 1000000; i++)
        ;
    if (clock_gettime(CLOCK_MONOTONIC, &b))
        return 11;
    if (r.tv_sec < 1700000000) /* before 2023: not the real time */
        return 12;
    if (b.tv_sec < a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec < a.tv_nsec))
        return 13;
    printf("clock ok\n");
    return 0;
}

static int files(void)
{
    char buf[64];
    if (mkdir("/work", 0755) && errno != EEXIST)
        return perror("mkdir"), 20;
    FILE *f = fopen("/work/a.txt", "w");
    if (!f || fputs("written by the guest\n", f) < 0 || fclose(f))
        return perror("write"), 21;
    f = fopen("/work/a.txt", "r");
    if (!f || !fgets(buf, sizeof buf, f))
        return perror("read"), 22;
    fclose(f);
    printf("read: %s", buf);
    f = fopen("/input.txt", "r");
    if (f && fgets(buf, sizeof buf, f))
        printf("input: %s", buf);
    if (f)
        fclose(f);
    if (rename("/work/a.txt", "/work/b.txt"))
        return perror("rename"), 23;
    DIR *d = opendir("/work");
    if (!d)
        return perror("opendir"), 24;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            printf("entry: %s\n", e->d_name);
    closedir(d);
    struct stat st;
    if (stat("/work/b.txt", &st))
        return perror("stat"), 25;
    printf("size: %lld\n", (long long)st.st_size);
    printf("escape: %s\n", open("/../etc/passwd", O_RDONLY) < 0 ? "refused" : "OPENED");
    printf("escape2: %s\n", open("../../etc/passwd", O_RDONLY) < 0 ? "refused" : "OPENED");
    if (unlink("/work/b.txt") || rmdir("/work"))
        return perror("remove"), 26;
    printf("files ok\n");
    return 0;
}

static int grow(void)
{
    size_t got = 0;
    void *volatile block; /* kept, so the compiler cannot drop the allocations */
    while ((block = malloc(1 << 20)) != NULL)
        got++;
    printf("grew %zu MiB\n", got);
    return 0;
}

static int oob(void)
{
    uintptr_t end = __builtin_wasm_memory_size(0) * 65536u;
    return *(volatile int *)(end + 16); /* one page past the end: bounds-checked */
}

#pragma clang diagnostic ignored "-Winfinite-recursion"
static int recurse(volatile int depth)
{
    volatile char frame[256];
    frame[depth & 255] = (char)depth;
    return recurse(depth + 1) + frame[(depth + 1) & 255];
}

static int deep(int depth);
static int (*volatile deep_fn)(int) = deep; /* an indirect call: never made a loop */
static int deep(int depth)
{
    return deep_fn(depth + 1) + 1;
}

#define SECRET 0x5ec2e7a5u
/* Initialised data (in the module's data segment: the pages a memory image maps) and zeroed
 * data, the two kinds of C globals. */
static uint32_t data_words[4096] = {1};
static uint32_t bss_words[4096];

static void plant_stack(void)
{
    volatile uint32_t words[2048];
    for (size_t i = 0; i < 2048; i++)
        words[i] = SECRET;
}

static int secret(int scan)
{
    size_t words = (4u << 20) / 4;
    if (!scan) {
        uint32_t *p = malloc(words * 4);
        if (!p)
            return 30;
        for (size_t i = 0; i < words; i++)
            p[i] = SECRET;
        for (size_t i = 0; i < 4096; i++)
            data_words[i] = bss_words[i] = SECRET;
        plant_stack();
        printf("planted\n");
        return 0;
    }
    /* Every byte of linear memory this instance has, from address 0 to its current end. */
    uintptr_t end = __builtin_wasm_memory_size(0) * 65536u;
    size_t found = 0;
    for (uintptr_t a = 4; a + 4 <= end; a += 4)
        if (*(volatile uint32_t *)a == SECRET)
            found++;
    printf("scanned %zu bytes, found %zu, data %u\n", (size_t)end, found,
           (unsigned)data_words[0]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "hello"))
        return hello(argc, argv);
    if (!strcmp(what, "clock"))
        return clocks();
    if (!strcmp(what, "files"))
        return files();
    if (!strcmp(what, "trap"))
        __builtin_trap();
    if (!strcmp(what, "oob"))
        return oob();
    if (!strcmp(what, "recurse"))
        return recurse(0);
    if (!strcmp(what, "deep"))
        return deep(0);
    if (!strcmp(what, "loop"))
        for (volatile int i = 0;; i++)
            ;
    if (!strcmp(what, "grow"))
        return grow();
    if (!strcmp(what, "secret"))
        return secret(argc > 2 && !strcmp(argv[2], "scan"));
    fprintf(stderr, "prog: unknown command '%s'\n", what);
    return 2;
}
