/* Classic pcap (microsecond stamps, Ethernet linktype), buffered by stdio. */
#include <stdlib.h>
#include <time.h>

#include "host.h"

static void put32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put16(FILE *f, uint16_t v) { fwrite(&v, 2, 1, f); }

FILE *pcap_open(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  put32(f, 0xa1b2c3d4); /* native byte order; readers detect it from the magic */
  put16(f, 2);
  put16(f, 4);
  put32(f, 0);
  put32(f, 0);
  put32(f, 65535);
  put32(f, 1); /* LINKTYPE_ETHERNET */
  return f;
}

void pcap_write(FILE *f, const uint8_t *frame, size_t len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  put32(f, (uint32_t)ts.tv_sec);
  put32(f, (uint32_t)(ts.tv_nsec / 1000));
  put32(f, (uint32_t)len);
  put32(f, (uint32_t)len);
  fwrite(frame, 1, len, f);
}
