/* mmio.c: virtio-mmio version 2 register file, feature negotiation, queue setup, interrupts. */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

/* Register offsets (virtio 1.2, table 4.1). */
#define REG_MAGIC              0x000
#define REG_VERSION            0x004
#define REG_DEVICE_ID          0x008
#define REG_VENDOR_ID          0x00c
#define REG_DEVICE_FEATURES    0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES    0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL          0x030
#define REG_QUEUE_NUM_MAX      0x034
#define REG_QUEUE_NUM          0x038
#define REG_QUEUE_READY        0x044
#define REG_QUEUE_NOTIFY       0x050
#define REG_INTERRUPT_STATUS   0x060
#define REG_INTERRUPT_ACK      0x064
#define REG_STATUS             0x070
#define REG_QUEUE_DESC_LOW     0x080
#define REG_QUEUE_DESC_HIGH    0x084
#define REG_QUEUE_DRIVER_LOW   0x090
#define REG_QUEUE_DRIVER_HIGH  0x094
#define REG_QUEUE_DEVICE_LOW   0x0a0
#define REG_QUEUE_DEVICE_HIGH  0x0a4
#define REG_SHM_LEN_LOW        0x0b0
#define REG_SHM_LEN_HIGH       0x0b4
#define REG_SHM_BASE_LOW       0x0b8
#define REG_SHM_BASE_HIGH      0x0bc
#define REG_CONFIG_GENERATION  0x0fc
#define REG_CONFIG             0x100

#define VIRTIO_MMIO_MAGIC      0x74726976   /* "virt" */
#define VIRTIO_MMIO_VERSION    2

static void vmmio_interrupt(struct virtio_mmio *t, uint32_t why)
{
	uint64_t one = 1;

	t->interrupt_status |= why;
	if (write(t->irq_fd, &one, sizeof(one)) < 0)
		LOG_RATELIMITED(LOG_LEVEL_ERROR, "%s: cannot raise IRQ %u", t->name, t->irq);
}

int virtio_mmio_config_window(const void *cfg, size_t size, uint64_t off, uint8_t *data,
			      unsigned len)
{
	if (off >= size || len > size - off)
		return -EINVAL;
	memcpy(data, (const uint8_t *)cfg + off, len);
	return 0;
}

int virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned bit)
{
	return (t->driver_features >> bit) & 1;
}

void virtio_mmio_signal_used(struct virtio_mmio *t, unsigned q)
{
	if (virtq_should_notify(&t->q[q]))
		vmmio_interrupt(t, VIRTIO_INT_VRING);
}

int virtio_mmio_requeue(struct virtio_mmio *t, unsigned q)
{
	uint64_t one = 1;

	if (q >= VIRTIO_MMIO_MAX_QUEUES || t->notify_fd[q] < 0)
		return -EBADF;
	return write(t->notify_fd[q], &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->config_generation++;
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		vmmio_interrupt(t, VIRTIO_INT_CONFIG);
}

void virtio_mmio_fail(struct virtio_mmio *t, const char *why)
{
	LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: driver error, device needs reset: %s", t->name,
			why ? why : "unknown");
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	t->active = 0;
	/* 4.2.2.1: a device that needs a reset sends a configuration change notification. */
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		vmmio_interrupt(t, VIRTIO_INT_CONFIG);
}

static void vmmio_reset(struct virtio_mmio *t)
{
	if (t->ops->reset)
		t->ops->reset(t);
	for (unsigned i = 0; i < t->nqueues; i++)
		virtq_reset(&t->q[i]);
	t->driver_features = 0;
	t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
	t->status = 0;
	t->interrupt_status = 0;
	t->active = 0;
}

static struct virtq *vmmio_selected(struct virtio_mmio *t)
{
	return t->queue_sel < t->nqueues ? &t->q[t->queue_sel] : NULL;
}

static uint32_t vmmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *q = vmmio_selected(t);

	switch (off) {
	case REG_MAGIC: return VIRTIO_MMIO_MAGIC;
	case REG_VERSION: return VIRTIO_MMIO_VERSION;
	case REG_DEVICE_ID: return t->ops->device_id;
	case REG_VENDOR_ID: return 0;
	case REG_DEVICE_FEATURES:
		return t->device_features_sel == 0 ? (uint32_t)t->device_features
		     : t->device_features_sel == 1 ? (uint32_t)(t->device_features >> 32) : 0;
	case REG_QUEUE_NUM_MAX: return q ? q->max_num : 0;
	case REG_QUEUE_READY: return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS: return t->interrupt_status;
	case REG_STATUS: return t->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH: return 0xffffffff;   /* no shared memory regions */
	case REG_CONFIG_GENERATION: return t->config_generation;
	default: return 0;
	}
}

/* 3.1.1 step 5: FEATURES_OK only if the driver took VERSION_1 and nothing we did not offer. */
static int vmmio_features_ok(struct virtio_mmio *t)
{
	if (!virtio_mmio_has_feature(t, VIRTIO_F_VERSION_1)) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: driver refused VIRTIO_F_VERSION_1 (legacy drivers are not supported)",
				t->name);
		return 0;
	}
	if (t->driver_features & ~t->device_features) {
		LOG_RATELIMITED(LOG_LEVEL_WARN, "%s: driver accepted features not offered: 0x%llx",
				t->name,
				(unsigned long long)(t->driver_features & ~t->device_features));
		return 0;
	}
	return 1;
}

static void vmmio_write_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t added = v & ~t->status;

	if (v == 0) {
		vmmio_reset(t);
		return;
	}
	/*
	 * The driver may only add bits (2.1.2, 3.1.1): only a reset (0) goes back.
	 * Clearing FEATURES_OK or DRIVER_OK to renegotiate or re-activate without
	 * one leaves the status as it was and the device needing a reset.
	 */
	if (t->status & ~v & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) {
		virtio_mmio_fail(t, "the driver cleared status bits without a reset");
		return;
	}
	/* NEEDS_RESET is the device's to set. */
	v = (v & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) | (t->status & VIRTIO_STATUS_NEEDS_RESET);
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !vmmio_features_ok(t))
		v &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_NEEDS_RESET)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			v &= ~(uint32_t)VIRTIO_STATUS_DRIVER_OK;
		} else {
			t->status = v;
			if (t->ops->activate && t->ops->activate(t)) {
				virtio_mmio_fail(t, "device activation failed");
				return;
			}
			t->active = 1;
			return;
		}
	}
	t->status = v;
}

static void vmmio_set_ready(struct virtio_mmio *t, struct virtq *q, uint32_t v)
{
	if (!v) {
		q->ready = false;
		return;
	}
	q->event_idx = virtio_mmio_has_feature(t, VIRTIO_F_EVENT_IDX);
	q->indirect_desc = virtio_mmio_has_feature(t, VIRTIO_F_INDIRECT_DESC);
	if (virtq_validate(q, t->mem))
		virtio_mmio_fail(t, q->error);
}

/* Queue layout registers may change only while the queue is not ready (4.2.2.3). */
static void vmmio_queue_addr(struct virtq *q, gpa_t *field, int high, uint32_t v)
{
	if (q->ready)
		return;
	*field = high ? (*field & 0xffffffffULL) | ((uint64_t)v << 32)
		      : (*field & ~0xffffffffULL) | v;
}

static void vmmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq *q = vmmio_selected(t);

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		t->device_features_sel = v;
		return;
	case REG_DRIVER_FEATURES:
		/* Only before FEATURES_OK (3.1.1). */
		if (t->status & VIRTIO_STATUS_FEATURES_OK)
			return;
		if (t->driver_features_sel == 0)
			t->driver_features = (t->driver_features & ~0xffffffffULL) | v;
		else if (t->driver_features_sel == 1)
			t->driver_features = (t->driver_features & 0xffffffffULL) | ((uint64_t)v << 32);
		return;
	case REG_DRIVER_FEATURES_SEL:
		t->driver_features_sel = v;
		return;
	case REG_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case REG_QUEUE_NUM:
		if (q && !q->ready)
			q->num = (uint16_t)(v > 0xffff ? 0 : v);
		return;
	case REG_QUEUE_READY:
		if (q)
			vmmio_set_ready(t, q, v);
		return;
	case REG_QUEUE_NOTIFY:
		/* Normally caught by the ioeventfd; a write that gets here is passed on. */
		if (v < t->nqueues && t->paused)
			t->held |= 1u << v;
		else if (v < t->nqueues && t->active && t->ops->queue_notify)
			t->ops->queue_notify(t, v);
		return;
	case REG_INTERRUPT_ACK:
		t->interrupt_status &= ~v;
		return;
	case REG_STATUS:
		vmmio_write_status(t, v);
		return;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		if (q)
			vmmio_queue_addr(q, &q->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
		return;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		if (q)
			vmmio_queue_addr(q, &q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
		return;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (q)
			vmmio_queue_addr(q, &q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
		return;
	default:
		return;
	}
}

static void vmmio_bus_read(void *opaque, uint64_t off, uint8_t *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	memset(data, 0, len);
	pthread_mutex_lock(&t->lock);
	if (off >= REG_CONFIG) {
		if (t->ops->config_read)
			t->ops->config_read(t, off - REG_CONFIG, data, len);
	} else if (len == 4 && (off & 3) == 0) {
		/* 4.2.2.2: registers are read with aligned 32-bit accesses only. */
		v = vmmio_read_reg(t, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

static void vmmio_bus_write(void *opaque, uint64_t off, const uint8_t *data, unsigned len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	pthread_mutex_lock(&t->lock);
	if (off >= REG_CONFIG) {
		if (t->ops->config_write)
			t->ops->config_write(t, off - REG_CONFIG, data, len);
	} else if (len == 4 && (off & 3) == 0) {
		memcpy(&v, data, 4);
		vmmio_write_reg(t, off, v);
	} else {
		LOG_RATELIMITED(LOG_LEVEL_DEBUG, "%s: ignored %u-byte write at 0x%llx", t->name, len,
				(unsigned long long)off);
	}
	pthread_mutex_unlock(&t->lock);
}

const struct bus_ops virtio_mmio_bus_ops = { .read = vmmio_bus_read, .write = vmmio_bus_write };

/* The ioeventfd of a queue fired: the device processes it on the event-loop thread. */
static void vmmio_on_notify(void *opaque, uint32_t events)
{
	struct virtio_mmio_notify *n = opaque;
	struct virtio_mmio *t = n->t;
	uint64_t cnt;

	(void)events;
	if (read(t->notify_fd[n->q], &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->paused)
		t->held |= 1u << n->q;
	else if (t->active && t->q[n->q].ready && !t->q[n->q].broken && t->ops->queue_notify)
		t->ops->queue_notify(t, n->q);
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		     const char *name, const struct kvm_vm *vm, const struct guest_mem *mem,
		     struct evloop *loop, uint64_t base, unsigned irq, unsigned nqueues,
		     uint16_t qmax, uint64_t features)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->irq_fd = -1;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		t->notify_fd[i] = -1;
	if (nqueues == 0 || nqueues > VIRTIO_MMIO_MAX_QUEUES)
		return -EINVAL;
	if ((r = pthread_mutex_init(&t->lock, NULL)))
		return -r;
	t->ops = ops;
	t->dev = dev;
	t->name = name;
	t->vm = vm;
	t->mem = mem;
	t->loop = loop;
	t->base = base;
	t->irq = irq;
	t->nqueues = nqueues;
	t->device_features = features | (1ULL << VIRTIO_F_VERSION_1) |
			     (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_INDIRECT_DESC);
	for (unsigned i = 0; i < nqueues; i++)
		if ((r = virtq_init(&t->q[i], qmax)))
			return r;
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_fd < 0)
		return -errno;
	if ((r = kvm_irqfd(vm, t->irq_fd, irq)))
		return r;
	for (unsigned i = 0; i < nqueues; i++) {
		struct virtio_mmio_notify *n = &t->notify[i];

		n->t = t;
		n->q = i;
		t->notify_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->notify_fd[i] < 0)
			return -errno;
		if ((r = kvm_ioeventfd(vm, t->notify_fd[i], base + REG_QUEUE_NOTIFY, i)) ||
		    (r = evloop_add(loop, t->notify_fd[i], EPOLLIN, vmmio_on_notify, n)))
			return r;
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t->ops)
		return;
	for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		if (t->notify_fd[i] >= 0)
			close(t->notify_fd[i]);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

void virtio_mmio_pause(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	t->paused = 1;
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_resume(struct virtio_mmio *t)
{
	uint32_t held;

	pthread_mutex_lock(&t->lock);
	t->paused = 0;
	held = t->held;
	t->held = 0;
	pthread_mutex_unlock(&t->lock);
	/* Through the notify eventfds: the device runs them on the loop, as usual. */
	for (unsigned q = 0; q < t->nqueues; q++)
		if (held & (1u << q))
			(void)virtio_mmio_requeue(t, q);
}

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&t->lock);
	s->device_features = t->device_features;
	s->driver_features = t->driver_features;
	s->device_features_sel = t->device_features_sel;
	s->driver_features_sel = t->driver_features_sel;
	s->queue_sel = t->queue_sel;
	s->status = t->status;
	s->interrupt_status = t->interrupt_status;
	s->config_generation = t->config_generation;
	s->nqueues = t->nqueues;
	s->active = (uint32_t)(t->active != 0);
	for (unsigned i = 0; i < t->nqueues; i++)
		virtq_save(&t->q[i], &s->q[i]);
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s, struct err *e)
{
	int r = 0;

	if (s->device_features != t->device_features)
		return err_set(e, -EINVAL, "%s: the saved device offered features 0x%llx, this one 0x%llx",
			       t->name, (unsigned long long)s->device_features,
			       (unsigned long long)t->device_features);
	if (s->nqueues != t->nqueues || s->active > 1 ||
	    (s->driver_features & ~s->device_features))
		return err_set(e, -EINVAL, "%s: %u queues (this device has %u) or features the "
			       "device did not offer", t->name, s->nqueues, t->nqueues);
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->nqueues && !r; i++)
		if (virtq_restore(&t->q[i], &s->q[i], t->mem))
			r = err_set(e, -EINVAL, "%s: queue %u does not fit guest memory or its size",
				    t->name, i);
	if (!r) {
		t->driver_features = s->driver_features;
		t->device_features_sel = s->device_features_sel;
		t->driver_features_sel = s->driver_features_sel;
		t->queue_sel = s->queue_sel;
		t->status = s->status;
		t->interrupt_status = s->interrupt_status;
		t->config_generation = s->config_generation;
		if (s->active && t->ops->activate && t->ops->activate(t))
			r = err_set(e, -EINVAL, "%s: the device cannot be activated again", t->name);
		else
			t->active = (int)s->active;
	}
	if (r)
		vmmio_reset(t);
	pthread_mutex_unlock(&t->lock);
	return r;
}
