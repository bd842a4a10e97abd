/* boottimer.c: logs Firecracker's "Guest-boot-time" line on the guest's signal. */
#include "devices/boottimer.h"

#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

static void boottimer_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
}

static void boottimer_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct boottimer *t = opaque;
	uint64_t wall, cpu;

	if (off != 0 || len != 1 || data[0] != BOOTTIMER_MAGIC)
		return;
	wall = clock_now_us() - t->start_wall_us;
	cpu = clock_cpu_us() - t->start_cpu_us;
	t->last_wall_us = wall ? wall : 1;
	LOG_INFO("Guest-boot-time = %8llu us %4llu ms, %8llu CPU us %4llu CPU ms",
		 (unsigned long long)wall, (unsigned long long)(wall / 1000),
		 (unsigned long long)cpu, (unsigned long long)(cpu / 1000));
}

const struct bus_ops boottimer_ops = { .read = boottimer_read, .write = boottimer_write };

const struct dev_ops boottimer_dev_ops = {
	.kind = DEV_BOOT_TIMER,
	.name = "boot-timer",
};
