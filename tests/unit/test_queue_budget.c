/* test_queue_budget.c: a guest that keeps refilling a queue cannot hold ember's event-loop thread:
 * one notification serves at most VIRTIO_QUEUE_BUDGET chains, then the queue is requeued. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "check.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/vsock_int.h"
#include "log.h"
#include "metrics.h"

#define RAM_SIZE    (4u << 20)
#define BASE        0xd0000000ULL
#define QSZ         256
#define TAB_GPA     0x40000u       /* block: one 3-entry indirect table per request */
#define HDR_GPA     0x50000u       /* request headers, vsock packets: 64 bytes each */
#define STAT_GPA    0x60000u       /* block status bytes */
#define DATA_GPA    0x100000u      /* block data: 4 KiB per request */
#define MAX_READDS  200000u        /* the guest gives up after this many re-adds ... */
#define MAX_MS      5000u          /* ... or this long */

#define S_ACK  VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV  VIRTIO_STATUS_DRIVER
#define S_FEAT VIRTIO_STATUS_FEATURES_OK
#define S_DOK  VIRTIO_STATUS_DRIVER_OK

static struct kvm_vm vm;          /* a VM fd that takes KVM_IRQFD and KVM_IOEVENTFD and does nothing */
static struct guest_mem mem;
static uint8_t *ram;
static struct evloop loop;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * The device setup of ember runs unchanged: KVM is played by a seccomp filter
 * that answers the two ioctls on the fake VM fd with 0. The test then raises a
 * queue's ioeventfd as KVM would. 0, or -1 where seccomp filters are not allowed.
 */
static int fake_kvm(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r = -1;

	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = -1;
	vm.vm_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!ctx || vm.vm_fd < 0)
		goto out;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(ioctl), 2,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)vm.vm_fd),
			     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)KVM_IRQFD)) == 0 &&
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(ioctl), 2,
			     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)vm.vm_fd),
			     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)KVM_IOEVENTFD)) == 0 &&
	    seccomp_load(ctx) == 0)
		r = 0;
out:
	if (ctx)
		seccomp_release(ctx);
	return r;
}

static bool ram_up(void)
{
	void *p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return false;
	ram = p;
	return gmem_init_from(&mem, ram, RAM_SIZE, LAYOUT_RAM_HOLE) == 0 && evloop_init(&loop) == 0;
}

static void ram_down(void)
{
	evloop_destroy(&loop);
	munmap(ram, RAM_SIZE);
	ram = NULL;
}

/* ---- the driver: registers, then one queue of QSZ entries ---- */

static void reg_w(struct virtio_mmio *t, uint32_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(t, off, (const uint8_t *)&v, 4);
}

static uint32_t reg_r(struct virtio_mmio *t, uint32_t off)
{
	uint32_t v = 0;

	virtio_mmio_bus_ops.read(t, off, (uint8_t *)&v, 4);
	return v;
}

/* Queue @qi of QSZ entries: descriptors at @gpa, available ring at +0x1000, used ring at +0x2000. */
static void q_setup(struct virtio_mmio *t, unsigned qi, gpa_t gpa)
{
	reg_w(t, 0x030, qi);
	reg_w(t, 0x038, QSZ);
	reg_w(t, 0x080, (uint32_t)gpa);
	reg_w(t, 0x084, 0);
	reg_w(t, 0x090, (uint32_t)(gpa + 0x1000));
	reg_w(t, 0x094, 0);
	reg_w(t, 0x0a0, (uint32_t)(gpa + 0x2000));
	reg_w(t, 0x0a4, 0);
	reg_w(t, 0x044, 1);
}

/* Features @feat, queues at @gpa[0..@nq), DRIVER_OK; true if the device took it. */
static bool bring_up(struct virtio_mmio *t, uint64_t feat, const gpa_t *gpa, unsigned nq)
{
	reg_w(t, 0x070, S_ACK);
	reg_w(t, 0x070, S_ACK | S_DRV);
	reg_w(t, 0x024, 0);
	reg_w(t, 0x020, (uint32_t)feat);
	reg_w(t, 0x024, 1);
	reg_w(t, 0x020, (uint32_t)(feat >> 32));
	reg_w(t, 0x070, S_ACK | S_DRV | S_FEAT);
	for (unsigned i = 0; i < nq; i++)
		q_setup(t, i, gpa[i]);
	reg_w(t, 0x070, S_ACK | S_DRV | S_FEAT | S_DOK);
	return reg_r(t, 0x070) == (S_ACK | S_DRV | S_FEAT | S_DOK) && t->active;
}

static void put_desc(gpa_t at, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(ram + at, &d, sizeof(d));
}

/* The driver's view of one queue, and the guest thread that keeps it full. */
struct drv {
	gpa_t avail, used;
	uint16_t avail_idx;       /* next avail->idx */
	uint16_t used_seen;       /* used elements taken, mod 2^16 */
	uint64_t readds;          /* chains the guest thread made available again (atomic) */
	uint64_t deadline_ms;
	uint64_t spins;           /* atomic: rounds of the guest thread, to see it on a CPU */
	int stop;                 /* atomic: main wants the thread to end */
};

static uint16_t *idx_of(gpa_t ring)
{
	return (uint16_t *)(void *)(ram + ring + 2);
}

/* Make chain @head available and publish avail->idx (the ring entry before the index). */
static void drv_avail(struct drv *g, uint16_t head)
{
	memcpy(ram + g->avail + 4 + 2u * (g->avail_idx % QSZ), &head, 2);
	g->avail_idx++;
	__atomic_store_n(idx_of(g->avail), g->avail_idx, __ATOMIC_RELEASE);
}

static void drv_init(struct drv *g, gpa_t qgpa)
{
	memset(g, 0, sizeof(*g));
	g->avail = qgpa + 0x1000;
	g->used = qgpa + 0x2000;
}

/* The guest: whenever a used element appears, the same request goes back, at native speed. */
static void *guest_main(void *arg)
{
	struct drv *g = arg;

	while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
		uint16_t idx = __atomic_load_n(idx_of(g->used), __ATOMIC_ACQUIRE);
		bool more = now_ms() < g->deadline_ms;

		while (g->used_seen != idx) {
			uint32_t id;

			memcpy(&id, ram + g->used + 4 + 8u * (g->used_seen % QSZ), 4);
			g->used_seen++;
			if (more && g->readds < MAX_READDS && id < QSZ) {
				drv_avail(g, (uint16_t)id);
				__atomic_store_n(&g->readds, g->readds + 1, __ATOMIC_RELAXED);
			}
		}
		__atomic_store_n(&g->spins, g->spins + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Start the guest thread on another CPU than the caller's where there are two
 * (a vCPU and ember's loop thread run side by side), and wait until it spins.
 */
static int guest_start(pthread_t *th, struct drv *g)
{
	cpu_set_t all, one;
	pthread_attr_t a;
	int cpus[2], n = 0, r;

	CPU_ZERO(&one);
	if (sched_getaffinity(0, sizeof(all), &all) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
			if (CPU_ISSET(c, &all))
				cpus[n++] = c;
	pthread_attr_init(&a);
	if (n == 2) {
		CPU_SET(cpus[0], &one);
		sched_setaffinity(0, sizeof(one), &one);
		CPU_ZERO(&one);
		CPU_SET(cpus[1], &one);
		pthread_attr_setaffinity_np(&a, sizeof(one), &one);
	}
	r = pthread_create(th, &a, guest_main, g);
	pthread_attr_destroy(&a);
	if (n == 2)
		sched_setaffinity(0, sizeof(all), &all);
	while (r == 0 && __atomic_load_n(&g->spins, __ATOMIC_RELAXED) < 1000)
		sched_yield();
	return r;
}

/* ---- the event loop's side ---- */

/* What KVM does on the guest's QueueNotify write: raise the queue's ioeventfd. */
static void kick(struct virtio_mmio *t, unsigned qi)
{
	uint64_t one = 1;

	CHECK(write(t->notify_fd[qi], &one, sizeof(one)) == sizeof(one));
}

/* The queue's notification fd is readable: the loop will come back to it. */
static bool pending(const struct virtio_mmio *t, unsigned qi)
{
	struct pollfd p = { t->notify_fd[qi], POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

/* One turn of ember's loop for queue @qi: the callback registered for its fd, once. */
static void loop_turn(struct virtio_mmio *t, unsigned qi)
{
	for (unsigned i = 0; i < loop.cap; i++) {
		if (loop.h[i].used && loop.h[i].fd == t->notify_fd[qi]) {
			loop.h[i].fn(loop.h[i].opaque, EPOLLIN);
			return;
		}
	}
	CHECK_FAIL_("queue %u's notification fd is not in the loop", qi);
}

/*
 * The flood: the QSZ chains described at descriptors 0..QSZ-1 (each served as
 * one count of @served) go on the ring, the guest thread starts refilling it,
 * and one notification is handled. It must serve at most the budget and
 * requeue; later turns serve the rest, none lost or served twice.
 */
static void flood(const char *what, struct virtio_mmio *t, unsigned qi, struct drv *g,
		  enum metric_id served)
{
	uint64_t m0, r0, first, refilled, second = 0, total;
	uint16_t used0;
	bool requeued, again = false;
	pthread_t th;
	double t0, us;

	for (uint16_t i = 0; i < QSZ; i++)
		drv_avail(g, i);
	g->deadline_ms = now_ms() + MAX_MS;
	if (guest_start(&th, g)) {
		CHECK_FAIL_("no guest thread");
		return;
	}

	m0 = metric_get(served);
	r0 = __atomic_load_n(&g->readds, __ATOMIC_RELAXED);
	used0 = __atomic_load_n(idx_of(g->used), __ATOMIC_ACQUIRE);
	kick(t, qi);
	t0 = now_us();
	loop_turn(t, qi);
	us = now_us() - t0;
	/* Counted by the device's metric (64 bits): used->idx alone wraps at 65536. */
	first = metric_get(served) - m0;
	CHECK_EQ_U((uint16_t)(__atomic_load_n(idx_of(g->used), __ATOMIC_ACQUIRE) - used0),
		   (uint16_t)first);
	refilled = __atomic_load_n(&g->readds, __ATOMIC_RELAXED) - r0;
	requeued = pending(t, qi);
	if (requeued) {
		/* The next turn of the loop goes on where the budget stopped. */
		uint64_t m1 = metric_get(served);

		loop_turn(t, qi);
		second = metric_get(served) - m1;
		again = pending(t, qi);
	}
	__atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("     %s: one notification served %llu chains in %.0f us (guest re-added %llu "
	       "meanwhile), requeued: %s; the next turn %llu, requeued: %s\n",
	       what, (unsigned long long)first, us, (unsigned long long)refilled,
	       requeued ? "yes" : "no", (unsigned long long)second, again ? "yes" : "no");
	CHECK(first > 0);
	CHECK(first <= VIRTIO_QUEUE_BUDGET);
	CHECK(requeued);
	/* The next turn is held to the budget too, and asks for another only when it spent it. */
	CHECK(second <= VIRTIO_QUEUE_BUDGET && !(again && second < VIRTIO_QUEUE_BUDGET));

	/* The guest stops and notifies its last chains: they are served, then the device stops asking. */
	kick(t, qi);
	for (int i = 0; i < 4 && pending(t, qi); i++)
		loop_turn(t, qi);
	CHECK(!pending(t, qi));
	total = metric_get(served) - m0;
	CHECK_EQ_U(__atomic_load_n(idx_of(g->used), __ATOMIC_ACQUIRE), g->avail_idx);
	CHECK_EQ_U(total, QSZ + g->readds);
	CHECK(!(reg_r(t, 0x070) & VIRTIO_STATUS_NEEDS_RESET));
}

/* ---- virtio-blk, synchronous engine: 4 KiB reads ---- */

static struct vblk blk;

static void test_blk_budget(void)
{
	static const gpa_t qgpa[1] = { 0x10000 };
	struct drive_cfg cfg;
	struct drv g;
	int fd;

	if (!ram_up()) {
		CHECK_FAIL_("no guest RAM");
		return;
	}
	/* The disk: 4 KiB block i holds bytes i + 1. */
	fd = memfd_create("ember-test-disk", MFD_CLOEXEC);
	CHECK(fd >= 0);
	for (unsigned i = 0; fd >= 0 && i < QSZ; i++) {
		uint8_t block[4096];

		memset(block, (int)(i + 1), sizeof(block));
		CHECK(pwrite(fd, block, sizeof(block), (off_t)i * 4096) == (ssize_t)sizeof(block));
	}
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.drive_id, sizeof(cfg.drive_id), "vda");
	cfg.io_engine = IO_ENGINE_SYNC;
	CHECK_EQ_I(vblk_init(&blk, &cfg, fd, QSZ * 4096 / VBLK_SECTOR_SIZE, &vm, &mem, &loop, BASE, 5), 0);
	if (!check_case_failed &&
	    !bring_up(&blk.t, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_INDIRECT_DESC), qgpa, 1))
		CHECK_FAIL_("the block device did not come up");
	if (check_case_failed) {
		vblk_destroy(&blk);
		ram_down();
		return;
	}
	/* Request i: an indirect table of header, 4 KiB to read, status byte; reads sectors 8i..8i+7. */
	for (uint16_t i = 0; i < QSZ; i++) {
		uint32_t hdr[4] = { 0 /* VIRTIO_BLK_T_IN */, 0, 8u * i, 0 };
		gpa_t tab = TAB_GPA + 48u * i;

		memcpy(ram + HDR_GPA + 64u * i, hdr, sizeof(hdr));
		put_desc(tab, HDR_GPA + 64u * i, 16, VIRTQ_DESC_F_NEXT, 1);
		put_desc(tab + 16, DATA_GPA + 4096u * i, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
		put_desc(tab + 32, STAT_GPA + i, 1, VIRTQ_DESC_F_WRITE, 0);
		put_desc(qgpa[0] + 16u * i, tab, 48, VIRTQ_DESC_F_INDIRECT, 0);
	}
	memset(ram + STAT_GPA, 0xff, QSZ);
	drv_init(&g, qgpa[0]);
	flood("block (4 KiB reads)", &blk.t, 0, &g, M_block_read_count);
	/* Every request was served as a driver expects: status OK, its 4 KiB read. */
	for (unsigned i = 0; i < QSZ; i++) {
		CHECK_EQ_U(ram[STAT_GPA + i], VIRTIO_BLK_S_OK);
		CHECK_EQ_U(ram[DATA_GPA + 4096u * i + 4095], (uint8_t)(i + 1));
	}
	vblk_destroy(&blk);
	ram_down();
}

/* ---- virtio-vsock, TX queue: credit updates on an open connection ---- */

static struct vsock_dev vs;

#define GUEST_CID  3
#define GUEST_PORT 1234
#define HOST_PORT  5000

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void put_pkt(uint16_t i, uint16_t op)
{
	struct vsock_hdr h;

	memset(&h, 0, sizeof(h));
	h.src_cid = GUEST_CID;
	h.dst_cid = VSOCK_HOST_CID;
	h.src_port = GUEST_PORT;
	h.dst_port = HOST_PORT;
	h.type = VSOCK_TYPE_STREAM;
	h.op = op;
	h.buf_alloc = 65536;
	memcpy(ram + HDR_GPA + 64u * i, &h, sizeof(h));
}

static void test_vsock_tx_budget(void)
{
	static const gpa_t qgpa[VSOCK_NQUEUES] = { 0x10000, 0x20000, 0x30000 };
	char dir[] = "/tmp/ember-budget-XXXXXX", uds[64], port_path[80];
	struct err err;
	struct vsock_cfg cfg;
	struct drv g;
	int lfd, hfd = -1;

	if (!ram_up() || !mkdtemp(dir)) {
		CHECK_FAIL_("no guest RAM or temporary directory");
		return;
	}
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(port_path, sizeof(port_path), "%s_%u", uds, HOST_PORT);
	memset(&cfg, 0, sizeof(cfg));
	cfg.guest_cid = GUEST_CID;
	cfg.uds_path = uds;
	CHECK_EQ_I(vsock_listen(uds, &lfd, &err), 0);
	if (!check_case_failed)
		CHECK_EQ_I(vsock_init(&vs, &cfg, lfd, &vm, &mem, &loop, BASE + 0x1000, 6), 0);
	hfd = listen_at(port_path);
	CHECK(hfd >= 0);
	if (!check_case_failed &&
	    !bring_up(&vs.t, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_VSOCK_F_STREAM), qgpa,
		      VSOCK_NQUEUES))
		CHECK_FAIL_("the vsock device did not come up");
	if (check_case_failed)
		goto out;
	/* One packet per descriptor; the first opens the connection to the host program. */
	for (uint16_t i = 0; i < QSZ; i++)
		put_desc(qgpa[VSOCK_TXQ] + 16u * i, HDR_GPA + 64u * i, VSOCK_HDR_SIZE, 0, 0);
	drv_init(&g, qgpa[VSOCK_TXQ]);
	put_pkt(0, VSOCK_OP_REQUEST);
	drv_avail(&g, 0);
	kick(&vs.t, VSOCK_TXQ);
	loop_turn(&vs.t, VSOCK_TXQ);
	CHECK_EQ_U(__atomic_load_n(idx_of(g.used), __ATOMIC_ACQUIRE), 1);
	g.used_seen = 1;
	CHECK(vsock_lookup(&vs, HOST_PORT, GUEST_PORT) != NULL);
	if (check_case_failed)
		goto out;
	for (uint16_t i = 0; i < QSZ; i++)
		put_pkt(i, VSOCK_OP_CREDIT_UPDATE);
	flood("vsock TX (credit updates)", &vs.t, VSOCK_TXQ, &g, M_vsock_tx_packets_count);
	CHECK(vsock_lookup(&vs, HOST_PORT, GUEST_PORT) != NULL);   /* valid packets: still open */
out:
	vsock_destroy(&vs);
	if (hfd >= 0)
		close(hfd);
	unlink(port_path);
	unlink(uds);
	rmdir(dir);
	ram_down();
}

int main(void)
{
	if (fake_kvm()) {
		printf("SKIP test_blk_budget: no seccomp filter to stand in for KVM\n");
		printf("SKIP test_vsock_tx_budget: no seccomp filter to stand in for KVM\n");
		return 0;
	}
	log_set_level(LOG_LEVEL_WARN);
	RUN(test_blk_budget);
	RUN(test_vsock_tx_budget);
	close(vm.vm_fd);
	return check_summary();
}
