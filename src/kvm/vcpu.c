/* vcpu.c: one thread per vCPU: KVM_RUN, exit dispatch, pause, resume and stop. */
#include "kvm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
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
	ctx->want_pause = ctx->want_stop = 0;
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
		struct vcpu_ctx *ctx, char *err, size_t errlen)
{
	void *p;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->index = index;
	v->ctx = ctx;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		int e = errno;

		snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", index, strerror(e));
		return -e;
	}
	p = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		snprintf(err, errlen, "mmap kvm_run of vCPU %u: %s", index, strerror(e));
		return -e;
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

/* Honour pause and stop requests; returns 1 when the thread must leave. */
static int vcpu_check_requests(struct vcpu *v)
{
	struct vcpu_ctx *c = v->ctx;
	int stop;

	pthread_mutex_lock(&c->lock);
	if (c->want_pause && !c->want_stop) {
		c->npaused++;
		pthread_cond_broadcast(&c->cond);
		while (c->want_pause && !c->want_stop)
			pthread_cond_wait(&c->cond, &c->lock);
		c->npaused--;
	}
	stop = c->want_stop;
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
		if (vcpu_check_requests(v))
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

void vcpu_pause_all(struct vcpu *v, unsigned n)
{
	struct vcpu_ctx *c = v[0].ctx;
	unsigned want = vcpu_count_started(v, n);
	struct timespec ts;

	pthread_mutex_lock(&c->lock);
	c->want_pause = 1;
	pthread_mutex_unlock(&c->lock);
	vcpu_kick_all(v, n);
	pthread_mutex_lock(&c->lock);
	/* A vCPU may sit in KVM_RUN between its check and the kick: kick again on timeout. */
	while (c->npaused + c->nexited < want && !c->want_stop) {
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
	struct vcpu_ctx *c = v[0].ctx;

	(void)n;
	pthread_mutex_lock(&c->lock);
	c->want_pause = 0;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void vcpu_stop_all(struct vcpu *v, unsigned n)
{
	struct vcpu_ctx *c = v[0].ctx;

	pthread_mutex_lock(&c->lock);
	c->want_stop = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	vcpu_kick_all(v, n);
	for (unsigned i = 0; i < n; i++) {
		if (!v[i].started)
			continue;
		pthread_join(v[i].thread, NULL);
		v[i].started = 0;
	}
}

