/* The built-in fonts (lib/fs/fonts.c), embedded as read-only data. The Makefile gives
 * the assembler's include path (-Wa,-I) as the directory module/font.sh unpacks Debian's
 * fonts-dejavu-core into, where .incbin finds the files. */
#define FONT(sym, file)            \
    .global sym;                   \
    .hidden sym;                   \
    .type sym, @object;            \
    .balign 16;                    \
sym:                               \
    .incbin file;                  \
    .global sym##_end;             \
    .hidden sym##_end;             \
sym##_end:

    .section .rodata
FONT(afm_font_sans, "DejaVuSans.ttf")
FONT(afm_font_sans_bold, "DejaVuSans-Bold.ttf")

    .section .note.GNU-stack, "", @progbits
