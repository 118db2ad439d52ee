/* The chip's heap: one budget that the stack's allocator draws on (issue 27).
 *
 * On the boards lwIP allocates from the firmware's heap: the Espressif forks through the SDK's
 * os_malloc/pvPortMalloc (sdk_host.c forwards here), upstream-based stacks through lwIP's
 * mem_malloc -> mem_clib_malloc with MEM_LIBC_MALLOC=1 (arch/cc.h and the Arduino shim forward
 * here). --heap-bytes gives the free heap the firmware has when the app starts (each variant's
 * [heap] table cites it); an allocation that would go past it fails (NULL), as the chip's
 * allocator does. 0 keeps the host's heap (no budget). Each block carries its size in a header
 * so a free returns exactly what was taken. */
#include <stdlib.h>
#include <string.h>

#include "cbdev.h"

struct heap_stats g_heap;

struct block {
  size_t size;
  size_t pad; /* keeps 8-byte alignment of the payload on -m32 */
};

void heap_set_budget(uint64_t bytes) { g_heap.budget = bytes; }

uint64_t heap_free_bytes(void) {
  if (!g_heap.budget) return UINT64_MAX;
  return g_heap.used >= g_heap.budget ? 0 : g_heap.budget - g_heap.used;
}

void *cb_heap_malloc(size_t size) {
  struct block *b;
  if (g_heap.budget && (uint64_t)size > heap_free_bytes()) {
    if (!g_heap.fail) g_heap.first_fail_us = mono_us();
    g_heap.fail++;
    return NULL;
  }
  b = malloc(sizeof *b + size);
  if (!b) {
    g_heap.fail++;
    return NULL;
  }
  b->size = size;
  g_heap.used += size;
  if (g_heap.used > g_heap.max) g_heap.max = g_heap.used;
  return b + 1;
}

void cb_heap_free(void *p) {
  struct block *b;
  if (!p) return;
  b = (struct block *)p - 1;
  g_heap.used -= b->size;
  free(b);
}

void *cb_heap_calloc(size_t n, size_t size) {
  void *p;
  if (size && n > SIZE_MAX / size) return NULL;
  p = cb_heap_malloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

void *cb_heap_realloc(void *p, size_t size) {
  void *q;
  size_t old;
  if (!p) return cb_heap_malloc(size);
  q = cb_heap_malloc(size);
  if (q) {
    old = ((struct block *)p - 1)->size;
    memcpy(q, p, old < size ? old : size);
    cb_heap_free(p);
  }
  return q;
}
