/* MicroPython's esp32 cap on live TCP PCBs, written for closebench (no MicroPython code).
 *
 * MicroPython v1.25.0 links its esp32 firmware with "-Wl,--wrap=memp_malloc" and
 * "-Wl,--wrap=memp_free" (micropython/micropython@f498a16c7db6d4b2de200b3e0856528dfe0613c3
 * ports/esp32/esp32_common.cmake) so that ports/esp32/lwip_patch.c counts TCP PCBs:
 *   "if (active_tcp_pcbs >= MEMP_NUM_TCP_PCB) {" ... "return NULL;"
 * and ports/esp32/boards/sdkconfig.base sets "CONFIG_LWIP_MAX_ACTIVE_TCP=12" (MEMP_NUM_TCP_PCB).
 * A NULL from memp_malloc(MEMP_TCP_PCB) makes esp-lwip's tcp_alloc() reclaim (oldest TIME_WAIT,
 * then LAST_ACK, CLOSING, lower priority) before it gives up. The same is done here: the exact
 * build is linked with the same two --wrap flags (closebench.bench.exact.esp_lwip). */
#include "lwip/memp.h"
#include "lwip/opt.h"

void *__real_memp_malloc(memp_t type);
void __real_memp_free(memp_t type, void *mem);

static unsigned live_tcp_pcbs;

void *__wrap_memp_malloc(memp_t type) {
  void *mem;
  if (type != MEMP_TCP_PCB) return __real_memp_malloc(type);
  if (live_tcp_pcbs >= MEMP_NUM_TCP_PCB) return NULL;
  mem = __real_memp_malloc(type);
  if (mem != NULL) live_tcp_pcbs++;
  return mem;
}

void __wrap_memp_free(memp_t type, void *mem) {
  __real_memp_free(type, mem);
  if (type == MEMP_TCP_PCB && mem != NULL && live_tcp_pcbs > 0) live_tcp_pcbs--;
}
