/* closebench: the counter's own check. Between rt_icount() and rt_span() run, besides what an
 * empty span has, `movi` and n x (`addi`, `bnez`): 1 + 2n instructions (tests/test_chip_apps.py). */
#include "rt.h"

#define LOOP(n)                                                                             \
  __asm__ volatile("movi a8, " #n "\n1: addi a8, a8, -1\n bnez a8, 1b" : : : "a8", "memory")

int app_main(void) {
  uint32_t t = rt_icount();
  rt_span("empty", t);
  t = rt_icount();
  LOOP(1000);
  rt_span("loop1000", t);
  t = rt_icount();
  LOOP(10);
  rt_span("loop10", t);
  rt_puts("done\n");
  return 0;
}
