/* vcpu_state.h: capture and restore an x86-64 vCPU's KVM state (the groundwork of snapshots). */
#ifndef EMBER_ARCH_X86_VCPU_STATE_H
#define EMBER_ARCH_X86_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "err.h"
#include "kvm/kvm.h"

/* Bounds of every count a state holds: a state read from a file cannot exceed them. */
#define X86_STATE_MSRS_MAX   512     /* MSRs saved per vCPU */
#define X86_STATE_XSAVE_MIN  4096    /* bytes: struct kvm_xsave without its extra words */
#define X86_STATE_XSAVE_MAX  16384   /* bytes: with the dynamic features KVM_CAP_XSAVE2 adds */
#define X86_STATE_XCRS_MAX   KVM_MAX_XCRS

/* Optional parts of a state: present when KVM on the saving host offers them. */
#define X86_STATE_XSAVE      (1u << 0)  /* xsave holds the FPU/SSE/AVX state, else fpu does */
#define X86_STATE_XCRS       (1u << 1)  /* KVM_CAP_XCRS */
#define X86_STATE_DEBUGREGS  (1u << 2)  /* KVM_CAP_DEBUGREGS */
#define X86_STATE_TSC_KHZ    (1u << 3)  /* KVM_CAP_GET_TSC_KHZ: tsc_khz is the vCPU's */
#define X86_STATE_PARTS      (X86_STATE_XSAVE | X86_STATE_XCRS | X86_STATE_DEBUGREGS | \
			      X86_STATE_TSC_KHZ)

/*
 * What this host's KVM can capture, found once by x86_state_caps_probe() on
 * the main thread (it needs /dev/kvm, which vCPU threads may not use) and read
 * by every vCPU thread afterwards.
 */
struct x86_state_caps {
	uint32_t parts;          /* X86_STATE_* this KVM offers */
	uint32_t xsave_size;     /* bytes KVM_GET_XSAVE2 fills (KVM_CAP_XSAVE2); 4096 without it */
	int xsave2;              /* KVM_CAP_XSAVE2: read with KVM_GET_XSAVE2 */
	int tsc_control;         /* KVM_CAP_TSC_CONTROL: KVM_SET_TSC_KHZ may scale */
	uint32_t nmsrs;          /* MSRs to save, in KVM's order, MSR_IA32_TSC_DEADLINE last */
	uint32_t msrs[X86_STATE_MSRS_MAX];
	uint32_t nmsrs_unreadable; /* listed by KVM_GET_MSR_INDEX_LIST, refused by KVM_GET_MSRS */
};

/*
 * One vCPU's KVM state, its parts in the order Firecracker saves them: MP
 * state first (KVM_GET_MP_STATE may change the LAPIC), vCPU events last.
 * CPUID is not part of it: it is set when the vCPU is created.
 */
struct x86_vcpu_state {
	uint32_t parts;                   /* X86_STATE_* present */
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint32_t xsave_size;              /* with X86_STATE_XSAVE: bytes of xsave that hold state */
	uint32_t xsave[X86_STATE_XSAVE_MAX / 4]; /* struct kvm_xsave, then its extra words; zeros after */
	struct kvm_fpu fpu;               /* without X86_STATE_XSAVE */
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	uint32_t tsc_khz;                 /* with X86_STATE_TSC_KHZ */
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[X86_STATE_MSRS_MAX];
	struct kvm_vcpu_events events;
};

/*
 * x86_state_caps_probe: fill @c from @vm's KVM: which parts it can save, the
 * XSAVE size, and the MSR list (KVM_GET_MSR_INDEX_LIST, at most
 * X86_STATE_MSRS_MAX or -E2BIG). With @vcpu_fd >= 0 (a created vCPU of @vm,
 * not running), MSRs that KVM_GET_MSRS refuses there are left out and
 * counted in nmsrs_unreadable. Needs KVM_CAP_VCPU_EVENTS (-ENOTSUP).
 * 0 or -errno with the failed ioctl named in @e. Main thread.
 */
int x86_state_caps_probe(const struct kvm_vm *vm, int vcpu_fd, struct x86_state_caps *c,
			 struct err *e);

/*
 * x86_vcpu_state_check: whether @s is a state ember could restore: no
 * unknown part, every count within its bound (MSRs, XCRs, XSAVE size) and
 * the bytes of xsave past xsave_size zero. 0 or -EINVAL with the field named
 * in @e. Pure.
 */
int x86_vcpu_state_check(const struct x86_vcpu_state *s, struct err *e);

/*
 * x86_vcpu_state_save: read vCPU @vcpu_fd's state into @s in Firecracker's
 * order: MP state, regs, sregs, XSAVE (or FPU), XCRs, debug registers, LAPIC,
 * TSC frequency, the MSRs of @c (a zero MSR_IA32_TSC_DEADLINE is replaced by
 * the TSC, so that the guest's timer fires after a restore), vCPU events.
 * The vCPU must not run: its own thread while paused. 0 or -errno with the
 * failed ioctl named in @e.
 */
int x86_vcpu_state_save(const struct x86_state_caps *c, int vcpu_fd, struct x86_vcpu_state *s,
			struct err *e);

/*
 * x86_vcpu_state_restore: check @s (x86_vcpu_state_check()), scale the TSC
 * to s->tsc_khz when it differs by more than 250 ppm, then set in
 * Firecracker's restore order: MP state, regs, sregs, XSAVE (or FPU), XCRs,
 * debug registers, LAPIC (after sregs: it restores the APIC base), MSRs
 * (after the LAPIC, MSR_IA32_TSC_DEADLINE after MSR_IA32_TSC), vCPU events
 * (after regs, which clear pending exceptions); last KVM_KVMCLOCK_CTRL, whose
 * failure (a guest without kvmclock) is not one. A part @s holds that this
 * KVM (@c) lacks is -ENOTSUP. The vCPU must not run: its own thread while
 * paused. 0 or -errno with the failed ioctl named in @e.
 */
int x86_vcpu_state_restore(const struct x86_state_caps *c, int vcpu_fd,
			   const struct x86_vcpu_state *s, struct err *e);

/*
 * x86_vcpu_save_hook / x86_vcpu_restore_hook: the two above in the shape of
 * kvm/vcpu.h's vcpu_ctx.save_state / restore_state, @arg being the
 * struct x86_state_caps and @state a struct x86_vcpu_state (state_size
 * sizeof(struct x86_vcpu_state)).
 */
int x86_vcpu_save_hook(void *arg, int vcpu_fd, void *state, struct err *e);
int x86_vcpu_restore_hook(void *arg, int vcpu_fd, const void *state, struct err *e);

#endif
