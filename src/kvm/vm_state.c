/* vm_state.c: save and restore the VM-wide KVM state: PIT, kvmclock, PIC and IOAPIC. */
#include "kvm/vm_state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

static int vm_state_fail(struct err *e, const char *what)
{
	int rc = -errno;

	return err_set(e, rc, "%s: %s", what, strerror(-rc));
}

static int vm_state_get_chip(const struct kvm_vm *vm, struct kvm_irqchip *c, uint32_t id,
			     const char *what, struct err *e)
{
	memset(c, 0, sizeof(*c));
	c->chip_id = id;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, c) < 0)
		return vm_state_fail(e, what);
	return 0;
}

int kvm_vm_save(const struct kvm_vm *vm, struct kvm_vm_state *s, struct err *e)
{
	int r;

	memset(s, 0, sizeof(*s));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return vm_state_fail(e, "KVM_GET_PIT2");
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return vm_state_fail(e, "KVM_GET_CLOCK");
	s->clock.flags &= ~(uint32_t)KVM_CLOCK_TSC_STABLE;
	if ((r = vm_state_get_chip(vm, &s->pic_master, KVM_IRQCHIP_PIC_MASTER,
				   "KVM_GET_IRQCHIP (PIC master)", e)) ||
	    (r = vm_state_get_chip(vm, &s->pic_slave, KVM_IRQCHIP_PIC_SLAVE,
				   "KVM_GET_IRQCHIP (PIC slave)", e)) ||
	    (r = vm_state_get_chip(vm, &s->ioapic, KVM_IRQCHIP_IOAPIC,
				   "KVM_GET_IRQCHIP (IOAPIC)", e)))
		return r;
	return 0;
}

int kvm_vm_restore(const struct kvm_vm *vm, const struct kvm_vm_state *s, struct err *e)
{
	struct kvm_pit_state2 pit = s->pit;
	struct kvm_clock_data clock = s->clock;
	struct kvm_irqchip chip;

	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return err_set(e, -EINVAL, "VM state: irqchip ids %u, %u, %u, expected %u, %u, %u",
			       s->pic_master.chip_id, s->pic_slave.chip_id, s->ioapic.chip_id,
			       KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC);
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return vm_state_fail(e, "KVM_SET_PIT2");
	clock.flags &= ~(uint32_t)KVM_CLOCK_TSC_STABLE;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return vm_state_fail(e, "KVM_SET_CLOCK");
	chip = s->pic_master;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return vm_state_fail(e, "KVM_SET_IRQCHIP (PIC master)");
	chip = s->pic_slave;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return vm_state_fail(e, "KVM_SET_IRQCHIP (PIC slave)");
	chip = s->ioapic;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return vm_state_fail(e, "KVM_SET_IRQCHIP (IOAPIC)");
	return 0;
}
