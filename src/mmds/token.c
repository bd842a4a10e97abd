/* token.c: MMDS V2 session tokens. */
#include "mmds/token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define ROTL(v, n) ((uint32_t)((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                  \
	do {                                                            \
		a += b; d ^= a; d = ROTL(d, 16);                        \
		c += d; b ^= c; b = ROTL(b, 12);                        \
		a += b; d ^= a; d = ROTL(d, 8);                         \
		c += d; b ^= c; b = ROTL(b, 7);                         \
	} while (0)

/* chacha20_block: RFC 8439 section 2.3, nonce 0, the 64-bit block counter @ctr. */
static void chacha20_block(const uint32_t key[8], uint64_t ctr, uint8_t out[64])
{
	uint32_t in[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 }, x[16];

	memcpy(in + 4, key, 32);
	in[12] = (uint32_t)ctr;
	in[13] = (uint32_t)(ctr >> 32);
	in[14] = in[15] = 0;
	memcpy(x, in, sizeof(x));
	for (int i = 0; i < 10; i++) {
		QR(x[0], x[4], x[8], x[12]);
		QR(x[1], x[5], x[9], x[13]);
		QR(x[2], x[6], x[10], x[14]);
		QR(x[3], x[7], x[11], x[15]);
		QR(x[0], x[5], x[10], x[15]);
		QR(x[1], x[6], x[11], x[12]);
		QR(x[2], x[7], x[8], x[13]);
		QR(x[3], x[4], x[9], x[14]);
	}
	for (int i = 0; i < 16; i++) {
		uint32_t v = x[i] + in[i];

		out[4 * i] = (uint8_t)v;
		out[4 * i + 1] = (uint8_t)(v >> 8);
		out[4 * i + 2] = (uint8_t)(v >> 16);
		out[4 * i + 3] = (uint8_t)(v >> 24);
	}
}

int mmds_tokens_init(struct mmds_tokens *tt)
{
	uint8_t *k = (uint8_t *)tt->key;
	size_t got = 0;

	memset(tt, 0, sizeof(*tt));
	while (got < sizeof(tt->key)) {
		ssize_t r = getrandom(k + got, sizeof(tt->key) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

int mmds_token_new(struct mmds_tokens *tt, uint64_t ttl, uint64_t now_ms,
		   char out[MMDS_TOKEN_LEN + 1], struct err *e)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[64];
	struct mmds_token *slot = &tt->t[0];

	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return err_set(e, -EINVAL,
			       "Invalid time to live value provided for token: %llu. Please provide a value between %d and %d.",
			       (unsigned long long)ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
	chacha20_block(tt->key, tt->counter++, rnd);
	/* A free or expired slot, else the one that expires first. */
	for (unsigned i = 0; i < MMDS_TOKEN_SLOTS; i++) {
		struct mmds_token *t = &tt->t[i];

		if (t->expires_ms <= now_ms) {
			slot = t;
			break;
		}
		if (t->expires_ms < slot->expires_ms)
			slot = t;
	}
	for (unsigned i = 0; i < MMDS_TOKEN_BYTES; i++) {
		slot->text[2 * i] = hex[rnd[i] >> 4];
		slot->text[2 * i + 1] = hex[rnd[i] & 15];
	}
	slot->text[MMDS_TOKEN_LEN] = '\0';
	slot->expires_ms = now_ms + ttl * 1000;
	memcpy(out, slot->text, MMDS_TOKEN_LEN + 1);
	return 0;
}

bool mmds_token_valid(const struct mmds_tokens *tt, const char *tok, size_t len, uint64_t now_ms)
{
	bool ok = false;

	if (len != MMDS_TOKEN_LEN)
		return false;
	/* Every slot compared in full: the time taken says nothing of the match. */
	for (unsigned i = 0; i < MMDS_TOKEN_SLOTS; i++) {
		const struct mmds_token *t = &tt->t[i];
		unsigned char diff = 0;

		for (size_t k = 0; k < MMDS_TOKEN_LEN; k++)
			diff |= (unsigned char)(t->text[k] ^ tok[k]);
		ok |= diff == 0 && t->expires_ms > now_ms;
	}
	return ok;
}

void mmds_tokens_clear(struct mmds_tokens *tt)
{
	memset(tt->t, 0, sizeof(tt->t));
}
