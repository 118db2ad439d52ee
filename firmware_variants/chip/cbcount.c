/* cbcount.so: a QEMU TCG plugin that counts the guest instructions executed, exactly.
 *
 *   qemu-system-xtensa ... -plugin cbcount.so,out=FILE,mark=ADDR,skip=LO-HI[,fn=ADDR...]
 *
 * Every translated instruction gets an inline counter increment (QEMU's plugin API, as its
 * own contrib/plugins/insn.c does), except those in [LO, HI): the harness's semihosting and
 * marking code, which is not what is measured. Each time the instruction at ADDR (the
 * harness's chip_mark) runs, "0 <count so far>" is appended to FILE; each time the first
 * instruction of the kth fn= address runs (a function of the code measured), "k <count>";
 * at exit, "total <count>". The nth "0" line pairs with the nth "mark" line the guest wrote.
 *
 * The few declarations below are QEMU's plugin interface as QEMU 7.2 exports it
 * (docs/devel/tcg-plugins.rst, API version 1), written here because Debian ships the plugin
 * support in qemu-system-* but not the header. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op,
                                                void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *,
                                            qemu_plugin_vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t executed;
#define MAX_MARKS 16
static uint64_t marks[MAX_MARKS] = {UINT64_MAX}; /* [0]: chip_mark, then the fn= entries */
static uintptr_t n_marks = 1;
static uint64_t skip_lo, skip_hi;
static FILE *out;

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    fprintf(out, "%u %" PRIu64 "\n", (unsigned)(uintptr_t)udata, executed);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        for (uintptr_t k = 0; k < n_marks; k++)
            if (pc == marks[k])
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)k);
        if (pc < skip_lo || pc >= skip_hi)
            qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                       &executed, 1);
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    fprintf(out, "total %" PRIu64 "\n", executed);
    fclose(out);
}

__attribute__((visibility("default"))) int
qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4))
            path = argv[i] + 4;
        else if (!strncmp(argv[i], "mark=", 5))
            marks[0] = strtoull(argv[i] + 5, NULL, 0);
        else if (!strncmp(argv[i], "fn=", 3) && n_marks < MAX_MARKS)
            marks[n_marks++] = strtoull(argv[i] + 3, NULL, 0);
        else if (!strncmp(argv[i], "skip=", 5) &&
                 sscanf(argv[i] + 5, "%" SCNx64 "-%" SCNx64, &skip_lo, &skip_hi) != 2)
            return -1;
    }
    out = path ? fopen(path, "w") : NULL;
    if (!out)
        return -1;
    setvbuf(out, NULL, _IOLBF, 0);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
