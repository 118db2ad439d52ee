/* closebench: the SDK's eagle_soc.h (register addresses); nothing of it is used here. */
#include "c_types.h"
