/* Host stand-in for the SDK's user_interface.h: the Wi-Fi state the fork asks about. The device is
 * one station interface that already has its (static) address. */
#ifndef CB_SDK_USER_INTERFACE_H
#define CB_SDK_USER_INTERFACE_H

#include "c_types.h"
#include "os_type.h"
#include "osapi.h"

struct ip_info;
struct dhcps_lease;
struct netif;

#define NULL_MODE 0x00
#define STATION_MODE 0x01
#define SOFTAP_MODE 0x02
#define STATIONAP_MODE 0x03
#define STATION_IF 0x00
#define SOFTAP_IF 0x01

enum { STATION_IDLE = 0, STATION_CONNECTING, STATION_WRONG_PASSWORD, STATION_NO_AP_FOUND,
       STATION_CONNECT_FAIL, STATION_GOT_IP };
enum dhcp_status { DHCP_STOPPED, DHCP_STARTED };
enum dhcps_offer_option { OFFER_START = 0x00, OFFER_ROUTER = 0x01, OFFER_END };

uint8 wifi_get_opmode(void);
uint8 wifi_get_broadcast_if(void);
bool wifi_get_ip_info(uint8 if_index, struct ip_info *info);
uint8 wifi_station_get_connect_status(void);
enum dhcp_status wifi_softap_dhcps_status(void);
struct netif *eagle_lwip_getif(uint8 index);

#endif
