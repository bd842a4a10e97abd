/* tap.c: opening a tap interface through /dev/net/tun (Documentation/networking/tuntap.rst) with virtio-net headers. */
#include "devices/virtio/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

#define TAP_TUN_PATH "/dev/net/tun"

int tap_set_offloads(int fd, unsigned flags)
{
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

unsigned tap_probe_offloads(int fd)
{
	/*
	 * Kernels refuse unknown bits with EINVAL (UFO was dropped in 4.14 and
	 * accepted again later), so try the richest set first.
	 */
	static const unsigned sets[] = {
		TAP_F_CSUM | TAP_F_TSO4 | TAP_F_TSO6 | TAP_F_UFO,
		TAP_F_CSUM | TAP_F_TSO4 | TAP_F_TSO6,
		TAP_F_CSUM,
	};
	unsigned got = 0;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if (tap_set_offloads(fd, sets[i]) == 0) {
			got = sets[i];
			break;
		}
	}
	/* Nothing partial or segmented reaches us before the driver asks for it. */
	(void)tap_set_offloads(fd, 0);
	return got;
}

/* The reason for a TUNSETIFF failure, as the kernel's tun_set_iff() decides it. */
static int tap_setiff_error(const char *ifname, bool existed, int n, struct err *e)
{
	switch (n) {
	case EBUSY:
		return err_set(e, -EBUSY,
			       "tap %s is in use by another process (a single-queue tap has one reader)",
			       ifname);
	case EINVAL:
		if (existed)
			return err_set(e, -EINVAL,
				       "interface %s exists but is not a single-queue tap device "
				       "(create it with: ip tuntap add dev %s mode tap)", ifname, ifname);
		return err_set(e, -EINVAL, "invalid tap name %s", ifname);
	case EPERM:
	case EACCES:
		if (existed)
			return err_set(e, -EPERM,
				       "not allowed to attach to tap %s (its owner or group is another user)",
				       ifname);
		return err_set(e, -EPERM,
			       "tap %s does not exist and ember may not create it (create it first: "
			       "ip tuntap add dev %s mode tap)", ifname, ifname);
	default:
		return err_set(e, -n, "cannot attach to tap %s: %s", ifname, strerror(n));
	}
}

int tap_open(const char *ifname, int *fd, unsigned *offload_flags_supported, struct err *e)
{
	struct ifreq ifr;
	unsigned features = 0;
	int hdr = TAP_VNET_HDR_SIZE, f, r;
	size_t len = ifname ? strlen(ifname) : 0;
	bool existed;

	*fd = -1;
	if (offload_flags_supported)
		*offload_flags_supported = 0;
	if (len == 0 || len >= IFNAMSIZ)
		return err_set(e, -EINVAL, "tap name \"%s\" must be 1 to %d characters",
			       ifname ? ifname : "", IFNAMSIZ - 1);
	existed = if_nametoindex(ifname) != 0;
	f = open(TAP_TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (f < 0) {
		r = errno;
		return err_set(e, -r, "cannot open %s for tap %s: %s", TAP_TUN_PATH, ifname,
			       strerror(r));
	}
	/* IFF_VNET_HDR must be known to this kernel (tuntap.rst, TUNGETFEATURES). */
	if (ioctl(f, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		close(f);
		return err_set(e, -EOPNOTSUPP,
			       "this kernel's tun driver has no IFF_VNET_HDR (tap %s)", ifname);
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, len);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(f, TUNSETIFF, &ifr) < 0) {
		r = errno;
		close(f);
		return tap_setiff_error(ifname, existed, r, e);
	}
	/* virtio 1.x: the 12-byte struct virtio_net_hdr with num_buffers (5.1.6). */
	if (ioctl(f, TUNSETVNETHDRSZ, &hdr) < 0) {
		r = errno;
		close(f);
		return err_set(e, -r, "tap %s: TUNSETVNETHDRSZ %d: %s", ifname, hdr,
			       strerror(r));
	}
	if (!existed)
		LOG_WARN("tap %s did not exist: created a new one, which is down, has no address "
			 "and goes away with ember; create and configure it before starting ember",
			 ifname);
	if (offload_flags_supported)
		*offload_flags_supported = tap_probe_offloads(f);
	else
		(void)tap_set_offloads(f, 0);
	*fd = f;
	return 0;
}
