#include "semihost.h"


/* The counter leaves this section out (cbcount.so skip=): semihosting and marks are the
 * harness, not the code measured. */
#define HOST CHIP_HOST

HOST int chip_write(int fd, const void *buf, size_t len)
{
    register int a2 __asm__("a2") = 4;
    register int a3 __asm__("a3") = fd;
    register const void *a4 __asm__("a4") = buf;
    register size_t a5 __asm__("a5") = len;
    __asm__ volatile("simcall" : "+r"(a2) : "r"(a3), "r"(a4), "r"(a5) : "memory");
    return a2;
}

HOST void chip_exit(int code)
{
    register int a2 __asm__("a2") = 1;
    register int a3 __asm__("a3") = code;
    __asm__ volatile("simcall" : : "r"(a2), "r"(a3) : "memory");
    for (;;) {
    }
}

HOST __attribute__((optimize("no-tree-loop-distribute-patterns"))) void chip_puts(const char *s)
{
    size_t n = 0;
    while (s[n]) /* not strlen: libc's code is outside the skipped section */
        n++;
    chip_write(1, s, n);
}

HOST void chip_put_hex(const char *label, uint32_t value)
{
    char digits[8]; /* hex: the lx106 has no divide instruction, and libgcc's is counted */
    for (int i = 7; i >= 0; i--, value >>= 4)
        digits[i] = "0123456789abcdef"[value & 15];
    chip_puts(label);
    chip_write(1, digits, sizeof digits);
    chip_puts("\n");
}

/* noinline + used: the plugin finds this function by its symbol's address. */
HOST __attribute__((noinline, used)) void chip_mark(const char *tag)
{
    chip_puts("mark ");
    chip_puts(tag);
    chip_puts("\n");
}
