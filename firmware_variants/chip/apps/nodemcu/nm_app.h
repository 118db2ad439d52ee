/* closebench: what the NodeMCU event driver and the module stubs share. */
#ifndef CB_NM_APP_H
#define CB_NM_APP_H
#include "lua.h"
#include "user_interface.h"

struct nm_server {
  int self_ref;
  int connect_ref;
};

/* The socket userdata, shaped as net.c's lnet_userdata (pesp_conn, self_ref, six callbacks). */
struct nm_socket {
  void *pesp_conn;
  int self_ref;
  int connect_ref;
  int reconnect_ref;
  int disconnect_ref;
  int receive_ref;
  int send_ref;
  int dns_ref;
  int open;
  int closed_by_app;
  int sent_bytes;
};

extern struct nm_server g_server;
extern int g_timer_ref;
void replace_ref(lua_State *L, int *ref, int idx);
int *nm_socket_refs(void);
int nm_max_socket(void);
#endif
