/* http.c: parse the guest's HTTP/1.x requests to MMDS and format the answers. */
#include "mmds/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* mh_line: the line at @p (up to @end), its length without CR LF; NULL when unterminated. */
static const char *mh_line(const char *p, const char *end, size_t *n)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	if (!nl)
		return NULL;
	*n = (size_t)(nl - p);
	if (*n && p[*n - 1] == '\r')
		(*n)--;
	return nl + 1;
}

static bool mh_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* mh_exact: whether @s (@n bytes) is @lit, case included (methods, versions). */
static bool mh_exact(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* mh_contains: whether @s (@n bytes) contains @lit, case-insensitively. */
static bool mh_contains(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	for (size_t i = 0; l <= n && i <= n - l; i++)
		if (strncasecmp(s + i, lit, l) == 0)
			return true;
	return false;
}

static int mh_fail(const char **why, int rc, const char *msg)
{
	*why = msg;
	return rc;
}

/* mh_request_line: method, target and version of the request line @s (@n bytes). */
static int mh_request_line(const char *s, size_t n, struct mmds_http_req *out, const char **why)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *t, *q;
	size_t tn;

	if (!sp1)
		return mh_fail(why, -EINVAL, "Invalid request line.");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(s + n - sp1 - 1));
	if (!sp2 || memchr(sp2 + 1, ' ', (size_t)(s + n - sp2 - 1)))
		return mh_fail(why, -EINVAL, "Invalid request line.");
	if (mh_exact(s, (size_t)(sp1 - s), "GET"))
		out->method = MMDS_GET;
	else if (mh_exact(s, (size_t)(sp1 - s), "PUT"))
		out->method = MMDS_PUT;
	else if (sp1 > s)
		out->method = MMDS_OTHER;
	else
		return mh_fail(why, -EINVAL, "Invalid request line.");
	if (mh_exact(sp2 + 1, (size_t)(s + n - sp2 - 1), "HTTP/1.1"))
		out->minor = 1;
	else if (mh_exact(sp2 + 1, (size_t)(s + n - sp2 - 1), "HTTP/1.0"))
		out->minor = 0;
	else
		return mh_fail(why, -EINVAL, "Unsupported HTTP version.");
	t = sp1 + 1;
	tn = (size_t)(sp2 - t);
	/* Absolute form: "http://host[:port]/path" has the path after the host. */
	if (tn >= 7 && strncasecmp(t, "http://", 7) == 0) {
		const char *slash = memchr(t + 7, '/', tn - 7);

		tn = slash ? (size_t)(t + tn - slash) : 0;
		t = slash ? slash : sp2;
	} else if (tn == 0 || t[0] != '/') {
		return mh_fail(why, -EINVAL, "Invalid URI.");
	}
	q = memchr(t, '?', tn);
	if (q)
		tn = (size_t)(q - t);
	q = memchr(t, '#', tn);
	if (q)
		tn = (size_t)(q - t);
	if (tn > MMDS_HTTP_PATH_MAX)
		return mh_fail(why, -EINVAL, "Invalid URI.");
	for (size_t i = 0; i < tn; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return mh_fail(why, -EINVAL, "Invalid URI.");
	out->path = t;
	out->path_len = tn;
	return 0;
}

/* mh_trim: strip spaces and tabs around [*s, *s + *n). */
static void mh_trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

int mmds_http_parse(const char *buf, size_t len, struct mmds_http_req *out, const char **why)
{
	const char *end = buf + len, *p = buf, *next;
	bool close = false, keep = false, have_cl = false;
	uint64_t clen = 0;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	/* Empty lines before a request are ignored (RFC 9112 section 2.2). */
	while (p < end && (*p == '\r' || *p == '\n') && p - buf < 4)
		p++;
	next = mh_line(p, end, &n);
	if (!next)
		return len > MMDS_HTTP_MAX ? mh_fail(why, -EMSGSIZE, "Request too long.") : 0;
	if ((size_t)(next - buf) > MMDS_HTTP_MAX)
		return mh_fail(why, -EMSGSIZE, "Request too long.");
	if ((r = mh_request_line(p, n, out, why)))
		return r;
	for (p = next;;) {
		const char *line = p, *colon, *name, *v;
		size_t nn, vn;

		next = mh_line(p, end, &n);
		if (!next)
			return len > MMDS_HTTP_MAX ? mh_fail(why, -EMSGSIZE, "Request too long.") : 0;
		if ((size_t)(next - buf) > MMDS_HTTP_MAX)
			return mh_fail(why, -EMSGSIZE, "Request too long.");
		p = next;
		if (n == 0)
			break;              /* the empty line: headers end */
		colon = memchr(line, ':', n);
		if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
			return mh_fail(why, -EINVAL, "Invalid header.");
		{
			name = line;
			nn = (size_t)(colon - name);

			v = colon + 1;
			vn = n - nn - 1;
			mh_trim(&v, &vn);
			if (mh_is(name, nn, "Accept")) {
				out->accept_json = mh_contains(v, vn, "application/json");
			} else if (mh_is(name, nn, "Connection")) {
				close |= mh_contains(v, vn, "close");
				keep |= mh_contains(v, vn, "keep-alive");
			} else if (mh_is(name, nn, "X-metadata-token")) {
				out->token = v;
				out->token_len = vn;
			} else if (mh_is(name, nn, "X-metadata-token-ttl-seconds")) {
				out->ttl = v;
				out->ttl_len = vn;
			} else if (mh_is(name, nn, "X-Forwarded-For")) {
				out->forwarded = true;
			} else if (mh_is(name, nn, "Transfer-Encoding")) {
				return mh_fail(why, -EINVAL, "Transfer-Encoding is not supported.");
			} else if (mh_is(name, nn, "Content-Length")) {
				if (have_cl || vn == 0 || vn > 6)
					return mh_fail(why, -EINVAL, "Invalid Content-Length.");
				for (size_t i = 0; i < vn; i++) {
					if (v[i] < '0' || v[i] > '9')
						return mh_fail(why, -EINVAL, "Invalid Content-Length.");
					clen = clen * 10 + (uint64_t)(v[i] - '0');
				}
				have_cl = true;
			}
		}
	}
	n = (size_t)(p - buf);
	if (clen > MMDS_HTTP_MAX || n + clen > MMDS_HTTP_MAX)
		return mh_fail(why, -EMSGSIZE, "Request too long.");
	if (len - n < clen)
		return 0;
	out->keep_alive = out->minor == 1 ? !close : keep && !close;
	return (int)(n + clen);
}

static const char *mh_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 501: return "Not Implemented";
	default: return "Internal Server Error";
	}
}

int mmds_http_response(char *out, size_t cap, int status, bool keep_alive, const char *ctype,
		       const char *allow, const char *body, size_t body_len)
{
	int n = snprintf(out, cap,
			 "HTTP/1.1 %d %s\r\nServer: ember\r\nConnection: %s\r\n%s%s%s%s%s%s"
			 "Content-Length: %zu\r\n\r\n",
			 status, mh_reason(status), keep_alive ? "keep-alive" : "close",
			 ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
			 allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "", body_len);

	if (n < 0 || (size_t)n >= cap || body_len > cap - (size_t)n)
		return -ENOSPC;
	memcpy(out + n, body, body_len);
	return n + (int)body_len;
}
