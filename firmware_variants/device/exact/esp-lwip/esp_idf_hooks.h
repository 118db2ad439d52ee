/* LWIP_HOOK_FILENAME of the esp-lwip exact build (lwIP side only; included by tcp.c, tcp_in.c,
 * tcp_out.c, ip4.c, ...). Written for closebench; no ESP-IDF code.
 *
 * ESP-IDF v5.3 points LWIP_HOOK_FILENAME at its own hooks header and, with the default
 * CONFIG_LWIP_HOOK_TCP_ISN_DEFAULT, defines LWIP_HOOK_TCP_ISN as an RFC 6528 ISN generator:
 *   espressif/esp-idf components/lwip/port/include/lwip_default_hooks.h:
 *     "#define LWIP_HOOK_TCP_ISN lwip_hook_tcp_isn"
 *   espressif/esp-idf components/lwip/port/hooks/tcp_isn_default.c:
 *     "return isn + base_time + sys_now() * 250;"  (isn = 32 bits of MD5(4-tuple, secret))
 * The host version keeps that shape (keyed hash of the 4-tuple + 4 us clock from sys_now) with
 * a different keyed hash (no MD5) and a secret drawn from --seed; see esp_idf_hooks.c.
 * Not reproduced: LWIP_HOOK_IP4_ROUTE_SRC (IDF's source routing picks among several netifs;
 * the host has one). */
#ifndef CB_ESP_IDF_HOOKS_H
#define CB_ESP_IDF_HOOKS_H

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

u32_t cb_esp_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                     u16_t remote_port);
#define LWIP_HOOK_TCP_ISN cb_esp_tcp_isn

#endif
