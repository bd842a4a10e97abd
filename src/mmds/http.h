/* http.h: the guest side of MMDS: HTTP/1.x requests as the guest sends them, parsed from bytes. */
#ifndef EMBER_MMDS_HTTP_H
#define EMBER_MMDS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* A request (headers and body) longer than this is refused: MMDS requests are a few lines. */
#define MMDS_HTTP_MAX        4096
#define MMDS_HTTP_PATH_MAX   1024

enum mmds_method { MMDS_GET, MMDS_PUT, MMDS_OTHER };

/* A parsed request; the strings point into the bytes given to mmds_http_parse(). */
struct mmds_http_req {
	enum mmds_method method;
	int minor;                     /* HTTP/1.<minor>: 0 or 1 */
	const char *path;              /* the absolute path, query removed; "" for "http://host" */
	size_t path_len;
	bool accept_json;              /* Accept names application/json */
	bool keep_alive;               /* the connection stays open after the answer */
	bool forwarded;                /* an X-Forwarded-For header */
	const char *token;             /* X-metadata-token, NULL when absent */
	size_t token_len;
	const char *ttl;               /* X-metadata-token-ttl-seconds, NULL when absent */
	size_t ttl_len;
};

/*
 * mmds_http_parse: the first request in @buf (@len bytes). Returns the bytes
 * it takes (headers and Content-Length body) with @out filled; 0 when more
 * bytes are needed; -EINVAL for a malformed request and -EMSGSIZE for one
 * longer than MMDS_HTTP_MAX (either way *@why says what, in words). Lines end
 * with CRLF or LF; header names are case-insensitive; a Transfer-Encoding is
 * refused. Pure: no allocation, reads only @buf[0..@len).
 */
int mmds_http_parse(const char *buf, size_t len, struct mmds_http_req *out, const char **why);

/*
 * mmds_http_response: an HTTP/1.1 response: status line, Server, Connection
 * (keep-alive or close), Content-Type (when @ctype is not NULL), Allow (when
 * @allow is not NULL), Content-Length, then @body. Its length, or -ENOSPC when
 * it does not fit @cap. Pure.
 */
int mmds_http_response(char *out, size_t cap, int status, bool keep_alive, const char *ctype,
		       const char *allow, const char *body, size_t body_len);

#endif
