/* closebench's CoreMark port for the lx106 core under QEMU: the seeds of a performance run,
 * semihosting for printf, and the timed region marked for cbcount.so. Time itself is not
 * measured here (QEMU's clock is not the chip's): the harness reads instruction counts. */
#include <stdio.h>

#include "coremark.h"
#include "semihost.h"

#if VALIDATION_RUN
volatile ee_s32 seed1_volatile = 0x3415, seed2_volatile = 0x3415, seed3_volatile = 0x66;
#endif
#if PERFORMANCE_RUN
volatile ee_s32 seed1_volatile = 0x0, seed2_volatile = 0x0, seed3_volatile = 0x66;
#endif
#if PROFILE_RUN
volatile ee_s32 seed1_volatile = 0x8, seed2_volatile = 0x8, seed3_volatile = 0x8;
#endif
volatile ee_s32 seed4_volatile = ITERATIONS, seed5_volatile = 0;
ee_u32 default_num_contexts = 1;

static CORE_TICKS ticks;

CHIP_HOST static int put_stdout(char c, FILE *f)
{
    (void)f;
    chip_write(1, &c, 1);
    return (unsigned char)c;
}
static FILE stream_out = FDEV_SETUP_STREAM(put_stdout, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdin = NULL;
FILE *const stdout = &stream_out;
FILE *const stderr = &stream_out;

void start_time(void) { chip_mark("coremark start"); }

void stop_time(void) { chip_mark("coremark stop"); }

CORE_TICKS get_time(void) { return ++ticks; } /* not a time: CoreMark only prints it */

secs_ret time_in_secs(CORE_TICKS t)
{
    (void)t;
    return 0; /* "Iterations/Sec" is then not printed; the count is the result */
}

void portable_init(core_portable *p, int *argc, char *argv[])
{
    (void)argc;
    (void)argv;
    p->portable_id = 1;
}

void portable_fini(core_portable *p) { p->portable_id = 0; }
