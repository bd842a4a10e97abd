/* vsock.h: a virtio-vsock driver (virtio 1.2 5.10) for the test guest: stream connections, credit, and a checked data pattern. */
#ifndef GUEST_VSOCK_H
#define GUEST_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"
#include "virtio_queue.h"

/* 5.10.3 feature bits. */
#define VIRTIO_VSOCK_F_STREAM    0
#define VIRTIO_VSOCK_F_SEQPACKET 1

/* 5.10.6: struct virtio_vsock_hdr, 44 bytes, packed. */
struct vs_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VS_HDR_SIZE 44
#define VS_HOST_CID 2
#define VS_TYPE_STREAM    1
#define VS_TYPE_SEQPACKET 2

#define VS_OP_REQUEST        1
#define VS_OP_RESPONSE       2
#define VS_OP_RST            3
#define VS_OP_SHUTDOWN       4
#define VS_OP_RW             5
#define VS_OP_CREDIT_UPDATE  6
#define VS_OP_CREDIT_REQUEST 7

#define VS_SHUT_RCV  1
#define VS_SHUT_SEND 2
#define VS_SHUT_BOTH 3

/* Driver sizes. */
#define VS_QUEUE_SIZE   128
#define VS_RXBUFS       32            /* posted rx buffers */
#define VS_RXBUF_DATA   65536         /* payload room of each (the 64 KiB packet maximum) */
#define VS_TX_SLOTS     64            /* tx packets in flight (one header buffer each) */
#define VS_MAX_PKT      65536
#define VS_BUF_ALLOC    (256u * 1024) /* what the guest advertises per connection */
#define VS_MAX_CONNS    48

/*
 * The data pattern both sides know (tests/integration/vsock.sh has the
 * host's copy): a 64 KiB block whose 64-bit little-endian word k is
 * splitmix64 of k, and a stream starting at byte vs_stream_start() of the
 * block, repeating it. Byte j of the stream is block[(start + j) % 65536].
 */
#define VS_BLOCK 65536u
uint32_t vs_stream_start(uint32_t port, bool to_host);

enum vs_state {
	VS_FREE = 0,
	VS_LISTEN,      /* waiting for a REQUEST to lport */
	VS_CONNECTING,  /* REQUEST sent */
	VS_OPEN,
	VS_CLOSING,     /* SHUTDOWN(RCV|SEND) sent: waiting for the RST */
	VS_CLOSED,      /* ended cleanly (an RST after both sides shut down) */
	VS_RESET,       /* ended by an RST before the transfer was done */
	VS_REFUSED,     /* the REQUEST was answered with RST */
	VS_PROBE,       /* vsock-evil: only records what arrives for (lport, rport) */
};

/* One connection and the transfer it carries. */
struct vs_conn {
	enum vs_state state;
	uint32_t lport, rport;          /* guest port, host port */
	uint32_t test_port;             /* the port that names its streams */
	/* 5.10.6.3, our side as receiver. */
	uint32_t fwd_cnt, fwd_sent;
	/* ... and as sender. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	bool credit_asked;
	uint32_t peer_shut;             /* SHUTDOWN flags from the host */
	bool shut_sent;                 /* our SHUTDOWN(SEND) */
	/* The transfer: bytes to receive and to send, verified against the pattern. */
	uint64_t rx_want, rx_got, tx_want, tx_sent;
	uint32_t rx_start, tx_start;
	bool verify;                    /* compare received bytes with the pattern */
	bool rx_bad;                    /* a byte differed (first offset in rx_bad_at) */
	uint64_t rx_bad_at;
	bool ignore_credit;             /* vsock-evil: send regardless of the host's credit */
	uint64_t t_open, t_rx_done, t_tx_done, t_end;   /* TSC */
	const char *err;                /* protocol error seen on this connection */
	unsigned last_op;               /* VS_PROBE: last op received */
	unsigned nops;                  /* ... and how many packets */
};

struct vs_dev {
	struct virtio_dev *vd;
	uint64_t cid;
	uint64_t offered;
	struct vq rxq, txq, evq;
	int16_t rx_buf_of[VQ_MAX_SIZE];   /* rx chain head -> buffer */
	int16_t tx_slot_of[VQ_MAX_SIZE];  /* tx chain head -> header slot */
	uint16_t tx_free[VS_TX_SLOTS];
	unsigned ntx_free;
	bool tx_added, rx_added;
	struct vs_conn conns[VS_MAX_CONNS];
	uint32_t next_lport;
	/* Counters for the PASS lines. */
	unsigned rx_pkts, tx_pkts, bad_pkts, strays, requests_refused;
	const char *fatal;                /* the device failed (NEEDS_RESET, bad used id) */
};

/* Time: the TSC, calibrated against the PIT once by vs_open(). */
uint64_t vs_now(void);
uint64_t vs_us(uint64_t tsc_delta);
uint64_t vs_ticks(uint64_t us);

/*
 * Find the first vsock device (DeviceID 19) of the command line and bring it
 * up (3.1.1, 5.10.5): VERSION_1, STREAM and EVENT_IDX if offered, the three
 * queues, guest_cid, rx and event buffers posted, interrupts suppressed
 * (the driver polls). Returns NULL or what went wrong.
 */
const char *vs_open(struct vs_dev *v, const char *cmd);

/* Reset the device; the next vs_get() sets it up again. */
void vs_close(struct vs_dev *v);

/*
 * The vsock device the checks share, set up by the first call (vs_open) and
 * kept running between checks, so connections a check leaves behind in the
 * VMM stay visible to the host (no reset hides them). Counters are zeroed.
 * NULL with *err set if it cannot be set up.
 */
struct vs_dev *vs_get(const char *cmd, const char **err);

/* End of a check: reset connections still open, free every slot. */
void vs_release(struct vs_dev *v);

/* Process everything the device has used, let every connection progress, notify. */
void vs_poll(struct vs_dev *v);

/* A listening slot for lport, or NULL if the table is full. */
struct vs_conn *vs_listen(struct vs_dev *v, uint32_t lport);

/* Connect to host port rport from a fresh local port; NULL if the table or tx ring is full. */
struct vs_conn *vs_connect(struct vs_dev *v, uint32_t rport);

/* Give connection c a transfer: rx/tx byte counts, streams named by test_port. */
void vs_transfer(struct vs_conn *c, uint32_t test_port, uint64_t rx_want, uint64_t tx_want);

/* True once c needs nothing more (closed, reset, refused or failed). */
bool vs_done(const struct vs_conn *c);

/* Why c's transfer is not a clean, complete, verified one; NULL if it is. */
const char *vs_verdict(const struct vs_conn *c);

/*
 * Send one raw packet: @hdrlen header bytes (a struct vs_hdr, maybe cut
 * short) and @len bytes at @data in a second descriptor (none if 0).
 * Returns false if the tx ring is full.
 */
bool vs_send_raw(struct vs_dev *v, const void *hdr, uint32_t hdrlen, const void *data,
		 uint32_t len);

/* A header from us to the host for connection c (credit fields filled in). */
void vs_hdr_for(struct vs_dev *v, struct vs_conn *c, struct vs_hdr *h, uint16_t op);

/* The 64 KiB pattern block (filled by vs_open). */
extern const uint8_t *vs_block;

/* Number of tx packets the device has not given back yet. */
unsigned vs_tx_inflight(const struct vs_dev *v);

#endif
