/* closebench: NodeMCU 3.0's net, gpio, tmr, node and wifi as recording stubs, in the firmware's
 * own ROTables (LROT_* of app/lua/lnodemcu.h, NODEMCU_MODULE of app/include/module.h, key order
 * as in the firmware's maps at 4b92eab). The functions init.lua calls make the Lua API calls
 * app/modules/net.c and tmr.c make there; the lwIP and SDK calls they end in (tcp_write,
 * tcp_close, os_timer_arm) are recorded instead of run. */
#include <string.h>
#include "lua.h"
#include "lauxlib.h"
#include "lnodemcu.h"
#include "module.h"
#include "nm3_app.h"
#include "../rt/rt.h"

struct nm3_net *g_server3;
struct nm3_tmr *g_timer3;

static int not_used(lua_State *L) { return luaL_error(L, "closebench: not stubbed"); }

static const char *const NET_TABLES[] = {"net.tcpserver", "net.tcpsocket", "net.udpsocket"};

/* net.c net_create: the userdata, its metatable, every ref LUA_NOREF. */
struct nm3_net *nm3_net_create(lua_State *L, int type) {
  struct nm3_net *ud = (struct nm3_net *)lua_newuserdata(L, sizeof(struct nm3_net));
  luaL_getmetatable(L, NET_TABLES[type]);
  lua_setmetatable(L, -2);
  ud->type = type;
  ud->self_ref = LUA_NOREF;
  ud->pcb = NULL;
  ud->accept_ref = ud->dns_ref = ud->receive_ref = ud->sent_ref = LUA_NOREF;
  ud->connect_ref = ud->disconnect_ref = ud->reconnect_ref = LUA_NOREF;
  ud->hold = 0;
  return ud;
}

/* net.c net_get_udata_s: a userdata, its type field checked, then luaL_checkudata against the
 * type's metatable. */
static struct nm3_net *net_get_udata(lua_State *L) {
  if (!lua_isuserdata(L, 1)) return NULL;
  struct nm3_net *ud = (struct nm3_net *)lua_touserdata(L, 1);
  if (ud->type < 0 || ud->type > 2) return NULL;
  return (struct nm3_net *)luaL_checkudata(L, 1, NET_TABLES[ud->type]);
}

static int net_createServer(lua_State *L) {
  int type = luaL_optinteger(L, 1, 1);
  int timeout = luaL_optinteger(L, 2, 30);
  if (type != 1) return luaL_error(L, "invalid type");
  struct nm3_net *ud = nm3_net_create(L, 0);
  ud->timeout = timeout;
  rt_record("net.createServer %d %d", type, timeout);
  return 1;
}

static int net_listen(lua_State *L) {
  struct nm3_net *ud = net_get_udata(L);
  if (!ud || ud->type != 0) return luaL_error(L, "invalid user data");
  int port = luaL_checkinteger(L, 2);
  if (lua_isfunction(L, 3)) {
    lua_pushvalue(L, 3);
    luaL_unref(L, LUA_REGISTRYINDEX, ud->accept_ref);
    ud->accept_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  ud->pcb = ud;
  rt_record("tcp_listen port=%d", port);
  lua_pushvalue(L, 1);
  ud->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  g_server3 = ud;
  return 0;
}

/* net.c net_on: strcmp against the event names in its order, then the ref replaced. */
static int net_on(lua_State *L) {
  struct nm3_net *ud = net_get_udata(L);
  if (!ud || ud->type == 0) return luaL_error(L, "invalid user data");
  int *refptr = NULL;
  const char *name = luaL_checkstring(L, 2);
  if (strcmp("connection", name) == 0) refptr = &ud->connect_ref;
  else if (strcmp("disconnection", name) == 0) refptr = &ud->disconnect_ref;
  else if (strcmp("reconnection", name) == 0) refptr = &ud->reconnect_ref;
  else if (strcmp("dns", name) == 0) refptr = &ud->dns_ref;
  else if (strcmp("receive", name) == 0) refptr = &ud->receive_ref;
  else if (strcmp("sent", name) == 0) refptr = &ud->sent_ref;
  if (refptr == NULL) return luaL_error(L, "invalid callback name");
  if (lua_isfunction(L, 3)) {
    lua_pushvalue(L, 3);
    luaL_unref(L, LUA_REGISTRYINDEX, *refptr);
    *refptr = luaL_ref(L, LUA_REGISTRYINDEX);
  } else if (lua_isnil(L, 3)) {
    luaL_unref(L, LUA_REGISTRYINDEX, *refptr);
    *refptr = LUA_NOREF;
  } else {
    return luaL_error(L, "invalid callback function");
  }
  return 0;
}

/* net.c net_send (TCP): the data checked, an optional sent callback, then tcp_write. */
static int net_send(lua_State *L) {
  struct nm3_net *ud = net_get_udata(L);
  if (!ud || ud->type == 0) return luaL_error(L, "invalid user data");
  size_t datalen = 0;
  const char *data = luaL_checklstring(L, 2, &datalen);
  if (!data || datalen == 0) return luaL_error(L, "no data to send");
  if (lua_isfunction(L, 3)) {
    lua_pushvalue(L, 3);
    luaL_unref(L, LUA_REGISTRYINDEX, ud->sent_ref);
    ud->sent_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (!ud->pcb || ud->self_ref == LUA_NOREF) return luaL_error(L, "not connected");
  rt_record("tcp_write %d", (int)datalen);
  return 0;
}

/* net.c net_close (TCP client): tcp_close, the pcb forgotten, the self ref dropped. */
static int net_close(lua_State *L) {
  struct nm3_net *ud = net_get_udata(L);
  if (!ud) return luaL_error(L, "invalid user data");
  if (ud->pcb) {
    rt_record("tcp_close");
    ud->pcb = NULL;
  }
  int selfref = ud->self_ref;
  ud->self_ref = LUA_NOREF;
  luaL_unref(L, LUA_REGISTRYINDEX, selfref);
  return 0;
}

/* net.c net_delete (__gc): the callbacks' refs dropped. */
static int net_delete(lua_State *L) {
  struct nm3_net *ud = net_get_udata(L);
  if (!ud) return 0;
  int *refs[] = {&ud->accept_ref, &ud->dns_ref, &ud->receive_ref, &ud->sent_ref,
                 &ud->connect_ref, &ud->disconnect_ref, &ud->reconnect_ref, &ud->self_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    luaL_unref(L, LUA_REGISTRYINDEX, *refs[i]);
    *refs[i] = LUA_NOREF;
  }
  return 0;
}

LROT_BEGIN(net_tcpserver, NULL, LROT_MASK_GC_INDEX)
  LROT_FUNCENTRY( __gc, net_delete )
  LROT_TABENTRY( __index, net_tcpserver )
  LROT_FUNCENTRY( listen, net_listen )
  LROT_FUNCENTRY( getaddr, not_used )
  LROT_FUNCENTRY( close, net_close )
LROT_END(net_tcpserver, NULL, LROT_MASK_GC_INDEX)

LROT_BEGIN(net_tcpsocket, NULL, LROT_MASK_GC_INDEX)
  LROT_FUNCENTRY( __gc, net_delete )
  LROT_TABENTRY( __index, net_tcpsocket )
  LROT_FUNCENTRY( connect, not_used )
  LROT_FUNCENTRY( close, net_close )
  LROT_FUNCENTRY( on, net_on )
  LROT_FUNCENTRY( send, net_send )
  LROT_FUNCENTRY( hold, not_used )
  LROT_FUNCENTRY( unhold, not_used )
  LROT_FUNCENTRY( dns, not_used )
  LROT_FUNCENTRY( ttl, not_used )
  LROT_FUNCENTRY( getpeer, not_used )
  LROT_FUNCENTRY( getaddr, not_used )
LROT_END(net_tcpsocket, NULL, LROT_MASK_GC_INDEX)

LROT_BEGIN(net, NULL, 0)
  LROT_FUNCENTRY( createServer, net_createServer )
  LROT_FUNCENTRY( createConnection, not_used )
  LROT_FUNCENTRY( createUDPSocket, not_used )
  LROT_FUNCENTRY( ifinfo, not_used )
  LROT_FUNCENTRY( multicastJoin, not_used )
  LROT_FUNCENTRY( multicastLeave, not_used )
  LROT_FUNCENTRY( ping, not_used )
  LROT_NUMENTRY( TCP, 1 )
  LROT_NUMENTRY( UDP, 2 )
LROT_END(net, NULL, 0)

static int luaopen_net(lua_State *L) {
  luaL_rometatable(L, NET_TABLES[0], LROT_TABLEREF(net_tcpserver));
  luaL_rometatable(L, NET_TABLES[1], LROT_TABLEREF(net_tcpsocket));
  return 0;
}
NODEMCU_MODULE(NET, "net", net, luaopen_net);

/* ---- gpio ---- */
static int led_level = 1;
static int lgpio_mode(lua_State *L) {
  rt_record("gpio.mode %d %d", (int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2));
  return 0;
}
static int lgpio_read(lua_State *L) {
  (void)luaL_checkinteger(L, 1);
  lua_pushinteger(L, led_level);
  return 1;
}
static int lgpio_write(lua_State *L) {
  int pin = luaL_checkinteger(L, 1);
  int level = luaL_checkinteger(L, 2);
  luaL_argcheck(L, level == 0 || level == 1, 2, "wrong level type");
  led_level = level;
  rt_record("gpio.write %d %d", pin, level);
  return 0;
}
LROT_BEGIN(gpio, NULL, 0)
  LROT_FUNCENTRY( mode, lgpio_mode )
  LROT_FUNCENTRY( read, lgpio_read )
  LROT_FUNCENTRY( write, lgpio_write )
  LROT_FUNCENTRY( serout, not_used )
  LROT_FUNCENTRY( pulse, not_used )
  LROT_FUNCENTRY( trig, not_used )
  LROT_NUMENTRY( INT, 2 )
  LROT_NUMENTRY( OUTPUT, 1 )
  LROT_NUMENTRY( OPENDRAIN, 3 )
  LROT_NUMENTRY( INPUT, 0 )
  LROT_NUMENTRY( HIGH, 1 )
  LROT_NUMENTRY( LOW, 0 )
  LROT_NUMENTRY( FLOAT, 0 )
  LROT_NUMENTRY( PULLUP, 1 )
LROT_END(gpio, NULL, 0)
NODEMCU_MODULE(GPIO, "gpio", gpio, NULL);

/* ---- tmr: object timers (tmr.create, t:alarm) ---- */
static int tmr_create(lua_State *L) {
  struct nm3_tmr *ud = (struct nm3_tmr *)lua_newuserdata(L, sizeof(*ud));
  luaL_getmetatable(L, "tmr.timer");
  lua_setmetatable(L, -2);
  ud->lua_ref = LUA_NOREF;
  ud->self_ref = LUA_NOREF;
  ud->mode = -1;
  return 1;
}
/* tmr.c tmr_alarm: register (interval, mode, the function's ref), then start (self ref). */
static int tmr_alarm(lua_State *L) {
  struct nm3_tmr *t = (struct nm3_tmr *)luaL_checkudata(L, 1, "tmr.timer");
  t->interval = luaL_checkinteger(L, 2);
  t->mode = luaL_checkinteger(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_pushvalue(L, 4);
  luaL_unref(L, LUA_REGISTRYINDEX, t->lua_ref);
  t->lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  g_timer3 = t;
  rt_record("os_timer_arm %d ms mode=%d", t->interval, t->mode);
  return 0;
}
LROT_BEGIN(tmr_dyn, NULL, LROT_MASK_GC_INDEX)
  LROT_FUNCENTRY( __gc, not_used )
  LROT_TABENTRY( __index, tmr_dyn )
  LROT_FUNCENTRY( register, not_used )
  LROT_FUNCENTRY( alarm, tmr_alarm )
  LROT_FUNCENTRY( start, not_used )
  LROT_FUNCENTRY( stop, not_used )
LROT_END(tmr_dyn, NULL, LROT_MASK_GC_INDEX)
LROT_BEGIN(tmr, NULL, 0)
  LROT_FUNCENTRY( delay, not_used )
  LROT_FUNCENTRY( now, not_used )
  LROT_FUNCENTRY( wdclr, not_used )
  LROT_FUNCENTRY( softwd, not_used )
  LROT_FUNCENTRY( time, not_used )
  LROT_FUNCENTRY( ccount, not_used )
  LROT_FUNCENTRY( suspend_all, not_used )
  LROT_FUNCENTRY( resume_all, not_used )
  LROT_FUNCENTRY( create, tmr_create )
  LROT_NUMENTRY( ALARM_SINGLE, 0 )
  LROT_NUMENTRY( ALARM_SEMI, 1 )
  LROT_NUMENTRY( ALARM_AUTO, 2 )
LROT_END(tmr, NULL, 0)
static int luaopen_tmr(lua_State *L) {
  luaL_rometatable(L, "tmr.timer", LROT_TABLEREF(tmr_dyn));
  return 0;
}
NODEMCU_MODULE(TMR, "tmr", tmr, luaopen_tmr);

/* ---- node.heap ---- */
static int node_heap(lua_State *L) {
  lua_pushinteger(L, 40000); /* system_get_free_heap_size(): printed by init.lua only */
  return 1;
}
LROT_BEGIN(node, NULL, 0)
  LROT_FUNCENTRY( heap, node_heap )
  LROT_FUNCENTRY( info, not_used )
LROT_END(node, NULL, 0)
NODEMCU_MODULE(NODE, "node", node, NULL);

/* ---- wifi: start-up calls only ---- */
static int wifi_setmode(lua_State *L) {
  rt_record("wifi.setmode %d", (int)luaL_checkinteger(L, 1));
  return 0;
}
static int wifi_sta_table(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  rt_record("wifi.sta call");
  return 0;
}
LROT_BEGIN(wifi_station, NULL, 0)
  LROT_FUNCENTRY( config, wifi_sta_table )
  LROT_FUNCENTRY( setip, wifi_sta_table )
LROT_END(wifi_station, NULL, 0)
LROT_BEGIN(wifi, NULL, 0)
  LROT_FUNCENTRY( setmode, wifi_setmode )
  LROT_TABENTRY( sta, wifi_station )
  LROT_NUMENTRY( NULLMODE, 0 )
  LROT_NUMENTRY( STATION, 1 )
  LROT_NUMENTRY( SOFTAP, 2 )
  LROT_NUMENTRY( STATIONAP, 3 )
LROT_END(wifi, NULL, 0)
NODEMCU_MODULE(WIFI, "wifi", wifi, NULL);
