/* Host stand-in for ESP-IDF's default TCP ISN hook (RFC 6528): ISN = F(4-tuple, secret) + time
 * in 4 us units. IDF: espressif/esp-idf components/lwip/port/hooks/tcp_isn_default.c,
 * "return isn + base_time + sys_now() * 250;". F here is a splitmix64-style keyed mix instead of
 * MD5 (ASSUMPTION: only unpredictability and per-tuple monotonic growth matter to the bench);
 * the 128-bit secret comes from cb_rand32 (seeded by --seed) on first use, base_time is 0. */
#include "lwip/ip_addr.h"
#include "lwip/sys.h"

#include "cbdev.h"
#include "esp_idf_hooks.h"

static uint64_t secret[2];
static int have_secret;

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

u32_t cb_esp_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                     u16_t remote_port) {
  uint64_t h;
  if (!have_secret) {
    secret[0] = (uint64_t)cb_rand32() << 32 | cb_rand32();
    secret[1] = (uint64_t)cb_rand32() << 32 | cb_rand32();
    have_secret = 1;
  }
  h = mix(secret[0] ^ ((uint64_t)ip4_addr_get_u32(ip_2_ip4(local_ip)) << 32 |
                       ip4_addr_get_u32(ip_2_ip4(remote_ip))));
  h = mix(h ^ secret[1] ^ ((uint64_t)local_port << 16 | remote_port));
  return (u32_t)h + sys_now() * 250;
}
