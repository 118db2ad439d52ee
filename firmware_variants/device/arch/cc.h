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

/* MEM_LIBC_MALLOC=1 (every lwIP variant): lwIP's mem_malloc takes its blocks from the chip's
 * heap budget (heap.c, --heap-bytes) instead of the host's malloc. A port's own lwipopts.h
 * (the Arduino glue: pvPortMalloc) defines these first and keeps its route. */
void *cb_heap_malloc(size_t size);
void *cb_heap_calloc(size_t n, size_t size);
void cb_heap_free(void *p);
#ifndef mem_clib_malloc
#define mem_clib_malloc cb_heap_malloc
#endif
#ifndef mem_clib_calloc
#define mem_clib_calloc cb_heap_calloc
#endif
#ifndef mem_clib_free
#define mem_clib_free cb_heap_free
#endif

/* Seeded from --seed so runs are reproducible. */
uint32_t cb_rand32(void);
#define LWIP_RAND() (cb_rand32())

#endif
