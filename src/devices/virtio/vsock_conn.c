/* vsock_conn.c: one vsock connection: the state machine of virtio 1.2 5.10.6.5, credit both ways (5.10.6.3), host socket I/O. */
#include "devices/virtio/vsock_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

struct vsock_conn *vsock_conn_new(struct vsock_dev *d, int fd, enum vsock_state st)
{
	struct vsock_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->d = d;
	c->fd = fd;
	c->state = st;
	vsock_ring_init(&c->tx, VSOCK_BUF_ALLOC);
	vsock_list_add(&d->all, c, VSOCK_L_ALL);
	d->nconns++;
	return c;
}

static void vsock_conn_unwatch(struct vsock_conn *c)
{
	if (c->registered)
		evloop_del(c->d->loop, c->fd);
	c->registered = false;
	c->watch = 0;
}

static void vsock_conn_close_fd(struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	vsock_conn_unwatch(c);
	close(c->fd);
	c->fd = -1;
}

void vsock_conn_free(struct vsock_conn *c)
{
	struct vsock_dev *d = c->d;

	if (c->freed)
		return;
	vsock_list_del(&d->ctrl, c, VSOCK_L_CTRL);
	vsock_list_del(&d->wait, c, VSOCK_L_WAIT);
	vsock_list_del(&d->all, c, VSOCK_L_ALL);
	if (c->hashed)
		metric_inc(M_vsock_conns_removed);
	vsock_hash_del(c);
	vsock_conn_close_fd(c);
	vsock_ring_free(&c->tx);
	d->nconns--;
	c->freed = true;
	/* The memory goes at the end of the callback: callers may still look at c->freed. */
	vsock_list_add(&d->grave, c, VSOCK_L_ALL);
}

void vsock_conn_queue(struct vsock_conn *c, uint32_t pending)
{
	c->pending |= pending;
	vsock_list_add(&c->d->ctrl, c, VSOCK_L_CTRL);
}

void vsock_conn_set_deadline(struct vsock_conn *c, uint64_t ms_from_now)
{
	c->deadline_ms = vsock_now_ms() + ms_from_now;
	vsock_arm_timer(c->d);
}

/*
 * End the connection with an RST to the guest (5.10.6.5: the answer to a
 * full shutdown, and the way to refuse anything else). The host socket goes
 * now; the entry stays until the RST is out. A connection the guest never
 * heard of (no REQUEST sent yet) simply goes.
 */
void vsock_conn_finish(struct vsock_conn *c)
{
	if (c->freed || c->state == VSOCK_ST_DEAD)
		return;
	if (c->state == VSOCK_ST_HOST_LINE ||
	    (c->state == VSOCK_ST_LOCAL_INIT && (c->pending & VSOCK_P_REQUEST))) {
		vsock_conn_free(c);
		return;
	}
	vsock_conn_close_fd(c);
	vsock_ring_free(&c->tx);
	vsock_list_del(&c->d->wait, c, VSOCK_L_WAIT);
	c->state = VSOCK_ST_DEAD;
	c->deadline_ms = 0;
	c->pending = 0;
	vsock_conn_queue(c, VSOCK_P_RST);
}

/* An error ends the connection: counted, then as vsock_conn_finish(). */
void vsock_conn_kill(struct vsock_conn *c)
{
	if (c->freed || c->state == VSOCK_ST_DEAD)
		return;
	metric_inc(M_vsock_conns_killed);
	vsock_conn_finish(c);
}

bool vsock_conn_can_read(const struct vsock_conn *c)
{
	return c->state == VSOCK_ST_ESTABLISHED && c->fd >= 0 && !c->host_eof &&
	       !(c->peer_shut & VSOCK_SHUTDOWN_RCV);
}

/*
 * Register with the loop for what the connection can use now (level
 * triggered, so never for something it cannot act on): the CONNECT line;
 * host data while the guest has credit and the connection is not already
 * queued for rx buffers; room in the host socket while guest data is held.
 * After the host's EOF it stays registered without events to hear EPOLLHUP.
 */
void vsock_conn_watch(struct vsock_conn *c)
{
	uint32_t want = 0;
	bool reg;

	if (c->freed || c->fd < 0)
		return;
	if (c->state == VSOCK_ST_HOST_LINE) {
		want = EPOLLIN;
	} else if (c->state == VSOCK_ST_ESTABLISHED) {
		if (vsock_conn_can_read(c) && !c->link[VSOCK_L_WAIT].on && !c->credit_wait)
			want |= EPOLLIN;
		if (c->tx.len)
			want |= EPOLLOUT;
	}
	/*
	 * Registered without events, the loop still reports EPOLLHUP: after the
	 * host's EOF (has it gone entirely?) and while the guest has not
	 * answered a host program's REQUEST (has the program given up?).
	 */
	reg = want || c->state == VSOCK_ST_LOCAL_INIT ||
	      (c->state == VSOCK_ST_ESTABLISHED && c->host_eof && !c->host_hup &&
	       !(c->shut_sent & VSOCK_SHUTDOWN_RCV));
	if (c->registered && reg && c->watch == want)
		return;
	vsock_conn_unwatch(c);
	if (!reg)
		return;
	if (evloop_add(c->d->loop, c->fd, want, c->d->host_event, c)) {
		metric_inc(M_vsock_muxer_event_fails);
		LOG_RATELIMITED(LOG_LEVEL_ERROR, "%s: cannot watch host socket of port %u",
				c->d->name, c->host_port);
		vsock_conn_kill(c);
		return;
	}
	c->registered = true;
	c->watch = want;
}

/* Tell the guest what the host side will no longer do (once per flag). */
static void vsock_conn_shutdown_local(struct vsock_conn *c, uint32_t flags)
{
	uint32_t add = flags & ~c->shut_sent & VSOCK_SHUTDOWN_BOTH;

	if (!add)
		return;
	c->shut_sent |= add;
	vsock_conn_queue(c, VSOCK_P_SHUTDOWN);
}

static void vsock_conn_hdr(const struct vsock_conn *c, struct vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = c->d->guest_cid;
	h->src_port = c->host_port;
	h->dst_port = c->guest_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	/* 5.10.6.3: every packet carries the sender's buffer space. */
	h->buf_alloc = VSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
}

/* The next control packet of @c into rx buffer @ch; its length, or 0 if none. */
uint32_t vsock_conn_rx_ctrl(struct vsock_conn *c, const struct virtq_chain *ch)
{
	struct vsock_dev *d = c->d;
	uint32_t p = c->pending;
	struct vsock_hdr h;

	vsock_list_del(&d->ctrl, c, VSOCK_L_CTRL);
	if (!p)
		return 0;
	if (p & VSOCK_P_RST) {
		vsock_conn_hdr(c, &h, VSOCK_OP_RST);
		h.buf_alloc = h.fwd_cnt = 0;
		c->pending = 0;
	} else if (p & VSOCK_P_REQUEST) {
		vsock_conn_hdr(c, &h, VSOCK_OP_REQUEST);
		c->pending &= ~(uint32_t)VSOCK_P_REQUEST;
		vsock_conn_set_deadline(c, VSOCK_REQUEST_TIMEOUT_MS);
	} else if (p & VSOCK_P_RESPONSE) {
		vsock_conn_hdr(c, &h, VSOCK_OP_RESPONSE);
		c->pending &= ~(uint32_t)VSOCK_P_RESPONSE;
	} else if (p & VSOCK_P_SHUTDOWN) {
		vsock_conn_hdr(c, &h, VSOCK_OP_SHUTDOWN);
		h.flags = c->shut_sent;
		c->pending &= ~(uint32_t)VSOCK_P_SHUTDOWN;
		/* 5.10.6.5: after a full shutdown the guest owes an RST, within a time. */
		if (c->shut_sent == VSOCK_SHUTDOWN_BOTH && !c->deadline_ms)
			vsock_conn_set_deadline(c, VSOCK_SHUTDOWN_TIMEOUT_MS);
	} else if (p & VSOCK_P_CREDIT_REQUEST) {
		vsock_conn_hdr(c, &h, VSOCK_OP_CREDIT_REQUEST);
		c->pending &= ~(uint32_t)VSOCK_P_CREDIT_REQUEST;
	} else {
		vsock_conn_hdr(c, &h, VSOCK_OP_CREDIT_UPDATE);
	}
	/* Whatever went out carried fwd_cnt: a pending credit update is done. */
	c->last_fwd_sent = c->fwd_cnt;
	c->pending &= ~(uint32_t)VSOCK_P_CREDIT_UPDATE;
	if (c->pending)
		vsock_list_add(&d->ctrl, c, VSOCK_L_CTRL);   /* the rest after the others */
	virtq_chain_write(ch, 0, &h, sizeof(h));
	return VSOCK_HDR_SIZE;
}

/*
 * Host data for the guest, read straight into rx buffer @ch, as much as the
 * buffer, the guest's credit and VSOCK_MAX_PKT_PAYLOAD allow. Returns the
 * packet length, or 0 when nothing was produced: then @c left the wait list
 * (drained, out of credit, EOF or error, the last two queueing control
 * packets).
 */
uint32_t vsock_conn_rx_data(struct vsock_conn *c, const struct virtq_chain *ch)
{
	struct vsock_dev *d = c->d;
	struct iovec iov[VIRTQ_MAX_SEGS];
	uint32_t free_credit, max;
	struct vsock_hdr h;
	ssize_t n;
	int k;

	if (!vsock_conn_can_read(c) || c->credit_wait)
		goto leave;
	free_credit = vsock_peer_free(c->peer_buf_alloc, c->peer_fwd_cnt, c->rx_cnt);
	if (!free_credit) {
		/* 5.10.6.3: no room at the guest; ask it for an update, read nothing. */
		c->credit_wait = true;
		vsock_conn_queue(c, VSOCK_P_CREDIT_REQUEST);
		goto leave;
	}
	max = ch->writable - VSOCK_HDR_SIZE < free_credit ? (uint32_t)(ch->writable - VSOCK_HDR_SIZE)
							  : free_credit;
	if (max > VSOCK_MAX_PKT_PAYLOAD)
		max = VSOCK_MAX_PKT_PAYLOAD;
	if (!max) {
		/* A buffer with room for a header only: use it for the credit news. */
		vsock_conn_hdr(c, &h, VSOCK_OP_CREDIT_UPDATE);
		c->last_fwd_sent = c->fwd_cnt;
		virtq_chain_write(ch, 0, &h, sizeof(h));
		return VSOCK_HDR_SIZE;
	}
	k = virtq_chain_iov(ch, true, VSOCK_HDR_SIZE, max, iov, VIRTQ_MAX_SEGS);
	if (k <= 0)
		goto leave;
	do {
		n = readv(c->fd, iov, k);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN) {
			metric_inc(M_vsock_rx_read_fails);
			LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: read from host socket of port %u: %s",
					d->name, c->host_port, strerror(errno));
			vsock_conn_kill(c);
			return 0;
		}
		goto leave;
	}
	if (n == 0) {
		/*
		 * EOF: the host will send no more. With EPOLLHUP it will not
		 * receive either (the socket is shut both ways).
		 */
		c->host_eof = true;
		vsock_conn_shutdown_local(c, VSOCK_SHUTDOWN_SEND |
					     (c->host_hup ? VSOCK_SHUTDOWN_RCV : 0));
		goto leave;
	}
	vsock_conn_hdr(c, &h, VSOCK_OP_RW);
	h.len = (uint32_t)n;
	c->rx_cnt += (uint32_t)n;
	c->last_fwd_sent = c->fwd_cnt;
	c->pending &= ~(uint32_t)VSOCK_P_CREDIT_UPDATE;
	metric_add(M_vsock_rx_bytes_count, (uint64_t)n);
	virtq_chain_write(ch, 0, &h, sizeof(h));
	vsock_list_del(&d->wait, c, VSOCK_L_WAIT);
	if ((uint32_t)n == max)
		vsock_list_add(&d->wait, c, VSOCK_L_WAIT);   /* likely more: after the others */
	else
		vsock_conn_watch(c);                          /* drained: back to EPOLLIN */
	return VSOCK_HDR_SIZE + (uint32_t)n;
leave:
	vsock_list_del(&d->wait, c, VSOCK_L_WAIT);
	vsock_conn_watch(c);
	return 0;
}

/* Guest data held for the host: write what the socket takes. */
static void vsock_conn_flush_tx(struct vsock_conn *c)
{
	struct iovec iov[2];
	int k = vsock_ring_data(&c->tx, iov);
	ssize_t n;

	if (k) {
		n = c->d->host->send(c->fd, iov, k);
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			metric_inc(M_vsock_tx_flush_fails);
			LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: write to host socket of port %u: %s",
					c->d->name, c->host_port, strerror(errno));
			vsock_conn_kill(c);
			return;
		}
		vsock_ring_consume(&c->tx, (uint32_t)n);
		c->fwd_cnt += (uint32_t)n;
		metric_add(M_vsock_tx_bytes_count, (uint64_t)n);
	}
	if (c->tx.len)
		return;
	/* Everything the guest sent is out: its shutdown can reach the host now. */
	if ((c->peer_shut & VSOCK_SHUTDOWN_SEND) && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	if (c->peer_shut == VSOCK_SHUTDOWN_BOTH) {
		vsock_conn_finish(c);
		return;
	}
	if (vsock_credit_update_due(c->fwd_cnt, c->last_fwd_sent, VSOCK_BUF_ALLOC))
		vsock_conn_queue(c, VSOCK_P_CREDIT_UPDATE);
}

/* An RW packet (5.10.6.4): straight to the host socket, the rest into the bounded buffer. */
static void vsock_conn_rw(struct vsock_conn *c, const struct vsock_hdr *h,
			  const struct virtq_chain *ch)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	uint32_t len = h->len, done = 0;
	int k;

	if (!len)
		return;
	/* 5.10.6.3: the guest may have at most buf_alloc bytes not yet forwarded. */
	if (c->tx.len + (uint64_t)len > VSOCK_BUF_ALLOC) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: guest port %u overran its credit (%u + %u > %u)",
				c->d->name, c->guest_port, c->tx.len, len, VSOCK_BUF_ALLOC);
		vsock_conn_kill(c);
		return;
	}
	if (!c->tx.len) {
		ssize_t n;

		k = virtq_chain_iov(ch, false, VSOCK_HDR_SIZE, len, iov, VIRTQ_MAX_SEGS);
		n = k > 0 ? c->d->host->send(c->fd, iov, k) : 0;
		if (n < 0 && errno != EAGAIN) {
			metric_inc(M_vsock_tx_write_fails);
			LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: write to host socket of port %u: %s",
					c->d->name, c->host_port, strerror(errno));
			vsock_conn_kill(c);
			return;
		}
		done = n > 0 ? (uint32_t)n : 0;
		c->fwd_cnt += done;
		metric_add(M_vsock_tx_bytes_count, done);
	}
	if (done < len) {
		struct iovec sp[2];

		k = vsock_ring_space(&c->tx, sp);
		if (k < 0) {
			vsock_conn_kill(c);
			return;
		}
		for (int i = 0; i < k && done < len; i++) {
			size_t want = len - done < sp[i].iov_len ? len - done : sp[i].iov_len;
			size_t got = virtq_chain_read(ch, VSOCK_HDR_SIZE + done, sp[i].iov_base, want);

			vsock_ring_commit(&c->tx, (uint32_t)got);
			done += (uint32_t)got;
			if (got < want)
				break;
		}
	}
	if (vsock_credit_update_due(c->fwd_cnt, c->last_fwd_sent, VSOCK_BUF_ALLOC))
		vsock_conn_queue(c, VSOCK_P_CREDIT_UPDATE);
	vsock_conn_watch(c);
}

/* SHUTDOWN from the guest (5.10.6.5): flags accumulate and cannot be taken back. */
static void vsock_conn_peer_shutdown(struct vsock_conn *c, uint32_t flags)
{
	c->peer_shut |= flags & VSOCK_SHUTDOWN_BOTH;
	if (c->peer_shut & VSOCK_SHUTDOWN_RCV)
		vsock_list_del(&c->d->wait, c, VSOCK_L_WAIT);   /* host data is of no use now */
	if (c->tx.len == 0) {
		vsock_conn_flush_tx(c);   /* passes the SEND on, or ends a full shutdown */
	} else if (c->peer_shut == VSOCK_SHUTDOWN_BOTH && !c->deadline_ms) {
		/* Held data still drains to the host, for a while. */
		vsock_conn_set_deadline(c, VSOCK_SHUTDOWN_TIMEOUT_MS);
	}
	vsock_conn_watch(c);
}

/* The guest answered our REQUEST: established, and the host program learns its port. */
static void vsock_conn_response(struct vsock_conn *c)
{
	char ok[24];
	size_t len = vsock_format_ok(ok, sizeof(ok), c->host_port);
	struct iovec iov = { ok, len };

	c->state = VSOCK_ST_ESTABLISHED;
	c->deadline_ms = 0;
	if (c->d->host->send(c->fd, &iov, 1) != (ssize_t)len) {
		/* A dozen bytes into an empty socket buffer: failing that, give up. */
		LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: cannot send OK to the host program of port %u",
				c->d->name, c->host_port);
		vsock_conn_kill(c);
		return;
	}
	vsock_conn_watch(c);
}

void vsock_conn_guest_pkt(struct vsock_conn *c, const struct vsock_hdr *h,
			  const struct virtq_chain *ch)
{
	struct vsock_dev *d = c->d;
	uint32_t before;

	if (h->op == VSOCK_OP_RST) {
		/* 5.10.6.5: the guest dropped the connection: nothing to answer. */
		vsock_conn_free(c);
		return;
	}
	if (c->state == VSOCK_ST_DEAD)
		return;   /* our RST is on its way */
	/* 5.10.6.3: every packet updates the guest's credit. */
	before = vsock_peer_free(c->peer_buf_alloc, c->peer_fwd_cnt, c->rx_cnt);
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (c->credit_wait && vsock_peer_free(c->peer_buf_alloc, c->peer_fwd_cnt, c->rx_cnt) > before) {
		c->credit_wait = false;
		vsock_conn_watch(c);
	}
	if (c->state == VSOCK_ST_LOCAL_INIT) {
		if (h->op == VSOCK_OP_RESPONSE)
			vsock_conn_response(c);
		else
			vsock_conn_kill(c);   /* only RESPONSE or RST answer a REQUEST */
		return;
	}
	switch (h->op) {
	case VSOCK_OP_RW:
		if (c->peer_shut & VSOCK_SHUTDOWN_SEND) {
			LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: data from guest port %u after its SHUTDOWN",
					d->name, c->guest_port);
			vsock_conn_kill(c);
			return;
		}
		vsock_conn_rw(c, h, ch);
		return;
	case VSOCK_OP_SHUTDOWN:
		vsock_conn_peer_shutdown(c, h->flags);
		return;
	case VSOCK_OP_CREDIT_UPDATE:
		return;   /* credit taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		vsock_conn_queue(c, VSOCK_P_CREDIT_UPDATE);
		return;
	default:
		/* REQUEST or RESPONSE on an established connection, or an unknown op. */
		LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: op %u from guest port %u on an open connection",
				d->name, h->op, c->guest_port);
		vsock_conn_kill(c);
		return;
	}
}

void vsock_conn_expire(struct vsock_conn *c, uint64_t now)
{
	(void)now;
	c->deadline_ms = 0;
	switch (c->state) {
	case VSOCK_ST_HOST_LINE:
		LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: no CONNECT line from a host program in %d ms",
				c->d->name, VSOCK_LINE_TIMEOUT_MS);
		vsock_conn_free(c);
		return;
	case VSOCK_ST_LOCAL_INIT:
		LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: guest did not answer the REQUEST to port %u",
				c->d->name, c->guest_port);
		vsock_conn_kill(c);
		return;
	case VSOCK_ST_ESTABLISHED:
		/* A shutdown that did not complete in time: 5.10.6.5, RST. */
		vsock_conn_kill(c);
		return;
	default:
		return;
	}
}

/* A guest REQUEST for CID 2 port P: connect to "<uds_path>_<P>" (Firecracker's protocol). */
void vsock_peer_request(struct vsock_dev *d, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd;

	if (d->nconns >= VSOCK_MAX_CONNS) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: %u connections, refusing guest port %u",
				d->name, d->nconns, h->src_port);
		vsock_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	fd = d->host->connect(d->uds_path, h->dst_port);
	if (fd < 0) {
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: connect to %s_%u: %s", d->name, d->uds_path,
				h->dst_port, strerror(-fd));
		vsock_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	c = vsock_conn_new(d, fd, VSOCK_ST_ESTABLISHED);
	if (!c) {
		close(fd);
		vsock_queue_rst(d, h->dst_port, h->src_port);
		return;
	}
	c->host_port = h->dst_port;
	c->guest_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	vsock_hash_add(c);
	metric_inc(M_vsock_conns_added);
	vsock_conn_queue(c, VSOCK_P_RESPONSE);
	vsock_conn_watch(c);
}

/*
 * Read the CONNECT line; once whole, the connection is host-initiated: a
 * REQUEST to the guest from a fresh host port (5.10.6.5).
 */
static void vsock_conn_read_line(struct vsock_conn *c)
{
	struct vsock_dev *d = c->d;
	uint32_t port;
	int r;

	r = d->host->read_line(c->fd, c->line, &c->line_len, &port);
	if (r == 0)
		return;   /* more to come, within VSOCK_LINE_TIMEOUT_MS */
	if (r < 0) {
		if (r == -EINVAL)
			LOG_RATELIMITED(LOG_LEVEL_INFO, "%s: malformed CONNECT line from a host program",
					d->name);
		vsock_conn_free(c);
		return;
	}
	c->host_port = vsock_alloc_port(d);
	c->guest_port = port;
	c->state = VSOCK_ST_LOCAL_INIT;
	c->deadline_ms = 0;
	vsock_hash_add(c);
	metric_inc(M_vsock_conns_added);
	vsock_conn_queue(c, VSOCK_P_REQUEST);
	vsock_conn_watch(c);   /* only a hangup until the guest answers */
}

int vsock_conn_accepted(struct vsock_dev *d, int fd)
{
	struct vsock_conn *c;

	if (d->nconns >= VSOCK_MAX_CONNS) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: %u connections, refusing a host program",
				d->name, d->nconns);
		close(fd);
		return 0;
	}
	c = vsock_conn_new(d, fd, VSOCK_ST_HOST_LINE);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	vsock_conn_set_deadline(c, VSOCK_LINE_TIMEOUT_MS);
	vsock_conn_watch(c);
	return 0;
}

void vsock_conn_on_event(struct vsock_conn *c, uint32_t events)
{
	if (c->state == VSOCK_ST_HOST_LINE) {
		vsock_conn_read_line(c);
		return;
	}
	if (c->state == VSOCK_ST_LOCAL_INIT) {
		/* The host program went away before the guest answered: drop it (RST if asked). */
		if (events & (EPOLLHUP | EPOLLERR))
			vsock_conn_finish(c);
		return;
	}
	if ((events & EPOLLERR) && !(events & (EPOLLIN | EPOLLOUT))) {
		metric_inc(M_vsock_conn_event_fails);
		vsock_conn_kill(c);
		return;
	}
	if (events & EPOLLHUP)
		c->host_hup = true;
	if ((events & EPOLLOUT) && c->state == VSOCK_ST_ESTABLISHED)
		vsock_conn_flush_tx(c);
	if (c->freed || c->state != VSOCK_ST_ESTABLISHED)
		return;
	if ((events & (EPOLLIN | EPOLLHUP)) && vsock_conn_can_read(c) && !c->credit_wait)
		vsock_list_add(&c->d->wait, c, VSOCK_L_WAIT);
	/* EOF seen before, and now the socket is shut both ways: the host receives no more. */
	if (c->host_eof && c->host_hup)
		vsock_conn_shutdown_local(c, VSOCK_SHUTDOWN_BOTH);
}

/* Drop every connection without a word to the guest (device reset, destroy). */
void vsock_purge(struct vsock_dev *d)
{
	d->reset_pending = false;
	while (d->all.head)
		vsock_conn_free(d->all.head);
	d->rst_len = d->rst_head = 0;
}
