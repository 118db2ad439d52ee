/* Host-side helpers (no lwIP headers here). */
#ifndef CBDEV_HOST_H
#define CBDEV_HOST_H

#include <stdint.h>
#include <stdio.h>

#include "cbdev.h"

/* tap.c */
int tap_open(const char *name, const char *netns_path, char *err, size_t errlen);

/* link.c: one direction of the emulated link. */
struct link_params {
  double delay_ms, jitter_ms, loss, reorder;
  uint32_t rate_kbps, queue;
  /* Power-save buffering at the access point (0 = off): a frame waits for the next DTIM
   * beacon, every beacon_ms * dtim, at a phase drawn once from the link's seed. */
  double beacon_ms;
  uint32_t dtim;
};
struct link;
int link_parse(const char *spec, struct link_params *out, char *err, size_t errlen);
struct link *link_new(const struct link_params *p, uint64_t seed);
int link_ideal(const struct link *l);
/* 1 = queued, 0 = dropped (loss or full queue). */
int link_push(struct link *l, const uint8_t *frame, size_t len, uint64_t now_us);
/* Pops one due frame into buf; returns its length, or 0 when none is due. */
size_t link_pop(struct link *l, uint8_t *buf, size_t cap, uint64_t now_us);
uint64_t link_next_due(const struct link *l); /* UINT64_MAX when empty */

/* pcap.c */
FILE *pcap_open(const char *path);
void pcap_write(FILE *f, const uint8_t *frame, size_t len);

/* timeline.c */
struct timeline;
struct timeline *timeline_open(const char *path, int lwip_mode);
/* Writes a row if the period elapsed (tick) or a value changed (at most once per ms).
 * Returns ms until it wants to be called again. */
uint32_t timeline_update(struct timeline *t, uint64_t now_us, int activity);
void timeline_close(struct timeline *t);

#endif
