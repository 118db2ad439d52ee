/* Semihosting on QEMU's xtensa sim machine: the `simcall` instruction with the call number in
 * a2 (1 exit, 4 write) and its arguments in a3..a5, as QEMU's xtensa semihosting implements. */
#ifndef CHIP_SEMIHOST_H
#define CHIP_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

/* Harness code the counter leaves out (cbcount.so skip=): keep it free of libc calls. */
#define CHIP_HOST __attribute__((section(".text.chip_host")))

int chip_write(int fd, const void *buf, size_t len);
void chip_exit(int code) __attribute__((noreturn));
void chip_puts(const char *s);
void chip_put_hex(const char *label, uint32_t value);
/* Called at each boundary the instruction counter records (the QEMU plugin cbcount.so
 * notes its count every time this function's first instruction runs); `tag` is written to
 * stdout so the nth count and the nth tag line pair up in order. */
void chip_mark(const char *tag);
#endif
