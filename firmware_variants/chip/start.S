/* Boot for the lx106 core under `qemu-system-xtensa -M sim -cpu lx106`.
 * The sim machine starts this core at the reset vector 0x50000000 (sysrom0), not at the ELF
 * entry, with PS.EXCM set: jump from there to _start, clear PS, set the stack, zero .bss,
 * run main and leave through the semihosting exit call with its return value. */
    .section .reset, "ax"
    .global _reset
    .align 4
_reset:
    j 1f
    .align 4
2:  .word _start
1:  l32r a2, 2b
    jx a2

    .section .text._start, "ax"
    .global _start
    .align 4
    .literal_position
    .literal .Lstack, _stack_top
    .literal .Lbss0, _bss_start
    .literal .Lbss1, _bss_end
    .literal .Lmain, main
    .literal .Lexit, chip_exit
_start:
    movi a0, 0
    wsr a0, ps
    rsync
    l32r a1, .Lstack
    l32r a2, .Lbss0
    l32r a3, .Lbss1
3:  bgeu a2, a3, 4f
    s32i a0, a2, 0
    addi a2, a2, 4
    j 3b
4:  l32r a0, .Lmain
    callx0 a0
    l32r a3, .Lexit
    callx0 a3
5:  j 5b
