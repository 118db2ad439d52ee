/* closebench app runner: semihosting I/O, picolibc's stdout and heap, the instruction counter. */
#include "rt.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* noinline: the register variables below hold only in a function of their own. */
__attribute__((noinline)) int rt_write(int fd, const void *buf, int len) {
  register int a2 __asm__("a2") = 4; /* SYS_write of the sim machine's simcall */
  register int a3 __asm__("a3") = fd;
  register const void *a4 __asm__("a4") = buf;
  register int a5 __asm__("a5") = len;
  __asm__ volatile("simcall" : "+r"(a2) : "r"(a3), "r"(a4), "r"(a5) : "memory");
  return a2;
}

void rt_puts(const char *s) { rt_write(1, s, (int)strlen(s)); }

void rt_exit(int code) {
  register int a2 __asm__("a2") = 1; /* SYS_exit */
  register int a3 __asm__("a3") = code;
  __asm__ volatile("simcall" : : "r"(a2), "r"(a3));
  for (;;) {
  }
}

void _exit(int code) { rt_exit(code); }

static int rt_putc(char c, FILE *f) {
  (void)f;
  rt_write(1, &c, 1);
  return (unsigned char)c;
}

static FILE rt_stdout = FDEV_SETUP_STREAM(rt_putc, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &rt_stdout;
FILE *const stderr = &rt_stdout;
FILE *const stdin = &rt_stdout;

uint32_t rt_event_begin(void) { return rt_icount(); }

void rt_event_end(const char *name, uint32_t begin) {
  uint32_t n = rt_icount() - begin - 1;
  char line[80];
  snprintf(line, sizeof line, "event %s %lu\n", name, (unsigned long)n);
  rt_puts(line);
}

/* A call the app made into a stubbed firmware API, printed as "call ..." for the runner. */
void rt_record(const char *fmt, ...) {
  uint32_t paused = rt_icount(); /* the recording itself is not the app's work */
  char line[160];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  if (n >= 0) {
    line[n] = '\n';
    rt_write(1, "call ", 5);
    rt_write(1, line, n + 1);
  }
  __asm__ volatile("wsr %0, icount\n isync" : : "r"(paused));
}

int rt_main(void) {
  extern char __bss_start[], __bss_end[];
  memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
  uint32_t zero = 0, level = 15;
  __asm__ volatile("wsr %0, icount\n wsr %1, icountlevel\n isync" : : "r"(zero), "r"(level));
  return app_main();
}

void rt_span(const char *name, uint32_t from) {
  uint32_t now = rt_icount();
  char line[80];
  snprintf(line, sizeof line, "event %s %lu\n", name, (unsigned long)(now - from));
  rt_puts(line);
  __asm__ volatile("wsr %0, icount\n isync" : : "r"(now));
}
