/* internal.h: what the VMM's files share, private to src/vmm/. */
#ifndef EMBER_VMM_INTERNAL_H
#define EMBER_VMM_INTERNAL_H

#include "vmm/vmm.h"

/*
 * Who calls whom inside src/vmm/ (tests/integration/layering.sh checks there
 * is no circle): api.c -> snapshot.c, build.c, run.c, resources.c;
 * snapshot.c -> build.c, run.c, resources.c, devices.c, vmgenid.c;
 * build.c -> run.c (the callbacks it wires), devices.c, resources.c,
 * vmgenid.c; run.c -> devices.c; resources.c -> devices.c; devices.c and
 * vmgenid.c -> nothing of these.
 */

/* resources.c: where the guest's console output goes (PUT /serial's file, else stdout). */
int vmm_console_out(const struct vmm *v);

/*
 * build.c, the restore recipe beside vmm_start():
 * vmm_build_restored: the configured machine with guest RAM mapped from the
 * memory file @mem_fd (private: see gmem_init_file()), or with @mem_fd < 0
 * anonymous and untouched (gmem_init(): nothing here reads or writes it, so
 * a Uffd handler can still be given it), its devices attached and its vCPUs
 * created, nothing loaded and nothing running. 0, or -errno with @e set and
 * everything undone (vmm_undo_start()).
 * vmm_start_vcpus: start the vCPU threads; with @paused they stop before
 * their first KVM_RUN and this returns once all are paused.
 * vmm_undo_start: tear down what a build made (vCPUs, devices, VM, RAM); the
 * configuration stays.
 */
int vmm_build_restored(struct vmm *v, int mem_fd, struct err *e);
int vmm_start_vcpus(struct vmm *v, int paused, struct err *e);
void vmm_undo_start(struct vmm *v);

/*
 * vmgenid.c: vmm_vmgenid_renew: write a new random VM generation ID into
 * guest RAM at LAYOUT_VMGENID_START (the DSDT's VGEN device); with @notify
 * (after a snapshot load, the irqchip restored) also raise the Generic Event
 * Device's edge interrupt LAYOUT_GED_IRQ, whose _EVT notifies VGEN. 0, or
 * -errno with @e set. Uses getrandom and KVM_IRQ_LINE.
 */
int vmm_vmgenid_renew(struct vmm *v, int notify, struct err *e);

/* devices.c: create the configured virtio devices at InstanceStart (slots in this order). */
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

/*
 * run.c: the running VM's answers to its devices and vCPUs, wired by build.c:
 * interrupt lines of the legacy devices, a vCPU's or the guest's request to
 * stop (reset, triple fault, ACPI poweroff), and the event-loop callbacks of
 * the stop eventfd and the console.
 */
void vmm_serial_irq(void *opaque, int level);
void vmm_kbd_irq(void *opaque);
void vmm_kbd_reset(void *opaque);
void vmm_acpi_poweroff(void *opaque);
void vmm_request_stop(void *opaque, enum vcpu_stop why);
void vmm_serial_rx_space(void *opaque);
void vmm_on_stop(void *opaque, uint32_t events);
void vmm_on_stdout(void *opaque, uint32_t events);
void vmm_on_stdin(void *opaque, uint32_t events);
void vmm_on_rx_space(void *opaque, uint32_t events);

#endif
