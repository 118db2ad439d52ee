/* closebench: MicroPython's esp8266 port configuration (ports/esp8266/mpconfigport.h at the
 * pinned release, included whole) for the VM, the compiler, the object model (REPR_C), float,
 * long ints and the GC; what needs the chip's SDK is switched off, and the modules main.py uses
 * (socket, machine, network) are recording stubs (mp_stubs.c) instead of the port's. */
#include "ports/esp8266/mpconfigport.h"

/* Port modules that need the SDK, flash or the native code emitter: not built here. */
#undef MICROPY_PY_LWIP
#define MICROPY_PY_LWIP (0)
#undef MICROPY_PY_LWIP_SOCK_RAW
#define MICROPY_PY_LWIP_SOCK_RAW (0)
#undef MICROPY_PY_MACHINE
#define MICROPY_PY_MACHINE (0)
#undef MICROPY_PY_NETWORK
#define MICROPY_PY_NETWORK (0)
#undef MICROPY_PY_WEBSOCKET
#define MICROPY_PY_WEBSOCKET (0)
#undef MICROPY_PY_ONEWIRE
#define MICROPY_PY_ONEWIRE (0)
#undef MICROPY_PY_WEBREPL
#define MICROPY_PY_WEBREPL (0)
#undef MICROPY_PY_OS
#define MICROPY_PY_OS (0)
#undef MICROPY_PY_OS_DUPTERM
#define MICROPY_PY_OS_DUPTERM (0)
#undef MICROPY_PY_TIME_INCLUDEFILE
#undef MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (0)
#undef MICROPY_PY_TIME_TIME_TIME_NS
#define MICROPY_PY_TIME_TIME_TIME_NS (0)
#undef MICROPY_PY_RANDOM_SEED_INIT_FUNC
#undef MICROPY_PY_BUILTINS_HELP_TEXT
#undef MICROPY_DEBUG_PRINTER
#undef MP_PLAT_COMMIT_EXEC
#undef MICROPY_EMIT_XTENSA
#define MICROPY_EMIT_XTENSA (0)
#undef MICROPY_EMIT_INLINE_XTENSA
#define MICROPY_EMIT_INLINE_XTENSA (0)
#undef MICROPY_PERSISTENT_CODE_LOAD
#define MICROPY_PERSISTENT_CODE_LOAD (0)
#undef MICROPY_VFS
#define MICROPY_VFS (0)
#undef MICROPY_READER_VFS
#define MICROPY_READER_VFS (0)
#define MICROPY_PY_SSL (0)
#define MICROPY_PY_SELECT (0)
#define MICROPY_PY_OS_URANDOM (0)
#define MICROPY_HELPER_REPL (0)
#define MICROPY_PY_SYS_STDFILES (0)
#define MICROPY_ENABLE_SCHEDULER (0)
#undef MP_FASTCODE
#define MP_FASTCODE(n) n
#define MICROPY_HW_BOARD_NAME "closebench lx106"
#define MICROPY_HW_MCU_NAME "ESP8266"
#undef MICROPY_MPHALPORT_H
#define MICROPY_MPHALPORT_H "mphalport.h"
#undef MICROPY_WRAP_MP_SCHED_EXCEPTION
#define MICROPY_WRAP_MP_SCHED_EXCEPTION(f) f
#undef MICROPY_WRAP_MP_SCHED_KEYBOARD_INTERRUPT
#define MICROPY_WRAP_MP_SCHED_KEYBOARD_INTERRUPT(f) f
#undef MICROPY_WRAP_MP_SCHED_SCHEDULE
#define MICROPY_WRAP_MP_SCHED_SCHEDULE(f) f
