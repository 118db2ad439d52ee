/* Force-included into the bench's httpd.c (written for lwIP 2.x) when it is built against the
 * Espressif lwIP 1.4 fork, so httpd.c itself stays unchanged. */
#ifndef CB_HTTPD_COMPAT_H
#define CB_HTTPD_COMPAT_H

#include "lwip/pbuf.h"

/* lwIP 2.1's pbuf_free_header(): drop `size` bytes from the front of a chain, freeing pbufs that
 * become empty; returns the new head. 1.4 only has pbuf_header() on a single pbuf. */
static inline struct pbuf *cb_pbuf_free_header(struct pbuf *q, u16_t size) {
  while (q && size > 0) {
    if (size >= q->len) {
      struct pbuf *next = q->next;
      size = (u16_t)(size - q->len);
      q->next = NULL; /* unlinked: pbuf_free(q) frees only q; its ref on next becomes ours */
      pbuf_free(q);
      q = next;
    } else {
      pbuf_header(q, (s16_t) - (s16_t)size);
      size = 0;
    }
  }
  return q;
}
#define pbuf_free_header cb_pbuf_free_header

#endif
