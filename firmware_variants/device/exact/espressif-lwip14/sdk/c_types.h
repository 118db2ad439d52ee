/* Host stand-in for the ESP8266 NONOS SDK's c_types.h (closed SDK; written from the names the
 * Espressif lwIP 1.4 fork uses). Built with -m32, so int/long/pointers are 32-bit as on the LX106. */
#ifndef CB_SDK_C_TYPES_H
#define CB_SDK_C_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef uint8_t uint8;
typedef uint8_t u8;
typedef int8_t sint8;
typedef int8_t int8;
typedef int8_t s8;
typedef uint16_t uint16;
typedef uint16_t u16;
typedef int16_t sint16;
typedef int16_t s16;
typedef unsigned int uint32;
typedef unsigned int u32;
typedef unsigned int u_int;
typedef signed int sint32;
typedef signed int s32;
typedef int int32;
typedef int64_t sint64;
typedef uint64_t uint64;
typedef uint64_t u64;
typedef int8_t sint8_t;
typedef int16_t sint16_t;
typedef int32_t sint32_t;
typedef int64_t sint64_t;
typedef float real32;
typedef double real64;

#define __le16 u16
#define __packed __attribute__((packed))
#define LOCAL static

typedef enum { OK = 0, FAIL, PENDING, BUSY, CANCEL } STATUS;

#define BIT(nr) (1UL << (nr))

/* Section placement only matters on the chip. */
#define DMEM_ATTR
#define SHMEM_ATTR
#define STORE_ATTR
#define ICACHE_FLASH_ATTR
#define ICACHE_RODATA_ATTR
#define ICACHE_RAM_ATTR

/* The SDK's bool is an unsigned char (not C99 _Bool). */
#ifndef __cplusplus
typedef unsigned char bool;
#define BOOL bool
#define true (1)
#define false (0)
#define TRUE true
#define FALSE false
#endif

#endif
