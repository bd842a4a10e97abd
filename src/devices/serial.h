/* serial.h: an 8250/16550A UART on COM1: guest output to a host fd, host input to the guest. */
#ifndef EMBER_DEVICES_SERIAL_H
#define EMBER_DEVICES_SERIAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "devices/device.h"
#include "devices/rate_limiter.h"
#include "kvm/bus.h"

#define SERIAL_IN_CAP 4096
#define SERIAL_OUT_CAP 65536            /* output held while the reader of out_fd is slow */

struct serial {
	pthread_mutex_t lock;
	int out_fd;                      /* guest output goes here (stdout), -1: dropped */
	void (*set_irq)(void *opaque, int level);
	void *irq_opaque;
	/* Called (unlocked) when input space frees up after the buffer was full. */
	void (*rx_space)(void *opaque);
	void *rx_opaque;
	int rx_full;                     /* the host stopped feeding input */

	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	int thr_ipending;
	int irq_level;
	uint8_t in[SERIAL_IN_CAP];
	size_t in_head, in_len;
	/* Output out_fd would not take yet (it is non-blocking); beyond the cap, dropped and counted. */
	uint8_t out[SERIAL_OUT_CAP];
	size_t out_head, out_len;

	/* PUT /serial's rate_limiter: output bytes beyond it are dropped and counted. */
	struct token_bucket limit;

	/* Metrics (read without the lock: counters may be a flush late). */
	uint64_t tx_bytes, rx_bytes, missed_write, missed_read, flushes;
};

extern const struct bus_ops serial_bus_ops;

/* serial_init: a reset UART writing to @out_fd; 0 or -errno. */
int serial_init(struct serial *s, int out_fd, void (*set_irq)(void *, int), void *irq_opaque);

/*
 * serial_flush_output: write what out_fd did not take before, as far as it
 * takes it now (the event loop calls this when out_fd is writable again).
 * Returns the bytes still held. Any thread.
 */
size_t serial_flush_output(struct serial *s);

/* serial_set_limit: bound guest output to the bucket @c (absent: unbounded). Before the
 * guest runs. */
void serial_set_limit(struct serial *s, const struct token_bucket_cfg *c);

/*
 * What the guest sees of the UART: its registers and the input it has not
 * read yet (oldest first). Output already written is the host's, not kept.
 */
struct serial_state {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t thr_ipending;
	uint8_t irq_level;
	uint8_t pad;
	uint32_t in_len;                 /* <= SERIAL_IN_CAP */
	uint8_t in[SERIAL_IN_CAP];
};

/* The UART's row in the device table (state: struct serial_state). */
extern const struct dev_ops serial_dev_ops;

/* serial_destroy: safe on a zeroed object. */
void serial_destroy(struct serial *s);

/* serial_in_space: bytes of input the UART can take now. Any thread. */
size_t serial_in_space(struct serial *s);

/*
 * serial_push_input: hand @len host bytes to the guest (raises the RX
 * interrupt if enabled). Returns the number taken; when the buffer fills,
 * rx_full is set and rx_space() is called once the guest drained it.
 */
size_t serial_push_input(struct serial *s, const uint8_t *buf, size_t len);

#endif
