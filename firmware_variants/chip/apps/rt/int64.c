/* closebench app runner: 64-bit helpers that Debian's libgcc for xtensa-lx106-elf does not
 * carry (it has __udivmoddi4 and __divmoddi4, on which division and remainder are built here,
 * as libgcc2.c builds them). */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
int64_t __divmoddi4(int64_t n, int64_t d, int64_t *rem);
uint64_t __umulsidi3(uint32_t a, uint32_t b); /* lib1funcs.S: the core has no MUL32_HIGH */

uint64_t __udivdi3(uint64_t n, uint64_t d) { return __udivmoddi4(n, d, 0); }

uint64_t __umoddi3(uint64_t n, uint64_t d) {
  uint64_t r;
  __udivmoddi4(n, d, &r);
  return r;
}

int64_t __divdi3(int64_t n, int64_t d) { return __divmoddi4(n, d, 0); }

int64_t __moddi3(int64_t n, int64_t d) {
  int64_t r;
  __divmoddi4(n, d, &r);
  return r;
}

/* Schoolbook product of the 32-bit halves: the low 64 bits, as libgcc2.c's __muldi3. */
uint64_t __muldi3(uint64_t a, uint64_t b) {
  uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32);
  uint32_t bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
  uint64_t low = __umulsidi3(al, bl);
  uint32_t cross = al * bh + ah * bl;
  return low + ((uint64_t)cross << 32);
}
