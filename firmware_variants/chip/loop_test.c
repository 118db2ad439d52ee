/* The counter's check: a hand-written loop whose instruction count is known from the code.
 * Between the two marks run exactly: movi (1) + n x (addi, bnez) (2n) + the next mark's
 * call site (counted separately by two back-to-back marks). */
#include "semihost.h"

__attribute__((noinline)) static void count_loop(int n)
{
    chip_mark("before");
    __asm__ volatile("   movi a8, 0\n"
                     "   add a8, a8, %0\n"
                     "1: addi a8, a8, -1\n"
                     "   bnez a8, 1b\n"
                     :
                     : "r"(n)
                     : "a8");
    chip_mark("after");
}

int main(void)
{
    chip_mark("empty0");
    chip_mark("empty1");
    count_loop(1000);
    count_loop(10);
    chip_puts("done\n");
    return 0;
}
