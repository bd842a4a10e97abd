/* http.c: ember's pure HTTP/1.1 request parser and response formatter (RFC 9112, no syscalls). */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Content-Length values are capped so that header section + body always fits
 * the int that http_parse_request() returns.
 */
#define HTTP_BODY_CAP ((size_t)INT_MAX - HTTP_MAX_HEADER_BYTES)

/* What the field lines of one request said, as far as ember cares. */
struct http_fields {
	bool seen_length;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
	unsigned long long length;
};

static int http_fail(struct http_error *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int http_fail(struct http_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* Every refusal leaves the end of the request unknown: close (RFC 9112 §9.6). */
	err->close = true;
	return rc;
}

static bool http_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* tchar, RFC 9110 §5.6.2: what methods and field names are made of. */
static bool http_is_tchar(unsigned char c)
{
	return http_is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

static bool http_is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* pchar without pct-encoded, RFC 3986 §3.3: unreserved, sub-delims, ':' and '@'. */
static bool http_is_pchar(unsigned char c)
{
	return http_is_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=:@", c));
}

/*
 * http_find_line: find the end of the line that starts at @start; the line and
 * its terminator must end at or before offset @limit. A line ends with CRLF or
 * a bare LF (RFC 9112 §2.2 lets a recipient accept LF); a CR not followed by
 * LF is invalid there. Returns 1 with *end (where the terminator starts) and
 * *next (just after it), 0 when more bytes are needed, -EBADMSG for a bare CR
 * or -E2BIG when the line runs past @limit.
 */
static int http_find_line(const char *buf, size_t len, size_t start,
			  size_t limit, size_t *end, size_t *next)
{
	size_t stop = len < limit ? len : limit, lim;
	const char *lf, *cr;

	if (start >= stop)
		return len < limit ? 0 : -E2BIG;
	lf = memchr(buf + start, '\n', stop - start);
	lim = lf ? (size_t)(lf - buf) : stop;
	cr = memchr(buf + start, '\r', lim - start);
	if (cr) {
		size_t i = (size_t)(cr - buf);

		if (lf && i + 1 == lim) {
			*end = i;
			*next = lim + 1;
			return 1;
		}
		/* a CR followed by anything but LF; or the last byte, still open */
		if (i + 1 < lim)
			return -EBADMSG;
	} else if (lf) {
		*end = lim;
		*next = lim + 1;
		return 1;
	}
	return len < limit ? 0 : -E2BIG;
}

static bool http_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* http_check_chars: [s, s + n) is made of pchar, pct-encoded and @extra. */
static bool http_check_chars(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			/* pct-encoded = "%" HEXDIG HEXDIG (RFC 3986 §2.1) */
			if (n - i < 3 || !http_is_hex((unsigned char)s[i + 1]) ||
			    !http_is_hex((unsigned char)s[i + 2]))
				return false;
			i += 2;
		} else if (!http_is_pchar(c) && !(c != 0 && strchr(extra, c))) {
			return false;
		}
	}
	return true;
}

/*
 * http_parse_target: origin-form "/path?query" or absolute-form
 * "http://authority/path?query" (RFC 9112 §3.2.1, §3.2.2). Asterisk-form and
 * authority-form are only for OPTIONS and CONNECT, which ember does not serve.
 */
static int http_parse_target(const char *t, size_t n, struct http_request *r,
			     struct http_error *err)
{
	size_t p = 0, path_start, host_start;

	if (t[0] != '/') {
		if (n < 7 || strncasecmp(t, "http://", 7) != 0)
			return http_fail(err, -EBADMSG,
					 "Invalid request target: expected an absolute path.");
		host_start = p = 7;
		while (p < n && t[p] != '/' && t[p] != '?')
			p++;
		/* host [":" port], RFC 3986 §3.2: pchar minus '@' is enough here */
		if (p == host_start || !http_check_chars(t + host_start, p - host_start, "[]"))
			return http_fail(err, -EBADMSG,
					 "Invalid request target: bad authority.");
	}
	path_start = p;
	while (p < n && t[p] != '?')
		p++;
	if (!http_check_chars(t + path_start, p - path_start, "/"))
		return http_fail(err, -EBADMSG,
				 "Invalid character in the request path.");
	if (p == path_start) {
		/* "http://host" alone means the path "/" (RFC 9110 §4.2.3) */
		r->path = "/";
		r->path_len = 1;
	} else {
		r->path = t + path_start;
		r->path_len = p - path_start;
	}
	if (p < n) {
		r->query = t + p + 1;
		r->query_len = n - p - 1;
		if (!http_check_chars(r->query, r->query_len, "/?"))
			return http_fail(err, -EBADMSG,
					 "Invalid character in the request query.");
	}
	return 0;
}

/* http_parse_request_line: method SP request-target SP HTTP-version (RFC 9112 §3). */
static int http_parse_request_line(const char *line, size_t n,
				   struct http_request *r, struct http_error *err)
{
	size_t i = 0, t, j;
	const char *v;

	while (i < n && http_is_tchar((unsigned char)line[i]))
		i++;
	if (i == n)
		return http_fail(err, -EBADMSG,
				 "Malformed request line: expected METHOD TARGET HTTP/1.1.");
	if (i == 0 || line[i] != ' ')
		return http_fail(err, -EBADMSG, "Invalid request method.");
	r->method_name = line;
	r->method_len = i;
	if (i == 3 && memcmp(line, "GET", 3) == 0)
		r->method = HTTP_METHOD_GET;
	else if (i == 3 && memcmp(line, "PUT", 3) == 0)
		r->method = HTTP_METHOD_PUT;
	else if (i == 5 && memcmp(line, "PATCH", 5) == 0)
		r->method = HTTP_METHOD_PATCH;
	else
		r->method = HTTP_METHOD_OTHER;

	t = i + 1;
	for (j = t; j < n && line[j] != ' '; j++)
		;
	if (j == n || j == t)
		return http_fail(err, -EBADMSG,
				 "Malformed request line: expected METHOD TARGET HTTP/1.1.");

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3) */
	v = line + j + 1;
	if (n - j - 1 != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return http_fail(err, -EBADMSG, "Invalid HTTP version.");
	if (v[5] != '1')
		return http_fail(err, -ENOTSUP,
				 "Unsupported HTTP version: ember speaks HTTP/1.1.");
	/* A higher 1.x minor is answered as 1.1 (RFC 9110 §2.5). */
	r->version_minor = v[7] == '0' ? 0 : 1;

	return http_parse_target(line + t, j - t, r, err);
}

static int http_content_length(const char *v, size_t n, size_t max_body,
			       struct http_fields *f, struct http_error *err)
{
	unsigned long long x = 0;
	bool huge = false;

	/* Two Content-Length lines, equal or not, are refused (RFC 9110 §8.6). */
	if (f->seen_length)
		return http_fail(err, -EBADMSG, "Duplicate Content-Length header.");
	f->seen_length = true;
	if (n == 0)
		return http_fail(err, -EBADMSG, "Invalid Content-Length value.");
	/* Content-Length = 1*DIGIT: no sign, no list, no spaces inside. */
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)v[i] - '0';

		if (d > 9)
			return http_fail(err, -EBADMSG, "Invalid Content-Length value.");
		if (x > (ULLONG_MAX - d) / 10)
			huge = true;
		else
			x = x * 10 + d;
	}
	if (huge)
		return http_fail(err, -EMSGSIZE,
				 "Request payload is larger than the limit of %zu bytes allowed by the server.",
				 max_body);
	if (x > max_body)
		return http_fail(err, -EMSGSIZE,
				 "Request payload with size %llu is larger than the limit of %zu bytes allowed by the server.",
				 x, max_body);
	f->length = x;
	return 0;
}

/* http_connection: the options of a Connection field (RFC 9110 §7.6.1), a list. */
static void http_connection(const char *v, size_t n, struct http_fields *f)
{
	size_t p = 0;

	while (p < n) {
		size_t q = p, e;

		while (q < n && v[q] != ',')
			q++;
		e = q;
		while (p < e && (v[p] == ' ' || v[p] == '\t'))
			p++;
		while (e > p && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (http_name_is(v + p, e - p, "close"))
			f->conn_close = true;
		else if (http_name_is(v + p, e - p, "keep-alive"))
			f->conn_keep_alive = true;
		p = q + 1;
	}
}

/* http_parse_field: field-name ":" OWS field-value OWS (RFC 9112 §5). */
static int http_parse_field(const char *line, size_t n, size_t max_body,
			    struct http_fields *f, struct http_error *err)
{
	size_t i = 0, v, e;

	if (line[0] == ' ' || line[0] == '\t')
		return http_fail(err, -EBADMSG,
				 "Folded header line (obs-fold) or whitespace before a header.");
	while (i < n && http_is_tchar((unsigned char)line[i]))
		i++;
	if (i == n)
		return http_fail(err, -EBADMSG, "Header line without a colon.");
	if (line[i] == ' ' || line[i] == '\t')
		return http_fail(err, -EBADMSG,
				 "Whitespace between a header name and its colon.");
	if (line[i] != ':' || i == 0)
		return http_fail(err, -EBADMSG, "Invalid header name.");

	v = i + 1;
	e = n;
	while (v < e && (line[v] == ' ' || line[v] == '\t'))
		v++;
	while (e > v && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	/* field-vchar = VCHAR / obs-text, plus inner SP and HTAB (RFC 9110 §5.5) */
	for (size_t k = v; k < e; k++) {
		unsigned char c = (unsigned char)line[k];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return http_fail(err, -EBADMSG,
					 "Invalid character in a header value.");
	}

	if (http_name_is(line, i, "Content-Length"))
		return http_content_length(line + v, e - v, max_body, f, err);
	if (http_name_is(line, i, "Transfer-Encoding"))
		return http_fail(err, -ENOTSUP,
				 "Transfer-Encoding (chunked) is not supported: send the body with Content-Length.");
	if (http_name_is(line, i, "Connection"))
		http_connection(line + v, e - v, f);
	else if (http_name_is(line, i, "Expect") &&
		 http_name_is(line + v, e - v, "100-continue"))
		f->expect_continue = true;
	return 0;
}

static int http_line_error(int rc, size_t limit, struct http_error *err)
{
	if (rc == -EBADMSG)
		return http_fail(err, rc, "Bare CR in the request header section.");
	if (limit == HTTP_MAX_HEADER_BYTES)
		return http_fail(err, rc, "Request header section is larger than %d bytes.",
				 HTTP_MAX_HEADER_BYTES);
	return http_fail(err, rc, "Request line is longer than %d bytes.",
			 HTTP_MAX_REQUEST_LINE);
}

int http_parse_request(const char *buf, size_t len, size_t max_body,
		       struct http_request *req, struct http_error *err)
{
	struct http_request r;
	struct http_fields f;
	size_t pos = 0, end = 0, next = 0, limit, nfields = 0;
	int rc;

	if (!req || !err || (!buf && len))
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	memset(&r, 0, sizeof(r));
	memset(&f, 0, sizeof(f));
	if (max_body > HTTP_BODY_CAP)
		max_body = HTTP_BODY_CAP;

	/* Skip empty lines before the request line (RFC 9112 §2.2). */
	for (;;) {
		limit = pos + HTTP_MAX_REQUEST_LINE;
		if (limit > HTTP_MAX_HEADER_BYTES)
			limit = HTTP_MAX_HEADER_BYTES;
		rc = http_find_line(buf, len, pos, limit, &end, &next);
		if (rc <= 0)
			return rc ? http_line_error(rc, limit, err) : 0;
		if (end > pos)
			break;
		pos = next;
	}
	rc = http_parse_request_line(buf + pos, end - pos, &r, err);
	if (rc)
		return rc;

	/* Field lines up to the empty line; each is checked once complete. */
	for (pos = next;; pos = next) {
		rc = http_find_line(buf, len, pos, HTTP_MAX_HEADER_BYTES, &end, &next);
		if (rc <= 0)
			return rc ? http_line_error(rc, HTTP_MAX_HEADER_BYTES, err) : 0;
		if (end == pos)
			break;
		if (++nfields > HTTP_MAX_HEADERS)
			return http_fail(err, -E2BIG, "More than %d header lines.",
					 HTTP_MAX_HEADERS);
		rc = http_parse_field(buf + pos, end - pos, max_body, &f, err);
		if (rc)
			return rc;
	}

	r.header_len = next;
	r.has_content_length = f.seen_length;
	r.body_len = (size_t)f.length;  /* <= max_body <= HTTP_BODY_CAP */
	r.need = r.header_len + r.body_len;
	/* RFC 9112 §9.3: close wins; 1.1 persists by default; 1.0 only on request. */
	r.keep_alive = !f.conn_close && (r.version_minor >= 1 || f.conn_keep_alive);
	if (r.method_len == 4 && memcmp(r.method_name, "HEAD", 4) == 0)
		r.keep_alive = false;
	/* RFC 9110 §10.1.1: a 100-continue in an HTTP/1.0 request MUST be ignored. */
	r.expect_continue = f.expect_continue && r.version_minor >= 1;
	if (len < r.need) {
		*req = r;
		return 0;
	}
	if (r.body_len)
		r.body = buf + r.header_len;
	*req = r;
	return (int)r.need;
}

const char *http_reason_phrase(int status)
{
	/* RFC 9110 §15 (413 was "Payload Too Large" before it), 431 RFC 6585 §5. */
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
		{ 100, "Continue" },
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 201, "Created" },
		{ 202, "Accepted" },
		{ 204, "No Content" },
		{ 301, "Moved Permanently" },
		{ 304, "Not Modified" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 409, "Conflict" },
		{ 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 417, "Expectation Failed" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "";
}

/* An output cursor that counts everything but writes only what fits. */
struct http_out {
	char *buf;
	size_t cap;
	size_t len;
};

static void http_out_put(struct http_out *o, const char *s, size_t n)
{
	if (o->len <= o->cap && n <= o->cap - o->len && n)
		memcpy(o->buf + o->len, s, n);
	if (__builtin_add_overflow(o->len, n, &o->len))
		o->len = SIZE_MAX;
}

static void http_out_str(struct http_out *o, const char *s)
{
	http_out_put(o, s, strlen(s));
}

int http_format_response(char *out, size_t cap, int status,
			 const char *content_type, const char *body,
			 size_t body_len, bool keep_alive)
{
	struct http_out o = { .buf = out, .cap = out ? cap : 0, .len = 0 };
	/* 1xx, 204 and 304 never have content (RFC 9110 §6.4.1). */
	bool no_content = status < 200 || status == 204 || status == 304;
	char num[32];

	if (status < 100 || status > 599 || (body_len && !body))
		return -EINVAL;
	if (no_content && body_len)
		return -EINVAL;
	if (content_type) {
		/* no CTLs: a CR or LF here would inject header lines */
		for (const char *c = content_type; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return -EINVAL;
	}

	snprintf(num, sizeof(num), "%d ", status);
	http_out_str(&o, "HTTP/1.1 ");
	http_out_str(&o, num);
	http_out_str(&o, http_reason_phrase(status));
	http_out_str(&o, "\r\n");
	if (status >= 200) {
		http_out_str(&o, "Server: ember\r\n");
		http_out_str(&o, keep_alive ? "Connection: keep-alive\r\n"
					    : "Connection: close\r\n");
	}
	if (!no_content) {
		if (content_type) {
			http_out_str(&o, "Content-Type: ");
			http_out_str(&o, content_type);
			http_out_str(&o, "\r\n");
		}
		/* RFC 9110 §8.6: never in 1xx/204, always here, 0 included. */
		snprintf(num, sizeof(num), "%zu", body_len);
		http_out_str(&o, "Content-Length: ");
		http_out_str(&o, num);
		http_out_str(&o, "\r\n");
	}
	http_out_str(&o, "\r\n");
	http_out_put(&o, body, body_len);

	if (o.len > o.cap)
		return -ENOSPC;
	if (o.len > INT_MAX)
		return -EOVERFLOW;
	if (o.len < o.cap)
		out[o.len] = '\0';
	return (int)o.len;
}

/* http_utf8_len: length of the valid UTF-8 sequence at s (RFC 3629 §4), 0 if none. */
static size_t http_utf8_len(const unsigned char *s, size_t n)
{
	size_t need;
	uint32_t cp, min;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates and values past U+10FFFF are invalid */
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

size_t http_json_escape_len(char *out, size_t cap, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t written = 0, total = 0;
	bool full = false;

	for (size_t i = 0; i < len;) {
		char esc[8];
		const char *piece = esc;
		size_t n = 2, seq = http_utf8_len(u + i, len - i);

		esc[0] = '\\';
		if (seq == 0) {
			piece = "\\ufffd";  /* U+FFFD REPLACEMENT CHARACTER */
			n = 6;
			seq = 1;
		} else if (u[i] == '"' || u[i] == '\\') {
			esc[1] = (char)u[i];
		} else if (u[i] == '\n') {
			esc[1] = 'n';
		} else if (u[i] == '\r') {
			esc[1] = 'r';
		} else if (u[i] == '\t') {
			esc[1] = 't';
		} else if (u[i] == '\b') {
			esc[1] = 'b';
		} else if (u[i] == '\f') {
			esc[1] = 'f';
		} else if (u[i] < 0x20) {
			/* RFC 8259 §7: other controls as \u00XX */
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			n = 6;
		} else {
			piece = s + i;
			n = seq;
		}
		/* Whole pieces only, so a truncated output never ends mid-escape. */
		if (!full && cap > 0 && n <= cap - 1 - written) {
			memcpy(out + written, piece, n);
			written += n;
		} else {
			full = true;
		}
		total += n;
		i += seq;
	}
	if (cap > 0)
		out[written] = '\0';
	return total;
}

size_t http_json_escape(char *out, size_t cap, const char *s)
{
	return http_json_escape_len(out, cap, s, s ? strlen(s) : 0);
}
