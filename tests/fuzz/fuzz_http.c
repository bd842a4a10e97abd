/* fuzz_http.c: libFuzzer target: parsing at once and read by read agree; routes, errors and responses stay sane. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ops.h"
#include "route.h"
#include "vmm/api.h"

/*
 * Input: byte 0 picks max_body (bits 0-2) and a filler length (bits 3-4),
 * bytes 1..8 are the sizes of the successive reads (cycled, each 1..256
 * bytes), the rest is what the client sends. The first 0x01 byte of it, if
 * any, becomes a run of 'a' that long, so that inputs within libFuzzer's
 * default 4 KiB reach the 4 KiB request line and 8 KiB header section limits.
 */
#define FUZZ_HDR 9
#define FUZZ_MAX (1 << 16)           /* longer inputs are skipped */
#define FUZZ_RECS (FUZZ_MAX / 14 + 4) /* a request takes >= 14 bytes: "A / HTTP/1.1\n\n" */

#define FUZZ_ASSERT(c)                                                         \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: assertion failed: %s\n",      \
				__FILE__, __LINE__, #c);                       \
			abort();                                               \
		}                                                              \
	} while (0)

/* One outcome of http_parse_request(), with pointers as offsets into its buffer. */
struct fuzz_rec {
	int rc;
	enum http_method method;
	size_t method_off, method_len;
	size_t path_off, path_len;   /* path_off SIZE_MAX: the static "/" */
	size_t query_off, query_len; /* query_off SIZE_MAX: none */
	size_t body_len, header_len, need;
	int version_minor;
	bool keep_alive, expect_continue, has_content_length;
};

/*
 * Static buffers: a window copied to the end of one of them ends where the
 * array does, so ASan's redzone after it catches any read past the window.
 */
static char fuzz_grown[FUZZ_MAX + 2 * HTTP_MAX_HEADER_BYTES];
static char fuzz_win[sizeof(fuzz_grown)];
static char fuzz_esc[6 * sizeof(fuzz_grown) + 1];
static struct fuzz_rec fuzz_recs[FUZZ_RECS];
static char fuzz_msg[2][HTTP_ERROR_MSG_MAX];  /* last error: at once, read by read */

static bool fuzz_within(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* fuzz_json_ok: @s is valid JSON string contents (RFC 8259 §7), bytes >= 0x80 aside. */
static bool fuzz_json_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == '"')
			return false;
		if (c != '\\')
			continue;
		if (++i == n)
			return false;
		if (s[i] == 'u') {
			if (n - i < 5)
				return false;
			for (int k = 1; k <= 4; k++)
				if (!s[i + k] || !strchr("0123456789abcdefABCDEF", s[i + k]))
					return false;
			i += 4;
		} else if (!s[i] || !strchr("\"\\/bfnrt", s[i])) {
			return false;
		}
	}
	return true;
}

/* fuzz_escape: http_json_escape_len() agrees with itself and yields valid JSON. */
static void fuzz_escape(const char *s, size_t n)
{
	size_t need = http_json_escape_len(NULL, 0, s, n), got;
	char small[8];

	FUZZ_ASSERT(need < sizeof(fuzz_esc));
	got = http_json_escape_len(fuzz_esc, need + 1, s, n);
	FUZZ_ASSERT(got == need && strlen(fuzz_esc) == need);
	FUZZ_ASSERT(fuzz_json_ok(fuzz_esc, need));
	/* truncated output is a prefix of the full one, never a partial escape */
	got = http_json_escape_len(small, sizeof(small), s, n);
	FUZZ_ASSERT(got == need && strlen(small) < sizeof(small));
	FUZZ_ASSERT(strncmp(fuzz_esc, small, strlen(small)) == 0);
	FUZZ_ASSERT(fuzz_json_ok(small, strlen(small)));
}

/* fuzz_respond: what the server will do with a parsed request must never fail. */
static void fuzz_respond(const struct http_request *req)
{
	static char fault[ROUTE_FAULT_MAX], esc[6 * ROUTE_FAULT_MAX];
	static char json[6 * ROUTE_FAULT_MAX + 32], resp[6 * ROUTE_FAULT_MAX + 256];
	uint64_t served = api_table_served(&vmm_api_table);  /* what ember serves */
	struct route rt;
	int rc = route_match(req->method, req->path, req->path_len, req->body_len > 0, served, &rt);
	int n, j;
	size_t e;

	FUZZ_ASSERT((rc == 0) == (rt.error == ROUTE_OK));
	FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -EINVAL || rc == -ENOTSUP);
	FUZZ_ASSERT((rc == -ENOTSUP) == (rt.error == ROUTE_ERR_NOT_SUPPORTED));
	FUZZ_ASSERT((rc == -ENOENT) == (rt.error == ROUTE_ERR_METHOD_PATH));
	FUZZ_ASSERT(rt.method == req->method);
	if (rt.id) {
		FUZZ_ASSERT(fuzz_within(rt.id, rt.id_len, req->path, req->path_len));
		FUZZ_ASSERT(rt.id_len >= 1 && rt.id_len <= ROUTE_ID_MAX);
	}
	if (rc == 0) {
		FUZZ_ASSERT(route_endpoint_served(served, rt.endpoint));
		FUZZ_ASSERT(api_table_find(&vmm_api_table, rt.endpoint, rt.method));
		n = http_format_response(resp, sizeof(resp), 204, NULL, NULL, 0, req->keep_alive);
		FUZZ_ASSERT(n > 0);
		return;
	}
	FUZZ_ASSERT(fuzz_within(rt.echo, rt.echo_len, req->path, req->path_len));
	n = route_fault_message(&rt, req->method_name, req->method_len, fault, sizeof(fault));
	FUZZ_ASSERT(n > 0 && (size_t)n < sizeof(fault) && strlen(fault) == (size_t)n);
	e = http_json_escape(esc, sizeof(esc), fault);
	FUZZ_ASSERT(e < sizeof(esc) && fuzz_json_ok(esc, e));
	j = snprintf(json, sizeof(json), "{\"fault_message\": \"%s\"}", esc);
	FUZZ_ASSERT(j > 0 && (size_t)j < sizeof(json));
	n = http_format_response(resp, sizeof(resp), 400, "application/json", json,
				 (size_t)j, req->keep_alive);
	FUZZ_ASSERT(n > 0 && memcmp(resp, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
	FUZZ_ASSERT(memcmp(resp + n - j, json, (size_t)j) == 0);
}

/*
 * fuzz_parse: one call on buf[0, len), checked against the contract and
 * recorded as offsets (an error's message in fuzz_msg[!respond]); with
 * @respond, also routed, answered and escaped. The caller ends buf's storage
 * at buf + len, so ASan catches reads past len.
 */
static int fuzz_parse(const char *buf, size_t len, size_t max_body,
		      bool respond, struct fuzz_rec *rec)
{
	struct http_request req;
	struct http_error err;
	int rc;

	rc = http_parse_request(buf, len, max_body, &req, &err);
	memset(rec, 0, sizeof(*rec));
	rec->rc = rc;
	if (rc < 0) {
		FUZZ_ASSERT(rc == -EBADMSG || rc == -E2BIG || rc == -EMSGSIZE || rc == -ENOTSUP);
		FUZZ_ASSERT(err.close);
		FUZZ_ASSERT(memchr(err.msg, 0, sizeof(err.msg)) && err.msg[0]);
		memcpy(fuzz_msg[!respond], err.msg, sizeof(err.msg));
		if (respond)
			fuzz_escape(err.msg, strlen(err.msg));
		return rc;
	}
	FUZZ_ASSERT((size_t)rc <= len);
	if (rc == 0 && req.header_len == 0) {
		/* still in the header section: never more than its limit buffered */
		FUZZ_ASSERT(len < HTTP_MAX_HEADER_BYTES);
		FUZZ_ASSERT(req.need == 0 && req.method_name == NULL && req.body == NULL);
		return 0;
	}
	FUZZ_ASSERT(req.header_len > 0 && req.header_len <= HTTP_MAX_HEADER_BYTES);
	FUZZ_ASSERT(req.header_len <= len);
	FUZZ_ASSERT(req.need == req.header_len + req.body_len);
	FUZZ_ASSERT(req.body_len <= max_body);
	FUZZ_ASSERT(req.has_content_length || req.body_len == 0);
	FUZZ_ASSERT(rc == 0 ? req.need > len : (size_t)rc == req.need);
	FUZZ_ASSERT(rc > 0 ? (req.body_len ? req.body == buf + req.header_len : !req.body)
			   : !req.body);
	if (req.body)
		FUZZ_ASSERT(fuzz_within(req.body, req.body_len, buf, len));
	FUZZ_ASSERT(req.method_len >= 1 &&
		    fuzz_within(req.method_name, req.method_len, buf, req.header_len));
	FUZZ_ASSERT(req.path_len >= 1 && req.path[0] == '/');
	if (fuzz_within(req.path, req.path_len, buf, req.header_len)) {
		rec->path_off = (size_t)(req.path - buf);
	} else {
		FUZZ_ASSERT(req.path_len == 1);
		rec->path_off = SIZE_MAX;
	}
	rec->query_off = SIZE_MAX;
	if (req.query) {
		FUZZ_ASSERT(fuzz_within(req.query, req.query_len, buf, req.header_len));
		rec->query_off = (size_t)(req.query - buf);
	}
	FUZZ_ASSERT(req.version_minor == 0 || req.version_minor == 1);
	FUZZ_ASSERT(!req.expect_continue || req.version_minor == 1);
	FUZZ_ASSERT(req.method == HTTP_METHOD_OTHER || req.method == HTTP_METHOD_GET ||
		    req.method == HTTP_METHOD_PUT || req.method == HTTP_METHOD_PATCH);
	rec->method = req.method;
	rec->method_off = (size_t)(req.method_name - buf);
	rec->method_len = req.method_len;
	rec->path_len = req.path_len;
	rec->query_len = req.query_len;
	rec->body_len = req.body_len;
	rec->header_len = req.header_len;
	rec->need = req.need;
	rec->version_minor = req.version_minor;
	rec->keep_alive = req.keep_alive;
	rec->expect_continue = req.expect_continue;
	rec->has_content_length = req.has_content_length;
	if (rc > 0 && respond) {
		fuzz_respond(&req);
		if (req.body)
			fuzz_escape(req.body, req.body_len);
	}
	return rc;
}

/* The fields both a "need more" with a complete header section and the final result give. */
static bool fuzz_same_head(const struct fuzz_rec *a, const struct fuzz_rec *b)
{
	return a->method == b->method && a->method_off == b->method_off &&
	       a->method_len == b->method_len && a->path_off == b->path_off &&
	       a->path_len == b->path_len && a->query_off == b->query_off &&
	       a->query_len == b->query_len && a->body_len == b->body_len &&
	       a->header_len == b->header_len && a->need == b->need &&
	       a->version_minor == b->version_minor && a->keep_alive == b->keep_alive &&
	       a->expect_continue == b->expect_continue &&
	       a->has_content_length == b->has_content_length;
}

/* fuzz_tail: copy src[0, n) to the end of @dst (of @cap bytes); returns the copy. */
static const char *fuzz_tail(char *dst, size_t cap, const char *src, size_t n)
{
	memmove(dst + cap - n, src, n);
	return dst + cap - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bodies[8] = { 0, 1, 7, 64, 1024, 51200, 1 << 20, SIZE_MAX };
	static const size_t fillers[4] = { 0, HTTP_MAX_REQUEST_LINE - 32,
					   HTTP_MAX_HEADER_BYTES - 64, HTTP_MAX_HEADER_BYTES + 16 };
	const char *in, *mark;
	size_t n, max_body, start, avail, k = 0, nrecs = 0, seen = 0;
	struct fuzz_rec rec, pending;
	bool have_pending = false, done = false;
	int rc;

	if (size < FUZZ_HDR || size - FUZZ_HDR > FUZZ_MAX)
		return 0;
	fuzz_msg[0][0] = fuzz_msg[1][0] = '\0';
	max_body = bodies[data[0] & 7];
	in = (const char *)data + FUZZ_HDR;  /* libFuzzer's copy ends where the input does */
	n = size - FUZZ_HDR;
	mark = memchr(in, 0x01, n);
	if (mark && fillers[(data[0] >> 3) & 3]) {
		size_t fill = fillers[(data[0] >> 3) & 3], at = (size_t)(mark - in);
		char *g = fuzz_grown + sizeof(fuzz_grown) - (n - 1 + fill);

		memcpy(g, in, at);
		memset(g + at, 'a', fill);
		memcpy(g + at + fill, mark + 1, n - at - 1);
		in = g;
		n = n - 1 + fill;
	}

	/* Everything at once, as when the whole input came in one read. */
	for (start = 0;;) {
		rc = fuzz_parse(in + start, n - start, max_body, true, &rec);
		if (rc == 0)
			break;
		FUZZ_ASSERT(nrecs < FUZZ_RECS);
		fuzz_recs[nrecs++] = rec;
		if (rc < 0)
			break;
		start += (size_t)rc;
	}

	/*
	 * Read by read, parsing after each one as the server will, and comparing
	 * with the above as results come; once a header section is complete, only
	 * when req.need bytes are there (as http.h lets a server do).
	 */
	for (start = avail = 0; !done;) {
		size_t wlen = avail - start, off = 0;
		const char *win;

		if (have_pending && wlen < pending.need && avail < n)
			goto next_read;
		/* the unconsumed bytes, in storage that ends where they do */
		win = fuzz_tail(fuzz_win, sizeof(fuzz_win), in + start, wlen);
		for (;;) {
			rc = fuzz_parse(win + off, wlen - off, max_body, false, &rec);
			if (rc == 0) {
				if (rec.header_len) {
					/* a later "need more" at the same start says the same */
					FUZZ_ASSERT(!have_pending || fuzz_same_head(&pending, &rec));
					pending = rec;
					have_pending = true;
				}
				break;
			}
			/* once the header section was complete, only success can follow */
			FUZZ_ASSERT(!have_pending || (rc > 0 && fuzz_same_head(&pending, &rec)));
			have_pending = false;
			FUZZ_ASSERT(seen < nrecs);
			FUZZ_ASSERT(rec.rc == fuzz_recs[seen].rc &&
				    fuzz_same_head(&rec, &fuzz_recs[seen]));
			seen++;
			if (rc < 0) {
				FUZZ_ASSERT(strcmp(fuzz_msg[0], fuzz_msg[1]) == 0);
				done = true;
				break;
			}
			off += (size_t)rc;
		}
		start += off;
next_read:
		if (avail == n)
			break;
		avail += (size_t)data[1 + k++ % 8] + 1;
		if (avail > n)
			avail = n;
	}
	FUZZ_ASSERT(seen == nrecs);
	return 0;
}
