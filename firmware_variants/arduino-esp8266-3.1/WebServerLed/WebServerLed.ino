// closebench app for the Arduino core for ESP8266: the LED page served by ESP8266WebServer.
// After each response the server waits up to 2 s for the client to close (and answers the
// client's FIN with RST); the close behaviour under test is the library's, not this sketch's.
// {{...}} placeholders are filled in before compiling; credentials never live in this file.
#include <ESP8266WiFi.h>
#include <ESP8266WebServer.h>

static const int LED = LED_BUILTIN;   // GPIO2 on ESP-12, lit when the pin is low
static const unsigned long HEAP_EVERY_MS = 1000;

ESP8266WebServer server(80);
unsigned long lastHeap = 0;

static String page() {
  const bool on = digitalRead(LED) == LOW;
  return String("<html><head><title>ESP8266 LED</title></head><body>"
                "<h1>ESP8266 LED</h1><p>LED is ") + (on ? "on" : "off") +
         "</p><p><a href=\"/?led=on\">LED on</a> <a href=\"/?led=off\">LED off</a></p>"
         "</body></html>";
}

static void handleRoot() {
  if (server.arg("led") == "on") digitalWrite(LED, LOW);
  if (server.arg("led") == "off") digitalWrite(LED, HIGH);
  const String body = page();
  if (server.method() == HTTP_HEAD) {
    // headers only, with the length the GET body would have
    server.setContentLength(body.length());
    server.send(200, "text/html", "");
    return;
  }
  server.send(200, "text/html", body);
}

void setup() {
  Serial.begin(115200);
  pinMode(LED, OUTPUT);
  digitalWrite(LED, HIGH);
  IPAddress ip, mask, gw;
  ip.fromString("{{DEVICE_IP}}");
  mask.fromString("{{NETMASK}}");
  gw.fromString("{{GATEWAY}}");
  WiFi.mode(WIFI_STA);
  WiFi.config(ip, gw, mask);
  WiFi.begin("{{WIFI_SSID}}", "{{WIFI_PASSWORD}}");
  while (WiFi.status() != WL_CONNECTED) delay(100);
  server.on("/", handleRoot);   // any method, so HEAD reaches handleRoot too
  server.begin();
}

void loop() {
  server.handleClient();
  if (millis() - lastHeap >= HEAP_EVERY_MS) {
    lastHeap = millis();
    Serial.printf("heap=%u\n", ESP.getFreeHeap());   // read by the serial poller
  }
}
