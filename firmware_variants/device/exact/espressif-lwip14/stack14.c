/* cbdev's lwIP side for the Espressif lwIP 1.4 fork: a station netif on raw Ethernet frames, the
 * NO_SYS main loop the SDK blob would run (sys_check_timeouts + ets tasks), seeded rand, and the
 * timeline snapshot from the fork's own PCB lists. No admission/TIME_WAIT/culling emulation here:
 * the fork's tcp_listen_input and (espconn builds) espconn_kill_oldest_pcb do that themselves. */

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"
#include "lwip/tcp_impl.h"
#include "lwip/timers.h"
#include "netif/etharp.h"

#if defined(__GLIBC__) /* the host's backtrace(); the lx106 build (closebench.chip) has none */
#include <execinfo.h>
#define CB_TRACE_TX 1
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "cbdev.h"
#include "sdk_host.h"

#define MAX_FRAME 1518

struct counters g_cnt;
static struct netif g_netif;
static struct dev_config g_cfg;
static uint64_t rand_state;

uint32_t cb_rand32(void) { /* splitmix64, same stream as the 2.x build's stack.c */
  uint64_t z = (rand_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* The trace point on the output path (--trace-tx): for each TCP frame the device sends, its
 * ports, seq, ack and flags, and the return addresses of the calls that led here (the fork's
 * tcp_output / tcp_rst / espconn ... ), so closebench.seed.trace can name the source line that
 * sent it (addr2line on this binary, built with -g). Observation only: nothing is changed. */
static FILE *g_trace;
#define TRACE_DEPTH 24

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

#ifdef CB_TRACE_TX
extern char __executable_start; /* GNU ld: where the program's image starts (its load base) */

static void trace_tx(const uint8_t *f, size_t len) {
  void *bt[TRACE_DEPTH];
  const uint8_t *ip = f + 14, *tcp;
  int n;
  if (!g_trace || len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 6) return;
  tcp = ip + (ip[0] & 0x0f) * 4;
  if (tcp + 20 > f + len) return;
  n = backtrace(bt, TRACE_DEPTH);
  fprintf(g_trace, "%u %u %u %u %u", (unsigned)(tcp[0] << 8 | tcp[1]), (unsigned)(tcp[2] << 8 | tcp[3]),
          (unsigned)be32(tcp + 4), (unsigned)be32(tcp + 8), (unsigned)tcp[13]);
  for (int i = 2; i < n; i++) /* 0: trace_tx, 1: linkoutput; absolute return addresses */
    fprintf(g_trace, " %lx", (unsigned long)(uintptr_t)bt[i]);
  fputc('\n', g_trace);
}
#else
static void trace_tx(const uint8_t *f, size_t len) { (void)f, (void)len; }
#endif

/* ASSUMPTION: transmission is synchronous (the frame is copied out at once); the SDK queues the
 * pbuf for the Wi-Fi MAC and frees it when sent. */
static err_t linkoutput(struct netif *netif, struct pbuf *p) {
  uint8_t buf[MAX_FRAME];
  (void)netif;
  if (p->tot_len > sizeof buf) return ERR_BUF;
  pbuf_copy_partial(p, buf, p->tot_len, 0);
  trace_tx(buf, p->tot_len);
  host_output(buf, p->tot_len);
  return ERR_OK;
}

static err_t netif_setup(struct netif *netif) {
  netif->name[0] = 'e'; /* ASSUMPTION: the blob's station netif name; only used in debug output */
  netif->name[1] = 'w';
  netif->output = etharp_output;
  netif->linkoutput = linkoutput;
  netif->mtu = 1500;
  netif->hwaddr_len = 6;
  memcpy(netif->hwaddr, g_cfg.mac, 6);
  netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

static void after_event(void) { cb_sdk_run_tasks(); }

/* core/timers.c sys_timeouts_init() arms "sys_timeout(TCP_TMR_INTERVAL, tcpip_tcp_timer, NULL);"
 * without setting tcpip_tcp_timer_active; that chain stops at its first expiry only if no PCB
 * exists then. A SYN inside that window would leave two TCP timer chains running (timers at
 * double speed). On the chip Wi-Fi association takes far longer than one TCP_TMR_INTERVAL, so
 * the host lets the boot-time chain expire (2 * TCP_TMR_INTERVAL) before it goes ready. */
static void boot_settle(void) {
  uint64_t end = mono_us() + 2ULL * TCP_TMR_INTERVAL * 1000ULL;
  while (mono_us() < end) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
    sys_check_timeouts();
  }
}

int stack_init(const struct dev_config *cfg) {
  ip_addr_t ip, mask, gw;
  g_cfg = *cfg;
#ifdef CB_TRACE_TX
  if (g_trace_tx_path && (g_trace = fopen(g_trace_tx_path, "w")) != NULL)
  {
    setvbuf(g_trace, NULL, _IOLBF, 0); /* a line per frame: complete even if the run is cut */
    fprintf(g_trace, "base %lx\n", (unsigned long)(uintptr_t)&__executable_start);
  }
#endif
  rand_state = cfg->seed ^ 0x6c77495053454544ULL; /* own stream, apart from the link's */
  cb_sdk_boot();
  lwip_init(); /* the blob calls it at boot; it also sets the RTC tunables (force.h) */
  memcpy(&ip.addr, cfg->ip, 4);
  memcpy(&mask.addr, cfg->netmask, 4);
  memcpy(&gw.addr, cfg->gw, 4);
  if (!netif_add(&g_netif, &ip, &mask, &gw, NULL, netif_setup, ethernet_input)) return -1;
  netif_set_default(&g_netif);
  netif_set_up(&g_netif);
  cb_sdk_set_sta_netif(&g_netif);
  boot_settle();
  if (app_start(cfg) != 0) return -1;
  after_event();
  return 0;
}

void stack_input(const uint8_t *frame, size_t len) {
  struct pbuf *p;
  uint8_t *eb;
  if (len > MAX_FRAME || len == 0) return;
  eb = malloc(len); /* the "driver buffer", freed by system_pp_recycle_rx_pkt */
  if (!eb) return;
  memcpy(eb, frame, len);
  p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_REF);
  if (!p) {
    free(eb);
    return;
  }
  p->payload = eb;
  p->eb = eb;
  cb_heap.rx_held++;
  if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
  after_event();
}

void stack_poll(void) {
  sys_check_timeouts();
  cb_sdk_run_timers();
  app_poll(sys_now());
  after_event();
}

/* The fork keeps its timeout list private to core/timers.c, so the host polls every ms.
 * ASSUMPTION: the blob runs sys_check_timeouts about that often; a later call would stretch
 * every lwIP timer period (timers.c sets timeouts_last_time = now when one fires). */
uint32_t stack_sleep_ms(void) {
  uint32_t t = cb_sdk_timer_sleep_ms(), a = app_sleep_ms(sys_now());
  if (t > 1) t = 1;
  return a < t ? a : t;
}

static uint32_t count_segs(const struct tcp_seg *s) {
  uint32_t n = 0;
  for (; s; s = s->next) n++;
  return n;
}

void stack_snapshot(struct stack_snapshot *s) {
  uint64_t segs = 0;
  memset(s, 0, sizeof *s);
  s->led = app_led();
  for (struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs; l; l = l->next) s->listen++;
  for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) {
    switch (p->state) {
    case SYN_RCVD: s->syn_rcvd++; break;
    case ESTABLISHED: s->established++; break;
    case FIN_WAIT_1: s->fin_wait_1++; break;
    case FIN_WAIT_2: s->fin_wait_2++; break;
    case CLOSE_WAIT: s->close_wait++; break;
    case CLOSING: s->closing++; break;
    case LAST_ACK: s->last_ack++; break;
    default: break;
    }
    s->pcbs++;
    segs += count_segs(p->unsent) + count_segs(p->unacked);
#if TCP_QUEUE_OOSEQ
    segs += count_segs(p->ooseq);
#endif
  }
  for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next) {
    s->time_wait++;
    s->pcbs++;
  }
  /* MEMP_MEM_MALLOC=1 and LWIP_STATS=0 in the fork's lwipopts.h: no pool stats exist, so the
   * columns come from the SDK heap and the PCB/segment lists instead. */
  s->mem_used = g_heap.used;
  s->mem_max = g_heap.max;
  s->memp_tcp_pcb_used = s->pcbs;
  s->memp_tcp_seg_used = segs;
  s->memp_pbuf_used = cb_heap.rx_held;
  s->alloc_fail = g_heap.fail;
}
