/* token.h: MMDS V2 session tokens: random, with a time to live, in a bounded table. */
#ifndef EMBER_MMDS_TOKEN_H
#define EMBER_MMDS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MMDS_TOKEN_TTL_MIN   1
#define MMDS_TOKEN_TTL_MAX   21600          /* six hours, as Firecracker and EC2 */
#define MMDS_TOKEN_BYTES     32             /* random bytes per token */
#define MMDS_TOKEN_LEN       (2 * MMDS_TOKEN_BYTES)   /* as hex text */
#define MMDS_TOKEN_SLOTS     128            /* live tokens kept; the oldest to expire goes first */

struct mmds_token {
	char text[MMDS_TOKEN_LEN + 1];
	uint64_t expires_ms;                   /* 0: free slot */
};

/*
 * Tokens are ChaCha20 keystream blocks under a key drawn once from getrandom
 * (mmds_tokens_init, before seccomp): issuing one makes no system call, on
 * whichever thread the guest's request is served.
 */
struct mmds_tokens {
	struct mmds_token t[MMDS_TOKEN_SLOTS];
	uint32_t key[8];
	uint64_t counter;
};

/* mmds_tokens_init: no tokens, a fresh random key. 0, or -EIO when getrandom fails. */
int mmds_tokens_init(struct mmds_tokens *tt);

/*
 * mmds_token_new: a fresh token valid for @ttl seconds from @now_ms (any
 * monotonic millisecond clock, the same for every call) into @out (NUL-ended).
 * 0, or -EINVAL for a ttl outside 1..21600 (Firecracker's message in @e).
 * With the table full, the token closest to expiry is forgotten.
 */
int mmds_token_new(struct mmds_tokens *tt, uint64_t ttl, uint64_t now_ms,
		   char out[MMDS_TOKEN_LEN + 1], struct err *e);

/* mmds_token_valid: whether @tok (@len bytes) was issued and has not expired at @now_ms. */
bool mmds_token_valid(const struct mmds_tokens *tt, const char *tok, size_t len, uint64_t now_ms);

/* mmds_tokens_clear: forget every token issued (version changes); the key stays. */
void mmds_tokens_clear(struct mmds_tokens *tt);

#endif
