/* test_vcpu_state.c: an x86 guest's vCPU and VM state saved on the vCPU threads, restored into the same vCPUs and into a second VM, saved again and compared. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/regs.h"
#include "arch/x86/vcpu_state.h"
#include "check.h"
#include "kvm/kvm.h"
#include "kvm/mem.h"
#include "kvm/vcpu.h"
#include "kvm/vm_state.h"
#include "seccomp_filters.h"

#define RAM_SIZE  (16u << 20)
#define CODE_GPA  0x100000ULL
#define NV        2          /* vCPU 0 spins; vCPU 1 is an AP waiting for its INIT/SIPI */

#define MSR_IA32_TSC           0x10
#define MSR_IA32_TSC_DEADLINE  0x6e0
#define MSR_IA32_MPERF         0xe7
#define MSR_IA32_APERF         0xe8
#define HV_X64_MSR_VP_RUNTIME     0x40000010 /* Hyper-V's count of the vCPU's run time */
#define HV_X64_MSR_TIME_REF_COUNT 0x40000020 /* Hyper-V's 100 ns count since the VM began */
/* How long the guest runs between saves: long enough for an emulated host (the lab) too. */
#define RUN_US                    (300 * 1000)
#define APIC_TMCCT             0x390   /* the timer's current count: it runs */

/* 32-bit flat protected mode at CODE_GPA: "1: inc %ecx; jmp 1b". */
static const uint8_t guest_code[] = { 0x41, 0xeb, 0xfd };

struct tvm {
	struct kvm_vm vm;
	struct guest_mem mem;
	struct vcpu_ctx ctx;
	struct vcpu v[NV];
	struct x86_state_caps caps;
	int ctx_ready;
};

static const struct bus no_bus;
static int stops;

static void t_request_stop(void *opaque, enum vcpu_stop why)
{
	(void)opaque;
	printf("# vCPU asked to stop (%d)\n", (int)why);
	__atomic_add_fetch(&stops, 1, __ATOMIC_SEQ_CST);
}

/* As ember's vCPU threads do: the save and restore ioctls then run under the vCPU allowlist. */
static int t_thread_init(void *opaque, unsigned index)
{
	(void)opaque;
	(void)index;
	return seccomp_install(SECCOMP_VCPU);
}

/* A VM with guest_code in RAM, NV vCPUs set up as ember sets them up (PVH entry), not started. */
static int tvm_build(struct tvm *t, struct err *err)
{
	uint64_t gdt[4];
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = kvm_vm_create(&t->vm, &LAYOUT_KVM_PAGES, err)))
		return r;
	if ((r = gmem_init(&t->mem, RAM_SIZE, LAYOUT_RAM_HOLE)))
		return err_set(err, r, "gmem_init: %s", strerror(-r));
	if ((r = kvm_vm_set_memory(&t->vm, &t->mem, false, err)))
		return r;
	if ((r = boot_gdt_write(&t->mem, 0, gdt)) ||
	    (r = gmem_write(&t->mem, CODE_GPA, guest_code, sizeof(guest_code))))
		return err_set(err, r, "guest RAM: %s", strerror(-r));
	if ((r = vcpu_ctx_init(&t->ctx)))
		return r;
	t->ctx_ready = 1;
	t->ctx.pio = t->ctx.mmio = &no_bus;
	t->ctx.request_stop = t_request_stop;
	t->ctx.thread_init = t_thread_init;
	t->ctx.opaque = t;
	t->ctx.save_state = x86_vcpu_save_hook;
	t->ctx.restore_state = x86_vcpu_restore_hook;
	t->ctx.state_arg = &t->caps;
	t->ctx.state_size = sizeof(struct x86_vcpu_state);
	for (unsigned i = 0; i < NV; i++) {
		if ((r = vcpu_create(&t->v[i], &t->vm, i, &t->ctx, err)) ||
		    (r = x86_vcpu_init(t->v[i].fd, &t->vm, i, NV, err)))
			return r;
	}
	if ((r = x86_vcpu_boot_regs(t->v[0].fd, BOOT_ENTRY_PVH, CODE_GPA, gdt, err)))
		return r;
	return x86_state_caps_probe(&t->vm, t->v[0].fd, &t->caps, err);
}

static void tvm_destroy(struct tvm *t)
{
	int started = 0;

	for (unsigned i = 0; i < NV; i++)
		started |= t->v[i].started;
	if (started)
		vcpu_stop_all(t->v, NV);
	for (unsigned i = 0; i < NV; i++)
		vcpu_destroy(&t->v[i]);
	if (t->ctx_ready)
		vcpu_ctx_destroy(&t->ctx);
	gmem_destroy(&t->mem);
	kvm_vm_destroy(&t->vm);
}

/*
 * Each state ioctl once on @fd from this thread (the vCPU not started), each SET with what
 * its GET gave: the first this KVM refuses, or NULL when it takes them all.
 */
static const char *host_refuses(const struct tvm *t, int fd, char *why, size_t len)
{
	static union {
		struct kvm_mp_state mp;
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_xsave xsave;
		struct kvm_fpu fpu;
		struct kvm_xcrs xcrs;
		struct kvm_debugregs dr;
		struct kvm_lapic_state lapic;
		struct kvm_vcpu_events ev;
		uint8_t big[X86_STATE_XSAVE_MAX];
	} u;
	static const struct {
		unsigned long get, set;
		const char *name;
		uint32_t part;   /* 0: always used */
	} io[] = {
		{ KVM_GET_MP_STATE, KVM_SET_MP_STATE, "KVM_GET/SET_MP_STATE", 0 },
		{ KVM_GET_REGS, KVM_SET_REGS, "KVM_GET/SET_REGS", 0 },
		{ KVM_GET_SREGS, KVM_SET_SREGS, "KVM_GET/SET_SREGS", 0 },
		{ KVM_GET_XSAVE, KVM_SET_XSAVE, "KVM_GET/SET_XSAVE", X86_STATE_XSAVE },
		{ KVM_GET_FPU, KVM_SET_FPU, "KVM_GET/SET_FPU", 0 },
		{ KVM_GET_XCRS, KVM_SET_XCRS, "KVM_GET/SET_XCRS", X86_STATE_XCRS },
		{ KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, "KVM_GET/SET_DEBUGREGS", X86_STATE_DEBUGREGS },
		{ KVM_GET_LAPIC, KVM_SET_LAPIC, "KVM_GET/SET_LAPIC", 0 },
		{ KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, "KVM_GET/SET_VCPU_EVENTS", 0 },
	};

	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++) {
		if (io[i].part && !(t->caps.parts & io[i].part))
			continue;
		memset(&u, 0, sizeof(u));
		if (ioctl(fd, io[i].get, &u) < 0 || ioctl(fd, io[i].set, &u) < 0) {
			snprintf(why, len, "%s: %s", io[i].name, strerror(errno));
			return why;
		}
	}
	if (t->caps.xsave2 && ioctl(fd, KVM_GET_XSAVE2, &u) < 0) {
		snprintf(why, len, "KVM_GET_XSAVE2: %s", strerror(errno));
		return why;
	}
	if ((t->caps.parts & X86_STATE_TSC_KHZ) && ioctl(fd, KVM_GET_TSC_KHZ, 0) < 0) {
		snprintf(why, len, "KVM_GET_TSC_KHZ: %s", strerror(errno));
		return why;
	}
	return NULL;
}

/* Where @a and @b differ in what a save right after a restore must give back; "" if nowhere. */
static const char *state_diff(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
			      char *buf, size_t len)
{
	struct kvm_lapic_state la = a->lapic, lb = b->lapic;

	buf[0] = '\0';
	if (a->parts != b->parts)
		snprintf(buf, len, "parts %#x/%#x", a->parts, b->parts);
	else if (a->mp_state.mp_state != b->mp_state.mp_state)
		snprintf(buf, len, "MP state %u/%u", a->mp_state.mp_state, b->mp_state.mp_state);
	else if (memcmp(&a->regs, &b->regs, sizeof(a->regs)))
		snprintf(buf, len, "regs (rip %#llx/%#llx, rcx %#llx/%#llx)",
			 (unsigned long long)a->regs.rip, (unsigned long long)b->regs.rip,
			 (unsigned long long)a->regs.rcx, (unsigned long long)b->regs.rcx);
	else if (memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)))
		snprintf(buf, len, "sregs");
	else if (a->xsave_size != b->xsave_size || memcmp(a->xsave, b->xsave, a->xsave_size))
		snprintf(buf, len, "XSAVE");
	else if (!(a->parts & X86_STATE_XSAVE) && memcmp(&a->fpu, &b->fpu, sizeof(a->fpu)))
		snprintf(buf, len, "FPU");
	else if (memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)))
		snprintf(buf, len, "XCRs");
	else if (memcmp(&a->debugregs, &b->debugregs, sizeof(a->debugregs)))
		snprintf(buf, len, "debug registers");
	else if (a->tsc_khz != b->tsc_khz)
		snprintf(buf, len, "TSC kHz %u/%u", a->tsc_khz, b->tsc_khz);
	else if (a->nmsrs != b->nmsrs)
		snprintf(buf, len, "%u/%u MSRs", a->nmsrs, b->nmsrs);
	if (buf[0])
		return buf;
	memset(la.regs + APIC_TMCCT, 0, 4);
	memset(lb.regs + APIC_TMCCT, 0, 4);
	if (memcmp(&la, &lb, sizeof(la)))
		for (unsigned off = 0; off < sizeof(la.regs); off += 16)
			if (memcmp(la.regs + off, lb.regs + off, 4)) {
				snprintf(buf, len, "LAPIC register %#x", off);
				return buf;
			}
	for (uint32_t i = 0; i < a->nmsrs; i++) {
		uint32_t idx = a->msrs[i].index;

		if (idx != b->msrs[i].index) {
			snprintf(buf, len, "MSR %u: index %#x/%#x", i, idx, b->msrs[i].index);
			return buf;
		}
		/*
		 * Counters run between two saves: the TSC, Hyper-V's run time and time
		 * reference counts (where KVM lists them), APERF/MPERF; the deadline was the
		 * TSC (Firecracker's fix) or follows it.
		 */
		if (idx == MSR_IA32_TSC || idx == MSR_IA32_TSC_DEADLINE || idx == MSR_IA32_MPERF ||
		    idx == MSR_IA32_APERF || idx == HV_X64_MSR_VP_RUNTIME ||
		    idx == HV_X64_MSR_TIME_REF_COUNT)
			continue;
		if (a->msrs[i].data != b->msrs[i].data) {
			snprintf(buf, len, "MSR %#x: %#llx/%#llx", idx,
				 (unsigned long long)a->msrs[i].data, (unsigned long long)b->msrs[i].data);
			return buf;
		}
	}
	if (a->events.exception.injected != b->events.exception.injected ||
	    a->events.exception.nr != b->events.exception.nr ||
	    a->events.interrupt.injected != b->events.interrupt.injected ||
	    a->events.interrupt.nr != b->events.interrupt.nr ||
	    a->events.nmi.injected != b->events.nmi.injected ||
	    a->events.nmi.pending != b->events.nmi.pending ||
	    a->events.nmi.masked != b->events.nmi.masked || a->events.flags != b->events.flags)
		snprintf(buf, len, "vCPU events");
	return buf;
}

static const char *vm_diff(const struct kvm_vm_state *a, const struct kvm_vm_state *b)
{
	if (memcmp(&a->pic_master, &b->pic_master, sizeof(a->pic_master)))
		return "PIC master";
	if (memcmp(&a->pic_slave, &b->pic_slave, sizeof(a->pic_slave)))
		return "PIC slave";
	if (memcmp(&a->ioapic, &b->ioapic, sizeof(a->ioapic)))
		return "IOAPIC";
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *x = &a->pit.channels[i], *y = &b->pit.channels[i];

		if (x->count != y->count || x->mode != y->mode || x->gate != y->gate ||
		    x->rw_mode != y->rw_mode)
			return "PIT channel";
	}
	if (a->clock.flags & KVM_CLOCK_TSC_STABLE)
		return "clock flags keep TSC_STABLE";
	return NULL;
}

static int in_loop(const struct x86_vcpu_state *s)
{
	return s->regs.rip >= CODE_GPA && s->regs.rip < CODE_GPA + sizeof(guest_code);
}

static struct tvm A, B;
static struct x86_vcpu_state *s1, *s2, *s3;
static struct kvm_vm_state vs1, vs2;
static int kvm_ok, host_ok;
static char host_why[160];

static void check_states_equal(const struct x86_vcpu_state *a, const struct x86_vcpu_state *b,
			       const char *when)
{
	char d[160];

	for (unsigned i = 0; i < NV; i++) {
		state_diff(&a[i], &b[i], d, sizeof(d));
		if (d[0])
			CHECK_FAIL_("%s, vCPU %u: %s differ", when, i, d);
	}
}

/* Run A's vCPUs briefly, pause, save, restore into the same vCPUs, save again: the same state. */
static void test_same_vcpus(void)
{
	struct err e;
	const char *d;

	if (!host_ok) {
		printf("SKIP test_same_vcpus: this KVM refuses %s\n", host_why);
		return;
	}
	for (unsigned i = 0; i < NV; i++)
		CHECK_EQ_I(vcpu_start(&A.v[i]), 0);
	usleep(RUN_US);
	vcpu_pause_all(A.v, NV);
	CHECK_EQ_U(A.ctx.npaused, NV);

	e.msg[0] = '\0';
	CHECK_EQ_I(vcpu_save_all(A.v, NV, s1, sizeof(*s1), &e), 0);
	if (e.msg[0])
		printf("# save: %s\n", e.msg);
	CHECK_EQ_I(kvm_vm_save(&A.vm, &vs1, &e), 0);
	for (unsigned i = 0; i < NV; i++)
		CHECK_EQ_I(x86_vcpu_state_check(&s1[i], &e), 0);
	/* The guest ran: vCPU 0 in its loop with a count; vCPU 1 still waits for a SIPI. */
	CHECK(in_loop(&s1[0]));
	CHECK(s1[0].regs.rcx > 0);
	CHECK_EQ_U(s1[0].mp_state.mp_state, KVM_MP_STATE_RUNNABLE);
	CHECK(s1[1].mp_state.mp_state != KVM_MP_STATE_RUNNABLE);
	CHECK_EQ_U(s1[0].nmsrs, A.caps.nmsrs);
	CHECK(s1[0].nmsrs > 0);
	printf("# vCPU 0 at rip %#llx after %llu loops; vCPU 1 MP state %u; %u MSRs (%u unreadable left out), "
	       "parts %#x, XSAVE %u bytes%s, TSC %u kHz\n",
	       (unsigned long long)s1[0].regs.rip, (unsigned long long)s1[0].regs.rcx,
	       s1[1].mp_state.mp_state, s1[0].nmsrs, A.caps.nmsrs_unreadable, s1[0].parts,
	       s1[0].xsave_size, A.caps.xsave2 ? " (KVM_GET_XSAVE2)" : "", s1[0].tsc_khz);

	CHECK_EQ_I(vcpu_restore_all(A.v, NV, s1, sizeof(*s1), &e), 0);
	if (e.msg[0])
		printf("# restore: %s\n", e.msg);
	CHECK_EQ_I(kvm_vm_restore(&A.vm, &vs1, &e), 0);
	CHECK_EQ_I(vcpu_save_all(A.v, NV, s2, sizeof(*s2), &e), 0);
	CHECK_EQ_I(kvm_vm_save(&A.vm, &vs2, &e), 0);
	check_states_equal(s1, s2, "restored into the same vCPUs");
	if ((d = vm_diff(&vs1, &vs2)))
		CHECK_FAIL_("VM state: %s differs", d);

	/* And the guest goes on from there. */
	vcpu_resume_all(A.v, NV);
	usleep(RUN_US);
	vcpu_pause_all(A.v, NV);
	CHECK_EQ_I(vcpu_save_all(A.v, NV, s3, sizeof(*s3), &e), 0);
	CHECK(in_loop(&s3[0]));
	CHECK(s3[0].regs.rcx > s2[0].regs.rcx);
	CHECK_EQ_I(__atomic_load_n(&stops, __ATOMIC_SEQ_CST), 0);
}

/* A's saved state into a second VM whose vCPUs never ran: it continues A's guest. */
static void test_second_vm(void)
{
	struct x86_vcpu_state *s4 = calloc(NV, sizeof(*s4));
	struct err err, e;
	const char *d;
	struct kvm_vm_state vs4;

	if (!host_ok) {
		printf("SKIP test_second_vm: this KVM refuses %s\n", host_why);
		free(s4);
		return;
	}
	CHECK(s4 != NULL);
	if (!s4)
		return;
	if (tvm_build(&B, &err)) {
		CHECK_FAIL_("second VM: %s", err.msg);
		free(s4);
		return;
	}
	/* Guest RAM as A had it when s2 was saved (the loop only counts in ecx: RAM is the same). */
	memcpy(B.mem.base, A.mem.base, RAM_SIZE);
	/* Paused before they start: B's threads restore before their first KVM_RUN. */
	vcpu_pause_all(B.v, NV);
	for (unsigned i = 0; i < NV; i++)
		CHECK_EQ_I(vcpu_start(&B.v[i]), 0);
	vcpu_pause_all(B.v, NV);
	CHECK_EQ_U(B.ctx.npaused, NV);
	e.msg[0] = '\0';
	CHECK_EQ_I(kvm_vm_restore(&B.vm, &vs2, &e), 0);
	CHECK_EQ_I(vcpu_restore_all(B.v, NV, s2, sizeof(*s2), &e), 0);
	if (e.msg[0])
		printf("# restore into the second VM: %s\n", e.msg);
	CHECK_EQ_I(vcpu_save_all(B.v, NV, s4, sizeof(*s4), &e), 0);
	CHECK_EQ_I(kvm_vm_save(&B.vm, &vs4, &e), 0);
	check_states_equal(s2, s4, "restored into a second VM");
	if ((d = vm_diff(&vs2, &vs4)))
		CHECK_FAIL_("second VM's state: %s differs", d);

	vcpu_resume_all(B.v, NV);
	usleep(RUN_US);
	vcpu_pause_all(B.v, NV);
	CHECK_EQ_I(vcpu_save_all(B.v, NV, s4, sizeof(*s4), &e), 0);
	CHECK(in_loop(&s4[0]));
	CHECK(s4[0].regs.rcx > s2[0].regs.rcx);
	CHECK(s4[1].mp_state.mp_state != KVM_MP_STATE_RUNNABLE);
	printf("# second VM: vCPU 0 went on from %llu to %llu loops\n",
	       (unsigned long long)s2[0].regs.rcx, (unsigned long long)s4[0].regs.rcx);
	CHECK_EQ_I(__atomic_load_n(&stops, __ATOMIC_SEQ_CST), 0);
	free(s4);
}

/* A corrupt state is refused before any ioctl, on the vCPU's thread, naming the vCPU. */
static void test_refusals(void)
{
	struct err e;

	if (!host_ok) {
		printf("SKIP test_refusals: this KVM refuses %s\n", host_why);
		return;
	}
	memcpy(s3, s2, NV * sizeof(*s3));
	s3[1].nmsrs = X86_STATE_MSRS_MAX + 1;
	CHECK_EQ_I(vcpu_restore_all(A.v, NV, s3, sizeof(*s3), &e), -EINVAL);
	CHECK(strstr(e.msg, "vCPU 1: ") == e.msg);
	s3[1].nmsrs = s2[1].nmsrs;
	vs1.ioapic.chip_id = 7;
	CHECK_EQ_I(kvm_vm_restore(&A.vm, &vs1, &e), -EINVAL);
	vcpu_resume_all(A.v, NV);
	CHECK_EQ_I(vcpu_save_all(A.v, NV, s3, sizeof(*s3), &e), -EBUSY);
}

int main(void)
{
	/* ember-test: needs-kvm (tests/run.sh runs this program where KVM works) */
	struct err err;

	s1 = calloc(NV, sizeof(*s1));
	s2 = calloc(NV, sizeof(*s2));
	s3 = calloc(NV, sizeof(*s3));
	if (!s1 || !s2 || !s3 || vcpu_signals_init())
		return 1;
	/* A call outside the vCPU list ends this program with 148 and the call named. */
	if (seccomp_setup(0, NULL, &err)) {
		printf("FAIL test_vcpu_state: seccomp_setup: %s\n", err.msg);
		return 1;
	}
	kvm_ok = tvm_build(&A, &err) == 0;
	if (!kvm_ok) {
		printf("FAIL test_vcpu_state: no usable /dev/kvm (%s)\n", err.msg);
		tvm_destroy(&A);
		return 1;
	}
	host_ok = host_refuses(&A, A.v[1].fd, host_why, sizeof(host_why)) == NULL;
	RUN(test_same_vcpus);
	RUN(test_second_vm);
	RUN(test_refusals);
	tvm_destroy(&B);
	tvm_destroy(&A);
	free(s1);
	free(s2);
	free(s3);
	return check_summary();
}
