/* closebench: the NONOS SDK's c_types.h is not in NodeMCU's tree (the SDK is a separate,
 * partly closed download); these are the types NodeMCU's Lua and libc use from it. */
#ifndef CB_C_TYPES_H
#define CB_C_TYPES_H
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
typedef uint8_t uint8;
typedef int8_t sint8;
typedef uint16_t uint16;
typedef int16_t sint16;
typedef uint32_t uint32;
typedef int32_t sint32;
typedef int8_t sint8_t;
typedef int16_t sint16_t;
typedef int32_t sint32_t;
typedef int64_t sint64_t;
typedef unsigned long long u_int64_t;
typedef uint32_t u_int32_t;
typedef float real32;
typedef double real64;
typedef unsigned char BOOL;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef signed char s8;
typedef signed short s16;
typedef signed int s32;
#define TRUE 1
#define FALSE 0
#define LOCAL static
#define ICACHE_FLASH_ATTR
#define ICACHE_RODATA_ATTR
#define STORE_ATTR __attribute__((aligned(4)))
#define __le16 u16
#endif
