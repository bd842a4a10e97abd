/* test_http.c: unit tests of api/http.c, the HTTP/1.1 request parser and response formatter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"

static struct http_request req;
static struct http_error err;

/* thttp_parse_n / thttp_parse: one call on @n bytes (or a C string) with the default limit. */
static int thttp_parse_n(const char *s, size_t n)
{
	return http_parse_request(s, n, HTTP_DEFAULT_MAX_BODY, &req, &err);
}

static int thttp_parse(const char *s)
{
	return thttp_parse_n(s, strlen(s));
}

static int thttp_span_eq(const char *p, size_t n, const char *want)
{
	return p && strlen(want) == n && memcmp(p, want, n) == 0;
}

/* EXPECT_ERROR: @s is refused with @rc, and the connection must close. */
#define EXPECT_ERROR(s, rc)                                                    \
	do {                                                                   \
		CHECK_EQ_I(thttp_parse(s), (rc));                                    \
		CHECK(err.close);                                              \
		CHECK(err.msg[0] != '\0');                                     \
	} while (0)

static void test_simple_get(void)
{
	const char *s = "GET /version HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

	CHECK_EQ_I(thttp_parse(s), strlen(s));
	CHECK_EQ_U(req.method, HTTP_METHOD_GET);
	CHECK(thttp_span_eq(req.method_name, req.method_len, "GET"));
	CHECK(thttp_span_eq(req.path, req.path_len, "/version"));
	CHECK(req.query == NULL);
	CHECK_EQ_I(req.version_minor, 1);
	CHECK(req.body == NULL);
	CHECK_EQ_U(req.body_len, 0);
	CHECK(!req.has_content_length);
	CHECK(req.keep_alive);
	CHECK(!req.expect_continue);
	CHECK_EQ_U(req.header_len, strlen(s));
	CHECK_EQ_U(req.need, strlen(s));
}

static void test_put_with_body(void)
{
	const char *s = "PUT /machine-config HTTP/1.1\r\nContent-Type: application/json\r\n"
			"Content-Length: 36\r\n\r\n{\"vcpu_count\": 2, \"mem_size_mib\": 1}";
	size_t hlen = strstr(s, "\r\n\r\n") + 4 - s;

	CHECK_EQ_I(thttp_parse(s), strlen(s));
	CHECK_EQ_U(req.method, HTTP_METHOD_PUT);
	CHECK(req.has_content_length);
	CHECK_EQ_U(req.body_len, 36);
	CHECK(req.body == s + hlen);
	CHECK(thttp_span_eq(req.body, req.body_len, "{\"vcpu_count\": 2, \"mem_size_mib\": 1}"));
	CHECK_EQ_U(req.header_len, hlen);
}

/* Every prefix of a request with a body is "need more"; the whole is one request. */
static void test_every_split_point(void)
{
	const char *s = "PATCH /drives/rootfs HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n"
			"Expect: 100-continue\r\n\r\n"
			"{\"drive_id\":\"rootfs\",\"path_on_host\":\"b\"}";
	size_t len = strlen(s), hlen = strstr(s, "\r\n\r\n") + 4 - s;
	char *copy;

	CHECK_EQ_U(len - hlen, 40);
	for (size_t k = 0; k < len; k++) {
		/* a private copy of exactly k bytes, so ASan sees any over-read */
		copy = malloc(k ? k : 1);
		memcpy(copy, s, k);
		CHECK_EQ_I(thttp_parse_n(copy, k), 0);
		if (k >= hlen) {
			CHECK_EQ_U(req.header_len, hlen);
			CHECK_EQ_U(req.need, len);
			CHECK(req.expect_continue);
			CHECK(req.body == NULL);
		} else {
			CHECK_EQ_U(req.header_len, 0);
			CHECK_EQ_U(req.need, 0);
			CHECK(!req.expect_continue);
		}
		free(copy);
	}
	copy = malloc(len);
	memcpy(copy, s, len);
	CHECK_EQ_I(thttp_parse_n(copy, len), len);
	CHECK(thttp_span_eq(req.path, req.path_len, "/drives/rootfs"));
	CHECK_EQ_U(req.body_len, 40);
	CHECK(req.body == copy + hlen);
	free(copy);
}

/* Three requests in one buffer come out one at a time, in order. */
static void test_pipelined_three(void)
{
	const char *s = "GET / HTTP/1.1\r\n\r\n"
			"PUT /actions HTTP/1.1\r\nContent-Length: 31\r\n\r\n"
			"{\"action_type\":\"InstanceStart\"}"
			"PATCH /vm HTTP/1.1\r\nContent-Length: 18\r\nConnection: close\r\n\r\n"
			"{\"state\":\"Paused\"}";
	const char *paths[] = { "/", "/actions", "/vm" };
	enum http_method methods[] = { HTTP_METHOD_GET, HTTP_METHOD_PUT, HTTP_METHOD_PATCH };
	size_t off = 0, len = strlen(s);
	int i, rc;

	for (i = 0; i < 3; i++) {
		rc = thttp_parse_n(s + off, len - off);
		CHECK(rc > 0);
		if (rc <= 0)
			return;
		CHECK(thttp_span_eq(req.path, req.path_len, paths[i]));
		CHECK_EQ_U(req.method, methods[i]);
		CHECK(req.body == NULL || (req.body >= s + off && req.body + req.body_len <= s + off + rc));
		CHECK_EQ_I(req.keep_alive, i < 2);
		off += rc;
	}
	CHECK_EQ_U(off, len);
	CHECK_EQ_I(thttp_parse_n(s + off, 0), 0);
}

/* Two and a half requests: two come out, then "need more". */
static void test_pipelined_partial(void)
{
	const char *s = "GET /version HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /vm/con";
	size_t off = 0, len = strlen(s);
	int rc;

	rc = thttp_parse_n(s, len);
	CHECK_EQ_I(rc, 25);
	off += rc;
	rc = thttp_parse_n(s + off, len - off);
	CHECK_EQ_I(rc, 18);
	off += rc;
	CHECK_EQ_I(thttp_parse_n(s + off, len - off), 0);
}

static void test_body_limit(void)
{
	char buf[256];

	/* At the limit: fine (need more until the body is there). */
	snprintf(buf, sizeof(buf), "PUT /mmds HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 HTTP_DEFAULT_MAX_BODY);
	CHECK_EQ_I(thttp_parse(buf), 0);
	CHECK_EQ_U(req.need, strlen(buf) + HTTP_DEFAULT_MAX_BODY);

	/* One past: refused at once, before any body byte is buffered. */
	snprintf(buf, sizeof(buf), "PUT /mmds HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 HTTP_DEFAULT_MAX_BODY + 1);
	EXPECT_ERROR(buf, -EMSGSIZE);
	CHECK(strstr(err.msg, "51201") != NULL);
	CHECK(strstr(err.msg, "51200") != NULL);

	/* Even before the header section ends. */
	EXPECT_ERROR("PUT /mmds HTTP/1.1\r\nContent-Length: 99999\r\nHost: x", -EMSGSIZE);

	/* A caller's smaller limit, and zero. */
	CHECK_EQ_I(http_parse_request("PUT / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 38,
				      10, &req, &err), -EMSGSIZE);
	CHECK_EQ_I(http_parse_request("PUT / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 37,
				      0, &req, &err), 37);
	CHECK_EQ_I(http_parse_request("PUT / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 38,
				      0, &req, &err), -EMSGSIZE);
}

static void test_header_section_limit(void)
{
	size_t n = HTTP_MAX_HEADER_BYTES + 100;
	char *buf = malloc(n + 1);
	size_t pre = strlen("GET / HTTP/1.1\r\nX-Big: ");

	memcpy(buf, "GET / HTTP/1.1\r\nX-Big: ", pre);
	memset(buf + pre, 'a', n - pre);
	buf[n] = '\0';

	/* Below the limit and unterminated: need more. */
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES - 1), 0);
	/* At the limit and unterminated: refused, never unbounded buffering. */
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES), -E2BIG);
	CHECK(err.close);
	CHECK_EQ_I(thttp_parse_n(buf, n), -E2BIG);

	/* A section ending exactly at the limit is accepted. */
	memcpy(buf + HTTP_MAX_HEADER_BYTES - 4, "\r\n\r\n", 4);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES), HTTP_MAX_HEADER_BYTES);
	/* One byte more is not. */
	memset(buf + HTTP_MAX_HEADER_BYTES - 4, 'a', 4);
	memcpy(buf + HTTP_MAX_HEADER_BYTES - 3, "\r\n\r\n", 4);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES + 1), -E2BIG);
	free(buf);
}

static void test_request_line_limit(void)
{
	size_t n = HTTP_MAX_REQUEST_LINE + 50;
	char *buf = malloc(n);

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 5);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_REQUEST_LINE - 1), 0);
	CHECK_EQ_I(thttp_parse_n(buf, n), -E2BIG);
	CHECK(strstr(err.msg, "Request line") != NULL);

	/* A request line of exactly the limit, CRLF included, is legal... */
	memcpy(buf + HTTP_MAX_REQUEST_LINE - 11, " HTTP/1.1\r\n\r\n", 13);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_REQUEST_LINE + 2), HTTP_MAX_REQUEST_LINE + 2);
	CHECK_EQ_U(req.path_len, HTTP_MAX_REQUEST_LINE - 15);
	/* ...one byte more is not. */
	memset(buf + 5, 'a', n - 5);
	memcpy(buf + HTTP_MAX_REQUEST_LINE - 10, " HTTP/1.1\r\n\r\n", 13);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_REQUEST_LINE + 3), -E2BIG);
	free(buf);
}

static void test_header_count_limit(void)
{
	char buf[4096];
	size_t n = 0;
	int i;

	n += snprintf(buf + n, sizeof(buf) - n, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
	CHECK_EQ_I(thttp_parse_n(buf, n), 0);
	memcpy(buf + n, "\r\n", 2);
	CHECK_EQ_I(thttp_parse_n(buf, n + 2), n + 2);
	n += snprintf(buf + n, sizeof(buf) - n, "X-last: v\r\n\r\n");
	CHECK_EQ_I(thttp_parse_n(buf, n), -E2BIG);
	/* refused once the extra line is complete, without waiting for the end */
	CHECK_EQ_I(thttp_parse_n(buf, n - 2), -E2BIG);
}

/* No Content-Length means no body, even for PUT (RFC 9112 §6.3 rule 7). */
static void test_missing_content_length(void)
{
	const char *s = "PUT /boot-source HTTP/1.1\r\nHost: x\r\n\r\n{\"kernel_image_path\":\"k\"}";

	CHECK_EQ_I(thttp_parse(s), strstr(s, "{") - s);
	CHECK(!req.has_content_length);
	CHECK_EQ_U(req.body_len, 0);
	CHECK(req.body == NULL);
	/* what follows is then taken as the next request line, and refused */
	CHECK_EQ_I(thttp_parse(strstr(s, "{")), 0);
	CHECK_EQ_I(thttp_parse("{\"kernel_image_path\":\"k\"}\r\n"), -EBADMSG);
}

static void test_bad_content_length(void)
{
	static const char *const bad[] = {
		"-1", "abc", "1 2", "12a", "", "+5", "0x10", "5, 5", "5,", "1.0", "\xff",
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "PUT /vm HTTP/1.1\r\nContent-Length: %s\r\n\r\n", bad[i]);
		EXPECT_ERROR(buf, -EBADMSG);
	}
	/* digits, but too many of them: too large, not malformed */
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
		     -EMSGSIZE);
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
		     -EMSGSIZE);
	/* duplicates, equal or not */
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
		     -EBADMSG);
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		     -EBADMSG);
	CHECK(strstr(err.msg, "Duplicate") != NULL);
	/* leading zeros and OWS are fine */
	CHECK_EQ_I(thttp_parse("PUT /vm HTTP/1.1\r\nContent-Length: \t007 \t\r\n\r\n1234567"), 51);
	CHECK_EQ_U(req.body_len, 7);
}

static void test_transfer_encoding_refused(void)
{
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		     -ENOTSUP);
	CHECK(strstr(err.msg, "chunked") != NULL);
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n", -ENOTSUP);
	EXPECT_ERROR("PUT /vm HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		     -ENOTSUP);
}

static void test_http10(void)
{
	CHECK_EQ_I(thttp_parse("GET / HTTP/1.0\r\n\r\n"), 18);
	CHECK_EQ_I(req.version_minor, 0);
	CHECK(!req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
	CHECK(req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n") > 0);
	CHECK(!req.keep_alive);
	/* RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0 */
	CHECK_EQ_I(thttp_parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"), 0);
	CHECK(!req.expect_continue);
	/* 1.x above 1 is answered as 1.1; other majors are not spoken */
	CHECK(thttp_parse("GET / HTTP/1.9\r\n\r\n") > 0);
	CHECK_EQ_I(req.version_minor, 1);
	EXPECT_ERROR("GET / HTTP/2.0\r\n\r\n", -ENOTSUP);
	EXPECT_ERROR("GET / HTTP/0.9\r\n\r\n", -ENOTSUP);
}

static void test_connection_header(void)
{
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n") > 0);
	CHECK(!req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n") > 0);
	CHECK(!req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: Upgrade,  close \r\n\r\n") > 0);
	CHECK(!req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n") > 0);
	CHECK(!req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n") > 0);
	CHECK(req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n") > 0);
	CHECK(req.keep_alive);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n") > 0);
	CHECK(req.keep_alive);
}

static void test_obs_fold_refused(void)
{
	EXPECT_ERROR("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", -EBADMSG);
	CHECK(strstr(err.msg, "obs-fold") != NULL);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", -EBADMSG);
	/* whitespace between the request line and the first field (RFC 9112 §2.2) */
	EXPECT_ERROR("GET / HTTP/1.1\r\n Host: x\r\n\r\n", -EBADMSG);
}

static void test_nul_bytes(void)
{
	static const char in_value[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
	static const char in_path[] = "GET /a\0b HTTP/1.1\r\n\r\n";
	static const char in_method[] = "G\0T / HTTP/1.1\r\n\r\n";
	static const char in_name[] = "GET / HTTP/1.1\r\nX\0A: a\r\n\r\n";
	static const char in_body[] = "PUT /vm HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b";

	CHECK_EQ_I(thttp_parse_n(in_value, sizeof(in_value) - 1), -EBADMSG);
	CHECK_EQ_I(thttp_parse_n(in_path, sizeof(in_path) - 1), -EBADMSG);
	CHECK_EQ_I(thttp_parse_n(in_method, sizeof(in_method) - 1), -EBADMSG);
	CHECK_EQ_I(thttp_parse_n(in_name, sizeof(in_name) - 1), -EBADMSG);
	/* the body is opaque */
	CHECK_EQ_I(thttp_parse_n(in_body, sizeof(in_body) - 1), sizeof(in_body) - 1);
	CHECK_EQ_U(req.body_len, 3);
	CHECK_EQ_I(req.body[1], 0);
}

static void test_line_endings(void)
{
	/* bare LF is accepted as a line end (RFC 9112 §2.2) */
	CHECK_EQ_I(thttp_parse("GET /version HTTP/1.1\nHost: x\n\n"), 31);
	CHECK(thttp_span_eq(req.path, req.path_len, "/version"));
	CHECK_EQ_I(thttp_parse("PUT /vm HTTP/1.1\r\nContent-Length: 2\n\r\nab"), 40);
	CHECK(thttp_span_eq(req.body, req.body_len, "ab"));
	/* bare CR is not */
	EXPECT_ERROR("GET / HTTP/1.1\rHost: x\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\n\r\r\n", -EBADMSG);
	/* a CR at the very end may still become CRLF */
	CHECK_EQ_I(thttp_parse("GET / HTTP/1.1\r"), 0);
	CHECK_EQ_I(thttp_parse("GET / HTTP/1.1\r\n\r"), 0);
	/* empty lines before the request line are skipped and consumed */
	CHECK_EQ_I(thttp_parse("\r\n\n\r\nGET / HTTP/1.1\r\n\r\n"), 23);
	CHECK(thttp_span_eq(req.path, req.path_len, "/"));
	CHECK_EQ_I(thttp_parse("\r\n\r\n"), 0);
}

/* Empty lines before the request line count against the header section limit. */
static void test_leading_empty_lines_limit(void)
{
	static char buf[HTTP_MAX_HEADER_BYTES + 64];
	const char *rl = "GET / HTTP/1.1\r\n\r\n";
	size_t pad = HTTP_MAX_HEADER_BYTES - strlen(rl);

	memset(buf, '\n', pad);
	memcpy(buf + pad, rl, strlen(rl));
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES), HTTP_MAX_HEADER_BYTES);
	memset(buf, '\n', pad + 1);
	memcpy(buf + pad + 1, rl, strlen(rl));
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES + 1), -E2BIG);
	CHECK(strstr(err.msg, "header section") != NULL);
	/* only empty lines: refused once the limit is reached */
	memset(buf, '\n', sizeof(buf));
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES - 1), 0);
	CHECK_EQ_I(thttp_parse_n(buf, HTTP_MAX_HEADER_BYTES), -E2BIG);
}

static void test_header_syntax(void)
{
	/* names are case-insensitive; OWS around values is dropped */
	CHECK_EQ_I(thttp_parse("PUT /vm HTTP/1.1\r\ncOnTeNt-LeNgTh:2\r\n\r\nab"), 40);
	CHECK_EQ_U(req.body_len, 2);
	CHECK(thttp_parse("GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\nX-Obs: \x80\xff\r\n\r\n") > 0);
	EXPECT_ERROR("GET / HTTP/1.1\r\nContent-Length : 0\r\n\r\n", -EBADMSG);
	CHECK(strstr(err.msg, "Whitespace between") != NULL);
	EXPECT_ERROR("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nNo colon here\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nNoColon\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\n: empty name\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX@Y: 1\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX-A: \x01\r\n\r\n", -EBADMSG);
	EXPECT_ERROR("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", -EBADMSG);
	/* an error in a field line is reported before the section ends */
	EXPECT_ERROR("GET / HTTP/1.1\r\nX@Y: 1\r\n", -EBADMSG);
}

static void test_request_line_syntax(void)
{
	static const char *const bad[] = {
		"GET  / HTTP/1.1\r\n\r\n",       /* two spaces */
		"GET / HTTP/1.1 \r\n\r\n",       /* trailing space */
		"GET /\r\n\r\n",                 /* HTTP/0.9 style */
		"GET / HTTP/1.1 extra\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET\t/ HTTP/1.1\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.10\r\n\r\n",
		"GET / HTTP/1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",        /* asterisk-form */
		"CONNECT host:80 HTTP/1.1\r\n\r\n", /* authority-form */
		"GET version HTTP/1.1\r\n\r\n",
		"GET /a#frag HTTP/1.1\r\n\r\n",
		"GET /a b HTTP/1.1\r\n\r\n",
		"GET /%zz HTTP/1.1\r\n\r\n",
		"GET /%4 HTTP/1.1\r\n\r\n",
		"GET /\x80 HTTP/1.1\r\n\r\n",
		"GET /a\\b HTTP/1.1\r\n\r\n",
		"GET /a?b\"c HTTP/1.1\r\n\r\n",
		"GET http:///x HTTP/1.1\r\n\r\n", /* empty host */
		"GET https://h/x HTTP/1.1\r\n\r\n",
		"GET http://h<>/x HTTP/1.1\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = thttp_parse(bad[i]);

		if (rc != -EBADMSG)
			CHECK_FAIL_("case %zu \"%s\": got %d", i, bad[i], rc);
	}
	/* legal oddities */
	CHECK(thttp_parse("GET /%41/a;b=c/@:$&'()*+,=~ HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/%41/a;b=c/@:$&'()*+,=~"));
}

static void test_query_and_absolute_form(void)
{
	CHECK(thttp_parse("GET /machine-config?x=1&y=/? HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/machine-config"));
	CHECK(thttp_span_eq(req.query, req.query_len, "x=1&y=/?"));
	CHECK(thttp_parse("GET /?  HTTP/1.1\r\n\r\n") == -EBADMSG);
	CHECK(thttp_parse("GET /? HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/"));
	CHECK(req.query != NULL && req.query_len == 0);
	/* absolute-form (RFC 9112 §3.2.2: a server MUST accept it) */
	CHECK(thttp_parse("GET http://localhost/version HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/version"));
	CHECK(thttp_parse("GET HTTP://localhost:80 HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/"));
	CHECK(thttp_parse("GET http://[::1]:80?q HTTP/1.1\r\n\r\n") > 0);
	CHECK(thttp_span_eq(req.path, req.path_len, "/"));
	CHECK(thttp_span_eq(req.query, req.query_len, "q"));
}

static void test_other_methods(void)
{
	CHECK(thttp_parse("DELETE /drives/a HTTP/1.1\r\n\r\n") > 0);
	CHECK_EQ_U(req.method, HTTP_METHOD_OTHER);
	CHECK(thttp_span_eq(req.method_name, req.method_len, "DELETE"));
	CHECK(req.keep_alive);
	/* methods are case-sensitive (RFC 9110 §9.1) */
	CHECK(thttp_parse("get / HTTP/1.1\r\n\r\n") > 0);
	CHECK_EQ_U(req.method, HTTP_METHOD_OTHER);
	/* POST bodies are framed like any other */
	CHECK_EQ_I(thttp_parse("POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nzGET"), 40);
	/* HEAD: its answer would carry a body the client will not read */
	CHECK(thttp_parse("HEAD / HTTP/1.1\r\n\r\n") > 0);
	CHECK(!req.keep_alive);
}

static void test_expect_continue(void)
{
	const char *s = "PUT /drives/a HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
	char full[256];

	CHECK_EQ_I(thttp_parse(s), 0);
	CHECK(req.expect_continue);
	CHECK_EQ_U(req.header_len, strlen(s));
	CHECK_EQ_U(req.need, strlen(s) + 5);
	snprintf(full, sizeof(full), "%shello", s);
	CHECK_EQ_I(thttp_parse(full), strlen(full));
	CHECK(req.expect_continue);
	/* other expectations are ignored, as Firecracker does */
	CHECK(thttp_parse("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n") > 0);
	CHECK(!req.expect_continue);
}

static void test_bad_arguments(void)
{
	CHECK_EQ_I(http_parse_request("GET", 3, 0, NULL, &err), -EINVAL);
	CHECK_EQ_I(http_parse_request("GET", 3, 0, &req, NULL), -EINVAL);
	CHECK_EQ_I(http_parse_request(NULL, 3, 0, &req, &err), -EINVAL);
	CHECK_EQ_I(http_parse_request(NULL, 0, 0, &req, &err), 0);
	CHECK_EQ_I(thttp_parse(""), 0);
	/* a huge max_body is clamped so the return value stays an int */
	CHECK_EQ_I(http_parse_request("PUT / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n",
				      46, (size_t)-1, &req, &err), -EMSGSIZE);
}

static void test_format_200(void)
{
	char out[256];
	const char *body = "{\"firecracker_version\":\"1.16.1\"}";
	const char *want = "HTTP/1.1 200 OK\r\nServer: ember\r\nConnection: keep-alive\r\n"
			   "Content-Type: application/json\r\nContent-Length: 32\r\n\r\n"
			   "{\"firecracker_version\":\"1.16.1\"}";
	int n = http_format_response(out, sizeof(out), 200, "application/json", body,
				     strlen(body), true);

	CHECK_EQ_I(n, strlen(want));
	CHECK_STR(out, want);
}

static void test_format_204_and_400(void)
{
	char out[256];
	int n;

	n = http_format_response(out, sizeof(out), 204, "application/json", NULL, 0, true);
	CHECK_STR(out, "HTTP/1.1 204 No Content\r\nServer: ember\r\nConnection: keep-alive\r\n\r\n");
	CHECK_EQ_I(n, strlen(out));
	n = http_format_response(out, sizeof(out), 400, "application/json",
				 "{\"error\": \"x\"}", 14, false);
	CHECK_STR(out, "HTTP/1.1 400 Bad Request\r\nServer: ember\r\nConnection: close\r\n"
		       "Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"error\": \"x\"}");
	CHECK_EQ_I(n, strlen(out));
	/* no body: Content-Length 0 all the same */
	http_format_response(out, sizeof(out), 500, NULL, NULL, 0, true);
	CHECK_STR(out, "HTTP/1.1 500 Internal Server Error\r\nServer: ember\r\n"
		       "Connection: keep-alive\r\nContent-Length: 0\r\n\r\n");
	http_format_response(out, sizeof(out), 100, NULL, NULL, 0, true);
	CHECK_STR(out, "HTTP/1.1 100 Continue\r\n\r\n");
	http_format_response(out, sizeof(out), 299, NULL, NULL, 0, true);
	CHECK(strncmp(out, "HTTP/1.1 299 \r\n", 15) == 0);
}

static void test_format_enospc(void)
{
	char out[128], small[128];
	int n = http_format_response(out, sizeof(out), 400, "application/json", "{}", 2, true);

	CHECK(n > 0);
	for (int cap = 0; cap < n; cap++)
		CHECK_EQ_I(http_format_response(small, cap, 400, "application/json", "{}", 2, true),
			   -ENOSPC);
	/* exactly n bytes: fits, no room for the NUL */
	memset(small, 'Z', sizeof(small));
	CHECK_EQ_I(http_format_response(small, n, 400, "application/json", "{}", 2, true), n);
	CHECK(memcmp(small, out, n) == 0);
	CHECK_EQ_I(small[n], 'Z');
	CHECK_EQ_I(http_format_response(NULL, 0, 204, NULL, NULL, 0, true), -ENOSPC);
}

static void test_format_invalid(void)
{
	char out[256];

	CHECK_EQ_I(http_format_response(out, sizeof(out), 99, NULL, NULL, 0, true), -EINVAL);
	CHECK_EQ_I(http_format_response(out, sizeof(out), 600, NULL, NULL, 0, true), -EINVAL);
	CHECK_EQ_I(http_format_response(out, sizeof(out), 204, NULL, "x", 1, true), -EINVAL);
	CHECK_EQ_I(http_format_response(out, sizeof(out), 100, NULL, "x", 1, true), -EINVAL);
	CHECK_EQ_I(http_format_response(out, sizeof(out), 200, NULL, NULL, 1, true), -EINVAL);
	CHECK_EQ_I(http_format_response(out, sizeof(out), 200, "a\r\nSet-Cookie: x", "x", 1, true),
		   -EINVAL);
}

static void test_reason_phrases(void)
{
	CHECK_STR(http_reason_phrase(200), "OK");
	CHECK_STR(http_reason_phrase(204), "No Content");
	CHECK_STR(http_reason_phrase(400), "Bad Request");
	CHECK_STR(http_reason_phrase(404), "Not Found");
	CHECK_STR(http_reason_phrase(405), "Method Not Allowed");
	CHECK_STR(http_reason_phrase(413), "Content Too Large");
	CHECK_STR(http_reason_phrase(500), "Internal Server Error");
	CHECK_STR(http_reason_phrase(503), "Service Unavailable");
	CHECK_STR(http_reason_phrase(299), "");
	CHECK_STR(http_reason_phrase(-1), "");
}

static void test_json_escape(void)
{
	char out[128];

	CHECK_EQ_U(http_json_escape(out, sizeof(out), "plain text"), 10);
	CHECK_STR(out, "plain text");
	http_json_escape(out, sizeof(out), "a\"b\\c\nd\re\tf\bg\fh\x01i\x1f");
	CHECK_STR(out, "a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001f");
	/* valid UTF-8 passes; invalid bytes become U+FFFD */
	http_json_escape(out, sizeof(out), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
	CHECK_STR(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
	http_json_escape(out, sizeof(out), "\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80");
	CHECK_STR(out, "\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd|"
		       "\\ufffd\\ufffd\\ufffd\\ufffd");
	/* overlong forms of '/' in 3 and 4 bytes */
	http_json_escape(out, sizeof(out), "\xe0\x80\xaf|\xf0\x80\x80\xaf");
	CHECK_STR(out, "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd");
	/* explicit length: NUL is escaped like any control */
	http_json_escape_len(out, sizeof(out), "a\0b", 3);
	CHECK_STR(out, "a\\u0000b");
	CHECK_EQ_U(http_json_escape(out, sizeof(out), ""), 0);
	CHECK_STR(out, "");
	CHECK_EQ_U(http_json_escape(out, sizeof(out), NULL), 0);
}

static void test_json_escape_truncation(void)
{
	char out[16];
	const char *s = "ab\"cd";  /* escapes to ab\"cd: 6 bytes */

	/* cap 0: nothing written, full length returned */
	CHECK_EQ_U(http_json_escape(NULL, 0, s), 6);
	memset(out, 'Z', sizeof(out));
	CHECK_EQ_U(http_json_escape(out, 4, s), 6);
	CHECK_STR(out, "ab");  /* never half of \" */
	CHECK_EQ_U(http_json_escape(out, 5, s), 6);
	CHECK_STR(out, "ab\\\"");
	CHECK_EQ_U(http_json_escape(out, 7, s), 6);
	CHECK_STR(out, "ab\\\"cd");
	/* a multi-byte character is never split either */
	CHECK_EQ_U(http_json_escape(out, 3, "a\xc3\xa9"), 3);
	CHECK_STR(out, "a");
}

int main(void)
{
	RUN(test_simple_get);
	RUN(test_put_with_body);
	RUN(test_every_split_point);
	RUN(test_pipelined_three);
	RUN(test_pipelined_partial);
	RUN(test_body_limit);
	RUN(test_header_section_limit);
	RUN(test_request_line_limit);
	RUN(test_header_count_limit);
	RUN(test_missing_content_length);
	RUN(test_bad_content_length);
	RUN(test_transfer_encoding_refused);
	RUN(test_http10);
	RUN(test_connection_header);
	RUN(test_obs_fold_refused);
	RUN(test_nul_bytes);
	RUN(test_line_endings);
	RUN(test_leading_empty_lines_limit);
	RUN(test_header_syntax);
	RUN(test_request_line_syntax);
	RUN(test_query_and_absolute_form);
	RUN(test_other_methods);
	RUN(test_expect_continue);
	RUN(test_bad_arguments);
	RUN(test_format_200);
	RUN(test_format_204_and_400);
	RUN(test_format_enospc);
	RUN(test_format_invalid);
	RUN(test_reason_phrases);
	RUN(test_json_escape);
	RUN(test_json_escape_truncation);
	return check_summary();
}
