/* vsock.c: the virtio-vsock device (virtio 1.2 section 5.10): queues, packets in and out, the listener, the loop callbacks, reset. */
#include "devices/virtio/vsock_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

/* Most connections accepted per listener event (the loop comes back if more wait). */
#define VSOCK_ACCEPT_BATCH 32

/* ---- packets to the guest ---- */

/* An RST for a packet that matches no connection (5.10.6.5: the receiver answers with RST). */
static uint32_t vsock_rx_orphan_rst(struct vsock_dev *d, const struct virtq_chain *ch)
{
	struct vsock_hdr h;

	memset(&h, 0, sizeof(h));
	h.src_cid = VSOCK_HOST_CID;
	h.dst_cid = d->guest_cid;
	h.src_port = d->rst[d->rst_head].host_port;
	h.dst_port = d->rst[d->rst_head].guest_port;
	h.type = VSOCK_TYPE_STREAM;
	h.op = VSOCK_OP_RST;
	d->rst_head = (d->rst_head + 1) % VSOCK_RST_RING;
	d->rst_len--;
	virtq_chain_write(ch, 0, &h, sizeof(h));
	return VSOCK_HDR_SIZE;
}

/*
 * Fill guest rx buffers (5.10.6.4): control packets first (REQUEST,
 * RESPONSE, SHUTDOWN, credit, RST), then RSTs for stray packets, then data
 * from readable host sockets, one packet per connection in turn. Stops when
 * the driver has no buffer left (its next rx notification resumes) or
 * nothing is left to say. Lock held, loop thread.
 */
void vsock_rx_flush(struct vsock_dev *d)
{
	struct virtio_mmio *t = &d->t;
	struct virtq *q = &t->q[VSOCK_RXQ];
	struct virtq_chain *ch = &d->rx_chain;
	unsigned served = 0;

	/* Paused: what waits stays with its connection until vsock_resume(). */
	if (!t->active || t->paused || !q->ready || q->broken)
		return;
	while (d->ctrl.head || d->rst_len || d->wait.head) {
		struct vsock_conn *c = NULL;
		uint32_t used;
		int r = virtq_pop(q, t->mem, ch);

		if (r == 0)
			break;
		if (r < 0) {
			metric_inc(M_vsock_rx_queue_event_fails);
			virtio_mmio_fail(t, q->error);
			break;
		}
		if (ch->writable < VSOCK_HDR_SIZE) {
			/* 5.10.6.4: an rx buffer must hold a header; this one goes back empty. */
			metric_inc(M_vsock_rx_queue_event_fails);
			virtq_push(q, ch->head, 0);
			served++;
			continue;
		}
		if (d->ctrl.head) {
			c = d->ctrl.head;
			used = vsock_conn_rx_ctrl(c, ch);
		} else if (d->rst_len) {
			used = vsock_rx_orphan_rst(d, ch);
		} else {
			c = d->wait.head;
			used = vsock_conn_rx_data(c, ch);
		}
		if (!used) {
			virtq_unpop(q);
			continue;
		}
		virtq_push(q, ch->head, used);
		metric_inc(M_vsock_rx_packets_count);
		served++;
		if (c && c->state == VSOCK_ST_DEAD && !(c->pending & VSOCK_P_RST))
			vsock_conn_free(c);   /* its RST is out */
	}
	if (served)
		virtio_mmio_signal_used(t, VSOCK_RXQ);
}

/* ---- packets from the guest ---- */

/* Handle one tx packet (5.10.6.4); the chain goes back to the driver whatever happens. */
static void vsock_tx_one(struct vsock_dev *d, const struct virtq_chain *ch)
{
	struct vsock_hdr h;
	struct vsock_conn *c;

	if (virtq_chain_read(ch, 0, &h, sizeof(h)) != sizeof(h)) {
		metric_inc(M_vsock_tx_queue_event_fails);
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: tx packet shorter than its header", d->name);
		return;
	}
	if (h.len > VSOCK_MAX_PKT_PAYLOAD || h.len > ch->readable - VSOCK_HDR_SIZE) {
		metric_inc(M_vsock_tx_queue_event_fails);
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: tx packet len %u beyond its buffer (%llu)",
				d->name, h.len, (unsigned long long)(ch->readable - VSOCK_HDR_SIZE));
		return;
	}
	metric_inc(M_vsock_tx_packets_count);
	/* 5.10.6.2: the driver speaks for its own CID only, and ember only is the host. */
	if (h.src_cid != d->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: dropping packet %llu:%u -> %llu:%u (guest CID %llu)",
				d->name, (unsigned long long)h.src_cid, h.src_port,
				(unsigned long long)h.dst_cid, h.dst_port,
				(unsigned long long)d->guest_cid);
		return;
	}
	if (h.type != VSOCK_TYPE_STREAM) {
		/* Only stream sockets (no VIRTIO_VSOCK_F_SEQPACKET): refuse with RST. */
		if (h.op != VSOCK_OP_RST)
			vsock_queue_rst(d, h.dst_port, h.src_port);
		return;
	}
	c = vsock_lookup(d, h.dst_port, h.src_port);
	if (!c) {
		if (h.op == VSOCK_OP_REQUEST)
			vsock_peer_request(d, &h);
		else if (h.op != VSOCK_OP_RST)
			vsock_queue_rst(d, h.dst_port, h.src_port);
		return;
	}
	vsock_conn_guest_pkt(c, &h, ch);
}

void vsock_tx_process(struct vsock_dev *d)
{
	struct virtio_mmio *t = &d->t;
	struct virtq *q = &t->q[VSOCK_TXQ];
	unsigned n = 0;
	int r;

	for (;;) {
		/* Budget spent: the rest waits behind the other events (if it can be requeued). */
		if (n == VIRTIO_QUEUE_BUDGET && virtio_mmio_requeue(t, VSOCK_TXQ) == 0) {
			r = 0;
			break;
		}
		if ((r = virtq_pop(q, t->mem, &d->tx_chain)) != 1)
			break;
		vsock_tx_one(d, &d->tx_chain);
		virtq_push(q, d->tx_chain.head, 0);
		n++;
	}
	if (r < 0) {
		metric_inc(M_vsock_tx_queue_event_fails);
		virtio_mmio_fail(t, q->error);
	}
	if (n)
		virtio_mmio_signal_used(t, VSOCK_TXQ);
}

/* ---- lifetime of connections ---- */

/* Free what vsock_conn_free() put on the grave list (end of every callback). */
void vsock_reap(struct vsock_dev *d)
{
	/* A listener paused on EMFILE may go on now that fds were released. */
	if (vsock_free_grave(d) && !d->listen_watched && d->listen_fd >= 0 &&
	    evloop_add(d->loop, d->listen_fd, EPOLLIN, vsock_on_listen, d) == 0)
		d->listen_watched = true;
}

/* Callbacks run on the loop thread; a reset on a vCPU thread is applied by the first of them. */
static void vsock_enter(struct vsock_dev *d)
{
	pthread_mutex_lock(&d->t.lock);
	if (d->reset_pending)
		vsock_purge(d);
}

static void vsock_leave(struct vsock_dev *d)
{
	vsock_reap(d);
	pthread_mutex_unlock(&d->t.lock);
}

void vsock_on_timer(void *opaque, uint32_t events)
{
	struct vsock_dev *d = opaque;
	struct vsock_conn *c, *next;
	uint64_t now = vsock_now_ms(), ticks;
	bool any = false;

	(void)events;
	if (read(d->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	vsock_enter(d);
	/* Connections whose deadline passed; the timer runs while any has one. */
	for (c = d->all.head; c; c = next) {
		next = c->link[VSOCK_L_ALL].next;
		if (c->deadline_ms && now >= c->deadline_ms)
			vsock_conn_expire(c, now);
	}
	for (c = d->all.head; c; c = c->link[VSOCK_L_ALL].next)
		any = any || c->deadline_ms;
	/* A listener paused on EMFILE is retried every tick. */
	if (!d->listen_watched && d->listen_fd >= 0 &&
	    evloop_add(d->loop, d->listen_fd, EPOLLIN, vsock_on_listen, d) == 0)
		d->listen_watched = true;
	if (!any && d->listen_watched)
		vsock_disarm_timer(d);
	vsock_rx_flush(d);
	vsock_leave(d);
}

/* Stop accepting until fds are released (EMFILE would make the listener fire forever). */
static void vsock_pause_listener(struct vsock_dev *d)
{
	if (d->listen_watched)
		evloop_del(d->loop, d->listen_fd);
	d->listen_watched = false;
	vsock_arm_timer(d);
}

void vsock_on_listen(void *opaque, uint32_t events)
{
	struct vsock_dev *d = opaque;

	(void)events;
	vsock_enter(d);
	for (int i = 0; i < VSOCK_ACCEPT_BATCH; i++) {
		int fd = d->host->accept(d->listen_fd);

		if (fd == -EAGAIN || fd == -EINTR || fd == -ECONNABORTED)
			break;
		if (fd < 0) {
			metric_inc(M_vsock_muxer_event_fails);
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: accept on %s: %s", d->name, d->uds_path,
					strerror(-fd));
			vsock_pause_listener(d);
			break;
		}
		if (vsock_conn_accepted(d, fd))
			break;
	}
	vsock_rx_flush(d);
	vsock_leave(d);
}

/* Readiness of a connection's host socket (d->host_event). */
static void vsock_on_host(void *opaque, uint32_t events)
{
	struct vsock_conn *c = opaque;
	struct vsock_dev *d = c->d;

	vsock_enter(d);
	if (!c->freed) {
		vsock_conn_on_event(c, events);
		vsock_rx_flush(d);
		if (!c->freed)
			vsock_conn_watch(c);
	}
	vsock_leave(d);
}

void vsock_on_reset(void *opaque, uint32_t events)
{
	struct vsock_dev *d = opaque;
	uint64_t v;

	(void)events;
	if (read(d->reset_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	vsock_enter(d);
	vsock_leave(d);
}

/* ---- events ---- */

/*
 * Put one TRANSPORT_RESET event in the driver's next event buffer able to
 * hold it; buffers too small go back empty. 0, or -ENOSPC when no buffer
 * could take it. Lock held.
 */
static int vsock_send_reset_event(struct vsock_dev *d)
{
	struct virtio_mmio *t = &d->t;
	struct virtq *q = &t->q[VSOCK_EVQ];
	struct virtq_chain *ch = &d->rx_chain;   /* scratch, free outside vsock_rx_flush() */
	const uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;
	const uint8_t ev[VSOCK_EVENT_SIZE] = { (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16),
					       (uint8_t)(id >> 24) };   /* le32 */
	unsigned served = 0;
	int ret = -ENOSPC;

	if (!q->ready || q->broken)
		return -ENOSPC;
	/* At most one ring's worth: a driver adding short buffers meanwhile cannot hold us. */
	for (unsigned n = 0; n < q->num; n++) {
		int r = virtq_pop(q, t->mem, ch);

		if (r == 0)
			break;
		if (r < 0) {
			metric_inc(M_vsock_ev_queue_event_fails);
			virtio_mmio_fail(t, q->error);
			break;
		}
		if (ch->writable < VSOCK_EVENT_SIZE) {
			/* 5.10.6.7: an event buffer holds a struct virtio_vsock_event; this one goes back empty. */
			metric_inc(M_vsock_ev_queue_event_fails);
			virtq_push(q, ch->head, 0);
			served++;
			continue;
		}
		virtq_chain_write(ch, 0, ev, sizeof(ev));
		virtq_push(q, ch->head, sizeof(ev));
		served++;
		ret = 0;
		break;
	}
	if (served)
		virtio_mmio_signal_used(t, VSOCK_EVQ);
	return ret;
}

int vsock_transport_reset(struct vsock_dev *d)
{
	int r;

	pthread_mutex_lock(&d->t.lock);
	if (!d->t.active) {
		pthread_mutex_unlock(&d->t.lock);
		return -EINVAL;
	}
	r = vsock_send_reset_event(d);
	/* The guest drops its connections on the event: ember drops them without an RST. */
	vsock_purge(d);
	vsock_reap(d);
	pthread_mutex_unlock(&d->t.lock);
	return r;
}

/* ---- the transport's callbacks ---- */

void vsock_queue_notify(struct virtio_mmio *t, unsigned q)
{
	struct vsock_dev *d = t->dev;

	/* The transport lock is held already (event-loop thread). */
	if (d->reset_pending)
		vsock_purge(d);
	switch (q) {
	case VSOCK_RXQ:
		metric_inc(M_vsock_rx_queue_event_count);
		break;
	case VSOCK_TXQ:
		metric_inc(M_vsock_tx_queue_event_count);
		vsock_tx_process(d);
		break;
	default:
		/* 5.10.6.7: event buffers wait for vsock_transport_reset(). */
		break;
	}
	vsock_rx_flush(d);
	vsock_reap(d);
}

void vsock_config_read(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned len)
{
	struct vsock_dev *d = t->dev;
	uint8_t cfg[8];

	/* 5.10.4: struct virtio_vsock_config { le64 guest_cid; }. */
	memcpy(cfg, &d->guest_cid, sizeof(cfg));
	if (virtio_mmio_config_window(cfg, sizeof(cfg), off, data, len))
		metric_inc(M_vsock_cfg_fails);
}

static void vsock_config_write(struct virtio_mmio *t, uint64_t off, const uint8_t *data,
			       unsigned len)
{
	(void)t;
	(void)off;
	(void)data;
	(void)len;
	/* The configuration space is read-only for the driver. */
	metric_inc(M_vsock_cfg_fails);
}

static int vsock_activate(struct virtio_mmio *t)
{
	(void)t;
	return 0;
}

/*
 * The driver reset the device (vCPU thread, lock held): its sockets are
 * gone, so every connection goes, but the fds belong to the loop thread,
 * which drops them before it handles anything else.
 */
void vsock_reset(struct virtio_mmio *t)
{
	struct vsock_dev *d = t->dev;
	uint64_t one = 1;

	d->reset_pending = true;
	if (d->reset_fd >= 0 && write(d->reset_fd, &one, sizeof(one)) < 0)
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: cannot signal reset", d->name);
}

static const struct virtio_dev_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.config_read = vsock_config_read,
	.config_write = vsock_config_write,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
};

/* ---- setup and teardown ---- */

/* 1023 host sockets plus ember's own fds need more than the usual soft limit of 1024. */
static void vsock_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= 4096)
		return;
	rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		LOG_RATELIMITED(LOG_LEVEL_WARN, "vsock: cannot raise RLIMIT_NOFILE: %s", strerror(errno));
}

int vsock_setup(struct vsock_dev *d, const struct vsock_cfg *cfg, int listen_fd,
		struct evloop *loop)
{
	int r;

	d->inited = true;
	d->listen_fd = listen_fd;
	d->timer_fd = d->reset_fd = -1;
	d->loop = loop;
	d->host = &vsock_unix_ops;
	d->host_event = vsock_on_host;
	d->guest_cid = cfg->guest_cid;
	d->last_host_port = (1u << 30) - 1;
	snprintf(d->name, sizeof(d->name), "vsock");
	snprintf(d->uds_path, sizeof(d->uds_path), "%s", cfg->uds_path ? cfg->uds_path : "");
	if (listen_fd < 0)
		return -EBADF;
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->reset_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->timer_fd < 0 || d->reset_fd < 0)
		return -errno;
	if ((r = evloop_add(loop, listen_fd, EPOLLIN, vsock_on_listen, d)))
		return r;
	d->listen_watched = true;
	if ((r = evloop_add(loop, d->timer_fd, EPOLLIN, vsock_on_timer, d)) ||
	    (r = evloop_add(loop, d->reset_fd, EPOLLIN, vsock_on_reset, d)))
		return r;
	vsock_raise_nofile();
	return 0;
}

int vsock_init(struct vsock_dev *d, const struct vsock_cfg *cfg, int listen_fd,
	       const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	       uint64_t base, unsigned irq)
{
	int r;

	memset(d, 0, sizeof(*d));
	r = virtio_mmio_init(&d->t, &vsock_ops, d, "vsock", vm, mem, loop, base, irq,
			     VSOCK_NQUEUES, VSOCK_QUEUE_SIZE, 1ULL << VIRTIO_VSOCK_F_STREAM);
	/* The listener is ours from here on, whatever happened. */
	if (r) {
		d->inited = true;
		d->listen_fd = listen_fd;
		d->timer_fd = d->reset_fd = -1;
		d->loop = loop;
		metric_inc(M_vsock_activate_fails);
		return r;
	}
	r = vsock_setup(d, cfg, listen_fd, loop);
	if (r)
		metric_inc(M_vsock_activate_fails);
	return r;
}

static void vsock_close_fd(struct vsock_dev *d, int *fd)
{
	if (*fd < 0)
		return;
	if (d->loop)
		evloop_del(d->loop, *fd);
	close(*fd);
	*fd = -1;
}

void vsock_destroy(struct vsock_dev *d)
{
	if (d->inited) {
		vsock_purge(d);
		vsock_reap(d);
		vsock_close_fd(d, &d->listen_fd);
		vsock_close_fd(d, &d->timer_fd);
		vsock_close_fd(d, &d->reset_fd);
		d->inited = false;
	}
	virtio_mmio_destroy(&d->t);
}

/* ---- device table hooks ---- */

static void vsock_pause(void *dev)
{
	virtio_mmio_pause(&((struct vsock_dev *)dev)->t);
}

static void vsock_resume(void *dev)
{
	struct vsock_dev *d = dev;

	virtio_mmio_resume(&d->t);
	/* Packets that waited for the pause to end go out as the rx queue is served. */
	(void)virtio_mmio_requeue(&d->t, VSOCK_RXQ);
}

static void vsock_save(void *dev, void *state)
{
	struct vsock_dev *d = dev;
	struct vsock_dev_state *st = state;

	virtio_mmio_save(&d->t, &st->t);
	st->guest_cid = d->guest_cid;
}

static int vsock_restore(void *dev, const void *state, struct err *e)
{
	struct vsock_dev *d = dev;
	const struct vsock_dev_state *st = state;

	if (st->guest_cid != d->guest_cid)
		return err_set(e, -EINVAL, "vsock: saved guest CID %llu, configured %llu",
			       (unsigned long long)st->guest_cid, (unsigned long long)d->guest_cid);
	return virtio_mmio_restore(&d->t, &st->t, e);
}

static void vsock_dev_destroy(void *dev)
{
	vsock_destroy(dev);
}

const struct dev_ops vsock_dev_ops = {
	.kind = DEV_VSOCK,
	.name = "vsock",
	.state_size = sizeof(struct vsock_dev_state),
	.pause = vsock_pause,
	.resume = vsock_resume,
	.save = vsock_save,
	.restore = vsock_restore,
	.destroy = vsock_dev_destroy,
};
