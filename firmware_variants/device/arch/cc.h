/* lwIP architecture glue for a Linux host process (NO_SYS=1, single thread). */
#ifndef CBDEV_ARCH_CC_H
#define CBDEV_ARCH_CC_H

#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Debug output goes to stderr: stdout carries only the ready line. */
void cb_diag(const char *fmt, ...);
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    cb_diag x;                \
  } while (0)

#define LWIP_PLATFORM_ASSERT(x)                                              \
  do {                                                                       \
    fprintf(stderr, "lwip assertion \"%s\" at %s:%d\n", x, __FILE__, __LINE__); \
    abort();                                                                 \
  } while (0)

/* Seeded from --seed so runs are reproducible. */
uint32_t cb_rand32(void);
#define LWIP_RAND() (cb_rand32())

#endif
