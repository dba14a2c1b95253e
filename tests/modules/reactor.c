/* tests/modules/reactor.c — a WASI reactor (no _start, built with -mexec-model=reactor): not a
 * command, so afmpeg_new() must refuse it. */
__attribute__((export_name("add"))) int add(int a, int b)
{
    return a + b;
}
