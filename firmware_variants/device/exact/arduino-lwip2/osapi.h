/* Host stand-in for the ESP8266 SDK's osapi.h, which the glue's gluedebug.h includes
 * ("#include <osapi.h> // os_printf* definitions + ICACHE_RODATA_ATTR"). Names only: with
 * ARDUINO set, gluedebug.h maps os_printf onto printf itself. */
#ifndef CB_ARDUINO_OSAPI_H
#define CB_ARDUINO_OSAPI_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The SDK's c_types.h (included by osapi.h) types; the glue's lwipopts.h (8e3c4ee) uses
 * "u16 *option_len_ptr" in lwip_hook_dhcp_amend_options(). */
typedef uint16_t u16;

#define ICACHE_FLASH_ATTR
#define ICACHE_RODATA_ATTR
#define STORE_ATTR
#define os_printf printf
#define os_printf_plus printf
/* The 2018 builder's lwipopts.h (420960df) has "#define MEMCPY(dst,src,len) os_memcpy(dst,src,len)";
 * the SDK maps it onto the ROM's memcpy: espressif/ESP8266_NONOS_SDK@8e13865 include/osapi.h
 * "#define os_memcpy ets_memcpy", "#define os_memmove ets_memmove". */
#define os_memcpy memcpy
#define os_memmove memmove

#endif
