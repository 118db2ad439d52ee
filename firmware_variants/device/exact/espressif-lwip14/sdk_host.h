/* Between the SDK stand-in (sdk_host.c) and the cbdev glue (stack14.c). */
#ifndef CB_SDK_HOST_H
#define CB_SDK_HOST_H

#include <stdint.h>

struct netif;

struct cb_heap_stats {
  uint64_t rx_held; /* received frames whose driver buffer lwIP still holds */
};  /* the heap itself is cbdev.h's g_heap (heap.c) */
extern struct cb_heap_stats cb_heap;
extern uint64_t cb_sdk_post_dropped;

void cb_sdk_boot(void);
void cb_sdk_set_sta_netif(struct netif *n);
void cb_sdk_run_tasks(void);
void cb_sdk_run_timers(void);
uint32_t cb_sdk_timer_sleep_ms(void);

#endif
