/* lwIP side: netif on raw Ethernet frames, clock, seeded rand, admission (Espressif's
 * tcp_listen_input SYN cap), Arduino's TIME_WAIT cap, espconn culling, timeline snapshot. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "app.h"

#define MAX_FRAME 1518

struct counters g_cnt;
static struct netif g_netif;
static struct dev_config g_cfg;
static uint64_t rand_state;

uint32_t cb_rand32(void) { /* splitmix64 */
  uint64_t z = (rand_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void cb_diag(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

u32_t sys_now(void) { return (u32_t)(mono_us() / 1000); }

static err_t linkoutput(struct netif *netif, struct pbuf *p) {
  uint8_t buf[MAX_FRAME];
  (void)netif;
  if (p->tot_len > sizeof buf) return ERR_BUF;
  pbuf_copy_partial(p, buf, p->tot_len, 0);
  host_output(buf, p->tot_len);
  return ERR_OK;
}

static err_t netif_setup(struct netif *netif) {
  netif->name[0] = 'c';
  netif->name[1] = 'b';
  netif->output = etharp_output;
  netif->linkoutput = linkoutput;
  netif->mtu = 1500;
  netif->hwaddr_len = ETH_HWADDR_LEN;
  memcpy(netif->hwaddr, g_cfg.mac, ETH_HWADDR_LEN);
  netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
  return ERR_OK;
}

int stack_init(const struct dev_config *cfg) {
  ip4_addr_t ip, mask, gw;
  g_cfg = *cfg;
  rand_state = cfg->seed ^ 0x6c77495053454544ULL; /* own stream, apart from the link's */
  lwip_init();
  memcpy(&ip.addr, cfg->ip, 4);
  memcpy(&mask.addr, cfg->netmask, 4);
  memcpy(&gw.addr, cfg->gw, 4);
  if (!netif_add(&g_netif, &ip, &mask, &gw, NULL, netif_setup, ethernet_input)) return -1;
  netif_set_default(&g_netif);
  netif_set_up(&g_netif);
  netif_set_link_up(&g_netif);
  return app_start(cfg);
}

static int pcb_matches(const struct tcp_pcb *pcb, uint32_t rip, uint16_t rport) {
  return pcb->remote_port == rport && pcb->local_port == g_cfg.port &&
         ip4_addr_get_u32(&pcb->remote_ip) == rip;
}

/* Espressif's listen-input cap: a new SYN is dropped silently while too many PCBs exist. */
static int admission_drop(const uint8_t *f, size_t len) {
  const uint8_t *ip = f + 14, *tcp;
  size_t ihl;
  uint32_t rip, count = 0;
  uint16_t rport, dport;
  struct tcp_pcb *pcb;
  if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4 || ip[9] != 6)
    return 0;
  ihl = (size_t)(ip[0] & 0x0f) * 4;
  if (ihl < 20 || len < 14 + ihl + 20 || memcmp(ip + 16, g_cfg.ip, 4) != 0) return 0;
  tcp = ip + ihl;
  dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
  if (dport != g_cfg.port || (tcp[13] & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) return 0;
  rport = (uint16_t)(tcp[0] << 8 | tcp[1]);
  memcpy(&rip, ip + 12, 4);
  for (pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
    if (pcb_matches(pcb, rip, rport)) return 0;
    if (g_cfg.admission == ADMIT_ACTIVE || pcb->state == ESTABLISHED) count++;
  }
  for (pcb = tcp_tw_pcbs; pcb; pcb = pcb->next)
    if (pcb_matches(pcb, rip, rport)) return 0;
  return count >= g_cfg.admission_limit;
}

static struct tcp_pcb *oldest(struct tcp_pcb *list, int s1, int s2) {
  struct tcp_pcb *best = NULL;
  for (struct tcp_pcb *p = list; p; p = p->next) {
    if ((int)p->state != s1 && (int)p->state != s2) continue;
    if (!best || (u32_t)(tcp_ticks - p->tmr) > (u32_t)(tcp_ticks - best->tmr)) best = p;
  }
  return best;
}

static uint32_t count_states(struct tcp_pcb *list, int s1, int s2, int s3) {
  uint32_t n = 0;
  for (struct tcp_pcb *p = list; p; p = p->next)
    if ((int)p->state == s1 || (int)p->state == s2 || (int)p->state == s3) n++;
  return n;
}

/* espconn_kill_oldest: frees without any segment (no RST), as the SDK does. */
static void silent_free(struct tcp_pcb *pcb) {
  TCP_PCB_REMOVE_ACTIVE(pcb);
  memp_free(MEMP_TCP_PCB, pcb);
  g_cnt.culled++;
}

/* espconn_kill_oldest_pcb, run after each disconnect. */
static void espconn_cull(void) {
  uint32_t n = g_cfg.cull_closing;
  struct tcp_pcb *p;
  if (count_states(tcp_tw_pcbs, TIME_WAIT, -1, -1) < n &&
      count_states(tcp_active_pcbs, FIN_WAIT_1, FIN_WAIT_2, LAST_ACK) < n)
    return;
  if ((p = oldest(tcp_tw_pcbs, TIME_WAIT, -1)) != NULL) {
    tcp_abort(p); /* TIME_WAIT: freed silently by lwIP */
    g_cnt.culled++;
  }
  if ((p = oldest(tcp_active_pcbs, FIN_WAIT_1, FIN_WAIT_2)) != NULL) silent_free(p);
  if ((p = oldest(tcp_active_pcbs, LAST_ACK, -1)) != NULL) silent_free(p);
}

/* Arduino lwIP2 glue: keep at most tw_cap TIME_WAIT PCBs, freeing the oldest silently. */
static void tw_cap(void) {
  uint32_t n = count_states(tcp_tw_pcbs, TIME_WAIT, -1, -1);
  while (n-- > g_cfg.tw_cap) {
    tcp_abort(oldest(tcp_tw_pcbs, TIME_WAIT, -1));
    g_cnt.tw_freed++;
  }
}

/* Work that must not run inside lwIP callbacks (it edits the PCB lists). */
static void after_lwip(void) {
  uint32_t disc = app_take_disconnects();
  if (g_cfg.close_mode == CLOSE_ESPCONN && g_cfg.cull_closing > 0)
    while (disc--) espconn_cull();
  if (g_cfg.tw_cap > 0) tw_cap();
}

void stack_input(const uint8_t *frame, size_t len) {
  struct pbuf *p;
  if (len > MAX_FRAME) return;
  if (g_cfg.admission != ADMIT_NONE && admission_drop(frame, len)) {
    g_cnt.syn_dropped++;
    return;
  }
  p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
  if (!p) return; /* counted in lwip_stats memp err */
  pbuf_take(p, frame, (u16_t)len);
  if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
  after_lwip();
}

void stack_poll(void) {
  sys_check_timeouts();
  app_poll(sys_now());
  after_lwip();
}

uint32_t stack_sleep_ms(void) {
  uint32_t t = sys_timeouts_sleeptime(), a = app_sleep_ms(sys_now());
  return a < t ? a : t;
}

static uint64_t memp_used(memp_t t) { return lwip_stats.memp[t] ? lwip_stats.memp[t]->used : 0; }

void stack_snapshot(struct stack_snapshot *s) {
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
  }
  for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next) {
    s->time_wait++;
    s->pcbs++;
  }
  s->mem_used = lwip_stats.mem.used;
  s->mem_max = lwip_stats.mem.max;
  s->memp_tcp_pcb_used = memp_used(MEMP_TCP_PCB);
  s->memp_tcp_seg_used = memp_used(MEMP_TCP_SEG);
  s->memp_pbuf_used = memp_used(MEMP_PBUF) + memp_used(MEMP_PBUF_POOL);
  s->alloc_fail = lwip_stats.mem.err;
  for (int i = 0; i < MEMP_MAX; i++)
    if (lwip_stats.memp[i]) s->alloc_fail += lwip_stats.memp[i]->err;
}
