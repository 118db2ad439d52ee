/* Timeline CSV: a row every period (tick) and on any counter change (change, <= 1 per ms). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"

#define NVALS 24
#define HEAP_FREE_COL 23 /* empty without a heap budget (--heap-bytes) */
#define CHANGE_GAP_US 1000

struct timeline {
  FILE *f;
  int lwip_mode;
  uint64_t start_us, period_us, next_tick_us, last_row_us;
  int dirty, have_last;
  uint64_t last[NVALS];
};

static const char HEADER[] =
    "epoch_s,t_ms,reason,led,listen,syn_rcvd,established,fin_wait_1,fin_wait_2,close_wait,"
    "closing,last_ack,time_wait,pcbs,mem_used,mem_max,memp_tcp_pcb_used,memp_tcp_seg_used,"
    "memp_pbuf_used,alloc_fail,syn_dropped,culled,rx_frames,tx_frames,link_drop_in,"
    "link_drop_out,heap_free\n";

extern uint32_t g_timeline_ms;

struct timeline *timeline_open(const char *path, int lwip_mode) {
  struct timeline *t = calloc(1, sizeof *t);
  if (!t || !(t->f = fopen(path, "w"))) {
    free(t);
    return NULL;
  }
  setvbuf(t->f, NULL, _IOFBF, 1 << 16);
  fputs(HEADER, t->f);
  t->lwip_mode = lwip_mode;
  t->start_us = mono_us();
  t->period_us = (uint64_t)g_timeline_ms * 1000;
  t->next_tick_us = t->start_us;
  return t;
}

static void sample(const struct timeline *t, uint64_t *v) {
  struct stack_snapshot s;
  memset(&s, 0, sizeof s);
  if (t->lwip_mode) stack_snapshot(&s);
  uint64_t vals[NVALS] = {s.led, s.listen, s.syn_rcvd, s.established, s.fin_wait_1,
                          s.fin_wait_2, s.close_wait, s.closing, s.last_ack, s.time_wait,
                          s.pcbs, s.mem_used, s.mem_max, s.memp_tcp_pcb_used,
                          s.memp_tcp_seg_used, s.memp_pbuf_used, s.alloc_fail,
                          g_cnt.syn_dropped, g_cnt.culled, g_cnt.rx_frames, g_cnt.tx_frames,
                          g_cnt.link_drop_in, g_cnt.link_drop_out, heap_free_bytes()};
  memcpy(v, vals, sizeof vals);
}

static void write_row(struct timeline *t, uint64_t now_us, const char *reason, const uint64_t *v) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  fprintf(t->f, "%lld.%06ld,%.3f,%s", (long long)ts.tv_sec, ts.tv_nsec / 1000,
          (double)(now_us - t->start_us) / 1000.0, reason);
  for (int i = 0; i < NVALS; i++) {
    /* bridge mode: the stack columns (first 17) have no meaning, leave them empty */
    if (!t->lwip_mode && i < 17) fputs(",", t->f);
    else if (i == HEAP_FREE_COL && (!t->lwip_mode || !g_heap.budget)) fputs(",", t->f);
    else fprintf(t->f, ",%llu", (unsigned long long)v[i]);
  }
  fputc('\n', t->f);
  memcpy(t->last, v, sizeof t->last);
  t->have_last = 1;
  t->last_row_us = now_us;
}

uint32_t timeline_update(struct timeline *t, uint64_t now_us, int activity) {
  uint64_t v[NVALS], wait_us;
  t->dirty |= activity;
  if (now_us >= t->next_tick_us) {
    sample(t, v);
    write_row(t, now_us, "tick", v);
    fflush(t->f);
    t->next_tick_us += t->period_us;
    if (t->next_tick_us <= now_us) t->next_tick_us = now_us + t->period_us;
    t->dirty = 0;
  } else if (t->dirty && now_us - t->last_row_us >= CHANGE_GAP_US) {
    sample(t, v);
    if (!t->have_last || memcmp(v, t->last, sizeof v) != 0) write_row(t, now_us, "change", v);
    t->dirty = 0;
  }
  wait_us = t->next_tick_us - now_us;
  if (t->dirty) wait_us = CHANGE_GAP_US - (now_us - t->last_row_us);
  return (uint32_t)((wait_us + 999) / 1000);
}

void timeline_close(struct timeline *t) {
  uint64_t v[NVALS];
  sample(t, v);
  write_row(t, mono_us(), "tick", v); /* final state, so the file ends on the truth */
  fclose(t->f);
  free(t);
}
