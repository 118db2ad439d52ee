/* HTTP/1.1 LED page on lwIP's raw TCP API, closing connections the way each firmware API does.
 * Close-mode facts and citations: /work/shared/firmware-facts.md sections A-E. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/tcp.h"

#include "app.h"

#define REQ_MAX 2048
#define POLL_TICKS 4           /* tcp_poll interval in coarse ticks (~2 s at TCP_TMR_INTERVAL 250) */
#define ESPCONN_IDLE_POLLS 15  /* NodeMCU net.createServer default timeout 30 s */
#define MODLWIP_CLOSE_POLLS 20 /* modlwip: tcp_poll(pcb, close_poll, 20) before tcp_close */
#define ARDUINO_CLOSE_WAIT_MS 2000 /* ESP8266WebServer HTTP_MAX_CLOSE_WAIT */

struct conn {
  struct tcp_pcb *pcb;
  struct conn *prev, *next;
  struct pbuf *rxq; /* received, not yet read by the app (read-on-demand modes) */
  char req[REQ_MAX];
  uint16_t req_len;
  uint8_t req_done, responded, peer_fin, close_pending, send_pending;
  uint16_t resp_len;
  uint32_t acked;
  uint32_t idle_polls;
  uint32_t wait_deadline_ms; /* arduino: when to give up waiting for the client's close */
  char resp[1024];
};

static struct dev_config cfg;
static struct conn *conns;
static uint32_t led, disconnects;

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

static const char PAGE[] =
    "<!DOCTYPE html><html><head><title>closebench device</title></head><body>"
    "<h1>LED is %s</h1><p><a href=\"/?led=on\">on</a> <a href=\"/?led=off\">off</a></p>"
    "</body></html>\n";

static void build_response(struct conn *c) {
  char body[512];
  const char *status = "200 OK";
  int head = 0, blen;
  char *line_end = strstr(c->req, "\r\n");
  char method[8] = "", target[256] = "", version[16] = "";
  if (!line_end) line_end = strchr(c->req, '\n');
  if (line_end) *line_end = '\0';
  if (!line_end || c->req_len >= REQ_MAX ||
      sscanf(c->req, "%7s %255s %15s", method, target, version) != 3 ||
      strncmp(version, "HTTP/1.", 7) != 0 || target[0] != '/') {
    status = "400 Bad Request";
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    status = "400 Bad Request";
  } else {
    char *query = strchr(target, '?');
    head = strcmp(method, "HEAD") == 0;
    if (query) *query++ = '\0';
    if (strcmp(target, "/") != 0) {
      status = "404 Not Found";
    } else if (query && !head) { /* GET switches the LED; HEAD only reports */
      if (strcmp(query, "led=on") == 0) led = 1;
      else if (strcmp(query, "led=off") == 0) led = 0;
    }
  }
  if (status[0] == '2') blen = snprintf(body, sizeof body, PAGE, led ? "on" : "off");
  else blen = snprintf(body, sizeof body, "%s\n", status);
  c->resp_len = (uint16_t)snprintf(c->resp, sizeof c->resp,
                                   "HTTP/1.1 %s\r\nServer: cbdev\r\nContent-Type: %s\r\n"
                                   "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                                   status, status[0] == '2' ? "text/html" : "text/plain",
                                   blen, head ? "" : body);
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

/* The request is complete: answer, then close as the mode says. */
static err_t respond(struct conn *c) {
  g_cnt.requests++;
  build_response(c);
  try_send(c);
  if (!c->responded) return ERR_OK;
  switch (cfg.close_mode) {
  case CLOSE_MODLWIP:
    return app_close(c, 1); /* right after queuing, not waiting for the ACK */
  case CLOSE_BSD:
    return app_close(c, 0); /* netconn retries a failed close later */
  case CLOSE_ARDUINO:
    c->wait_deadline_ms = sys_now() + ARDUINO_CLOSE_WAIT_MS;
    if (c->peer_fin && !c->rxq) return do_abort(c);
    return ERR_OK;
  default:
    return ERR_OK; /* espconn / nodemcu-net close from the sent callback */
  }
}

static void append(struct conn *c, char ch) {
  if (c->req_len < REQ_MAX - 1) c->req[c->req_len++] = ch;
  else c->req_len = REQ_MAX; /* too long: 400 */
  c->req[c->req_len < REQ_MAX ? c->req_len : REQ_MAX - 1] = '\0';
  if (c->req_len >= REQ_MAX) c->req_done = 1;
  else if (c->req_len >= 4 && memcmp(c->req + c->req_len - 4, "\r\n\r\n", 4) == 0) c->req_done = 1;
  else if (c->req_len >= 2 && memcmp(c->req + c->req_len - 2, "\n\n", 2) == 0) c->req_done = 1;
}

/* The app reads the request from the queue: tcp_recved only for the bytes it consumed. */
static void app_read(struct conn *c) {
  uint16_t used = 0;
  if (!c->rxq) return;
  while (!c->req_done && used < c->rxq->tot_len) append(c, (char)pbuf_get_at(c->rxq, used++));
  if (used == 0) return;
  tcp_recved(c->pcb, used);
  c->rxq = used == c->rxq->tot_len ? (pbuf_free(c->rxq), NULL) : pbuf_free_header(c->rxq, used);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  struct conn *c = arg;
  (void)err;
  if (!c) { /* detached: behave like lwIP's tcp_recv_null */
    if (p) { tcp_recved(pcb, p->tot_len); pbuf_free(p); }
    return ERR_OK;
  }
  c->idle_polls = 0;
  if (p) {
    if (cfg.close_mode == CLOSE_ESPCONN || cfg.close_mode == CLOSE_NODEMCU_NET) {
      tcp_recved(pcb, p->tot_len); /* espconn/net ack every pbuf at once */
      for (uint16_t i = 0; i < p->tot_len && !c->req_done; i++) append(c, (char)pbuf_get_at(p, i));
      pbuf_free(p);
    } else {
      if (c->rxq) pbuf_cat(c->rxq, p); else c->rxq = p;
      app_read(c);
    }
    if (c->req_done && !c->responded && !c->send_pending) return respond(c);
    return ERR_OK;
  }
  /* p == NULL: the peer sent FIN */
  c->peer_fin = 1;
  switch (cfg.close_mode) {
  case CLOSE_ESPCONN:
    return app_close(c, 0);
  case CLOSE_NODEMCU_NET:
    return app_close(c, 1);
  case CLOSE_ARDUINO:
    return c->rxq ? ERR_OK : do_abort(c); /* ClientContext: FIN on an empty buffer -> abort */
  default: /* modlwip / bsd: the app sees EOF and closes (stays CLOSE_WAIT until then) */
    if (!c->responded) return app_close(c, cfg.close_mode == CLOSE_MODLWIP);
    return ERR_OK;
  }
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  struct conn *c = arg;
  (void)pcb;
  if (!c) return ERR_OK;
  c->acked += len;
  if (c->send_pending) {
    try_send(c);
    if (c->responded && (cfg.close_mode == CLOSE_MODLWIP || cfg.close_mode == CLOSE_BSD))
      return app_close(c, cfg.close_mode == CLOSE_MODLWIP);
    return ERR_OK;
  }
  if (c->close_pending) return app_close(c, 0);
  if (c->responded && c->acked >= c->resp_len) {
    if (cfg.close_mode == CLOSE_ESPCONN) return app_close(c, 0);
    if (cfg.close_mode == CLOSE_NODEMCU_NET) return app_close(c, 1);
  }
  return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb) {
  struct conn *c = arg;
  if (!c) return ERR_OK;
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
  if (!c) return;
  conn_free(c); /* lwIP already freed the PCB */
  disconnects++;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  struct conn *c;
  (void)arg;
  if (err != ERR_OK || !pcb) return ERR_VAL;
  c = calloc(1, sizeof *c);
  if (!c) return ERR_MEM;
  c->pcb = pcb;
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  attach(c);
  return ERR_OK;
}

static void attach(struct conn *c) {
  tcp_arg(c->pcb, c);
  tcp_recv(c->pcb, on_recv);
  tcp_sent(c->pcb, on_sent);
  tcp_err(c->pcb, on_err);
  tcp_poll(c->pcb, on_poll, POLL_TICKS);
}

int app_start(const struct dev_config *config) {
  struct tcp_pcb *pcb, *lpcb;
  cfg = *config;
  pcb = tcp_new();
  if (!pcb || tcp_bind(pcb, IP_ADDR_ANY, cfg.port) != ERR_OK) return -1;
  lpcb = tcp_listen(pcb);
  if (!lpcb) return -1;
  tcp_accept(lpcb, on_accept);
  return 0;
}

void app_poll(uint32_t now_ms) {
  struct conn *c = conns, *next;
  if (cfg.close_mode != CLOSE_ARDUINO) return;
  for (; c; c = next) {
    next = c->next;
    if (!c->responded || (int32_t)(now_ms - c->wait_deadline_ms) < 0) continue;
    /* 2 s without the client's close: discard_received() then close() (FIN) */
    if (c->rxq) {
      tcp_recved(c->pcb, c->rxq->tot_len);
      pbuf_free(c->rxq);
      c->rxq = NULL;
    }
    app_close(c, 1);
  }
}

uint32_t app_sleep_ms(uint32_t now_ms) {
  uint32_t best = UINT32_MAX;
  if (cfg.close_mode != CLOSE_ARDUINO) return best;
  for (struct conn *c = conns; c; c = c->next) {
    if (!c->responded) continue;
    int32_t d = (int32_t)(c->wait_deadline_ms - now_ms);
    uint32_t left = d < 0 ? 0 : (uint32_t)d;
    if (left < best) best = left;
  }
  return best;
}
