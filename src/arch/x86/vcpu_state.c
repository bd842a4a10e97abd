/* vcpu_state.c: an x86-64 vCPU's KVM state, read and written in Firecracker's orders. */
#include "arch/x86/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC           0x10
#define MSR_IA32_TSC_DEADLINE  0x6e0

/* KVM refuses KVM_GET_MSRS / KVM_SET_MSRS of 256 entries or more (MAX_IO_MSRS): go in chunks. */
#define X86_MSR_CHUNK 128

/* TSC frequencies within 250 parts per million are the same (Firecracker's and QEMU's tolerance). */
#define X86_TSC_KHZ_TOL_PPM 250

union x86_msr_buf {
	struct kvm_msrs hdr;
	uint8_t bytes[sizeof(struct kvm_msrs) + X86_MSR_CHUNK * sizeof(struct kvm_msr_entry)];
};

static int x86_state_fail(struct err *e, const char *what)
{
	int rc = -errno;

	return err_set(e, rc, "%s: %s", what, strerror(-rc));
}

/*
 * KVM_GET_MSRS or KVM_SET_MSRS over @ent[0..n) in chunks: the number of
 * entries KVM read or wrote (n when all; else the entry at that position is
 * the one it refused), or -errno.
 */
static int x86_msrs_io(int fd, unsigned long req, struct kvm_msr_entry *ent, uint32_t n)
{
	union x86_msr_buf b;
	uint32_t done = 0;

	while (done < n) {
		uint32_t k = n - done < X86_MSR_CHUNK ? n - done : X86_MSR_CHUNK;
		int r;

		memset(&b.hdr, 0, sizeof(b.hdr));
		b.hdr.nmsrs = k;
		memcpy(b.bytes + sizeof(b.hdr), ent + done, k * sizeof(*ent));
		r = ioctl(fd, req, &b);
		if (r < 0)
			return -errno;
		if ((uint32_t)r > k)
			return -EIO;
		if (req == KVM_GET_MSRS)
			memcpy(ent + done, b.bytes + sizeof(b.hdr), (size_t)r * sizeof(*ent));
		done += (uint32_t)r;
		if ((uint32_t)r < k)
			break;
	}
	return (int)done;
}

static int x86_cap(int fd, int cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r > 0 ? r : 0;
}

/* Leave out the MSRs KVM_GET_MSRS refuses on @vcpu_fd, one at a time (bounded by c->nmsrs). */
static int x86_caps_trim_msrs(struct x86_state_caps *c, int vcpu_fd, struct err *e)
{
	struct kvm_msr_entry *ent = calloc(X86_STATE_MSRS_MAX, sizeof(*ent));
	int r = 0;

	if (!ent)
		return err_set(e, -ENOMEM, "out of memory");
	while (c->nmsrs > 0) {
		for (uint32_t i = 0; i < c->nmsrs; i++)
			ent[i] = (struct kvm_msr_entry){ .index = c->msrs[i] };
		r = x86_msrs_io(vcpu_fd, KVM_GET_MSRS, ent, c->nmsrs);
		if (r < 0) {
			errno = -r;
			r = x86_state_fail(e, "KVM_GET_MSRS");
			break;
		}
		if ((uint32_t)r == c->nmsrs) {
			r = 0;
			break;
		}
		memmove(&c->msrs[r], &c->msrs[r + 1], (c->nmsrs - (uint32_t)r - 1) * sizeof(c->msrs[0]));
		c->nmsrs--;
		c->nmsrs_unreadable++;
		r = 0;
	}
	free(ent);
	return r;
}

int x86_state_caps_probe(const struct kvm_vm *vm, int vcpu_fd, struct x86_state_caps *c,
			 struct err *e)
{
	struct kvm_msr_list *list;
	int r, x2;

	memset(c, 0, sizeof(*c));
	if (!x86_cap(vm->kvm_fd, KVM_CAP_VCPU_EVENTS))
		return err_set(e, -ENOTSUP, "KVM lacks KVM_CAP_VCPU_EVENTS: no vCPU state capture");
	c->xsave_size = X86_STATE_XSAVE_MIN;
	if (x86_cap(vm->kvm_fd, KVM_CAP_XSAVE))
		c->parts |= X86_STATE_XSAVE;
	/* KVM_CAP_XSAVE2 is the XSAVE size in bytes, asked of the VM (it depends on its features). */
	x2 = x86_cap(vm->vm_fd, KVM_CAP_XSAVE2);
	if ((c->parts & X86_STATE_XSAVE) && x2 > 0) {
		if ((uint32_t)x2 > X86_STATE_XSAVE_MAX || x2 < X86_STATE_XSAVE_MIN || x2 % 4)
			return err_set(e, -E2BIG, "KVM_CAP_XSAVE2: %d bytes of XSAVE state, ember keeps %d",
				       x2, X86_STATE_XSAVE_MAX);
		c->xsave2 = 1;
		c->xsave_size = (uint32_t)x2;
	}
	if (x86_cap(vm->kvm_fd, KVM_CAP_XCRS))
		c->parts |= X86_STATE_XCRS;
	if (x86_cap(vm->kvm_fd, KVM_CAP_DEBUGREGS))
		c->parts |= X86_STATE_DEBUGREGS;
	if (x86_cap(vm->kvm_fd, KVM_CAP_GET_TSC_KHZ))
		c->parts |= X86_STATE_TSC_KHZ;
	c->tsc_control = x86_cap(vm->kvm_fd, KVM_CAP_TSC_CONTROL) > 0;

	list = calloc(1, sizeof(*list) + X86_STATE_MSRS_MAX * sizeof(uint32_t));
	if (!list)
		return err_set(e, -ENOMEM, "out of memory");
	list->nmsrs = X86_STATE_MSRS_MAX;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		r = errno == E2BIG ? err_set(e, -E2BIG, "KVM_GET_MSR_INDEX_LIST: %u MSRs, ember keeps %d",
					     list->nmsrs, X86_STATE_MSRS_MAX)
				   : x86_state_fail(e, "KVM_GET_MSR_INDEX_LIST");
		free(list);
		return r;
	}
	c->nmsrs = list->nmsrs <= X86_STATE_MSRS_MAX ? list->nmsrs : X86_STATE_MSRS_MAX;
	memcpy(c->msrs, list->indices, c->nmsrs * sizeof(uint32_t));
	free(list);
	if (vcpu_fd >= 0 && (r = x86_caps_trim_msrs(c, vcpu_fd, e)))
		return r;
	/* The TSC deadline after the TSC: KVM arms the timer from the TSC it has then. */
	for (uint32_t i = 0; i + 1 < c->nmsrs; i++) {
		if (c->msrs[i] == MSR_IA32_TSC_DEADLINE) {
			memmove(&c->msrs[i], &c->msrs[i + 1], (c->nmsrs - i - 1) * sizeof(c->msrs[0]));
			c->msrs[c->nmsrs - 1] = MSR_IA32_TSC_DEADLINE;
			break;
		}
	}
	return 0;
}

int x86_vcpu_state_check(const struct x86_vcpu_state *s, struct err *e)
{
	if (s->parts & ~X86_STATE_PARTS)
		return err_set(e, -EINVAL, "vCPU state: unknown parts %#x", s->parts & ~X86_STATE_PARTS);
	if (s->nmsrs > X86_STATE_MSRS_MAX)
		return err_set(e, -EINVAL, "vCPU state: %u MSRs, at most %d", s->nmsrs,
			       X86_STATE_MSRS_MAX);
	if (s->mp_state.mp_state > KVM_MP_STATE_SUSPENDED)
		return err_set(e, -EINVAL, "vCPU state: MP state %u unknown", s->mp_state.mp_state);
	if ((s->parts & X86_STATE_XCRS) && s->xcrs.nr_xcrs > X86_STATE_XCRS_MAX)
		return err_set(e, -EINVAL, "vCPU state: %u XCRs, at most %d", s->xcrs.nr_xcrs,
			       X86_STATE_XCRS_MAX);
	if (!(s->parts & X86_STATE_XSAVE)) {
		if (s->xsave_size)
			return err_set(e, -EINVAL, "vCPU state: XSAVE size %u without XSAVE", s->xsave_size);
		return 0;
	}
	if (s->xsave_size < X86_STATE_XSAVE_MIN || s->xsave_size > X86_STATE_XSAVE_MAX ||
	    s->xsave_size % 4)
		return err_set(e, -EINVAL, "vCPU state: XSAVE size %u, not a multiple of 4 in [%d, %d]",
			       s->xsave_size, X86_STATE_XSAVE_MIN, X86_STATE_XSAVE_MAX);
	/* KVM_SET_XSAVE reads as many bytes as this host's XSAVE holds: the rest must be zero. */
	for (uint32_t i = s->xsave_size / 4; i < X86_STATE_XSAVE_MAX / 4; i++)
		if (s->xsave[i])
			return err_set(e, -EINVAL, "vCPU state: XSAVE bytes past its size %u", s->xsave_size);
	return 0;
}

/* A zero TSC deadline becomes the TSC: the guest's next timer interrupt then still comes. */
static void x86_fix_tsc_deadline(struct x86_vcpu_state *s)
{
	uint64_t tsc = 0;
	int have = 0;

	for (uint32_t i = 0; i < s->nmsrs; i++) {
		if (s->msrs[i].index == MSR_IA32_TSC && (!have || s->msrs[i].data > tsc)) {
			tsc = s->msrs[i].data;
			have = 1;
		}
	}
	if (!have)
		return;
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == MSR_IA32_TSC_DEADLINE && s->msrs[i].data == 0)
			s->msrs[i].data = tsc;
}

static int x86_save_msrs(const struct x86_state_caps *c, int fd, struct x86_vcpu_state *s,
			 struct err *e)
{
	int r;

	s->nmsrs = c->nmsrs;
	for (uint32_t i = 0; i < s->nmsrs; i++)
		s->msrs[i] = (struct kvm_msr_entry){ .index = c->msrs[i] };
	r = x86_msrs_io(fd, KVM_GET_MSRS, s->msrs, s->nmsrs);
	if (r < 0) {
		errno = -r;
		return x86_state_fail(e, "KVM_GET_MSRS");
	}
	if ((uint32_t)r < s->nmsrs)
		return err_set(e, -EIO, "KVM_GET_MSRS: MSR %#x unreadable (%d of %u read)",
			       s->msrs[r].index, r, s->nmsrs);
	x86_fix_tsc_deadline(s);
	return 0;
}

int x86_vcpu_state_save(const struct x86_state_caps *c, int fd, struct x86_vcpu_state *s,
			struct err *e)
{
	int r;

	memset(s, 0, sizeof(*s));
	/* First: KVM_GET_MP_STATE delivers pending LAPIC events, which changes what follows. */
	if (ioctl(fd, KVM_GET_MP_STATE, &s->mp_state) < 0)
		return x86_state_fail(e, "KVM_GET_MP_STATE");
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0)
		return x86_state_fail(e, "KVM_GET_REGS");
	if (ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0)
		return x86_state_fail(e, "KVM_GET_SREGS");
	if (c->parts & X86_STATE_XSAVE) {
		if (ioctl(fd, c->xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, s->xsave) < 0)
			return x86_state_fail(e, c->xsave2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE");
		s->xsave_size = c->xsave_size;
		s->parts |= X86_STATE_XSAVE;
	} else if (ioctl(fd, KVM_GET_FPU, &s->fpu) < 0) {
		return x86_state_fail(e, "KVM_GET_FPU");
	}
	if (c->parts & X86_STATE_XCRS) {
		if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0)
			return x86_state_fail(e, "KVM_GET_XCRS");
		if (s->xcrs.nr_xcrs > X86_STATE_XCRS_MAX)
			return err_set(e, -EIO, "KVM_GET_XCRS: %u XCRs", s->xcrs.nr_xcrs);
		s->parts |= X86_STATE_XCRS;
	}
	if (c->parts & X86_STATE_DEBUGREGS) {
		if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
			return x86_state_fail(e, "KVM_GET_DEBUGREGS");
		s->parts |= X86_STATE_DEBUGREGS;
	}
	if (ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0)
		return x86_state_fail(e, "KVM_GET_LAPIC");
	if (c->parts & X86_STATE_TSC_KHZ) {
		r = ioctl(fd, KVM_GET_TSC_KHZ, 0);
		if (r < 0)
			return x86_state_fail(e, "KVM_GET_TSC_KHZ");
		s->tsc_khz = (uint32_t)r;
		s->parts |= X86_STATE_TSC_KHZ;
	}
	if ((r = x86_save_msrs(c, fd, s, e)))
		return r;
	/* Last: the GETs above may change what KVM would report as pending. */
	if (ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		return x86_state_fail(e, "KVM_GET_VCPU_EVENTS");
	return 0;
}

/* Scale this vCPU's TSC to @khz when it runs at another frequency (beyond the tolerance). */
static int x86_restore_tsc_khz(int fd, uint32_t khz, struct err *e)
{
	int cur = ioctl(fd, KVM_GET_TSC_KHZ, 0);
	uint64_t diff;

	if (cur < 0)
		return x86_state_fail(e, "KVM_GET_TSC_KHZ");
	diff = (uint64_t)cur > khz ? (uint64_t)cur - khz : khz - (uint64_t)cur;
	if (diff * 1000000 <= (uint64_t)khz * X86_TSC_KHZ_TOL_PPM)
		return 0;
	if (ioctl(fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0) {
		int rc = -errno;

		return err_set(e, rc, "KVM_SET_TSC_KHZ %u (this host's TSC runs at %d kHz): %s", khz,
			       cur, strerror(-rc));
	}
	return 0;
}

/* Every MSR but the TSC deadline, then the TSC deadline (KVM arms it from the TSC). */
static int x86_restore_msrs(int fd, const struct x86_vcpu_state *s, struct err *e)
{
	struct kvm_msr_entry ent[X86_STATE_MSRS_MAX];  /* 8 KiB of the vCPU thread's stack, no heap */
	uint32_t n = 0;
	int r;

	for (int late = 0; late < 2; late++)
		for (uint32_t i = 0; i < s->nmsrs; i++)
			if ((s->msrs[i].index == MSR_IA32_TSC_DEADLINE) == late)
				ent[n++] = s->msrs[i];
	r = x86_msrs_io(fd, KVM_SET_MSRS, ent, n);
	if (r < 0) {
		errno = -r;
		return x86_state_fail(e, "KVM_SET_MSRS");
	}
	if ((uint32_t)r < n)
		return err_set(e, -EIO, "KVM_SET_MSRS: MSR %#x refused (%d of %u set)", ent[r].index,
			       r, n);
	return 0;
}

int x86_vcpu_state_restore(const struct x86_state_caps *c, int fd, const struct x86_vcpu_state *s,
			   struct err *e)
{
	uint32_t lacking = s->parts & ~c->parts & ~(uint32_t)X86_STATE_TSC_KHZ;
	int r;

	if ((r = x86_vcpu_state_check(s, e)))
		return r;
	if (lacking)
		return err_set(e, -ENOTSUP, "vCPU state: this KVM cannot restore parts %#x", lacking);
	if ((s->parts & X86_STATE_XSAVE) && s->xsave_size > c->xsave_size)
		return err_set(e, -ENOTSUP, "vCPU state: %u bytes of XSAVE state, this KVM takes %u",
			       s->xsave_size, c->xsave_size);
	if ((s->parts & X86_STATE_TSC_KHZ) && s->tsc_khz && (c->parts & X86_STATE_TSC_KHZ) &&
	    (r = x86_restore_tsc_khz(fd, s->tsc_khz, e)))
		return r;
	if (ioctl(fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		return x86_state_fail(e, "KVM_SET_MP_STATE");
	if (ioctl(fd, KVM_SET_REGS, &s->regs) < 0)
		return x86_state_fail(e, "KVM_SET_REGS");
	if (ioctl(fd, KVM_SET_SREGS, &s->sregs) < 0)
		return x86_state_fail(e, "KVM_SET_SREGS");
	if (s->parts & X86_STATE_XSAVE) {
		if (ioctl(fd, KVM_SET_XSAVE, s->xsave) < 0)
			return x86_state_fail(e, "KVM_SET_XSAVE");
	} else if (ioctl(fd, KVM_SET_FPU, &s->fpu) < 0) {
		return x86_state_fail(e, "KVM_SET_FPU");
	}
	if ((s->parts & X86_STATE_XCRS) && ioctl(fd, KVM_SET_XCRS, &s->xcrs) < 0)
		return x86_state_fail(e, "KVM_SET_XCRS");
	if ((s->parts & X86_STATE_DEBUGREGS) && ioctl(fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0)
		return x86_state_fail(e, "KVM_SET_DEBUGREGS");
	if (ioctl(fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return x86_state_fail(e, "KVM_SET_LAPIC");
	if ((r = x86_restore_msrs(fd, s, e)))
		return r;
	if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return x86_state_fail(e, "KVM_SET_VCPU_EVENTS");
	/* Tell a kvmclock guest it was stopped (no soft-lockup report); EINVAL without kvmclock. */
	(void)ioctl(fd, KVM_KVMCLOCK_CTRL, 0);
	return 0;
}

int x86_vcpu_save_hook(void *arg, int vcpu_fd, void *state, struct err *e)
{
	return x86_vcpu_state_save(arg, vcpu_fd, state, e);
}

int x86_vcpu_restore_hook(void *arg, int vcpu_fd, const void *state, struct err *e)
{
	return x86_vcpu_state_restore(arg, vcpu_fd, state, e);
}
