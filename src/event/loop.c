/* loop.c: a small level-triggered epoll dispatcher with a growable handler table. */
#include "event/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVLOOP_INITIAL_HANDLERS 64

int evloop_init(struct evloop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void evloop_destroy(struct evloop *l)
{
	if (l->epfd > 0)
		close(l->epfd);
	l->epfd = -1;
	free(l->h);
	l->h = NULL;
	l->cap = 0;
}

/* Double the table (new slots zeroed: unused, generation 0). */
static int evloop_grow(struct evloop *l)
{
	unsigned ncap = l->cap ? l->cap * 2 : EVLOOP_INITIAL_HANDLERS;
	struct evloop_handler *nh;

	if (ncap > EVLOOP_MAX_HANDLERS)
		ncap = EVLOOP_MAX_HANDLERS;
	if (ncap <= l->cap)
		return -ENOSPC;
	nh = realloc(l->h, ncap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	memset(nh + l->cap, 0, (ncap - l->cap) * sizeof(*nh));
	l->h = nh;
	l->cap = ncap;
	return 0;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev;
	unsigned slot = l->cap;
	uint32_t gen;
	int r;

	for (unsigned i = 0; i < l->cap; i++) {
		if (!l->h[i].used) {
			slot = i;
			break;
		}
	}
	if (slot == l->cap && (r = evloop_grow(l)))
		return r;
	/*
	 * The event carries slot and generation: an event for a handler removed
	 * earlier in the same batch never reaches a new handler in that slot.
	 */
	gen = l->h[slot].gen + 1;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = (uint64_t)gen << 32 | slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->h[slot] = (struct evloop_handler){ fd, fn, opaque, 1, gen };
	return 0;
}

int evloop_del(struct evloop *l, int fd)
{
	for (unsigned i = 0; i < l->cap; i++) {
		if (l->h[i].used && l->h[i].fd == fd) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			l->h[i].used = 0;
			return 0;
		}
	}
	return -ENOENT;
}

int evloop_run(struct evloop *l)
{
	struct epoll_event ev[16];

	while (!l->stop) {
		int n = epoll_wait(l->epfd, ev, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			uint32_t slot = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);
			struct evloop_handler *h;

			if (slot >= l->cap)
				continue;
			/* A callback earlier in this batch may have removed (or replaced) this one. */
			h = &l->h[slot];
			if (h->used && h->gen == gen)
				h->fn(h->opaque, ev[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *l)
{
	l->stop = 1;
}
