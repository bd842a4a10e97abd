/* mmio.h: the virtio-mmio transport (virtio 1.2 section 4.2, version 2 registers only). */
#ifndef EMBER_DEVICES_VIRTIO_MMIO_H
#define EMBER_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtio/virtq.h"
#include "event/loop.h"
#include "kvm/bus.h"
#include "kvm/kvm.h"
#include "kvm/mem.h"

#define VIRTIO_MMIO_MAX_QUEUES 3

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_NEEDS_RESET  64
#define VIRTIO_STATUS_FAILED       128

/* Feature bits every ember device offers (6). */
#define VIRTIO_F_INDIRECT_DESC     28
#define VIRTIO_F_EVENT_IDX         29
#define VIRTIO_F_VERSION_1         32

#define VIRTIO_INT_VRING           1
#define VIRTIO_INT_CONFIG          2

struct virtio_mmio;

/*
 * What a device plugs into the transport. Callbacks run with the transport
 * lock held: config_* and reset on vCPU threads, queue_notify and activate
 * on the thread noted.
 */
struct virtio_dev_ops {
	uint32_t device_id;
	/* Device-specific part of the configuration space (at 0x100). */
	void (*config_read)(struct virtio_mmio *t, uint64_t off, uint8_t *data, unsigned len);
	void (*config_write)(struct virtio_mmio *t, uint64_t off, const uint8_t *data, unsigned len);
	/* DRIVER_OK was set: queues are ready (vCPU thread). 0, or -errno to fail the device. */
	int (*activate)(struct virtio_mmio *t);
	/* The driver reset the device (vCPU thread). */
	void (*reset)(struct virtio_mmio *t);
	/* The driver notified queue @q (event-loop thread). */
	void (*queue_notify)(struct virtio_mmio *t, unsigned q);
};

/* The event-loop callback context of one queue's notification fd. */
struct virtio_mmio_notify {
	struct virtio_mmio *t;
	unsigned q;
};

struct virtio_mmio {
	pthread_mutex_t lock;           /* everything below, and the device's queues */
	const struct virtio_dev_ops *ops;
	void *dev;                      /* the device (borrowed) */
	const char *name;               /* for log lines: "block vda" */
	const struct kvm_vm *vm;
	const struct guest_mem *mem;
	struct evloop *loop;
	uint64_t base;
	unsigned irq;
	int irq_fd;                     /* irqfd: raising it injects the interrupt */
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_mmio_notify notify[VIRTIO_MMIO_MAX_QUEUES];

	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	unsigned nqueues;
	struct virtq q[VIRTIO_MMIO_MAX_QUEUES];
	int active;                     /* DRIVER_OK accepted */
	int paused;                     /* virtio_mmio_pause(): notifications are held */
	uint32_t held;                  /* queues notified while paused (bit per queue) */
};

/*
 * The transport as a snapshot keeps it: the registers the driver wrote, the
 * features the device offered (a restore refuses a device offering others)
 * and each queue.
 */
struct virtio_mmio_state {
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t interrupt_status;
	uint32_t config_generation;
	uint32_t nqueues;
	uint32_t active;
	struct virtq_state q[VIRTIO_MMIO_MAX_QUEUES];
};

extern const struct bus_ops virtio_mmio_bus_ops;

/*
 * virtio_mmio_init: a transport at @base with interrupt @irq for a device of
 * @nqueues queues of at most @qmax entries, offering @features (VERSION_1,
 * EVENT_IDX and INDIRECT_DESC are added). Creates the irqfd and one
 * ioeventfd per queue (notifications cost the guest no exit to ember) and
 * watches them on @loop. Returns 0 or -errno; virtio_mmio_destroy() is safe
 * afterwards either way. Main thread, before vCPUs run.
 */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		     const char *name, const struct kvm_vm *vm, const struct guest_mem *mem,
		     struct evloop *loop, uint64_t base, unsigned irq, unsigned nqueues,
		     uint16_t qmax, uint64_t features);

/* virtio_mmio_destroy: close the fds; safe on a zeroed object. */
void virtio_mmio_destroy(struct virtio_mmio *t);

/*
 * virtio_mmio_pause / virtio_mmio_resume: hold the guest's queue notifications
 * (they reach the device at resume, once each) so the device takes no new
 * work from its queues. Event-loop thread. A device with host-side sources
 * (a tap, sockets, I/O in flight) quiets those in its own pause hook.
 */
void virtio_mmio_pause(struct virtio_mmio *t);
void virtio_mmio_resume(struct virtio_mmio *t);

/* virtio_mmio_save: fill @s (zeroed here) from @t; takes t->lock. */
void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *s);

/*
 * virtio_mmio_restore: give @t, built from the same configuration and not yet
 * seen by the guest, the saved @s: offered features and queue count must
 * match, every ready queue must lie in guest RAM, and a device that was
 * active is activated again (its ops->activate). 0, or -EINVAL with @e set
 * and @t reset.
 */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_mmio_state *s, struct err *e);

/*
 * virtio_mmio_config_window: copy bytes [@off, @off + @len) of a device's
 * configuration structure @cfg (@size bytes) into @data for a driver read.
 * Returns 0, or -EINVAL (nothing copied) when the access is not wholly
 * inside it. Pure; for config_read callbacks.
 */
int virtio_mmio_config_window(const void *cfg, size_t size, uint64_t off, uint8_t *data,
			      unsigned len);

/* virtio_mmio_has_feature: the driver accepted feature bit @bit. Lock held. */
int virtio_mmio_has_feature(const struct virtio_mmio *t, unsigned bit);

/*
 * virtio_mmio_signal_used: after pushing used buffers on queue @q, interrupt
 * the driver if it wants to be told (EVENT_IDX / NO_INTERRUPT). Lock held.
 */
void virtio_mmio_signal_used(struct virtio_mmio *t, unsigned q);

/*
 * VIRTIO_QUEUE_BUDGET: the most chains a device takes from one queue in one
 * go. A guest that keeps refilling its ring cannot hold the event-loop thread
 * (the API, signals, every other device): past the budget the device calls
 * virtio_mmio_requeue() and comes back after the other events.
 */
#define VIRTIO_QUEUE_BUDGET 256

/*
 * virtio_mmio_requeue: have queue @q processed again from the event loop, as
 * if the driver had notified it. 0, or -errno (no notification eventfd).
 */
int virtio_mmio_requeue(struct virtio_mmio *t, unsigned q);

/* virtio_mmio_config_changed: bump the generation and raise a config interrupt. Lock held. */
void virtio_mmio_config_changed(struct virtio_mmio *t);

/*
 * virtio_mmio_fail: the driver broke the rules (@why): set DEVICE_NEEDS_RESET,
 * tell the driver, stop using the queues. Logged with a rate limit. Lock held.
 */
void virtio_mmio_fail(struct virtio_mmio *t, const char *why);

#endif
