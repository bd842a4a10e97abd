/* vcpu.c: one thread per vCPU: KVM_RUN, exit dispatch, and the requests (pause, resume, state save and restore, stop) it serves. */
#include "kvm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

/* The signal that makes KVM_RUN return: it sets immediate_exit for this thread. */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)

static __thread struct kvm_run *vcpu_self_run;

int vcpu_ctx_init(struct vcpu_ctx *ctx)
{
	int r = pthread_mutex_init(&ctx->lock, NULL);

	if (r)
		return -r;
	r = pthread_cond_init(&ctx->cond, NULL);
	if (r) {
		pthread_mutex_destroy(&ctx->lock);
		return -r;
	}
	ctx->save_state = NULL;
	ctx->restore_state = NULL;
	ctx->state_arg = NULL;
	ctx->state_size = 0;
	ctx->req = VCPU_REQ_RUN;
	ctx->req_seq = 0;
	ctx->ndone = 0;
	ctx->nserving = 0;
	ctx->req_rc = 0;
	ctx->req_err.msg[0] = '\0';
	ctx->npaused = 0;
	ctx->nexited = 0;
	return 0;
}

void vcpu_ctx_destroy(struct vcpu_ctx *ctx)
{
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->lock);
}

int vcpu_create(struct vcpu *v, const struct kvm_vm *vm, unsigned index,
		struct vcpu_ctx *ctx, struct err *e)
{
	void *p;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->index = index;
	v->ctx = ctx;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		int n = errno;

		return err_set(e, -n, "KVM_CREATE_VCPU %u: %s", index, strerror(n));
	}
	p = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (p == MAP_FAILED) {
		int n = errno;

		return err_set(e, -n, "mmap kvm_run of vCPU %u: %s", index, strerror(n));
	}
	v->run = p;
	v->run_size = vm->vcpu_mmap_size;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
	if (vcpu_self_run)
		vcpu_self_run->immediate_exit = 1;
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static void vcpu_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	/* rep ins/outs arrive as one exit with count > 1. */
	metric_inc(run->io.direction == KVM_EXIT_IO_OUT ? M_vcpu_exit_io_out : M_vcpu_exit_io_in);
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(v->ctx->pio, run->io.port, data, size);
		else
			bus_read(v->ctx->pio, run->io.port, data, size);
	}
	v->exits_io++;
}

static void vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	metric_inc(run->mmio.is_write ? M_vcpu_exit_mmio_write : M_vcpu_exit_mmio_read);
	if (run->mmio.is_write)
		bus_write(v->ctx->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(v->ctx->mmio, run->mmio.phys_addr, run->mmio.data, len);
	v->exits_mmio++;
}

/* Handle one exit; returns VCPU_STOP_NONE to keep running. */
static enum vcpu_stop vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(v);
		return VCPU_STOP_NONE;
	case KVM_EXIT_MMIO:
		vcpu_mmio(v);
		return VCPU_STOP_NONE;
	case KVM_EXIT_SHUTDOWN: {
		/* A guest may mean it (reboot=t), or it crashed: say where it was. */
		char st[320] = "an unknown place";

		if (v->ctx->describe)
			v->ctx->describe(v->fd, st, sizeof(st));
		LOG_INFO("vCPU %u: guest shutdown (triple fault) at %s", v->index, st);
		return VCPU_STOP_RESET;
	}
	case KVM_EXIT_SYSTEM_EVENT:
		LOG_INFO("vCPU %u: guest system event %u", v->index, run->system_event.type);
		return run->system_event.type == KVM_SYSTEM_EVENT_CRASH ? VCPU_STOP_ERROR
									 : VCPU_STOP_RESET;
	case KVM_EXIT_HLT:
		LOG_ERROR("vCPU %u: unexpected HLT exit with in-kernel irqchip", v->index);
		return VCPU_STOP_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		LOG_ERROR("vCPU %u: KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx", v->index,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_STOP_ERROR;
	case KVM_EXIT_INTERNAL_ERROR:
		LOG_ERROR("vCPU %u: KVM internal error, suberror %u%s", v->index,
			  run->internal.suberror,
			  run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				  ? " (instruction emulation failed)" : "");
		return VCPU_STOP_ERROR;
	default:
		LOG_ERROR("vCPU %u: unhandled KVM exit reason %u", v->index, run->exit_reason);
		return VCPU_STOP_ERROR;
	}
}

/*
 * Serve the SAVE or RESTORE request of sequence c->req_seq on this thread.
 * Called and returns with c->lock held; the hook runs without it.
 */
static void vcpu_serve_state(struct vcpu *v)
{
	struct vcpu_ctx *c = v->ctx;
	enum vcpu_request req = c->req;
	unsigned seq = c->req_seq;
	void *state = v->state;
	struct err e;
	int r;

	c->nserving++;
	pthread_mutex_unlock(&c->lock);
	e.msg[0] = '\0';
	if (req == VCPU_REQ_SAVE)
		r = c->save_state(c->state_arg, v->fd, state, &e);
	else
		r = c->restore_state(c->state_arg, v->fd, state, &e);
	pthread_mutex_lock(&c->lock);
	v->served_seq = seq;
	if (r && !c->req_rc) {
		c->req_rc = r < 0 ? r : -EIO;
		err_set(&c->req_err, 0, "vCPU %u: %s", v->index, e.msg[0] ? e.msg : strerror(-c->req_rc));
	}
	c->ndone++;
	c->nserving--;
	pthread_cond_broadcast(&c->cond);
}

/*
 * Serve the requests posted to this thread until it may run the guest (0) or
 * must leave its loop (1). A paused thread counts in npaused; SAVE and
 * RESTORE find it paused and leave it so.
 */
static int vcpu_serve_requests(struct vcpu *v)
{
	struct vcpu_ctx *c = v->ctx;
	int stop;

	pthread_mutex_lock(&c->lock);
	while (c->req != VCPU_REQ_RUN && c->req != VCPU_REQ_STOP) {
		if (!v->paused) {
			v->paused = 1;
			c->npaused++;
			pthread_cond_broadcast(&c->cond);
		}
		if ((c->req == VCPU_REQ_SAVE || c->req == VCPU_REQ_RESTORE) && v->state &&
		    v->served_seq != c->req_seq) {
			vcpu_serve_state(v);
			continue;
		}
		pthread_cond_wait(&c->cond, &c->lock);
	}
	if (v->paused) {
		v->paused = 0;
		c->npaused--;
	}
	stop = c->req == VCPU_REQ_STOP;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

/* A thread that leaves its loop counts as settled for vcpu_pause_all(): it will never pause. */
static void vcpu_exited(struct vcpu_ctx *c)
{
	pthread_mutex_lock(&c->lock);
	c->nexited++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	char name[24];
	sigset_t set;

	snprintf(name, sizeof(name), "fc_vcpu %u", v->index);
	log_set_thread_name(name);
	vcpu_self_run = v->run;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (v->ctx->thread_init && v->ctx->thread_init(v->ctx->opaque, v->index)) {
		v->ctx->request_stop(v->ctx->opaque, VCPU_STOP_ERROR);
		vcpu_exited(v->ctx);
		return NULL;
	}
	for (;;) {
		enum vcpu_stop why;

		/* Clear before checking: a kick after the check still stops KVM_RUN. */
		v->run->immediate_exit = 0;
		if (vcpu_serve_requests(v))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			LOG_ERROR("vCPU %u: KVM_RUN: %s", v->index, strerror(errno));
			v->ctx->request_stop(v->ctx->opaque, VCPU_STOP_ERROR);
			break;
		}
		why = vcpu_handle_exit(v);
		if (why == VCPU_STOP_ERROR)
			metric_inc(M_vcpu_failures);
		if (why != VCPU_STOP_NONE) {
			v->ctx->request_stop(v->ctx->opaque, why);
			break;
		}
	}
	vcpu_exited(v->ctx);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	/* Exit handling needs little stack; many VMs per host make this add up. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (r)
		return -r;
	v->started = 1;
	return 0;
}

static void vcpu_kick_all(struct vcpu *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].started)
			pthread_kill(v[i].thread, VCPU_KICK_SIGNAL);
}

static unsigned vcpu_count_started(const struct vcpu *v, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += v[i].started ? 1 : 0;
	return k;
}

int vcpu_post(struct vcpu_ctx *c, enum vcpu_request req)
{
	int r = 0;

	if (req != VCPU_REQ_RUN && req != VCPU_REQ_PAUSE && req != VCPU_REQ_STOP)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->req == VCPU_REQ_STOP && req != VCPU_REQ_STOP)
		r = -ESHUTDOWN;
	else if ((c->req == VCPU_REQ_SAVE || c->req == VCPU_REQ_RESTORE) && req != VCPU_REQ_STOP)
		r = -EBUSY;
	else
		c->req = req;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void vcpu_pause_all(struct vcpu *v, unsigned n)
{
	struct vcpu_ctx *c = v[0].ctx;
	unsigned want = vcpu_count_started(v, n);
	struct timespec ts;

	/* After a stop there is nothing to pause: the wait below ends at once. */
	(void)vcpu_post(c, VCPU_REQ_PAUSE);
	vcpu_kick_all(v, n);
	pthread_mutex_lock(&c->lock);
	/* A vCPU may sit in KVM_RUN between its check and the kick: kick again on timeout. */
	while (c->npaused + c->nexited < want && c->req != VCPU_REQ_STOP) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&c->lock);
			vcpu_kick_all(v, n);
			pthread_mutex_lock(&c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void vcpu_resume_all(struct vcpu *v, unsigned n)
{
	(void)n;
	(void)vcpu_post(v[0].ctx, VCPU_REQ_RUN);
}

void vcpu_stop_all(struct vcpu *v, unsigned n)
{
	(void)vcpu_post(v[0].ctx, VCPU_REQ_STOP);
	vcpu_kick_all(v, n);
	for (unsigned i = 0; i < n; i++) {
		if (!v[i].started)
			continue;
		pthread_join(v[i].thread, NULL);
		v[i].started = 0;
	}
}

/* Post SAVE or RESTORE to the paused vCPUs v[0..n) and wait until each has served it. */
static int vcpu_state_round(struct vcpu *v, unsigned n, enum vcpu_request req, void *states,
			    size_t size, struct err *e)
{
	const char *what = req == VCPU_REQ_SAVE ? "save" : "restore";
	struct vcpu_ctx *c;
	int r = 0;

	if (n == 0)
		return 0;
	c = v[0].ctx;
	if (req == VCPU_REQ_SAVE ? c->save_state == NULL : c->restore_state == NULL)
		return err_set(e, -ENOTSUP, "no vCPU state %s for this architecture", what);
	if (!states || size == 0 || size != c->state_size)
		return err_set(e, -EINVAL, "vCPU state %s: objects of %zu bytes, the architecture's are %zu",
			       what, size, c->state_size);
	pthread_mutex_lock(&c->lock);
	if (c->req != VCPU_REQ_PAUSE) {
		r = err_set(e, c->req == VCPU_REQ_STOP ? -ESHUTDOWN : -EBUSY,
			    "vCPU state %s: the vCPUs are not paused", what);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		if (v[i].ctx != c || !v[i].started || !v[i].paused) {
			r = err_set(e, -EBUSY, "vCPU state %s: vCPU %u is not paused", what, v[i].index);
			goto out;
		}
	}
	for (unsigned i = 0; i < n; i++)
		v[i].state = (char *)states + (size_t)i * size;
	c->req = req;
	c->req_seq++;
	c->ndone = 0;
	c->req_rc = 0;
	c->req_err.msg[0] = '\0';
	pthread_cond_broadcast(&c->cond);
	/* A stop meanwhile: the threads that have not begun leave; wait for those inside a hook. */
	while (c->req == req ? c->ndone < n : c->nserving > 0)
		pthread_cond_wait(&c->cond, &c->lock);
	for (unsigned i = 0; i < n; i++)
		v[i].state = NULL;
	if (c->req != req) {
		r = err_set(e, -ESHUTDOWN, "vCPU state %s: the vCPUs were stopped", what);
		goto out;
	}
	c->req = VCPU_REQ_PAUSE;
	pthread_cond_broadcast(&c->cond);
	if ((r = c->req_rc))
		err_set(e, r, "%s", c->req_err.msg);
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int vcpu_save_all(struct vcpu *v, unsigned n, void *states, size_t size, struct err *e)
{
	return vcpu_state_round(v, n, VCPU_REQ_SAVE, states, size, e);
}

int vcpu_restore_all(struct vcpu *v, unsigned n, const void *states, size_t size,
		     struct err *e)
{
	/* The restore hook only reads its slot: the cast carries the pointer, not a write. */
	return vcpu_state_round(v, n, VCPU_REQ_RESTORE, (void *)(uintptr_t)states, size, e);
}
