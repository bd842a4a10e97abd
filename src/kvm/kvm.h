/* kvm.h: /dev/kvm, the VM file descriptor, guest RAM slots and the in-kernel irqchip. */
#ifndef EMBER_KVM_KVM_H
#define EMBER_KVM_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kvm/mem.h"

struct kvm_cpuid2;

struct kvm_vm {
	int kvm_fd;                  /* /dev/kvm, -1 when closed */
	int vm_fd;                   /* -1 when closed */
	int vcpu_mmap_size;
	unsigned max_vcpus;
	struct kvm_cpuid2 *cpuid;    /* KVM_GET_SUPPORTED_CPUID, malloc()ed */
	unsigned nslots;             /* memory slots [0, nslots) registered */
};

/*
 * Guest-physical pages KVM itself needs on Intel (VMX): three for the real-mode
 * TSS at @tss_gpa and one for the identity-map page table at @identity_map_gpa.
 * The architecture's layout names them (arch/x86/layout.h); they must lie
 * outside RAM.
 */
struct kvm_vm_layout {
	uint64_t tss_gpa;
	uint64_t identity_map_gpa;
};

/*
 * kvm_vm_create: open /dev/kvm, check API version 12 and every capability
 * ember relies on, and create the VM with the in-kernel IOAPIC/PIC/LAPIC and
 * PIT, KVM's private pages where @lay puts them. Returns 0, or -errno with a
 * message in @e; kvm_vm_destroy() is safe afterwards either way. Main thread.
 */
int kvm_vm_create(struct kvm_vm *vm, const struct kvm_vm_layout *lay, struct err *e);

/*
 * kvm_vm_set_memory: register @mem's regions as memory slots (slot i is
 * mem->region[i]), with KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES) when
 * @log_dirty; 0 or -errno with @e.
 */
int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_mem *mem, bool log_dirty,
		      struct err *e);

/*
 * kvm_vm_dirty_log: KVM_GET_DIRTY_LOG of slot @slot into @bitmap (bit i: the
 * slot's page i, 4 KiB, was written by the guest since the last call; room
 * for the slot's pages rounded up to 64), which also clears KVM's log.
 * 0 or -errno (-ENOENT: no such slot; KVM's -ENOENT too when the slot was
 * registered without the dirty log). VMM thread, vCPUs paused.
 */
int kvm_vm_dirty_log(const struct kvm_vm *vm, unsigned slot, uint64_t *bitmap);

/* kvm_vm_destroy: close what kvm_vm_create() opened; safe on a zeroed object. */
void kvm_vm_destroy(struct kvm_vm *vm);

/* kvm_irq_line: set the level of GSI @irq (edge: 1 then 0). Any thread. */
int kvm_irq_line(const struct kvm_vm *vm, unsigned irq, int level);

/* kvm_irqfd: route eventfd @fd to GSI @irq; 0 or -errno. */
int kvm_irqfd(const struct kvm_vm *vm, int fd, unsigned irq);

/*
 * kvm_ioeventfd: signal eventfd @fd on a 4-byte guest write of @value to MMIO
 * address @addr, without an exit to userspace; 0 or -errno.
 */
int kvm_ioeventfd(const struct kvm_vm *vm, int fd, uint64_t addr, uint32_t value);

#endif
