/* boottimer.h: the boot-timer MMIO device: the guest writes 123 when it reached init. */
#ifndef EMBER_DEVICES_BOOTTIMER_H
#define EMBER_DEVICES_BOOTTIMER_H

#include <stdint.h>

#include "devices/device.h"
#include "kvm/bus.h"

#define BOOTTIMER_MAGIC 123

struct boottimer {
	uint64_t start_wall_us;   /* CLOCK_MONOTONIC at InstanceStart */
	uint64_t start_cpu_us;    /* process CPU time at InstanceStart */
	uint64_t last_wall_us;    /* last boot time logged, 0 if none (for tests and metrics) */
};

extern const struct bus_ops boottimer_ops;

/*
 * The device's row in the device table. It keeps no guest-visible state
 * (the guest only writes to it), so it has nothing to pause, save or restore.
 */
extern const struct dev_ops boottimer_dev_ops;

#endif
