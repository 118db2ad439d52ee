/* cbdev: an emulated IoT device. Real lwIP (or a plain bridge) behind a seeded link on a TAP. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "httppage.h"

#define FRAME_BUF 65536
#define READ_BATCH 64
#define PCAP_FLUSH_US 1000000ULL

uint32_t g_timeline_ms = 100;
const char *g_trace_tx_path;

static volatile sig_atomic_t g_stop;
static int g_tap = -1, g_bridge = -1;
static struct link *g_in, *g_out;
static FILE *g_pcap;

/* ---- The chip's speed (--cpu): one emulated core ----------------------------------------
 * Off (host speed) unless --cpu is given. On: every frame that reaches the device waits in a
 * bounded queue for the one core; each piece of work (one frame through lwIP, one pass of the
 * timers and the app loop, one timer tick) costs the modelled service time of the events it
 * makes, and the frames it sends leave when that time has passed. Times are virtual: a piece
 * starts at max(core free, its arrival), so a late host loop does not slow the chip down. */
enum cpu_event { EV_ACCEPT, EV_RECEIVE, EV_SEND, EV_CLOSE, EV_TIMER, EV_N };
static const char *const g_ev_names[EV_N] = {"accept", "receive", "send", "close", "timer"};
struct cpu_model {
  int on;
  uint32_t stack_us[EV_N], app_us[EV_N]; /* per event: lwIP/SDK work, app work */
  uint32_t tick_ms;                      /* a timer tick every tick_ms (0: none charged) */
  uint32_t queue;                        /* frames that may wait for the core */
};
struct qframe {
  uint64_t t_us; /* arrival (rx queue) or release time (tx queue) */
  size_t len;
  uint8_t *data;
};
struct fifo {
  struct qframe *v;
  size_t head, n, cap;
};
static struct cpu_model g_cpu;
static struct fifo g_rxq, g_txq, g_pend; /* waiting for the core / sent, not yet released / this piece's */
static uint64_t g_busy_until, g_next_tick, g_piece_cost;
static int g_in_piece;
static struct {
  /* late_max_us: the most a frame left after its modelled time, because the host loop woke
   * late (a loaded host); the modelled core's spacing of frames is kept up to that much. */
  uint64_t busy_us, pieces, queue_drop, queue_max, late_max_us;
} g_cpu_cnt;

static void fifo_push(struct fifo *q, const uint8_t *frame, size_t len, uint64_t t) {
  struct qframe *f;
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    struct qframe *v = malloc(cap * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < q->n; i++) v[i] = q->v[(q->head + i) % q->cap];
    free(q->v);
    q->v = v;
    q->cap = cap;
    q->head = 0;
  }
  f = &q->v[(q->head + q->n) % q->cap];
  f->t_us = t;
  f->len = len;
  f->data = malloc(len ? len : 1);
  if (!f->data) abort();
  memcpy(f->data, frame, len);
  q->n++;
}

static struct qframe *fifo_front(struct fifo *q) { return q->n ? &q->v[q->head] : NULL; }

static void fifo_drop_front(struct fifo *q) {
  free(q->v[q->head].data);
  q->head = (q->head + 1) % q->cap;
  q->n--;
}

/* Parses "accept=S:A,receive=S:A,send=S:A,close=S:A,timer=S:A,tick_ms=N,queue=N"
 * (S, A: microseconds of stack and app work per event). */
static int cpu_parse(const char *spec, struct cpu_model *m, char *err, size_t errlen) {
  char buf[512], *save = NULL, *tok;
  memset(m, 0, sizeof *m);
  m->on = 1;
  m->queue = 32;
  if (strlen(spec) >= sizeof buf) {
    snprintf(err, errlen, "spec too long");
    return -1;
  }
  strcpy(buf, spec);
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '='), *end;
    unsigned long a, b = 0;
    int ev = -1;
    if (!eq) {
      snprintf(err, errlen, "item '%s' is not key=value", tok);
      return -1;
    }
    *eq = '\0';
    errno = 0;
    a = strtoul(eq + 1, &end, 10);
    for (int i = 0; i < EV_N; i++)
      if (!strcmp(tok, g_ev_names[i])) ev = i;
    if (ev >= 0) {
      if (*end != ':' || end == eq + 1) goto bad;
      char *bstart = end + 1;
      b = strtoul(bstart, &end, 10);
      if (end == bstart || *bstart == '-') goto bad;
    }
    if (errno || *end || eq[1] == '-' || a > 10000000 || b > 10000000) goto bad;
    if (ev >= 0) {
      m->stack_us[ev] = (uint32_t)a;
      m->app_us[ev] = (uint32_t)b;
    } else if (!strcmp(tok, "tick_ms")) {
      if (a > 3600000) goto bad;
      m->tick_ms = (uint32_t)a;
    } else if (!strcmp(tok, "queue")) {
      if (a < 1 || a > 100000) goto bad;
      m->queue = (uint32_t)a;
    } else {
      snprintf(err, errlen, "unknown item '%s'", tok);
      return -1;
    }
    continue;
  bad:
    snprintf(err, errlen, "'%s=%s' needs %s", tok, eq + 1,
             ev >= 0 ? "STACK_US:APP_US (0..10000000 each)"
                     : !strcmp(tok, "queue") ? "an integer in 1..100000"
                                             : "an integer in 0..3600000");
    return -1;
  }
  return 0;
}

/* TCP flags and payload bytes of an Ethernet/IPv4/TCP frame; 0 when it is not one. */
static int tcp_info(const uint8_t *f, size_t len, uint8_t *flags, size_t *payload) {
  const uint8_t *ip = f + 14, *tcp;
  size_t ihl, total, doff;
  if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4 || ip[9] != 6)
    return 0;
  ihl = (size_t)(ip[0] & 0x0f) * 4;
  total = (size_t)(ip[2] << 8 | ip[3]);
  if (ihl < 20 || len < 14 + ihl + 20 || total < ihl + 20) return 0;
  tcp = ip + ihl;
  doff = (size_t)(tcp[12] >> 4) * 4;
  *flags = tcp[13];
  *payload = total > ihl + doff ? total - ihl - doff : 0;
  return 1;
}

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

static uint64_t ev_cost(int ev, int app) {
  return g_cpu.stack_us[ev] + (app ? g_cpu.app_us[ev] : 0);
}

/* A frame the core takes in: a SYN is the stack's part of an accept (the app's part comes with
 * the SYN-ACK, so a SYN the stack drops costs the app nothing), any other frame one receive
 * (the app's part only when it carries data). */
static uint64_t in_cost(const uint8_t *frame, size_t len) {
  uint8_t fl = 0;
  size_t pl = 0;
  if (tcp_info(frame, len, &fl, &pl) && (fl & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN)
    return ev_cost(EV_ACCEPT, 0);
  return ev_cost(EV_RECEIVE, pl > 0);
}

/* A frame the core sends: one send (the app's part when it carries data), plus a close when
 * it carries FIN or RST, plus the app's accept when it is a SYN-ACK (the connection was let in;
 * charged one round trip before the app's accept callback really runs). */
static uint64_t out_cost(const uint8_t *frame, size_t len) {
  uint8_t fl = 0;
  size_t pl = 0;
  int tcp = tcp_info(frame, len, &fl, &pl);
  uint64_t c = ev_cost(EV_SEND, tcp && pl > 0);
  if (tcp && (fl & (TCPF_FIN | TCPF_RST))) c += ev_cost(EV_CLOSE, 1);
  if (tcp && (fl & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK)) c += g_cpu.app_us[EV_ACCEPT];
  return c;
}

static void piece_begin(uint64_t cost) {
  g_in_piece = 1;
  g_piece_cost = cost;
}

/* The piece ran at virtual time `start`: each frame it sent leaves once the work before it
 * and its own is paid (its t_us: the piece's cost so far), and the core is busy until the
 * whole piece is. */
static void piece_end(uint64_t start) {
  uint64_t done = start + g_piece_cost;
  g_in_piece = 0;
  while (g_pend.n) {
    struct qframe *f = fifo_front(&g_pend);
    fifo_push(&g_txq, f->data, f->len, start + f->t_us);
    fifo_drop_front(&g_pend);
  }
  if (g_piece_cost) {
    g_busy_until = done;
    g_cpu_cnt.busy_us += g_piece_cost;
    g_cpu_cnt.pieces++;
  }
}

uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static void usage_error(const char *fmt, ...) {
  va_list ap;
  fputs("cbdev: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (see firmware_variants/device/README.md)\n", stderr);
  exit(2);
}

static uint64_t parse_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi) {
  char *end;
  unsigned long long x;
  errno = 0;
  x = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi)
    usage_error("--%s needs an integer in %llu..%llu, got '%s'", opt, (unsigned long long)lo,
                (unsigned long long)hi, v);
  return x;
}

static void parse_ip(const char *opt, const char *v, uint8_t out[4], int bench_range) {
  if (inet_pton(AF_INET, v, out) != 1) usage_error("--%s needs an IPv4 address, got '%s'", opt, v);
  /* the bench only ever uses 198.18.0.0/15 */
  if (bench_range && !(out[0] == 198 && (out[1] & 0xfe) == 18))
    usage_error("--%s %s is outside 198.18.0.0/15, the only range the bench may use", opt, v);
}

static void parse_mac(const char *v, uint8_t mac[6]) {
  unsigned m[6];
  char extra;
  if (sscanf(v, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &extra) != 6)
    usage_error("--mac needs xx:xx:xx:xx:xx:xx, got '%s'", v);
  for (int i = 0; i < 6; i++) {
    if (m[i] > 255) usage_error("--mac needs xx:xx:xx:xx:xx:xx, got '%s'", v);
    mac[i] = (uint8_t)m[i];
  }
}

static int pick(const char *opt, const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return i;
  usage_error("--%s: unknown value '%s'", opt, v);
  return -1;
}

struct args {
  const char *tap, *tap_netns, *bridge_tap, *bridge_netns, *timeline, *pcap, *link_in, *link_out;
  const char *cpu;
  int have_ip;
  uint64_t duration_s;
  struct dev_config dev;
};

static void parse_args(int argc, char **argv, struct args *a) {
  static const char *const closes[] = {"espconn", "nodemcu-net", "modlwip", "arduino-2.7",
                                       "arduino-3.1", "bsd-socket"};
  static const char *const admits[] = {"none", "active", "established"};
  static const struct option opts[] = {
      {"tap", 1, 0, 't'},          {"tap-netns", 1, 0, 'T'},   {"bridge-tap", 1, 0, 'b'},
      {"bridge-netns", 1, 0, 'B'}, {"ip", 1, 0, 'i'},          {"netmask", 1, 0, 'n'},
      {"gw", 1, 0, 'g'},           {"mac", 1, 0, 'm'},         {"port", 1, 0, 'p'},
      {"close", 1, 0, 'c'},        {"admission", 1, 0, 'a'},   {"admission-limit", 1, 0, 'A'},
      {"tw-cap", 1, 0, 'w'},       {"cull-closing", 1, 0, 'k'}, {"timeline", 1, 0, 'l'},
      {"timeline-ms", 1, 0, 'L'},  {"pcap", 1, 0, 'P'},        {"seed", 1, 0, 's'},
      {"link-in", 1, 0, 'I'},      {"link-out", 1, 0, 'O'},    {"duration-s", 1, 0, 'd'},
      {"backlog", 1, 0, 'q'},      {"read-timeout-ms", 1, 0, 'r'}, {"cpu", 1, 0, 'C'},
      {"heap-bytes", 1, 0, 'M'},   {"app", 1, 0, 'H'},          {"trace-tx", 1, 0, 'X'},
      {0, 0, 0, 0}};
  static const char *const apps[] = {"http11", "readme"};
  int c;
  memset(a, 0, sizeof *a);
  a->duration_s = 3600;
  a->dev.port = 80;
  a->dev.close_mode = CLOSE_BSD;
  a->dev.admission = ADMIT_NONE;
  a->dev.admission_limit = 5;
  a->dev.seed = 1;
  memcpy(a->dev.netmask, (uint8_t[]){255, 255, 255, 0}, 4);
  memcpy(a->dev.mac, (uint8_t[]){0x02, 0x00, 0xc6, 0x12, 0x00, 0x02}, 6);
  opterr = 0; /* our own one-line messages */
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    switch (c) {
    case 't': a->tap = optarg; break;
    case 'T': a->tap_netns = optarg; break;
    case 'b': a->bridge_tap = optarg; break;
    case 'B': a->bridge_netns = optarg; break;
    case 'i': parse_ip("ip", optarg, a->dev.ip, 1); a->have_ip = 1; break;
    case 'n': parse_ip("netmask", optarg, a->dev.netmask, 0); break;
    case 'g':
      parse_ip("gw", optarg, a->dev.gw, 0);
      if (memcmp(a->dev.gw, "\0\0\0\0", 4) != 0) parse_ip("gw", optarg, a->dev.gw, 1);
      break;
    case 'm': parse_mac(optarg, a->dev.mac); break;
    case 'p': a->dev.port = (uint16_t)parse_u64("port", optarg, 1, 65535); break;
    case 'c': a->dev.close_mode = (enum close_mode)pick("close", optarg, closes, 6); break;
    case 'a': a->dev.admission = (enum admission)pick("admission", optarg, admits, 3); break;
    case 'A': a->dev.admission_limit = (uint32_t)parse_u64("admission-limit", optarg, 0, 65535); break;
    case 'w': a->dev.tw_cap = (uint32_t)parse_u64("tw-cap", optarg, 0, 65535); break;
    case 'k': a->dev.cull_closing = (uint32_t)parse_u64("cull-closing", optarg, 0, 65535); break;
    case 'l': a->timeline = optarg; break;
    case 'L': g_timeline_ms = (uint32_t)parse_u64("timeline-ms", optarg, 1, 3600000); break;
    case 'P': a->pcap = optarg; break;
    case 's': a->dev.seed = parse_u64("seed", optarg, 0, UINT64_MAX); break;
    case 'I': a->link_in = optarg; break;
    case 'O': a->link_out = optarg; break;
    case 'd': a->duration_s = parse_u64("duration-s", optarg, 1, 30 * 86400); break;
    case 'q': a->dev.backlog = (uint32_t)parse_u64("backlog", optarg, 0, 255); break;
    case 'r': a->dev.read_timeout_ms = (uint32_t)parse_u64("read-timeout-ms", optarg, 0, 3600000); break;
    case 'C': a->cpu = optarg; break;
    case 'M': heap_set_budget(parse_u64("heap-bytes", optarg, 0, UINT32_MAX)); break;
    case 'X': g_trace_tx_path = optarg; break;
    case 'H': g_http_app = (enum http_app)pick("app", optarg, apps, 2); break;
    case ':': usage_error("option %s needs a value", name); break;
    default: usage_error("unknown option %s", name); break;
    }
  }
  if (optind < argc) usage_error("unexpected argument '%s'", argv[optind]);
  if (!a->tap) usage_error("--tap NAME is required");
  if (a->bridge_netns && !a->bridge_tap) usage_error("--bridge-netns needs --bridge-tap");
  if (!a->bridge_tap && !a->have_ip) usage_error("--ip is required (or --bridge-tap for bridge mode)");
  if (a->cpu && a->bridge_tap) usage_error("--cpu models the device's core; bridge mode has none");
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void tap_write(int fd, const uint8_t *frame, size_t len) {
  if (write(fd, frame, len) != (ssize_t)len) g_cnt.tap_write_fail++;
}

/* A frame reaches the device (after the inbound link). */
static void deliver_in(const uint8_t *frame, size_t len, uint64_t now) {
  g_cnt.rx_frames++;
  if (g_pcap) pcap_write(g_pcap, frame, len);
  if (g_bridge >= 0) {
    tap_write(g_bridge, frame, len);
  } else if (g_cpu.on) { /* waits for the core; a full queue drops it, as the chip's driver would */
    if (g_rxq.n >= g_cpu.queue) {
      g_cpu_cnt.queue_drop++;
      return;
    }
    fifo_push(&g_rxq, frame, len, now);
    if (g_rxq.n > g_cpu_cnt.queue_max) g_cpu_cnt.queue_max = g_rxq.n;
  } else {
    stack_input(frame, len);
  }
}

/* A frame leaves the device (before the outbound link). */
static void device_out(const uint8_t *frame, size_t len, uint64_t now) {
  g_cnt.tx_frames++;
  if (g_pcap) pcap_write(g_pcap, frame, len);
  if (link_ideal(g_out)) {
    g_cnt.tap_tx++;
    tap_write(g_tap, frame, len);
  } else if (!link_push(g_out, frame, len, now)) {
    g_cnt.link_drop_out++;
  }
}

void host_output(const uint8_t *frame, size_t len) {
  if (g_in_piece) { /* the modelled core: it leaves when the work up to it is done */
    g_piece_cost += out_cost(frame, len);
    fifo_push(&g_pend, frame, len, g_piece_cost);
    return;
  }
  device_out(frame, len, mono_us());
}

/* The modelled core: timer ticks and queued frames in time order while the core is free by
 * `now`, then the timers and the app loop, then the frames whose work is done. */
static void cpu_run(uint64_t now) {
  for (;;) {
    struct qframe *f = fifo_front(&g_rxq);
    uint64_t tick = g_cpu.tick_ms ? g_next_tick : UINT64_MAX, at, start;
    at = f && f->t_us < tick ? f->t_us : tick;
    if (at == UINT64_MAX) break;
    start = at > g_busy_until ? at : g_busy_until;
    if (start > now) break;
    if (f && f->t_us < tick) {
      piece_begin(in_cost(f->data, f->len));
      stack_input(f->data, f->len);
      piece_end(start);
      fifo_drop_front(&g_rxq);
    } else {
      piece_begin(ev_cost(EV_TIMER, 1));
      piece_end(start);
      g_next_tick += (uint64_t)g_cpu.tick_ms * 1000;
    }
  }
  if (g_busy_until <= now) {
    piece_begin(0);
    stack_poll();
    piece_end(now);
  }
  for (struct qframe *f; (f = fifo_front(&g_txq)) && f->t_us <= now; fifo_drop_front(&g_txq)) {
    if (now - f->t_us > g_cpu_cnt.late_max_us) g_cpu_cnt.late_max_us = now - f->t_us;
    device_out(f->data, f->len, now);
  }
}

/* Microseconds until the modelled core has something to do. */
static uint64_t cpu_wait_us(uint64_t now) {
  uint64_t t = UINT64_MAX;
  struct qframe *f;
  if ((f = fifo_front(&g_txq))) t = f->t_us;
  if ((f = fifo_front(&g_rxq))) {
    uint64_t start = f->t_us > g_busy_until ? f->t_us : g_busy_until;
    if (start < t) t = start;
  }
  if (g_cpu.tick_ms && g_next_tick < t) t = g_next_tick;
  if (g_busy_until > now && g_busy_until < t) t = g_busy_until; /* timers run once it is free */
  return t > now ? t - now : 0;
}

static int pump(uint8_t *buf, uint64_t now) {
  int activity = 0;
  size_t n;
  ssize_t r;
  while ((n = link_pop(g_in, buf, FRAME_BUF, now)) > 0) {
    deliver_in(buf, n, now);
    activity = 1;
  }
  while ((n = link_pop(g_out, buf, FRAME_BUF, now)) > 0) {
    g_cnt.tap_tx++;
    tap_write(g_tap, buf, n);
  }
  for (int i = 0; i < READ_BATCH && (r = read(g_tap, buf, FRAME_BUF)) > 0; i++) {
    g_cnt.tap_rx++;
    activity = 1;
    if (link_ideal(g_in)) deliver_in(buf, (size_t)r, now);
    else if (!link_push(g_in, buf, (size_t)r, now)) g_cnt.link_drop_in++;
  }
  for (int i = 0; g_bridge >= 0 && i < READ_BATCH && (r = read(g_bridge, buf, FRAME_BUF)) > 0;
       i++) {
    activity = 1;
    device_out(buf, (size_t)r, now);
  }
  return activity;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void print_counters(const char *why) {
  struct stack_snapshot s;
  memset(&s, 0, sizeof s);
  if (g_bridge < 0) stack_snapshot(&s);
  fprintf(stderr,
          "{\"rx_frames\":%llu,\"tx_frames\":%llu,\"link_drop_in\":%llu,\"link_drop_out\":%llu,"
          "\"syn_dropped\":%llu,\"culled\":%llu,\"alloc_fail\":%llu,\"tw_freed\":%llu,"
          "\"tap_rx\":%llu,\"tap_tx\":%llu,\"tap_write_fail\":%llu,\"requests\":%llu,"
          "\"responses\":%llu,\"close_fail\":%llu,\"led\":%u,\"cpu_busy_us\":%llu,"
          "\"cpu_pieces\":%llu,\"cpu_queue_drop\":%llu,\"cpu_queue_max\":%llu,\"cpu_late_max_us\":%llu,"
          "\"heap_budget\":%llu,"
          "\"heap_used_max\":%llu,\"heap_fail\":%llu,\"exit\":\"%s\"}\n",
          (unsigned long long)g_cnt.rx_frames, (unsigned long long)g_cnt.tx_frames,
          (unsigned long long)g_cnt.link_drop_in, (unsigned long long)g_cnt.link_drop_out,
          (unsigned long long)g_cnt.syn_dropped, (unsigned long long)g_cnt.culled,
          (unsigned long long)s.alloc_fail, (unsigned long long)g_cnt.tw_freed,
          (unsigned long long)g_cnt.tap_rx, (unsigned long long)g_cnt.tap_tx,
          (unsigned long long)g_cnt.tap_write_fail, (unsigned long long)g_cnt.requests,
          (unsigned long long)g_cnt.responses, (unsigned long long)g_cnt.close_fail, s.led,
          (unsigned long long)g_cpu_cnt.busy_us, (unsigned long long)g_cpu_cnt.pieces,
          (unsigned long long)g_cpu_cnt.queue_drop, (unsigned long long)g_cpu_cnt.queue_max,
          (unsigned long long)g_cpu_cnt.late_max_us, (unsigned long long)g_heap.budget, (unsigned long long)g_heap.max,
          (unsigned long long)g_heap.fail, why);
}

int main(int argc, char **argv) {
  static uint8_t buf[FRAME_BUF];
  struct args a;
  struct link_params lin, lout;
  struct timeline *tl = NULL;
  struct sigaction sa;
  sigset_t block, waitmask;
  char err[256];
  uint64_t now, end, next_flush, seed;
  const char *why = "signal";

  parse_args(argc, argv, &a);
  if (link_parse(a.link_in, &lin, err, sizeof err)) usage_error("--link-in: %s", err);
  if (link_parse(a.link_out, &lout, err, sizeof err)) usage_error("--link-out: %s", err);
  if (a.cpu && cpu_parse(a.cpu, &g_cpu, err, sizeof err)) usage_error("--cpu: %s", err);

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &waitmask); /* signals arrive only inside ppoll: no races */
  signal(SIGPIPE, SIG_IGN);

  g_tap = tap_open(a.tap, a.tap_netns, err, sizeof err);
  if (g_tap < 0) usage_error("%s", err);
  if (a.bridge_tap) {
    g_bridge = tap_open(a.bridge_tap, a.bridge_netns, err, sizeof err);
    if (g_bridge < 0) usage_error("%s", err);
  }
  seed = a.dev.seed;
  g_in = link_new(&lin, seed ^ 0x696e626f756e6421ULL);
  g_out = link_new(&lout, seed ^ 0x6f7574626f756e64ULL);
  if (a.pcap && !(g_pcap = pcap_open(a.pcap))) usage_error("cannot write --pcap %s", a.pcap);
  if (a.timeline && !(tl = timeline_open(a.timeline, g_bridge < 0)))
    usage_error("cannot write --timeline %s", a.timeline);
  if (g_bridge < 0 && stack_init(&a.dev) != 0) {
    fprintf(stderr, "cbdev: lwIP could not listen on port %u\n", a.dev.port);
    return 1;
  }
  if (g_bridge < 0)
    printf("cbdev ready ip=%u.%u.%u.%u port=%u\n", a.dev.ip[0], a.dev.ip[1], a.dev.ip[2],
           a.dev.ip[3], a.dev.port);
  else
    printf("cbdev ready bridge tap=%s bridge-tap=%s\n", a.tap, a.bridge_tap);
  fflush(stdout);

  now = mono_us();
  end = now + a.duration_s * 1000000ULL;
  next_flush = now + PCAP_FLUSH_US;
  g_next_tick = now + (uint64_t)g_cpu.tick_ms * 1000;
  while (!g_stop) {
    struct pollfd fds[2] = {{g_tap, POLLIN, 0}, {g_bridge, POLLIN, 0}};
    struct timespec ts;
    uint64_t wait_us;
    int activity;
    now = mono_us();
    if (now >= end) {
      why = "duration";
      break;
    }
    activity = pump(buf, now);
    if (g_cpu.on) cpu_run(mono_us());
    else if (g_bridge < 0) stack_poll();
    now = mono_us();
    wait_us = end - now;
    /* a busy modelled core runs no timers: it wakes when it is free (cpu_wait_us) */
    if (g_bridge < 0 && !(g_cpu.on && g_busy_until > now))
      wait_us = min_u64(wait_us, (uint64_t)stack_sleep_ms() * 1000);
    if (g_cpu.on) wait_us = min_u64(wait_us, cpu_wait_us(now));
    if (tl) wait_us = min_u64(wait_us, (uint64_t)timeline_update(tl, now, activity) * 1000);
    wait_us = min_u64(wait_us, link_next_due(g_in) > now ? link_next_due(g_in) - now : 0);
    wait_us = min_u64(wait_us, link_next_due(g_out) > now ? link_next_due(g_out) - now : 0);
    if (g_pcap && now >= next_flush) {
      fflush(g_pcap);
      next_flush = now + PCAP_FLUSH_US;
    }
    if (activity) wait_us = 0; /* drain what is queued before sleeping */
    ts.tv_sec = (time_t)(wait_us / 1000000);
    ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
    ppoll(fds, g_bridge >= 0 ? 2 : 1, &ts, &waitmask);
  }
  if (tl) timeline_close(tl);
  if (g_pcap) fclose(g_pcap);
  print_counters(why);
  return 0;
}
