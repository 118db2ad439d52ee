/* Host stand-in for the Arduino core's sys/pgmspace.h, which the glue's gluedebug.h includes
 * when ARDUINO is set (flash-resident strings on the ESP8266). Names only. */
#ifndef CB_ARDUINO_PGMSPACE_H
#define CB_ARDUINO_PGMSPACE_H

#define PROGMEM
#define PSTR(s) (s)

#endif
