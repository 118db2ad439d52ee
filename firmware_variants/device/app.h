/* The HTTP app on lwIP's raw API (httpd.c), called from stack.c. lwIP side only. */
#ifndef CBDEV_APP_H
#define CBDEV_APP_H

#include <stdint.h>

#include "cbdev.h"

int app_start(const struct dev_config *cfg);
void app_poll(uint32_t now_ms);            /* per-connection deadlines (arduino close wait) */
uint32_t app_sleep_ms(uint32_t now_ms);     /* ms until the next app deadline, or UINT32_MAX */
uint32_t app_take_disconnects(void);       /* disconnects since the last call (espconn culling) */
uint32_t app_led(void);

#endif
