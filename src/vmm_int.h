/* vmm_int.h: what vmm.c and vmm_devices.c share, private to the VMM. */
#ifndef EMBER_VMM_INT_H
#define EMBER_VMM_INT_H

#include "vmm.h"

/* vmm_add_*: create the configured virtio devices at InstanceStart (slots in this order). */
int vmm_add_block_devices(struct vmm *v, struct err *e);
int vmm_add_net_devices(struct vmm *v, struct err *e);
int vmm_add_vsock_device(struct vmm *v, struct err *e);

/*
 * vmm_dev_add: append a row to the device table (the table frees @dev after
 * its destroy hook when @owned). 0, or -ENOSPC when the table is full.
 */
int vmm_dev_add(struct vmm *v, const struct dev_ops *ops, void *dev, const char *id,
		uint64_t base, uint64_t size, int irq, int owned);

/* vmm_destroy_devices: every device's destroy hook, newest first, and the fds held for them. */
void vmm_destroy_devices(struct vmm *v);

#endif
