/* mmds.h: the microVM metadata service: the data store, its version, tokens, and the guest's answers. */
#ifndef EMBER_MMDS_MMDS_H
#define EMBER_MMDS_MMDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds/http.h"
#include "mmds/store.h"
#include "mmds/token.h"

enum mmds_version { MMDS_V1 = 0, MMDS_V2 };

/* 169.254.169.254, Firecracker's default MMDS address (host byte order). */
#define MMDS_DEFAULT_IPV4 0xa9fea9feu

/*
 * One per microVM: the API thread's PUT/PATCH/GET /mmds and every MMDS
 * network stack (one per interface that serves it) share it under @lock.
 */
struct mmds {
	pthread_mutex_t lock;
	struct mmds_store store;
	struct mmds_tokens tokens;
	enum mmds_version version;
	bool imds_compat;              /* IMDS text whatever the Accept header */
};

/*
 * mmds_init: an empty V1 store bounded by @limit bytes, and the tokens' key
 * (getrandom: call it before seccomp). 0, or -EIO without random bytes.
 * mmds_destroy frees it.
 */
int mmds_init(struct mmds *m, size_t limit);
void mmds_destroy(struct mmds *m);

/* mmds_set_version: V1 or V2; a change forgets the tokens issued. Locks. */
void mmds_set_version(struct mmds *m, enum mmds_version v, bool imds_compat);

/*
 * mmds_answer: the whole HTTP response to the guest's request @rq at @now_ms
 * (the clock of the tokens), as Firecracker answers:
 *   V1: GET only (others 405, Allow: GET).
 *   V2: GET needs a valid X-metadata-token (401 without, or with a token
 *       unknown or expired); PUT /latest/api/token with
 *       X-metadata-token-ttl-seconds 1..21600 answers a new token (text/plain;
 *       400 without the header, with a bad value, or with X-Forwarded-For;
 *       PUT to any other path: 404); other methods 405, Allow: GET, PUT.
 *   GET: the value at the path (repeated '/' collapsed) as IMDS text, or as
 *       JSON when the request accepts application/json and imds_compat is off;
 *       404 for nothing there, 501 for a value IMDS text cannot show.
 * Returns a malloc()ed buffer (*@len bytes) or NULL when out of memory. Locks.
 */
char *mmds_answer(struct mmds *m, const struct mmds_http_req *rq, uint64_t now_ms, size_t *len);

/* mmds_refuse: a 400 response (malformed or oversized request) with @why; malloc()ed, or NULL. */
char *mmds_refuse(const char *why, size_t *len);

#endif
