/* closebench: the ESP8266_GENERIC board's settings at their default (2 MB and larger flash). */
#define MICROPY_ESP8266_2M
#include "ports/esp8266/boards/ESP8266_GENERIC/mpconfigboard.h"
