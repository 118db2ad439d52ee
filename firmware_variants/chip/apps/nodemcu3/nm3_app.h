/* closebench: what the NodeMCU 3.0 event driver and its module stubs share. */
#ifndef CB_NM3_APP_H
#define CB_NM3_APP_H
#include "lua.h"

/* As app/modules/net.c's lnet_userdata at 4b92eab (type, self_ref, pcb, then the callbacks). */
struct nm3_net {
  int type;
  int self_ref;
  void *pcb;
  int accept_ref; /* server */
  int timeout;
  int dns_ref, receive_ref, sent_ref, hold, connect_ref, disconnect_ref, reconnect_ref;
};

/* As app/modules/tmr.c's tmr_t: the callback and the userdata's own ref. */
struct nm3_tmr {
  int lua_ref;
  int self_ref;
  int mode;
  int interval;
};

extern struct nm3_net *g_server3;
extern struct nm3_tmr *g_timer3;
struct nm3_net *nm3_net_create(lua_State *L, int type);
#endif
