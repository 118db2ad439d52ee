/* closebench app runner: output through QEMU semihosting and exact instruction counts. */
#ifndef CB_RT_H
#define CB_RT_H
#include <stddef.h>
#include <stdint.h>

int rt_write(int fd, const void *buf, int len);
void rt_puts(const char *s);
void rt_exit(int code) __attribute__((noreturn));

/* The core's ICOUNT debug register counts every instruction while PS.INTLEVEL is below
 * ICOUNTLEVEL (Xtensa ISA, Debug Option); rt_main arms it once. */
static inline uint32_t rt_icount(void) {
  uint32_t v;
  __asm__ volatile("rsr %0, icount" : "=r"(v));
  return v;
}

/* One measured event: `name`, the instructions between begin and end (the read's own one
 * instruction taken off), printed as "event <name> <n>". */
uint32_t rt_event_begin(void);
void rt_event_end(const char *name, uint32_t begin);
void rt_record(const char *fmt, ...);
/* "event <name> <n>" for the instructions since `from` (a rt_icount() value); the printing is
 * left out of the count. */
void rt_span(const char *name, uint32_t from);
int app_main(void);
#endif
