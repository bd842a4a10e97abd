/* vsock.h: virtio-vsock (virtio 1.2 section 5.10) bridged to host Unix sockets with Firecracker's protocol. */
#ifndef EMBER_DEVICES_VIRTIO_VSOCK_H
#define EMBER_DEVICES_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock_proto.h"
#include "devices/virtio/vsock_unix.h"   /* vsock_listen() */

#define VIRTIO_ID_VSOCK      19
#define VSOCK_QUEUE_SIZE     256
#define VSOCK_RXQ            0   /* 5.10.2: device -> driver packets */
#define VSOCK_TXQ            1   /* driver -> device packets */
#define VSOCK_EVQ            2   /* events: TRANSPORT_RESET (vsock_transport_reset) */
#define VSOCK_NQUEUES        3

/* Connections of every kind at once, as Firecracker's MAX_CONNECTIONS. */
#define VSOCK_MAX_CONNS      1023

/*
 * buf_alloc ember advertises per connection (5.10.6.3): the most guest data
 * it holds for a host socket that is not reading. The buffer behind it is
 * allocated only when the host socket falls behind.
 */
#define VSOCK_BUF_ALLOC      (256u * 1024)

/* Timeouts (ms): the CONNECT line, the guest's answer to a REQUEST, a clean shutdown. */
#define VSOCK_LINE_TIMEOUT_MS     5000
#define VSOCK_REQUEST_TIMEOUT_MS  2000
#define VSOCK_SHUTDOWN_TIMEOUT_MS 2000
#define VSOCK_TICK_MS             100

#define VSOCK_HASH_BUCKETS   2048   /* power of 2 */
#define VSOCK_RST_RING       256    /* RSTs for packets that match no connection */

struct vsock_conn;

/* An intrusive FIFO of connections (see vsock_int.h). */
struct vsock_list {
	struct vsock_conn *head, *tail;
};

struct vsock_dev {
	struct virtio_mmio t;            /* first: the transport's dev points back here */
	char name[16];
	uint64_t guest_cid;
	char uds_path[CFG_UDS_PATH_MAX];
	bool inited;                     /* fds below are meaningful */
	int listen_fd;                   /* bound to uds_path by vsock_listen(), taken over */
	int timer_fd;                    /* connection timeouts */
	int reset_fd;                    /* vCPU thread -> loop: the driver reset the device */
	bool listen_watched;             /* listen_fd is in the loop (paused on EMFILE) */
	bool timer_armed;
	bool reset_pending;              /* set under the lock on a vCPU thread */
	struct evloop *loop;
	const struct vsock_host_ops *host;   /* the host side: vsock_unix_ops */
	evloop_fn host_event;            /* loop callback for a connection's host socket (vsock.c) */

	unsigned nconns;                 /* every connection, VSOCK_MAX_CONNS at most */
	uint32_t last_host_port;         /* host ports for host-initiated connections */
	struct vsock_list all;           /* every live connection */
	struct vsock_list ctrl;          /* connections with a control packet to send */
	struct vsock_list wait;          /* readable host sockets waiting for guest rx buffers */
	struct vsock_list grave;         /* finished connections, freed at the end of the callback */
	struct vsock_conn *hash[VSOCK_HASH_BUCKETS];   /* by (host port, guest port) */
	struct {
		uint32_t host_port, guest_port;
	} rst[VSOCK_RST_RING];
	unsigned rst_head, rst_len;

	struct virtq_chain rx_chain;     /* scratch: the rx buffer being filled */
	struct virtq_chain tx_chain;     /* scratch: the tx packet being read */
};

/*
 * What the guest sees of the vsock device: the transport and its CID.
 * Connections are not kept: a restored guest sees them reset, as with
 * Firecracker's snapshots.
 */
struct vsock_dev_state {
	struct virtio_mmio_state t;
	uint64_t guest_cid;
};

/* The vsock device's row in the device table (state: struct vsock_dev_state). */
extern const struct dev_ops vsock_dev_ops;

/*
 * vsock_init: the vsock device for @cfg (guest_cid, uds_path) at @base with
 * interrupt @irq, taking over @listen_fd from vsock_listen() in
 * vsock_unix.h (closed by vsock_destroy(), also on failure). Registers the
 * listener, a timer and the transport's notifications with @loop. Raises
 * the soft RLIMIT_NOFILE towards the hard limit (up to 4096) so that
 * VSOCK_MAX_CONNS host sockets fit. Returns 0 or -errno; vsock_destroy()
 * is safe afterwards either way. Loop thread (or before the loop runs),
 * before the vCPUs start.
 */
int vsock_init(struct vsock_dev *d, const struct vsock_cfg *cfg, int listen_fd,
	       const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	       uint64_t base, unsigned irq);

/*
 * vsock_transport_reset: tell the driver its transport was reset (virtio 1.2
 * section 5.10.6.7), as Firecracker does for a snapshot, so the guest closes
 * its connections (listeners survive), in the original and in every copy
 * restored. Under the transport lock, when the device is active and its
 * event queue ready and not broken, takes one event buffer from queue 2,
 * writes the 4-byte little-endian id VSOCK_EVENT_TRANSPORT_RESET into it,
 * returns it used with length 4 and signals the driver. Buffers with fewer
 * than 4 writable bytes are given back used with length 0 (counted in
 * vsock.ev_queue_event_fails) and the next one is tried. Then every
 * host-side connection is dropped as a device reset drops them: host sockets
 * closed, no RST queued for the guest (the event told it), stray RSTs
 * forgotten; the listener keeps accepting. Returns 0 when the event went
 * out; -ENOSPC when the driver had no usable event buffer (the queue empty,
 * not ready or broken, or a chain that breaks the rules, which fails the
 * device as on the other queues; connections are purged all the same, the
 * caller logs it); -EINVAL when the device is not active (nothing touched).
 * Event-loop thread, the VM running or paused (as for a snapshot).
 */
int vsock_transport_reset(struct vsock_dev *d);

/*
 * vsock_destroy: close every connection's host socket (no packets are sent:
 * the guest is going away), the listener and the device's fds. No file is
 * removed: the socket file at uds_path stays, as Firecracker leaves it (the
 * next vsock_listen() replaces it once nobody listens there), and
 * "<uds_path>_<port>" files belong to host programs. Unlinking nothing also
 * keeps unlink() out of the event-loop thread's seccomp allowlist. Safe on a
 * zeroed or half-initialised device. Main or loop thread, with the vCPUs
 * and the loop stopped.
 */
void vsock_destroy(struct vsock_dev *d);

#endif
