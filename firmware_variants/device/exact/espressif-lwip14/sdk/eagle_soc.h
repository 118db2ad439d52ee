/* Host stand-in for the SDK's eagle_soc.h: clocks and the FRC2 tick counter. */
#ifndef CB_SDK_EAGLE_SOC_H
#define CB_SDK_EAGLE_SOC_H

#include "c_types.h"

/* nodemcu/nodemcu-firmware@38603ed3857ad6739549df913e61c72ec7f4b6f6:include/eagle_soc.h (SDK 1.1.2
 * import; the same lines are relied on by the fork's timers.c/sys.h):
 *   "#define  CPU_CLK_FREQ  80*1000000", "#define  APB_CLK_FREQ  CPU_CLK_FREQ",
 *   "#define  TIMER_CLK_FREQ  (APB_CLK_FREQ>>8) //divided by 256" */
#define CPU_CLK_FREQ (80 * 1000000)
#define APB_CLK_FREQ CPU_CLK_FREQ
#define UART_CLK_FREQ APB_CLK_FREQ
#define TIMER_CLK_FREQ (APB_CLK_FREQ >> 8)

/* Same file: "#define NOW()  RTC_REG_READ(FRC2_COUNT_ADDRESS)" — a free-running 32-bit counter.
 * Here it is derived from the host monotonic clock at the rate timer2_ms_flag says (sdk_host.c). */
uint32 cb_sdk_frc2_now(void);
#define NOW() cb_sdk_frc2_now()

#endif
