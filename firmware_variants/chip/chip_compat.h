/* Force-included into the lx106 build of a variant's stack: what the host build's own C
 * (firmware_variants/device) takes from glibc and picolibc declares only under POSIX feature
 * macros. The harness defines these (stack_harness.c). */
#ifndef CHIP_COMPAT_H
#define CHIP_COMPAT_H
struct timespec; /* not <time.h>: the fork's sntp.c defines its own struct tm */
int nanosleep(const struct timespec *req, struct timespec *rem);
#endif
