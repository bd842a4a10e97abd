/* vsock_int.h: ember's vsock internals shared by vsock.c, vsock_conn.c, vsock_table.c and the unit tests. */
#ifndef EMBER_DEVICES_VIRTIO_VSOCK_INT_H
#define EMBER_DEVICES_VIRTIO_VSOCK_INT_H

#include "devices/virtio/vsock.h"

/*
 * Connection states (ember's side of 5.10.6.5). Shutdown progress is kept in
 * the flags of struct vsock_conn, not in more states.
 */
enum vsock_state {
	VSOCK_ST_HOST_LINE = 0,  /* accepted on uds_path; reading "CONNECT <port>\n" */
	VSOCK_ST_LOCAL_INIT,     /* REQUEST to the guest queued or sent; waiting for RESPONSE */
	VSOCK_ST_ESTABLISHED,    /* data flows both ways (a RESPONSE may still be queued) */
	VSOCK_ST_DEAD,           /* host socket closed; an RST is queued; freed once sent */
};

/* Control packets a connection has to send to the guest (vsock_conn.pending). */
#define VSOCK_P_REQUEST        0x01
#define VSOCK_P_RESPONSE       0x02
#define VSOCK_P_SHUTDOWN       0x04
#define VSOCK_P_CREDIT_UPDATE  0x08
#define VSOCK_P_CREDIT_REQUEST 0x10
#define VSOCK_P_RST            0x20

/* Links of one connection in one struct vsock_list. */
struct vsock_link {
	struct vsock_conn *prev, *next;
	bool on;
};

/* Which list a link belongs to (index into vsock_conn.link). */
enum vsock_lists {
	VSOCK_L_ALL = 0,   /* d->all or d->grave */
	VSOCK_L_CTRL,      /* d->ctrl */
	VSOCK_L_WAIT,      /* d->wait */
	VSOCK_L_COUNT,
};

struct vsock_conn {
	struct vsock_dev *d;
	struct vsock_link link[VSOCK_L_COUNT];
	struct vsock_conn *hnext;   /* hash chain */
	bool hashed;
	bool freed;                 /* on d->grave: memory released at the end of the callback */
	int fd;                     /* host socket, -1 once closed */
	bool registered;            /* fd is in the loop ... */
	uint32_t watch;             /* ... for these events (may be 0: only HUP/ERR) */
	enum vsock_state state;
	uint32_t host_port, guest_port;
	uint32_t pending;           /* VSOCK_P_* */

	/* Shutdown (5.10.6.5): what each side said. */
	uint32_t peer_shut;         /* flags received from the guest */
	uint32_t shut_sent;         /* flags ember has queued for the guest */
	bool host_eof;              /* a read on the host socket returned 0 */
	bool host_hup;              /* EPOLLHUP: no more data either way on the host socket */
	bool wr_shut;               /* shutdown(SHUT_WR) done after the guest's SEND */

	/* Guest -> host (ember receives): 5.10.6.3 from ember's side. */
	uint32_t fwd_cnt;           /* bytes written to the host socket */
	uint32_t last_fwd_sent;     /* fwd_cnt in the last packet to the guest */
	struct vsock_ring tx;       /* guest bytes the host socket has not taken yet */

	/* Host -> guest (ember sends): the guest's credit. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t rx_cnt;            /* bytes sent to the guest */
	bool credit_wait;           /* stopped reading the host: the guest has no room */

	uint64_t deadline_ms;       /* CLOCK_MONOTONIC; 0: none */
	uint8_t line_len;
	char line[VSOCK_CONNECT_LINE_MAX];
};

/*
 * The layers, each calling only those below it:
 *   vsock.c        the device: queues, packets in and out, the listener,
 *                  the loop callbacks (locking, reset, reaping);
 *   vsock_conn.c   one connection's state machine and host socket I/O;
 *   vsock_table.c  the connection table: lists, hash, stray RSTs, host
 *                  ports, the timer, the clock, the grave;
 *   vsock_unix.c   the host side on plain fds (vsock_unix.h), reached
 *                  through d->host.
 * The one way back up is d->host_event, the loop callback vsock.c
 * installs for connections' host sockets.
 */

/* vsock_table.c: the connection table. Lock held. */
/* vsock_now_ms: CLOCK_MONOTONIC in ms. */
uint64_t vsock_now_ms(void);
/* vsock_list_add / _del: @c onto the tail of / off @l by its @which link; no-op if so already. */
void vsock_list_add(struct vsock_list *l, struct vsock_conn *c, enum vsock_lists which);
void vsock_list_del(struct vsock_list *l, struct vsock_conn *c, enum vsock_lists which);
/* vsock_lookup: the hashed connection for (@host_port, @guest_port), or NULL. */
struct vsock_conn *vsock_lookup(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port);
/* vsock_hash_add / _del: @c into / out of the hash by its ports (del: no-op if not in it). */
void vsock_hash_add(struct vsock_conn *c);
void vsock_hash_del(struct vsock_conn *c);
/* vsock_queue_rst: an RST for a packet that matches no connection (dropped if the ring is full). */
void vsock_queue_rst(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port);
/* vsock_alloc_port: the next host port from 2^30 up that no hashed connection uses. */
uint32_t vsock_alloc_port(struct vsock_dev *d);
/* vsock_arm_timer / vsock_disarm_timer: the VSOCK_TICK_MS timer on (if not yet) / off. */
void vsock_arm_timer(struct vsock_dev *d);
void vsock_disarm_timer(struct vsock_dev *d);
/* vsock_free_grave: release what vsock_conn_free() left on d->grave; true if anything. */
bool vsock_free_grave(struct vsock_dev *d);

/* vsock_conn.c: the connection state machine. Lock held, loop thread. */
struct vsock_conn *vsock_conn_new(struct vsock_dev *d, int fd, enum vsock_state st);
void vsock_conn_free(struct vsock_conn *c);
void vsock_conn_kill(struct vsock_conn *c);
void vsock_conn_finish(struct vsock_conn *c);
void vsock_conn_queue(struct vsock_conn *c, uint32_t pending);
void vsock_conn_set_deadline(struct vsock_conn *c, uint64_t ms_from_now);
void vsock_conn_watch(struct vsock_conn *c);
bool vsock_conn_can_read(const struct vsock_conn *c);
void vsock_conn_guest_pkt(struct vsock_conn *c, const struct vsock_hdr *h,
			  const struct virtq_chain *ch);
uint32_t vsock_conn_rx_ctrl(struct vsock_conn *c, const struct virtq_chain *ch);
uint32_t vsock_conn_rx_data(struct vsock_conn *c, const struct virtq_chain *ch);
void vsock_conn_expire(struct vsock_conn *c, uint64_t now);
void vsock_peer_request(struct vsock_dev *d, const struct vsock_hdr *h);
/*
 * vsock_conn_accepted: a host program's socket @fd from the listener, now
 * waiting for its CONNECT line (refused and closed beyond VSOCK_MAX_CONNS).
 * 0, or -ENOMEM (@fd closed: stop accepting for now).
 */
int vsock_conn_accepted(struct vsock_dev *d, int fd);
/*
 * vsock_conn_on_event: readiness @events of @c's host socket (not freed).
 * The caller then flushes rx and re-watches @c if it was not freed.
 */
void vsock_conn_on_event(struct vsock_conn *c, uint32_t events);
/* vsock_purge: drop every connection without a word to the guest (device reset, destroy). */
void vsock_purge(struct vsock_dev *d);

/* vsock.c: the device. */
void vsock_rx_flush(struct vsock_dev *d);
void vsock_tx_process(struct vsock_dev *d);
void vsock_reap(struct vsock_dev *d);
/* The transport's callbacks, exposed for the unit tests. */
void vsock_queue_notify(struct virtio_mmio *t, unsigned q);
void vsock_reset(struct virtio_mmio *t);
void vsock_config_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned len);
/*
 * vsock_setup: everything but the transport: take @listen_fd, create the
 * timer and reset fds, register them with @loop. @d is zeroed apart from
 * d->t. 0 or -errno.
 */
int vsock_setup(struct vsock_dev *d, const struct vsock_cfg *cfg, int listen_fd,
		struct evloop *loop);
/* The event-loop callbacks. */
void vsock_on_listen(void *opaque, uint32_t events);
void vsock_on_timer(void *opaque, uint32_t events);
void vsock_on_reset(void *opaque, uint32_t events);

#endif
