/* Host stand-in for the SDK's os_type.h. */
#ifndef CB_SDK_OS_TYPE_H
#define CB_SDK_OS_TYPE_H

#include "ets_sys.h"

#define os_signal_t ETSSignal
#define os_param_t ETSParam
#define os_event_t ETSEvent
#define os_task_t ETSTask
#define os_timer_t ETSTimer
#define os_timer_func_t ETSTimerFunc

#endif
