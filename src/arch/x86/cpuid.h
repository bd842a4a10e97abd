/* cpuid.h: per-vCPU CPUID: APIC ids, topology and the hypervisor bit. */
#ifndef EMBER_ARCH_X86_CPUID_H
#define EMBER_ARCH_X86_CPUID_H

struct kvm_cpuid2;

/*
 * cpuid_fixup: adjust a copy of KVM's supported CPUID for vCPU @index of
 * @count (pure): leaf 1 APIC id, logical count, HTT and hypervisor bits; leaf
 * 4 cores per package; leaves 0xb/0x1f x2APIC topology (one thread per core,
 * @count cores, one package); leaf 6 without power management features the
 * VMM does not emulate.
 */
void cpuid_fixup(struct kvm_cpuid2 *c, unsigned index, unsigned count);

#endif
