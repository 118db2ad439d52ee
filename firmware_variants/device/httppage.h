/* The LED page's HTTP answer, one definition for every app (httpd.c, the exact builds' apps).
 * No lwIP headers: it compiles with the host side in every build. */
#ifndef CBDEV_HTTPPAGE_H
#define CBDEV_HTTPPAGE_H

#include <stddef.h>
#include <stdint.h>

/* Answer the request line at the start of req[0..len) into out (always `Connection: close`):
 * GET / or HEAD / -> 200 with the page (HEAD without the body), GET /?led=on|off switches *led,
 * other paths 404, other methods, malformed lines or too_long requests 400. Returns the length
 * written. */
uint16_t http_answer(const char *req, size_t len, int too_long, uint32_t *led, char *out,
                     size_t cap);

/* Which page the device serves (--app): the bench's HTTP/1.1 LED page above, or the HTTP server
 * of nodemcu/nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc README.md lines 28-36,
 * with the LED switch the IWL post describes (firmware_variants/nodemcu-2016/apps/readme/). */
enum http_app { HTTP_APP_HTTP11, HTTP_APP_README };
extern enum http_app g_http_app;

#endif
