/* device.h: what every ember device offers the VMM's device table: pause, save, restore, destroy. */
#ifndef EMBER_DEVICES_DEVICE_H
#define EMBER_DEVICES_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum dev_kind {
	DEV_SERIAL = 1,
	DEV_I8042,
	DEV_ACPI_PM,
	DEV_BOOT_TIMER,
	DEV_BLOCK,
	DEV_NET,
	DEV_VSOCK,
};

/*
 * A device's hooks. Each device keeps what the guest can see (registers,
 * FIFOs, the virtio transport and its queues' guest addresses and indices) in
 * one plain struct of @state_size bytes, with no pointers or fds in it: save
 * copies it out, restore copies it into a device freshly built from the same
 * configuration (its host wiring: fds, threads, event-loop entries) and checks
 * it against what that device offers. A snapshot is these structs plus KVM's.
 *
 * pause:   stop taking work from the guest (queue notifications are held) and
 *          finish what is in flight (block I/O), so guest memory and the state
 *          stay still until resume. Event-loop thread; may be NULL (nothing to do).
 * resume:  take work again, including what was held during the pause.
 * save:    fill @state (@state_size bytes, zeroed by the caller). Paused.
 * restore: take @state back; 0, or -EINVAL with @e saying what does not fit,
 *          leaving the device as it was built (the caller then destroys it).
 * destroy: release the device's host resources (not its memory, which the
 *          table owns or borrows).
 */
struct dev_ops {
	enum dev_kind kind;
	const char *name;              /* "block": log lines and snapshot records */
	size_t state_size;
	void (*pause)(void *dev);
	void (*resume)(void *dev);
	void (*save)(void *dev, void *state);
	int (*restore)(void *dev, const void *state, struct err *e);
	void (*destroy)(void *dev);
};

#endif
