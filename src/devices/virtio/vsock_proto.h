/* vsock_proto.h: the virtio-vsock wire format (virtio 1.2 section 5.10) and ember's pure vsock helpers: CONNECT line, credit, bounded byte ring. */
#ifndef EMBER_DEVICES_VIRTIO_VSOCK_PROTO_H
#define EMBER_DEVICES_VIRTIO_VSOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* 5.10.3: feature bits. ember offers stream sockets only. */
#define VIRTIO_VSOCK_F_STREAM    0
#define VIRTIO_VSOCK_F_SEQPACKET 1

/* 5.10.4: reserved CIDs; the host is CID 2. */
#define VSOCK_HOST_CID 2

/* 5.10.6: struct virtio_vsock_hdr, little endian, packed: 44 bytes. */
struct vsock_hdr {
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

#define VSOCK_HDR_SIZE 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

/* 5.10.6: type and op values. */
#define VSOCK_TYPE_STREAM    1
#define VSOCK_TYPE_SEQPACKET 2

#define VSOCK_OP_INVALID        0
#define VSOCK_OP_REQUEST        1
#define VSOCK_OP_RESPONSE       2
#define VSOCK_OP_RST            3
#define VSOCK_OP_SHUTDOWN       4
#define VSOCK_OP_RW             5
#define VSOCK_OP_CREDIT_UPDATE  6
#define VSOCK_OP_CREDIT_REQUEST 7

/* 5.10.6.7: struct virtio_vsock_event { le32 id; } on the event queue. */
#define VSOCK_EVENT_SIZE            4
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* 5.10.6.5: SHUTDOWN flags: the sender will receive / send no more data. */
#define VSOCK_SHUTDOWN_RCV  1
#define VSOCK_SHUTDOWN_SEND 2
#define VSOCK_SHUTDOWN_BOTH 3

/*
 * Largest payload ember moves in one packet either way, as Linux and
 * Firecracker (MAX_PKT_BUF_SIZE): a longer RW from the driver is malformed.
 */
#define VSOCK_MAX_PKT_PAYLOAD (64u * 1024)

/*
 * "CONNECT <port>\n" from a host program (Firecracker's vsock-over-UDS
 * protocol): at most this many bytes with the newline (Firecracker reads
 * into a 32-byte buffer).
 */
#define VSOCK_CONNECT_LINE_MAX 32

/*
 * vsock_parse_connect: look at the first @len bytes a host program sent:
 * "CONNECT" (any case), whitespace, a decimal port < 2^32, optional
 * whitespace, "\n" (spaces, tabs and "\r" count as whitespace, as
 * Firecracker's split_whitespace does). Pure.
 * Returns the length of the line including its '\n' with *port set; 0 if
 * no '\n' yet and the line may still become valid; -EINVAL if it cannot
 * (wrong word, bad number, extra words, NUL, or no '\n' within
 * VSOCK_CONNECT_LINE_MAX bytes).
 */
int vsock_parse_connect(const char *buf, size_t len, uint32_t *port);

/*
 * vsock_format_ok: "OK <port>\n" into @out (at least 16 bytes); returns the
 * length. Pure.
 */
size_t vsock_format_ok(char *out, size_t cap, uint32_t port);

/*
 * Credit (5.10.6.3). The sender may have at most buf_alloc bytes that the
 * receiver has not forwarded: peer_free = buf_alloc - (tx_cnt - fwd_cnt),
 * all counters u32 and wrapping. A receiver that shrank buf_alloc below
 * what is in flight, or a fwd_cnt ahead of tx_cnt, leaves no credit.
 */
static inline uint32_t vsock_peer_free(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt,
				       uint32_t tx_cnt)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/*
 * vsock_credit_update_due: whether ember should tell the driver its new
 * fwd_cnt unprompted: the bytes forwarded since the last announcement reach
 * a quarter of @buf_alloc, so a sender never waits on stale credit while
 * most of the buffer is free. Pure.
 */
static inline bool vsock_credit_update_due(uint32_t fwd_cnt, uint32_t last_sent, uint32_t buf_alloc)
{
	return fwd_cnt - last_sent >= buf_alloc / 4 && fwd_cnt != last_sent;
}

/*
 * A bounded FIFO of bytes (a connection's guest->host data that the host
 * socket did not take yet). Storage is allocated on first use.
 */
struct vsock_ring {
	uint8_t *buf;
	uint32_t cap;     /* fixed at init */
	uint32_t head;    /* offset of the oldest byte */
	uint32_t len;     /* bytes held */
};

/* vsock_ring_init: an empty ring of capacity @cap (nothing allocated yet). */
void vsock_ring_init(struct vsock_ring *r, uint32_t cap);

/* vsock_ring_free: release the storage; the ring is empty afterwards. */
void vsock_ring_free(struct vsock_ring *r);

/* vsock_ring_room: bytes that still fit. */
static inline uint32_t vsock_ring_room(const struct vsock_ring *r)
{
	return r->cap - r->len;
}

/*
 * vsock_ring_space: up to two iovecs of free space (the runs after the
 * newest byte) in @iov, allocating the storage on first use. Returns their
 * count (0 when full) or -ENOMEM. vsock_ring_commit(@n) then accounts for
 * @n bytes written there (n <= room).
 */
int vsock_ring_space(struct vsock_ring *r, struct iovec iov[2]);
void vsock_ring_commit(struct vsock_ring *r, uint32_t n);

/* vsock_ring_push: append @n bytes; 0, -ENOSPC (nothing appended) or -ENOMEM. */
int vsock_ring_push(struct vsock_ring *r, const void *src, uint32_t n);

/* vsock_ring_data: up to two iovecs covering the held bytes, oldest first; returns the count. */
int vsock_ring_data(const struct vsock_ring *r, struct iovec iov[2]);

/* vsock_ring_consume: drop the @n oldest bytes (n <= len). */
void vsock_ring_consume(struct vsock_ring *r, uint32_t n);

/*
 * vsock_port_next: the host port after @last in Firecracker's round-robin
 * range [2^30, 2^31) for host-initiated connections. Pure.
 */
static inline uint32_t vsock_port_next(uint32_t last)
{
	return ((last + 1) & ~(1u << 31)) | (1u << 30);
}

#endif
