/* Host stand-in for the SDK's osapi.h: libc string helpers, timers, printf, random. */
#ifndef CB_SDK_OSAPI_H
#define CB_SDK_OSAPI_H

#include <stdio.h>
#include <string.h>

#include "c_types.h"
#include "ets_sys.h"
#include "mem.h"

#define os_bzero(p, n) memset((p), 0, (n))
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
#define os_sprintf ets_sprintf
#define os_timer_arm(a, b, c) ets_timer_arm_new(a, b, c, 1)
#define os_timer_disarm ets_timer_disarm
#define os_timer_setfn ets_timer_setfn
#define os_intr_lock ets_intr_lock
#define os_intr_unlock ets_intr_unlock

/* The SDK prints to the UART; here to stderr, and only with CB_SDK_PRINTF (stdout is cbdev's). */
int cb_sdk_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define os_printf cb_sdk_printf
#define os_printf_plus cb_sdk_printf

unsigned long os_random(void);
unsigned long r_rand(void);

/* Blob helpers the fork calls (sdk_host.c). */
uint8 system_get_data_of_array_8(const uint8 *array, uint8 index);
void system_get_string_from_flash(const void *src, void *dst, uint8 size);
void system_pp_recycle_rx_pkt(void *eb);
bool system_station_got_ip_set(void *ip, void *mask, void *gw);
uint32 system_get_free_heap_size(void);

#endif
