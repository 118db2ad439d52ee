-- closebench app "readme" for NodeMCU master 98d3b46 (2016): written for the bench to behave as
-- the HTTP server in the firmware's own README does (nodemcu/nodemcu-firmware@98d3b46e2c11068f361154a564ce75a048c9dadc
-- README.md lines 28-36, "-- a simple HTTP server"), the program NodeMCU users of 2016 started
-- from, plus the LED switch the IWL post describes ("a simple web server that would blink the
-- LEDs on command from a web page"). The README's calls, each cited by its line:
--   line 29 'srv = net.createServer(net.TCP)'          (no timeout: net.c defaults to 30 s)
--   line 30 'srv:listen(80, function(conn)'
--   line 31 'conn:on("receive", function(sck, payload)'
--   line 32 'print(payload)'
--   line 33 'sck:send("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1> Hello, NodeMCU.</h1>")'
--   line 35 'conn:on("sent", function(sck) sck:close() end)'
-- So every request, HEAD included, gets HTTP/1.0 200, no Content-Length and a body, and the ESP
-- closes in the "sent" callback: a client learns the answer is complete when the ESP closes.
-- {{...}} placeholders are filled in at upload time; credentials never live in this file.

local LED = 4            -- GPIO2 on ESP-12 modules, LED lights when the pin is low
local ANSWER = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<h1> Hello, NodeMCU.</h1>"

gpio.mode(LED, gpio.OUTPUT)
gpio.write(LED, gpio.HIGH)

wifi.setmode(wifi.STATION)
wifi.sta.config("{{WIFI_SSID}}", "{{WIFI_PASSWORD}}")
wifi.sta.setip({ip = "{{DEVICE_IP}}", netmask = "{{NETMASK}}", gateway = "{{GATEWAY}}"})

-- the post's LED: "led=on" / "led=off" in the request, on any method
local function switch_led(request)
  local want = string.match(request, "[?&]led=(%a+)")
  if want == "on" then gpio.write(LED, gpio.LOW) elseif want == "off" then gpio.write(LED, gpio.HIGH) end
end

local function on_receive(sck, request)
  print(request)                -- README line 32
  switch_led(request)
  sck:send(ANSWER)              -- README line 33
end

local function on_sent(sck)
  sck:close()                   -- README line 35
end

srv = net.createServer(net.TCP) -- README line 29
srv:listen(80, function(conn)   -- README line 30
  conn:on("receive", on_receive)
  conn:on("sent", on_sent)
end)
