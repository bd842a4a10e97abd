/* vsock_proto.c: pure vsock helpers: the host's CONNECT line, the OK reply, the bounded byte ring. */
#include "devices/virtio/vsock_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool vsock_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Case-insensitive match of the ASCII word @w (upper case) at @s of length @n. */
static bool vsock_word_is(const char *s, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n && w[i]; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != w[i])
			return false;
	}
	return i == n && !w[i];
}

int vsock_parse_connect(const char *buf, size_t len, uint32_t *port)
{
	size_t eol = 0, i = 0, ws, we, ps, pe;
	uint64_t v = 0;

	while (eol < len && eol < VSOCK_CONNECT_LINE_MAX && buf[eol] != '\n') {
		if (buf[eol] == '\0')
			return -EINVAL;
		eol++;
	}
	if (eol == len)
		return len < VSOCK_CONNECT_LINE_MAX ? 0 : -EINVAL;
	if (eol == VSOCK_CONNECT_LINE_MAX)
		return -EINVAL;
	/* [0, eol) is the line without its '\n': word, number, nothing else. */
	while (i < eol && vsock_is_space(buf[i]))
		i++;
	ws = i;
	while (i < eol && !vsock_is_space(buf[i]))
		i++;
	we = i;
	if (!vsock_word_is(buf + ws, we - ws, "CONNECT"))
		return -EINVAL;
	while (i < eol && vsock_is_space(buf[i]))
		i++;
	ps = i;
	while (i < eol && buf[i] >= '0' && buf[i] <= '9') {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
		i++;
	}
	pe = i;
	while (i < eol && vsock_is_space(buf[i]))
		i++;
	if (pe == ps || i != eol || (pe < eol && !vsock_is_space(buf[pe])) || ps == we)
		return -EINVAL;
	*port = (uint32_t)v;
	return (int)eol + 1;
}

size_t vsock_format_ok(char *out, size_t cap, uint32_t port)
{
	int n = snprintf(out, cap, "OK %u\n", port);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void vsock_ring_init(struct vsock_ring *r, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void vsock_ring_free(struct vsock_ring *r)
{
	free(r->buf);
	r->buf = NULL;
	r->head = r->len = 0;
}

int vsock_ring_space(struct vsock_ring *r, struct iovec iov[2])
{
	uint32_t tail, room = vsock_ring_room(r), first;

	if (!r->buf) {
		r->buf = malloc(r->cap);
		if (!r->buf)
			return -ENOMEM;
		r->head = r->len = 0;
	}
	if (!room)
		return 0;
	tail = (r->head + r->len) % r->cap;
	first = r->cap - tail < room ? r->cap - tail : room;
	iov[0].iov_base = r->buf + tail;
	iov[0].iov_len = first;
	if (first == room)
		return 1;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = room - first;
	return 2;
}

void vsock_ring_commit(struct vsock_ring *r, uint32_t n)
{
	r->len += n <= vsock_ring_room(r) ? n : vsock_ring_room(r);
}

int vsock_ring_push(struct vsock_ring *r, const void *src, uint32_t n)
{
	struct iovec iov[2];
	int k;

	if (n > vsock_ring_room(r))
		return -ENOSPC;
	k = vsock_ring_space(r, iov);
	if (k < 0)
		return k;
	for (int i = 0, done = 0; i < k && (uint32_t)done < n; i++) {
		size_t c = n - (uint32_t)done < iov[i].iov_len ? n - (uint32_t)done : iov[i].iov_len;

		memcpy(iov[i].iov_base, (const uint8_t *)src + done, c);
		done += (int)c;
	}
	vsock_ring_commit(r, n);
	return 0;
}

int vsock_ring_data(const struct vsock_ring *r, struct iovec iov[2])
{
	uint32_t first;

	if (!r->len)
		return 0;
	first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
	iov[0].iov_base = r->buf + r->head;
	iov[0].iov_len = first;
	if (first == r->len)
		return 1;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = r->len - first;
	return 2;
}

void vsock_ring_consume(struct vsock_ring *r, uint32_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (!r->len)
		r->head = 0;
}
