/* mmds.c: the metadata service's answers to the guest's requests. */
#include "mmds/mmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MMDS_TOKEN_PATH "/latest/api/token"
#define MMDS_HEAD_ROOM  512   /* status line and headers */

int mmds_init(struct mmds *m, size_t limit)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	mmds_store_init(&m->store, limit);
	return mmds_tokens_init(&m->tokens);
}

void mmds_destroy(struct mmds *m)
{
	mmds_store_free(&m->store);
	pthread_mutex_destroy(&m->lock);
}

void mmds_set_version(struct mmds *m, enum mmds_version v, bool imds_compat)
{
	pthread_mutex_lock(&m->lock);
	if (m->version != v)
		mmds_tokens_clear(&m->tokens);
	m->version = v;
	m->imds_compat = imds_compat;
	pthread_mutex_unlock(&m->lock);
}

/* mmds_reply: a response with a text body into a new buffer. */
static char *mmds_reply(int status, bool keep, const char *ctype, const char *allow,
			const char *body, size_t blen, size_t *len)
{
	size_t cap = MMDS_HEAD_ROOM + blen;
	char *out = malloc(cap);
	int n;

	if (!out)
		return NULL;
	n = mmds_http_response(out, cap, status, keep, ctype, allow, body, blen);
	if (n < 0) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

static char *mmds_text(int status, bool keep, const char *allow, const char *msg, size_t *len)
{
	return mmds_reply(status, keep, "text/plain", allow, msg, strlen(msg), len);
}

char *mmds_refuse(const char *why, size_t *len)
{
	return mmds_text(400, false, NULL, why, len);
}

/* mmds_squash: @path with runs of '/' made one, into @out (at least @n bytes). */
static size_t mmds_squash(const char *path, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		if (path[i] != '/' || o == 0 || out[o - 1] != '/')
			out[o++] = path[i];
	return o;
}

static char *mmds_get(struct mmds *m, const struct mmds_http_req *rq, const char *path,
		      size_t plen, size_t *len)
{
	enum mmds_format fmt = rq->accept_json && !m->imds_compat ? MMDS_FMT_JSON : MMDS_FMT_IMDS;
	size_t cap = m->store.size + 16;
	char *body = malloc(cap), *out;
	int n;

	if (!body)
		return NULL;
	n = mmds_store_get(&m->store, path, plen, fmt, body, cap);
	if (n == -ENOENT) {
		char msg[MMDS_HTTP_PATH_MAX + 32];

		snprintf(msg, sizeof(msg), "Resource not found: %.*s.", (int)rq->path_len, rq->path);
		out = mmds_text(404, rq->keep_alive, NULL, msg, len);
	} else if (n == -ENOTSUP) {
		out = mmds_text(501, rq->keep_alive, NULL,
				"Cannot retrieve value. The value has an unsupported type.", len);
	} else if (n < 0) {
		out = mmds_text(500, rq->keep_alive, NULL, "Cannot retrieve value.", len);
	} else {
		out = mmds_reply(200, rq->keep_alive,
				 fmt == MMDS_FMT_JSON ? "application/json" : "text/plain", NULL,
				 body, (size_t)n, len);
	}
	free(body);
	return out;
}

/* mmds_ttl: X-metadata-token-ttl-seconds as a number; false when it is not one. */
static bool mmds_ttl(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static char *mmds_put_token(struct mmds *m, const struct mmds_http_req *rq, const char *path,
			    size_t plen, uint64_t now_ms, size_t *len)
{
	char tok[MMDS_TOKEN_LEN + 1], msg[160];
	struct err e;
	uint64_t ttl;

	if (rq->forwarded)
		return mmds_text(400, rq->keep_alive, NULL,
				 "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For",
				 len);
	if (plen != strlen(MMDS_TOKEN_PATH) || memcmp(path, MMDS_TOKEN_PATH, plen) != 0) {
		snprintf(msg, sizeof(msg), "Resource not found: %.*s.", (int)(rq->path_len > 100 ? 100 : rq->path_len),
			 rq->path);
		return mmds_text(404, rq->keep_alive, NULL, msg, len);
	}
	if (!rq->ttl)
		return mmds_text(400, rq->keep_alive, NULL,
				 "Token time to live value not found. Use `X-metadata-token-ttl-seconds` header to specify the token's lifetime.",
				 len);
	if (!mmds_ttl(rq->ttl, rq->ttl_len, &ttl)) {
		snprintf(msg, sizeof(msg),
			 "Invalid header. Reason: Invalid value. Key:X-metadata-token-ttl-seconds; Value:%.*s",
			 (int)(rq->ttl_len > 40 ? 40 : rq->ttl_len), rq->ttl);
		return mmds_text(400, rq->keep_alive, NULL, msg, len);
	}
	if (mmds_token_new(&m->tokens, ttl, now_ms, tok, &e))
		return mmds_text(400, rq->keep_alive, NULL, e.msg, len);
	return mmds_text(200, rq->keep_alive, NULL, tok, len);
}

char *mmds_answer(struct mmds *m, const struct mmds_http_req *rq, uint64_t now_ms, size_t *len)
{
	char path[MMDS_HTTP_PATH_MAX];
	size_t plen;
	char *out;

	if (rq->path_len == 0 || rq->path_len > sizeof(path))
		return mmds_text(400, rq->keep_alive, NULL, "Invalid URI.", len);
	plen = mmds_squash(rq->path, rq->path_len, path);
	pthread_mutex_lock(&m->lock);
	if (m->version == MMDS_V1) {
		if (rq->method == MMDS_GET)
			out = mmds_get(m, rq, path, plen, len);
		else
			out = mmds_text(405, rq->keep_alive, "GET", "Not allowed HTTP method.", len);
	} else if (rq->method == MMDS_GET) {
		if (!rq->token)
			out = mmds_text(401, rq->keep_alive, NULL,
					"No MMDS token provided. Use `X-metadata-token` header to specify the session token.",
					len);
		else if (!mmds_token_valid(&m->tokens, rq->token, rq->token_len, now_ms))
			out = mmds_text(401, rq->keep_alive, NULL, "MMDS token not valid.", len);
		else
			out = mmds_get(m, rq, path, plen, len);
	} else if (rq->method == MMDS_PUT) {
		out = mmds_put_token(m, rq, path, plen, now_ms, len);
	} else {
		out = mmds_text(405, rq->keep_alive, "GET, PUT", "Not allowed HTTP method.", len);
	}
	pthread_mutex_unlock(&m->lock);
	return out;
}
