/* closebench: the NONOS SDK's os_type.h types that NodeMCU 3.0's headers name (the SDK is not
 * in the firmware's tree). */
#ifndef CB_OS_TYPE_H
#define CB_OS_TYPE_H
#include "c_types.h"
typedef uint32_t os_signal_t;
typedef uint32_t os_param_t;
typedef int STATUS;
#endif
