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
#include <sys/syscall.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "metrics.h"
#include "seccomp_json.h"

#define EXIT_BAD_SECCOMP 148

/*
 * One rule: a syscall, optionally only with argument @arg compared to @val
 * and, if @arg2 >= 0, also argument @arg2 equal to @val2. Values known only
 * at run time are written as SC_VAL_* and resolved when the filter is built.
 */
struct sc_rule {
	int nr;
	int arg;            /* -1: any arguments */
	enum scmp_compare op;
	uint64_t val;
	uint64_t mask;      /* for SCMP_CMP_MASKED_EQ */
	int arg2;           /* -1: no second comparison */
	uint64_t val2;
	const char *why;
};

#define SC_VAL_PID  (UINT64_MAX - 1)   /* getpid(): ember's own thread group */
#define SC_VAL_KICK (UINT64_MAX - 2)   /* the vCPU kick signal, SIGRTMIN */

#define ANY(name, why)              { SCMP_SYS(name), -1, 0, 0, 0, -1, 0, why }
#define ARG_EQ(name, a, v, why)     { SCMP_SYS(name), a, SCMP_CMP_EQ, (uint64_t)(v), 0, -1, 0, why }
#define ARG_NOBITS(name, a, m, why) { SCMP_SYS(name), a, SCMP_CMP_MASKED_EQ, 0, (uint64_t)(m), -1, 0, why }
#define ARGS_EQ(name, a, v, b, w, why) \
	{ SCMP_SYS(name), a, SCMP_CMP_EQ, (uint64_t)(v), 0, b, (uint64_t)(w), why }

/* What the VMM thread may not ask of openat() after boot: it only opens drives to read or write. */
#define SC_OPEN_FORBIDDEN (O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_TMPFILE | O_PATH)

/* The one openat() of PUT /snapshot/create, exactly (src/vmm/snapshot.c snap_open_out()). */
#define SC_OPEN_SNAPSHOT (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/*
 * Needed by every thread. malloc() may grow the one heap (brk), map a large block (mmap) or
 * unmap one (munmap) in any thread, depending on the heap's history; clock_gettime is a
 * system call where the clock source has no vDSO path.
 */
#define COMMON_RULES                                                                   \
	ANY(futex, "pthread mutexes and condition variables"),                         \
	ANY(write, "eventfds, console and log lines, the SIGSYS report"),              \
	ANY(rt_sigprocmask, "glibc blocks signals around pthread_kill() and thread exit"), \
	ANY(exit_group, "process exit, and the SIGSYS reporter's exit 148"),           \
	ANY(clock_gettime, "log timestamps, boot timer (CPU clocks are not in the vDSO)"), \
	ANY(munmap, "glibc free() of large blocks"),                                   \
	ANY(brk, "glibc malloc"),                                                      \
	ARG_NOBITS(mmap, 2, PROT_EXEC, "glibc malloc of large blocks; never executable")

/* The event-loop thread, after the VM is built: device I/O and API requests. */
static const struct sc_rule sc_vmm[] = {
	COMMON_RULES,
	ANY(read, "eventfds, timerfd, signalfd, console input"),
	ANY(close, "connections and files as they end"),
	ANY(getpid, "glibc pthread_kill() (the vCPU kick)"),
	ANY(epoll_wait, "the event loop"),
	ANY(epoll_ctl, "devices start and stop watching fds"),
	ANY(readv, "virtio-net: frames from the tap"),
	ANY(writev, "virtio-net: frames to the tap"),
	ANY(preadv, "virtio-blk reads"),
	ANY(pwritev, "virtio-blk writes"),
	ANY(fdatasync, "virtio-blk flush"),
	ANY(io_uring_enter, "virtio-blk io_engine Async"),
	ANY(io_uring_register, "PATCH /drives: the Async ring's file (its restrictions allow only that)"),
	ARG_NOBITS(openat, 2, SC_OPEN_FORBIDDEN, "PATCH /drives opens the new backing file, read-only or read-write"),
	ANY(newfstatat, "PATCH /drives checks the new backing file (glibc fstat())"),
	ANY(lseek, "PATCH /drives: size of a block-device backing file"),
	ARGS_EQ(tgkill, 0, SC_VAL_PID, 2, SC_VAL_KICK, "pause: kick ember's own vCPU threads out of KVM_RUN"),
	ARG_EQ(ioctl, 1, KVM_IRQ_LINE, "i8042 Ctrl-Alt-Del raises IRQ 1"),
	ARG_EQ(ioctl, 1, TCSETS, "restore the terminal's settings at exit"),
	ARG_EQ(ioctl, 1, TCGETS, "glibc tcsetattr() reads the settings back"),
	ARG_EQ(ioctl, 1, TUNSETOFFLOAD, "virtio-net: offloads the driver accepted"),
	ARG_EQ(socket, 0, AF_UNIX, "vsock: connect to <uds_path>_<port>"),
	ANY(connect, "vsock: guest-initiated connections"),
	ANY(accept4, "vsock: host-initiated connections"),
	ANY(recvfrom, "vsock: the CONNECT line of host-initiated connections"),
	ANY(sendmsg, "vsock: the OK line, host socket data"),
	ANY(shutdown, "vsock: half-close"),
	ARG_EQ(fcntl, 1, F_GETFL, "PATCH /drives: the new backing file back to blocking"),
	ARG_EQ(fcntl, 1, F_SETFL, "PATCH /drives: the new backing file back to blocking"),
	ANY(timerfd_settime, "vsock connection timeouts, block rate limiter"),
	ANY(clock_nanosleep, "exit: glibc nanosleep() while a slow console reader takes the rest"),
	ANY(restart_syscall, "exit: that nanosleep() resumes after a signal interrupted it"),
	/*
	 * PUT /snapshot/create (src/vmm/snapshot.c), on a paused VM: its two files, the VM's
	 * KVM state, and once what KVM can save of a vCPU. The "snapshot save" reasons send
	 * these through tests/integration/seccomp_rules.sh's snap workload.
	 */
	ARG_EQ(openat, 2, SC_OPEN_SNAPSHOT, "snapshot save: create or truncate the state and memory files"),
	ANY(ftruncate, "snapshot save: the memory file to the guest's RAM size"),
	ANY(pwrite64, "snapshot save: the state file and guest RAM"),
	ANY(unlink, "snapshot save: a failed snapshot leaves no files behind"),
	ARG_EQ(ioctl, 1, KVM_GET_PIT2, "snapshot save: PIT"),
	ARG_EQ(ioctl, 1, KVM_GET_CLOCK, "snapshot save: kvmclock"),
	ARG_EQ(ioctl, 1, KVM_GET_IRQCHIP, "snapshot save: PIC and IOAPIC"),
	ARG_EQ(ioctl, 1, KVM_CHECK_EXTENSION, "snapshot save: which vCPU state KVM offers"),
	ARG_EQ(ioctl, 1, KVM_GET_MSR_INDEX_LIST, "snapshot save: which MSRs KVM saves"),
	ARG_EQ(ioctl, 1, KVM_GET_MSRS, "snapshot save: which of them a vCPU can read (vCPUs paused)"),
	ARG_EQ(ioctl, 1, KVM_GET_DIRTY_LOG, "snapshot save: the pages the guest wrote since the last snapshot (track_dirty_pages)"),
};

/* The API thread: sockets of API clients, nothing else. */
static const struct sc_rule sc_api[] = {
	COMMON_RULES,
	ANY(close, "connections as they end"),
	ANY(exit, "thread exit"),
	ANY(madvise, "glibc frees the stack at thread exit"),
	ANY(epoll_wait, "the API event loop"),
	ANY(epoll_ctl, "watch client connections"),
	ANY(accept4, "new API clients"),
	ANY(recvfrom, "requests"),
	ANY(sendto, "responses"),
};

/* A vCPU thread: KVM_RUN and what device register accesses need. */
static const struct sc_rule sc_vcpu[] = {
	COMMON_RULES,
	ANY(exit, "thread exit"),
	ANY(madvise, "glibc frees the stack at thread exit"),
	ANY(rt_sigreturn, "return from the vCPU kick handler"),
	ARG_EQ(ioctl, 1, KVM_RUN, "run the vCPU"),
	ARG_EQ(ioctl, 1, KVM_GET_REGS, "log where a guest triple-faulted; snapshot save of the vCPU"),
	ARG_EQ(ioctl, 1, KVM_GET_SREGS, "log where a guest triple-faulted; snapshot save of the vCPU"),
	ARG_EQ(ioctl, 1, KVM_IRQ_LINE, "serial and i8042 interrupt lines"),
	/*
	 * Snapshot save/restore: a paused vCPU's thread reads and writes its own KVM state
	 * (kvm/vcpu.c vcpu_save_all() / vcpu_restore_all(), arch/x86/vcpu_state.c), in the
	 * order these rules follow. The "snapshot" reasons send these through
	 * tests/integration/seccomp_rules.sh's snap workload.
	 */
	ARG_EQ(ioctl, 1, KVM_GET_MP_STATE, "snapshot save: MP state"),
	ARG_EQ(ioctl, 1, KVM_GET_XSAVE, "snapshot save: XSAVE area"),
	ARG_EQ(ioctl, 1, KVM_GET_XSAVE2, "snapshot save: XSAVE area, KVM_CAP_XSAVE2 size"),
	ARG_EQ(ioctl, 1, KVM_GET_FPU, "snapshot save: FPU state where KVM lacks XSAVE"),
	ARG_EQ(ioctl, 1, KVM_GET_XCRS, "snapshot save: extended control registers"),
	ARG_EQ(ioctl, 1, KVM_GET_DEBUGREGS, "snapshot save: debug registers"),
	ARG_EQ(ioctl, 1, KVM_GET_LAPIC, "snapshot save: local APIC"),
	ARG_EQ(ioctl, 1, KVM_GET_TSC_KHZ, "snapshot save: TSC frequency"),
	ARG_EQ(ioctl, 1, KVM_GET_MSRS, "snapshot save: MSRs"),
	ARG_EQ(ioctl, 1, KVM_GET_VCPU_EVENTS, "snapshot save: pending exceptions, interrupts, NMIs"),
	ARG_EQ(ioctl, 1, KVM_SET_TSC_KHZ, "snapshot restore: TSC frequency of the saving host"),
	ARG_EQ(ioctl, 1, KVM_SET_MP_STATE, "snapshot restore: MP state"),
	ARG_EQ(ioctl, 1, KVM_SET_REGS, "snapshot restore: registers"),
	ARG_EQ(ioctl, 1, KVM_SET_SREGS, "snapshot restore: segment and control registers"),
	ARG_EQ(ioctl, 1, KVM_SET_XSAVE, "snapshot restore: XSAVE area"),
	ARG_EQ(ioctl, 1, KVM_SET_FPU, "snapshot restore: FPU state where KVM lacks XSAVE"),
	ARG_EQ(ioctl, 1, KVM_SET_XCRS, "snapshot restore: extended control registers"),
	ARG_EQ(ioctl, 1, KVM_SET_DEBUGREGS, "snapshot restore: debug registers"),
	ARG_EQ(ioctl, 1, KVM_SET_LAPIC, "snapshot restore: local APIC"),
	ARG_EQ(ioctl, 1, KVM_SET_MSRS, "snapshot restore: MSRs"),
	ARG_EQ(ioctl, 1, KVM_SET_VCPU_EVENTS, "snapshot restore: pending exceptions, interrupts, NMIs"),
	ARG_EQ(ioctl, 1, KVM_KVMCLOCK_CTRL, "snapshot restore: tell a kvmclock guest it was stopped"),
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

#ifdef EMBER_SECCOMP_SELFTEST
/*
 * Test builds only: EMBER_SECCOMP_DROP=KIND:INDEX leaves rule INDEX of KIND's list
 * out, so a test can show that some work needs it; EMBER_SECCOMP_DROP=list prints
 * every rule as "KIND INDEX NR NAME why" and exits.
 */
static int sc_dropped(enum seccomp_kind kind, int index)
{
	const char *d = getenv("EMBER_SECCOMP_DROP"), *name = sc_lists[kind].name;
	size_t len = strlen(name);
	char *end;
	long i;

	if (!d || strncmp(d, name, len) != 0 || d[len] != ':')
		return 0;
	i = strtol(d + len + 1, &end, 10);
	return !*end && end != d + len + 1 && i == index;
}

static void sc_list(void)
{
	const char *d = getenv("EMBER_SECCOMP_DROP");

	if (!d || strcmp(d, "list") != 0)
		return;
	for (int k = 0; k < SECCOMP_KINDS; k++)
		for (int i = 0; i < sc_lists[k].n; i++) {
			const struct sc_rule *r = &sc_lists[k].rules[i];
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r->nr);

			printf("%s %d %d %s %s\n", sc_lists[k].name, i, r->nr, name ? name : "?", r->why);
			free(name);
		}
	exit(0);
}
#else
static int sc_dropped(enum seccomp_kind kind, int index)
{
	(void)kind;
	(void)index;
	return 0;
}

static void sc_list(void)
{
}
#endif

int seccomp_setup(int disabled, const char *json_path, struct err *e)
{
	struct sigaction sa;
	int r;

	sc_list();
	sc_disabled = disabled;
	if (disabled)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sc_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		int n = errno;

		return err_set(e, -n, "cannot install the SIGSYS handler: %s", strerror(n));
	}
	if (json_path) {
		r = seccomp_json_load(json_path, sc_custom, e);
		if (r)
			return r;
	}
	return 0;
}

static uint64_t sc_value(uint64_t v)
{
	if (v == SC_VAL_PID)
		return (uint64_t)getpid();
	if (v == SC_VAL_KICK)
		return (uint64_t)SIGRTMIN;
	return v;
}

static scmp_filter_ctx sc_build(enum seccomp_kind kind)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	const struct sc_rule *r = sc_lists[kind].rules;

	if (!ctx)
		return NULL;
	for (int i = 0; i < sc_lists[kind].n; i++, r++) {
		struct scmp_arg_cmp cmp[2];
		unsigned n = 0;
		int rc;

		if (sc_dropped(kind, i))
			continue;
		if (r->arg >= 0)
			cmp[n++] = r->op == SCMP_CMP_MASKED_EQ ?
				   SCMP_CMP((unsigned)r->arg, SCMP_CMP_MASKED_EQ, r->mask, 0) :
				   SCMP_CMP((unsigned)r->arg, r->op, sc_value(r->val));
		if (r->arg2 >= 0)
			cmp[n++] = SCMP_CMP((unsigned)r->arg2, SCMP_CMP_EQ, sc_value(r->val2));
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, n, cmp);
		if (rc) {
			seccomp_release(ctx);
			return NULL;
		}
	}
	return ctx;
}

#ifdef EMBER_SECCOMP_SELFTEST
/*
 * EMBER_SECCOMP_SELFTEST=KIND makes a call no list allows (getppid) right after
 * KIND's list is installed; KIND:PROBE makes one narrowed call instead. A probe
 * the list allows reports "done" (or why it failed) and ember goes on; one it
 * refuses ends ember through the SIGSYS reporter. Raw syscalls: exactly the
 * call and arguments named, whatever glibc would do.
 */
static void sc_selftest(enum seccomp_kind kind, const char *which, pid_t tid)
{
	const char *name = sc_lists[kind].name, *probe;
	size_t len = strlen(name);
	const char *other = getenv("EMBER_SECCOMP_SELFTEST_PID");
	struct timespec ts = { 0, 1000 };
	long rc = -2;
	int v = 0;
	socklen_t vl = sizeof(v);

	if (!which || strncmp(which, name, len) != 0 || (which[len] && which[len] != ':'))
		return;
	if (!which[len]) {
		(void)getppid();
		return;
	}
	probe = which + len + 1;
	if (!strcmp(probe, "openat-create"))
		rc = syscall(SYS_openat, AT_FDCWD, "/tmp/ember-sctest-create", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	else if (!strcmp(probe, "openat-trunc"))
		rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_TRUNC | O_CLOEXEC);
	else if (!strcmp(probe, "openat-append"))
		rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_APPEND | O_CLOEXEC);
	else if (!strcmp(probe, "openat-wronly"))
		rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
	else if (!strcmp(probe, "openat-read"))
		rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	else if (!strcmp(probe, "openat-readwrite"))
		rc = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	else if (!strcmp(probe, "tgkill-other-process") && other)
		rc = syscall(SYS_tgkill, atoi(other), atoi(other), SIGRTMIN);
	else if (!strcmp(probe, "tgkill-other-signal"))
		rc = syscall(SYS_tgkill, getpid(), tid, SIGURG);
	else if (!strcmp(probe, "tgkill-kick"))
		rc = syscall(SYS_tgkill, getpid(), tid, SIGRTMIN);
	else if (!strcmp(probe, "fcntl-getfd"))
		rc = syscall(SYS_fcntl, STDIN_FILENO, F_GETFD);
	else if (!strcmp(probe, "fcntl-flags"))
		rc = syscall(SYS_fcntl, STDIN_FILENO, F_SETFL, syscall(SYS_fcntl, STDIN_FILENO, F_GETFL));
	else if (!strcmp(probe, "getsockopt"))
		rc = syscall(SYS_getsockopt, STDIN_FILENO, SOL_SOCKET, SO_TYPE, &v, &vl);
	else if (!strcmp(probe, "nanosleep"))
		rc = syscall(SYS_nanosleep, &ts, NULL);
	else if (!strcmp(probe, "clock-nanosleep"))
		rc = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
	else if (!strcmp(probe, "uring-setup")) {
		/* A ring of one's own, to submit IORING_OP_OPENAT on (the blk ring refuses it). */
		uint32_t params[30] = { 0 };   /* struct io_uring_params is 120 bytes */

		rc = syscall(SYS_io_uring_setup, 4, params);
	}
	if (rc >= 0 && !strncmp(probe, "openat-", 7))
		close((int)rc);
	fprintf(stderr, "ember: seccomp selftest: %s %s\n", which,
		rc == -2 ? "unknown probe" : rc < 0 ? strerror(errno) : "done");
}
#endif

int seccomp_install(enum seccomp_kind kind)
{
	scmp_filter_ctx ctx;
	int r;

#ifdef EMBER_SECCOMP_SELFTEST
	pid_t tid = gettid();   /* before the list: no list grants gettid */
#endif

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
	if (r == 0)
		sc_selftest(kind, getenv("EMBER_SECCOMP_SELFTEST"), tid);
#endif
	return r;
}
