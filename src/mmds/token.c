/* token.c: MMDS V2 session tokens. */
#include "mmds/token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int mmds_token_new(struct mmds_tokens *tt, uint64_t ttl, uint64_t now_ms,
		   char out[MMDS_TOKEN_LEN + 1], struct err *e)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[MMDS_TOKEN_BYTES];
	struct mmds_token *slot = &tt->t[0];
	size_t got = 0;

	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return err_set(e, -EINVAL,
			       "Invalid time to live value provided for token: %llu. Please provide a value between %d and %d.",
			       (unsigned long long)ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
	while (got < sizeof(rnd)) {
		ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return err_set(e, -EIO, "Cannot generate an MMDS token.");
		got += (size_t)r;
	}
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
	memset(tt, 0, sizeof(*tt));
}
