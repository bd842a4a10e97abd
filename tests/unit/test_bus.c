/* test_bus.c: the PIO/MMIO bus: ranges registered out of order are found, overlaps and
 * overflowing ranges refused, accesses straddling a range's end unclaimed (reads all ones). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "kvm/bus.h"

struct dev {
	uint64_t last_off;
	unsigned last_len, reads, writes;
	uint8_t last_val;
};

static void dev_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct dev *d = opaque;

	d->reads++;
	d->last_off = off;
	d->last_len = len;
	memset(data, (int)(0x10 + off), len);
}

static void dev_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct dev *d = opaque;

	d->writes++;
	d->last_off = off;
	d->last_len = len;
	d->last_val = data[0];
}

static const struct bus_ops rw = { .read = dev_read, .write = dev_write };
static const struct bus_ops wo = { .write = dev_write };

static void test_add_and_dispatch(void)
{
	static struct bus b;
	struct dev d1 = { 0 }, d2 = { 0 }, d3 = { 0 };
	uint8_t v[8], one = 0x5a;

	memset(&b, 0, sizeof(b));
	/* Registered out of order: the lookup still finds each. */
	CHECK_EQ_I(bus_add(&b, 0x3f8, 8, &rw, &d1), 0);
	CHECK_EQ_I(bus_add(&b, 0x60, 1, &rw, &d2), 0);
	CHECK_EQ_I(bus_add(&b, 0x64, 1, &wo, &d3), 0);
	CHECK_EQ_I(bus_read(&b, 0x3fd, v, 1), 0);
	CHECK(d1.reads == 1 && d1.last_off == 5 && v[0] == 0x15);
	CHECK_EQ_I(bus_write(&b, 0x60, &one, 1), 0);
	CHECK(d2.writes == 1 && d2.last_off == 0 && d2.last_val == 0x5a);
	/* A device without a read handler: the read is unclaimed and sees all ones. */
	CHECK_EQ_I(bus_read(&b, 0x64, v, 1), -ENOENT);
	CHECK_EQ_U(v[0], 0xff);
	/* Between ranges, before the first, after the last: nobody. */
	memset(v, 0, sizeof(v));
	CHECK_EQ_I(bus_read(&b, 0x61, v, 2), -ENOENT);
	CHECK(v[0] == 0xff && v[1] == 0xff);
	CHECK_EQ_I(bus_write(&b, 0x10, &one, 1), -ENOENT);
	CHECK_EQ_I(bus_write(&b, 0x400, &one, 1), -ENOENT);
	/* Straddling the end of a range: refused, the device not called. */
	CHECK_EQ_I(bus_read(&b, 0x3fe, v, 4), -ENOENT);
	CHECK_EQ_U(d1.reads, 1);
	CHECK_EQ_I(bus_read(&b, 0x3fc, v, 4), 0);
	CHECK(d1.reads == 2 && d1.last_off == 4 && d1.last_len == 4);
}

static void test_refusals(void)
{
	static struct bus b;
	struct dev d = { 0 };

	memset(&b, 0, sizeof(b));
	CHECK_EQ_I(bus_add(&b, 0x1000, 0x100, &rw, &d), 0);
	/* Any overlap, at either end or inside: -EEXIST; touching is fine. */
	CHECK_EQ_I(bus_add(&b, 0x10ff, 1, &rw, &d), -EEXIST);
	CHECK_EQ_I(bus_add(&b, 0xf00, 0x101, &rw, &d), -EEXIST);
	CHECK_EQ_I(bus_add(&b, 0x1010, 0x10, &rw, &d), -EEXIST);
	CHECK_EQ_I(bus_add(&b, 0xf00, 0x2000, &rw, &d), -EEXIST);
	CHECK_EQ_I(bus_add(&b, 0x1100, 0x10, &rw, &d), 0);
	CHECK_EQ_I(bus_add(&b, 0xff0, 0x10, &rw, &d), 0);
	/* Empty and wrapping ranges. */
	CHECK_EQ_I(bus_add(&b, 0x2000, 0, &rw, &d), -EINVAL);
	CHECK_EQ_I(bus_add(&b, UINT64_MAX - 1, 4, &rw, &d), -EINVAL);
	CHECK_EQ_U(b.n, 3);
	/* A full bus. */
	for (unsigned i = b.n; i < BUS_MAX_RANGES; i++)
		CHECK_EQ_I(bus_add(&b, 0x100000 + i * 0x10, 0x10, &rw, &d), 0);
	CHECK_EQ_I(bus_add(&b, 0x900000, 0x10, &rw, &d), -ENOSPC);
	/* With every slot taken, the lookup still finds the first and the last. */
	CHECK_EQ_I(bus_write(&b, 0xff0, (const uint8_t *)"x", 1), 0);
	CHECK_EQ_I(bus_write(&b, 0x100000 + (BUS_MAX_RANGES - 1) * 0x10 + 0xf, (const uint8_t *)"x", 1),
		   0);
}

int main(void)
{
	RUN(test_add_and_dispatch);
	RUN(test_refusals);
	return check_summary();
}
