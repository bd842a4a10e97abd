/* loop.c: a small level-triggered epoll dispatcher. */
#include "event/loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

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
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev;
	int slot = -1;

	for (int i = 0; i < EVLOOP_MAX_HANDLERS; i++) {
		if (!l->h[i].used) {
			slot = i;
			break;
		}
	}
	if (slot < 0)
		return -ENOSPC;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u32 = (uint32_t)slot;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->h[slot] = (struct evloop_handler){ fd, fn, opaque, 1 };
	return 0;
}

int evloop_del(struct evloop *l, int fd)
{
	for (int i = 0; i < EVLOOP_MAX_HANDLERS; i++) {
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
			struct evloop_handler *h = &l->h[ev[i].data.u32];

			/* A callback earlier in this batch may have removed this one. */
			if (h->used)
				h->fn(h->opaque, ev[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *l)
{
	l->stop = 1;
}
