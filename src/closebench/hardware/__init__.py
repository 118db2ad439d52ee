"""Hardware backend: lab file, safety checks, flash plan, esptool flashing, app upload,
readiness wait and serial resource polling for real ESP8266/ESP32 boards.

Nothing here opens a serial port or sends a packet at import time; every step that touches a
board is an explicit call, and `closebench flash --dry-run` shows all of them without doing any.
"""
