/*
 * kvmfloor.c: the least any VMM must do on this host to reach a first guest instruction,
 * timed the way ember's boot timer times it (from "InstanceStart" to the first MMIO exit).
 * The same VM shape as ember's: /dev/kvm opened, KVM_CREATE_VM, TSS and identity-map
 * addresses, in-kernel IRQCHIP and PIT2, anonymous guest RAM in one memslot, one vCPU with
 * the supported CPUID, flat 32-bit protected mode (PVH), then KVM_RUN in a new thread until
 * the guest's first instruction (movb $123, 0xC0000000) exits. No loader, no tables, no
 * devices: ember's own work is what it takes above this floor.
 *
 *   kvmfloor RUNS MEM_MIB    prints "run,wall_us,cpu_us,memslot_us,kvm_run_us" per run:
 *   wall and CPU time (this process) to the first instruction's exit, the
 *   KVM_SET_USER_MEMORY_REGION ioctl alone, and the first KVM_RUN alone.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define CHECK(x) do { if ((x) < 0) { perror(#x); exit(1); } } while (0)

struct vcpu { int fd; struct kvm_run *run; int64_t t_run, t_exit; int ok; };

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;

	v->t_run = ns(CLOCK_MONOTONIC);
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			perror("KVM_RUN");
			return NULL;
		}
		if (v->run->exit_reason == KVM_EXIT_MMIO && v->run->mmio.phys_addr == 0xC0000000) {
			v->t_exit = ns(CLOCK_MONOTONIC);
			v->ok = 1;
			return NULL;
		}
		if (v->run->exit_reason != KVM_EXIT_IO && v->run->exit_reason != KVM_EXIT_MMIO) {
			fprintf(stderr, "exit %u\n", v->run->exit_reason);
			return NULL;
		}
	}
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 10;
	size_t mem = (size_t)(argc > 2 ? atoi(argv[2]) : 128) << 20;
	static const uint8_t code[] = { 0xc6, 0x05, 0x00, 0x00, 0x00, 0xc0, 0x7b, /* movb $123,0xc0000000 */
					0xf4, 0xeb, 0xfd };                      /* hlt; jmp . */
	struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid;

	for (int r = 0; r < runs; r++) {
		int64_t t0 = ns(CLOCK_MONOTONIC), c0 = ns(CLOCK_PROCESS_CPUTIME_ID), tm0, tm1;
		int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, msz;
		struct kvm_pit_config pit = { .flags = 0 };
		uint64_t idmap = 0xfffbc000;
		struct kvm_sregs sr;
		struct kvm_regs regs;
		struct vcpu v = { 0 };
		pthread_t th;
		void *ram;

		CHECK(kvm);
		CHECK(vm = ioctl(kvm, KVM_CREATE_VM, 0));
		CHECK(ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000));
		CHECK(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap));
		CHECK(ioctl(vm, KVM_CREATE_IRQCHIP, 0));
		CHECK(ioctl(vm, KVM_CREATE_PIT2, &pit));
		ram = mmap(NULL, mem, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ram == MAP_FAILED) { perror("mmap"); return 1; }
		memcpy((uint8_t *)ram + 0x100000, code, sizeof(code));
		struct kvm_userspace_memory_region reg = {
			.slot = 0, .guest_phys_addr = 0, .memory_size = mem,
			.userspace_addr = (uint64_t)ram,
		};
		tm0 = ns(CLOCK_MONOTONIC);
		CHECK(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg));
		tm1 = ns(CLOCK_MONOTONIC);
		CHECK(v.fd = ioctl(vm, KVM_CREATE_VCPU, 0));
		CHECK(msz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0));
		v.run = mmap(NULL, msz, PROT_READ | PROT_WRITE, MAP_SHARED, v.fd, 0);
		cpuid.c.nent = 256;
		CHECK(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid));
		CHECK(ioctl(v.fd, KVM_SET_CPUID2, &cpuid));
		CHECK(ioctl(v.fd, KVM_GET_SREGS, &sr));
		struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
					  .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
		struct kvm_segment ds = cs;
		ds.selector = 16;
		ds.type = 3;
		sr.cs = cs;
		sr.ds = sr.es = sr.fs = sr.gs = sr.ss = ds;
		sr.cr0 = 0x11;     /* PE | ET */
		sr.cr4 = 0;
		sr.efer = 0;
		CHECK(ioctl(v.fd, KVM_SET_SREGS, &sr));
		memset(&regs, 0, sizeof(regs));
		regs.rip = 0x100000;
		regs.rflags = 2;
		CHECK(ioctl(v.fd, KVM_SET_REGS, &regs));
		pthread_create(&th, NULL, vcpu_thread, &v);
		pthread_join(th, NULL);
		if (!v.ok)
			return 1;
		printf("%d,%.1f,%.1f,%.1f,%.1f\n", r, (v.t_exit - t0) / 1e3,
		       (ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1e3, (tm1 - tm0) / 1e3,
		       (v.t_exit - v.t_run) / 1e3);
		munmap(v.run, msz);
		close(v.fd);
		munmap(ram, mem);
		close(vm);
		close(kvm);
	}
	return 0;
}
