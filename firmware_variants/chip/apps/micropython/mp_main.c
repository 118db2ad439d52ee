/* closebench: MicroPython's VM (py/ of the pinned release) on the lx106 running the variant's
 * main.py; the socket stub (mp_stubs.c) marks each event's boundaries. Start-up as the esp8266
 * port's main.c does it: a 38 KB GC heap ("static char heap[38 * 1024];"), mp_init, then the
 * script (main.py, run by pyexec_file_if_exists on the chip; compiled from memory here). */
#include <string.h>
#include "py/builtin.h"
#include "py/compile.h"
#include "py/mperrno.h"
#include "py/gc.h"
#include "py/lexer.h"
#include "py/nlr.h"
#include "py/runtime.h"
#include "py/stackctrl.h"
#include "../rt/rt.h"

extern const char app_script[], app_script_end[];
extern char __stack_top[];
static char heap[38 * 1024];

mp_uint_t gc_helper_get_regs_and_sp(mp_uint_t *regs); /* ports/esp8266/gchelper.s */

/* As ports/esp8266/gccollect.c: registers and the whole stack are roots. */
void gc_collect(void) {
  gc_collect_start();
  mp_uint_t regs[8];
  mp_uint_t sp = gc_helper_get_regs_and_sp(regs);
  gc_collect_root((void **)sp, ((mp_uint_t)__stack_top - sp) / sizeof(uint32_t));
  gc_collect_end();
}

mp_lexer_t *mp_lexer_new_from_file(qstr filename) {
  mp_raise_OSError(MP_ENOENT);
}

mp_import_stat_t mp_import_stat(const char *path) {
  (void)path;
  return MP_IMPORT_STAT_NO_EXIST;
}

void nlr_jump_fail(void *val) {
  (void)val;
  rt_puts("error nlr_jump_fail\n");
  rt_exit(4);
}

void NORETURN __fatal_error(const char *msg) {
  rt_puts("error ");
  rt_puts(msg);
  rt_puts("\n");
  rt_exit(5);
}

/* Console output goes to the UART on the chip; here it is recorded (not counted). */
void mp_hal_stdout_tx_strn(const char *str, size_t len) { rt_record("print %.*s", (int)len, str); }
void mp_hal_stdout_tx_strn_cooked(const char *str, size_t len) { mp_hal_stdout_tx_strn(str, len); }

/* input() and open(): no console input and no file system in this runner. */
int readline(void *line, const char *prompt) {
  (void)line;
  (void)prompt;
  return -1;
}

static mp_obj_t no_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
  (void)n_args;
  (void)args;
  (void)kwargs;
  mp_raise_OSError(MP_ENOENT);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, no_open);

int app_main(void) {
  int stack_dummy;
  mp_stack_set_top(&stack_dummy);
  mp_stack_set_limit(8192);
  gc_init(heap, heap + sizeof(heap));
  mp_init();
  nlr_buf_t nlr;
  if (nlr_push(&nlr) == 0) {
    size_t n = (size_t)(app_script_end - app_script);
    mp_lexer_t *lex = mp_lexer_new_from_str_len(MP_QSTR_main_dot_py, app_script, n, 0);
    qstr source_name = lex->source_name;
    mp_parse_tree_t tree = mp_parse(lex, MP_PARSE_FILE_INPUT);
    mp_obj_t fun = mp_compile(&tree, source_name, false);
    rt_puts("ready\n");
    mp_call_function_0(fun);
    nlr_pop();
  } else {
    mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
    if (!mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)),
                                 MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
      rt_puts("error uncaught exception\n");
      mp_obj_print_exception(&mp_plat_print, exc);
      return 3;
    }
  }
  rt_puts("done\n");
  return 0;
}
