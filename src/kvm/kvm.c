/* kvm.c: VM creation and the ioctls that act on the whole VM. */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_EXPECTED_API 12
#define KVM_CPUID_MAX_ENTRIES 256

static const struct {
	int cap;
	const char *name;
} kvm_required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

/* kvm_fail: "<what>: <strerror(errno)>" in @e; returns -errno. */
static int kvm_fail(struct err *e, const char *what)
{
	int n = errno;

	return err_set(e, -n, "%s: %s", what, strerror(n));
}

static int kvm_get_cpuid(struct kvm_vm *vm, struct err *e)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    KVM_CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	vm->cpuid = calloc(1, sz);
	if (!vm->cpuid)
		return err_set(e, -ENOMEM, "out of memory");
	vm->cpuid->nent = KVM_CPUID_MAX_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0)
		return kvm_fail(e, "KVM_GET_SUPPORTED_CPUID");
	return 0;
}

int kvm_vm_create(struct kvm_vm *vm, const struct kvm_vm_layout *lay, struct err *e)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = lay->identity_map_gpa;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return kvm_fail(e, "open /dev/kvm");
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_EXPECTED_API)
		return err_set(e, -ENOTSUP, "KVM API version %d, ember needs %d", r,
			       KVM_EXPECTED_API);
	for (size_t i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0)
			return err_set(e, -ENOTSUP, "KVM lacks %s", kvm_required_caps[i].name);
	}
	r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	vm->max_vcpus = r > 0 ? (unsigned)r : 1;
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		return kvm_fail(e, "KVM_GET_VCPU_MMAP_SIZE");
	if ((r = kvm_get_cpuid(vm, e)))
		return r;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return kvm_fail(e, "KVM_CREATE_VM");
	/* Intel VMX needs three pages for the real-mode TSS and one for the identity map. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)lay->tss_gpa) < 0)
		return kvm_fail(e, "KVM_SET_TSS_ADDR");
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return kvm_fail(e, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return kvm_fail(e, "KVM_CREATE_IRQCHIP");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return kvm_fail(e, "KVM_CREATE_PIT2");
	return 0;
}

/* Delete slots [0, n): KVM deletes a slot given a zero size. */
static void kvm_vm_drop_slots(struct kvm_vm *vm, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct kvm_userspace_memory_region slot = { .slot = i };

		(void)ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
	}
}

int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_mem *mem, bool log_dirty,
		      struct err *e)
{
	/*
	 * KVM refuses to resize or move an existing slot (EINVAL): a VM that already has
	 * memory loses it first, and a registration that fails halfway is undone, so
	 * the next attempt, with another size, starts from no slots at all.
	 */
	kvm_vm_drop_slots(vm, vm->nslots);
	vm->nslots = 0;
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = mem->region[i].gpa,
			.memory_size = mem->region[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)mem->region[i].host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
			int n = errno;

			kvm_vm_drop_slots(vm, i);
			return err_set(e, -n, "KVM refused guest memory [%#llx, +%llu MiB): %s",
				       (unsigned long long)slot.guest_phys_addr,
				       (unsigned long long)(slot.memory_size >> 20), strerror(n));
		}
		vm->nslots = i + 1;
	}
	return 0;
}

int kvm_vm_dirty_log(const struct kvm_vm *vm, unsigned slot, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	if (slot >= vm->nslots)
		return -ENOENT;
	return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0 ? -errno : 0;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	/* > 0: a zeroed object holds no descriptor (ember never closes stdin). */
	if (vm->vm_fd > 0)
		close(vm->vm_fd);
	if (vm->kvm_fd > 0)
		close(vm->kvm_fd);
	free(vm->cpuid);
	memset(vm, 0, sizeof(*vm));
	vm->vm_fd = -1;
	vm->kvm_fd = -1;
}

int kvm_irq_line(const struct kvm_vm *vm, unsigned irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int kvm_irqfd(const struct kvm_vm *vm, int fd, unsigned irq)
{
	struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = irq };

	return ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int kvm_ioeventfd(const struct kvm_vm *vm, int fd, uint64_t addr, uint32_t value)
{
	struct kvm_ioeventfd req = {
		.datamatch = value,
		.addr = addr,
		.len = 4,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0 ? -errno : 0;
}
