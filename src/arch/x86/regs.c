/* regs.c: boot-time register, MSR, FPU and LAPIC set-up of x86-64 vCPUs. */
#include "arch/x86/regs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "log.h"

#define MSR_IA32_SYSENTER_CS   0x174
#define MSR_IA32_SYSENTER_ESP  0x175
#define MSR_IA32_SYSENTER_EIP  0x176
#define MSR_STAR               0xc0000081
#define MSR_LSTAR              0xc0000082
#define MSR_CSTAR              0xc0000083
#define MSR_SYSCALL_MASK       0xc0000084
#define MSR_KERNEL_GS_BASE     0xc0000102
#define MSR_IA32_TSC           0x10
#define MSR_IA32_MISC_ENABLE   0x1a0
#define MSR_MTRR_DEF_TYPE      0x2ff
#define MISC_ENABLE_FAST_STRING 1
#define MTRR_ENABLE            (1u << 11)
#define MTRR_TYPE_WB           6

#define CR0_PE  (1ULL << 0)
#define CR0_ET  (1ULL << 4)
#define CR0_NE  (1ULL << 5)
#define CR0_PG  (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

/* regs_fail: "<what>: <strerror(errno)>" in @e; returns -errno. */
static int regs_fail(struct err *e, const char *what)
{
	int n = errno;

	return err_set(e, -n, "%s: %s", what, strerror(n));
}

static int regs_cpuid(int fd, const struct kvm_vm *vm, unsigned index, unsigned count,
		      struct err *e)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    vm->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);
	int r = 0;

	if (!c)
		return err_set(e, -ENOMEM, "out of memory");
	memcpy(c, vm->cpuid, sz);
	cpuid_fixup(c, index, count);
	if (ioctl(fd, KVM_SET_CPUID2, c) < 0)
		r = regs_fail(e, "KVM_SET_CPUID2");
	free(c);
	return r;
}

static int regs_msrs(int fd, struct err *e)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} boot_msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_KERNEL_GS_BASE, 0 },
		{ MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 },
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		m.e[i].index = boot_msrs[i].index;
		m.e[i].data = boot_msrs[i].data;
	}
	r = ioctl(fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return regs_fail(e, "KVM_SET_MSRS");
	/* KVM stops at the first MSR it refuses; the guest copes, but say so. */
	if (r != N)
		LOG_DEBUG("KVM accepted %d of %d boot MSRs (first refused: 0x%x)", r, N,
			  m.e[r].index);
	return 0;
}

static int regs_fpu(int fd, struct err *e)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;      /* x87 default: all exceptions masked, extended precision */
	fpu.mxcsr = 0x1f80;   /* SSE default: all exceptions masked */
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return regs_fail(e, "KVM_SET_FPU");
	return 0;
}

static void regs_lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, l->regs + reg, 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(l->regs + reg, &v, 4);
}

static int regs_lapic(int fd, struct err *e)
{
	struct kvm_lapic_state l;

	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return regs_fail(e, "KVM_GET_LAPIC");
	/* A PC wires the 8259 to LINT0 (virtual wire) and NMI to LINT1. */
	regs_lvt_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	regs_lvt_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(fd, KVM_SET_LAPIC, &l) < 0)
		return regs_fail(e, "KVM_SET_LAPIC");
	return 0;
}

int x86_vcpu_init(int vcpu_fd, const struct kvm_vm *vm, unsigned index, unsigned count,
		  struct err *e)
{
	int r;

	if ((r = regs_cpuid(vcpu_fd, vm, index, count, e)) ||
	    (r = regs_msrs(vcpu_fd, e)) ||
	    (r = regs_fpu(vcpu_fd, e)) ||
	    (r = regs_lapic(vcpu_fd, e)))
		return r;
	return 0;
}

static void regs_segment(struct kvm_segment *s, uint64_t gdt_entry, unsigned index)
{
	s->base = ((gdt_entry >> 16) & 0xffffff) | (((gdt_entry >> 56) & 0xff) << 24);
	s->limit = (uint32_t)((gdt_entry & 0xffff) | (((gdt_entry >> 48) & 0xf) << 16));
	s->selector = (uint16_t)(index * 8);
	s->type = (gdt_entry >> 40) & 0xf;
	s->s = (gdt_entry >> 44) & 1;
	s->dpl = (gdt_entry >> 45) & 3;
	s->present = (gdt_entry >> 47) & 1;
	s->avl = (gdt_entry >> 52) & 1;
	s->l = (gdt_entry >> 53) & 1;
	s->db = (gdt_entry >> 54) & 1;
	s->g = (gdt_entry >> 55) & 1;
	s->unusable = !s->present;
	/* The limit is in 4 KiB units when G is set; KVM wants bytes. */
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

int x86_vcpu_boot_regs(int vcpu_fd, enum boot_entry_kind kind, uint64_t entry,
		       const uint64_t gdt[4], struct err *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code, data, tss;

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return regs_fail(e, "KVM_GET_SREGS");
	regs_segment(&code, gdt[BOOT_GDT_CODE], BOOT_GDT_CODE);
	regs_segment(&data, gdt[BOOT_GDT_DATA], BOOT_GDT_DATA);
	regs_segment(&tss, gdt[BOOT_GDT_TSS], BOOT_GDT_TSS);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tss;
	sregs.gdt.base = LAYOUT_GDT_START;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = LAYOUT_IDT_START;
	sregs.idt.limit = 7;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;     /* bit 1 is reserved and always set */
	regs.rip = entry;
	if (kind == BOOT_ENTRY_PVH) {
		/* Xen PVH ABI: CR0.PE only, paging off, CR4 = EFER = 0, ebx = start info. */
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = LAYOUT_PVH_INFO_START;
	} else {
		/* boot.rst, 64-bit boot protocol: long mode, identity map, rsi = zero page. */
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs.cr3 = LAYOUT_PML4_START;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsp = regs.rbp = LAYOUT_BOOT_STACK_POINTER;
		regs.rsi = LAYOUT_ZERO_PAGE_START;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return regs_fail(e, "KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return regs_fail(e, "KVM_SET_REGS");
	return 0;
}

void x86_vcpu_describe(int vcpu_fd, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(buf, len, "registers unavailable: %s", strerror(errno));
		return;
	}
	snprintf(buf, len,
		 "rip=%#llx rsp=%#llx rflags=%#llx cs=%#x cr0=%#llx cr2=%#llx cr3=%#llx "
		 "cr4=%#llx efer=%#llx idt=%#llx/%#x gdt=%#llx/%#x",
		 (unsigned long long)r.rip, (unsigned long long)r.rsp,
		 (unsigned long long)r.rflags, s.cs.selector, (unsigned long long)s.cr0,
		 (unsigned long long)s.cr2, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
		 (unsigned long long)s.efer, (unsigned long long)s.idt.base, s.idt.limit,
		 (unsigned long long)s.gdt.base, s.gdt.limit);
	/* KVM on AMD re-initialises the vCPU on a shutdown intercept: nothing left to see. */
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000 && strlen(buf) + 40 < len)
		strcat(buf, " (the reset state: KVM reset the vCPU)");
}
