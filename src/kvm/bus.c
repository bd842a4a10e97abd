/* bus.c: sorted range lookup for port I/O and MMIO dispatch. */
#include "kvm/bus.h"

#include <errno.h>
#include <string.h>

int bus_add(struct bus *b, uint64_t base, uint64_t size, const struct bus_ops *ops,
	    void *opaque)
{
	unsigned i;
	uint64_t end;

	if (size == 0 || __builtin_add_overflow(base, size, &end))
		return -EINVAL;
	if (b->n == BUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < b->n; i++)
		if (base < b->r[i].base + b->r[i].size && b->r[i].base < end)
			return -EEXIST;
	/* Keep ranges sorted by base for the binary search below. */
	for (i = b->n; i > 0 && b->r[i - 1].base > base; i--)
		b->r[i] = b->r[i - 1];
	b->r[i] = (struct bus_range){ base, size, ops, opaque };
	b->n++;
	return 0;
}

static const struct bus_range *bus_find(const struct bus *b, uint64_t addr, unsigned len)
{
	unsigned lo = 0, hi = b->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct bus_range *r = &b->r[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->size)
			lo = mid + 1;
		else
			return (addr - r->base) + len <= r->size ? r : NULL;
	}
	return NULL;
}

int bus_read(const struct bus *b, uint64_t addr, uint8_t *data, unsigned len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r || !r->ops->read) {
		memset(data, 0xff, len);
		return -ENOENT;
	}
	r->ops->read(r->opaque, addr - r->base, data, len);
	return 0;
}

int bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, unsigned len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r || !r->ops->write)
		return -ENOENT;
	r->ops->write(r->opaque, addr - r->base, data, len);
	return 0;
}
