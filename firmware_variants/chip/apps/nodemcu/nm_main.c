/* closebench: runs a NodeMCU app (init.lua) on the firmware's own Lua 5.1 and counts the
 * instructions of each network event, driven as nodemcu-firmware 98d3b46 app/modules/net.c
 * drives Lua from espconn's callbacks (net_server_connected, net_socket_received,
 * net_socket_sent, net_server_disconnected) and tmr.c from its timer. */
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#include "legc.h"
#include "flash_api.h"
#include "nm_app.h"
#include "../rt/rt.h"
#include <string.h>

extern const char app_script[], app_script_end[];
extern const char app_request[], app_request_end[];

#ifndef NM_CONNECTIONS
#define NM_CONNECTIONS 16
#endif
#ifndef NM_TIMER_TICKS
#define NM_TIMER_TICKS 4
#endif

uint32 system_get_free_heap_size(void) { return 40000; /* printed by init.lua only */ }
int ets_getc(void) { return -1; }
void output_redirect(const char *str) { rt_record("print %s", str); }
int fs_open(const char *name, int flags) { (void)name; (void)flags; return 0; }
int fs_close(int fd) { (void)fd; return 0; }
int fs_read(int fd, void *buf, int len) { (void)fd; (void)buf; (void)len; return 0; }
int fs_eof(int fd) { (void)fd; return 1; }
int fs_getc(int fd) { (void)fd; return -1; }
int fs_ungetc(int c, int fd) { (void)c; (void)fd; return -1; }
int fs_mode2flag(const char *mode) { (void)mode; return 0; }

/* net_server_connected: a slot, the net.socket userdata, its self ref, then function(conn). */
static struct nm_socket *accept_connection(lua_State *L) {
  int *refs = nm_socket_refs();
  int i;
  for (i = 0; i < nm_max_socket(); i++)
    if (refs[i] == LUA_NOREF) break;
  if (i >= nm_max_socket() || g_server.connect_ref == LUA_NOREF) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, g_server.connect_ref);
  struct nm_socket *skt = (struct nm_socket *)lua_newuserdata(L, sizeof(struct nm_socket));
  luaL_getmetatable(L, "net.socket");
  lua_setmetatable(L, -2);
  skt->self_ref = LUA_NOREF;
  lua_pushvalue(L, -1);
  skt->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  refs[i] = skt->self_ref;
  skt->connect_ref = skt->reconnect_ref = skt->disconnect_ref = LUA_NOREF;
  skt->receive_ref = skt->send_ref = skt->dns_ref = LUA_NOREF;
  skt->pesp_conn = skt;
  skt->open = 1;
  skt->closed_by_app = 0;
  lua_call(L, 1, 0);
  return skt;
}

/* net_socket_received: function(sck, payload) with the payload as a Lua string. */
static void receive_request(lua_State *L, struct nm_socket *skt, const char *data, size_t len) {
  if (skt->receive_ref == LUA_NOREF || skt->self_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, skt->receive_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, skt->self_ref);
  lua_pushlstring(L, data, len);
  lua_call(L, 2, 0);
}

/* net_socket_sent: function(sck) once espconn reports the data sent. */
static void report_sent(lua_State *L, struct nm_socket *skt) {
  if (skt->send_ref == LUA_NOREF || skt->self_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, skt->send_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, skt->self_ref);
  lua_call(L, 1, 0);
}

/* net_server_disconnected: the disconnection callback if any, then the slot's ref dropped
 * with the collector stopped, as net.c does. */
static void report_disconnected(lua_State *L, struct nm_socket *skt) {
  int *refs = nm_socket_refs();
  if (skt->disconnect_ref != LUA_NOREF && skt->self_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, skt->disconnect_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, skt->self_ref);
    lua_call(L, 1, 0);
  }
  lua_gc(L, LUA_GCSTOP, 0);
  for (int i = 0; i < nm_max_socket(); i++) {
    if (refs[i] != LUA_NOREF && refs[i] == skt->self_ref) {
      skt->pesp_conn = NULL;
      skt->self_ref = LUA_NOREF;
      luaL_unref(L, LUA_REGISTRYINDEX, refs[i]);
      refs[i] = LUA_NOREF;
      break;
    }
  }
  lua_gc(L, LUA_GCRESTART, 0);
  skt->open = 0;
}

static void one_connection(lua_State *L, const char *req, size_t req_len) {
  uint32_t t = rt_event_begin();
  struct nm_socket *skt = accept_connection(L);
  rt_event_end("accept", t);
  if (skt == NULL) {
    rt_puts("error accept refused\n");
    return;
  }
  t = rt_event_begin();
  receive_request(L, skt, req, req_len);
  rt_event_end("receive", t);
  t = rt_event_begin();
  report_sent(L, skt);
  rt_event_end("sent", t);
  t = rt_event_begin();
  report_disconnected(L, skt);
  rt_event_end("disconnected", t);
}

static void timer_ticks(lua_State *L) {
  for (int i = 0; i < NM_TIMER_TICKS && g_timer_ref != LUA_NOREF; i++) {
    uint32_t t = rt_event_begin();
    lua_rawgeti(L, LUA_REGISTRYINDEX, g_timer_ref); /* tmr.c alarm_timer_common */
    lua_call(L, 0, 0);
    rt_event_end("timer", t);
  }
}

static int run_app(lua_State *L) {
  lua_gc(L, LUA_GCSTOP, 0); /* lua.c pmain: libraries opened with the collector stopped */
  luaL_openlibs(L);
  lua_gc(L, LUA_GCRESTART, 0);
  size_t n = (size_t)(app_script_end - app_script);
  if (luaL_loadbuffer(L, app_script, n, "=init.lua") != 0) return lua_error(L);
  lua_call(L, 0, 0);
  return 0;
}

int app_main(void) {
  lua_State *L = lua_open();
  if (L == NULL) return 2;
  if (lua_cpcall(L, run_app, NULL) != 0) {
    rt_puts("error ");
    rt_puts(lua_tostring(L, -1));
    rt_puts("\n");
    return 3;
  }
  /* lua.c lua_main, after the start-up script: "legc_set_mode( L, EGC_ALWAYS, 4096 );" */
  legc_set_mode(L, EGC_ALWAYS, 4096);
  rt_puts("ready\n");
  size_t req_len = (size_t)(app_request_end - app_request);
  /* An app without a server (a benchmark script) only has its timer run. */
  for (int c = 0; c < NM_CONNECTIONS && g_server.connect_ref != LUA_NOREF; c++)
    one_connection(L, app_request, req_len);
  timer_ticks(L);
  rt_puts("done\n");
  return 0;
}

/* As app/platform/flash_api.c reads it: the aligned word, then the byte within it. */
uint8_t byte_of_aligned_array(const uint8_t *aligned_array, uint32_t index) {
  if (((uint32_t)aligned_array) % 4 != 0) return 0;
  volatile uint32_t v = ((const uint32_t *)aligned_array)[index / 4];
  uint8_t *p = (uint8_t *)&v;
  return p[index % 4];
}
