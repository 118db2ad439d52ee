/* closebench: os_* are macros over the chip ROM's ets_* routines in the SDK; here they map to
 * picolibc's (plain C string and memory routines of the same contracts). */
#ifndef CB_OSAPI_H
#define CB_OSAPI_H
#include <string.h>
#include <stdio.h>
#include "c_types.h"
#define os_memcmp memcmp
#define os_memcpy memcpy
#define os_memmove memmove
#define os_memset memset
#define os_strcat strcat
#define os_strchr strchr
#define os_strcmp strcmp
#define os_strcpy strcpy
#define os_strlen strlen
#define os_strncmp strncmp
#define os_strncpy strncpy
#define os_strstr strstr
#define os_sprintf sprintf
#define os_printf printf
#define ets_vsprintf vsprintf
int ets_getc(void);
#endif
