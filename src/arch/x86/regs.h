/* regs.h: x86-64 vCPU state at boot: CPUID, MSRs, FPU, LAPIC and entry registers. */
#ifndef EMBER_ARCH_X86_REGS_H
#define EMBER_ARCH_X86_REGS_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/loader.h"
#include "kvm/kvm.h"

/*
 * x86_vcpu_init: CPUID for vCPU @index of @count, boot MSRs, FPU control
 * words, and LAPIC LINT0 = ExtINT / LINT1 = NMI as Linux expects from a PC.
 * Returns 0 or -errno with @e set. Main thread, before the vCPU runs.
 */
int x86_vcpu_init(int vcpu_fd, const struct kvm_vm *vm, unsigned index, unsigned count,
		  struct err *e);

/*
 * x86_vcpu_boot_regs: registers of the boot vCPU for @kind: long mode with
 * the boot GDT and page tables, rsi = zero page (64-bit protocol); or flat
 * 32-bit protected mode, paging off, ebx = hvm_start_info (PVH).
 * @gdt is what boot_gdt_write() produced. Returns 0 or -errno.
 */
int x86_vcpu_boot_regs(int vcpu_fd, enum boot_entry_kind kind, uint64_t entry,
		       const uint64_t gdt[4], struct err *e);

/*
 * x86_vcpu_describe: one line of the vCPU's registers (rip, rsp, control
 * registers, descriptor tables) into @buf, to log why a guest stopped (a
 * triple fault). Any thread; "registers unavailable" if KVM refuses.
 */
void x86_vcpu_describe(int vcpu_fd, char *buf, size_t len);

#endif
