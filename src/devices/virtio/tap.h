/* tap.h: the host side of virtio-net: a Linux tap interface opened with virtio-net headers. */
#ifndef EMBER_DEVICES_VIRTIO_TAP_H
#define EMBER_DEVICES_VIRTIO_TAP_H

#include <stddef.h>

#include "err.h"

/*
 * Offload flags of TUNSETOFFLOAD (linux/if_tun.h). They say what the reader
 * of the tap (ember, for the guest) can take: partially checksummed frames
 * (TAP_F_CSUM) and GSO frames (TSO4/TSO6/UFO, each only with TAP_F_CSUM).
 */
#define TAP_F_CSUM 0x01
#define TAP_F_TSO4 0x02
#define TAP_F_TSO6 0x04
#define TAP_F_UFO  0x10

/* Bytes of the virtio-net header on every frame read from or written to the tap. */
#define TAP_VNET_HDR_SIZE 12

/*
 * tap_open: attach to the tap interface @ifname (in ember's network
 * namespace) through /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (not
 * IFF_MULTI_QUEUE), non-blocking and close-on-exec, with TUNSETVNETHDRSZ 12
 * (virtio 1.x headers, num_buffers included) and every offload off.
 *
 * Like Firecracker, a name that does not exist yet makes the kernel create a
 * new tap (when ember may: CAP_NET_ADMIN); such a tap is down, has no address
 * and goes away with ember, so this is logged as a warning.
 *
 * @fd: the tap fd on success. @offload_flags_supported: the TAP_F_* set
 * TUNSETOFFLOAD accepted (may be NULL). @e: a message for the API
 * client or config-file user naming the interface and the cause (may be
 * NULL). Returns 0 or -errno: -EINVAL bad name, or the interface exists but
 * is not a single-queue tap; -EBUSY another process holds the tap; -EPERM
 * not allowed to attach or create it; -ENOENT no /dev/net/tun. Any thread.
 */
int tap_open(const char *ifname, int *fd, unsigned *offload_flags_supported, struct err *e);

/*
 * tap_probe_offloads: the TAP_F_* combinations the tap on @fd accepts
 * (TUNSETOFFLOAD each, then 0 again). Returns the set, 0 when none.
 */
unsigned tap_probe_offloads(int fd);

/* tap_set_offloads: TUNSETOFFLOAD @flags (TAP_F_*); 0 or -errno. Any thread. */
int tap_set_offloads(int fd, unsigned flags);

#endif
