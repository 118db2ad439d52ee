/* closebench app runner: reset stub for qemu-system-xtensa -M sim -cpu lx106.
 * The sim machine starts at the reset vector 0x50000000 with PS.EXCM set, not at the ELF entry:
 * clear PS and jump to _start (code lives in sysram0, away from VECBASE 0x40000000). */
    .section .reset, "ax"
    .global _reset
_reset:
    j 1f
    .align 4
2:  .word _start
1:  movi a0, 0
    wsr a0, ps
    rsync
    l32r a0, 2b
    jx a0

    .text
    .global _start
    .align 4
_start:
    movi a1, __stack_top
    call0 rt_main
    mov a3, a2
    movi a2, 1
    simcall
3:  j 3b
