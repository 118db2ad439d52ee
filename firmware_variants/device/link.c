/* One direction of the emulated Wi-Fi hop: delay, jitter, loss, reorder, rate, bounded queue,
 * and optionally the access point's power-save buffering (frames for a dozing station wait
 * for the next DTIM beacon). Seeded (xoshiro256**), and every frame draws the same number of
 * random values, so the same seed and the same frame sequence give the same drops. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

struct item {
  uint64_t due_us, seq;
  size_t len;
  uint8_t *data;
};

struct link {
  struct link_params p;
  uint64_t s[4];
  struct item *heap; /* min-heap on (due_us, seq) */
  size_t n, cap;
  uint64_t seq, busy_until_us, last_fifo_due_us;
  uint64_t dtim_period_us, dtim_phase_us; /* 0 period: no power-save buffering */
};

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(struct link *l) {
  uint64_t *s = l->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static double uniform(struct link *l) { return (double)(next(l) >> 11) * 0x1.0p-53; }

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int parse_num(const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  *out = strtod(v, &end);
  return !(errno || end == v || *end || *out < lo || *out > hi);
}

int link_parse(const char *spec, struct link_params *out, char *err, size_t errlen) {
  char buf[512], *save = NULL, *tok;
  memset(out, 0, sizeof *out);
  out->queue = 1000;
  out->dtim = 1;
  if (!spec || !*spec) return 0;
  if (strlen(spec) >= sizeof buf) {
    snprintf(err, errlen, "link spec too long");
    return -1;
  }
  strcpy(buf, spec);
  for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    double v;
    int ok;
    if (!eq) {
      snprintf(err, errlen, "link spec item '%s' is not key=value", tok);
      return -1;
    }
    *eq = '\0';
    if (!strcmp(tok, "delay_ms")) ok = parse_num(eq + 1, 0, 60000, &out->delay_ms);
    else if (!strcmp(tok, "jitter_ms")) ok = parse_num(eq + 1, 0, 60000, &out->jitter_ms);
    else if (!strcmp(tok, "loss")) ok = parse_num(eq + 1, 0, 1, &out->loss);
    else if (!strcmp(tok, "reorder")) ok = parse_num(eq + 1, 0, 1, &out->reorder);
    else if (!strcmp(tok, "rate_kbps")) {
      ok = parse_num(eq + 1, 0, 1e8, &v) && v == (uint32_t)v;
      out->rate_kbps = (uint32_t)v;
    } else if (!strcmp(tok, "queue")) {
      ok = parse_num(eq + 1, 1, 1e6, &v) && v == (uint32_t)v;
      out->queue = (uint32_t)v;
    } else if (!strcmp(tok, "beacon_ms")) ok = parse_num(eq + 1, 0, 60000, &out->beacon_ms);
    else if (!strcmp(tok, "dtim")) {
      ok = parse_num(eq + 1, 1, 255, &v) && v == (uint32_t)v;
      out->dtim = (uint32_t)v;
    } else {
      snprintf(err, errlen, "unknown link key '%s' (delay_ms, jitter_ms, loss, reorder, "
               "rate_kbps, queue, beacon_ms, dtim)", tok);
      return -1;
    }
    if (!ok) {
      snprintf(err, errlen, "bad value for link key '%s': '%s'", tok, eq + 1);
      return -1;
    }
  }
  return 0;
}

struct link *link_new(const struct link_params *p, uint64_t seed) {
  struct link *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->p = *p;
  if (p->beacon_ms > 0) {
    /* The AP's beacon clock (TBTT) owes nothing to the station's: its phase is drawn from
     * the seed, apart from the per-frame stream, which stays as it is without beacons. */
    uint64_t x = seed ^ 0x6474696d2d706861ULL;
    l->dtim_period_us = (uint64_t)(p->beacon_ms * 1000.0 * (p->dtim ? p->dtim : 1));
    if (l->dtim_period_us == 0) l->dtim_period_us = 1;
    l->dtim_phase_us = splitmix(&x) % l->dtim_period_us;
  }
  for (int i = 0; i < 4; i++) l->s[i] = splitmix(&seed);
  return l;
}

/* The first DTIM beacon at or after t: when the AP hands a buffered frame to the station. */
static uint64_t next_dtim(const struct link *l, uint64_t t) {
  uint64_t period = l->dtim_period_us, phase = l->dtim_phase_us, k;
  if (t <= phase) return phase;
  k = (t - phase + period - 1) / period;
  return phase + k * period;
}

int link_ideal(const struct link *l) {
  return l->p.delay_ms == 0 && l->p.jitter_ms == 0 && l->p.loss == 0 && l->p.reorder == 0 &&
         l->p.rate_kbps == 0 && l->dtim_period_us == 0;
}

static int before(const struct item *a, const struct item *b) {
  return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void heap_push(struct link *l, struct item it) {
  size_t i = l->n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(&it, &l->heap[parent])) break;
    l->heap[i] = l->heap[parent];
    i = parent;
  }
  l->heap[i] = it;
}

static struct item heap_pop(struct link *l) {
  struct item top = l->heap[0], last = l->heap[--l->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= l->n) break;
    if (c + 1 < l->n && before(&l->heap[c + 1], &l->heap[c])) c++;
    if (!before(&l->heap[c], &last)) break;
    l->heap[i] = l->heap[c];
    i = c;
  }
  if (l->n) l->heap[i] = last;
  return top;
}

int link_push(struct link *l, const uint8_t *frame, size_t len, uint64_t now_us) {
  /* Always three draws per frame: outcomes never shift the random stream. */
  double u_loss = uniform(l), u_jitter = uniform(l), u_reorder = uniform(l);
  uint64_t ready = now_us, depart, due;
  struct item it;
  if (l->n >= l->p.queue) return 0; /* tail drop */
  /* Power save: the AP holds the frame until the next DTIM beacon, then sends it (and every
   * frame held with it, in order) over the air. */
  if (l->dtim_period_us) ready = next_dtim(l, now_us);
  depart = ready;
  if (l->p.rate_kbps) {
    uint64_t ser = (uint64_t)len * 8000 / l->p.rate_kbps;
    l->busy_until_us = (l->busy_until_us > ready ? l->busy_until_us : ready) + ser;
    depart = l->busy_until_us;
  }
  if (u_loss < l->p.loss) return 0; /* lost on the air, after using its airtime */
  due = depart + (uint64_t)((l->p.delay_ms + u_jitter * l->p.jitter_ms) * 1000.0);
  if (u_reorder < l->p.reorder) {
    /* held back long enough that frames sent just after it overtake it */
    due += (uint64_t)((2 * (l->p.delay_ms + l->p.jitter_ms) + 1.0) * 1000.0);
  } else {
    if (due < l->last_fifo_due_us) due = l->last_fifo_due_us; /* jitter keeps FIFO order */
    l->last_fifo_due_us = due;
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct item *h = realloc(l->heap, cap * sizeof *h);
    if (!h) return 0;
    l->heap = h;
    l->cap = cap;
  }
  it.data = malloc(len);
  if (!it.data) return 0;
  memcpy(it.data, frame, len);
  it.len = len;
  it.due_us = due;
  it.seq = l->seq++;
  heap_push(l, it);
  return 1;
}

size_t link_pop(struct link *l, uint8_t *buf, size_t cap, uint64_t now_us) {
  struct item it;
  size_t len;
  if (!l->n || l->heap[0].due_us > now_us) return 0;
  it = heap_pop(l);
  len = it.len < cap ? it.len : cap;
  memcpy(buf, it.data, len);
  free(it.data);
  return len;
}

uint64_t link_next_due(const struct link *l) { return l->n ? l->heap[0].due_us : UINT64_MAX; }
