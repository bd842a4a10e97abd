/* vcpu.h: vCPU file descriptors and the threads that run them. */
#ifndef EMBER_KVM_VCPU_H
#define EMBER_KVM_VCPU_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/bus.h"
#include "kvm/kvm.h"

struct kvm_run;

/* Why a vCPU asked the VM to stop. */
enum vcpu_stop {
	VCPU_STOP_NONE = 0,
	VCPU_STOP_RESET,     /* i8042 reset, triple fault or a system event: exit 0 */
	VCPU_STOP_ERROR,     /* KVM or emulation failure: exit 1 */
};

/* What every vCPU thread shares with the rest of the VMM. */
struct vcpu_ctx {
	const struct bus *pio;
	const struct bus *mmio;
	/* Called once per stop request, from a vCPU thread. */
	void (*request_stop)(void *opaque, enum vcpu_stop why);
	void *opaque;
	/* Called on the vCPU thread before its first KVM_RUN (seccomp), may be NULL. */
	int (*thread_init)(void *opaque, unsigned index);
	/* Writes one line of a vCPU's registers for the log (the architecture's), may be NULL. */
	void (*describe)(int vcpu_fd, char *buf, size_t len);

	pthread_mutex_t lock;     /* protects the fields below */
	pthread_cond_t cond;
	int want_pause;
	int want_stop;
	unsigned npaused;
	unsigned nexited;          /* vCPU threads that left their loop: they never pause */
};

struct vcpu {
	unsigned index;
	int fd;                   /* -1 when closed */
	struct kvm_run *run;      /* mmap()ed kvm_run, or NULL */
	int run_size;
	pthread_t thread;
	int started;
	struct vcpu_ctx *ctx;
	uint64_t exits_io, exits_mmio; /* counters for metrics (vCPU thread only) */
};

/* vcpu_ctx_init / vcpu_ctx_destroy: the shared pause/stop state. */
int vcpu_ctx_init(struct vcpu_ctx *ctx);
void vcpu_ctx_destroy(struct vcpu_ctx *ctx);

/* vcpu_create: KVM_CREATE_VCPU and map its kvm_run. 0 or -errno with @err. */
int vcpu_create(struct vcpu *v, const struct kvm_vm *vm, unsigned index,
		struct vcpu_ctx *ctx, char *err, size_t errlen);

/* vcpu_destroy: unmap and close; safe on a zeroed or half-built vcpu. The thread must be joined. */
void vcpu_destroy(struct vcpu *v);

/*
 * vcpu_signals_init: install the handler of the signal that kicks a vCPU out
 * of KVM_RUN. Once per process, before any vCPU thread starts.
 */
int vcpu_signals_init(void);

/* vcpu_start: start the thread that runs @v until a stop. 0 or -errno. */
int vcpu_start(struct vcpu *v);

/*
 * vcpu_pause_all / vcpu_resume_all / vcpu_stop_all: ask every vCPU thread
 * of @ctx to pause (returns once all @n started threads are paused), resume,
 * or leave its loop; vcpu_stop_all then joins them. Not from a vCPU thread.
 */
void vcpu_pause_all(struct vcpu *v, unsigned n);
void vcpu_resume_all(struct vcpu *v, unsigned n);
void vcpu_stop_all(struct vcpu *v, unsigned n);

#endif
