/* test_vcpu_req.c: vCPU requests served on each vCPU's own thread (stub hooks, no KVM), and the refusals of x86_vcpu_state_check(). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/vcpu_state.h"
#include "check.h"
#include "kvm/vcpu.h"

/* ---- x86_vcpu_state_check (pure) ---- */

static void test_state_check(void)
{
	struct x86_vcpu_state *s = calloc(1, sizeof(*s));
	struct err e;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	s->nmsrs = X86_STATE_MSRS_MAX;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	s->nmsrs = X86_STATE_MSRS_MAX + 1;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	CHECK(strstr(e.msg, "MSRs") != NULL);
	s->nmsrs = 0xffffffffu;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->nmsrs = 0;

	s->parts = 1u << 31;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	CHECK(strstr(e.msg, "parts") != NULL);
	s->parts = 0;

	s->mp_state.mp_state = KVM_MP_STATE_SUSPENDED + 1;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->mp_state.mp_state = KVM_MP_STATE_HALTED;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);

	/* XCRs are counted only when present, and bounded then. */
	s->xcrs.nr_xcrs = X86_STATE_XCRS_MAX + 1;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	s->parts = X86_STATE_XCRS;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xcrs.nr_xcrs = 1;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);

	/* XSAVE: a size without the part, sizes out of range or unaligned, bytes past the size. */
	s->xsave_size = X86_STATE_XSAVE_MIN;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->parts |= X86_STATE_XSAVE;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	s->xsave_size = 0;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xsave_size = X86_STATE_XSAVE_MIN - 4;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xsave_size = X86_STATE_XSAVE_MAX + 4;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xsave_size = X86_STATE_XSAVE_MIN + 2;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xsave_size = X86_STATE_XSAVE_MIN;
	s->xsave[X86_STATE_XSAVE_MIN / 4] = 1;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), -EINVAL);
	s->xsave_size = X86_STATE_XSAVE_MIN + 4;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	s->xsave_size = X86_STATE_XSAVE_MAX;
	s->xsave[X86_STATE_XSAVE_MAX / 4 - 1] = 7;
	CHECK_EQ_I(x86_vcpu_state_check(s, &e), 0);
	free(s);
}

/* ---- requests, with stub state hooks on threads that never reach KVM_RUN ---- */

#define NV 3

struct slot {
	int fd;
	pid_t tid;
	unsigned order;          /* the stub's call count when this slot was served */
};

static struct {
	pthread_mutex_t m;
	int fail_fd;             /* the save hook refuses this vCPU */
	unsigned calls;
	int restored_fd[NV];
	pid_t restored_tid[NV];
	unsigned nrestored;
	int stops;
} S = { .m = PTHREAD_MUTEX_INITIALIZER, .fail_fd = -1 };

static int stub_save(void *arg, int fd, void *state, struct err *e)
{
	struct slot *sl = state;

	CHECK(arg == &S);
	pthread_mutex_lock(&S.m);
	sl->fd = fd;
	sl->tid = gettid();
	sl->order = ++S.calls;
	pthread_mutex_unlock(&S.m);
	if (fd == S.fail_fd)
		return err_set(e, -EPERM, "stub refused");
	return 0;
}

static int stub_restore(void *arg, int fd, const void *state, struct err *e)
{
	const struct slot *sl = state;

	(void)arg;
	if (sl->fd != fd)
		return err_set(e, -EINVAL, "slot of fd %d given to fd %d", sl->fd, fd);
	pthread_mutex_lock(&S.m);
	if (S.nrestored < NV) {
		S.restored_fd[S.nrestored] = fd;
		S.restored_tid[S.nrestored] = gettid();
		S.nrestored++;
	}
	pthread_mutex_unlock(&S.m);
	return 0;
}

static void stub_request_stop(void *opaque, enum vcpu_stop why)
{
	(void)opaque;
	(void)why;
	pthread_mutex_lock(&S.m);
	S.stops++;
	pthread_mutex_unlock(&S.m);
}

static const struct bus no_bus;

static void test_requests(void)
{
	struct vcpu_ctx ctx;
	struct vcpu v[NV];
	struct slot slots[NV];
	struct err e;
	pid_t self = gettid();

	memset(&ctx, 0, sizeof(ctx));
	CHECK_EQ_I(vcpu_ctx_init(&ctx), 0);
	CHECK(ctx.req == VCPU_REQ_RUN && ctx.save_state == NULL && ctx.restore_state == NULL);
	ctx.pio = ctx.mmio = &no_bus;
	ctx.request_stop = stub_request_stop;
	ctx.opaque = &S;
	CHECK_EQ_I(vcpu_signals_init(), 0);
	for (unsigned i = 0; i < NV; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].index = i;
		v[i].ctx = &ctx;
		/* Not a vCPU: a KVM_RUN on it would fail, and none is reached (paused before it). */
		v[i].fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		v[i].run = calloc(1, sizeof(struct kvm_run));
		CHECK(v[i].fd >= 0 && v[i].run != NULL);
	}

	/* No hooks, wrong size, not paused: refused before any thread is asked. */
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), -ENOTSUP);
	ctx.save_state = stub_save;
	ctx.restore_state = stub_restore;
	ctx.state_arg = &S;
	ctx.state_size = sizeof(struct slot);
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]) + 1, &e), -EINVAL);
	CHECK_EQ_I(vcpu_save_all(v, NV, NULL, sizeof(slots[0]), &e), -EINVAL);
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), -EBUSY);
	CHECK(strstr(e.msg, "not paused") != NULL);
	CHECK_EQ_I(vcpu_post(&ctx, VCPU_REQ_SAVE), -EINVAL);
	CHECK_EQ_I(vcpu_post(&ctx, VCPU_REQ_RESTORE), -EINVAL);

	/* Paused before they start: the threads stop before their first KVM_RUN. */
	vcpu_pause_all(v, NV);
	CHECK(ctx.req == VCPU_REQ_PAUSE);
	/* Paused, but not started: nobody to serve it. */
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), -EBUSY);
	for (unsigned i = 0; i < NV; i++)
		CHECK_EQ_I(vcpu_start(&v[i]), 0);
	vcpu_pause_all(v, NV);
	CHECK_EQ_U(ctx.npaused, NV);

	/* SAVE: each slot filled by its own vCPU's thread, none by this one. */
	memset(slots, 0, sizeof(slots));
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), 0);
	CHECK_EQ_U(S.calls, NV);
	for (unsigned i = 0; i < NV; i++) {
		CHECK_EQ_I(slots[i].fd, v[i].fd);
		CHECK(slots[i].tid != 0 && slots[i].tid != self);
		for (unsigned j = 0; j < i; j++)
			CHECK(slots[i].tid != slots[j].tid);
		CHECK(v[i].state == NULL);
	}
	CHECK(ctx.req == VCPU_REQ_PAUSE);
	CHECK_EQ_U(ctx.npaused, NV);

	/* RESTORE: the same threads, each given its own slot. */
	CHECK_EQ_I(vcpu_restore_all(v, NV, slots, sizeof(slots[0]), &e), 0);
	CHECK_EQ_U(S.nrestored, NV);
	for (unsigned k = 0; k < S.nrestored; k++) {
		unsigned i = 0;

		while (i < NV && v[i].fd != S.restored_fd[k])
			i++;
		CHECK(i < NV);
		if (i < NV)
			CHECK_EQ_I(S.restored_tid[k], slots[i].tid);
	}
	/* A subset: only vCPUs 0 and 1 are asked. */
	S.calls = 0;
	CHECK_EQ_I(vcpu_save_all(v, 2, slots, sizeof(slots[0]), &e), 0);
	CHECK_EQ_U(S.calls, 2);

	/* One vCPU's failure: the first -errno, its message naming the vCPU; all still served. */
	S.calls = 0;
	S.fail_fd = v[1].fd;
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), -EPERM);
	CHECK_STR(e.msg, "vCPU 1: stub refused");
	CHECK_EQ_U(S.calls, NV);
	S.fail_fd = -1;
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), 0);
	CHECK_EQ_U(ctx.npaused, NV);

	/* STOP is final: nothing replaces it, and nothing is left to save. */
	vcpu_stop_all(v, NV);
	CHECK(ctx.req == VCPU_REQ_STOP);
	CHECK_EQ_U(ctx.nexited, NV);
	CHECK_EQ_U(ctx.npaused, 0);
	CHECK_EQ_I(S.stops, 0);
	CHECK_EQ_I(vcpu_post(&ctx, VCPU_REQ_RUN), -ESHUTDOWN);
	CHECK_EQ_I(vcpu_post(&ctx, VCPU_REQ_PAUSE), -ESHUTDOWN);
	CHECK_EQ_I(vcpu_post(&ctx, VCPU_REQ_STOP), 0);
	vcpu_pause_all(v, NV);      /* returns at once after a stop */
	vcpu_resume_all(v, NV);
	CHECK(ctx.req == VCPU_REQ_STOP);
	for (unsigned i = 0; i < NV; i++)
		v[i].started = 1;   /* as if: the check must refuse on the request alone */
	CHECK_EQ_I(vcpu_save_all(v, NV, slots, sizeof(slots[0]), &e), -ESHUTDOWN);
	for (unsigned i = 0; i < NV; i++) {
		v[i].started = 0;
		free(v[i].run);
		v[i].run = NULL;
		close(v[i].fd);
	}
	vcpu_ctx_destroy(&ctx);
}

int main(void)
{
	RUN(test_state_check);
	RUN(test_requests);
	return check_summary();
}
