/* The espconn calls NodeMCU's net module makes for firmware_variants/nodemcu-2016/init.lua:
 *
 *   local srv = net.createServer(net.TCP, 30)
 *   srv:listen(PORT, function(conn)
 *     conn:on("receive", respond)                  -- respond() calls sck:send(...)
 *     conn:on("sent", function(sck) sck:close() end)
 *   end)
 *
 * Each step cites nodemcu/nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc
 * app/modules/net.c by function and line content ("net.c" below). Lua itself is not run: the
 * C callbacks do what the Lua functions do. The page and headers are the bench's (httpd.c), so
 * the 2.x and exact builds serve the same bytes; GET /?led=on|off switches the LED, HEAD only
 * reports (init.lua would switch on HEAD too; the bench keeps httpd.c's rule).
 * With --app readme the bytes are those of the firmware README's server (httppage.c,
 * firmware_variants/nodemcu-2016/apps/readme/init.lua): the same calls, createServer(net.TCP)
 * defaulting to the same 30 s ("tcp_server_timeover = 30; // default to 30" in net_create). */
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/tcp_impl.h"
/* after the lwIP headers, as the fork's own espconn_tcp.c includes it */
#include "lwip/app/espconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "httppage.h"
#include "mem.h"

void espconn_init(void); /* app/lwip/app/espconn_tcp.c; no prototype in the fork's headers */

/* net.c: "#define MAX_SOCKET 5" — Lua socket slots for server-side connections. */
#define MAX_SOCKET 5
#define RESP_MAX 1024

/* espconn keeps a pointer to the sent bytes (tcp_write without copy, espconn_tcp.c
 * espconn_tcp_sent: "err = tcp_write(pcb, psent, len, 0);"), as it does to the Lua string in
 * the firmware. A response stays with its socket while the connection lives, then is freed
 * once no TCP segment points into it. */
struct resp {
  struct resp *next;
  uint16_t len;
  char data[RESP_MAX];
};

/* One Lua net.socket (net.c lnet_userdata). */
struct sock {
  struct espconn *pesp_conn;
  int slot;
  struct resp *sent; /* responses handed to espconn_sent on this connection */
};

static struct espconn server;    /* net.c net_create: c_zalloc(sizeof(struct espconn)) */
static esp_tcp server_tcp;       /* net.c: c_zalloc(sizeof(esp_tcp)) */
static struct sock *socket_slot[MAX_SOCKET];
static struct resp *retired;
static uint32_t led, disconnects;

uint32_t app_led(void) { return led; }

uint32_t app_take_disconnects(void) {
  uint32_t n = disconnects;
  disconnects = 0;
  return n;
}

/* The same answer as httpd.c (httppage.c), on one received chunk (init.lua's respond() runs
 * once per "receive" callback on whatever that callback delivered). */
static uint16_t build_response(const char *req, unsigned short len, char *out, size_t cap) {
  return http_answer(req, len, 0, &led, out, cap);
}

static int seg_points_into(const struct tcp_seg *s, const struct resp *r) {
  for (; s; s = s->next)
    for (const struct pbuf *p = s->p; p; p = p->next) {
      const char *a = p->payload;
      if (a >= r->data && a < r->data + RESP_MAX) return 1;
    }
  return 0;
}

static int in_use(const struct resp *r) {
  for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
    if (seg_points_into(pcb->unsent, r) || seg_points_into(pcb->unacked, r)) return 1;
  return 0;
}

static void free_unused_responses(void) {
  struct resp **pp = &retired;
  while (*pp) {
    struct resp *r = *pp;
    if (in_use(r)) {
      pp = &r->next;
    } else {
      *pp = r->next;
      free(r);
    }
  }
}

/* init.lua conn:on("sent", function(sck) sck:close() end) -> net.c net_close(): "if(skt->pesp_conn)"
 * ... "if(skt->pesp_conn->proto.tcp->remote_port || skt->pesp_conn->proto.tcp->local_port)"
 * "espconn_disconnect(skt->pesp_conn);" */
static void net_socket_sent(void *arg) {
  struct espconn *pesp_conn = arg;
  struct sock *skt = pesp_conn ? pesp_conn->reverse : NULL;
  if (!skt || !skt->pesp_conn) return; /* net.c: "if(nud == NULL) return;" */
  if (pesp_conn->proto.tcp->remote_port || pesp_conn->proto.tcp->local_port)
    if (espconn_disconnect(pesp_conn) != ESPCONN_OK) g_cnt.close_fail++;
}

/* net.c net_socket_received -> init.lua respond(sck, request) -> sck:send(...) -> net.c net_send:
 * "if (l>1460 || payload == NULL)" (error) ... "espconn_sent(pesp_conn, (unsigned char *)payload, l);" */
static void net_socket_received(void *arg, char *pdata, unsigned short len) {
  struct espconn *pesp_conn = arg;
  struct sock *skt = pesp_conn ? pesp_conn->reverse : NULL;
  struct resp *r;
  if (!skt) return;
  g_cnt.requests++;
  r = calloc(1, sizeof *r);
  if (!r) return;
  r->len = build_response(pdata, len, r->data, sizeof r->data);
  r->next = skt->sent;
  skt->sent = r;
  if (r->len > 1460) return; /* net_send: "need <1460 payload" */
  if (espconn_sent(pesp_conn, (uint8 *)r->data, r->len) == ESPCONN_OK) g_cnt.responses++;
}

/* net.c net_server_disconnected: frees the Lua socket slot ("socket[i] = LUA_NOREF;"
 * "socket_num--;") and "nud->pesp_conn = NULL;". */
static void net_server_disconnected(void *arg) {
  struct espconn *pesp_conn = arg;
  struct sock *skt = pesp_conn ? pesp_conn->reverse : NULL;
  disconnects++;
  if (!skt) return;
  if (skt->slot >= 0) socket_slot[skt->slot] = NULL;
  while (skt->sent) { /* espconn has dropped its buffer list; lwIP may still hold segments */
    struct resp *r = skt->sent;
    skt->sent = r->next;
    r->next = retired;
    retired = r;
  }
  pesp_conn->reverse = NULL;
  skt->pesp_conn = NULL;
  free(skt);
}

/* net.c net_server_reconnected: "net_server_disconnected(arg);" */
static void net_server_reconnected(void *arg, sint8_t err) {
  (void)err;
  net_server_disconnected(arg);
}

/* net.c net_server_connected: take a free Lua socket slot, else
 * "pesp_conn->reverse = NULL;    // not accept this conn" + "espconn_disconnect(pesp_conn);";
 * then "espconn_regist_recvcb(pesp_conn, net_socket_received);"
 * "espconn_regist_sentcb(pesp_conn, net_socket_sent);"
 * "espconn_regist_disconcb(pesp_conn, net_server_disconnected);"
 * "espconn_regist_reconcb(pesp_conn, net_server_reconnected);" and calls the listen callback,
 * whose conn:on("receive"/"sent") only store Lua functions (net.c net_on). */
static void net_server_connected(void *arg) {
  struct espconn *pesp_conn = arg;
  struct sock *skt;
  int i;
  if (!pesp_conn) return;
  for (i = 0; i < MAX_SOCKET && socket_slot[i]; i++) {
  }
  if (i >= MAX_SOCKET) {
    pesp_conn->reverse = NULL;
    if (pesp_conn->proto.tcp->remote_port || pesp_conn->proto.tcp->local_port)
      espconn_disconnect(pesp_conn);
    return;
  }
  skt = calloc(1, sizeof *skt);
  if (!skt) return;
  skt->pesp_conn = pesp_conn;
  skt->slot = i;
  socket_slot[i] = skt;
  pesp_conn->reverse = skt;
  espconn_regist_recvcb(pesp_conn, net_socket_received);
  espconn_regist_sentcb(pesp_conn, net_socket_sent);
  espconn_regist_disconcb(pesp_conn, net_server_disconnected);
  espconn_regist_reconcb(pesp_conn, net_server_reconnected);
}

int app_start(const struct dev_config *cfg) {
  /* The SDK calls espconn_init() at boot (it registers espconn's priority-26 ets task). */
  espconn_init();
  /* net.createServer(net.TCP, 30) -> net.c net_create: "tcp_server_timeover = (uint16_t)to;",
   * "pesp_conn->type = type;" "pesp_conn->state = ESPCONN_NONE;" */
  memset(&server, 0, sizeof server);
  memset(&server_tcp, 0, sizeof server_tcp);
  server.proto.tcp = &server_tcp;
  server.type = ESPCONN_TCP;
  server.state = ESPCONN_NONE;
  /* srv:listen(PORT, cb) -> net.c net_start: "pesp_conn->proto.tcp->local_port = port;" (no
   * address argument: local_ip stays 0.0.0.0), "espconn_regist_connectcb(pesp_conn,
   * net_server_connected);" "espconn_accept(pesp_conn);"
   * "espconn_regist_time(pesp_conn, tcp_server_timeover, 0);" */
  server_tcp.local_port = cfg->port;
  espconn_regist_connectcb(&server, net_server_connected);
  if (espconn_accept(&server) != ESPCONN_OK) return -1;
  espconn_regist_time(&server, 30, 0); /* tcp_server_timeover from createServer(net.TCP, 30) */
  return 0;
}

void app_poll(uint32_t now_ms) {
  (void)now_ms;
  if (retired) free_unused_responses();
}

uint32_t app_sleep_ms(uint32_t now_ms) {
  (void)now_ms;
  return UINT32_MAX;
}
