/* Exact build of the Arduino ESP8266 core's lwIP2 (upstream lwIP + d-a-v/esp82xx-nonos-linklayer).
 * lwIP finds this file first; it includes the glue's own glue-lwip/arduino/lwipopts.h unchanged
 * (#include_next: that folder follows this one on the include path) and adds only what the host
 * needs. Each addition says why. TCP_MSS, LWIP_FEATURES and LWIP_IPV6 come as -D flags, as in the
 * glue's makefiles/Makefile.defs ("-DTCP_MSS=$(TCP_MSS) -DLWIP_FEATURES=$(LWIP_FEATURES) ..."). */
#ifndef CB_ARDUINO_LWIPOPTS_H
#define CB_ARDUINO_LWIPOPTS_H

/* ---- before the glue's file: its options are "#if !defined X"-guarded, so these win ---- */

/* HOST: the timeline reads pool use and errors from lwip_stats; the glue has
 * "#define LWIP_STATS 0 // 1". Counting only, no behaviour change. */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define MEM_STATS 1
#define MEMP_STATS 1
#define TCP_STATS 1

/* The glue's arch/cc.h pulls LWIP_ERR_T from the generated lwip-err-t.h, taken from the SDK's
 * lwIP-1.4 arch/cc.h (d-a-v/esp82xx-nonos-linklayer@8e3c4ee:
 * glue-esp/lwip-1.4-arduino/include/arch/cc.h: "#define LWIP_ERR_T s32_t"). The bench's
 * arch/cc.h replaces the glue's, and the glue's lwipopts.h stops with #error without it. */
#define LWIP_ERR_T s32_t

/* The glue's arch/cc.h: "#if !ULWIPASSERT / #define LWIP_NOASSERT 1", and glue/gluedebug.h:
 * "#define ULWIPASSERT 0": the firmware runs with lwIP's asserts compiled out. */
#define LWIP_NOASSERT 1

#include_next "lwipopts.h"

/* ---- after the glue's file ---- */

/* The glue's arch/cc.h: "#define SYS_ARCH_PROTECT(lev) lev = lwip_xt_rsil(15)" (interrupts
 * off, SYS_LIGHTWEIGHT_PROT 1). The host device is one thread: nothing to protect. */
typedef uint32_t sys_prot_t;
#define SYS_ARCH_DECL_PROTECT(lev) sys_prot_t lev
#define SYS_ARCH_PROTECT(lev) ((lev) = 0)
#define SYS_ARCH_UNPROTECT(lev) ((void)(lev))

/* The glue's arch/cc.h maps sys_now() onto Arduino's millis(), and at 8e3c4ee its
 * patches/sys_now_inlined.patch removes the prototype from lwip/sys.h. stack.c defines
 * sys_now() from the host's monotonic clock (same unit: ms). */
u32_t sys_now(void);

/* HOST: the glue (8e3c4ee) turns PPP on with "#define PPPOS_SUPPORT IP_NAPT" /
 * "#define PPP_SUPPORT PPPOS_SUPPORT"; the bench has no serial link and netif/ppp is not
 * compiled. PPP only acts once a PPP session is created, which the firmware's sketch never does. */
#ifdef PPP_SUPPORT
#undef PPPOS_SUPPORT
#undef PPP_SUPPORT
#define PPPOS_SUPPORT 0
#define PPP_SUPPORT 0
#endif

/* The glue (8e3c4ee) routes lwIP's libc allocator to the Arduino core's heap:
 * "#define mem_clib_malloc(s)   pvPortMalloc(s, NULL, -1)" (and free/calloc); the SDK's mem.h
 * declares them. Host versions in arduino_shim.c. */
#include <stddef.h>
void *pvPortMalloc(size_t size, const char *file, int line);
void *pvPortZalloc(size_t size, const char *file, int line);
void vPortFree(void *ptr, const char *file, int line);

#endif
