/* Shared between the host side (TAP, link, pcap, timeline, main loop) and the lwIP side.
 * Must not include lwIP or netinet headers: the two define conflicting byte-order helpers. */
#ifndef CBDEV_H
#define CBDEV_H

#include <stddef.h>
#include <stdint.h>

enum close_mode {
  CLOSE_ESPCONN, CLOSE_NODEMCU_NET, CLOSE_MODLWIP, CLOSE_ARDUINO_27, CLOSE_ARDUINO_31, CLOSE_BSD
};
enum admission { ADMIT_NONE, ADMIT_ACTIVE, ADMIT_ESTABLISHED };

struct dev_config {
  uint8_t ip[4], netmask[4], gw[4], mac[6];
  uint16_t port;
  enum close_mode close_mode;
  enum admission admission;
  uint32_t admission_limit;
  uint32_t tw_cap;
  uint32_t cull_closing;
  uint64_t seed;
  uint32_t backlog;         /* the app's listen(backlog); 0 = the close mode's own app default */
  uint32_t read_timeout_ms; /* socket apps: give up on a silent client; 0 = the mode's default */
};

/* Counters printed as JSON at exit and sampled into the timeline. */
struct counters {
  uint64_t rx_frames, tx_frames; /* frames the device received (after link) / sent (before link) */
  uint64_t tap_rx, tap_tx;       /* frames read from / written to the client-side TAP */
  uint64_t link_drop_in, link_drop_out, tap_write_fail;
  uint64_t syn_dropped, culled, tw_freed;
  uint64_t requests, responses, close_fail;
};
extern struct counters g_cnt;

/* PCB/memory snapshot for the timeline. */
struct stack_snapshot {
  uint32_t led, listen, syn_rcvd, established, fin_wait_1, fin_wait_2, close_wait, closing,
      last_ack, time_wait, pcbs;
  uint64_t mem_used, mem_max, memp_tcp_pcb_used, memp_tcp_seg_used, memp_pbuf_used, alloc_fail;
};

/* The chip's heap (heap.c): the budget the stack's allocations draw on; 0 = the host's heap. */
struct heap_stats {
  uint64_t budget, used, max, fail; /* bytes; fail counts refused allocations */
  uint64_t first_fail_us;           /* mono_us() of the first refused allocation */
};
extern struct heap_stats g_heap;
void heap_set_budget(uint64_t bytes);
uint64_t heap_free_bytes(void); /* UINT64_MAX without a budget */
void *cb_heap_malloc(size_t size);
void *cb_heap_calloc(size_t n, size_t size);
void *cb_heap_realloc(void *p, size_t size);
void cb_heap_free(void *p);

/* --trace-tx FILE: a build that supports it writes, per TCP frame the device sends, the frame's
 * ports, seq, ack and flags and the return addresses on the output path (stack14.c); empty when
 * not asked for. */
extern const char *g_trace_tx_path;

/* lwIP side (stack.c). */
int stack_init(const struct dev_config *cfg);
void stack_input(const uint8_t *frame, size_t len); /* one frame toward lwIP */
void stack_poll(void);                              /* timers + deferred app work */
uint32_t stack_sleep_ms(void);                      /* ms until lwIP's next timeout */
void stack_snapshot(struct stack_snapshot *s);
uint32_t cb_rand32(void);

/* Host side: lwIP hands a finished frame to the link (main.c). */
void host_output(const uint8_t *frame, size_t len);

/* Clocks (main.c). */
uint64_t mono_us(void);

#endif
