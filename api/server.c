/* server.c: the API thread: accept, read, parse and route requests, answer in order. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "response.h"

#define API_OUT_MAX   (API_RESP_BODY_MAX + 512)
#define API_EV_LISTEN (API_MAX_CONNS + 1)
#define API_EV_STOP   (API_MAX_CONNS + 2)

struct api_conn {
	int fd;
	char *in;             /* HTTP_MAX_HEADER_BYTES + max_body bytes */
	size_t in_len;
	char *out;            /* small, or a malloc'd block for an answer too big for it */
	size_t out_len, out_off;
	char small[API_OUT_MAX];
	int close_after;      /* close once out is flushed */
	int sent_continue;    /* "100 Continue" sent for the request being read */
	int want_out;         /* EPOLLOUT registered */
	uint64_t last_ms;     /* last byte in or out (CLOCK_MONOTONIC) */
	uint64_t req_ms;      /* first byte of the request still being read; 0: none */
};

static uint64_t api_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* api_fail: "<what> <path>: <strerror(n)>" in @e; returns -@n. */
static int api_fail(struct err *e, int n, const char *what, const char *path)
{
	return err_set(e, -n, "%s %s: %s", what, path, strerror(n));
}

/* A socket file nobody accepts on is left over from a dead process. */
static int api_socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), live;

	if (fd < 0)
		return 0;
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return live;
}

int api_server_init(struct api_server *s, const char *path, size_t max_body,
		    const struct api_table *table, void *opaque, struct err *e)
{
	struct sockaddr_un addr;
	struct epoll_event ev;
	struct stat st;
	int r;

	memset(s, 0, sizeof(*s));
	s->listen_fd = s->epfd = s->stop_efd = s->req_efd = -1;
	s->max_body = max_body;
	s->table = table;
	s->served = api_table_served(table);
	s->opaque = opaque;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		return err_set(e, -ENAMETOOLONG, "API socket path is longer than %zu bytes: %s",
			       sizeof(addr.sun_path) - 1, path);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	snprintf(s->sock_path, sizeof(s->sock_path), "%s", path);

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(e, -EEXIST, "API socket path %s exists and is not a socket",
				       path);
		if (api_socket_is_live(&addr))
			return err_set(e, -EADDRINUSE, "API socket %s is in use by another process",
				       path);
		if (unlink(path) < 0)
			return api_fail(e, errno, "Cannot remove stale API socket", path);
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return api_fail(e, errno, "Cannot create API socket", path);
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return api_fail(e, errno, "Cannot bind API socket", path);
	if (listen(s->listen_fd, 128) < 0)
		return api_fail(e, errno, "Cannot listen on API socket", path);

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->stop_efd < 0 || s->req_efd < 0)
		return api_fail(e, errno, "Cannot create API event fds for", path);
	if ((r = pthread_mutex_init(&s->lock, NULL)) || (r = pthread_cond_init(&s->cond, NULL)))
		return api_fail(e, r, "Cannot create API mailbox for", path);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = API_EV_LISTEN;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		return api_fail(e, errno, "Cannot watch API socket", path);
	ev.data.u32 = API_EV_STOP;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_efd, &ev) < 0)
		return api_fail(e, errno, "Cannot watch API stop event for", path);
	return 0;
}

/* Hand one request to the VMM thread and wait for its answer (in order, one at a time). */
static void api_dispatch(struct api_server *s, struct api_request *req, struct api_response *resp)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		api_fault(resp, 503, "The microVM is shutting down.");
		return;
	}
	s->pending = req;
	s->resp = resp;
	s->done = 0;
	pthread_mutex_unlock(&s->lock);
	if (write(s->req_efd, &one, sizeof(one)) != sizeof(one)) {
		api_fault(resp, 500, "The VMM did not take the request.");
		return;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->done)
		pthread_cond_wait(&s->cond, &s->lock);
	s->pending = NULL;
	pthread_mutex_unlock(&s->lock);
}

void api_server_service(struct api_server *s)
{
	uint64_t n;

	if (read(s->req_efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->pending && !s->done) {
		struct api_request *req = s->pending;
		struct api_response *resp = s->resp;

		/* The API thread is blocked in api_dispatch(): req and resp are ours. */
		pthread_mutex_unlock(&s->lock);
		api_table_apply(s->table, s->opaque, req, resp);
		pthread_mutex_lock(&s->lock);
		s->done = 1;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

static void api_conn_close(struct api_server *s, int slot)
{
	struct api_conn *c = s->conns[slot];

	if (!c)
		return;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->out != c->small)
		free(c->out);
	free(c->in);
	free(c);
	s->conns[slot] = NULL;
}

static void api_accept(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), slot = -1;
		struct api_conn *c;
		struct epoll_event ev;

		if (fd < 0)
			return;
		for (int i = 0; i < API_MAX_CONNS; i++) {
			if (!s->conns[i]) {
				slot = i;
				break;
			}
		}
		if (slot < 0) {
			/*
			 * Every slot taken: the client quiet the longest makes room, so
			 * idle or stalled connections never lock a new client out.
			 */
			slot = 0;
			for (int i = 1; i < API_MAX_CONNS; i++)
				if (s->conns[i]->last_ms < s->conns[slot]->last_ms)
					slot = i;
			LOG_RATELIMITED(LOG_LEVEL_WARN,
					"API: all %d connections in use; closing the one quiet longest",
					API_MAX_CONNS);
			api_conn_close(s, slot);
		}
		c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
		if (c)
			c->in = malloc(HTTP_MAX_HEADER_BYTES + s->max_body);
		if (!c || !c->in) {
			LOG_RATELIMITED(LOG_LEVEL_WARN, "API: too many connections, refusing one");
			if (c)
				free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->out = c->small;
		c->last_ms = api_now_ms();
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.u32 = (uint32_t)slot;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		s->conns[slot] = c;
	}
}

static void api_queue(struct api_conn *c, const char *buf, size_t len)
{
	if (c->out != c->small || len > sizeof(c->small) - c->out_len) {
		c->close_after = 1;   /* cannot happen: responses are bounded */
		return;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

/* A large body goes out of its own block: nothing else is queued while it is sent. */
static void api_queue_big(struct api_conn *c, struct api_response *resp, int keep_alive)
{
	size_t cap = resp->len + 512;
	char *buf = c->out_len == 0 ? malloc(cap) : NULL;
	int n = buf ? http_format_response(buf, cap, resp->status, "application/json", resp->big,
					   resp->len, keep_alive) : -1;

	free(resp->big);
	resp->big = NULL;
	if (n < 0) {
		free(buf);
		c->close_after = 1;
		return;
	}
	c->out = buf;
	c->out_len = (size_t)n;
	c->out_off = 0;
}

static void api_queue_response(struct api_conn *c, struct api_response *resp, int keep_alive)
{
	char buf[API_OUT_MAX];
	int n;

	if (resp->big && resp->status != 204) {
		api_queue_big(c, resp, keep_alive);
		return;
	}
	free(resp->big);
	resp->big = NULL;
	if (resp->status == 204)
		n = http_format_response(buf, sizeof(buf), 204, NULL, NULL, 0, keep_alive);
	else
		n = http_format_response(buf, sizeof(buf), resp->status, "application/json",
					 resp->body, resp->len, keep_alive);
	if (n < 0) {
		c->close_after = 1;
		return;
	}
	api_queue(c, buf, (size_t)n);
}

/* 400 {"error": "..."} for a request we could not even parse; the connection then closes. */
static void api_queue_http_error(struct api_server *s, struct api_conn *c, const char *msg)
{
	struct api_response *resp = &s->answer;
	size_t n;

	n = (size_t)snprintf(resp->body, sizeof(resp->body), "{\"error\":\"");
	/* http_json_escape returns the length needed; what it wrote is the string's length. */
	http_json_escape(resp->body + n, sizeof(resp->body) - n - 3, msg);
	n += strlen(resp->body + n);
	memcpy(resp->body + n, "\"}", 3);
	resp->len = n + 2;
	resp->status = 400;
	api_queue_response(c, resp, 0);
	c->close_after = 1;
}

/* Route, parse and apply one complete request; queue its answer. */
static void api_handle_one(struct api_server *s, struct api_conn *c, const struct http_request *hr)
{
	struct api_request *req = &s->req;
	struct api_response *resp = &s->answer;
	const struct api_op *op = NULL;
	struct route rt;
	struct err e = { { 0 } };
	char fault[ROUTE_FAULT_MAX];
	int r;

	LOG_INFO("The API server received a %.*s request on \"%.*s\".", (int)hr->method_len,
		 hr->method_name, (int)(hr->path_len > 256 ? 256 : hr->path_len), hr->path);
	resp->status = 0;
	resp->len = 0;
	resp->big = NULL;
	r = route_match(hr->method, hr->path, hr->path_len, hr->body_len > 0, s->served, &rt);
	if (r == 0 && rt.error == ROUTE_OK) {
		op = api_table_find(s->table, rt.endpoint, rt.method);
		/* A served endpoint without a row for this method: not served either. */
		if (!op)
			rt.error = ROUTE_ERR_NOT_SUPPORTED;
	}
	if (rt.error != ROUTE_OK) {
		if (route_fault_message(&rt, hr->method_name, hr->method_len, fault, sizeof(fault)) < 0)
			snprintf(fault, sizeof(fault), "Invalid request.");
		api_fault(resp, 400, fault);
	} else if (r < 0) {
		api_fault(resp, 400, "Invalid request.");
	} else if (api_request_parse(req, op, &rt, hr, &e) < 0) {
		api_fault(resp, 400, e.msg);
		api_request_free(req);
	} else {
		api_dispatch(s, req, resp);
		api_request_free(req);
	}
	api_queue_response(c, resp, hr->keep_alive);
	if (!hr->keep_alive)
		c->close_after = 1;
}

/* Parse and answer what the connection sent, while its answers are flushed. */
static void api_process(struct api_server *s, struct api_conn *c)
{
	while (!c->close_after && c->out_len == 0 && c->in_len > 0) {
		struct http_request hr;
		struct http_error he;
		int r = http_parse_request(c->in, c->in_len, s->max_body, &hr, &he);

		if (r == 0) {
			if (hr.header_len && hr.expect_continue && !c->sent_continue) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				api_queue(c, cont, sizeof(cont) - 1);
				c->sent_continue = 1;
			}
			return;
		}
		if (r < 0) {
			LOG_RATELIMITED(LOG_LEVEL_WARN, "API: malformed request: %s", he.msg);
			api_queue_http_error(s, c, he.msg);
			c->in_len = 0;
			return;
		}
		api_handle_one(s, c, &hr);
		memmove(c->in, c->in + r, c->in_len - (size_t)r);
		c->in_len -= (size_t)r;
		c->sent_continue = 0;
	}
}

/* Write what is queued; returns -1 if the connection must be closed now. */
static int api_flush(struct api_server *s, int slot)
{
	struct api_conn *c = s->conns[slot];
	struct epoll_event ev;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		if (c->out != c->small)
			free(c->out);
		c->out = c->small;
		c->out_off = c->out_len = 0;
		if (c->close_after)
			return -1;
	}
	/* Wait for room only while something is pending; stop reading meanwhile. */
	int want = c->out_len > 0;
	if (want != c->want_out) {
		memset(&ev, 0, sizeof(ev));
		ev.events = want ? EPOLLOUT : (EPOLLIN | EPOLLRDHUP);
		ev.data.u32 = (uint32_t)slot;
		epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want;
	}
	return 0;
}

static void api_conn_event(struct api_server *s, int slot, uint32_t events)
{
	struct api_conn *c = s->conns[slot];
	size_t cap = HTTP_MAX_HEADER_BYTES + s->max_body, got;
	uint64_t now = api_now_ms();
	int eof = 0;

	if (!c)
		return;
	c->last_ms = now;
	got = c->in_len;
	if (events & EPOLLIN) {
		while (c->in_len < cap) {
			ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				if (errno != EAGAIN)
					eof = 1;
				break;
			}
			if (n == 0) {
				eof = 1;
				break;
			}
			c->in_len += (size_t)n;
		}
	}
	if (events & (EPOLLERR | EPOLLHUP))
		eof = 1;
	/* Answer what arrived, even from a client that already half-closed. */
	for (;;) {
		size_t before = c->in_len;

		api_process(s, c);
		if (api_flush(s, slot) < 0) {
			api_conn_close(s, slot);
			return;
		}
		if (c->out_len || c->in_len == before || c->close_after)
			break;
	}
	if (eof && c->out_len == 0) {
		api_conn_close(s, slot);
		return;
	}
	/* The request deadline runs from the first byte of the request still incomplete. */
	if (c->in_len == 0)
		c->req_ms = 0;
	else if (!c->req_ms || c->in_len < got)
		c->req_ms = now;
}

/*
 * Close connections whose request has not arrived whole within
 * API_REQUEST_TIMEOUT_MS (a slow or stalled client); returns the epoll
 * timeout until the next such deadline, -1 if none.
 */
static int api_expire(struct api_server *s)
{
	uint64_t now = api_now_ms(), next = UINT64_MAX;

	for (int i = 0; i < API_MAX_CONNS; i++) {
		struct api_conn *c = s->conns[i];
		uint64_t end;

		if (!c || !c->req_ms)
			continue;
		end = c->req_ms + API_REQUEST_TIMEOUT_MS;
		if (end <= now) {
			LOG_RATELIMITED(LOG_LEVEL_WARN,
					"API: a request did not arrive whole within %d ms; closing its connection",
					API_REQUEST_TIMEOUT_MS);
			api_conn_close(s, i);
		} else if (end < next) {
			next = end;
		}
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static void *api_thread(void *arg)
{
	struct api_server *s = arg;
	struct epoll_event ev[32];

	log_set_thread_name("fc_api");
	if (s->thread_init && s->thread_init(s->opaque))
		return NULL;
	for (;;) {
		int n = epoll_wait(s->epfd, ev, 32, api_expire(s));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			LOG_ERROR("API: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = ev[i].data.u32;

			if (tag == API_EV_STOP)
				return NULL;
			if (tag == API_EV_LISTEN)
				api_accept(s);
			else if (tag < API_MAX_CONNS)
				api_conn_event(s, (int)tag, ev[i].events);
		}
	}
}

int api_server_start(struct api_server *s)
{
	int r = pthread_create(&s->thread, NULL, api_thread, s);

	if (r)
		return -r;
	s->started = 1;
	return 0;
}

void api_server_stop(struct api_server *s)
{
	uint64_t one = 1;

	if (s->started) {
		/* The thread may wait for the VMM: answer it so it can see the stop. */
		pthread_mutex_lock(&s->lock);
		s->stopping = 1;
		if (s->pending && !s->done) {
			api_fault(s->resp, 503, "The microVM is shutting down.");
			s->done = 1;
			pthread_cond_broadcast(&s->cond);
		}
		pthread_mutex_unlock(&s->lock);
		if (write(s->stop_efd, &one, sizeof(one)) == sizeof(one))
			pthread_join(s->thread, NULL);
		s->started = 0;
	}
	for (int i = 0; i < API_MAX_CONNS; i++)
		api_conn_close(s, i);
	/* > 0: a zeroed server (API never started) holds no descriptor; fd 0 is stdin. */
	/*
	 * The socket file stays: the VMM thread's seccomp list has no unlink,
	 * and the next ember on this path replaces a stale socket anyway.
	 */
	if (s->listen_fd > 0)
		close(s->listen_fd);
	if (s->epfd > 0)
		close(s->epfd);
	if (s->stop_efd > 0)
		close(s->stop_efd);
	if (s->req_efd > 0)
		close(s->req_efd);
	s->listen_fd = s->epfd = s->stop_efd = s->req_efd = -1;
}
