-- closebench app for NodeMCU 3.0 (3.0.0-release_20240225): the LED web server from the docs.
-- The ESP closes each connection in the "sent" callback, i.e. after the peer ACKed the page,
-- which makes it the active closer (TIME_WAIT on the ESP: 10 s with MSL 5 s).
-- {{...}} placeholders are filled in at upload time; credentials never live in this file.

local LED = 4            -- GPIO2 on ESP-12 modules, LED lights when the pin is low
local PORT = 80
local HEAP_EVERY_MS = 1000

gpio.mode(LED, gpio.OUTPUT)
gpio.write(LED, gpio.HIGH)

wifi.setmode(wifi.STATION)
-- 3.x API: station config as a table
wifi.sta.config({ssid = "{{WIFI_SSID}}", pwd = "{{WIFI_PASSWORD}}", auto = true})
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

-- timeout 30 s: net.c uses it as the keepalive idle time of accepted sockets
local srv = net.createServer(net.TCP, 30)
srv:listen(PORT, function(conn)
  conn:on("receive", respond)
  conn:on("sent", function(sck) sck:close() end)
end)

-- The serial poller reads "heap=<bytes>" lines (the hardware counterpart of device.csv).
-- 3.x has only object timers; keep a reference so it is not collected.
heap_timer = tmr.create()
heap_timer:alarm(HEAP_EVERY_MS, tmr.ALARM_AUTO, function() print("heap=" .. node.heap()) end)
