/* i8042.h: the PS/2 controller's reset line and Ctrl-Alt-Del, nothing more. */
#ifndef EMBER_DEVICES_I8042_H
#define EMBER_DEVICES_I8042_H

#include <pthread.h>
#include <stdint.h>

#include "devices/device.h"
#include "kvm/bus.h"

#define I8042_BUF_CAP 16

struct i8042 {
	pthread_mutex_t lock;
	void (*pulse_irq)(void *opaque);   /* edge on IRQ 1 */
	void (*reset)(void *opaque);       /* guest asked for a CPU reset */
	void *opaque;
	uint8_t ctr;            /* controller command byte */
	uint8_t cmd;            /* command awaiting its data byte, 0 if none */
	uint8_t outp;           /* output port */
	uint8_t buf[I8042_BUF_CAP];
	unsigned head, len;
	uint64_t reset_count, missed_read, missed_write; /* metrics */
};

/*
 * One bus_ops for both ports: register it at 0x60 (size 1) with @opaque the
 * device, and i8042_bus_ops_cmd at 0x64.
 */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_cmd_ops;

/* What the guest sees of the controller: its command byte, output port and queued bytes. */
struct i8042_state {
	uint8_t ctr, cmd, outp;
	uint8_t len;                     /* <= I8042_BUF_CAP */
	uint8_t buf[I8042_BUF_CAP];      /* oldest first */
};

/* The controller's row in the device table (state: struct i8042_state). */
extern const struct dev_ops i8042_dev_ops;

int i8042_init(struct i8042 *k, void (*pulse_irq)(void *), void (*reset)(void *), void *opaque);
void i8042_destroy(struct i8042 *k);

/*
 * i8042_ctrl_alt_del: queue Ctrl, Alt and Delete pressed then released, in
 * scan-code set 1 while the controller translates (the default, Linux's
 * setting) or set 2 otherwise, and raise IRQ 1 (again after each byte read).
 * Returns 0, or -ENOSPC if the output buffer cannot take the sequence.
 */
int i8042_ctrl_alt_del(struct i8042 *k);

#endif
