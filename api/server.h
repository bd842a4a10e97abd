/* server.h: the API thread: Unix-socket HTTP/1.1 server feeding requests to the VMM thread. */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "route.h"

#define API_MAX_CONNS      256
/* A request (headers and body) must arrive whole within this, from its first byte. */
#define API_REQUEST_TIMEOUT_MS 10000
#define API_RESP_BODY_MAX  (64 * 1024)

/*
 * A routed request with its body parsed on the API thread, so the VMM thread
 * only applies it. Exactly one of the parsed sections is meaningful, chosen
 * by route.endpoint and route.method.
 */
struct api_request {
	enum route_endpoint endpoint;
	enum http_method method;
	char id[ROUTE_ID_MAX + 1];
	char path[128];                 /* for the log line, truncated */
	const char *body;               /* raw body (PATCH /machine-config) */
	size_t body_len;
	struct boot_source_cfg boot;
	struct machine_cfg machine;
	struct drive_cfg drive;
	struct drive_patch drive_patch;
	struct net_cfg net;
	struct net_patch net_patch;
	struct vsock_cfg vsock;
	struct logger_cfg logger;
	struct metrics_cfg metrics;
	struct serial_cfg serial;
	enum vm_action action;
	enum vm_state_req vm_state;
};

/* The VMM's answer: a status and, unless 204, a JSON body. */
struct api_response {
	int status;
	size_t len;
	char body[API_RESP_BODY_MAX];
};

/* Called on the VMM thread for each request, in arrival order. */
typedef void (*api_handler_fn)(void *opaque, struct api_request *req, struct api_response *resp);

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

	api_handler_fn handle;
	void *opaque;
	pthread_mutex_t lock;         /* the one-request mailbox below */
	pthread_cond_t cond;
	struct api_request *pending;
	struct api_response *resp;
	int done;
	int stopping;                 /* no more requests reach the VMM */

	struct api_conn *conns[API_MAX_CONNS];
};

/*
 * api_server_init: bind and listen on @path. A stale socket file (nobody
 * accepts on it) is replaced; a live one is an error, as is any other file.
 * Returns 0 or -errno with @err set. Main thread, before api_server_start().
 */
int api_server_init(struct api_server *s, const char *path, size_t max_body,
		    api_handler_fn handle, void *opaque, char *err, size_t errlen);

/* api_server_start: start the API thread. 0 or -errno. */
int api_server_start(struct api_server *s);

/*
 * api_server_service: run the waiting request, if any, through the handler
 * and hand the answer back. VMM thread, when req_efd is readable.
 */
void api_server_service(struct api_server *s);

/* api_server_stop: stop the thread, close every connection and the listener; safe on a zeroed server. */
void api_server_stop(struct api_server *s);

#endif
