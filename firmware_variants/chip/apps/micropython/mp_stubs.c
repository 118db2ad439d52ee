/* closebench: the modules main.py imports besides the VM's own (gc, time), as recording stubs:
 * socket (shaped as extmod/modlwip.c's: makefile returns the socket itself, readline is the
 * stream's unbuffered readline over the socket's read, close is the stream close), machine.Pin
 * and network.WLAN. Event boundaries are taken at the stub calls:
 *   accept   accept() returning .. the connection's first read (settimeout, handle, makefile)
 *   receive  the first read .. send() (the header lines read, the page built)
 *   send     send() .. close() (modlwip's copy into tcp_write is the stack's, not counted)
 *   close    close() .. the next accept() (the finally block, the loop and its heap check)
 *   timer    accept() timing out (settimeout(1)) .. the next accept() (the heap print pass) */
#include <string.h>
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/runtime.h"
#include "py/stream.h"
#include "../rt/rt.h"

#ifndef MP_CONNECTIONS
#define MP_CONNECTIONS 16
#endif
#define MP_TIMEOUT_AFTER (MP_CONNECTIONS / 2) /* one idle accept timeout midway */

extern const char app_request[], app_request_end[];
static uint32_t g_ms;
static int g_served, g_timed_out;
static enum { NONE, AFTER_CLOSE, AFTER_TIMEOUT } g_pending;
static uint32_t t_accepted, t_first_read, t_send, t_close, t_timeout;

uint32_t mp_hal_ticks_ms(void) { return g_ms; }
uint32_t mp_hal_ticks_us(void) { return g_ms * 1000; }
uint64_t mp_hal_time_ns(void) { return (uint64_t)g_ms * 1000000; }
mp_uint_t mp_hal_ticks_cpu(void) { return g_ms * 80000; }
void mp_hal_delay_ms(mp_uint_t ms) { g_ms += ms; }
void mp_hal_delay_us(mp_uint_t us) { g_ms += us / 1000; }
/* The SDK's task loop run by MICROPY_VM_HOOK_POLL every 10 jumps: no task is pending here. */
bool ets_loop_iter(void) { return false; }

/* ---- the client socket ---- */
typedef struct {
  mp_obj_base_t base;
  size_t pos;
  int first_read_seen;
} client_obj_t;

static mp_uint_t client_read(mp_obj_t self_in, void *buf, mp_uint_t size, int *errcode) {
  client_obj_t *self = MP_OBJ_TO_PTR(self_in);
  (void)errcode;
  if (!self->first_read_seen) {
    self->first_read_seen = 1;
    rt_span("accept", t_accepted);
    t_first_read = rt_icount();
  }
  size_t left = (size_t)(app_request_end - app_request) - self->pos;
  if (size > left) size = left;
  memcpy(buf, app_request + self->pos, size);
  self->pos += size;
  return size;
}

static mp_uint_t client_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
  (void)self_in;
  (void)arg;
  if (request == MP_STREAM_CLOSE) {
    rt_span("send", t_send);
    t_close = rt_icount();
    g_pending = AFTER_CLOSE;
    rt_record("tcp_close");
    return 0;
  }
  *errcode = MP_EINVAL;
  return MP_STREAM_ERROR;
}

static mp_obj_t client_send(mp_obj_t self_in, mp_obj_t data) {
  (void)self_in;
  rt_span("receive", t_first_read);
  mp_buffer_info_t info;
  mp_get_buffer_raise(data, &info, MP_BUFFER_READ);
  rt_record("tcp_write %d", (int)info.len);
  mp_obj_t sent = mp_obj_new_int_from_uint(info.len);
  t_send = rt_icount();
  return sent;
}
static MP_DEFINE_CONST_FUN_OBJ_2(client_send_obj, client_send);

static mp_obj_t socket_settimeout(mp_obj_t self_in, mp_obj_t t) {
  (void)self_in;
  (void)mp_obj_get_int(t);
  return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(socket_settimeout_obj, socket_settimeout);

static mp_obj_t client_makefile(size_t n_args, const mp_obj_t *args) {
  (void)n_args;
  return args[0]; /* modlwip.c lwip_socket_makefile: "return args[0];" */
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(client_makefile_obj, 1, 3, client_makefile);

static const mp_rom_map_elem_t client_locals_table[] = {
  {MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&mp_stream_close_obj)},
  {MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&client_send_obj)},
  {MP_ROM_QSTR(MP_QSTR_settimeout), MP_ROM_PTR(&socket_settimeout_obj)},
  {MP_ROM_QSTR(MP_QSTR_makefile), MP_ROM_PTR(&client_makefile_obj)},
  {MP_ROM_QSTR(MP_QSTR_read), MP_ROM_PTR(&mp_stream_read_obj)},
  {MP_ROM_QSTR(MP_QSTR_readline), MP_ROM_PTR(&mp_stream_unbuffered_readline_obj)},
  {MP_ROM_QSTR(MP_QSTR_write), MP_ROM_PTR(&mp_stream_write_obj)},
};
static MP_DEFINE_CONST_DICT(client_locals, client_locals_table);
static const mp_stream_p_t client_stream = {.read = client_read, .ioctl = client_ioctl};
static MP_DEFINE_CONST_OBJ_TYPE(client_type, MP_QSTR_socket, MP_TYPE_FLAG_NONE, protocol,
                                &client_stream, locals_dict, &client_locals);

/* ---- the listening socket ---- */
static mp_obj_t listener_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                                  const mp_obj_t *args) {
  (void)n_args;
  (void)n_kw;
  (void)args;
  mp_obj_base_t *o = mp_obj_malloc(mp_obj_base_t, type);
  rt_record("socket.socket");
  return MP_OBJ_FROM_PTR(o);
}

static mp_obj_t listener_setsockopt(size_t n_args, const mp_obj_t *args) {
  (void)n_args;
  rt_record("setsockopt %d %d", (int)mp_obj_get_int(args[1]), (int)mp_obj_get_int(args[2]));
  return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(listener_setsockopt_obj, 4, 4, listener_setsockopt);

static mp_obj_t listener_bind(mp_obj_t self_in, mp_obj_t addr) {
  (void)self_in;
  mp_obj_t *items;
  mp_obj_get_array_fixed_n(addr, 2, &items);
  rt_record("bind port=%d", (int)mp_obj_get_int(items[1]));
  return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(listener_bind_obj, listener_bind);

static mp_obj_t listener_listen(mp_obj_t self_in, mp_obj_t backlog) {
  (void)self_in;
  rt_record("listen %d", (int)mp_obj_get_int(backlog));
  return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(listener_listen_obj, listener_listen);

static mp_obj_t listener_accept(mp_obj_t self_in) {
  (void)self_in;
  if (g_pending == AFTER_CLOSE) rt_span("close", t_close);
  if (g_pending == AFTER_TIMEOUT) rt_span("timer", t_timeout);
  g_pending = NONE;
  if (g_served == MP_TIMEOUT_AFTER && !g_timed_out) {
    g_timed_out = 1;
    g_ms += 1000; /* settimeout(1): a second without a client */
    g_pending = AFTER_TIMEOUT;
    t_timeout = rt_icount();
    mp_raise_OSError(MP_ETIMEDOUT);
  }
  if (g_served == MP_CONNECTIONS) mp_raise_type(&mp_type_SystemExit);
  g_served++;
  client_obj_t *c = mp_obj_malloc(client_obj_t, &client_type);
  c->pos = 0;
  c->first_read_seen = 0;
  mp_obj_t addr[2] = {mp_obj_new_str("198.18.0.1", 10), MP_OBJ_NEW_SMALL_INT(40000)};
  mp_obj_t pair[2] = {MP_OBJ_FROM_PTR(c), mp_obj_new_tuple(2, addr)};
  mp_obj_t result = mp_obj_new_tuple(2, pair);
  t_accepted = rt_icount();
  return result;
}
static MP_DEFINE_CONST_FUN_OBJ_1(listener_accept_obj, listener_accept);

static const mp_rom_map_elem_t listener_locals_table[] = {
  {MP_ROM_QSTR(MP_QSTR_setsockopt), MP_ROM_PTR(&listener_setsockopt_obj)},
  {MP_ROM_QSTR(MP_QSTR_bind), MP_ROM_PTR(&listener_bind_obj)},
  {MP_ROM_QSTR(MP_QSTR_listen), MP_ROM_PTR(&listener_listen_obj)},
  {MP_ROM_QSTR(MP_QSTR_settimeout), MP_ROM_PTR(&socket_settimeout_obj)},
  {MP_ROM_QSTR(MP_QSTR_accept), MP_ROM_PTR(&listener_accept_obj)},
};
static MP_DEFINE_CONST_DICT(listener_locals, listener_locals_table);
static MP_DEFINE_CONST_OBJ_TYPE(listener_type, MP_QSTR_socket, MP_TYPE_FLAG_NONE, make_new,
                                listener_make_new, locals_dict, &listener_locals);

static mp_obj_t socket_getaddrinfo(size_t n_args, const mp_obj_t *args) {
  (void)n_args;
  mp_obj_t addr[2] = {args[0], args[1]};
  mp_obj_t entry[5] = {MP_OBJ_NEW_SMALL_INT(2), MP_OBJ_NEW_SMALL_INT(1), MP_OBJ_NEW_SMALL_INT(0),
                       MP_OBJ_NEW_QSTR(MP_QSTR_), mp_obj_new_tuple(2, addr)};
  mp_obj_t one = mp_obj_new_tuple(5, entry);
  return mp_obj_new_list(1, &one);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(socket_getaddrinfo_obj, 2, 6, socket_getaddrinfo);

static const mp_rom_map_elem_t socket_module_table[] = {
  {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_socket)},
  {MP_ROM_QSTR(MP_QSTR_socket), MP_ROM_PTR(&listener_type)},
  {MP_ROM_QSTR(MP_QSTR_getaddrinfo), MP_ROM_PTR(&socket_getaddrinfo_obj)},
  {MP_ROM_QSTR(MP_QSTR_SOL_SOCKET), MP_ROM_INT(1)},
  {MP_ROM_QSTR(MP_QSTR_SO_REUSEADDR), MP_ROM_INT(4)},
};
static MP_DEFINE_CONST_DICT(socket_module_globals, socket_module_table);
const mp_obj_module_t cb_socket_module = {
  .base = {&mp_type_module},
  .globals = (mp_obj_dict_t *)&socket_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_socket, cb_socket_module);

/* ---- machine.Pin ---- */
typedef struct {
  mp_obj_base_t base;
  int pin, level;
} pin_obj_t;

static mp_obj_t pin_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                             const mp_obj_t *args) {
  (void)n_kw;
  pin_obj_t *p = mp_obj_malloc(pin_obj_t, type);
  p->pin = n_args > 0 ? mp_obj_get_int(args[0]) : 0;
  p->level = 0;
  return MP_OBJ_FROM_PTR(p);
}

static mp_obj_t pin_value(size_t n_args, const mp_obj_t *args) {
  pin_obj_t *p = MP_OBJ_TO_PTR(args[0]);
  if (n_args == 1) return MP_OBJ_NEW_SMALL_INT(p->level);
  p->level = mp_obj_is_true(args[1]);
  rt_record("pin %d value %d", p->pin, p->level);
  return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(pin_value_obj, 1, 2, pin_value);

static const mp_rom_map_elem_t pin_locals_table[] = {
  {MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&pin_value_obj)},
  {MP_ROM_QSTR(MP_QSTR_OUT), MP_ROM_INT(1)},
  {MP_ROM_QSTR(MP_QSTR_IN), MP_ROM_INT(0)},
};
static MP_DEFINE_CONST_DICT(pin_locals, pin_locals_table);
static MP_DEFINE_CONST_OBJ_TYPE(pin_type, MP_QSTR_Pin, MP_TYPE_FLAG_NONE, make_new, pin_make_new,
                                locals_dict, &pin_locals);

static const mp_rom_map_elem_t machine_module_table[] = {
  {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_machine)},
  {MP_ROM_QSTR(MP_QSTR_Pin), MP_ROM_PTR(&pin_type)},
};
static MP_DEFINE_CONST_DICT(machine_module_globals, machine_module_table);
const mp_obj_module_t cb_machine_module = {
  .base = {&mp_type_module},
  .globals = (mp_obj_dict_t *)&machine_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_machine, cb_machine_module);

/* ---- network.WLAN: start-up only ---- */
static mp_obj_t wlan_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
                              const mp_obj_t *args) {
  (void)n_args;
  (void)n_kw;
  (void)args;
  mp_obj_base_t *o = mp_obj_malloc(mp_obj_base_t, type);
  return MP_OBJ_FROM_PTR(o);
}
static mp_obj_t wlan_any(size_t n_args, const mp_obj_t *args) {
  (void)n_args;
  (void)args;
  rt_record("network.WLAN call");
  return mp_const_true;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(wlan_any_obj, 1, 3, wlan_any);
static const mp_rom_map_elem_t wlan_locals_table[] = {
  {MP_ROM_QSTR(MP_QSTR_active), MP_ROM_PTR(&wlan_any_obj)},
  {MP_ROM_QSTR(MP_QSTR_ifconfig), MP_ROM_PTR(&wlan_any_obj)},
  {MP_ROM_QSTR(MP_QSTR_connect), MP_ROM_PTR(&wlan_any_obj)},
  {MP_ROM_QSTR(MP_QSTR_isconnected), MP_ROM_PTR(&wlan_any_obj)},
};
static MP_DEFINE_CONST_DICT(wlan_locals, wlan_locals_table);
static MP_DEFINE_CONST_OBJ_TYPE(wlan_type, MP_QSTR_WLAN, MP_TYPE_FLAG_NONE, make_new,
                                wlan_make_new, locals_dict, &wlan_locals);
static const mp_rom_map_elem_t network_module_table[] = {
  {MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_network)},
  {MP_ROM_QSTR(MP_QSTR_WLAN), MP_ROM_PTR(&wlan_type)},
  {MP_ROM_QSTR(MP_QSTR_STA_IF), MP_ROM_INT(0)},
};
static MP_DEFINE_CONST_DICT(network_module_globals, network_module_table);
const mp_obj_module_t cb_network_module = {
  .base = {&mp_type_module},
  .globals = (mp_obj_dict_t *)&network_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_network, cb_network_module);
