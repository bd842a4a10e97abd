/* fuzz_mmds.c: libFuzzer target: a hostile guest's frames to the MMDS network stack. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"
#include "mmds/stack.h"

/*
 * Input:
 *   byte 0   bit 0 V2, bit 1 imds_compat
 *   then operations, an opcode byte (bits 0-1 the kind, bits 2-7 its flags):
 *     0 raw frame  u16 length, then that many bytes (as many as there are)
 *     1 segment    u8 port (of 4), u8 TCP flags, u16 payload length, payload;
 *                  flag bit 2: sequence and acknowledgment numbers as the
 *                  connection expects them (else u32 seq, u32 ack follow),
 *                  bit 3: Linux's SYN options, bit 4: a fragment
 *     2 take       u8 count: frames taken from the queue
 *     3 clock      u16 seconds on
 * Whatever comes in: no crash, no leak; nothing is taken that is not ARP for
 * the MMDS address or IPv4 TCP to it; every frame out is whole, at most
 * MMDS_FRAME_MAX bytes, addressed from the MMDS MAC, with a correct IPv4
 * header checksum; the queue never holds more than MMDS_OUTQ frames.
 */
#define MMDS_IP  0xa9fea9feu
#define GUEST_IP 0xa9fe0002u

static uint64_t now_ms;
static uint64_t fz_now(void)
{
	return now_ms;
}

struct cursor {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct cursor *c, unsigned bytes)
{
	unsigned v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		v <<= 8;
		if (c->n) {
			v |= *c->p++;
			c->n--;
		}
	}
	return v;
}

static void w16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void w32(uint8_t *p, uint32_t v) { w16(p, v >> 16); w16(p + 2, v & 0xffff); }
static unsigned r16(const uint8_t *p) { return (unsigned)(p[0] << 8 | p[1]); }
static uint32_t r32(const uint8_t *p) { return (uint32_t)r16(p) << 16 | r16(p + 2); }

/* What the guest knows of each of its connections: the stack's next sequence number. */
static uint32_t peer_next[4], my_next[4];

static void check_out(struct mmds_stack *s, unsigned count)
{
	static const uint8_t mac[6] = MMDS_MAC_INIT;
	uint8_t f[MMDS_FRAME_MAX];

	for (unsigned i = 0; i < count && mmds_stack_pending(s); i++) {
		size_t n = mmds_stack_pop(s, f, sizeof(f));
		uint32_t sum = 0;

		if (n < 14 || memcmp(f + 6, mac, 6) != 0)
			abort();
		if (r16(f + 12) != 0x0800)
			continue;
		if (n < 54 || r16(f + 16) != n - 14)
			abort();
		for (unsigned k = 0; k < 20; k += 2)
			sum += r16(f + 14 + k);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		if (sum != 0xffff)
			abort();
		/* The guest learns where the stack's stream is. */
		for (unsigned p = 0; p < 4; p++) {
			const uint8_t *t = f + 34;

			if (r16(t + 2) == 40000 + p) {
				uint32_t len = (uint32_t)(n - 34 - (size_t)(t[12] >> 4) * 4);

				peer_next[p] = r32(t + 4) + len + !!(t[13] & 2) + !!(t[13] & 1);
			}
		}
	}
	if (mmds_stack_pending(s) > MMDS_OUTQ)
		abort();
}

static void segment(struct mmds_stack *s, struct cursor *c, unsigned flags)
{
	static const uint8_t opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
					  0, 0, 0, 0, 1, 3, 3, 7 };
	uint8_t f[14 + 20 + 60 + 2048];
	unsigned port = take(c, 1) & 3, tflags = take(c, 1), len = take(c, 2) % 2048;
	size_t opt = flags & 2 ? 20 : 0;
	uint32_t seq, ack;
	uint8_t *ip = f + 14, *t = ip + 20;

	if (flags & 1) {
		seq = my_next[port];
		ack = peer_next[port];
	} else {
		seq = take(c, 4);
		ack = take(c, 4);
	}
	if (len > c->n)
		len = (unsigned)c->n;
	memset(f, 0, sizeof(f));
	memcpy(f, (const uint8_t[6])MMDS_MAC_INIT, 6);
	f[6] = 2;
	w16(f + 12, 0x0800);
	ip[0] = 0x45;
	w16(ip + 2, 40 + (unsigned)opt + len);
	w16(ip + 6, flags & 4 ? 0x2000 : 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	w32(ip + 12, GUEST_IP);
	w32(ip + 16, MMDS_IP);
	w16(t, 40000 + port);
	w16(t + 2, 80);
	w32(t + 4, seq);
	w32(t + 8, ack);
	t[12] = (uint8_t)((20 + opt) / 4 << 4);
	t[13] = (uint8_t)tflags;
	w16(t + 14, 64240);
	memcpy(t + 20, opts, opt);
	memcpy(t + 20 + opt, c->p, len);
	c->p += len;
	c->n -= len;
	if (!mmds_stack_input(s, f, 54 + opt + len))
		abort();
	my_next[port] = seq + len + !!(tflags & 2) + !!(tflags & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char store[] =
		"{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"n\":[1,\"x\"]},"
		"\"user-data\":\"hello\"},\"big\":\"0123456789012345678901234567890123456789"
		"0123456789012345678901234567890123456789\"}";
	struct cursor c = { data, size };
	struct mmds m;
	struct mmds_stack s;
	struct err e;
	unsigned cfg = take(&c, 1);
	int ops = 0;

	now_ms = 1000;
	memset(peer_next, 0, sizeof(peer_next));
	memset(my_next, 0, sizeof(my_next));
	if (mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT))
		abort();
	mmds_set_version(&m, cfg & 1 ? MMDS_V2 : MMDS_V1, cfg & 2);
	if (mmds_store_put(&m.store, store, strlen(store), &e))
		abort();
	if (mmds_stack_init(&s, &m, MMDS_IP, fz_now))
		abort();
	while (c.n && ops++ < 512) {
		unsigned op = take(&c, 1);

		switch (op & 3) {
		case 0: {
			uint8_t f[4096];
			unsigned len = take(&c, 2) % sizeof(f);
			bool want;

			if (len > c.n)
				len = (unsigned)c.n;
			memcpy(f, c.p, len);
			c.p += len;
			c.n -= len;
			want = mmds_stack_wants(&s, f, len);
			if (mmds_stack_input(&s, f, len) != want)
				abort();
			break;
		}
		case 1:
			segment(&s, &c, op >> 2);
			break;
		case 2:
			check_out(&s, take(&c, 1));
			break;
		case 3:
			now_ms += (uint64_t)take(&c, 2) * 1000;
			break;
		}
	}
	check_out(&s, MMDS_OUTQ);
	mmds_stack_destroy(&s);
	mmds_destroy(&m);
	return 0;
}
