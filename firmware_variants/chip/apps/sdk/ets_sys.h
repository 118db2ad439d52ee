/* closebench: the SDK's ets_sys.h; nothing of it is used by the Lua core built here. */
#ifndef CB_ETS_SYS_H
#define CB_ETS_SYS_H
#include "c_types.h"
#endif
