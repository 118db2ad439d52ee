/* closebench: runs a NodeMCU 3.0 app (init.lua) on the firmware's own Lua 5.1 (4b92eab) and
 * counts each event's instructions, driven as app/modules/net.c drives Lua from lwIP's
 * callbacks there (net_accept_cb, net_tcp_recv_cb/net_recv_cb, net_sent_cb) and tmr.c from its
 * timer (alarm_timer_common). No LFS image is loaded (luaN_init finds no partition), and the
 * collector keeps its start-up mode (lstate.c: egcmode 0 without EGC_INITIAL_MODE). */
#include <stdarg.h>
#include <string.h>
#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"
#include "nm3_app.h"
#include "../rt/rt.h"

extern const char app_script[], app_script_end[];
extern const char app_request[], app_request_end[];

#ifndef NM_CONNECTIONS
#define NM_CONNECTIONS 16
#endif
#ifndef NM_TIMER_TICKS
#define NM_TIMER_TICKS 4
#endif

static lua_State *g_L;
lua_State *lua_getstate(void) { return g_L; }

/* Platform and SDK calls the Lua core makes: no flash partition for LFS, no file system. */
uint32_t platform_flash_get_partition(uint32_t part_id, uint32_t *addr) {
  (void)part_id;
  if (addr) *addr = 0;
  return 0;
}
uint32_t platform_flash_phys2mapped(uint32_t phys) { return phys; }
uint32_t platform_flash_get_sector_of_address(uint32_t addr) { return addr / 4096; }
uint32_t system_get_free_heap_size(void) { return 40000; }
int vfs_open(const char *name, const char *mode) { (void)name; (void)mode; return 0; }
int vfs_getc(int fd) { (void)fd; return -1; }
int vfs_ungetc(int c, int fd) { (void)c; (void)fd; return -1; }
void dbg_printf(const char *fmt, ...) { (void)fmt; }
void system_soft_wdt_feed(void) {}
/* print's output (lbaselib.c luaB_print calls puts) goes to the UART on the chip; recorded here
 * and not counted, as for nodemcu-2016. */
int puts(const char *s) {
  rt_record("print %s", s);
  return 0;
}
/* Reached only by LFS reloads (lflash.c) and posted tasks (lnodemcu.c), which the runs here do
 * not make: they fail. */
int platform_flash_erase_sector(uint32_t sector) { (void)sector; return -1; }
uint32_t platform_flash_write(const void *from, uint32_t to, uint32_t size) {
  (void)from;
  (void)to;
  (void)size;
  return 0;
}
uint32_t platform_task_get_id(void *handler) {
  (void)handler;
  return 0;
}
bool system_os_post(uint8_t prio, uint32_t sig, uint32_t par) {
  (void)prio;
  (void)sig;
  (void)par;
  return false;
}
int uzlib_inflate(void *get_byte, void *put_byte, void *recall_byte, uint32_t len, uint32_t *crc,
                  void **state) {
  (void)get_byte;
  (void)put_byte;
  (void)recall_byte;
  (void)len;
  (void)crc;
  (void)state;
  return -1;
}
uint32_t uzlib_crc32(const void *data, unsigned int length, uint32_t crc) {
  (void)data;
  (void)length;
  return crc;
}

static struct nm3_net *accept_connection(lua_State *L) {
  struct nm3_net *srv = g_server3;
  if (!srv || srv->self_ref == LUA_NOREF || srv->accept_ref == LUA_NOREF) return NULL;
  lua_rawgeti(L, LUA_REGISTRYINDEX, srv->accept_ref);
  struct nm3_net *nud = nm3_net_create(L, 1);
  lua_pushvalue(L, 2);
  nud->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  nud->pcb = nud;
  lua_call(L, 1, 0);
  if (nud->connect_ref != LUA_NOREF) { /* net_connected_cb */
    lua_rawgeti(L, LUA_REGISTRYINDEX, nud->connect_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, nud->self_ref);
    lua_call(L, 1, 0);
  }
  return nud;
}

static void receive_request(lua_State *L, struct nm3_net *ud, const char *data, size_t len) {
  if (!ud->pcb || ud->self_ref == LUA_NOREF || ud->receive_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ud->receive_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ud->self_ref);
  lua_pushlstring(L, data, len);
  lua_call(L, 2, 0);
}

static void report_sent(lua_State *L, struct nm3_net *ud) {
  if (!ud->pcb || ud->self_ref == LUA_NOREF || ud->sent_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ud->sent_ref);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ud->self_ref);
  lua_call(L, 1, 0);
}

static void one_connection(lua_State *L, const char *req, size_t req_len) {
  uint32_t t = rt_icount();
  struct nm3_net *ud = accept_connection(L);
  rt_span("accept", t);
  if (ud == NULL) {
    rt_puts("error accept refused\n");
    return;
  }
  t = rt_icount();
  receive_request(L, ud, req, req_len);
  rt_span("receive", t);
  t = rt_icount();
  report_sent(L, ud);
  rt_span("sent", t);
}

static void timer_ticks(lua_State *L) {
  for (int i = 0; i < NM_TIMER_TICKS && g_timer3 && g_timer3->lua_ref != LUA_NOREF; i++) {
    uint32_t t = rt_icount();
    lua_rawgeti(L, LUA_REGISTRYINDEX, g_timer3->lua_ref); /* tmr.c alarm_timer_common */
    lua_rawgeti(L, LUA_REGISTRYINDEX, g_timer3->self_ref);
    luaL_pcallx(L, 1, 0);
    rt_span("timer", t);
  }
}

static int run_app(lua_State *L) {
  luaL_openlibs(L);
  size_t n = (size_t)(app_script_end - app_script);
  if (luaL_loadbuffer(L, app_script, n, "=init.lua") != 0) return lua_error(L);
  lua_call(L, 0, 0);
  return 0;
}

int app_main(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 2;
  g_L = L;
  if (lua_cpcall(L, run_app, NULL) != 0) {
    rt_puts("error ");
    rt_puts(lua_tostring(L, -1));
    rt_puts("\n");
    return 3;
  }
  lua_settop(L, 0);
  rt_puts("ready\n");
  size_t req_len = (size_t)(app_request_end - app_request);
  for (int c = 0; c < NM_CONNECTIONS; c++) one_connection(L, app_request, req_len);
  timer_ticks(L);
  rt_puts("done\n");
  return 0;
}
