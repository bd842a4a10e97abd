/* bus.h: the port-I/O and MMIO buses that route vCPU exits to ember's devices. */
#ifndef EMBER_KVM_BUS_H
#define EMBER_KVM_BUS_H

#include <stdint.h>

/*
 * A device range's handlers. @offset is relative to the range base, @len is
 * 1, 2, 4 or 8. Handlers run on vCPU threads, concurrently for different
 * vCPUs: devices lock their own state. A handler must never trust guest
 * values and must never end the process.
 */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned len);
};

#define BUS_MAX_RANGES 48

struct bus_range {
	uint64_t base;
	uint64_t size;
	const struct bus_ops *ops;
	void *opaque;
};

/* A bus is filled while the VM is built and read-only once vCPUs run. */
struct bus {
	unsigned n;
	struct bus_range r[BUS_MAX_RANGES];
};

/* bus_add: register [base, base + size); 0, -EEXIST on overlap, -ENOSPC if full. */
int bus_add(struct bus *b, uint64_t base, uint64_t size, const struct bus_ops *ops,
	    void *opaque);

/*
 * bus_read / bus_write: dispatch an access. Returns 0 if a device took it,
 * -ENOENT otherwise (reads then see all ones). Accesses that straddle the end
 * of a range are refused as unclaimed.
 */
int bus_read(const struct bus *b, uint64_t addr, uint8_t *data, unsigned len);
int bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, unsigned len);

#endif
