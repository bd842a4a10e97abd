/* seccomp_filters.c: the allowlist of each thread kind, a SIGSYS reporter, and Firecracker-format policies. */
#include "seccomp_filters.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "metrics.h"
#include "seccomp_json.h"

#define EXIT_BAD_SECCOMP 148

/* One rule: a syscall, optionally only with argument @arg compared to @val. */
struct sc_rule {
	int nr;
	int arg;            /* -1: any arguments */
	enum scmp_compare op;
	uint64_t val;
	uint64_t mask;      /* for SCMP_CMP_MASKED_EQ */
	const char *why;
};

#define ANY(name, why)              { SCMP_SYS(name), -1, 0, 0, 0, why }
#define ARG_EQ(name, a, v, why)     { SCMP_SYS(name), a, SCMP_CMP_EQ, (uint64_t)(v), 0, why }
#define ARG_NOBITS(name, a, m, why) { SCMP_SYS(name), a, SCMP_CMP_MASKED_EQ, 0, (uint64_t)(m), why }

/* Needed by every thread. */
#define COMMON_RULES                                                                   \
	ANY(futex, "pthread mutexes and condition variables"),                         \
	ANY(read, "eventfds, timerfd, signalfd"),                                      \
	ANY(write, "eventfds, log lines"),                                             \
	ANY(close, "connections and files as they end"),                               \
	ANY(rt_sigreturn, "return from the vCPU kick and SIGSYS handlers"),            \
	ANY(rt_sigprocmask, "glibc around thread exit"),                               \
	ANY(exit, "thread exit"),                                                      \
	ANY(exit_group, "process exit"),                                               \
	ANY(clock_gettime, "log timestamps, boot timer (CPU clocks are not in the vDSO)"), \
	ANY(madvise, "glibc free() returning memory"),                                 \
	ANY(munmap, "glibc free() of large blocks"),                                   \
	ANY(brk, "glibc malloc"),                                                      \
	ARG_NOBITS(mmap, 2, PROT_EXEC, "glibc malloc arenas; never executable"),       \
	ARG_NOBITS(mprotect, 2, PROT_EXEC, "glibc malloc arenas; never executable"),   \
	ANY(getpid, "logging"),                                                        \
	ANY(gettid, "logging")

/* The event-loop thread, after the VM is built: device I/O and API requests. */
static const struct sc_rule sc_vmm[] = {
	COMMON_RULES,
	ANY(epoll_wait, "the event loop"),
	ANY(epoll_pwait, "the event loop (glibc may use epoll_pwait)"),
	ANY(epoll_ctl, "devices start and stop watching fds"),
	ANY(readv, "virtio-net: frames from the tap"),
	ANY(writev, "virtio-net: frames to the tap"),
	ANY(preadv, "virtio-blk reads"),
	ANY(pwritev, "virtio-blk writes"),
	ANY(fdatasync, "virtio-blk flush"),
	ANY(fsync, "virtio-blk flush"),
	ANY(io_uring_enter, "virtio-blk io_engine Async"),
	ANY(io_uring_register, "PATCH /drives: the Async ring's file (its restrictions allow only that)"),
	ANY(openat, "PATCH /drives opens the new backing file"),
	ANY(newfstatat, "PATCH /drives checks the new backing file"),
	ANY(fstat, "PATCH /drives checks the new backing file"),
	ANY(lseek, "PATCH /drives: size of a block-device backing file"),
	ANY(tgkill, "pause: kick vCPU threads out of KVM_RUN"),
	ARG_EQ(ioctl, 1, KVM_IRQ_LINE, "i8042 Ctrl-Alt-Del raises IRQ 1"),
	ARG_EQ(ioctl, 1, TCSETS, "restore the terminal's settings at exit"),
	ARG_EQ(ioctl, 1, TCGETS, "glibc tcsetattr() reads the settings back"),
	ARG_EQ(ioctl, 1, TUNSETOFFLOAD, "virtio-net: offloads the driver accepted"),
	ARG_EQ(socket, 0, AF_UNIX, "vsock: connect to <uds_path>_<port>"),
	ANY(connect, "vsock: guest-initiated connections"),
	ANY(accept4, "vsock: host-initiated connections"),
	ANY(recvfrom, "vsock: host socket data"),
	ANY(sendto, "vsock: host socket data"),
	ANY(recvmsg, "vsock: host socket data"),
	ANY(sendmsg, "vsock: host socket data"),
	ANY(shutdown, "vsock: half-close"),
	ANY(getsockopt, "vsock: result of a non-blocking connect"),
	ANY(fcntl, "non-blocking sockets"),
	ANY(timerfd_settime, "vsock connection timeouts"),
	ANY(nanosleep, "glibc"),
	ANY(clock_nanosleep, "glibc"),
};

/* The API thread: sockets of API clients, nothing else. */
static const struct sc_rule sc_api[] = {
	COMMON_RULES,
	ANY(epoll_wait, "the API event loop"),
	ANY(epoll_pwait, "the API event loop"),
	ANY(epoll_ctl, "watch client connections"),
	ANY(accept4, "new API clients"),
	ANY(recvfrom, "requests"),
	ANY(sendto, "responses"),
};

/* A vCPU thread: KVM_RUN and what device register accesses need. */
static const struct sc_rule sc_vcpu[] = {
	COMMON_RULES,
	ARG_EQ(ioctl, 1, KVM_RUN, "run the vCPU"),
	ARG_EQ(ioctl, 1, KVM_GET_REGS, "log where a guest triple-faulted"),
	ARG_EQ(ioctl, 1, KVM_GET_SREGS, "log where a guest triple-faulted"),
	ARG_EQ(ioctl, 1, KVM_IRQ_LINE, "serial and i8042 interrupt lines"),
	ANY(io_uring_enter, "virtio-blk reset waits for in-flight I/O"),
};

static const struct {
	const char *name;
	const struct sc_rule *rules;
	int n;
} sc_lists[SECCOMP_KINDS] = {
	[SECCOMP_VMM] = { "vmm", sc_vmm, sizeof(sc_vmm) / sizeof(sc_vmm[0]) },
	[SECCOMP_API] = { "api", sc_api, sizeof(sc_api) / sizeof(sc_api[0]) },
	[SECCOMP_VCPU] = { "vcpu", sc_vcpu, sizeof(sc_vcpu) / sizeof(sc_vcpu[0]) },
};

static int sc_disabled;
static scmp_filter_ctx sc_custom[SECCOMP_KINDS];   /* from --seccomp-filter */

const char *seccomp_kind_name(enum seccomp_kind kind)
{
	return kind < SECCOMP_KINDS ? sc_lists[kind].name : "?";
}

int seccomp_rule_count(enum seccomp_kind kind)
{
	return kind < SECCOMP_KINDS ? sc_lists[kind].n : 0;
}

/* Async-signal-safe: format "<prefix><n>\n" by hand. */
static void sc_report(const char *prefix, long n)
{
	char buf[96];
	size_t len = strlen(prefix);
	char digits[24];
	int d = 0;

	if (len > sizeof(buf) - 24)
		len = sizeof(buf) - 24;
	memcpy(buf, prefix, len);
	if (n < 0)
		n = 0;
	do {
		digits[d++] = (char)('0' + n % 10);
		n /= 10;
	} while (n && d < (int)sizeof(digits));
	while (d)
		buf[len++] = digits[--d];
	buf[len++] = '\n';
	if (write(STDERR_FILENO, buf, len) < 0)
		return;
}

static void sc_sigsys(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)uctx;
	metric_inc(M_seccomp_num_faults);
	sc_report("ember: seccomp: forbidden system call ", si->si_syscall);
	_exit(EXIT_BAD_SECCOMP);
}

int seccomp_setup(int disabled, const char *json_path, char *err, size_t errlen)
{
	struct sigaction sa;
	int r;

	sc_disabled = disabled;
	if (disabled)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sc_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(err, errlen, "cannot install the SIGSYS handler: %s", strerror(errno));
		return -errno;
	}
	if (json_path) {
		r = seccomp_json_load(json_path, sc_custom, err, errlen);
		if (r)
			return r;
	}
	return 0;
}

static scmp_filter_ctx sc_build(enum seccomp_kind kind)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	const struct sc_rule *r = sc_lists[kind].rules;

	if (!ctx)
		return NULL;
	for (int i = 0; i < sc_lists[kind].n; i++, r++) {
		int rc;

		if (r->arg < 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
		else if (r->op == SCMP_CMP_MASKED_EQ)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					      SCMP_CMP((unsigned)r->arg, SCMP_CMP_MASKED_EQ, r->mask, 0));
		else
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
					      SCMP_CMP((unsigned)r->arg, r->op, r->val));
		if (rc) {
			seccomp_release(ctx);
			return NULL;
		}
	}
	return ctx;
}

int seccomp_install(enum seccomp_kind kind)
{
	scmp_filter_ctx ctx;
	int r;

	if (sc_disabled)
		return 0;
	if (kind >= SECCOMP_KINDS)
		return -EINVAL;
	if (sc_custom[kind]) {
		r = seccomp_load(sc_custom[kind]);
	} else {
		ctx = sc_build(kind);
		if (!ctx)
			return -ENOMEM;
		/* Per thread: no TSYNC, so each thread kind keeps its own list. */
		r = seccomp_load(ctx);
		seccomp_release(ctx);
	}
#ifdef EMBER_SECCOMP_SELFTEST
	/* Test builds only: prove the list is enforced on this thread kind. */
	{
		const char *which = getenv("EMBER_SECCOMP_SELFTEST");

		if (r == 0 && which && strcmp(which, sc_lists[kind].name) == 0)
			(void)getppid();
	}
#endif
	return r;
}
