/* vm_state.h: the VM-wide KVM state a snapshot needs: PIT, kvmclock and the in-kernel irqchips. */
#ifndef EMBER_KVM_VM_STATE_H
#define EMBER_KVM_VM_STATE_H

#include <linux/kvm.h>

#include "err.h"
#include "kvm/kvm.h"

/*
 * What KVM keeps for the whole VM outside guest RAM and the vCPUs, as
 * Firecracker saves it: the PIT (KVM_GET_PIT2), the kvmclock (KVM_GET_CLOCK)
 * and the three in-kernel interrupt controllers (KVM_GET_IRQCHIP). Plain
 * kernel structures: no pointers, no counts to bound.
 */
struct kvm_vm_state {
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	struct kvm_irqchip pic_master;   /* chip_id KVM_IRQCHIP_PIC_MASTER */
	struct kvm_irqchip pic_slave;    /* chip_id KVM_IRQCHIP_PIC_SLAVE */
	struct kvm_irqchip ioapic;       /* chip_id KVM_IRQCHIP_IOAPIC */
};

/*
 * kvm_vm_save: read @vm's state into @s. The clock's KVM_CLOCK_TSC_STABLE
 * flag, which KVM_SET_CLOCK does not take, is cleared. Call with every vCPU
 * paused. 0 or -errno with the failed ioctl named in @e. Any thread.
 */
int kvm_vm_save(const struct kvm_vm *vm, struct kvm_vm_state *s, struct err *e);

/*
 * kvm_vm_restore: write @s into @vm in Firecracker's order: PIT, clock (its
 * TSC_STABLE flag cleared again: @s may come from a file), PIC master, PIC
 * slave, IOAPIC. The chip ids must be the three above (-EINVAL otherwise,
 * nothing written). Call with every vCPU paused or not yet running. 0 or
 * -errno with the failed ioctl named in @e. Any thread.
 */
int kvm_vm_restore(const struct kvm_vm *vm, const struct kvm_vm_state *s, struct err *e);

#endif
