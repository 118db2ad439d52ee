/* Attach to an existing persistent TAP, optionally inside another network namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "host.h"

static int open_here(const char *name, char *err, size_t errlen) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
    return -1;
  }
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    snprintf(err, errlen, "cannot attach to TAP %s (create it first with "
             "'ip tuntap add %s mode tap'): %s", name, name, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

int tap_open(const char *name, const char *netns_path, char *err, size_t errlen) {
  int self, target, fd;
  if (!netns_path) return open_here(name, err, errlen);
  self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  target = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0) {
    snprintf(err, errlen, "cannot open netns %s: %s", netns_path, strerror(errno));
    if (self >= 0) close(self);
    if (target >= 0) close(target);
    return -1;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    snprintf(err, errlen, "cannot enter netns %s: %s", netns_path, strerror(errno));
    fd = -1;
  } else {
    fd = open_here(name, err, errlen); /* the TUN fd keeps the namespace it was opened in */
    if (setns(self, CLONE_NEWNET) < 0) {
      snprintf(err, errlen, "cannot return from netns %s: %s", netns_path, strerror(errno));
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
  close(self);
  close(target);
  return fd;
}
