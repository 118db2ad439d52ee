/* closebench: the one SDK call NodeMCU's Lua core makes (the heap size for the GC's limit). */
#ifndef CB_USER_INTERFACE_H
#define CB_USER_INTERFACE_H
#include "c_types.h"
uint32 system_get_free_heap_size(void);
#endif
