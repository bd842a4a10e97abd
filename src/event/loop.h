/* loop.h: the epoll event loop that runs ember's device I/O on one thread. */
#ifndef EMBER_EVENT_LOOP_H
#define EMBER_EVENT_LOOP_H

#include <stdint.h>

/*
 * Most fds one loop watches. The handler table starts small and doubles on
 * demand up to this (vsock alone may watch 1023 connections and a listener).
 */
#define EVLOOP_MAX_HANDLERS 8192

/* A callback for readiness @events (EPOLLIN, ...) on its fd. */
typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop_handler {
	int fd;
	evloop_fn fn;
	void *opaque;
	int used;
	uint32_t gen;             /* bumped on every add: stale events of a reused slot are dropped */
};

struct evloop {
	int epfd;                 /* -1 when closed */
	int stop;
	struct evloop_handler *h; /* growable table, cap entries */
	unsigned cap;
};

/* evloop_init: create the epoll instance; 0 or -errno. */
int evloop_init(struct evloop *l);

/* evloop_destroy: close the epoll fd (not the watched fds), free the table; safe on a zeroed object. */
void evloop_destroy(struct evloop *l);

/*
 * evloop_add: watch @fd for @events (level-triggered); 0 or -errno (-ENOSPC
 * beyond EVLOOP_MAX_HANDLERS). Loop thread or before it runs.
 */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque);

/* evloop_del: stop watching @fd; 0 or -ENOENT. Loop thread (a callback may remove itself). */
int evloop_del(struct evloop *l, int fd);

/* evloop_run: dispatch events until evloop_stop(); 0 or -errno on an epoll failure. */
int evloop_run(struct evloop *l);

/* evloop_stop: make evloop_run() return after the current dispatch. Loop thread. */
void evloop_stop(struct evloop *l);

#endif
