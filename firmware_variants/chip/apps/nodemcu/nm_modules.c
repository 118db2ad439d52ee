/* closebench: NodeMCU's net, gpio, tmr, node and wifi modules as recording stubs, registered
 * through the firmware's own NODEMCU_MODULE tables (app/include/module.h) so that Lua finds them
 * as on the chip: globals through lua_rotable, fields through each module's ROM map (key order
 * as in the firmware's maps). The functions init.lua calls make the Lua API calls that
 * nodemcu-firmware 98d3b46 app/modules/net.c, gpio.c and tmr.c make; the SDK calls they end in
 * (espconn_*, platform_gpio_*, os_timer_*) are recorded instead of run. */
#include "lua.h"
#include "lauxlib.h"
#include "lrodefs.h"
#include "module.h"
#include "c_string.h"
#include "nm_app.h"
#include "../rt/rt.h"

#define MAX_SOCKET 5 /* net.c: "#define MAX_SOCKET 5" */

static int socket_refs[MAX_SOCKET];
struct nm_server g_server;

static int not_used(lua_State *L) { return luaL_error(L, "closebench: not stubbed"); }

/* ---- net ---- */
static int net_createServer(lua_State *L) {
  int type = luaL_checkinteger(L, 1);
  int timeout = luaL_optinteger(L, 2, 30);
  struct nm_server **ud = (struct nm_server **)lua_newuserdata(L, sizeof(*ud));
  *ud = &g_server;
  luaL_getmetatable(L, "net.server");
  lua_setmetatable(L, -2);
  g_server.connect_ref = LUA_NOREF;
  rt_record("net.createServer %d %d", type, timeout);
  return 1;
}

static int net_server_listen(lua_State *L) {
  luaL_checkudata(L, 1, "net.server");
  int port = luaL_checkinteger(L, 2);
  luaL_checkanyfunction(L, 3);
  lua_pushvalue(L, 3);
  g_server.connect_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, 1);
  g_server.self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rt_record("espconn_accept port=%d", port);
  rt_record("espconn_regist_time %d", 30);
  return 0;
}

static struct nm_socket *check_socket(lua_State *L) {
  return (struct nm_socket *)luaL_checkudata(L, 1, "net.socket");
}

void replace_ref(lua_State *L, int *ref, int idx) {
  if (*ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  lua_pushvalue(L, idx);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* net.c net_on: the event name compared with c_strcmp in the same order, then luaL_ref. */
static int net_socket_on(lua_State *L) {
  struct nm_socket *s = check_socket(L);
  size_t sl;
  const char *method = luaL_checklstring(L, 2, &sl);
  luaL_checkanyfunction(L, 3);
  if (sl == 10 && c_strcmp(method, "connection") == 0)
    replace_ref(L, &s->connect_ref, 3);
  else if (sl == 12 && c_strcmp(method, "reconnection") == 0)
    replace_ref(L, &s->reconnect_ref, 3);
  else if (sl == 13 && c_strcmp(method, "disconnection") == 0)
    replace_ref(L, &s->disconnect_ref, 3);
  else if (sl == 7 && c_strcmp(method, "receive") == 0)
    replace_ref(L, &s->receive_ref, 3);
  else if (sl == 4 && c_strcmp(method, "sent") == 0)
    replace_ref(L, &s->send_ref, 3);
  else
    return luaL_error(L, "method not supported");
  rt_record("net.socket:on %s", method);
  return 0;
}

/* net.c net_send: the payload checked as a string and handed to espconn_sent. */
static int net_socket_send(lua_State *L) {
  struct nm_socket *s = check_socket(L);
  size_t l;
  const char *payload = luaL_checklstring(L, 2, &l);
  if (l > 1460 || payload == NULL) return luaL_error(L, "need <1460 payload");
  if (lua_type(L, 3) == LUA_TFUNCTION || lua_type(L, 3) == LUA_TLIGHTFUNCTION)
    replace_ref(L, &s->send_ref, 3);
  s->sent_bytes = (int)l;
  rt_record("espconn_sent %d", (int)l);
  return 0;
}

/* net.c net_close for a socket: espconn_disconnect on the connection. */
static int net_socket_close(lua_State *L) {
  struct nm_socket *s = check_socket(L);
  if (!s->open) return 0;
  rt_record("espconn_disconnect");
  s->closed_by_app = 1;
  return 0;
}

static void drop_ref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* net.c net_delete (the socket's __gc): every callback ref and the self ref dropped. */
static int net_socket_gc(lua_State *L) {
  struct nm_socket *s = check_socket(L);
  drop_ref(L, &s->connect_ref);
  drop_ref(L, &s->reconnect_ref);
  drop_ref(L, &s->disconnect_ref);
  drop_ref(L, &s->receive_ref);
  drop_ref(L, &s->send_ref);
  drop_ref(L, &s->dns_ref);
  drop_ref(L, &s->self_ref);
  return 0;
}

static int net_server_gc(lua_State *L) {
  (void)L;
  return 0;
}

static const LUA_REG_TYPE net_server_map[] = {
  { LSTRKEY( "listen" ), LFUNCVAL( net_server_listen ) },
  { LSTRKEY( "close" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "on" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "send" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "__gc" ), LFUNCVAL( net_server_gc ) },
  { LSTRKEY( "__index" ), LROVAL( net_server_map ) },
  { LNILKEY, LNILVAL }
};

static const LUA_REG_TYPE net_socket_map[] = {
  { LSTRKEY( "connect" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "close" ), LFUNCVAL( net_socket_close ) },
  { LSTRKEY( "on" ), LFUNCVAL( net_socket_on ) },
  { LSTRKEY( "send" ), LFUNCVAL( net_socket_send ) },
  { LSTRKEY( "hold" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "unhold" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "dns" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "getpeer" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "__gc" ), LFUNCVAL( net_socket_gc ) },
  { LSTRKEY( "__index" ), LROVAL( net_socket_map ) },
  { LNILKEY, LNILVAL }
};

static const LUA_REG_TYPE net_map[] = {
  { LSTRKEY( "createServer" ), LFUNCVAL( net_createServer ) },
  { LSTRKEY( "createConnection" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "multicastJoin" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "multicastLeave" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "dns" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "cert" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "TCP" ), LNUMVAL( 1 ) },
  { LSTRKEY( "UDP" ), LNUMVAL( 0 ) },
  { LSTRKEY( "__metatable" ), LROVAL( net_map ) },
  { LNILKEY, LNILVAL }
};

static int luaopen_net(lua_State *L) {
  for (int i = 0; i < MAX_SOCKET; i++) socket_refs[i] = LUA_NOREF;
  luaL_rometatable(L, "net.server", (void *)net_server_map);
  luaL_rometatable(L, "net.socket", (void *)net_socket_map);
  return 0;
}
NODEMCU_MODULE(NET, "net", net_map, luaopen_net);

/* ---- gpio (gpio.c: pin checked against the pin count, then platform_gpio_*) ---- */
static int led_level = 1;
static int lgpio_mode(lua_State *L) {
  int pin = luaL_checkinteger(L, 1);
  int mode = luaL_checkinteger(L, 2);
  rt_record("gpio.mode %d %d", pin, mode);
  return 0;
}
static int lgpio_read(lua_State *L) {
  int pin = luaL_checkinteger(L, 1);
  (void)pin;
  lua_pushinteger(L, led_level);
  return 1;
}
static int lgpio_write(lua_State *L) {
  int pin = luaL_checkinteger(L, 1);
  int level = luaL_checkinteger(L, 2);
  if (level != 0 && level != 1) return luaL_error(L, "wrong arg type");
  led_level = level;
  rt_record("gpio.write %d %d", pin, level);
  return 0;
}
static const LUA_REG_TYPE gpio_map[] = {
  { LSTRKEY( "mode" ), LFUNCVAL( lgpio_mode ) },
  { LSTRKEY( "read" ), LFUNCVAL( lgpio_read ) },
  { LSTRKEY( "write" ), LFUNCVAL( lgpio_write ) },
  { LSTRKEY( "serout" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "trig" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "INT" ), LNUMVAL( 2 ) },
  { LSTRKEY( "OUTPUT" ), LNUMVAL( 1 ) },
  { LSTRKEY( "OPENDRAIN" ), LNUMVAL( 3 ) },
  { LSTRKEY( "INPUT" ), LNUMVAL( 0 ) },
  { LSTRKEY( "HIGH" ), LNUMVAL( 1 ) },
  { LSTRKEY( "LOW" ), LNUMVAL( 0 ) },
  { LSTRKEY( "FLOAT" ), LNUMVAL( 0 ) },
  { LSTRKEY( "PULLUP" ), LNUMVAL( 1 ) },
  { LNILKEY, LNILVAL }
};
NODEMCU_MODULE(GPIO, "gpio", gpio_map, NULL);

/* ---- tmr (static API: tmr.alarm(id, interval, mode, fn) keeps a registry ref) ---- */
int g_timer_ref = LUA_NOREF;
static int tmr_alarm(lua_State *L) {
  int id = luaL_checkinteger(L, 1);
  int interval = luaL_checkinteger(L, 2);
  int mode = luaL_checkinteger(L, 3);
  luaL_checkanyfunction(L, 4);
  replace_ref(L, &g_timer_ref, 4);
  rt_record("os_timer_arm id=%d %d ms mode=%d", id, interval, mode);
  return 0;
}
static const LUA_REG_TYPE tmr_map[] = {
  { LSTRKEY( "delay" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "now" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "wdclr" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "softwd" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "time" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "register" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "alarm" ), LFUNCVAL( tmr_alarm ) },
  { LSTRKEY( "start" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "stop" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "unregister" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "state" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "interval" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "ALARM_SINGLE" ), LNUMVAL( 0 ) },
  { LSTRKEY( "ALARM_SEMI" ), LNUMVAL( 1 ) },
  { LSTRKEY( "ALARM_AUTO" ), LNUMVAL( 2 ) },
  { LNILKEY, LNILVAL }
};
NODEMCU_MODULE(TMR, "tmr", tmr_map, NULL);

/* ---- node.heap (node.c: system_get_free_heap_size, pushed as an integer) ---- */
static int node_heap(lua_State *L) {
  lua_pushinteger(L, system_get_free_heap_size());
  return 1;
}
static const LUA_REG_TYPE node_map[] = {
  { LSTRKEY( "restart" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "dsleep" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "info" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "chipid" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "flashid" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "flashsize" ), LFUNCVAL( not_used ) },
  { LSTRKEY( "heap" ), LFUNCVAL( node_heap ) },
  { LNILKEY, LNILVAL }
};
NODEMCU_MODULE(NODE, "node", node_map, NULL);

/* ---- wifi: setup calls only (init.lua's boot, not measured per event) ---- */
static int wifi_setmode(lua_State *L) {
  rt_record("wifi.setmode %d", (int)luaL_checkinteger(L, 1));
  return 0;
}
static int wifi_sta_config(lua_State *L) {
  luaL_checkstring(L, 1);
  rt_record("wifi.sta.config");
  return 0;
}
static int wifi_sta_setip(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  rt_record("wifi.sta.setip");
  return 0;
}
static const LUA_REG_TYPE wifi_station_map[] = {
  { LSTRKEY( "config" ), LFUNCVAL( wifi_sta_config ) },
  { LSTRKEY( "setip" ), LFUNCVAL( wifi_sta_setip ) },
  { LNILKEY, LNILVAL }
};
static const LUA_REG_TYPE wifi_map[] = {
  { LSTRKEY( "setmode" ), LFUNCVAL( wifi_setmode ) },
  { LSTRKEY( "sta" ), LROVAL( wifi_station_map ) },
  { LSTRKEY( "NULLMODE" ), LNUMVAL( 0 ) },
  { LSTRKEY( "STATION" ), LNUMVAL( 1 ) },
  { LSTRKEY( "SOFTAP" ), LNUMVAL( 2 ) },
  { LSTRKEY( "STATIONAP" ), LNUMVAL( 3 ) },
  { LNILKEY, LNILVAL }
};
NODEMCU_MODULE(WIFI, "wifi", wifi_map, NULL);

int *nm_socket_refs(void) { return socket_refs; }
int nm_max_socket(void) { return MAX_SOCKET; }
