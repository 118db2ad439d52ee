/* closebench: the HAL calls the core and extmod/modtime.c make (esp_mphal.h on the chip). */
#include <stdint.h>
#include "py/mpconfig.h"
uint32_t mp_hal_ticks_ms(void);
uint32_t mp_hal_ticks_us(void);
uint64_t mp_hal_time_ns(void);
void mp_hal_delay_ms(mp_uint_t ms);
void mp_hal_delay_us(mp_uint_t us);
mp_uint_t mp_hal_ticks_cpu(void);
static inline void mp_hal_set_interrupt_char(int c) { (void)c; }
