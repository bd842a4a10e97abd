/* test_devstate.c: every device in the device table saves its guest-visible state to a plain
 * struct and takes it back: save, restore into a freshly built device, save again: the same
 * bytes, and the restored device answers the guest as the first one did. Bad state is refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/acpi_pm.h"
#include "devices/boottimer.h"
#include "devices/i8042.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "devices/virtio/vsock.h"

#define RAM_SIZE (1 << 20)

/* ---- legacy devices ---- */

static void no_irq(void *o, int level) { (void)o; (void)level; }
static void no_pulse(void *o) { (void)o; }

static uint8_t pio_rd(const struct bus_ops *ops, void *dev, uint64_t off)
{
	uint8_t b = 0xee;

	ops->read(dev, off, &b, 1);
	return b;
}

static void pio_wr(const struct bus_ops *ops, void *dev, uint64_t off, uint8_t b)
{
	ops->write(dev, off, &b, 1);
}

/* Save @dev with @ops, restore into @fresh, save again: both saves must be the same bytes. */
static int round_trip(const struct dev_ops *ops, void *dev, void *fresh)
{
	void *a = calloc(1, ops->state_size), *b = calloc(1, ops->state_size);
	struct err e = { { 0 } };
	int same;

	ops->save(dev, a);
	CHECK_EQ_I(ops->restore(fresh, a, &e), 0);
	ops->save(fresh, b);
	same = memcmp(a, b, ops->state_size) == 0;
	free(a);
	free(b);
	return same;
}

static void test_serial(void)
{
	static struct serial s, s2;
	struct serial_state *st = calloc(1, sizeof(*st));
	struct err e = { { 0 } };
	const uint8_t in[] = "hello";

	CHECK_EQ_I(serial_init(&s, -1, no_irq, NULL), 0);
	CHECK_EQ_I(serial_init(&s2, -1, no_irq, NULL), 0);
	pio_wr(&serial_bus_ops, &s, 3, 0x83);      /* LCR: DLAB, 8 bits */
	pio_wr(&serial_bus_ops, &s, 0, 0x01);      /* DLL: 115200 */
	pio_wr(&serial_bus_ops, &s, 3, 0x03);      /* LCR: 8N1 */
	pio_wr(&serial_bus_ops, &s, 1, 0x01);      /* IER: receive interrupts */
	pio_wr(&serial_bus_ops, &s, 7, 0x5a);      /* scratch */
	CHECK_EQ_U(serial_push_input(&s, in, 5), 5);
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s, 0), 'h'); /* the guest read one byte */
	CHECK(round_trip(&serial_dev_ops, &s, &s2));
	/* The restored UART answers as the first: registers, then the unread input in order. */
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 7), 0x5a);
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 1), 0x01);
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 3), 0x03);
	for (int i = 1; i < 5; i++)
		CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 0), in[i]);
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 5) & 0x01, 0);   /* LSR: no data left */
	/* More input than the FIFO holds is refused, the device left as it was. */
	serial_dev_ops.save(&s, st);
	st->in_len = SERIAL_IN_CAP + 1;
	CHECK_EQ_I(serial_dev_ops.restore(&s2, st, &e), -EINVAL);
	CHECK(strstr(e.msg, "serial") != NULL);
	CHECK_EQ_U(pio_rd(&serial_bus_ops, &s2, 7), 0x5a);
	free(st);
	serial_dev_ops.destroy(&s);
	serial_dev_ops.destroy(&s2);
}

static void test_i8042(void)
{
	static struct i8042 k, k2;
	struct i8042_state st;
	struct err e = { { 0 } };
	uint8_t first;

	CHECK_EQ_I(i8042_init(&k, no_pulse, no_pulse, NULL), 0);
	CHECK_EQ_I(i8042_init(&k2, no_pulse, no_pulse, NULL), 0);
	pio_wr(&i8042_cmd_ops, &k, 0, 0x60);       /* write the command byte ... */
	pio_wr(&i8042_data_ops, &k, 0, 0x45);      /* ... as Linux does */
	CHECK_EQ_I(i8042_ctrl_alt_del(&k), 0);
	CHECK(round_trip(&i8042_dev_ops, &k, &k2));
	/* The restored controller hands out the same bytes, then the same command byte. */
	while (pio_rd(&i8042_cmd_ops, &k, 0) & 0x01) {
		first = pio_rd(&i8042_data_ops, &k, 0);
		CHECK(pio_rd(&i8042_cmd_ops, &k2, 0) & 0x01);
		CHECK_EQ_U(pio_rd(&i8042_data_ops, &k2, 0), first);
	}
	CHECK_EQ_U(pio_rd(&i8042_cmd_ops, &k2, 0) & 0x01, 0);
	pio_wr(&i8042_cmd_ops, &k2, 0, 0x20);      /* read the command byte back */
	CHECK_EQ_U(pio_rd(&i8042_data_ops, &k2, 0), 0x45);
	i8042_dev_ops.save(&k, &st);
	st.len = I8042_BUF_CAP + 1;
	CHECK_EQ_I(i8042_dev_ops.restore(&k2, &st, &e), -EINVAL);
	i8042_dev_ops.destroy(&k);
	i8042_dev_ops.destroy(&k2);
}

/* The two devices the guest only writes to keep nothing, and say so. */
static void test_stateless(void)
{
	CHECK_EQ_U(acpi_pm_dev_ops.state_size, 0);
	CHECK_EQ_U(boottimer_dev_ops.state_size, 0);
	CHECK(acpi_pm_dev_ops.save == NULL && acpi_pm_dev_ops.restore == NULL);
	CHECK(boottimer_dev_ops.save == NULL && boottimer_dev_ops.restore == NULL);
	CHECK_EQ_I(acpi_pm_dev_ops.kind, DEV_ACPI_PM);
	CHECK_EQ_I(boottimer_dev_ops.kind, DEV_BOOT_TIMER);
}

/* ---- virtio: a transport built as the devices build it, without KVM ---- */

static unsigned activations;
static int act(struct virtio_mmio *t) { (void)t; activations++; return 0; }
static const struct virtio_dev_ops tops = { .device_id = 2, .activate = act };

static struct guest_mem M;
static void *ram;

static void transport_setup(struct virtio_mmio *t, void *dev, unsigned nq)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->ops = &tops;
	t->dev = dev;
	t->name = "test";
	t->mem = &M;
	t->nqueues = nq;
	for (unsigned i = 0; i < nq; i++)
		virtq_init(&t->q[i], 16);
	t->device_features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX);
	t->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->notify_fd[i] = -1;
}

static void transport_teardown(struct virtio_mmio *t)
{
	close(t->irq_fd);
	pthread_mutex_destroy(&t->lock);
}

static void mw(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(t, off, (const uint8_t *)&v, 4);
}

static uint32_t mr(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;

	virtio_mmio_bus_ops.read(t, off, (uint8_t *)&v, 4);
	return v;
}

/* A driver's bring-up: features, queue @q at @gpa (size 8), DRIVER_OK. */
static void bring_up(struct virtio_mmio *t, unsigned nq, uint64_t gpa)
{
	mw(t, 0x070, 1);
	mw(t, 0x070, 3);
	mw(t, 0x024, 1);
	mw(t, 0x020, 1);                          /* VERSION_1 */
	mw(t, 0x024, 0);
	mw(t, 0x020, 1u << VIRTIO_F_EVENT_IDX);
	mw(t, 0x070, 3 | 8);
	for (unsigned q = 0; q < nq; q++) {
		uint64_t base = gpa + q * 0x1000;

		mw(t, 0x030, q);
		mw(t, 0x038, 8);
		mw(t, 0x080, (uint32_t)base);
		mw(t, 0x090, (uint32_t)(base + 0x100));
		mw(t, 0x0a0, (uint32_t)(base + 0x200));
		mw(t, 0x044, 1);
	}
	mw(t, 0x070, 3 | 8 | 4);
}

static void test_virtq_state(void)
{
	struct virtq q, q2;
	struct virtq_state s, s2;

	virtq_init(&q, 16);
	virtq_init(&q2, 16);
	q.num = 8;
	q.desc_gpa = 0x10000;
	q.avail_gpa = 0x10100;
	q.used_gpa = 0x10200;
	CHECK_EQ_I(virtq_validate(&q, &M), 0);
	q.last_avail = 5;
	q.next_used = 4;
	q.event_idx = true;
	virtq_save(&q, &s);
	CHECK_EQ_I(virtq_restore(&q2, &s, &M), 0);
	virtq_save(&q2, &s2);
	CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
	CHECK(q2.ready && q2.desc != NULL && q2.last_avail == 5 && q2.next_used == 4);
	/* Rings outside guest RAM, a size above the queue's maximum, a flag out of range. */
	s2 = s;
	s2.used_gpa = RAM_SIZE - 4;
	CHECK_EQ_I(virtq_restore(&q2, &s2, &M), -EINVAL);
	CHECK(!q2.ready);
	s2 = s;
	s2.num = 32;
	CHECK_EQ_I(virtq_restore(&q2, &s2, &M), -EINVAL);
	s2 = s;
	s2.broken = 7;
	CHECK_EQ_I(virtq_restore(&q2, &s2, &M), -EINVAL);
}

static void test_transport(void)
{
	static struct virtio_mmio a, b;
	struct virtio_mmio_state s, s2;
	struct err e = { { 0 } };

	transport_setup(&a, NULL, 2);
	transport_setup(&b, NULL, 2);
	activations = 0;
	bring_up(&a, 2, 0x10000);
	CHECK(a.active);
	virtio_mmio_save(&a, &s);
	CHECK_EQ_I(virtio_mmio_restore(&b, &s, &e), 0);
	CHECK_EQ_U(activations, 2);               /* the restored device was activated again */
	CHECK(b.active);
	virtio_mmio_save(&b, &s2);
	CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
	CHECK_EQ_U(mr(&b, 0x070), 1 | 2 | 4 | 8);
	mw(&b, 0x030, 1);
	CHECK_EQ_U(mr(&b, 0x044), 1);             /* QueueReady of queue 1 */
	/* A device offering other features, another queue count, or rings outside RAM. */
	transport_teardown(&b);
	transport_setup(&b, NULL, 2);
	s2 = s;
	s2.device_features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	CHECK_EQ_I(virtio_mmio_restore(&b, &s2, &e), -EINVAL);
	CHECK(strstr(e.msg, "features") != NULL);
	s2 = s;
	s2.nqueues = 3;
	CHECK_EQ_I(virtio_mmio_restore(&b, &s2, &e), -EINVAL);
	s2 = s;
	s2.q[1].desc_gpa = 0x7ffff000;
	CHECK_EQ_I(virtio_mmio_restore(&b, &s2, &e), -EINVAL);
	CHECK(!b.active && mr(&b, 0x070) == 0);   /* nothing half-restored */
	transport_teardown(&a);
	transport_teardown(&b);
}

/* A paused transport holds notifications; resume hands them on once. */
static void test_transport_pause(void)
{
	static struct virtio_mmio a;
	uint64_t n = 0;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	transport_setup(&a, NULL, 1);
	bring_up(&a, 1, 0x10000);
	a.notify_fd[0] = fd;
	virtio_mmio_pause(&a);
	mw(&a, 0x050, 0);                         /* QueueNotify while paused */
	CHECK_EQ_U(a.held, 1);
	CHECK(read(fd, &n, sizeof(n)) < 0);       /* nothing reached the device yet */
	virtio_mmio_resume(&a);
	CHECK_EQ_U(a.held, 0);
	CHECK(read(fd, &n, sizeof(n)) == sizeof(n) && n == 1);
	close(fd);
	a.notify_fd[0] = -1;
	transport_teardown(&a);
}

static void test_block(void)
{
	static struct vblk b, b2;
	struct vblk_state st;
	struct err e = { { 0 } };

	transport_setup(&b.t, &b, 1);
	transport_setup(&b2.t, &b2, 1);
	b.nsectors = b2.nsectors = 2048;
	b.flush = b2.flush = true;
	snprintf(b2.name, sizeof(b2.name), "block vdb");
	bring_up(&b.t, 1, 0x10000);
	CHECK(round_trip(&vblk_dev_ops, &b, &b2));
	CHECK(b2.t.active && b2.t.q[0].ready);
	/* Another disk size than the guest knew is refused. */
	vblk_dev_ops.save(&b, &st);
	transport_teardown(&b2.t);
	transport_setup(&b2.t, &b2, 1);
	b2.nsectors = 4096;
	CHECK_EQ_I(vblk_dev_ops.restore(&b2, &st, &e), -EINVAL);
	CHECK(strstr(e.msg, "2048 sectors") != NULL);
	CHECK(!b2.t.active);
	transport_teardown(&b.t);
	transport_teardown(&b2.t);
}

static void test_net(void)
{
	static struct vnet n, n2;
	struct vnet_state st;
	const uint8_t mac[6] = { 0x06, 0, 0xac, 0x10, 0, 2 };
	struct err e = { { 0 } };

	transport_setup(&n.t, &n, 2);
	transport_setup(&n2.t, &n2, 2);
	memcpy(n.mac, mac, 6);
	n.has_mac = true;
	bring_up(&n.t, 2, 0x10000);
	/* Two receive buffers taken and held: they go back to the ring in the saved state. */
	n.t.q[0].last_avail = 2;
	n.rx_nchains = 2;
	vnet_dev_ops.save(&n, &st);
	CHECK_EQ_U(st.t.q[0].last_avail, 0);
	CHECK_EQ_I(vnet_dev_ops.restore(&n2, &st, &e), 0);
	CHECK(memcmp(n2.mac, mac, 6) == 0 && n2.has_mac);
	CHECK(round_trip(&vnet_dev_ops, &n2, &n));
	st.has_mac = 3;
	CHECK_EQ_I(vnet_dev_ops.restore(&n2, &st, &e), -EINVAL);
	transport_teardown(&n.t);
	transport_teardown(&n2.t);
}

static void test_vsock(void)
{
	static struct vsock_dev d, d2;
	struct vsock_dev_state st;
	struct err e = { { 0 } };

	transport_setup(&d.t, &d, 3);
	transport_setup(&d2.t, &d2, 3);
	d.guest_cid = d2.guest_cid = 3;
	bring_up(&d.t, 3, 0x10000);
	CHECK(round_trip(&vsock_dev_ops, &d, &d2));
	CHECK(d2.t.active);
	vsock_dev_ops.save(&d, &st);
	st.guest_cid = 4;
	CHECK_EQ_I(vsock_dev_ops.restore(&d2, &st, &e), -EINVAL);
	CHECK(strstr(e.msg, "CID") != NULL);
	transport_teardown(&d.t);
	transport_teardown(&d2.t);
}

/* Every kind with state has all five hooks; state structs are plain and bounded. */
static void test_table_rows(void)
{
	const struct dev_ops *rows[] = { &serial_dev_ops, &i8042_dev_ops, &vblk_dev_ops,
					 &vnet_dev_ops, &vsock_dev_ops };

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		CHECK(rows[i]->save && rows[i]->restore && rows[i]->destroy && rows[i]->name);
		CHECK(rows[i]->state_size > 0 && rows[i]->state_size < 64 * 1024);
	}
	CHECK(vblk_dev_ops.pause && vnet_dev_ops.pause && vsock_dev_ops.pause);
	CHECK(vblk_dev_ops.resume && vnet_dev_ops.resume && vsock_dev_ops.resume);
}

int main(void)
{
	ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	gmem_init_from(&M, ram, RAM_SIZE, LAYOUT_RAM_HOLE);
	RUN(test_serial);
	RUN(test_i8042);
	RUN(test_stateless);
	RUN(test_virtq_state);
	RUN(test_transport);
	RUN(test_transport_pause);
	RUN(test_block);
	RUN(test_net);
	RUN(test_vsock);
	RUN(test_table_rows);
	free(ram);
	return check_summary();
}
