/* Force-included (-include) into every file built against the Espressif lwIP 1.4 fork.
 *
 * The fork's lwipopts.h keeps five tunables in RTC memory, e.g.
 *   "#define MEMP_NUM_TCP_PCB  (*(volatile uint32*)0x600011FC)"
 * each under #ifndef, so they are pointed at host variables here without editing the tree.
 * Their values are written by the tree itself: lwip_init() in core/init.c
 *   "MEMP_NUM_TCP_PCB = 5;" "TCP_WND = (4 * TCP_MSS);" "TCP_MAXRTX = 12;" "TCP_SYNMAXRTX = 6;"
 * and by espconn_tcp_set_* in app/espconn.c. Only DHCP_MAXRTX is set by the closed SDK (its DHCP
 * client, unused here: the device has a static address). */
#ifndef CB_FORK_FORCE_H
#define CB_FORK_FORCE_H

extern volatile unsigned int cb_rtc_memp_num_tcp_pcb, cb_rtc_tcp_wnd, cb_rtc_tcp_maxrtx,
    cb_rtc_tcp_synmaxrtx, cb_rtc_dhcp_maxrtx;
#define MEMP_NUM_TCP_PCB cb_rtc_memp_num_tcp_pcb
#define TCP_WND cb_rtc_tcp_wnd
#define TCP_MAXRTX cb_rtc_tcp_maxrtx
#define TCP_SYNMAXRTX cb_rtc_tcp_synmaxrtx
#define DHCP_MAXRTX cb_rtc_dhcp_maxrtx

#endif
