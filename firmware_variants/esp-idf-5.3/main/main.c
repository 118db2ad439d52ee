/* closebench app for ESP-IDF v5.3: the LED page over plain BSD sockets.
 * accept, read the request header, send, close(): the ESP is the active closer, and close()
 * with unread request bytes makes lwIP send RST. Defaults everywhere (no SO_LINGER), because
 * the defaults are what is measured. {{...}} placeholders are filled in before building. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "driver/gpio.h"
#include "esp_event.h"
#include "esp_netif.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/event_groups.h"
#include "freertos/task.h"
#include "lwip/sockets.h"
#include "nvs_flash.h"

#define LED_GPIO GPIO_NUM_2 /* DevKit LED, lit when high */
#define PORT 80
#define CONNECTED_BIT BIT0

static EventGroupHandle_t wifi_events;
static int led_on;

static void on_wifi(void *arg, esp_event_base_t base, int32_t id, void *data) {
  if (base == WIFI_EVENT && (id == WIFI_EVENT_STA_START || id == WIFI_EVENT_STA_DISCONNECTED)) {
    esp_wifi_connect();
  } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
    xEventGroupSetBits(wifi_events, CONNECTED_BIT);
  }
}

static void wifi_start(void) {
  wifi_events = xEventGroupCreate();
  ESP_ERROR_CHECK(esp_netif_init());
  ESP_ERROR_CHECK(esp_event_loop_create_default());
  esp_netif_t *sta = esp_netif_create_default_wifi_sta();
  /* static address from the lab file: stop DHCP before setting it */
  esp_netif_dhcpc_stop(sta);
  esp_netif_ip_info_t ip = {0};
  ip.ip.addr = esp_ip4addr_aton("{{DEVICE_IP}}");
  ip.netmask.addr = esp_ip4addr_aton("{{NETMASK}}");
  ip.gw.addr = esp_ip4addr_aton("{{GATEWAY}}");
  ESP_ERROR_CHECK(esp_netif_set_ip_info(sta, &ip));
  wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
  ESP_ERROR_CHECK(esp_wifi_init(&init));
  ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_wifi, NULL));
  ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_wifi, NULL));
  wifi_config_t cfg = {0};
  strlcpy((char *)cfg.sta.ssid, "{{WIFI_SSID}}", sizeof cfg.sta.ssid);
  strlcpy((char *)cfg.sta.password, "{{WIFI_PASSWORD}}", sizeof cfg.sta.password);
  ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
  ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &cfg));
  ESP_ERROR_CHECK(esp_wifi_start());
  xEventGroupWaitBits(wifi_events, CONNECTED_BIT, pdFALSE, pdTRUE, portMAX_DELAY);
}

static void heap_task(void *arg) {
  for (;;) { /* read by the serial poller */
    printf("heap=%" PRIu32 "\n", esp_get_free_heap_size());
    vTaskDelay(pdMS_TO_TICKS(1000));
  }
}

/* Read until the blank line ending the header (or the buffer is full). */
static int read_request(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (len + 1 < cap) {
    int n = recv(fd, buf + len, cap - 1 - len, 0);
    if (n <= 0) break; /* 0: the client closed its side first */
    len += (size_t)n;
    buf[len] = '\0';
    if (strstr(buf, "\r\n\r\n")) break;
  }
  buf[len] = '\0';
  return (int)len;
}

static void serve(int fd) {
  char req[512], body[320], head[160];
  if (read_request(fd, req, sizeof req) <= 0) return;
  if (strstr(req, "led=on")) led_on = 1;
  if (strstr(req, "led=off")) led_on = 0;
  gpio_set_level(LED_GPIO, led_on);
  int blen = snprintf(body, sizeof body,
                      "<html><head><title>ESP32 LED</title></head><body><h1>ESP32 LED</h1>"
                      "<p>LED is %s</p><p><a href=\"/?led=on\">LED on</a> "
                      "<a href=\"/?led=off\">LED off</a></p></body></html>",
                      led_on ? "on" : "off");
  int hlen = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n", blen);
  send(fd, head, hlen, 0);
  if (strncmp(req, "HEAD ", 5) != 0) send(fd, body, blen, 0);
}

void app_main(void) {
  esp_err_t err = nvs_flash_init();
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    ESP_ERROR_CHECK(nvs_flash_erase());
    err = nvs_flash_init();
  }
  ESP_ERROR_CHECK(err);
  gpio_reset_pin(LED_GPIO);
  gpio_set_direction(LED_GPIO, GPIO_MODE_OUTPUT);
  wifi_start();
  xTaskCreate(heap_task, "heap", 2048, NULL, 1, NULL);

  int srv = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  int one = 1;
  setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(PORT)};
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(srv, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(srv, 5) != 0) {
    printf("error=listen %d\n", errno);
    return;
  }
  for (;;) {
    int fd = accept(srv, NULL, NULL);
    if (fd < 0) { /* e.g. errno 23 once CONFIG_LWIP_MAX_SOCKETS are open */
      printf("error=accept %d\n", errno);
      vTaskDelay(pdMS_TO_TICKS(10));
      continue;
    }
    serve(fd);
    close(fd); /* FIN, or RST if request bytes are still unread */
  }
}
