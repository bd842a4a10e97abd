/* test_mmds.c: unit tests of src/mmds/: the store, tokens, the guest's HTTP, the network stack. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "mmds/mmds.h"
#include "mmds/stack.h"

static struct err err;

/* ---- the store ---- */

static int put(struct mmds_store *s, const char *j)
{
	return mmds_store_put(s, j, strlen(j), &err);
}

static int patch(struct mmds_store *s, const char *j)
{
	return mmds_store_patch(s, j, strlen(j), &err);
}

static char out[8192];

static const char *whole(const struct mmds_store *s)
{
	if (mmds_store_json(s, out, sizeof(out)) < 0)
		return "(too long)";
	return out;
}

/* get: the value at @path as @fmt, "" plus the error code in *@rc. */
static const char *get(const struct mmds_store *s, const char *path, enum mmds_format fmt, int *rc)
{
	int n = mmds_store_get(s, path, strlen(path), fmt, out, sizeof(out) - 1);

	*rc = n < 0 ? n : 0;
	out[n < 0 ? 0 : n] = '\0';
	return out;
}

static void test_store_put_patch(void)
{
	struct mmds_store s;

	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	CHECK_STR(whole(&s), "{}");
	CHECK_EQ_I(patch(&s, "{\"a\":1}"), -EPERM);
	CHECK_STR(err.msg, "The MMDS data store is not initialized.");
	CHECK_EQ_I(put(&s, "{\"b\":{\"y\":\"2\",\"x\":[1,true,null]},\"a\":\"1\"}"), 0);
	/* Keys come out sorted, numbers as written, compact. */
	CHECK_STR(whole(&s), "{\"a\":\"1\",\"b\":{\"x\":[1,true,null],\"y\":\"2\"}}");
	CHECK_EQ_U(s.size, strlen(out));
	/* RFC 7396: null removes, objects merge, anything else replaces. */
	CHECK_EQ_I(patch(&s, "{\"a\":null,\"b\":{\"x\":{\"k\":null,\"j\":0},\"z\":\"\\n\"},\"c\":[]}"), 0);
	CHECK_STR(whole(&s), "{\"b\":{\"x\":{\"j\":0},\"y\":\"2\",\"z\":\"\\n\"},\"c\":[]}");
	CHECK_EQ_I(patch(&s, "{\"b\":\"flat\"}"), 0);
	CHECK_STR(whole(&s), "{\"b\":\"flat\",\"c\":[]}");
	CHECK_EQ_I(patch(&s, "{\"missing\":null}"), 0);
	CHECK_STR(whole(&s), "{\"b\":\"flat\",\"c\":[]}");
	/* Bad bodies change nothing. */
	CHECK_EQ_I(patch(&s, "{\"b\":"), -EINVAL);
	CHECK_EQ_I(put(&s, "[1]"), -EINVAL);
	CHECK_EQ_I(put(&s, "{\"a\":1,}"), -EINVAL);
	CHECK_STR(whole(&s), "{\"b\":\"flat\",\"c\":[]}");
	/* A key given twice: the last counts; escapes are decoded and re-escaped. */
	CHECK_EQ_I(put(&s, "{\"k\":1,\"k\":2,\"\\u0041\":\"q\\\"\"}"), 0);
	CHECK_STR(whole(&s), "{\"A\":\"q\\\"\",\"k\":2}");
	/* PUT replaces the whole store. */
	CHECK_EQ_I(put(&s, "{}"), 0);
	CHECK_STR(whole(&s), "{}");
	mmds_store_free(&s);
}

static void test_store_limit(void)
{
	struct mmds_store s;
	char big[128];

	mmds_store_init(&s, 20);
	CHECK_EQ_I(put(&s, "{\"a\":\"0123456789\"}"), 0);       /* 18 bytes */
	CHECK_EQ_I(put(&s, "{\"a\":\"01234567890\"}"), 0);      /* 19 */
	CHECK_EQ_I(put(&s, "{\"a\":\"0123456789012\"}"), -EFBIG); /* 21 */
	CHECK_STR(err.msg, "The MMDS patch request doesn't fit.");
	CHECK_STR(whole(&s), "{\"a\":\"01234567890\"}");
	/* The limit holds for the result of a patch, and a refused patch changes nothing. */
	CHECK_EQ_I(patch(&s, "{\"b\":1}"), -EFBIG);
	CHECK_STR(whole(&s), "{\"a\":\"01234567890\"}");
	CHECK_EQ_I(patch(&s, "{\"a\":null,\"b\":1}"), 0);
	CHECK_STR(whole(&s), "{\"b\":1}");
	/* Whitespace in the body does not count: the stored JSON does. */
	snprintf(big, sizeof(big), "{   \"c\"  :   \"%s\"   }", "0123456789");
	CHECK_EQ_I(put(&s, big), 0);
	mmds_store_free(&s);
}

static void test_store_get(void)
{
	struct mmds_store s;
	int rc;

	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	CHECK_EQ_I(mmds_store_get(&s, "/", 1, MMDS_FMT_JSON, out, sizeof(out)), -ENOENT);
	CHECK_EQ_I(put(&s, "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"net\":{}},"
			   "\"user-data\":\"hi\"},\"age\":43,\"l\":[\"x\",{\"y\":\"z\"}],"
			   "\"a/b\":\"slash\",\"t~\":\"tilde\"}"), 0);
	CHECK_STR(get(&s, "/latest/meta-data/", MMDS_FMT_IMDS, &rc), "ami-id\nnet/");
	CHECK_STR(get(&s, "/latest", MMDS_FMT_IMDS, &rc), "meta-data/\nuser-data");
	CHECK_STR(get(&s, "/latest/user-data", MMDS_FMT_IMDS, &rc), "hi");
	CHECK_STR(get(&s, "/latest/user-data", MMDS_FMT_JSON, &rc), "\"hi\"");
	CHECK_STR(get(&s, "/latest/meta-data", MMDS_FMT_JSON, &rc),
		  "{\"ami-id\":\"ami-1\",\"net\":{}}");
	CHECK_STR(get(&s, "/", MMDS_FMT_IMDS, &rc), "a/b\nage\nl\nlatest/\nt~");
	CHECK_STR(get(&s, "", MMDS_FMT_JSON, &rc), whole(&s));
	CHECK_STR(get(&s, "/age", MMDS_FMT_JSON, &rc), "43");
	get(&s, "/age", MMDS_FMT_IMDS, &rc);
	CHECK_EQ_I(rc, -ENOTSUP);
	get(&s, "/l", MMDS_FMT_IMDS, &rc);
	CHECK_EQ_I(rc, -ENOTSUP);
	CHECK_STR(get(&s, "/l/0", MMDS_FMT_IMDS, &rc), "x");
	CHECK_STR(get(&s, "/l/1/y", MMDS_FMT_JSON, &rc), "\"z\"");
	CHECK_STR(get(&s, "/a~1b", MMDS_FMT_IMDS, &rc), "slash");
	CHECK_STR(get(&s, "/t~0", MMDS_FMT_IMDS, &rc), "tilde");
	get(&s, "/l/2", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	get(&s, "/l/01", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	get(&s, "/nope", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	get(&s, "/age/x", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	get(&s, "/t~2", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	get(&s, "latest", MMDS_FMT_JSON, &rc);
	CHECK_EQ_I(rc, -ENOENT);
	CHECK_EQ_I(mmds_store_get(&s, "/latest", 7, MMDS_FMT_JSON, out, 5), -ENOSPC);
	mmds_store_free(&s);
}

/* ---- tokens ---- */

static void test_tokens(void)
{
	static struct mmds_tokens tt;
	char a[MMDS_TOKEN_LEN + 1], b[MMDS_TOKEN_LEN + 1];

	/* The generator is ChaCha20: key, nonce and counter 0 give RFC 8439 A.1's first block. */
	memset(&tt, 0, sizeof(tt));
	CHECK_EQ_I(mmds_token_new(&tt, 60, 0, a, &err), 0);
	CHECK_STR(a, "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7");
	CHECK_EQ_I(mmds_tokens_init(&tt), 0);
	CHECK(!mmds_token_valid(&tt, a, strlen(a), 0));
	CHECK_EQ_I(mmds_token_new(&tt, 0, 1000, a, &err), -EINVAL);
	CHECK_STR(err.msg, "Invalid time to live value provided for token: 0. Please provide a value between 1 and 21600.");
	CHECK_EQ_I(mmds_token_new(&tt, 21601, 1000, a, &err), -EINVAL);
	CHECK_EQ_I(mmds_token_new(&tt, 1, 1000, a, &err), 0);
	CHECK_EQ_I(mmds_token_new(&tt, 21600, 1000, b, &err), 0);
	CHECK_EQ_U(strlen(a), MMDS_TOKEN_LEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(mmds_token_valid(&tt, a, strlen(a), 1000));
	CHECK(mmds_token_valid(&tt, a, strlen(a), 1999));
	CHECK(!mmds_token_valid(&tt, a, strlen(a), 2000));       /* expired */
	CHECK(mmds_token_valid(&tt, b, strlen(b), 1000 + 21600 * 1000ull - 1));
	CHECK(!mmds_token_valid(&tt, b, strlen(b), 1000 + 21600 * 1000ull));
	CHECK(!mmds_token_valid(&tt, b, strlen(b) - 1, 1000));
	b[3] ^= 1;
	CHECK(!mmds_token_valid(&tt, b, strlen(b), 1000));
	/* A full table forgets the token that expires first. */
	for (int i = 0; i < MMDS_TOKEN_SLOTS; i++)
		CHECK_EQ_I(mmds_token_new(&tt, 100 + (unsigned)i, 5000, b, &err), 0);
	CHECK_EQ_I(mmds_token_new(&tt, 5, 5000, a, &err), 0);
	CHECK(mmds_token_valid(&tt, a, strlen(a), 5000));
	CHECK(mmds_token_valid(&tt, b, strlen(b), 5000));
	mmds_tokens_clear(&tt);
	CHECK(!mmds_token_valid(&tt, b, strlen(b), 5000));
	/* A free slot is never a token, not even an empty one. */
	memset(b, 0, sizeof(b));
	CHECK(!mmds_token_valid(&tt, b, MMDS_TOKEN_LEN, 0));
}

/* ---- HTTP ---- */

static int parse(const char *s, struct mmds_http_req *rq)
{
	const char *why;

	return mmds_http_parse(s, strlen(s), rq, &why);
}

static void test_http_parse(void)
{
	struct mmds_http_req rq;
	const char *req = "GET /latest/meta-data/?x=1 HTTP/1.1\r\nHost: 169.254.169.254\r\n"
			  "User-Agent: Wget\r\nConnection: close\r\naccept: application/json\r\n"
			  "X-metadata-token: abc \r\n\r\nGET / HTTP/1.1\r\n\r\n";
	char big[MMDS_HTTP_MAX + 64];
	size_t first = strstr(req, "\r\n\r\n") - req + 4;

	CHECK_EQ_I(parse(req, &rq), (int)first);
	CHECK_EQ_I(rq.method, MMDS_GET);
	CHECK_EQ_I(rq.minor, 1);
	CHECK(rq.path_len == 18 && memcmp(rq.path, "/latest/meta-data/", 18) == 0);
	CHECK(rq.accept_json && !rq.keep_alive && !rq.forwarded);
	CHECK(rq.token_len == 3 && memcmp(rq.token, "abc", 3) == 0);
	/* Every prefix is incomplete, never an error. */
	for (size_t n = 0; n < first; n++) {
		const char *why;

		CHECK_EQ_I(mmds_http_parse(req, n, &rq, &why), 0);
	}
	CHECK_EQ_I(parse("GET http://169.254.169.254/a/b HTTP/1.0\n\n", &rq), 41);
	CHECK(rq.path_len == 4 && memcmp(rq.path, "/a/b", 4) == 0 && !rq.keep_alive);
	CHECK_EQ_I(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &rq) > 0, 1);
	CHECK(rq.keep_alive);
	CHECK_EQ_I(parse("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n"
			 "X-Forwarded-For: 1.2.3.4\r\nContent-Length: 3\r\n\r\nabc", &rq) > 0, 1);
	CHECK(rq.method == MMDS_PUT && rq.forwarded && rq.ttl_len == 2 && rq.keep_alive);
	CHECK_EQ_I(parse("PUT / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", &rq), 0);
	CHECK_EQ_I(parse("DELETE / HTTP/1.1\r\n\r\n", &rq) > 0, 1);
	CHECK_EQ_I(rq.method, MMDS_OTHER);
	CHECK_EQ_I(parse("get / HTTP/1.1\r\n\r\n", &rq) > 0, 1);
	CHECK_EQ_I(rq.method, MMDS_OTHER);
	CHECK_EQ_I(parse("GET / HTTP/2.0\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET  / HTTP/1.1\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET x HTTP/1.1\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET /\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\n folded: x\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", &rq),
		   -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &rq), -EINVAL);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nContent-Length: 9999\r\n\r\n", &rq), -EMSGSIZE);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ_I(parse(big, &rq), -EMSGSIZE);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	CHECK_EQ_I(parse(big, &rq), -EMSGSIZE);
}

static struct mmds m;

static int mput(const char *j)
{
	return mmds_store_put(&m.store, j, strlen(j), &err);
}

static uint64_t fake_ms;
static uint64_t fake_now(void)
{
	return fake_ms;
}

/* ask: the whole response to @req, NUL-terminated in out. */
static const char *ask(const char *req)
{
	struct mmds_http_req rq;
	size_t len = 0;
	char *r;

	if (parse(req, &rq) <= 0)
		return "(unparsed)";
	r = mmds_answer(&m, &rq, fake_ms, &len);
	if (!r || len >= sizeof(out))
		return "(no answer)";
	memcpy(out, r, len);
	out[len] = '\0';
	free(r);
	return out;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");

	return b ? b + 4 : "";
}

static void test_answers(void)
{
	char req[256], tok[MMDS_TOKEN_LEN + 1];
	const char *r;

	CHECK_EQ_I(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	CHECK_EQ_I(mput("{\"latest\":{\"meta-data\":{\"id\":\"i-1\"}},\"n\":1}"), 0);
	r = ask("GET /latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(strstr(r, "Content-Type: text/plain\r\n") && strstr(r, "Connection: keep-alive\r\n"));
	CHECK(strstr(r, "Content-Length: 2\r\n"));
	CHECK_STR(body_of(r), "id");
	r = ask("GET //latest//meta-data/id HTTP/1.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "Content-Type: application/json\r\n") && strstr(r, "Connection: close\r\n"));
	CHECK_STR(body_of(r), "\"i-1\"");
	r = ask("GET /nothing HTTP/1.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 404 ", 13) == 0);
	CHECK_STR(body_of(r), "Resource not found: /nothing.");
	r = ask("GET /n HTTP/1.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 501 ", 13) == 0);
	r = ask("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 405 ", 13) == 0 && strstr(r, "Allow: GET\r\n"));
	/* imds_compat: IMDS text whatever the Accept header says. */
	mmds_set_version(&m, MMDS_V1, true);
	r = ask("GET /latest/meta-data/id HTTP/1.1\r\nAccept: application/json\r\n\r\n");
	CHECK_STR(body_of(r), "i-1");

	mmds_set_version(&m, MMDS_V2, false);
	r = ask("GET /latest/meta-data/id HTTP/1.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 401 ", 13) == 0);
	CHECK_STR(body_of(r), "No MMDS token provided. Use `X-metadata-token` header to specify the session token.");
	r = ask("GET /latest/meta-data/id HTTP/1.1\r\nX-metadata-token: nope\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 401 ", 13) == 0);
	CHECK_STR(body_of(r), "MMDS token not valid.");
	r = ask("PUT /latest/api/token HTTP/1.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0 && strstr(r, "Token time to live value not found"));
	r = ask("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0 && strstr(r, "between 1 and 21600"));
	r = ask("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: x\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0);
	r = ask("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n"
		"X-Forwarded-For: 10.0.0.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 400 ", 13) == 0 && strstr(r, "X-Forwarded-For"));
	r = ask("PUT /latest/api/other HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 404 ", 13) == 0);
	r = ask("PATCH / HTTP/1.1\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 405 ", 13) == 0 && strstr(r, "Allow: GET, PUT\r\n"));
	fake_ms = 1000;
	r = ask("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 5\r\n\r\n");
	CHECK(strncmp(r, "HTTP/1.1 200 ", 13) == 0);
	snprintf(tok, sizeof(tok), "%s", body_of(r));
	CHECK_EQ_U(strlen(tok), MMDS_TOKEN_LEN);
	snprintf(req, sizeof(req), "GET /latest/meta-data/id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n",
		 tok);
	CHECK_STR(body_of(ask(req)), "i-1");
	fake_ms = 6000;                       /* five seconds later: expired */
	CHECK(strncmp(ask(req), "HTTP/1.1 401 ", 13) == 0);
	mmds_destroy(&m);
}

/* ---- the network stack ---- */

static const uint8_t guest_mac[6] = { 0x02, 0, 0, 0, 0, 0x07 };
#define GUEST_IP 0xa9fe0002u           /* 169.254.0.2 */
#define MMDS_IP  0xa9fea9feu

static void w16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void w32(uint8_t *p, uint32_t v) { w16(p, (uint16_t)(v >> 16)); w16(p + 2, (uint16_t)v); }
static uint16_t r16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t r32(const uint8_t *p) { return (uint32_t)r16(p) << 16 | r16(p + 2); }

static uint16_t csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += r16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t arp_request(uint8_t *f, uint32_t target)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	w16(f + 12, 0x0806);
	w16(f + 14, 1);
	w16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	w16(f + 20, 1);
	memcpy(f + 22, guest_mac, 6);
	w32(f + 28, GUEST_IP);
	memset(f + 32, 0, 6);
	w32(f + 38, target);
	return 42;
}

/* A TCP segment from the guest, with Linux's SYN options when @flags has SYN. */
static size_t segment(uint8_t *f, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
		      uint32_t seq, uint32_t ack, const char *data)
{
	static const uint8_t linux_opts[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
						0, 0, 0, 0, 1, 3, 3, 7 };
	size_t n = data ? strlen(data) : 0, opt = flags & 0x02 ? 20 : 0;
	uint8_t *ip = f + 14, *t = ip + 20;

	memset(f, 0, 14 + 20 + 20 + opt);
	memcpy(f, (const uint8_t[6])MMDS_MAC_INIT, 6);
	memcpy(f + 6, guest_mac, 6);
	w16(f + 12, 0x0800);
	ip[0] = 0x45;
	w16(ip + 2, (uint16_t)(20 + 20 + opt + n));
	w16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	w32(ip + 12, GUEST_IP);
	w32(ip + 16, dst);
	w16(t, sport);
	w16(t + 2, dport);
	w32(t + 4, seq);
	w32(t + 8, ack);
	t[12] = (uint8_t)((20 + opt) / 4 << 4);
	t[13] = flags;
	w16(t + 14, 64240);
	memcpy(t + 20, linux_opts, opt);
	memcpy(t + 20 + opt, data, n);
	return 14 + 20 + 20 + opt + n;
}

struct seg {
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win, mss;
	size_t len;
	const uint8_t *data;
};

static uint8_t rx[MMDS_FRAME_MAX];

/* next_seg: pop a frame and read it as a TCP segment to the guest; false if none or not one. */
static bool next_seg(struct mmds_stack *s, struct seg *g)
{
	size_t n = mmds_stack_pop(s, rx, sizeof(rx));
	const uint8_t *ip = rx + 14, *t = ip + 20;
	size_t tlen, doff;
	uint32_t sum;

	memset(g, 0, sizeof(*g));
	if (n < 54 || memcmp(rx, guest_mac, 6) || r16(rx + 12) != 0x0800 || ip[0] != 0x45 ||
	    ip[9] != 6 || r32(ip + 12) != MMDS_IP || r32(ip + 16) != GUEST_IP ||
	    r16(ip + 2) != n - 14 || csum(ip, 20, 0) != 0)
		return false;
	tlen = n - 34;
	/* The TCP checksum over the pseudo-header comes out right. */
	sum = (MMDS_IP >> 16) + (MMDS_IP & 0xffff) + (GUEST_IP >> 16) + (GUEST_IP & 0xffff) + 6 +
	      (uint32_t)tlen;
	if (csum(t, tlen, sum) != 0 || r16(t) != 80 || r16(t + 2) != 40000)
		return false;
	doff = (size_t)(t[12] >> 4) * 4;
	g->flags = t[13];
	g->seq = r32(t + 4);
	g->ack = r32(t + 8);
	g->win = r16(t + 14);
	if (doff == 24 && t[20] == 2 && t[21] == 4)
		g->mss = r16(t + 22);
	g->len = tlen - doff;
	g->data = t + doff;
	return true;
}

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04
#define PSH 0x08

static void test_stack_arp(void)
{
	struct mmds_stack s;
	uint8_t f[128];
	size_t n;

	CHECK_EQ_I(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	CHECK_EQ_I(mmds_stack_init(&s, &m, MMDS_IP, fake_now), 0);
	n = arp_request(f, 0xa9fe0001u);
	CHECK(!mmds_stack_wants(&s, f, n));
	CHECK(!mmds_stack_input(&s, f, n));          /* another address: the tap's */
	n = arp_request(f, MMDS_IP);
	CHECK(mmds_stack_wants(&s, f, n));
	CHECK(!mmds_stack_input(&s, f, n - 1));       /* cut short: not even ARP */
	CHECK(mmds_stack_input(&s, f, n));
	CHECK_EQ_U(mmds_stack_pending(&s), 1);
	n = mmds_stack_pop(&s, rx, sizeof(rx));
	CHECK_EQ_U(n, 42);
	CHECK(memcmp(rx, guest_mac, 6) == 0);
	CHECK(memcmp(rx + 6, (const uint8_t[6])MMDS_MAC_INIT, 6) == 0);
	CHECK_EQ_U(r16(rx + 12), 0x0806);
	CHECK_EQ_U(r16(rx + 20), 2);                  /* reply */
	CHECK(memcmp(rx + 22, (const uint8_t[6])MMDS_MAC_INIT, 6) == 0);
	CHECK_EQ_U(r32(rx + 28), MMDS_IP);
	CHECK(memcmp(rx + 32, guest_mac, 6) == 0);
	CHECK_EQ_U(r32(rx + 38), GUEST_IP);
	/* UDP to the MMDS address, and TCP elsewhere, are the tap's. */
	n = segment(f, MMDS_IP, 40000, 80, SYN, 1, 0, NULL);
	f[23] = 17;
	CHECK(!mmds_stack_input(&s, f, n));
	n = segment(f, 0x0a000001u, 40000, 80, SYN, 1, 0, NULL);
	CHECK(!mmds_stack_input(&s, f, n));
	CHECK_EQ_U(mmds_stack_pending(&s), 0);
	mmds_stack_destroy(&s);
	mmds_destroy(&m);
}

/* connect: SYN, SYN-ACK, ACK on port 40000 from @seq; our ISN + 1 in *@iss1. */
static void connect_(struct mmds_stack *s, uint32_t seq, uint32_t *iss1)
{
	uint8_t f[128];
	struct seg g;

	CHECK(mmds_stack_input(s, f, segment(f, MMDS_IP, 40000, 80, SYN, seq, 0, NULL)));
	CHECK(next_seg(s, &g));
	CHECK_EQ_U(g.flags, SYN | ACK);
	CHECK_EQ_U(g.ack, seq + 1);
	CHECK_EQ_U(g.mss, MMDS_MSS);
	CHECK(g.win > 0);
	*iss1 = g.seq + 1;
	CHECK(mmds_stack_input(s, f, segment(f, MMDS_IP, 40000, 80, ACK, seq + 1, *iss1, NULL)));
	CHECK_EQ_U(mmds_stack_pending(s), 0);
}

static void test_stack_http(void)
{
	static const char req1[] = "GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n";
	static const char req2[] = "User-Agent: Wget\r\nConnection: close\r\n\r\n";
	struct mmds_stack s;
	uint8_t f[512];
	uint32_t iss1, seq = 1000;
	struct seg g;

	CHECK_EQ_I(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	CHECK_EQ_I(mput("{\"latest\":{\"meta-data\":{\"ami-id\":\"a\"}}}"), 0);
	CHECK_EQ_I(mmds_stack_init(&s, &m, MMDS_IP, fake_now), 0);
	connect_(&s, seq, &iss1);
	seq++;
	/* The request in two segments: the first is only acknowledged. */
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | PSH, seq, iss1, req1)));
	CHECK(next_seg(&s, &g));
	CHECK_EQ_U(g.flags, ACK);
	CHECK_EQ_U(g.ack, seq + strlen(req1));
	CHECK_EQ_U(g.len, 0);
	seq += (uint32_t)strlen(req1);
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | PSH, seq, iss1, req2)));
	seq += (uint32_t)strlen(req2);
	/* The answer, and a FIN after it (the client asked for Connection: close). */
	CHECK(next_seg(&s, &g));
	CHECK_EQ_U(g.flags, ACK | PSH | FIN);
	CHECK_EQ_U(g.seq, iss1);
	CHECK_EQ_U(g.ack, seq);
	CHECK(g.len > 0 && strncmp((const char *)g.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(g.len >= 8 && memcmp(g.data + g.len - 8, "\r\n\r\nami-id", 8) != 0);
	CHECK(memcmp(g.data + g.len - 6, "ami-id", 6) == 0);
	CHECK_EQ_U(mmds_stack_pending(&s), 0);
	/* The guest acknowledges everything and closes: our ACK, and the connection is gone. */
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | FIN, seq,
					      iss1 + (uint32_t)g.len + 1, NULL)));
	CHECK(next_seg(&s, &g));
	CHECK_EQ_U(g.flags, ACK);
	CHECK_EQ_U(g.ack, seq + 1);
	CHECK_EQ_U(s.stats.connections_created, 1);
	CHECK_EQ_U(s.stats.connections_destroyed, 1);
	/* The same counts in the process's "mmds" metrics: the first connection of this program. */
	CHECK_EQ_U(metric_get(M_mmds_connections_created), 1);
	CHECK_EQ_U(metric_get(M_mmds_connections_destroyed), 1);
	CHECK(metric_get(M_mmds_tx_frames) >= 4);
	/* Anything more on that port: RST. */
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK, seq + 1, iss1, "x")));
	CHECK(next_seg(&s, &g));
	CHECK(g.flags & RST);
	CHECK_EQ_U(g.seq, iss1);
	mmds_stack_destroy(&s);
	mmds_destroy(&m);
}

static void test_stack_v2_and_garbage(void)
{
	static const char get[] = "GET /latest/meta-data/ HTTP/1.1\r\n\r\n";
	struct mmds_stack s;
	uint8_t f[512];
	uint32_t iss1, seq = 7;
	struct seg g;

	CHECK_EQ_I(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	mmds_set_version(&m, MMDS_V2, false);
	CHECK_EQ_I(mput("{\"latest\":{}}"), 0);
	CHECK_EQ_I(mmds_stack_init(&s, &m, MMDS_IP, fake_now), 0);
	connect_(&s, seq, &iss1);
	seq++;
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | PSH, seq, iss1, get)));
	seq += (uint32_t)strlen(get);
	CHECK(next_seg(&s, &g));
	CHECK(g.len > 13 && strncmp((const char *)g.data, "HTTP/1.1 401 ", 13) == 0);
	CHECK(!(g.flags & FIN));                     /* HTTP/1.1 keeps the connection */
	iss1 += (uint32_t)g.len;
	/* A garbage request: 400, then FIN. */
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | PSH, seq, iss1,
					      "\x01\x02 nonsense\r\n\r\n")));
	CHECK(next_seg(&s, &g));
	CHECK(g.len > 13 && strncmp((const char *)g.data, "HTTP/1.1 400 ", 13) == 0);
	CHECK(g.flags & FIN);
	mmds_stack_destroy(&s);

	/* Without a connection: data or a bare ACK gets RST; another port gets RST. */
	CHECK_EQ_I(mmds_stack_init(&s, &m, MMDS_IP, fake_now), 0);
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK, 5, 77, "hi")));
	CHECK(next_seg(&s, &g));
	CHECK_EQ_U(g.flags, RST);
	CHECK_EQ_U(g.seq, 77);
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 81, SYN, 5, 0, NULL)));
	CHECK(next_seg(&s, &g) || rx[0] == 0);
	/* A SYN to port 81: RST and ACK of the SYN (next_seg insists on port 80). */
	CHECK_EQ_U(rx[14 + 20 + 13], RST | ACK);
	/* A cut-short IPv4 header or TCP header is taken (it is MMDS's) and dropped. */
	{
		size_t n = segment(f, MMDS_IP, 40000, 80, SYN, 5, 0, NULL);

		CHECK(mmds_stack_input(&s, f, 40));
		f[14 + 20 + 12] = 0xf0;              /* data offset 60 > what is there */
		CHECK(mmds_stack_input(&s, f, n));
		f[14] = 0x4f;                        /* IHL 60 */
		CHECK(mmds_stack_input(&s, f, n));
		CHECK_EQ_U(mmds_stack_pending(&s), 0);
	}
	mmds_stack_destroy(&s);
	mmds_destroy(&m);
}

/* A large answer goes out in MSS-sized segments within the guest's window. */
static void test_stack_window(void)
{
	static char big[20000];
	struct mmds_stack s;
	uint8_t f[512];
	uint32_t iss1, seq = 1, got = 0, fin = 0;
	struct seg g;
	int rounds = 0;

	memset(big, 0, sizeof(big));
	strcpy(big, "{\"k\":\"");
	memset(big + 6, 'v', 15000);
	strcpy(big + 6 + 15000, "\"}");
	CHECK_EQ_I(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	CHECK_EQ_I(mmds_store_put(&m.store, big, strlen(big), &err), 0);
	CHECK_EQ_I(mmds_stack_init(&s, &m, MMDS_IP, fake_now), 0);
	connect_(&s, seq, &iss1);
	seq++;
	CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK | PSH, seq, iss1,
					      "GET /k HTTP/1.0\r\n\r\n")));
	seq += 19;
	/* The guest's window is 64240: everything fits; take it all, acknowledging as we go. */
	while (!fin && rounds++ < 100) {
		if (!next_seg(&s, &g))
			break;
		CHECK(g.len <= MMDS_MSS);
		CHECK_EQ_U(g.seq, iss1 + got);
		got += (uint32_t)g.len;
		fin = g.flags & FIN;
		if (mmds_stack_pending(&s) == 0)
			CHECK(mmds_stack_input(&s, f, segment(f, MMDS_IP, 40000, 80, ACK, seq,
							      iss1 + got, NULL)));
	}
	CHECK(fin);
	CHECK(got > 15000 && got < 15300);
	mmds_stack_destroy(&s);
	mmds_destroy(&m);
}

int main(void)
{
	RUN(test_store_put_patch);
	RUN(test_store_limit);
	RUN(test_store_get);
	RUN(test_tokens);
	RUN(test_http_parse);
	RUN(test_answers);
	RUN(test_stack_arp);
	RUN(test_stack_http);
	RUN(test_stack_v2_and_garbage);
	RUN(test_stack_window);
	return check_summary();
}
