/* Host stand-in for the SDK's ets_sys.h: events, tasks and software timers (sdk_host.c). */
#ifndef CB_SDK_ETS_SYS_H
#define CB_SDK_ETS_SYS_H

#include "c_types.h"
#include "eagle_soc.h"

typedef uint32_t ETSSignal;
typedef uint32_t ETSParam; /* carries pointers: needs the -m32 build */

typedef struct ETSEventTag {
  ETSSignal sig;
  ETSParam par;
} ETSEvent;

typedef void (*ETSTask)(ETSEvent *e);
typedef uint32_t ETSHandle;
typedef void ETSTimerFunc(void *timer_arg);

typedef struct _ETSTIMER_ {
  struct _ETSTIMER_ *timer_next;
  uint32_t timer_expire;
  uint32_t timer_period;
  ETSTimerFunc *timer_func;
  void *timer_arg;
} ETSTimer;

void ets_task(ETSTask task, uint8 prio, ETSEvent *queue, uint8 qlen);
bool ets_post(uint8 prio, ETSSignal sig, ETSParam par);
void ets_timer_arm_new(ETSTimer *ptimer, uint32 time, bool repeat_flag, int is_ms);
void ets_timer_disarm(ETSTimer *ptimer);
void ets_timer_setfn(ETSTimer *ptimer, ETSTimerFunc *pfunction, void *parg);
int ets_sprintf(char *str, const char *format, ...) __attribute__((format(printf, 2, 3)));
void ets_intr_lock(void);
void ets_intr_unlock(void);

#endif
