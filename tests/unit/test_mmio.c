/* test_mmio.c: the virtio-mmio status machine (virtio 1.2 2.1, 3.1), register by register as a
 * driver writes them: only a reset goes back; anything else leaves the device needing one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/mmio.h"

#define ACK    VIRTIO_STATUS_ACKNOWLEDGE
#define DRV    VIRTIO_STATUS_DRIVER
#define FEAT   VIRTIO_STATUS_FEATURES_OK
#define DOK    VIRTIO_STATUS_DRIVER_OK
#define NRESET VIRTIO_STATUS_NEEDS_RESET

static unsigned activations, resets;
static int act(struct virtio_mmio *t) { (void)t; activations++; return 0; }
static void rst(struct virtio_mmio *t) { (void)t; resets++; }
static const struct virtio_dev_ops ops = { .device_id = 1, .activate = act, .reset = rst };

static struct virtio_mmio T;
static struct guest_mem M;
static void *ram;

static void w(uint64_t off, uint32_t v) { virtio_mmio_bus_ops.write(&T, off, (const uint8_t *)&v, 4); }
static uint32_t r(uint64_t off) { uint32_t v = 0; virtio_mmio_bus_ops.read(&T, off, (uint8_t *)&v, 4); return v; }
static uint32_t status(void) { return r(0x070); }

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	ram = aligned_alloc(4096, 1 << 20);
	gmem_init_from(&M, ram, 1 << 20, LAYOUT_RAM_HOLE);
	pthread_mutex_init(&T.lock, NULL);
	T.ops = &ops;
	T.name = "test";
	T.mem = &M;
	T.nqueues = 1;
	virtq_init(&T.q[0], 16);
	T.device_features = 1ULL << VIRTIO_F_VERSION_1;
	T.irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	T.notify_fd[0] = -1;
	activations = resets = 0;
}

static void teardown(void)
{
	close(T.irq_fd);
	pthread_mutex_destroy(&T.lock);
	free(ram);
}

/* Up to DRIVER_OK with VERSION_1, as a driver does. */
static void bring_up(void)
{
	w(0x070, ACK);
	w(0x070, ACK | DRV);
	w(0x024, 1);           /* DriverFeaturesSel: high word */
	w(0x020, 1);           /* VERSION_1 (bit 32) */
	w(0x070, ACK | DRV | FEAT);
	w(0x070, ACK | DRV | FEAT | DOK);
}

static void test_normal_bring_up_and_reset(void)
{
	setup();
	bring_up();
	CHECK_EQ_U(status(), ACK | DRV | FEAT | DOK);
	CHECK_EQ_U(activations, 1);
	CHECK(T.active);
	w(0x070, 0);
	CHECK_EQ_U(status(), 0);
	CHECK_EQ_U(resets, 1);
	CHECK(!T.active);
	bring_up();             /* after a reset, all over again */
	CHECK_EQ_U(activations, 2);
	CHECK(T.active);
	teardown();
}

static void test_clear_driver_ok_needs_reset(void)
{
	setup();
	bring_up();
	w(0x070, ACK | DRV | FEAT);                 /* DRIVER_OK dropped without a reset */
	CHECK_EQ_U(status(), ACK | DRV | FEAT | DOK | NRESET);
	CHECK(!T.active);
	w(0x070, ACK | DRV | FEAT | DOK);           /* and set again: no second activation */
	CHECK_EQ_U(activations, 1);
	CHECK(!T.active);
	CHECK(status() & NRESET);
	w(0x070, 0);
	CHECK_EQ_U(status(), 0);
	bring_up();
	CHECK(T.active);
	CHECK_EQ_U(activations, 2);
	teardown();
}

static void test_renegotiate_without_reset(void)
{
	setup();
	w(0x070, ACK | DRV);
	w(0x024, 1);
	w(0x020, 1);
	w(0x070, ACK | DRV | FEAT);
	w(0x070, ACK | DRV);                        /* FEATURES_OK dropped: renegotiation */
	CHECK(status() & NRESET);
	CHECK(status() & FEAT);                     /* the status stays as it was */
	w(0x024, 0);
	w(0x020, 0xffffffff);                       /* new features: ignored */
	CHECK_EQ_U(T.driver_features, 1ULL << VIRTIO_F_VERSION_1);
	w(0x070, ACK | DRV | FEAT | DOK);
	CHECK_EQ_U(activations, 0);
	CHECK(!T.active);
	teardown();
}

static void test_driver_cannot_clear_needs_reset(void)
{
	setup();
	bring_up();
	virtio_mmio_fail(&T, "test");
	CHECK(status() & NRESET);
	w(0x070, ACK | DRV | FEAT | DOK);           /* NEEDS_RESET is not the driver's to clear */
	CHECK(status() & NRESET);
	CHECK(!T.active);
	teardown();
}

int main(void)
{
	RUN(test_normal_bring_up_and_reset);
	RUN(test_clear_driver_ok_needs_reset);
	RUN(test_renegotiate_without_reset);
	RUN(test_driver_cannot_clear_needs_reset);
	return check_summary();
}
