/* http.h: ember's pure HTTP/1.1 request parser and response formatter (RFC 9112, no syscalls). */
#ifndef EMBER_API_HTTP_H
#define EMBER_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Limits. The header section (leading empty lines, request line, field lines
 * and the empty line that ends them) never exceeds HTTP_MAX_HEADER_BYTES, so a
 * connection buffer of HTTP_MAX_HEADER_BYTES + max_body bytes always suffices
 * for one request; past a limit the parser fails instead of asking for more.
 */
#define HTTP_MAX_REQUEST_LINE 4096   /* request line, its terminator included */
#define HTTP_MAX_HEADER_BYTES 8192   /* whole header section */
#define HTTP_MAX_HEADERS      64     /* field lines per request */
#define HTTP_DEFAULT_MAX_BODY 51200  /* Firecracker's --http-api-max-payload-size default */
#define HTTP_ERROR_MSG_MAX    160

/*
 * The methods the API routes. Any other syntactically valid method (a token,
 * RFC 9110 §9.1, case-sensitive) parses as HTTP_METHOD_OTHER with its name in
 * http_request.method_name, so the router can answer "Invalid request method
 * and/or path: DELETE ..." the way Firecracker does.
 */
enum http_method {
	HTTP_METHOD_OTHER = 0,
	HTTP_METHOD_GET,
	HTTP_METHOD_PUT,
	HTTP_METHOD_PATCH,
};

/*
 * One parsed request. Every pointer points into the caller's buffer (except
 * path for an absolute-form target without a path, which is the static "/"),
 * so the request is valid only as long as the buffer is unchanged.
 */
struct http_request {
	enum http_method method;
	const char *method_name;  /* the method token as received */
	size_t method_len;
	const char *path;         /* absolute path, starts with '/', query removed */
	size_t path_len;
	const char *query;        /* after '?', NULL when the target has no '?' */
	size_t query_len;
	int version_minor;        /* HTTP/1.<minor>: 0 or 1 (1.x above 1 reads as 1) */
	const char *body;         /* Content-Length bytes, NULL when body_len == 0 */
	size_t body_len;
	bool has_content_length;
	bool keep_alive;          /* the connection persists after the response (RFC 9112 §9.3) */
	bool expect_continue;     /* "Expect: 100-continue" on an HTTP/1.1 request */
	size_t header_len;        /* bytes of the header section, 0 until it is complete */
	size_t need;              /* header_len + body_len: total bytes the request takes */
};

/* Why a request was refused; the server answers 400 {"error": msg}. */
struct http_error {
	char msg[HTTP_ERROR_MSG_MAX];  /* NUL-terminated, plain ASCII, not JSON-escaped */
	bool close;                    /* the connection must be closed after the answer */
};

/*
 * http_parse_request: parse the first request in buf[0, len).
 *   @buf, @len:  bytes received on one connection and not yet consumed
 *   @max_body:   largest Content-Length accepted (--http-api-max-payload-size);
 *                values above INT_MAX - HTTP_MAX_HEADER_BYTES are clamped to it
 *   @req:        filled on return > 0; on return 0 zeroed, except that once the
 *                header section is complete (req->header_len != 0) every field
 *                but body is set: the caller may then answer "100 Continue" if
 *                req->expect_continue and need not call again before it holds
 *                req->need bytes
 *   @err:        filled on return < 0
 * Returns the number of bytes the request takes (header section + body: drop
 * them and call again for a pipelined next request), 0 when more bytes are
 * needed, or:
 *   -EBADMSG  malformed request (syntax, bare CR, obs-fold, bad Content-Length)
 *   -E2BIG    request line, header section or header count over its limit
 *   -EMSGSIZE Content-Length larger than @max_body (Firecracker answers 400)
 *   -ENOTSUP  Transfer-Encoding (chunked bodies) or an HTTP major version != 1
 *   -EINVAL   NULL @req/@err, or NULL @buf with @len != 0
 * On every error framing is lost, so err->close is true: answer and close.
 * The result for a prefix of the bytes is either 0 or the same as for the whole,
 * so calling again after each read is safe. Pure; any thread.
 *
 * Decisions (RFC 9112 unless noted):
 *   - a bare LF ends a line like CRLF (§2.2 MAY), for hand-typed requests; a
 *     bare CR anywhere in the header section is an error (§2.2)
 *   - empty lines before the request line are skipped (§2.2 SHOULD)
 *   - one SP between request-line parts, version "HTTP/1.0" or "HTTP/1.1" (§3)
 *   - targets: origin-form, and absolute-form "http://authority/path" (§3.2.2
 *     MUST); asterisk- and authority-form, '#', non-ASCII, CTLs and malformed
 *     %-escapes are refused; %-escapes are kept as received (not decoded)
 *   - field lines: no whitespace before ':' (§5.1 MUST), no obs-fold (§5.2),
 *     no CTL but HTAB in values (RFC 9110 §5.5); names case-insensitive
 *   - Content-Length: 1*DIGIT; a second Content-Length line is refused even
 *     when equal (RFC 9110 §8.6 allows this); no Content-Length means no body,
 *     also for PUT/PATCH (§6.3 rule 7) and the router then answers "Empty PUT
 *     request." as Firecracker does
 *   - any Transfer-Encoding is refused (chunked is not supported)
 *   - Connection: "close" wins; HTTP/1.1 persists by default, HTTP/1.0 only
 *     with "keep-alive" (§9.3); a HEAD request never persists, because the
 *     error the router gives it carries a body a HEAD client would not read
 *   - Expect: "100-continue" is reported for HTTP/1.1 (RFC 9110 §10.1.1 says
 *     an HTTP/1.0 one MUST be ignored); other expectations are ignored
 *   - Host is not required and not checked: on a Unix socket it names nothing,
 *     and Firecracker ignores it (a deviation from §3.2)
 */
int http_parse_request(const char *buf, size_t len, size_t max_body,
		       struct http_request *req, struct http_error *err);

/*
 * http_format_response: write a complete HTTP/1.1 response into out[0, cap).
 *   @status:       100..599; its reason phrase is the standard one (RFC 9110 §15)
 *   @content_type: "application/json" or NULL for none; no CR/LF allowed
 *   @body:         @body_len bytes (may be NULL when 0)
 *   @keep_alive:   "Connection: keep-alive" when true, else "Connection: close"
 * 1xx answers are the status line alone (for "100 Continue"); 204 and 1xx carry
 * no Content-Length and no body (RFC 9110 §8.6, §15.3.5) and a body for them is
 * -EINVAL; every other status gets Content-Length, 0 included.
 * Returns the response length (a NUL follows it when there is room), -ENOSPC
 * when it does not fit in @cap, -EINVAL on bad arguments. Pure; any thread.
 */
int http_format_response(char *out, size_t cap, int status,
			 const char *content_type, const char *body,
			 size_t body_len, bool keep_alive);

/* http_reason_phrase: the reason phrase of @status, "" when unknown. Pure. */
const char *http_reason_phrase(int status);

/*
 * http_json_escape / http_json_escape_len: escape @s (NUL-terminated, or @len
 * bytes) as the contents of a JSON string (RFC 8259 §7): '"', '\\' and control
 * characters are escaped, invalid UTF-8 becomes \ufffd, so the output is always
 * valid JSON text between two quotes. Writes at most @cap - 1 bytes plus a NUL
 * (nothing when @cap == 0), never a partial escape, and returns the length the
 * full escaped text needs, excluding the NUL: the output is complete only if
 * the return value is < @cap (as snprintf). Pure; any thread.
 */
size_t http_json_escape(char *out, size_t cap, const char *s);
size_t http_json_escape_len(char *out, size_t cap, const char *s, size_t len);

#endif
