/* HTTP/1.1 LED page on lwIP's raw TCP API, run the way each firmware's app runs it: how it
 * accepts (listen backlog, accept queue, one client at a time) and how it closes.
 * Builds against lwIP 2.x (the approximation) and Espressif's 1.4 forks (exact builds): every
 * 2.x-only call sits behind LWIP_VERSION_MAJOR / TCP_LISTEN_BACKLOG guards.
 *
 * Sources read (owner/repo@commit:path, "line content"):
 *   MP   micropython/micropython@e0e9fbb17ed6fd06bb76e266ae554784c9c80804:extmod/modlwip.c
 *   NET  nodemcu/nodemcu-firmware@4b92eab71a3573a3f948977878514de7def76ff8:app/modules/net.c
 *   WS27 esp8266/Arduino@2843a5ace10eb696f19c9d754be7bbf6331046b5 (2.7.4),
 *   WS31 esp8266/Arduino@210897ef83305496947c4e73c937bab52a33cb48 (3.1.2):
 *        libraries/ESP8266WebServer/src/ESP8266WebServer-impl.h, ESP8266WebServer.h,
 *        libraries/ESP8266WiFi/src/WiFiServer.cpp, include/ClientContext.h
 *   API  lwip-tcpip/lwip@6ca936f6b588cee702c638eee75c2436e6cf75de:src/api/api_msg.c (netconn)
 *   The apps themselves: firmware_variants/<variant>/ (main.py, main/main.c, init.lua, sketch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"

#include "app.h"
#include "httppage.h"

/* tcp_backlog_delayed/accepted exist from lwIP 2.0 on, and only with TCP_LISTEN_BACKLOG. */
#if LWIP_VERSION_MAJOR >= 2 && TCP_LISTEN_BACKLOG
#define HAVE_BACKLOG_DELAY 1
#else
#define HAVE_BACKLOG_DELAY 0
#endif

#define REQ_MAX 2048
#define POLL_TICKS 4           /* tcp_poll interval in coarse ticks (~2 s at TCP_TMR_INTERVAL 250) */
/* espconn (nodemcu/nodemcu-firmware@98d3b46 app/lwip/app/espconn_tcp.c:1256):
 * "tcp_poll(pcb, espconn_server_poll, 8); /- every 1 seconds -/" -- 8 coarse ticks of
 * TCP_SLOW_INTERVAL (2*TCP_TMR_INTERVAL, tcp_impl.h:116,124: 125 ms -> 250 ms) = 2 s; the comment
 * is wrong. The idle limit counts polls: espconn_server_poll "recv_check++" and closes at
 * "recv_check >= ...timeout" (espconn_tcp.c:1093,1104) with the server's timeout from
 * app/modules/net.c:39 "tcp_server_timeover = 30" via espconn_regist_time(..., 0) (net.c:802):
 * 30 polls of 2 s = 60 s idle. */
#define ESPCONN_POLL_TICKS 8
#define ESPCONN_IDLE_POLLS 30
#define MODLWIP_CLOSE_POLLS 20 /* MP: "tcp_poll(socket->pcb.tcp, _lwip_tcp_close_poll, MICROPY_PY_LWIP_TCP_CLOSE_TIMEOUT_MS / 500)" */
/* WS27/WS31 ESP8266WebServer.h: "#define HTTP_MAX_DATA_WAIT 5000", "#define HTTP_MAX_CLOSE_WAIT 2000",
 * WS31 only: "#define HTTP_MAX_DATA_AVAILABLE_WAIT 30". */
#define HTTP_MAX_DATA_WAIT 5000
#define HTTP_MAX_CLOSE_WAIT 2000
#define HTTP_MAX_DATA_AVAILABLE_WAIT 30
/* WS27/WS31 WiFiServer.cpp: "#define MAX_PENDING_CLIENTS_PER_PORT 5" (begin(port) uses it). */
#define MAX_PENDING_CLIENTS_PER_PORT 5
/* firmware_variants/esp-idf-5.3/main/main.c: "listen(srv, 5)";
 * firmware_variants/micropython-esp8266/main.py and micropython-esp32/main.py: "s.listen(1)" and "cl.settimeout(5)". */
#define BSD_DEFAULT_BACKLOG 5
#define MODLWIP_DEFAULT_BACKLOG 1
#define MODLWIP_DEFAULT_READ_TIMEOUT_MS 5000

enum hc_status { HC_NONE, HC_WAIT_READ, HC_WAIT_CLOSE }; /* ESP8266WebServer's HTTPClientStatus */

struct conn {
  struct tcp_pcb *pcb;
  struct conn *prev, *next;
  struct pbuf *rxq; /* received, not yet read by the app (read-on-demand modes) */
  char req[REQ_MAX];
  uint16_t req_len;
  uint8_t req_done, responded, peer_fin, close_pending, send_pending;
  uint8_t queued;   /* accepted by lwIP, not yet taken by the app's accept()/available() */
  uint32_t seq;     /* accept order: the app takes the oldest queued connection first */
  uint32_t taken_ms;
  uint16_t resp_len;
  uint32_t acked;
  uint32_t idle_polls;
  char resp[1024];
};

static struct dev_config cfg;
static struct conn *conns;
static uint32_t led, disconnects, accept_seq;
static struct tcp_pcb *listener;
/* Serial apps: the one connection the app is serving, and (Arduino) handleClient's state. */
static struct conn *cur;
static enum hc_status hc = HC_NONE;
static uint32_t hc_change;
/* NET: after net_close the PCB keeps its callbacks and its arg, the userdata, whose tcp_pcb is
 * NULL ("ud->tcp_pcb = NULL;"), so the callbacks return ERR_ABRT. This object stands for such a
 * userdata: the callbacks only look at whether the PCB pointer is gone. */
static struct conn net_closed_ud;

static int is_arduino(void) {
  return cfg.close_mode == CLOSE_ARDUINO_27 || cfg.close_mode == CLOSE_ARDUINO_31;
}

/* Apps that take one connection at a time from an accept queue (a blocking accept loop or
 * ESP8266WebServer::handleClient); espconn and NodeMCU's net serve every connection by event. */
static int is_serial(void) {
  return cfg.close_mode == CLOSE_MODLWIP || cfg.close_mode == CLOSE_BSD || is_arduino();
}

static uint32_t listen_backlog(void) {
  if (cfg.backlog) return cfg.backlog;
  if (cfg.close_mode == CLOSE_MODLWIP) return MODLWIP_DEFAULT_BACKLOG;
  if (is_arduino()) return MAX_PENDING_CLIENTS_PER_PORT;
  return BSD_DEFAULT_BACKLOG;
}

static uint32_t read_timeout_ms(void) {
  if (cfg.read_timeout_ms) return cfg.read_timeout_ms;
  return cfg.close_mode == CLOSE_MODLWIP ? MODLWIP_DEFAULT_READ_TIMEOUT_MS : 0; /* IDF: blocks */
}

uint32_t app_led(void) { return led; }

uint32_t app_take_disconnects(void) {
  uint32_t n = disconnects;
  disconnects = 0;
  return n;
}

static void conn_free(struct conn *c) {
  if (c->prev) c->prev->next = c->next; else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->rxq) pbuf_free(c->rxq); /* dropped WITHOUT tcp_recved: unread data stays unread */
  if (c == cur) cur = NULL;
  free(c);
}

/* Forget the app's side of a connection; lwIP keeps closing the PCB on its own. */
static void detach(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  tcp_arg(pcb, NULL);
  tcp_recv(pcb, NULL);
  tcp_sent(pcb, NULL);
  tcp_err(pcb, NULL);
  tcp_poll(pcb, NULL, 0);
  conn_free(c);
  disconnects++;
}

/* Returns ERR_ABRT when the PCB was aborted (callbacks must then return ERR_ABRT). */
static err_t do_abort(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  detach(c);
  tcp_abort(pcb);
  return ERR_ABRT;
}

static err_t modlwip_close_poll(void *arg, struct tcp_pcb *pcb) {
  (void)arg;
  switch (pcb->state) {
  case FIN_WAIT_1: case FIN_WAIT_2: case CLOSING: case LAST_ACK:
    tcp_abort(pcb); /* still closing after 20 ticks: RST */
    return ERR_ABRT;
  default:
    return ERR_OK;
  }
}

static void attach(struct conn *c);

/* Close as the mode's firmware does. fail_abort: abort when tcp_close fails; else retry later. */
static err_t app_close(struct conn *c, int fail_abort) {
  struct tcp_pcb *pcb = c->pcb;
  /* Unhook first: tcp_close may free the PCB (RST on unread data in CLOSE_WAIT). */
  tcp_arg(pcb, NULL);
  tcp_recv(pcb, NULL);
  tcp_sent(pcb, NULL);
  tcp_err(pcb, NULL);
  if (cfg.close_mode == CLOSE_MODLWIP) tcp_poll(pcb, modlwip_close_poll, MODLWIP_CLOSE_POLLS);
  else tcp_poll(pcb, NULL, 0);
  if (tcp_close(pcb) != ERR_OK) {
    g_cnt.close_fail++;
    attach(c);
    if (fail_abort) return do_abort(c);
    c->close_pending = 1;
    return ERR_OK;
  }
  conn_free(c);
  disconnects++;
  return ERR_OK;
}

/* NET net_close for a TCP client: "if (ERR_OK != tcp_close(ud->tcp_pcb)) { tcp_arg(ud->tcp_pcb,
 * NULL); tcp_abort(ud->tcp_pcb); }" then "ud->tcp_pcb = NULL;". The recv/sent/err callbacks stay
 * set; only what they see changes. The arg is switched BEFORE tcp_close because tcp_close may
 * free the PCB (net.c never touches the arg there, so it has no such hazard). */
static err_t net_close(struct conn *c) {
  struct tcp_pcb *pcb = c->pcb;
  tcp_arg(pcb, &net_closed_ud);
  tcp_poll(pcb, NULL, 0); /* the bench's retry poll; net.c registers none */
  conn_free(c);
  disconnects++;
  if (tcp_close(pcb) != ERR_OK) {
    g_cnt.close_fail++;
    tcp_arg(pcb, NULL);
    tcp_abort(pcb);
    /* net.c's callback then returns ERR_OK for an aborted PCB; ERR_ABRT keeps lwIP safe here. */
    return ERR_ABRT;
  }
  return ERR_OK;
}

static void build_response(struct conn *c) {
  c->resp_len = http_answer(c->req, c->req_len, c->req_len >= REQ_MAX, &led, c->resp,
                            sizeof c->resp);
}

static void try_send(struct conn *c) {
  if (tcp_write(c->pcb, c->resp, c->resp_len, TCP_WRITE_FLAG_COPY) != ERR_OK) {
    c->send_pending = 1; /* no memory: retried from sent/poll */
    return;
  }
  c->send_pending = 0;
  c->responded = 1;
  g_cnt.responses++;
  tcp_output(c->pcb);
}

static void answer(struct conn *c) {
  g_cnt.requests++;
  build_response(c);
  try_send(c);
}

static void append(struct conn *c, char ch) {
  if (c->req_len < REQ_MAX - 1) c->req[c->req_len++] = ch;
  else c->req_len = REQ_MAX; /* too long: 400 */
  c->req[c->req_len < REQ_MAX ? c->req_len : REQ_MAX - 1] = '\0';
  if (c->req_len >= REQ_MAX) c->req_done = 1;
  else if (c->req_len >= 4 && memcmp(c->req + c->req_len - 4, "\r\n\r\n", 4) == 0) c->req_done = 1;
  else if (c->req_len >= 2 && memcmp(c->req + c->req_len - 2, "\n\n", 2) == 0) c->req_done = 1;
}

/* The first n bytes of p are consumed: what is left, or NULL. */
static struct pbuf *drop_front(struct pbuf *p, uint16_t n) {
  if (n >= p->tot_len) {
    pbuf_free(p);
    return NULL;
  }
#if LWIP_VERSION_MAJOR > 2 || (LWIP_VERSION_MAJOR == 2 && LWIP_VERSION_MINOR >= 1)
  return pbuf_free_header(p, n);
#else /* lwIP 1.4 / 2.0 have no pbuf_free_header: copy the rest into a fresh pbuf */
  {
    uint16_t rest = (uint16_t)(p->tot_len - n);
    struct pbuf *q = pbuf_alloc(PBUF_RAW, rest, PBUF_RAM);
    if (!q) return p; /* keep it all; the app reads it again later */
    pbuf_copy_partial(p, q->payload, rest, n);
    pbuf_free(p);
    return q;
  }
#endif
}

/* The app reads the request from the queue: tcp_recved only for the bytes it consumed. */
static void app_read(struct conn *c) {
  uint16_t used = 0;
  if (!c->rxq) return;
  while (!c->req_done && used < c->rxq->tot_len) append(c, (char)pbuf_get_at(c->rxq, used++));
  if (used == 0) return;
  tcp_recved(c->pcb, used);
  c->rxq = drop_front(c->rxq, used);
}

/* espconn / NodeMCU net: the request is complete in the receive callback: answer at once; the
 * close follows from the sent callback. */
static void event_respond(struct conn *c) {
  if (c->req_done && !c->responded && !c->send_pending) answer(c);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  struct conn *c = arg;
  (void)err;
  if (c == &net_closed_ud) {
    /* NET net_tcp_recv_cb: "if (!ud || !ud->pcb || ...) return ERR_ABRT;" without aborting.
     * For the peer's FIN after our close lwIP then skips tcp_output ("goto aborted"), so the
     * FIN is not ACKed now; a retransmitted FIN reaches the TIME_WAIT code, which ACKs it.
     * Data cannot get here (lwIP aborts on data once RX is closed); freed in case. */
    if (p) pbuf_free(p);
    return ERR_ABRT;
  }
  if (!c) { /* detached: behave like lwIP's tcp_recv_null */
    if (p) { tcp_recved(pcb, p->tot_len); pbuf_free(p); }
    return ERR_OK;
  }
  if (cfg.close_mode == CLOSE_MODLWIP && c->queued) {
    /* MP _lwip_tcp_recv_unaccepted: "return ERR_BUF;" lwIP keeps the data (and a FIN riding on
     * it) as refused_data and offers it again once accept() set the real callback. */
    return ERR_BUF;
  }
  c->idle_polls = 0;
  if (p) {
    if (cfg.close_mode == CLOSE_ESPCONN || cfg.close_mode == CLOSE_NODEMCU_NET) {
      tcp_recved(pcb, p->tot_len); /* espconn/net ack every pbuf at once */
      for (uint16_t i = 0; i < p->tot_len && !c->req_done; i++) append(c, (char)pbuf_get_at(p, i));
      pbuf_free(p);
      event_respond(c);
    } else if (c->rxq) {
      pbuf_cat(c->rxq, p); /* read by the app loop (app_poll) */
    } else {
      c->rxq = p;
    }
    return ERR_OK;
  }
  /* p == NULL: the peer sent FIN */
  c->peer_fin = 1;
  switch (cfg.close_mode) {
  case CLOSE_ESPCONN:
    return app_close(c, 0);
  case CLOSE_NODEMCU_NET:
    /* NET net_tcp_recv_cb: "if (!p) { net_err_cb(arg, err); return tcp_close(tpcb); }" and
     * net_err_cb sets "ud->pcb = NULL;": the callbacks stay, the userdata is gone. */
    return net_close(c) == ERR_ABRT ? ERR_ABRT : ERR_OK;
  case CLOSE_ARDUINO_27:
  case CLOSE_ARDUINO_31:
    /* ClientContext::_recv, pb == 0: "if (_rx_buf && _rx_buf->tot_len) ... return ERR_OK;"
     * else "abort(); return ERR_ABRT;" (queued clients too: their ClientContext exists). */
    return c->rxq ? ERR_OK : do_abort(c);
  default: /* modlwip / bsd: the app reads EOF in its loop (CLOSE_WAIT until it closes) */
    return ERR_OK;
  }
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  struct conn *c = arg;
  (void)pcb;
  if (c == &net_closed_ud) return ERR_ABRT; /* NET net_sent_cb: "if (!ud || !ud->pcb ...) return ERR_ABRT;" */
  if (!c) return ERR_OK;
  c->acked += len;
  c->idle_polls = 0; /* espconn_server_sent: "psent_cb->pcommon.recv_check = 0;" (espconn_tcp.c:1057) */
  if (c->send_pending) {
    try_send(c);
    return ERR_OK;
  }
  if (c->close_pending) return app_close(c, 0);
  if (c->responded && cfg.close_mode == CLOSE_ESPCONN && c->acked >= c->resp_len)
    return app_close(c, 0); /* espconn's sent cb fires once everything is ACKed */
  if (c->responded && cfg.close_mode == CLOSE_NODEMCU_NET)
    return net_close(c); /* init.lua: conn:on("sent", function(sck) sck:close() end) */
  return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb) {
  struct conn *c = arg;
  if (!c || c == &net_closed_ud) return ERR_OK;
  if (c->send_pending) try_send(c);
  if (c->close_pending) return app_close(c, 0);
  if (cfg.close_mode == CLOSE_ESPCONN) {
    /* espconn_server_poll: non-ESTABLISHED at a poll, or idle too long -> close */
    if (pcb->state != ESTABLISHED || ++c->idle_polls >= ESPCONN_IDLE_POLLS)
      return app_close(c, 0);
  }
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  struct conn *c = arg;
  (void)err;
  if (!c || c == &net_closed_ud) return;
  conn_free(c); /* lwIP already freed the PCB */
  disconnects++;
}

static uint32_t queued_count(void) {
  uint32_t n = 0;
  for (struct conn *c = conns; c; c = c->next) n += c->queued;
  return n;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  struct conn *c;
  (void)arg;
  if (err != ERR_OK || !pcb) return ERR_VAL;
  if (cfg.close_mode == CLOSE_MODLWIP && queued_count() >= listen_backlog()) {
    /* MP _lwip_tcp_accept: "No room to queue pcb waiting for accept" -> "return ERR_BUF;"
     * (listen(1) gives one slot); the stack then aborts the new PCB: the client gets RST. */
    return ERR_BUF;
  }
  c = calloc(1, sizeof *c);
  if (!c) return ERR_MEM;
  c->pcb = pcb;
  c->seq = ++accept_seq;
  c->queued = (uint8_t)is_serial();
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  attach(c);
#if HAVE_BACKLOG_DELAY
  /* WS27/WS31 WiFiServer::_accept: "tcp_backlog_delayed(apcb);" until the sketch takes it;
   * API accept_function: "tcp_backlog_delayed(newpcb);" until netconn_accept. */
  if (is_arduino() || cfg.close_mode == CLOSE_BSD) tcp_backlog_delayed(pcb);
#endif
  return ERR_OK;
}

static void attach(struct conn *c) {
  tcp_arg(c->pcb, c);
  tcp_recv(c->pcb, on_recv);
  tcp_sent(c->pcb, on_sent);
  tcp_err(c->pcb, on_err);
  tcp_poll(c->pcb, on_poll, cfg.close_mode == CLOSE_ESPCONN ? ESPCONN_POLL_TICKS : POLL_TICKS);
}

int app_start(const struct dev_config *config) {
  struct tcp_pcb *pcb;
  cfg = *config;
  pcb = tcp_new();
  if (!pcb || tcp_bind(pcb, IP_ADDR_ANY, cfg.port) != ERR_OK) return -1;
  /* The apps that call listen(backlog): modlwip "tcp_listen_with_backlog(socket->pcb.tcp,
   * (u8_t)backlog)", WiFiServer::begin "tcp_listen_with_backlog(pcb, backlog)", netconn
   * "tcp_listen_with_backlog_and_err(msg->conn->pcb.tcp, backlog, &err)". lwIP honours the
   * number only with TCP_LISTEN_BACKLOG=1. espconn / net.c call plain tcp_listen. */
  if (is_serial()) listener = tcp_listen_with_backlog(pcb, (u8_t)listen_backlog());
  else listener = tcp_listen(pcb);
  if (!listener) return -1;
  tcp_accept(listener, on_accept);
  return 0;
}

/* ---- serial apps: one connection at a time, driven from the main loop (app_poll) ---- */

static struct conn *oldest_queued(void) {
  struct conn *best = NULL;
  for (struct conn *c = conns; c; c = c->next)
    if (c->queued && (!best || (int32_t)(c->seq - best->seq) < 0)) best = c;
  return best;
}

/* The app's accept()/available(): take the oldest queued connection. */
static struct conn *take(uint32_t now) {
  struct conn *c = oldest_queued();
  if (!c) return NULL;
  c->queued = 0;
  c->taken_ms = now;
#if HAVE_BACKLOG_DELAY
  /* WS: "tcp_backlog_accepted(_unclaimed->getPCB());"; API lwip_netconn_do_accepted:
   * "tcp_backlog_accepted(msg->conn->pcb.tcp);" */
  if (is_arduino() || cfg.close_mode == CLOSE_BSD) tcp_backlog_accepted(c->pcb);
#endif
  /* MP accept(): "tcp_accepted(listener);" (a no-op without TCP_LISTEN_BACKLOG). */
  if (cfg.close_mode == CLOSE_MODLWIP) tcp_accepted(listener);
  cur = c;
  return c;
}

/* MicroPython main.py (accept; readline until the blank line; send; close in `finally`) and the
 * ESP-IDF main.c loop (accept; recv until "\r\n\r\n"; send; close). Returns 1 on progress. */
static int socket_app_step(uint32_t now) {
  struct conn *c = cur;
  uint32_t timeout = read_timeout_ms();
  int eof;
  if (!c) return take(now) != NULL;
  if (c->send_pending || c->close_pending) return 0; /* finishes from the sent/poll callbacks */
  app_read(c);
  eof = c->peer_fin && !c->rxq;
  if (!c->req_done && !eof) {
    if (!timeout || now - c->taken_ms < timeout) return 0;
    /* MP: settimeout(5) -> OSError ETIMEDOUT -> "finally: cl.close()" without an answer */
  } else if (c->req_done || cfg.close_mode == CLOSE_MODLWIP || c->req_len > 0) {
    /* main.py answers even on EOF (readline() returns b""); main.c's read_request() <= 0 returns
     * without an answer. */
    answer(c);
  }
  cur = NULL;
  if (c->send_pending) { /* no memory for the response: close once it went out */
    c->close_pending = 1;
    return 1;
  }
  if (cfg.close_mode == CLOSE_MODLWIP) app_close(c, 1); /* MP close: tcp_close, abort on error */
  else app_close(c, 0); /* netconn retries a failed close */
  return 1;
}

static int available(const struct conn *c) { return c && c->rxq && c->rxq->tot_len > 0; }

/* WiFiClient::connected(): "return _client->state() == ESTABLISHED || available();" */
static int connected(const struct conn *c) {
  return c && c->pcb && (c->pcb->state == ESTABLISHED || available(c));
}

static int has_client_data(void) { /* WS31 WiFiServer::hasClientData */
  for (struct conn *c = conns; c; c = c->next)
    if (c->queued && available(c)) return 1;
  return 0;
}

static int has_max_pending(void) { /* WS31 WiFiServer::hasMaxPendingClients */
#if TCP_LISTEN_BACKLOG
  return ((struct tcp_pcb_listen *)listener)->accepts_pending >= MAX_PENDING_CLIENTS_PER_PORT;
#else
  return 0; /* "#else return false;" */
#endif
}

/* `_currentClient = ClientType();` drops the last reference: ClientContext::unref ->
 * "discard_received();" then "close();" (tcp_close, tcp_abort if that fails). */
static void arduino_drop(void) {
  struct conn *c = cur;
  cur = NULL;
  hc = HC_NONE;
  if (!c) return;
  if (c->rxq) {
    tcp_recved(c->pcb, c->rxq->tot_len);
    pbuf_free(c->rxq);
    c->rxq = NULL;
  }
  app_close(c, 1);
}

/* ESP8266WebServer::handleClient, one pass (WS27 / WS31). Returns 1 on progress. */
static int arduino_step(uint32_t now) {
  int v31 = cfg.close_mode == CLOSE_ARDUINO_31, keep = 0;
  uint32_t since;
  struct conn *c;
  if (hc == HC_NONE) {
    /* WS27 "_server.available()", WS31 "_server.accept()"; "if (!client) return;" */
    if (!take(now)) return 0;
    hc = HC_WAIT_READ;
    hc_change = now;
  }
  c = cur;
  since = now - hc_change;
  if (connected(c) || available(c)) {
    if (hc == HC_WAIT_READ) {
      if (available(c)) {
        app_read(c);
        if (!c->req_done) {
          /* ASSUMPTION: _parseRequest's readStringUntil blocks for the rest of the header; we wait
           * for it within HTTP_MAX_DATA_WAIT instead of blocking the loop. */
          keep = since <= HTTP_MAX_DATA_WAIT;
          if (keep) return 0;
        } else {
          answer(c); /* _handleRequest() */
          if (connected(c) || available(c)) { /* WS31 adds "|| available()"; connected() implies it */
            hc = HC_WAIT_CLOSE;
            hc_change = now;
            return 1;
          }
        }
      } else if (v31 && (has_client_data() || has_max_pending()) &&
                 since > HTTP_MAX_DATA_AVAILABLE_WAIT) {
        keep = 0; /* WS31: "closing since there's another connection to read from" */
      } else {
        keep = since <= HTTP_MAX_DATA_WAIT;
      }
    } else { /* HC_WAIT_CLOSE: wait for the client to close */
      /* WS27: "if (millis() - _statusChange <= HTTP_MAX_CLOSE_WAIT)";
       * WS31: "if (!_server.hasClient() && (millis() - _statusChange <= HTTP_MAX_CLOSE_WAIT))" */
      keep = since <= HTTP_MAX_CLOSE_WAIT && !(v31 && oldest_queued());
      if (keep && v31 && available(c)) { /* "continue serving current client" */
        hc = HC_WAIT_READ; /* _statusChange is not reset there either */
        c->req_len = 0;    /* the unread bytes are parsed as the next request */
        c->req_done = 0;
        c->req[0] = '\0';
        return 1;
      }
    }
  }
  if (keep) return 0;
  arduino_drop();
  return 1;
}

void app_poll(uint32_t now_ms) {
  int guard = 64; /* each step either progresses or waits; bound the loop anyway */
  if (!is_serial()) return;
  while (guard-- > 0 && (is_arduino() ? arduino_step(now_ms) : socket_app_step(now_ms))) {
  }
}

static uint32_t until(uint32_t deadline, uint32_t now) {
  int32_t d = (int32_t)(deadline - now);
  return d < 0 ? 0 : (uint32_t)d;
}

uint32_t app_sleep_ms(uint32_t now_ms) {
  uint32_t best = UINT32_MAX, t;
  if (!is_serial() || !cur) return best; /* a queued client is taken within the same app_poll */
  if (!is_arduino()) {
    t = read_timeout_ms();
    if (t && !cur->req_done) best = until(cur->taken_ms + t, now_ms);
    return best;
  }
  if (hc == HC_WAIT_READ) {
    best = until(hc_change + HTTP_MAX_DATA_WAIT + 1, now_ms);
    if (cfg.close_mode == CLOSE_ARDUINO_31 && (has_client_data() || has_max_pending())) {
      t = until(hc_change + HTTP_MAX_DATA_AVAILABLE_WAIT + 1, now_ms);
      if (t < best) best = t;
    }
  } else if (hc == HC_WAIT_CLOSE) {
    best = until(hc_change + HTTP_MAX_CLOSE_WAIT + 1, now_ms);
  }
  return best;
}
