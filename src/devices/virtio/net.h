/* net.h: virtio-net (virtio 1.2 section 5.1) backed by a host tap interface. */
#ifndef EMBER_DEVICES_VIRTIO_NET_H
#define EMBER_DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config/config.h"
#include "devices/rate_limiter.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/tap.h"   /* tap_open(): how the VMM gets the tap fd */
#include "metrics.h"
#include "mmds/stack.h"

#define VIRTIO_ID_NET       1
#define VNET_QUEUE_SIZE     256
#define VNET_RXQ            0       /* receiveq1 (5.1.2) */
#define VNET_TXQ            1       /* transmitq1; no control queue */
#define VNET_NUM_QUEUES     2

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MTU         3
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_GUEST_UFO   10
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_HOST_UFO    14
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16

#define VIRTIO_NET_S_LINK_UP     1

/* struct virtio_net_hdr (5.1.6): with VIRTIO_F_VERSION_1 always 12 bytes. */
#define VNET_HDR_SIZE            TAP_VNET_HDR_SIZE
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP   3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

#define VNET_ETH_HLEN            14
/* The longest frame either way: 64 KiB of GSO payload plus the Ethernet header (Firecracker's). */
#define VNET_MAX_FRAME           (65536 + VNET_ETH_HLEN)
#define VNET_MAX_BUF             (VNET_HDR_SIZE + VNET_MAX_FRAME)
/* readv() takes at most IOV_MAX (1024) segments: the held buffers and the bounce buffer. */
#define VNET_RX_IOV_MAX          1023
/* Frames handled per event before the loop serves other devices. */
#define VNET_BUDGET              256

/* One receive chain popped from the queue and not used yet. */
struct vnet_rx_chain {
	uint16_t head;
	uint16_t nseg;     /* its iovecs in rx_iov, in order */
	uint32_t cap;      /* writable bytes */
};

struct vnet {
	struct virtio_mmio t;            /* first: the transport's dev points back here */
	char iface_id[CFG_ID_MAX + 1];
	char name[CFG_ID_MAX + 16];      /* "net eth0" */
	int tap_fd;                      /* -1 when none */
	bool tap_watched;                /* on the event loop (event-loop thread only) */
	bool tap_broken;                 /* read error other than EAGAIN: never watched again */
	unsigned tap_offloads;           /* TAP_F_* the tap accepts */
	unsigned offl_want;              /* TAP_F_* the driver negotiated (set at activate) */
	unsigned offl_applied;           /* TAP_F_* set on the tap (event-loop thread) */
	bool has_mac;
	uint8_t mac[6];
	uint16_t mtu;                    /* 0: not configured */

	/* What the driver negotiated, fixed at activate. */
	bool mrg;                        /* VIRTIO_NET_F_MRG_RXBUF */
	bool mtu_negotiated;             /* VIRTIO_NET_F_MTU */
	bool guest_csum;                 /* VIRTIO_NET_F_GUEST_CSUM */
	uint32_t rx_need;                /* bytes a frame may take (header included): buffers held ahead */

	/*
	 * Receive buffers the device holds (popped, not used): frames are read
	 * straight into them. Without MRG_RXBUF a frame uses the first chain;
	 * with it, as many chains as it needs (5.1.6.4).
	 */
	unsigned rx_nchains, rx_niov;
	uint64_t rx_cap;
	struct vnet_rx_chain rx_chain[VNET_QUEUE_SIZE];
	struct iovec rx_iov[VNET_RX_IOV_MAX + 1];   /* + 1: room for the bounce buffer */

	/*
	 * Every read offers the bounce buffer after the held buffers, to catch a
	 * frame longer than they are. With MRG_RXBUF such a frame is kept there
	 * whole, pending (at most one), and delivered when buffers come; it is
	 * counted when delivered, not before.
	 */
	uint8_t *bounce;                 /* VNET_MAX_BUF bytes */
	uint32_t pending_len;            /* 0: none */

	struct virtq_chain chain;        /* scratch for the chain being served */
	struct iovec tx_iov[VIRTQ_MAX_SEGS + 1];

	/*
	 * Rate limiters, by queue (VNET_RXQ: rx_rate_limiter, VNET_TXQ: tx_rate_limiter). A
	 * transmitted frame is let through or left on the ring before it is sent; a received
	 * one is charged after it is read (its size is known only then), and while the
	 * receive limiter waits the tap is not read.
	 */
	struct rate_limiter rl[VNET_NUM_QUEUES];
	int rl_fd[VNET_NUM_QUEUES];      /* timerfds: the limiter lets traffic through again */
	bool rl_waiting[VNET_NUM_QUEUES];
	struct metric_dev metrics;       /* "net_<iface_id>" */

	/*
	 * MMDS (vnet_set_mmds): frames the stack claims never reach the tap; its
	 * answers go to the guest before the tap's frames. NULL: no detour.
	 */
	struct mmds_stack *mmds;
	uint8_t *mmds_buf;               /* VNET_MAX_FRAME bytes: a claimed frame, copied whole */
};

/*
 * vnet_init: a network device for @cfg (guest_mac, mtu, rate limiters) on tap @tap_fd from tap_open() (taken over, closed by
 * vnet_destroy even on failure) at @base, @irq. Offers MAC (with guest_mac),
 * MTU (with mtu), STATUS, MRG_RXBUF, and the checksum and segmentation
 * offloads the tap accepts. The tap is watched from the first activation on.
 * Returns 0 or -errno; vnet_destroy() is safe afterwards. Main thread, before
 * the event loop runs.
 */
int vnet_init(struct vnet *n, const struct net_cfg *cfg, int tap_fd, const struct kvm_vm *vm,
	      const struct guest_mem *mem, struct evloop *loop, uint64_t base, unsigned irq);

/*
 * vnet_set_limiters: PATCH /network-interfaces: the buckets @rx and @tx (either may be
 * NULL) name replace the interface's, the others keep their state. VMM thread.
 */
void vnet_set_limiters(struct vnet *n, const struct rate_limiter_cfg *rx,
		       const struct rate_limiter_cfg *tx);

/*
 * vnet_set_mmds: detour this interface's MMDS traffic (ARP for @ip, IPv4 TCP
 * to @ip; host byte order) to a stack of its own answering from @m. 0 or
 * -ENOMEM. Main thread, before the event loop runs.
 */
int vnet_set_mmds(struct vnet *n, struct mmds *m, uint32_t ip);

/* What the guest sees of a network device: the transport and the MAC it may have written. */
struct vnet_state {
	struct virtio_mmio_state t;
	uint8_t mac[6];
	uint8_t has_mac;
	uint8_t pad;
};

/* The network device's row in the device table (state: struct vnet_state). */
extern const struct dev_ops vnet_dev_ops;

/* vnet_destroy: stop watching and close the tap, free buffers; safe on a zeroed object. Main thread. */
void vnet_destroy(struct vnet *n);

/*
 * vnet_tx_hdr_ok: whether the virtio-net header @hdr (12 bytes, copied out of
 * guest memory) of a transmitted frame of @frame_len bytes (header excluded)
 * follows 5.1.6.2.1 for the negotiated @features and @mtu (0: none): a gso_type
 * only with its HOST_* feature and a non-zero gso_size, NEEDS_CSUM only with
 * VIRTIO_NET_F_CSUM and csum_start + csum_offset + 2 inside the frame, no
 * frame longer than the MTU without GSO. Pure.
 */
bool vnet_tx_hdr_ok(uint64_t features, const uint8_t hdr[VNET_HDR_SIZE], uint64_t frame_len,
		    unsigned mtu);

#endif
