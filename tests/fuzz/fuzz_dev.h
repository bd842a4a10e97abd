/* fuzz_dev.h: what the device fuzzers share: fake guest RAM, a fake driver on ember's MMIO bus, no KVM. */
#ifndef EMBER_TESTS_FUZZ_DEV_H
#define EMBER_TESTS_FUZZ_DEV_H

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtq.h"
#include "event/loop.h"
#include "kvm/bus.h"
#include "kvm/kvm.h"
#include "kvm/mem.h"
#include "log.h"

/* An invariant of the device: abort (libFuzzer keeps the input) when it does not hold. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant violated: %s\n",    \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

/* virtio-mmio registers (virtio 1.2, table 4.1), as a driver names them. */
#define FZ_MAGIC              0x000
#define FZ_VERSION            0x004
#define FZ_DEVICE_ID          0x008
#define FZ_VENDOR_ID          0x00c
#define FZ_DEVICE_FEATURES    0x010
#define FZ_DEVICE_FEATURES_SEL 0x014
#define FZ_DRIVER_FEATURES    0x020
#define FZ_DRIVER_FEATURES_SEL 0x024
#define FZ_QUEUE_SEL          0x030
#define FZ_QUEUE_NUM_MAX      0x034
#define FZ_QUEUE_NUM          0x038
#define FZ_QUEUE_READY        0x044
#define FZ_QUEUE_NOTIFY       0x050
#define FZ_INTERRUPT_STATUS   0x060
#define FZ_INTERRUPT_ACK      0x064
#define FZ_STATUS             0x070
#define FZ_QUEUE_DESC_LOW     0x080
#define FZ_QUEUE_DESC_HIGH    0x084
#define FZ_QUEUE_DRIVER_LOW   0x090
#define FZ_QUEUE_DRIVER_HIGH  0x094
#define FZ_QUEUE_DEVICE_LOW   0x0a0
#define FZ_QUEUE_DEVICE_HIGH  0x0a4
#define FZ_CONFIG_GENERATION  0x0fc
#define FZ_CONFIG             0x100

#define FZ_BASE  0xd0000000ULL   /* where the fake VMs put their first device */
#define FZ_SLOT  0x1000ULL       /* LAYOUT_VIRTIO_MMIO_SIZE */

/* ---- input ---- */

/* The fuzzer's bytes, read front to back; reads past the end give zeros. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static inline int fz_more(const struct fz_in *in)
{
	return in->n > 0;
}

static inline uint64_t fz_take(struct fz_in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		if (in->n) {
			v |= (uint64_t)in->p[0] << (8 * i);
			in->p++;
			in->n--;
		}
	}
	return v;
}

static inline uint8_t fz_u8(struct fz_in *in) { return (uint8_t)fz_take(in, 1); }
static inline uint16_t fz_u16(struct fz_in *in) { return (uint16_t)fz_take(in, 2); }
static inline uint32_t fz_u32(struct fz_in *in) { return (uint32_t)fz_take(in, 4); }
static inline uint64_t fz_u64(struct fz_in *in) { return fz_take(in, 8); }

/* ---- the process: quiet logs, a KVM that is not there ---- */

/*
 * fz_fake_ioctl: make ioctl(@fd, @req) succeed without doing anything (a
 * seccomp filter answers it with 0). Filters stack; each call adds one.
 */
static inline void fz_fake_ioctl(int fd, unsigned long req)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	FUZZ_CHECK(ctx != NULL);
	FUZZ_CHECK(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(ioctl), 2,
				    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd, 0),
				    SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)req, 0)) == 0);
	FUZZ_CHECK(seccomp_load(ctx) == 0);
	seccomp_release(ctx);
}

/*
 * fz_fake_vm: a VM whose fd takes KVM_IRQFD and KVM_IOEVENTFD and does
 * nothing, so that virtio_mmio_init() runs as in ember. The fuzzer plays
 * KVM: it raises a queue's ioeventfd for a notification and reads the
 * irqfd to see interrupts.
 */
static inline void fz_fake_vm(struct kvm_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = -1;
	vm->vm_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(vm->vm_fd >= 0);
	fz_fake_ioctl(vm->vm_fd, KVM_IRQFD);
	fz_fake_ioctl(vm->vm_fd, KVM_IOEVENTFD);
	log_set_level(LOG_LEVEL_OFF);
}

/* ---- guest RAM ---- */

/* fz_ram_map: @size bytes of guest RAM between two inaccessible pages. */
static inline uint8_t *fz_ram_map(size_t size, struct guest_mem *m)
{
	size_t pg = 4096;
	uint8_t *p = mmap(NULL, size + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	FUZZ_CHECK(p != MAP_FAILED);
	FUZZ_CHECK(mprotect(p + pg, size, PROT_READ | PROT_WRITE) == 0);
	FUZZ_CHECK(gmem_init_from(m, p + pg, size, LAYOUT_RAM_HOLE) == 0);
	return p + pg;
}

/* fz_ram_clear: all zeros again (untouched pages cost nothing). */
static inline void fz_ram_clear(uint8_t *ram, size_t size)
{
	FUZZ_CHECK(madvise(ram, size, MADV_DONTNEED) == 0);
}

/* ---- the event loop, one dispatch at a time ---- */

/*
 * fz_pump: run the callbacks of ready fds until none is ready within @ms, or
 * for FZ_PUMP_ROUNDS rounds (a guest may keep a device busy for ever, as
 * the queue budget allows); returns how many ran.
 */
#define FZ_PUMP_ROUNDS 64

static inline unsigned fz_pump(struct evloop *l, int ms)
{
	struct epoll_event ev[16];
	unsigned calls = 0;

	for (unsigned round = 0; round < FZ_PUMP_ROUNDS; round++) {
		int n = epoll_wait(l->epfd, ev, 16, ms);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return calls;
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);

			if (slot < l->cap && l->h[slot].used && l->h[slot].gen == gen) {
				l->h[slot].fn(l->h[slot].opaque, ev[i].events);
				calls++;
			}
		}
	}
	return calls;
}

/* fz_wait: wait up to @ms for one batch of events and run their callbacks. */
static inline void fz_wait(struct evloop *l, int ms)
{
	struct epoll_event ev[16];
	int n = epoll_wait(l->epfd, ev, 16, ms);

	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);

		if (slot < l->cap && l->h[slot].used && l->h[slot].gen == gen)
			l->h[slot].fn(l->h[slot].opaque, ev[i].events);
	}
}

static inline uint64_t fz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* fz_irqs: interrupts raised since the last call (the irqfd's counter, reset by the read). */
static inline uint64_t fz_irqs(const struct virtio_mmio *t)
{
	uint64_t n = 0;

	if (read(t->irq_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* fz_kick: what KVM does on a guest write of @q to QueueNotify: raise the ioeventfd. */
static inline void fz_kick(const struct virtio_mmio *t, unsigned q)
{
	uint64_t one = 1;

	FUZZ_CHECK(q < VIRTIO_MMIO_MAX_QUEUES && t->notify_fd[q] >= 0);
	FUZZ_CHECK(write(t->notify_fd[q], &one, sizeof(one)) == sizeof(one));
}

/* ---- the driver's side of the registers, through the MMIO bus as a vCPU exit goes ---- */

static inline void fz_w32(const struct bus *b, uint64_t base, uint64_t off, uint32_t v)
{
	FUZZ_CHECK(bus_write(b, base + off, (const uint8_t *)&v, 4) == 0);
}

static inline uint32_t fz_r32(const struct bus *b, uint64_t base, uint64_t off)
{
	uint32_t v = 0;

	FUZZ_CHECK(bus_read(b, base + off, (uint8_t *)&v, 4) == 0);
	return v;
}

/* ---- the driver's side of one split virtqueue (virtio 1.2 2.7) ---- */

struct fz_q {
	uint8_t *ram;
	gpa_t desc, avail, used;   /* 16-, 2- and 4-byte aligned */
	uint16_t num;
	uint16_t avail_idx;        /* next avail->idx to publish */
	uint16_t used_seen;        /* used elements consumed */
};

static inline void fz_put16(uint8_t *ram, gpa_t gpa, uint16_t v) { memcpy(ram + gpa, &v, 2); }
static inline uint16_t fz_get16(const uint8_t *ram, gpa_t gpa) { uint16_t v; memcpy(&v, ram + gpa, 2); return v; }
static inline uint32_t fz_get32(const uint8_t *ram, gpa_t gpa) { uint32_t v; memcpy(&v, ram + gpa, 4); return v; }

/* fz_q_setup: select queue @qi, size @num, the three areas, QueueReady; returns QueueReady as read back. */
static inline uint32_t fz_q_setup(const struct bus *b, uint64_t base, unsigned qi, struct fz_q *q)
{
	fz_w32(b, base, FZ_QUEUE_SEL, qi);
	fz_w32(b, base, FZ_QUEUE_NUM, q->num);
	fz_w32(b, base, FZ_QUEUE_DESC_LOW, (uint32_t)q->desc);
	fz_w32(b, base, FZ_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	fz_w32(b, base, FZ_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	fz_w32(b, base, FZ_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	fz_w32(b, base, FZ_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	fz_w32(b, base, FZ_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	fz_w32(b, base, FZ_QUEUE_READY, 1);
	return fz_r32(b, base, FZ_QUEUE_READY);
}

/* fz_desc_at: write one descriptor at guest address @at (a table entry). */
static inline void fz_desc_at(uint8_t *ram, gpa_t at, uint64_t addr, uint32_t len, uint16_t flags,
			      uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };

	memcpy(ram + at, &d, sizeof(d));
}

/* fz_q_avail: make chain @head available (not yet visible: fz_q_publish does that). */
static inline void fz_q_avail(struct fz_q *q, uint16_t head)
{
	fz_put16(q->ram, q->avail + 4 + 2u * (q->avail_idx % q->num), head);
	q->avail_idx++;
}

/* fz_q_publish: avail->idx, with used_event (EVENT_IDX) and the NO_INTERRUPT flag. */
static inline void fz_q_publish(struct fz_q *q, uint16_t flags, uint16_t used_event)
{
	fz_put16(q->ram, q->avail, flags);
	fz_put16(q->ram, q->avail + 4 + 2u * q->num, used_event);
	__atomic_store_n((uint16_t *)(void *)(q->ram + q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

/* fz_q_used_idx: used->idx as the device published it. */
static inline uint16_t fz_q_used_idx(const struct fz_q *q)
{
	return __atomic_load_n((uint16_t *)(void *)(q->ram + q->used + 2), __ATOMIC_ACQUIRE);
}

/* fz_q_next_used: the next used element: 1 with *id and *len, 0 if none. */
static inline int fz_q_next_used(struct fz_q *q, uint32_t *id, uint32_t *len)
{
	gpa_t e;

	if (fz_q_used_idx(q) == q->used_seen)
		return 0;
	e = q->used + 4 + 8u * (q->used_seen % q->num);
	*id = fz_get32(q->ram, e);
	*len = fz_get32(q->ram, e + 4);
	q->used_seen++;
	return 1;
}

#endif
