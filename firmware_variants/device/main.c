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

#define FRAME_BUF 65536
#define READ_BATCH 64
#define PCAP_FLUSH_US 1000000ULL

uint32_t g_timeline_ms = 100;

static volatile sig_atomic_t g_stop;
static int g_tap = -1, g_bridge = -1;
static struct link *g_in, *g_out;
static FILE *g_pcap;

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
      {"backlog", 1, 0, 'q'},      {"read-timeout-ms", 1, 0, 'r'},
      {0, 0, 0, 0}};
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
    case ':': usage_error("option %s needs a value", name); break;
    default: usage_error("unknown option %s", name); break;
    }
  }
  if (optind < argc) usage_error("unexpected argument '%s'", argv[optind]);
  if (!a->tap) usage_error("--tap NAME is required");
  if (a->bridge_netns && !a->bridge_tap) usage_error("--bridge-netns needs --bridge-tap");
  if (!a->bridge_tap && !a->have_ip) usage_error("--ip is required (or --bridge-tap for bridge mode)");
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void tap_write(int fd, const uint8_t *frame, size_t len) {
  if (write(fd, frame, len) != (ssize_t)len) g_cnt.tap_write_fail++;
}

/* A frame reaches the device (after the inbound link). */
static void deliver_in(const uint8_t *frame, size_t len) {
  g_cnt.rx_frames++;
  if (g_pcap) pcap_write(g_pcap, frame, len);
  if (g_bridge >= 0) tap_write(g_bridge, frame, len);
  else stack_input(frame, len);
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

void host_output(const uint8_t *frame, size_t len) { device_out(frame, len, mono_us()); }

static int pump(uint8_t *buf, uint64_t now) {
  int activity = 0;
  size_t n;
  ssize_t r;
  while ((n = link_pop(g_in, buf, FRAME_BUF, now)) > 0) {
    deliver_in(buf, n);
    activity = 1;
  }
  while ((n = link_pop(g_out, buf, FRAME_BUF, now)) > 0) {
    g_cnt.tap_tx++;
    tap_write(g_tap, buf, n);
  }
  for (int i = 0; i < READ_BATCH && (r = read(g_tap, buf, FRAME_BUF)) > 0; i++) {
    g_cnt.tap_rx++;
    activity = 1;
    if (link_ideal(g_in)) deliver_in(buf, (size_t)r);
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
          "\"responses\":%llu,\"close_fail\":%llu,\"led\":%u,\"exit\":\"%s\"}\n",
          (unsigned long long)g_cnt.rx_frames, (unsigned long long)g_cnt.tx_frames,
          (unsigned long long)g_cnt.link_drop_in, (unsigned long long)g_cnt.link_drop_out,
          (unsigned long long)g_cnt.syn_dropped, (unsigned long long)g_cnt.culled,
          (unsigned long long)s.alloc_fail, (unsigned long long)g_cnt.tw_freed,
          (unsigned long long)g_cnt.tap_rx, (unsigned long long)g_cnt.tap_tx,
          (unsigned long long)g_cnt.tap_write_fail, (unsigned long long)g_cnt.requests,
          (unsigned long long)g_cnt.responses, (unsigned long long)g_cnt.close_fail, s.led, why);
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
    if (g_bridge < 0) stack_poll();
    now = mono_us();
    wait_us = end - now;
    if (g_bridge < 0) wait_us = min_u64(wait_us, (uint64_t)stack_sleep_ms() * 1000);
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
