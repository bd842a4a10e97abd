/* serial.c: 16550A UART register model (enough for Linux's 8250 driver and early console). */
#include "devices/serial.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* Register offsets and bits (PC16550D datasheet). */
#define UART_RBR_THR 0
#define UART_IER     1
#define UART_IIR_FCR 2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define UART_MSR     6
#define UART_SCR     7

#define IER_RDI   0x01
#define IER_THRI  0x02
#define IER_MASK  0x0f
#define IIR_NONE  0x01
#define IIR_THRI  0x02
#define IIR_RDI   0x04
#define IIR_FIFO  0xc0
#define LCR_DLAB  0x80
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MCR_LOOP  0x10
#define MSR_DCD   0x80
#define MSR_DSR   0x20
#define MSR_CTS   0x10
#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX    0x02

int serial_init(struct serial *s, int out_fd, void (*set_irq)(void *, int), void *irq_opaque)
{
	int r;

	memset(s, 0, sizeof(*s));
	r = pthread_mutex_init(&s->lock, NULL);
	if (r)
		return -r;
	s->out_fd = out_fd;
	s->set_irq = set_irq;
	s->irq_opaque = irq_opaque;
	s->lsr = LSR_THRE | LSR_TEMT;
	/* Modem lines up: a terminal is "connected". */
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->dll = 0x0c;   /* 9600 baud */
	return 0;
}

void serial_set_limit(struct serial *s, const struct token_bucket_cfg *c)
{
	tb_init(&s->limit, c, rl_clock_ns());
}

void serial_destroy(struct serial *s)
{
	if (s->set_irq)
		pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_FIFO_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->in_len)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* Called with the lock held: the IRQ follows "an interrupt is pending". */
static void serial_update_irq(struct serial *s)
{
	int level = !(serial_iir(s) & IIR_NONE);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->set_irq(s->irq_opaque, level);
	}
}

/* Write held output while out_fd takes it; lock held. Never blocks (out_fd is non-blocking). */
static void serial_flush_locked(struct serial *s)
{
	while (s->out_len) {
		size_t chunk = SERIAL_OUT_CAP - s->out_head;
		ssize_t n;

		if (chunk > s->out_len)
			chunk = s->out_len;
		n = write(s->out_fd, s->out + s->out_head, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN) {
				/* The reader is gone for good: what is held is lost. */
				s->missed_write += s->out_len;
				metric_add(M_uart_missed_write_count, s->out_len);
				s->out_len = s->out_head = 0;
			}
			return;
		}
		s->tx_bytes += (uint64_t)n;
		metric_add(M_uart_write_count, (uint64_t)n);
		s->out_head = (s->out_head + (size_t)n) % SERIAL_OUT_CAP;
		s->out_len -= (size_t)n;
	}
	s->out_head = 0;
}

/*
 * A guest byte leaves at once when out_fd takes it; otherwise it waits, in
 * order, in the output buffer, and a full buffer drops it (counted): a slow
 * reader of ember's output never stops a vCPU.
 */
static void serial_output(struct serial *s, uint8_t c)
{
	if (s->mcr & MCR_LOOP) {
		/* Loopback: what is sent comes back as received data. */
		if (s->in_len < SERIAL_IN_CAP) {
			s->in[(s->in_head + s->in_len) % SERIAL_IN_CAP] = c;
			s->in_len++;
		}
		return;
	}
	if (s->out_fd < 0)
		return;
	if (tb_active(&s->limit)) {
		uint64_t over;

		if (tb_reduce(&s->limit, 1, rl_clock_ns(), &over) != TB_OK) {
			metric_inc(M_uart_rate_limiter_dropped_bytes);
			return;
		}
	}
	if (s->out_len)
		serial_flush_locked(s);
	if (s->out_len == 0) {
		ssize_t n;

		do
			n = write(s->out_fd, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1) {
			s->tx_bytes++;
			metric_inc(M_uart_write_count);
			return;
		}
		if (n < 0 && errno != EAGAIN) {
			s->missed_write++;
			metric_inc(M_uart_missed_write_count);
			return;
		}
	}
	if (s->out_len == SERIAL_OUT_CAP) {
		s->missed_write++;
		metric_inc(M_uart_missed_write_count);
		return;
	}
	s->out[(s->out_head + s->out_len) % SERIAL_OUT_CAP] = c;
	s->out_len++;
}

size_t serial_flush_output(struct serial *s)
{
	size_t left;

	if (!s->set_irq)
		return 0;      /* never initialised */
	pthread_mutex_lock(&s->lock);
	if (s->out_fd >= 0)
		serial_flush_locked(s);
	left = s->out_len;
	pthread_mutex_unlock(&s->lock);
	return left;
}

static uint8_t serial_read_reg(struct serial *s, uint64_t off, int *space_freed)
{
	uint8_t v = 0;

	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->in_len) {
			v = s->in[s->in_head];
			s->in_head = (s->in_head + 1) % SERIAL_IN_CAP;
			s->in_len--;
			s->rx_bytes++;
			metric_inc(M_uart_read_count);
			if (s->rx_full && s->in_len <= SERIAL_IN_CAP / 2) {
				s->rx_full = 0;
				*space_freed = 1;
			}
		}
		return v;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR_FCR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THR-empty interrupt (16550 spec). */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_ipending = 0;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return (uint8_t)(s->lsr | (s->in_len ? LSR_DR : 0));
	case UART_MSR:
		if (s->mcr & MCR_LOOP) {
			/* Loopback ties OUT2->DCD, OUT1->RI, DTR->DSR, RTS->CTS. */
			return (uint8_t)(((s->mcr & 0x08) << 4) | ((s->mcr & 0x04) << 4) |
					 ((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3));
		}
		return s->msr;
	case UART_SCR:
		return s->scr;
	default:
		return 0;
	}
}

static void serial_write_reg(struct serial *s, uint64_t off, uint8_t v)
{
	switch (off) {
	case UART_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		serial_output(s, v);
		/* Transmission is instantaneous: THR is empty again at once. */
		s->thr_ipending = 1;
		return;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thr_ipending = 1;
		s->ier = v & IER_MASK;
		return;
	case UART_IIR_FCR:
		s->fcr = v & (FCR_FIFO_ENABLE | 0xc0);
		if (v & FCR_CLEAR_RX)
			s->in_head = s->in_len = 0;
		return;
	case UART_LCR:
		s->lcr = v;
		return;
	case UART_MCR:
		s->mcr = v & 0x1f;
		return;
	case UART_SCR:
		s->scr = v;
		return;
	default:
		return;   /* LSR and MSR are read-only */
	}
}

static void serial_bus_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct serial *s = opaque;
	int freed = 0;

	memset(data, 0, len);
	pthread_mutex_lock(&s->lock);
	data[0] = serial_read_reg(s, off, &freed);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	if (freed && s->rx_space)
		s->rx_space(s->rx_opaque);
}

static void serial_bus_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct serial *s = opaque;

	(void)len;
	pthread_mutex_lock(&s->lock);
	serial_write_reg(s, off, data[0]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

size_t serial_in_space(struct serial *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = SERIAL_IN_CAP - s->in_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_push_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->in_len < SERIAL_IN_CAP) {
		s->in[(s->in_head + s->in_len) % SERIAL_IN_CAP] = buf[n++];
		s->in_len++;
	}
	if (s->in_len == SERIAL_IN_CAP)
		s->rx_full = 1;
	if (n < len) {
		s->missed_read += len - n;
		metric_add(M_uart_missed_read_count, len - n);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void serial_save(void *dev, void *state)
{
	struct serial *s = dev;
	struct serial_state *st = state;

	pthread_mutex_lock(&s->lock);
	st->ier = s->ier;
	st->lcr = s->lcr;
	st->mcr = s->mcr;
	st->lsr = s->lsr;
	st->msr = s->msr;
	st->scr = s->scr;
	st->dll = s->dll;
	st->dlm = s->dlm;
	st->fcr = s->fcr;
	st->thr_ipending = (uint8_t)(s->thr_ipending != 0);
	st->irq_level = (uint8_t)(s->irq_level != 0);
	st->in_len = (uint32_t)s->in_len;
	for (size_t i = 0; i < s->in_len; i++)
		st->in[i] = s->in[(s->in_head + i) % SERIAL_IN_CAP];
	pthread_mutex_unlock(&s->lock);
}

static int serial_restore(void *dev, const void *state, struct err *e)
{
	struct serial *s = dev;
	const struct serial_state *st = state;

	if (st->in_len > SERIAL_IN_CAP || st->thr_ipending > 1 || st->irq_level > 1)
		return err_set(e, -EINVAL, "serial: input length %u or a flag out of range",
			       st->in_len);
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->lsr = st->lsr;
	s->msr = st->msr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->thr_ipending = st->thr_ipending;
	s->in_head = 0;
	s->in_len = st->in_len;
	memcpy(s->in, st->in, st->in_len);
	/* The line as the guest left it: KVM's irqchip state comes back separately. */
	s->irq_level = st->irq_level;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void serial_dev_destroy(void *dev)
{
	serial_destroy(dev);
}

const struct dev_ops serial_dev_ops = {
	.kind = DEV_SERIAL,
	.name = "serial",
	.state_size = sizeof(struct serial_state),
	.save = serial_save,
	.restore = serial_restore,
	.destroy = serial_dev_destroy,
};
