/* stack.h: the MMDS network stack: ARP, IPv4 and TCP to port 80, just enough for HTTP/1.1 from a guest. */
#ifndef EMBER_MMDS_STACK_H
#define EMBER_MMDS_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds/mmds.h"

#define MMDS_MAC_INIT     { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 }   /* Firecracker's MMDS MAC */
#define MMDS_PORT         80
#define MMDS_CONNS        30      /* connections at once; a new one evicts the least recently used */
#define MMDS_OUTQ         64      /* frames waiting for the guest's receive queue */
#define MMDS_FRAME_MAX    1514    /* Ethernet header and a 1500-byte IPv4 packet */
#define MMDS_MSS          1460    /* what the SYN-ACK announces and the most a segment carries */
#define MMDS_PEEK         42      /* bytes mmds_stack_wants() looks at: Ethernet and ARP (IPv4 needs 34) */

/* What the stack counts (Firecracker's "mmds" metrics). */
struct mmds_stack_stats {
	uint64_t rx_accepted, rx_accepted_err, rx_accepted_unusual, rx_bad_eth, rx_count;
	uint64_t tx_bytes, tx_count, tx_errors, tx_frames;
	uint64_t connections_created, connections_destroyed;
};

struct mmds_conn;

/*
 * One per network interface that serves MMDS; the interface's device lock
 * serialises calls (the shared struct mmds has its own lock).
 */
struct mmds_stack {
	struct mmds *mmds;
	uint32_t ip;                        /* host byte order */
	uint8_t mac[6];
	uint64_t (*now_ms)(void);           /* token and eviction clock */
	uint32_t next_iss;                  /* initial sequence numbers, spread out */
	uint16_t ip_id;
	struct mmds_conn *conns;            /* MMDS_CONNS */
	uint8_t (*outq)[MMDS_FRAME_MAX];    /* MMDS_OUTQ frames, a ring */
	uint16_t outq_len[MMDS_OUTQ];
	unsigned out_head, out_count;
	struct mmds_stack_stats stats;
};

/*
 * mmds_stack_init: a stack answering for @ip (host byte order) from @m, with
 * @now_ms as its clock. 0 or -ENOMEM; mmds_stack_destroy() is safe after either.
 */
int mmds_stack_init(struct mmds_stack *s, struct mmds *m, uint32_t ip, uint64_t (*now_ms)(void));
void mmds_stack_destroy(struct mmds_stack *s);

/*
 * mmds_stack_wants: whether a guest frame starting with @head (@len bytes of
 * it, MMDS_PEEK are enough) is for MMDS: an ARP request whose target is the
 * MMDS address, or an IPv4 TCP packet to it. Pure.
 */
bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *head, size_t len);

/*
 * mmds_stack_input: take the guest's Ethernet frame @f (@len bytes, no
 * virtio-net header) if it is for MMDS (true: it must not reach the tap);
 * answers go to the output queue. Every length and offset in @f is checked.
 */
bool mmds_stack_input(struct mmds_stack *s, const uint8_t *f, size_t len);

/* mmds_stack_pending: frames waiting for the guest. */
static inline unsigned mmds_stack_pending(const struct mmds_stack *s)
{
	return s->out_count;
}

/*
 * mmds_stack_pop: the oldest waiting frame into @buf (@cap bytes, at least
 * MMDS_FRAME_MAX); its length, 0 when none. The room it leaves lets
 * connections send more of their answers.
 */
size_t mmds_stack_pop(struct mmds_stack *s, uint8_t *buf, size_t cap);

#endif
