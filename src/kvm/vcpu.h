/* vcpu.h: vCPU file descriptors and the threads that run them. */
#ifndef EMBER_KVM_VCPU_H
#define EMBER_KVM_VCPU_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kvm/bus.h"
#include "kvm/kvm.h"

struct kvm_run;

/* Why a vCPU asked the VM to stop. */
enum vcpu_stop {
	VCPU_STOP_NONE = 0,
	VCPU_STOP_RESET,     /* i8042 reset, triple fault or a system event: exit 0 */
	VCPU_STOP_ERROR,     /* KVM or emulation failure: exit 1 */
};

/*
 * What the vCPU threads are asked to do, one request for all of them at a time,
 * posted under vcpu_ctx.lock and served by each thread in its loop before it
 * enters KVM_RUN (a signal kicks a thread out of KVM_RUN to look).
 */
enum vcpu_request {
	VCPU_REQ_RUN = 0,   /* run the guest: the request after vcpu_ctx_init() */
	VCPU_REQ_PAUSE,     /* wait in the loop, counted in npaused */
	VCPU_REQ_SAVE,      /* paused: run save_state into the vCPU's slot, stay paused */
	VCPU_REQ_RESTORE,   /* paused: run restore_state from the vCPU's slot, stay paused */
	VCPU_REQ_STOP,      /* leave the loop; final: no later request replaces it */
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
	/*
	 * The architecture's vCPU state capture, for vcpu_save_all() and
	 * vcpu_restore_all(); NULL (after vcpu_ctx_init()) refuses them with
	 * -ENOTSUP. Called on the vCPU's own thread while it is paused, with
	 * @arg = state_arg and a state object of state_size bytes. 0 or -errno
	 * with a message in @e.
	 */
	int (*save_state)(void *arg, int vcpu_fd, void *state, struct err *e);
	int (*restore_state)(void *arg, int vcpu_fd, const void *state, struct err *e);
	void *state_arg;
	size_t state_size;

	pthread_mutex_t lock;     /* protects the fields below */
	pthread_cond_t cond;
	enum vcpu_request req;
	unsigned req_seq;          /* bumped by every SAVE or RESTORE posted */
	unsigned ndone;            /* threads that served the current SAVE or RESTORE */
	unsigned nserving;         /* threads inside a state hook right now */
	int req_rc;                /* its first failure, 0 if none */
	struct err req_err;        /* and that failure's message */
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
	int paused;               /* waiting in its loop (under ctx->lock) */
	void *state;              /* SAVE/RESTORE slot, set by the poster under ctx->lock */
	unsigned served_seq;      /* the last req_seq this thread served */
};

/*
 * vcpu_ctx_init / vcpu_ctx_destroy: the shared request state (VCPU_REQ_RUN);
 * the state hooks start NULL. Set the hooks after vcpu_ctx_init().
 */
int vcpu_ctx_init(struct vcpu_ctx *ctx);
void vcpu_ctx_destroy(struct vcpu_ctx *ctx);

/* vcpu_create: KVM_CREATE_VCPU and map its kvm_run. 0 or -errno with @e. */
int vcpu_create(struct vcpu *v, const struct kvm_vm *vm, unsigned index,
		struct vcpu_ctx *ctx, struct err *e);

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
 * vcpu_post: make @req the request of every vCPU thread of @c and wake them
 * (threads inside KVM_RUN see it only once kicked: vcpu_pause_all() and
 * vcpu_stop_all() kick). VCPU_REQ_STOP is final: posting anything else after
 * it returns -ESHUTDOWN. SAVE and RESTORE are posted by vcpu_save_all() and
 * vcpu_restore_all() only (they fill each vCPU's slot first): -EINVAL here;
 * while one of those runs, RUN and PAUSE are refused with -EBUSY.
 * 0 otherwise. Any thread but a vCPU thread.
 */
int vcpu_post(struct vcpu_ctx *c, enum vcpu_request req);

/*
 * vcpu_pause_all / vcpu_resume_all / vcpu_stop_all: ask every vCPU thread
 * of @ctx to pause (returns once all @n started threads are paused), resume,
 * or leave its loop; vcpu_stop_all then joins them. Not from a vCPU thread.
 * A pause posted before vcpu_start() holds the new threads before their first
 * KVM_RUN (for a restore into fresh vCPUs): call vcpu_pause_all() again after
 * starting them to wait until they are all paused.
 */
void vcpu_pause_all(struct vcpu *v, unsigned n);
void vcpu_resume_all(struct vcpu *v, unsigned n);
void vcpu_stop_all(struct vcpu *v, unsigned n);

/*
 * vcpu_save_all / vcpu_restore_all: run ctx->save_state (restore_state) on
 * each of the @n vCPUs' own threads, vCPU i with the state object at
 * @states + i * @size, and wait for all of them. Every one of the @n vCPUs
 * must be started and paused by vcpu_pause_all() (-EBUSY otherwise, as when a
 * thread has left its loop); @size must equal ctx->state_size (-EINVAL); the
 * hook must be set (-ENOTSUP). Returns 0 or the first vCPU's -errno with its
 * message, naming the vCPU, in @e; -ESHUTDOWN if a stop came meanwhile. The
 * vCPUs stay paused. Not from a vCPU thread; one caller at a time.
 */
int vcpu_save_all(struct vcpu *v, unsigned n, void *states, size_t size, struct err *e);
int vcpu_restore_all(struct vcpu *v, unsigned n, const void *states, size_t size,
		     struct err *e);

#endif
