/* closebench: the SDK's heap (pvPortMalloc, in its closed libmain) is replaced by picolibc's
 * malloc on a linker-script heap. */
#ifndef CB_MEM_H
#define CB_MEM_H
#include <stdlib.h>
#define os_malloc(s) malloc(s)
#define os_zalloc(s) calloc(1, (s))
#define os_free(p) free(p)
#define os_realloc(p, s) realloc((p), (s))
#endif
