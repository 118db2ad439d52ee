/* The lx106 harness around a variant's stack (its lwIP side: stack.c or stack14.c, the app
 * stand-in and the fork's sources, compiled as the host build compiles them): it boots the
 * stack, feeds the recorded frames at their recorded times on a virtual clock, runs the
 * stack's timers when they are due, and marks each piece of work so cbcount.so counts it:
 *   "in <i> <len> <flags>" .. "end"   one frame through stack_input (what it sends included)
 *   "tx <len> <flags>"                a frame the stack sends (inside a piece)
 *   "poll" .. "pend"                  one pass of the timers (stack_poll)
 *   "app" .. "append"                 the app stand-in's answer (inside a piece)
 * All of this file is harness code (CHIP_HOST): the counter counts only the stack's code.
 * The client's acknowledgement numbers are moved from the recorded device's sequence space
 * to the live one (per connection: live ISN - recorded ISN) and the TCP checksum redone. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cbdev.h"
#include "semihost.h"
#include "workload.h"

#define MAX_PORTS 65536
#define FRAME_MAX 1518

static uint64_t now_us;
static uint32_t live_iss[MAX_PORTS];
static uint8_t frame_buf[FRAME_MAX];
static uint64_t tx_frames;

CHIP_HOST uint64_t mono_us(void) { return now_us; }

/* picolibc's standard streams: the shim's SDK printf goes to stderr through semihosting. */
CHIP_HOST static int put_stderr(char c, FILE *f)
{
    (void)f;
    chip_write(2, &c, 1);
    return (unsigned char)c;
}
static FILE stream_err = FDEV_SETUP_STREAM(put_stderr, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdin = NULL;
FILE *const stdout = &stream_err;
FILE *const stderr = &stream_err;

/* boot_settle (stack14.c) waits with nanosleep: advance the virtual clock instead. */
CHIP_HOST int nanosleep(const struct timespec *req, struct timespec *rem)
{
    (void)rem;
    now_us += (uint64_t)req->tv_sec * 1000000u + (uint64_t)req->tv_nsec / 1000u;
    return 0;
}

CHIP_HOST static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

CHIP_HOST static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

CHIP_HOST static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* The TCP segment of an IPv4 frame: its offset, or 0 when the frame is something else. */
CHIP_HOST static uint32_t tcp_at(const uint8_t *f, uint32_t len)
{
    if (len < 54 || be16(f + 12) != 0x0800 || f[23] != 6)
        return 0;
    uint32_t ihl = (uint32_t)(f[14] & 15) * 4;
    return len >= 14 + ihl + 20 ? 14 + ihl : 0;
}

CHIP_HOST static void tcp_checksum(uint8_t *f, uint32_t tcp, uint32_t len)
{
    uint32_t sum = 0, seg = be16(f + 16) - (tcp - 14);
    f[tcp + 16] = f[tcp + 17] = 0;
    for (uint32_t i = 26; i < 34; i += 2) /* source and destination addresses */
        sum += be16(f + i);
    sum += 6 + seg;
    for (uint32_t i = 0; i + 1 < seg && tcp + i + 1 < len; i += 2)
        sum += be16(f + tcp + i);
    if (seg & 1)
        sum += (uint32_t)f[tcp + seg - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    f[tcp + 16] = (uint8_t)(~sum >> 8);
    f[tcp + 17] = (uint8_t)~sum;
}

CHIP_HOST static void tag3(const char *what, uint32_t a, uint32_t b, uint32_t c)
{
    char tag[40];
    int n = 0;
    const uint32_t v[3] = {a, b, c};
    for (const char *s = what; *s; s++)
        tag[n++] = *s;
    for (int k = 0; k < 3; k++) {
        tag[n++] = ' ';
        for (int d = 7; d >= 0; d--)
            tag[n++] = "0123456789abcdef"[(v[k] >> (4 * d)) & 15];
    }
    tag[n] = 0;
    chip_mark(tag);
}

/* The stack hands a finished frame to the link (main.c's role on the host). */
CHIP_HOST void host_output(const uint8_t *frame, size_t len)
{
    uint32_t tcp = tcp_at(frame, (uint32_t)len), flags = 0;
    tx_frames++;
    if (tcp) {
        flags = frame[tcp + 13];
        if ((flags & 0x12) == 0x12) /* SYN-ACK: the live ISN of this connection */
            live_iss[be16(frame + tcp + 2)] = be32(frame + tcp + 4);
    }
    tag3("tx", (uint32_t)len, flags, tcp ? be16(frame + tcp + 2) : 0);
}

CHIP_HOST static uint32_t copy_translated(const struct wl_frame *w)
{
    const uint8_t *src = wl_bytes + w->offset;
    uint32_t len = w->len > FRAME_MAX ? FRAME_MAX : w->len, tcp;
    for (uint32_t i = 0; i < len; i++)
        frame_buf[i] = src[i];
    tcp = tcp_at(frame_buf, len);
    if (w->flags & 1 && tcp && frame_buf[tcp + 13] & 0x10) {
        uint32_t port = be16(frame_buf + tcp);
        put32(frame_buf + tcp + 8, be32(frame_buf + tcp + 8) + live_iss[port] - w->rec_iss);
        tcp_checksum(frame_buf, tcp, len);
    }
    return len;
}

/* The app stand-in's answer (httppage.c: request parsing and the page, sscanf/snprintf) is
 * the app's work, which the firmware does in Lua, Python or C++ (the app half of [timing]):
 * linked with --wrap=http_answer, it is marked so the stack's count leaves it out. */
uint16_t __real_http_answer(const char *req, size_t len, int too_long, uint32_t *led, char *out,
                            size_t cap);
CHIP_HOST uint16_t __wrap_http_answer(const char *req, size_t len, int too_long, uint32_t *led,
                                      char *out, size_t cap)
{
    chip_mark("app");
    uint16_t n = __real_http_answer(req, len, too_long, led, out, cap);
    chip_mark("append");
    return n;
}

/* Runs the stack's timers up to time T, one marked pass each time one is due. */
CHIP_HOST static void run_timers_until(uint64_t t)
{
    for (;;) {
        uint64_t due = now_us + (uint64_t)stack_sleep_ms() * 1000u;
        if (due > t)
            break;
        now_us = due > now_us ? due : now_us + 1000u;
        chip_mark("poll");
        stack_poll();
        chip_mark("pend");
    }
    now_us = t;
}

CHIP_HOST int main(void)
{
    if (stack_init(&wl_config) != 0) {
        chip_puts("harness: stack_init failed\n");
        return 2;
    }
    uint64_t start = now_us + 1000u;
    chip_put_hex("booted_us ", (uint32_t)now_us);
    for (uint32_t i = 0; i < wl_nframes; i++) {
        const struct wl_frame *w = &wl_frames[i];
        run_timers_until(start + w->t_us);
        uint32_t len = copy_translated(w);
        uint32_t tcp = tcp_at(frame_buf, len);
        tag3("in", i, len, tcp ? frame_buf[tcp + 13] : 0x100);
        stack_input(frame_buf, len);
        chip_mark("end");
        /* the host main loop polls right after the frames it read (main.c cpu_run / pump):
         * a serial app (Arduino's handleClient, MicroPython's socket loop) answers there */
        chip_mark("poll");
        stack_poll();
        chip_mark("pend");
    }
    if (wl_nframes)
        run_timers_until(start + wl_frames[wl_nframes - 1].t_us + wl_tail_us);
    chip_put_hex("tx_frames ", (uint32_t)tx_frames);
    chip_puts("harness: done\n");
    return 0;
}
