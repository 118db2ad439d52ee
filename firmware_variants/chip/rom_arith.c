/* The compiler's integer helpers the lx106 has no instruction for (it has no divider and no
 * 64-bit multiply). On the ESP8266 they are in the chip's ROM (the SDKs' eagle.rom.addr.v6.ld
 * gives __udivsi3, __divsi3, __muldi3, ... ROM addresses); Debian's libgcc for this target
 * does not carry them (chip-isa notes), so plain shift-and-subtract versions stand in.
 * They are harness code (CHIP_HOST, not counted): the host shim's clock conversions (the
 * SDK's system_get_time and os_timer stand-ins, 64-bit microseconds to milliseconds) call
 * them on every pass, where the chip reads a timer register. ASSUMPTION: the few divisions
 * of lwIP's own TCP paths (keepalive intervals) are left out with them, some tens of
 * instructions each in the ROM. Only shifts, adds and compares here: a division in this file
 * would call itself. */
#include <stdint.h>

#include "semihost.h"

CHIP_HOST static uint32_t udivmod32(uint32_t n, uint32_t d, uint32_t *rem)
{
    uint32_t q = 0, bit = 1;
    if (d == 0) {
        *rem = n;
        return 0xffffffffu;
    }
    while (d < n && !(d & 0x80000000u)) {
        d <<= 1;
        bit <<= 1;
    }
    while (bit) {
        if (n >= d) {
            n -= d;
            q |= bit;
        }
        d >>= 1;
        bit >>= 1;
    }
    *rem = n;
    return q;
}

CHIP_HOST static uint64_t udivmod64(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, bit = 1;
    if ((n >> 32) == 0 && (d >> 32) == 0) {
        uint32_t r;
        q = udivmod32((uint32_t)n, (uint32_t)d, &r);
        *rem = r;
        return q;
    }
    if (d == 0) {
        *rem = n;
        return ~(uint64_t)0;
    }
    while (d < n && !(d >> 63)) {
        d <<= 1;
        bit <<= 1;
    }
    while (bit) {
        if (n >= d) {
            n -= d;
            q |= bit;
        }
        d >>= 1;
        bit >>= 1;
    }
    *rem = n;
    return q;
}

CHIP_HOST uint32_t __udivsi3(uint32_t n, uint32_t d)
{
    uint32_t r;
    return udivmod32(n, d, &r);
}

CHIP_HOST uint32_t __umodsi3(uint32_t n, uint32_t d)
{
    uint32_t r;
    udivmod32(n, d, &r);
    return r;
}

CHIP_HOST int32_t __divsi3(int32_t n, int32_t d)
{
    uint32_t r, q = udivmod32(n < 0 ? -(uint32_t)n : (uint32_t)n, d < 0 ? -(uint32_t)d : (uint32_t)d, &r);
    return (n < 0) != (d < 0) ? -(int32_t)q : (int32_t)q;
}

CHIP_HOST int32_t __modsi3(int32_t n, int32_t d)
{
    uint32_t r;
    udivmod32(n < 0 ? -(uint32_t)n : (uint32_t)n, d < 0 ? -(uint32_t)d : (uint32_t)d, &r);
    return n < 0 ? -(int32_t)r : (int32_t)r;
}

CHIP_HOST uint64_t __udivdi3(uint64_t n, uint64_t d)
{
    uint64_t r;
    return udivmod64(n, d, &r);
}

CHIP_HOST uint64_t __umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;
    udivmod64(n, d, &r);
    return r;
}

CHIP_HOST int64_t __divdi3(int64_t n, int64_t d)
{
    uint64_t r, q = udivmod64(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, &r);
    return (n < 0) != (d < 0) ? -(int64_t)q : (int64_t)q;
}

CHIP_HOST int64_t __moddi3(int64_t n, int64_t d)
{
    uint64_t r;
    udivmod64(n < 0 ? -(uint64_t)n : (uint64_t)n, d < 0 ? -(uint64_t)d : (uint64_t)d, &r);
    return n < 0 ? -(int64_t)r : (int64_t)r;
}

/* 64 x 64 -> 64 from 32 x 32 products (the core's mull gives the low 32 bits, and the 16-bit
 * halves give the high part). */
CHIP_HOST static uint64_t mul32x32(uint32_t a, uint32_t b)
{
    uint32_t al = a & 0xffff, ah = a >> 16, bl = b & 0xffff, bh = b >> 16;
    uint64_t mid = (uint64_t)(al * bh) + (uint64_t)(ah * bl);
    return (uint64_t)(al * bl) + (mid << 16) + ((uint64_t)(ah * bh) << 32);
}

CHIP_HOST uint64_t __muldi3(uint64_t a, uint64_t b)
{
    uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32), bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
    return mul32x32(al, bl) + ((uint64_t)(al * bh + ah * bl) << 32);
}
