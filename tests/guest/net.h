/* net.h: a virtio-net driver (virtio 1.2 5.1) on the virtio-mmio transport: one rx and one tx queue, polled or interrupt-driven. */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"
#include "virtio_queue.h"

/* 5.1.3 feature bits. */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define VIRTIO_NET_S_LINK_UP    1

/* 5.1.4 struct virtio_net_config offsets. */
#define NET_CFG_MAC     0
#define NET_CFG_STATUS  6
#define NET_CFG_PAIRS   8
#define NET_CFG_MTU     10

/* 5.1.6: struct virtio_net_hdr, 12 bytes with VIRTIO_F_VERSION_1. */
#define NET_HDR_LEN     12
#define NET_GSO_NONE    0
#define NET_HDR_F_NEEDS_CSUM 1
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define NET_ETH_HLEN    14
#define NET_MAX_FRAME   1518              /* Ethernet header + 1500 + VLAN tag */
#define NET_QUEUE_SIZE  64                /* asked for; the device may offer less */
#define NET_RXBUF_MAX   2048
#define NET_RXBUFS_MAX  64
/* 5.1.6.3.1: without MRG_RXBUF (and no GUEST_TSO/UFO) every buffer holds 1526 bytes at least. */
#define NET_RXBUF_MIN_PLAIN (NET_HDR_LEN + 1514)

/* net_recv() results other than 1 (a frame). */
#define NET_E_NONE    0     /* no frame */
#define NET_E_RESET   (-1)  /* DEVICE_NEEDS_RESET */
#define NET_E_QUEUE   (-2)  /* the device used something we never gave it, or a bad num_buffers */

/* How net_open() sets the device up. */
struct net_opts {
	bool mrg;               /* accept VIRTIO_NET_F_MRG_RXBUF if offered */
	bool event_idx;         /* accept VIRTIO_F_EVENT_IDX if offered */
	unsigned rxbuf;         /* bytes per receive buffer */
	unsigned nrx;           /* receive buffers posted */
	bool offload;           /* accept VIRTIO_NET_F_CSUM and GUEST_CSUM (partial checksums both ways) */
};

struct net {
	struct virtio_dev *vd;
	struct net_opts o;
	uint64_t offered;
	uint8_t mac[6];
	bool mac_from_device;   /* VIRTIO_NET_F_MAC: else the default 06:00:ac:10:00:02 */
	uint16_t mtu;           /* VIRTIO_NET_F_MTU, else 1500 */
	bool has_mtu;
	uint16_t status;        /* VIRTIO_NET_F_STATUS, else LINK_UP assumed */
	bool mrg;               /* negotiated */
	bool csum;              /* VIRTIO_NET_F_CSUM and VIRTIO_NET_F_GUEST_CSUM negotiated */
	struct vq rxq, txq;
	int16_t rx_buf_of[VQ_MAX_SIZE];  /* receive buffer index per descriptor head, -1 if none */
	/* The frame being looked at (net_recv .. net_recv_done). */
	unsigned cur_nbuf;
	int cur_buf[NET_RXBUFS_MAX];
	/* Counters. */
	unsigned rx_frames, tx_frames;
	unsigned rx_merged;     /* frames that spanned more than one buffer */
	unsigned numbuf_max;    /* largest num_buffers seen */
	unsigned numbuf_not1;   /* num_buffers != 1 without MRG_RXBUF (5.1.6.4.1 says 1) */
	unsigned rx_short;      /* used elements shorter than a header */
	unsigned rx_csum_partial;  /* frames received with NEEDS_CSUM, completed here (5.1.6.4) */
	unsigned tx_csum_partial;  /* frames sent with NEEDS_CSUM (5.1.6.2) */
	unsigned irq_waits, irq_missing;
	bool armed;             /* net_irq_arm() done, net_wait_rx() not yet */
	bool armed_late;        /* a frame was pending already when armed: no interrupt to wait for */
	unsigned irq_base;      /* vd->irq_used when armed */
};

/* The defaults: MRG_RXBUF and EVENT_IDX if offered, 64 buffers of 2048 bytes. */
void net_default_opts(struct net_opts *o);

/*
 * 3.1.1 and 5.1.5: reset, negotiate (VERSION_1, MAC, MTU, STATUS, and as
 * @o says MRG_RXBUF and EVENT_IDX; no offloads), read the configuration, set
 * up receiveq1 and transmitq1, post the receive buffers, route the interrupt,
 * DRIVER_OK. Returns NULL or what went wrong.
 */
const char *net_open(struct net *n, struct virtio_dev *d, const struct net_opts *o);

/* Mask the interrupt and reset the device. */
void net_close(struct net *n);

/*
 * Queue one frame as a chain of @nseg device-readable buffers (the first
 * starts with the 12-byte header) and notify. Completed transmissions are
 * reclaimed first. Returns the chain's head, or -1 if the queue is full.
 */
int net_xmit(struct net *n, const struct vq_seg *segs, unsigned nseg);

/* As net_xmit, without the notification: call net_kick_tx() after a batch. */
int net_queue_tx(struct net *n, const struct vq_seg *segs, unsigned nseg);
void net_kick_tx(struct net *n);

/* Take back completed transmit chains; returns how many are still in flight. */
unsigned net_tx_reclaim(struct net *n);

/*
 * The next received frame: 1 with *frame and *len (Ethernet frame, header
 * stripped, contiguous; valid until net_recv_done), or NET_E_NONE /
 * NET_E_RESET / NET_E_QUEUE. Frames spread over several buffers
 * (MRG_RXBUF) are copied together. *hdr gets the header when not NULL.
 */
int net_recv(struct net *n, const uint8_t **frame, uint32_t *len, struct net_hdr *hdr);

/* Give the buffers of the last frame back to the device and notify it if it asks. */
void net_recv_done(struct net *n);

/*
 * Ask for the next used-buffer interrupt of the receive queue and unmask it
 * (interrupts on): call before sending what the answer will come to, so
 * that an answer faster than the guest is still announced by an interrupt.
 */
void net_irq_arm(struct net *n);

/*
 * Wait up to @timeout_us for a received frame to be pending, by polling, or
 * (with @irq, or after net_irq_arm) by taking the used-buffer interrupt first
 * (counted in irq_waits / irq_missing). Returns true when one is pending;
 * false on timeout or NEEDS_RESET.
 */
bool net_wait_rx(struct net *n, uint64_t timeout_us, bool irq);

/* True when the device set DEVICE_NEEDS_RESET. */
bool net_needs_reset(struct net *n);

/* "06:00:ac:10:00:02" into out[18]. */
void net_mac_str(const uint8_t mac[6], char out[18]);

/* The n-th usable virtio-net device (DeviceID 1) among those on the command line, or NULL. */
struct virtio_dev *net_find(struct virtio_list *l, const char *cmd, unsigned n);

#endif
