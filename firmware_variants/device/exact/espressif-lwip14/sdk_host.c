/* Host implementation of what the closed ESP8266 NONOS SDK blob provides to the Espressif lwIP
 * 1.4 fork: FRC2 clock, ets tasks/timers, heap, random, Wi-Fi state, RX buffer recycling.
 * Every value is cited or marked ASSUMPTION. Built -m32 like the rest of the lwIP side. */
#include "lwip/ip_addr.h"
#include "lwip/netif.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_types.h"
#include "ets_sys.h"
#include "mem.h"
#include "osapi.h"
#include "user_interface.h"

#include "cbdev.h"
#include "sdk_host.h"

/* ---- RTC-memory tunables (force.h): lwip_init() writes the TCP ones at boot. ---- */
volatile unsigned int cb_rtc_memp_num_tcp_pcb, cb_rtc_tcp_wnd, cb_rtc_tcp_maxrtx,
    cb_rtc_tcp_synmaxrtx;
/* ASSUMPTION: 0. Written by the SDK's DHCP client, which never runs here (static address). */
volatile unsigned int cb_rtc_dhcp_maxrtx;

/* ---- FRC2 clock ---- */
/* 1 = FRC2 prescaled by 256 (ms timers). The SDK switches to 0 (prescaler 16) only in
 * system_timer_reinit(); nodemcu/nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc never
 * calls it: app/modules/tmr.c "// assuming system_timer_reinit() has *not* been called". It also
 * matches app/include/lwip/sys.h "return NOW()/(TIMER_CLK_FREQ/1000);" (TIMER_CLK_FREQ = APB/256). */
uint8 timer2_ms_flag = 1;

static uint64_t boot_us;

/* FRC2 counts APB_CLK_FREQ/256 = 312500 Hz (flag 1) or APB/16 = 5 MHz (flag 0) from boot and wraps
 * at 32 bits, as the register does. */
uint32 cb_sdk_frc2_now(void) {
  uint64_t us = mono_us() - boot_us;
  uint64_t hz = timer2_ms_flag ? (APB_CLK_FREQ >> 8) : (APB_CLK_FREQ >> 4);
  return (uint32)(us * hz / 1000000ULL);
}

/* ---- ets tasks: one queue per priority, drained highest priority first ---- */
#define ETS_PRIOS 32
struct ets_task_slot {
  ETSTask fn;
  ETSEvent *queue;
  uint8 len, head, count;
};
static struct ets_task_slot tasks[ETS_PRIOS];
uint64_t cb_sdk_post_dropped;

void ets_task(ETSTask task, uint8 prio, ETSEvent *queue, uint8 qlen) {
  if (prio >= ETS_PRIOS) return;
  tasks[prio] = (struct ets_task_slot){task, queue, qlen, 0, 0};
}

/* ASSUMPTION: a full queue drops the event and returns non-zero (espconn ignores the result). */
bool ets_post(uint8 prio, ETSSignal sig, ETSParam par) {
  struct ets_task_slot *t = prio < ETS_PRIOS ? &tasks[prio] : NULL;
  if (!t || !t->fn || t->count >= t->len) {
    cb_sdk_post_dropped++;
    return 1;
  }
  t->queue[(t->head + t->count) % t->len] = (ETSEvent){sig, par};
  t->count++;
  return 0;
}

/* ASSUMPTION (scheduling): the SDK runs posted events when the current event (a received frame, a
 * timer) returns to its scheduler, before the next frame; the host calls this after each input
 * frame and each timer pass. Higher number = higher priority, as in the ROM's ets scheduler. */
void cb_sdk_run_tasks(void) {
  for (;;) {
    int p;
    for (p = ETS_PRIOS - 1; p >= 0 && tasks[p].count == 0; p--) {
    }
    if (p < 0) return;
    ETSEvent e = tasks[p].queue[tasks[p].head];
    tasks[p].head = (uint8)((tasks[p].head + 1) % tasks[p].len);
    tasks[p].count--;
    tasks[p].fn(&e);
  }
}

/* ---- ets software timers (ms), used by the tree's mdns/sntp only ---- */
static ETSTimer *armed;

void ets_timer_setfn(ETSTimer *t, ETSTimerFunc *fn, void *arg) {
  t->timer_func = fn;
  t->timer_arg = arg;
}

void ets_timer_disarm(ETSTimer *t) {
  for (ETSTimer **pp = &armed; *pp; pp = &(*pp)->timer_next)
    if (*pp == t) {
      *pp = t->timer_next;
      break;
    }
  t->timer_next = NULL;
}

void ets_timer_arm_new(ETSTimer *t, uint32 time, bool repeat, int is_ms) {
  uint32 ms = is_ms ? time : (time + 999) / 1000;
  ets_timer_disarm(t);
  t->timer_period = repeat ? ms : 0;
  t->timer_expire = (uint32)(mono_us() / 1000) + ms;
  t->timer_next = armed;
  armed = t;
}

void cb_sdk_run_timers(void) {
  uint32 now = (uint32)(mono_us() / 1000);
  for (ETSTimer *t = armed; t; t = t->timer_next) {
    if ((int32_t)(now - t->timer_expire) < 0) continue;
    ets_timer_disarm(t);
    if (t->timer_period) ets_timer_arm_new(t, t->timer_period, 1, 1);
    if (t->timer_func) t->timer_func(t->timer_arg);
    t = armed; /* the list may have changed */
    if (!t) break;
  }
}

uint32_t cb_sdk_timer_sleep_ms(void) {
  uint32 now = (uint32)(mono_us() / 1000), best = UINT32_MAX;
  for (ETSTimer *t = armed; t; t = t->timer_next) {
    int32_t d = (int32_t)(t->timer_expire - now);
    uint32 left = d < 0 ? 0 : (uint32)d;
    if (left < best) best = left;
  }
  return best;
}

/* ---- heap: the SDK's os_malloc/pvPortMalloc draw on the chip's heap budget (heap.c) ---- */
struct cb_heap_stats cb_heap;

static void *heap_alloc(size_t size) { return cb_heap_malloc(size); }
static void heap_free(void *p) { cb_heap_free(p); }
static void *heap_zalloc(size_t size) { return cb_heap_calloc(1, size); }
static void *heap_realloc(void *p, size_t size) { return cb_heap_realloc(p, size); }

#ifdef CB_SDK_HEAP_SITE_ARGS /* SDK 2.x: allocation-site arguments (unused here) */
void *pvPortMalloc(size_t sz, const char *file, unsigned line, bool iram) {
  (void)file, (void)line, (void)iram;
  return heap_alloc(sz);
}
void *pvPortZalloc(size_t sz, const char *file, unsigned line) {
  (void)file, (void)line;
  return heap_zalloc(sz);
}
void *pvPortCalloc(size_t n, size_t sz, const char *file, unsigned line) {
  (void)file, (void)line;
  return heap_zalloc(n * sz);
}
void *pvPortRealloc(void *p, size_t sz, const char *file, unsigned line) {
  (void)file, (void)line;
  return heap_realloc(p, sz);
}
void vPortFree(void *p, const char *file, unsigned line) {
  (void)file, (void)line;
  heap_free(p);
}
#else
void *pvPortMalloc(size_t size) { return heap_alloc(size); }
void *pvPortZalloc(size_t size) { return heap_zalloc(size); }
void *pvPortCalloc(size_t n, size_t size) { return heap_zalloc(n * size); }
void *pvPortRealloc(void *p, size_t size) { return heap_realloc(p, size); }
void vPortFree(void *p) { heap_free(p); }
#endif

/* The SDK's free-heap call answers from the budget (heap.c); without one, the host has no limit
 * and the call says 0 as before (only espconn debug output prints it). */
uint32 system_get_free_heap_size(void) {
  uint64_t left = heap_free_bytes();
  return left == UINT64_MAX ? 0 : (uint32)left;
}

/* ---- random: the bench's seeded stream (stack14.c) ---- */
unsigned long os_random(void) { return cb_rand32(); }
unsigned long r_rand(void) { return cb_rand32(); }

/* ---- flash helpers: on the chip they read flash with aligned 32-bit loads; same result ---- */
uint8 system_get_data_of_array_8(const uint8 *array, uint8 index) { return array[index]; }

void system_get_string_from_flash(const void *src, void *dst, uint8 size) {
  memcpy(dst, src, size);
}

/* ---- RX buffers ---- */
/* ASSUMPTION: the blob hands received frames to lwIP as PBUF_REF pbufs whose eb is the driver's
 * buffer; core/pbuf.c pbuf_free() returns it with "system_pp_recycle_rx_pkt(p->eb);" (PBUF_ESF_RX
 * pbufs cannot go through ethernet_input: pbuf_header() rejects that type). */
void system_pp_recycle_rx_pkt(void *eb) {
  if (!eb) return;
  cb_heap.rx_held--;
  free(eb);
}

/* Free driver RX nodes. ASSUMPTION: the real count is inside the closed Wi-Fi driver; the host
 * copies every frame into its own buffer, so the driver never runs short and core/tcp_in.c's
 * "if (RxNodeNum() < 2)" out-of-order reclaim never triggers. */
#define CB_RX_FREE_NODES 8
char RxNodeNum(void) { return CB_RX_FREE_NODES; }

/* ---- Wi-Fi state: one station interface with a static address (init.lua: wifi.STATION) ---- */
static struct netif *sta_netif;
uint8 default_interface = STATION_IF; /* ASSUMPTION: blob global, only read by UDP in AP+STA mode */

void cb_sdk_set_sta_netif(struct netif *n) { sta_netif = n; }

struct netif *eagle_lwip_getif(uint8 index) { return index == STATION_IF ? sta_netif : NULL; }
uint8 wifi_get_opmode(void) { return STATION_MODE; }
uint8 wifi_get_broadcast_if(void) { return STATION_MODE; }
uint8 wifi_station_get_connect_status(void) { return STATION_GOT_IP; }
enum dhcp_status wifi_softap_dhcps_status(void) { return DHCP_STOPPED; }

bool wifi_get_ip_info(uint8 if_index, struct ip_info *info) {
  memset(info, 0, sizeof *info);
  if (if_index != STATION_IF || !sta_netif) return false;
  info->ip = sta_netif->ip_addr;
  info->netmask = sta_netif->netmask;
  info->gw = sta_netif->gw;
  return true;
}

/* Only the SDK's DHCP client calls this (core/dhcp.c); unused with a static address. */
bool system_station_got_ip_set(void *ip, void *mask, void *gw) {
  (void)ip, (void)mask, (void)gw;
  return true;
}

/* app/dhcpserver.c (softAP DHCP server) is not built: it walks its lease list, which is empty
 * while no softAP runs, so its coarse timer does nothing. */
void dhcps_coarse_tmr(void) {}

/* ---- misc ---- */
/* esp-open-lwip's core/tcp.c debug printers call DEBUG_printf, which the application supplies
 * (MicroPython in the firmware); they only run with lwIP debugging on. */
int DEBUG_printf(const char *fmt, ...) __attribute__((weak, format(printf, 1, 2)));
int DEBUG_printf(const char *fmt, ...) {
  va_list ap;
  int n;
  if (!getenv("CBDEV_SDK_PRINTF")) return 0;
  va_start(ap, fmt);
  n = vfprintf(stderr, fmt, ap);
  va_end(ap);
  return n;
}

void ets_intr_lock(void) {}
void ets_intr_unlock(void) {}

int ets_sprintf(char *str, const char *format, ...) {
  va_list ap;
  int n;
  va_start(ap, format);
  n = vsprintf(str, format, ap);
  va_end(ap);
  return n;
}

/* The SDK prints to the UART; here to stderr when CBDEV_SDK_PRINTF is set (stdout is cbdev's). */
int cb_sdk_printf(const char *fmt, ...) {
  static int on = -1;
  va_list ap;
  int n;
  if (on < 0) on = getenv("CBDEV_SDK_PRINTF") != NULL;
  if (!on) return 0;
  va_start(ap, fmt);
  n = vfprintf(stderr, fmt, ap);
  va_end(ap);
  return n;
}

void cb_sdk_boot(void) { boot_us = mono_us(); }
