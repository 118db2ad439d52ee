-- closebench app for NodeMCU master 98d3b46 (2016): the LED web server from the docs.
-- The ESP closes each connection in the "sent" callback, i.e. after the peer ACKed the page,
-- which makes it the active closer (TIME_WAIT on the ESP), as in the IWL test.
-- {{...}} placeholders are filled in at upload time; credentials never live in this file.

local LED = 4            -- GPIO2 on ESP-12 modules, LED lights when the pin is low
local PORT = 80
local HEAP_EVERY_MS = 1000

gpio.mode(LED, gpio.OUTPUT)
gpio.write(LED, gpio.HIGH)

wifi.setmode(wifi.STATION)
-- 2016 API: positional ssid/password (the table form came later)
wifi.sta.config("{{WIFI_SSID}}", "{{WIFI_PASSWORD}}")
wifi.sta.setip({ip = "{{DEVICE_IP}}", netmask = "{{NETMASK}}", gateway = "{{GATEWAY}}"})

local function page(led_on)
  local state = led_on and "on" or "off"
  return "<html><head><title>ESP8266 LED</title></head><body>"
    .. "<h1>ESP8266 LED</h1><p>LED is " .. state .. "</p>"
    .. "<p><a href=\"/?led=on\">LED on</a> <a href=\"/?led=off\">LED off</a></p>"
    .. "</body></html>"
end

local function respond(sck, request)
  local method, path = string.match(request, "^(%u+) (%S+) HTTP")
  local arg = path and string.match(path, "[?&]led=(%a+)")
  if arg == "on" then gpio.write(LED, gpio.LOW) elseif arg == "off" then gpio.write(LED, gpio.HIGH) end
  local body = page(gpio.read(LED) == gpio.LOW)
  local head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " .. #body
    .. "\r\nConnection: close\r\n\r\n"
  -- HEAD gets the same headers without the body (the IWL load used HEAD requests)
  if method == "HEAD" then sck:send(head) else sck:send(head .. body) end
end

-- timeout 30: espconn counts it in server polls, one every 2 s (espconn_tcp.c:1256 polls every
-- 8 ticks of 250 ms, tcp_impl.h:116,124), so an idle connection is closed after ~60 s
local srv = net.createServer(net.TCP, 30)
srv:listen(PORT, function(conn)
  conn:on("receive", respond)
  conn:on("sent", function(sck) sck:close() end)
end)

-- The serial poller reads "heap=<bytes>" lines (the hardware counterpart of device.csv).
-- Timer 6, mode 1 = auto-repeat (static tmr API of this era).
tmr.alarm(6, HEAP_EVERY_MS, 1, function() print("heap=" .. node.heap()) end)
