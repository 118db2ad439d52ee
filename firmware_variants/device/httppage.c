/* The LED page's HTTP answer (httppage.h): the status rules and the bytes every app sends. */
#include "httppage.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define LINE_MAX_BYTES 300 /* longer request lines are cut here; they end up 400 or 404 */

static const char PAGE[] =
    "<!DOCTYPE html><html><head><title>closebench device</title></head><body>"
    "<h1>LED is %s</h1><p><a href=\"/?led=on\">on</a> <a href=\"/?led=off\">off</a></p>"
    "</body></html>\n";

/* The status for the request line; switches *led for GET /?led=on|off. */
static const char *status_of(const char *req, size_t len, int too_long, uint32_t *led,
                             int *head) {
  char line[LINE_MAX_BYTES + 1], method[8] = "", target[256] = "", version[16] = "";
  const char *end = memchr(req, '\n', len);
  size_t n = end ? (size_t)(end - req) : 0;
  char *query;
  if (n > 0 && req[n - 1] == '\r') n--;
  if (n > LINE_MAX_BYTES) n = LINE_MAX_BYTES;
  memcpy(line, req, n);
  line[n] = '\0';
  if (!end || too_long || sscanf(line, "%7s %255s %15s", method, target, version) != 3 ||
      strncmp(version, "HTTP/1.", 7) != 0 || target[0] != '/')
    return "400 Bad Request";
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) return "400 Bad Request";
  *head = strcmp(method, "HEAD") == 0;
  if ((query = strchr(target, '?')) != NULL) *query++ = '\0';
  if (strcmp(target, "/") != 0) return "404 Not Found";
  if (query && !*head) { /* GET switches the LED; HEAD only reports */
    if (strcmp(query, "led=on") == 0) *led = 1;
    else if (strcmp(query, "led=off") == 0) *led = 0;
  }
  return "200 OK";
}

enum http_app g_http_app = HTTP_APP_HTTP11;

/* The README server's one answer to any request, for any method (HEAD too): README.md line 33
 * 'sck:send("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1> Hello, NodeMCU.</h1>")'.
 * No Content-Length: a client learns the answer is complete only when the server closes.
 * The LED switch is the app's (apps/readme/init.lua): the first "[?&]led=(%a+)" in the payload,
 * on any method, as its Lua string.match finds it; "on" / "off" switch, other words do not. */
static uint16_t readme_answer(const char *req, size_t len, uint32_t *led, char *out,
                              size_t cap) {
  static const char ANSWER[] = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
                               "<h1> Hello, NodeMCU.</h1>";
  for (size_t i = 1; i + 4 < len; i++) {
    size_t w = 0;
    if ((req[i - 1] != '?' && req[i - 1] != '&') || memcmp(req + i, "led=", 4) != 0) continue;
    while (i + 4 + w < len && isalpha((unsigned char)req[i + 4 + w])) w++;
    if (w == 0) continue; /* %a+ needs a letter: Lua's match goes on searching */
    if (w == 2 && memcmp(req + i + 4, "on", 2) == 0) *led = 1;
    else if (w == 3 && memcmp(req + i + 4, "off", 3) == 0) *led = 0;
    break;
  }
  return (uint16_t)snprintf(out, cap, "%s", ANSWER);
}

uint16_t http_answer(const char *req, size_t len, int too_long, uint32_t *led, char *out,
                     size_t cap) {
  char body[512];
  if (g_http_app == HTTP_APP_README) return readme_answer(req, len, led, out, cap);
  int head = 0, blen;
  const char *status = status_of(req, len, too_long, led, &head);
  if (status[0] == '2') blen = snprintf(body, sizeof body, PAGE, *led ? "on" : "off");
  else blen = snprintf(body, sizeof body, "%s\n", status);
  return (uint16_t)snprintf(out, cap,
                            "HTTP/1.1 %s\r\nServer: cbdev\r\nContent-Type: %s\r\n"
                            "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                            status, status[0] == '2' ? "text/html" : "text/plain", blen,
                            head ? "" : body);
}
