/* server.h: the API thread: Unix-socket HTTP/1.1 server feeding requests to the VMM thread. */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "ops.h"
#include "route.h"

#define API_MAX_CONNS      256
/* A request (headers and body) must arrive whole within this, from its first byte. */
#define API_REQUEST_TIMEOUT_MS 10000
#define API_RESP_BODY_MAX  (64 * 1024)

/*
 * A routed request, its body parsed on the API thread by its row of the
 * action table (ops.h), so the VMM thread only applies it.
 */
struct api_request {
	enum route_endpoint endpoint;
	enum http_method method;
	char id[ROUTE_ID_MAX + 1];      /* the path's {id}, "" when none */
	char path[128];                 /* for the log line, truncated */
	const char *body;               /* the raw body, valid until answered */
	size_t body_len;
	const struct api_op *op;        /* the row of (endpoint, method) */
	void *arg;                      /* op->arg_size bytes op->parse filled; NULL if none */
};

/*
 * The VMM's answer: a status and, unless 204, a JSON body of @len bytes in
 * @body or, for one that does not fit there (GET /mmds of a large store), in
 * @big: malloc'd by the handler, freed by the server once queued.
 */
struct api_response {
	int status;
	size_t len;
	char *big;
	char body[API_RESP_BODY_MAX];
};

struct api_conn;

struct api_server {
	int listen_fd;                /* -1 when closed */
	int epfd;
	int stop_efd;                 /* VMM -> API thread: leave */
	int req_efd;                  /* API thread -> VMM: a request waits */
	char sock_path[108];
	size_t max_body;
	pthread_t thread;
	int started;
	/* Seccomp and the like, on the API thread before it serves; may be NULL. */
	int (*thread_init)(void *opaque);

	/* What the server serves, applied on the VMM thread to @opaque, in arrival order. */
	const struct api_table *table;
	uint64_t served;              /* api_table_served(table), for route_match() */
	void *opaque;
	pthread_mutex_t lock;         /* the one-request mailbox below */
	pthread_cond_t cond;
	struct api_request *pending;
	struct api_response *resp;
	int done;
	int stopping;                 /* no more requests reach the VMM */

	struct api_conn *conns[API_MAX_CONNS];
	/* API thread: the request being handled and its answer (or an HTTP error's). */
	struct api_request req;
	struct api_response answer;
};

/*
 * api_server_init: bind and listen on @path. A stale socket file (nobody
 * accepts on it) is replaced; a live one is an error, as is any other file.
 * The server serves exactly @table's rows (others: "<METHOD> <path> is not
 * supported by ember."), applied to @opaque; @table outlives the server.
 * Returns 0 or -errno with @e set. Main thread, before api_server_start().
 */
int api_server_init(struct api_server *s, const char *path, size_t max_body,
		    const struct api_table *table, void *opaque, struct err *e);

/* api_server_start: start the API thread. 0 or -errno. */
int api_server_start(struct api_server *s);

/*
 * api_server_service: run the waiting request, if any, through the table
 * (api_table_apply()) and hand the answer back. VMM thread, when req_efd is
 * readable.
 */
void api_server_service(struct api_server *s);

/* api_server_stop: stop the thread, close every connection and the listener; safe on a zeroed server. */
void api_server_stop(struct api_server *s);

#endif
