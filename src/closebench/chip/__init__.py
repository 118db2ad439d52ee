"""The ESP8266's instruction set: code built for its lx106 core, run under QEMU, counted.

toolchain.py finds the cross compiler and the emulator; build.py compiles a program and the
counting plugin; run.py runs it under `qemu-system-xtensa -M sim -cpu lx106` and pairs the
exact instruction counts with the marks the program writes.
"""
