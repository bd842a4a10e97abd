/* vsock_table.c: ember's vsock connection table: lists, the hash by ports, stray RSTs, host ports, the timer, the grave. */
#include "devices/virtio/vsock_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "log.h"

uint64_t vsock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- intrusive lists and the connection hash ---- */

void vsock_list_add(struct vsock_list *l, struct vsock_conn *c, enum vsock_lists which)
{
	struct vsock_link *k = &c->link[which];

	if (k->on)
		return;
	k->prev = l->tail;
	k->next = NULL;
	if (l->tail)
		l->tail->link[which].next = c;
	else
		l->head = c;
	l->tail = c;
	k->on = true;
}

void vsock_list_del(struct vsock_list *l, struct vsock_conn *c, enum vsock_lists which)
{
	struct vsock_link *k = &c->link[which];

	if (!k->on)
		return;
	if (k->prev)
		k->prev->link[which].next = k->next;
	else
		l->head = k->next;
	if (k->next)
		k->next->link[which].prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
	k->on = false;
}

static unsigned vsock_bucket(uint32_t host_port, uint32_t guest_port)
{
	return ((host_port * 0x9e3779b1u) ^ guest_port) & (VSOCK_HASH_BUCKETS - 1);
}

struct vsock_conn *vsock_lookup(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_conn *c = d->hash[vsock_bucket(host_port, guest_port)];

	while (c && !(c->host_port == host_port && c->guest_port == guest_port))
		c = c->hnext;
	return c;
}

void vsock_hash_add(struct vsock_conn *c)
{
	struct vsock_conn **b = &c->d->hash[vsock_bucket(c->host_port, c->guest_port)];

	c->hnext = *b;
	*b = c;
	c->hashed = true;
}

void vsock_hash_del(struct vsock_conn *c)
{
	struct vsock_conn **p = &c->d->hash[vsock_bucket(c->host_port, c->guest_port)];

	if (!c->hashed)
		return;
	while (*p && *p != c)
		p = &(*p)->hnext;
	if (*p)
		*p = c->hnext;
	c->hnext = NULL;
	c->hashed = false;
}

/* ---- RSTs for packets that match no connection ---- */

void vsock_queue_rst(struct vsock_dev *d, uint32_t host_port, uint32_t guest_port)
{
	if (d->rst_len == VSOCK_RST_RING) {
		/* The guest is not taking rx buffers: an RST for a stray packet may go. */
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: RST queue full, dropping RST for %u -> %u",
				d->name, host_port, guest_port);
		return;
	}
	d->rst[(d->rst_head + d->rst_len) % VSOCK_RST_RING].host_port = host_port;
	d->rst[(d->rst_head + d->rst_len) % VSOCK_RST_RING].guest_port = guest_port;
	d->rst_len++;
}

/* ---- host ports ---- */

uint32_t vsock_alloc_port(struct vsock_dev *d)
{
	for (;;) {
		struct vsock_conn *c;

		d->last_host_port = vsock_port_next(d->last_host_port);
		for (c = d->all.head; c; c = c->link[VSOCK_L_ALL].next)
			if (c->hashed && c->host_port == d->last_host_port)
				break;
		if (!c)
			return d->last_host_port;
	}
}

/* ---- the timer ---- */

void vsock_arm_timer(struct vsock_dev *d)
{
	struct itimerspec its;

	if (d->timer_armed || d->timer_fd < 0)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = VSOCK_TICK_MS * 1000000L;
	its.it_interval.tv_nsec = VSOCK_TICK_MS * 1000000L;
	if (timerfd_settime(d->timer_fd, 0, &its, NULL) == 0)
		d->timer_armed = true;
}

void vsock_disarm_timer(struct vsock_dev *d)
{
	struct itimerspec off;

	memset(&off, 0, sizeof(off));
	timerfd_settime(d->timer_fd, 0, &off, NULL);
	d->timer_armed = false;
}

/* ---- the grave ---- */

bool vsock_free_grave(struct vsock_dev *d)
{
	struct vsock_conn *c;
	bool freed = false;

	while ((c = d->grave.head)) {
		vsock_list_del(&d->grave, c, VSOCK_L_ALL);
		free(c);
		freed = true;
	}
	return freed;
}
