# closebench app for MicroPython: the LED web server from the network_tcp tutorial.
# It reads the request header, sends the page and closes right away, so the board is the
# active closer. {{...}} placeholders are filled in at upload time; no credentials live here.
import gc
import socket
import time

import machine
import network

PORT = 80
HEAP_EVERY_MS = 1000
led = machine.Pin(2, machine.Pin.OUT)  # on-board LED of ESP-12 / DevKit boards
LED_ON = 0  # the ESP-12 LED lights when the pin is low
led.value(1 - LED_ON)

PAGE = (
    "<html><head><title>MicroPython LED</title></head><body>"
    "<h1>MicroPython LED</h1><p>LED is {}</p>"
    '<p><a href="/?led=on">LED on</a> <a href="/?led=off">LED off</a></p>'
    "</body></html>"
)


def connect_wifi():
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    # Static address: the lab file decides it, the bench targets only that address.
    sta.ifconfig(("{{DEVICE_IP}}", "{{NETMASK}}", "{{GATEWAY}}", "{{GATEWAY}}"))
    sta.connect("{{WIFI_SSID}}", "{{WIFI_PASSWORD}}")
    while not sta.isconnected():
        time.sleep_ms(100)


def handle(cl):
    reader = cl.makefile("rwb", 0)
    request = reader.readline()
    while True:  # read header lines until the blank line, as the tutorial does
        line = reader.readline()
        if not line or line == b"\r\n":
            break
    parts = request.split()
    method = parts[0] if parts else b""
    path = parts[1] if len(parts) > 1 else b"/"
    if b"led=on" in path:
        led.value(LED_ON)
    elif b"led=off" in path:
        led.value(1 - LED_ON)
    body = PAGE.format("on" if led.value() == LED_ON else "off")
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        "Content-Length: {}\r\nConnection: close\r\n\r\n".format(len(body))
    )
    cl.send(head if method == b"HEAD" else head + body)


def serve():
    addr = socket.getaddrinfo("0.0.0.0", PORT)[0][-1]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(1)
    # accept() times out each second so the heap line keeps coming while idle
    s.settimeout(1)
    last = time.ticks_ms()
    while True:
        if time.ticks_diff(time.ticks_ms(), last) >= HEAP_EVERY_MS:
            last = time.ticks_ms()
            print("heap={}".format(gc.mem_free()))
        try:
            cl, _ = s.accept()
        except OSError:
            continue
        try:
            cl.settimeout(5)
            handle(cl)
        except OSError as exc:
            print("error={}".format(exc))
        finally:
            cl.close()  # closes straight after send: the behaviour under test


connect_wifi()
serve()
