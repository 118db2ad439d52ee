/* Host versions of what the patched lwIP core links against outside lwIP itself: the Arduino
 * core's heap entry points and glue callbacks. Names and signatures only; no SDK code.
 * The glue's own files (glue-lwip/lwip-git.c, glue-esp/lwip-esp.c) are not compiled: they
 * move frames between lwIP and the SDK's binary Wi-Fi driver, which stack.c replaces. */
#include <stdlib.h>

#include "cbdev.h"

#include "lwip/err.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"

/* The glue (8e3c4ee) lwipopts.h: "#define mem_clib_malloc(s) pvPortMalloc(s, NULL, -1)" etc.
 * On the ESP8266 these allocate from the umm_malloc heap; here from the chip's heap budget
 * (heap.c, the variant's [heap] figure). */
void *pvPortMalloc(size_t size, const char *file, int line) {
  (void)file;
  (void)line;
  return cb_heap_malloc(size);
}

void *pvPortZalloc(size_t size, const char *file, int line) {
  (void)file;
  (void)line;
  return cb_heap_calloc(1, size);
}

void vPortFree(void *ptr, const char *file, int line) {
  (void)file;
  (void)line;
  cb_heap_free(ptr);
}

/* lwipopts.h: "#define LWIP_HOOK_UNKNOWN_ETH_PROTOCOL(pbuf, netif) lwip_unhandled_packet(...)".
 * The glue's default (glue-lwip/lwip-git.c) does not take the frame: "return ERR_ARG;", so
 * ethernet_input frees it (e.g. IPv6 frames from the client, with LWIP_IPV6 0). */
err_t lwip_unhandled_packet(struct pbuf *pbuf, struct netif *netif) {
  (void)pbuf;
  (void)netif;
  return ERR_ARG;
}

#if LWIP_DHCP
struct dhcp;
struct dhcp_msg;

/* DHCP hooks set by the glue's lwipopts.h (8e3c4ee). dhcp.c is compiled as on the device, but
 * the bench gives the device a static address and never starts DHCP, so these never run. */
void lwip_hook_dhcp_parse_option(struct netif *netif, struct dhcp *dhcp, int state,
                                 struct dhcp_msg *msg, int msg_type, int option, int option_len,
                                 struct pbuf *pbuf, int option_value_offset) {
  (void)netif, (void)dhcp, (void)state, (void)msg, (void)msg_type, (void)option;
  (void)option_len, (void)pbuf, (void)option_value_offset;
}

void lwip_hook_dhcp_amend_options(struct netif *netif, struct dhcp *dhcp, int state,
                                  struct dhcp_msg *msg, int msg_type, u16 *option_len_ptr) {
  (void)netif, (void)dhcp, (void)state, (void)msg, (void)msg_type, (void)option_len_ptr;
}

#if LWIP_DHCP_GET_NTP_SRV
/* Defined in apps/sntp/sntp.c on the device (SNTP is not compiled here); DHCP-only. */
void dhcp_set_ntp_servers(u8_t num, const ip4_addr_t *server) {
  (void)num;
  (void)server;
}
#endif
#endif
