/* tests/modules/unknown_import.c — a WASI command that also imports a function afmpeg does not
 * provide (env.host_magic): afmpeg_new() must refuse it, naming the import. */
#include <stdio.h>

__attribute__((import_module("env"), import_name("host_magic"))) int host_magic(int);

int main(void)
{
    printf("%d\n", host_magic(1));
    return 0;
}
