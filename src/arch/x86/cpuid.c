/* cpuid.c: CPUID fix-ups so each vCPU reports its own APIC id and the VM's topology. */
#include "arch/x86/cpuid.h"

#include <linux/kvm.h>

#define CPUID_ECX_HYPERVISOR (1u << 31)
#define CPUID_EDX_HTT        (1u << 28)
#define CPUID_EBX_CLFLUSH_8  (8u << 8)
#define TOPO_LEVEL_SMT       1
#define TOPO_LEVEL_CORE      2

static unsigned cpuid_order(unsigned n)
{
	unsigned s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

void cpuid_fixup(struct kvm_cpuid2 *c, unsigned index, unsigned count)
{
	unsigned core_shift = cpuid_order(count);

	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (index << 24) | ((count > 1 ? count : 1) << 16) |
				 CPUID_EBX_CLFLUSH_8 | (e->ebx & 0xff);
			e->ecx |= CPUID_ECX_HYPERVISOR;
			if (count > 1)
				e->edx |= CPUID_EDX_HTT;
			else
				e->edx &= ~CPUID_EDX_HTT;
			break;
		case 4:
			/* EAX[31:26]: cores per package - 1; [25:14]: threads sharing - 1. */
			e->eax &= 0x3fff;
			e->eax |= (count - 1) << 26;
			if (((e->eax >> 5) & 7) == 3)        /* L3 shared by the package */
				e->eax |= (count - 1) << 14;
			break;
		case 6:
			/* No thermal/power management: only ARAT is meaningful here. */
			e->eax &= 1u << 2;
			e->ebx = e->ecx = e->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			e->edx = index;
			if (e->index == 0) {
				e->eax = 0;             /* one thread per core */
				e->ebx = 1;
				e->ecx = (TOPO_LEVEL_SMT << 8);
			} else if (e->index == 1) {
				e->eax = core_shift;
				e->ebx = count;
				e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;      /* invalid level: ends the walk */
			}
			break;
		default:
			break;
		}
	}
}
