/* Host stand-in for the SDK's mem.h: the SDK heap (sdk_host.c, on top of malloc).
 * SDK 2.x (NodeMCU 3.0's tree) adds allocation-site arguments to the heap calls, as its
 * app/include/lwip/mem.h declares: "void *pvPortMalloc (size_t sz, const char *, unsigned, bool);"
 * The builder defines CB_SDK_HEAP_SITE_ARGS for such trees. */
#ifndef CB_SDK_MEM_H
#define CB_SDK_MEM_H

#include <stddef.h>

#include "c_types.h"

#ifdef CB_SDK_HEAP_SITE_ARGS
void *pvPortMalloc(size_t sz, const char *file, unsigned line, bool iram);
void *pvPortZalloc(size_t sz, const char *file, unsigned line);
void *pvPortCalloc(size_t n, size_t sz, const char *file, unsigned line);
void *pvPortRealloc(void *p, size_t sz, const char *file, unsigned line);
void vPortFree(void *p, const char *file, unsigned line);
#define os_malloc(s) pvPortMalloc((s), "", __LINE__, false)
#define os_free(p) vPortFree((p), "", __LINE__)
#define os_zalloc(s) pvPortZalloc((s), "", __LINE__)
#define os_calloc(n, s) pvPortCalloc((n), (s), "", __LINE__)
#define os_realloc(p, s) pvPortRealloc((p), (s), "", __LINE__)
#else
void *pvPortMalloc(size_t size);
void *pvPortZalloc(size_t size);
void *pvPortCalloc(size_t n, size_t size);
void *pvPortRealloc(void *p, size_t size);
void vPortFree(void *p);
#define os_malloc pvPortMalloc
#define os_free vPortFree
#define os_zalloc pvPortZalloc
#define os_calloc pvPortCalloc
#define os_realloc pvPortRealloc
#endif

#endif
