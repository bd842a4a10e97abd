/* build.c: the linear recipe that turns the configured resources into a running microVM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "arch/x86/loader.h"
#include "arch/x86/mptable.h"
#include "arch/x86/regs.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "seccomp_filters.h"
#include "vmm/internal.h"

/*
 * CPUs and interrupt controllers, described twice: the MP table for kernels
 * with an MP parser, ACPI for those without one (Debian's cloud kernel).
 * The DSDT adds the legacy devices and the virtio-mmio slots claimed so far.
 * Both live in the reserved area below the VM generation ID (LAYOUT_VMGENID_START,
 * the area's last 16 bytes); the RSDP sits at 0xe0000.
 */
static int vmm_write_cpu_tables(struct vmm *v, struct boot_zero_page_args *za)
{
	/* The VM generation ID takes the area's last 16 bytes. */
	const uint64_t area = LAYOUT_VMGENID_START - LAYOUT_MPTABLE_START;
	uint8_t *p = gmem_ptr(&v->mem, LAYOUT_MPTABLE_START, area);
	uint8_t *rsdp = gmem_ptr(&v->mem, LAYOUT_RSDP_START, LAYOUT_RSDP_SIZE);
	int n, r;

	if (!p || !rsdp)
		return -ENOMEM;
	n = mptable_build(p, area, (uint32_t)LAYOUT_MPTABLE_START, v->nvcpus);
	if (n < 0)
		return n;
	n = (n + 15) & ~15;
	r = acpi_build(p + n, area - (uint64_t)n, LAYOUT_MPTABLE_START + (uint64_t)n, rsdp,
		       v->nvcpus, v->slots, v->next_slot);
	if (r < 0)
		return r;
	za->rsdp_gpa = LAYOUT_RSDP_START;
	return 0;
}

/* The command line: boot_args, then what the VMM adds (compat guide). */
static int vmm_build_cmdline(struct vmm *v, struct err *e)
{
	const char *args = v->cfg.boot_source.boot_args ? v->cfg.boot_source.boot_args
							: CFG_DEFAULT_BOOT_ARGS;
	char extra[sizeof(v->dev_args) + 16];
	int r;

	snprintf(extra, sizeof(extra), "pci=off%s", v->dev_args);
	r = boot_cmdline_build(v->cmdline, sizeof(v->cmdline), args, extra);

	if (r < 0)
		return err_set(e, -E2BIG, "The kernel command line is longer than %llu bytes",
			       (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
	if (gmem_write(&v->mem, LAYOUT_CMDLINE_START, v->cmdline, (size_t)r))
		return err_set(e, -ENOMEM, "Guest memory is too small for the command line");
	return r;
}

static int vmm_load(struct vmm *v, struct kernel_info *ki, uint64_t gdt[4], struct err *e)
{
	struct boot_zero_page_args za;
	struct e820_entry e820[8];
	struct img_src src;
	uint64_t initrd_gpa = 0, initrd_size = 0;
	uint8_t *p;
	int r, cmdlen;

	if ((r = img_from_fd(&src, v->kernel_fd)) ||
	    (r = loader_load_kernel(&src, &v->mem, ki, e)))
		return r;
	if (v->initrd_fd >= 0 &&
	    ((r = img_from_fd(&src, v->initrd_fd)) ||
	     (r = loader_load_initrd(&src, &v->mem, ki, &initrd_gpa, &initrd_size, e))))
		return r;
	if ((cmdlen = vmm_build_cmdline(v, e)) < 0)
		return cmdlen;

	memset(&za, 0, sizeof(za));
	za.cmdline_gpa = LAYOUT_CMDLINE_START;
	za.cmdline_size = (uint32_t)cmdlen;
	za.initrd_gpa = initrd_gpa;
	za.initrd_size = initrd_size;
	za.e820 = e820;
	za.e820_entries = boot_e820_build(v->mem.size, e820);
	if (ki->is_bzimage) {
		za.setup_header = ki->setup_header;
		za.setup_header_len = ki->setup_header_len;
	}

	if ((r = vmm_write_cpu_tables(v, &za)))
		return err_set(e, r, "Guest memory is too small for the MP and ACPI tables");
	if ((r = vmm_vmgenid_renew(v, 0, e)))
		return r;
	/*
	 * What ember writes before the first KVM_RUN is in no dirty log: marked here
	 * (the boot structures below 1 MiB, the kernel, the initrd), a Diff snapshot
	 * taken before any Full one still holds the whole guest.
	 */
	gmem_mark_dirty(&v->mem, 0, LAYOUT_HIMEM_START);
	gmem_mark_dirty(&v->mem, ki->load_start, ki->load_end - ki->load_start);
	gmem_mark_dirty(&v->mem, initrd_gpa, initrd_size);

	if (ki->kind == BOOT_ENTRY_PVH) {
		if (boot_pvh_write(&v->mem, &za) || boot_gdt_write(&v->mem, 0, gdt))
			return err_set(e, -ENOMEM, "Guest memory is too small for the PVH boot structures");
		return 0;
	}
	p = gmem_ptr(&v->mem, LAYOUT_ZERO_PAGE_START, BP_SIZE);
	if (!p || boot_zero_page_build(p, &za) || boot_pagetables_write(&v->mem) ||
	    boot_gdt_write(&v->mem, 1, gdt))
		return err_set(e, -ENOMEM, "Guest memory is too small for the boot structures");
	return 0;
}

static int vmm_add_legacy_devices(struct vmm *v, struct err *e)
{
	int r;

	/* The table is empty here: these rows always fit. */
	(void)vmm_dev_add(v, &serial_dev_ops, &v->serial, NULL, LAYOUT_COM1_PORT, 8,
			  LAYOUT_COM1_IRQ, 0);
	(void)vmm_dev_add(v, &i8042_dev_ops, &v->i8042, NULL, LAYOUT_I8042_DATA_PORT, 1,
			  LAYOUT_I8042_IRQ, 0);
	(void)vmm_dev_add(v, &acpi_pm_dev_ops, &v->acpi_pm, NULL, LAYOUT_ACPI_SLEEP_PORT, 1, -1, 0);
	if ((r = serial_init(&v->serial, vmm_console_out(v), vmm_serial_irq, v)) ||
	    (r = i8042_init(&v->i8042, vmm_kbd_irq, vmm_kbd_reset, v)))
		return err_set(e, r, "Cannot create the legacy devices: %s", strerror(-r));
	acpi_pm_init(&v->acpi_pm, vmm_acpi_poweroff, v);
	serial_set_limit(&v->serial, &v->cfg.serial.rate_limiter);
	v->serial.rx_space = vmm_serial_rx_space;
	v->serial.rx_opaque = v;
	if ((r = bus_add(&v->pio, LAYOUT_COM1_PORT, 8, &serial_bus_ops, &v->serial)) ||
	    (r = bus_add(&v->pio, LAYOUT_I8042_DATA_PORT, 1, &i8042_data_ops, &v->i8042)) ||
	    (r = bus_add(&v->pio, LAYOUT_I8042_CMD_PORT, 1, &i8042_cmd_ops, &v->i8042)) ||
	    (r = bus_add(&v->pio, LAYOUT_ACPI_SLEEP_PORT, 1, &acpi_pm_ops, &v->acpi_pm)))
		return err_set(e, r, "Cannot register the legacy devices");
	if (v->opts.boot_timer &&
	    (r = bus_add(&v->mmio, LAYOUT_BOOT_TIMER_START, LAYOUT_BOOT_TIMER_SIZE,
			 &boottimer_ops, &v->boottimer)))
		return err_set(e, r, "Cannot register the boot timer");
	if (v->opts.boot_timer)
		(void)vmm_dev_add(v, &boottimer_dev_ops, &v->boottimer, NULL, LAYOUT_BOOT_TIMER_START,
				  LAYOUT_BOOT_TIMER_SIZE, -1, 0);
	if ((r = evloop_add(v->loop, v->stop_efd, EPOLLIN, vmm_on_stop, v)) ||
	    (r = evloop_add(v->loop, v->rx_efd, EPOLLIN, vmm_on_rx_space, v)))
		return err_set(e, r, "Cannot watch the VMM's event fds");
	/* A regular file (which never makes a writer wait) cannot be polled: nothing to watch. */
	if (vmm_console_out(v) >= 0 &&
	    evloop_add(v->loop, vmm_console_out(v), EPOLLOUT | EPOLLET, vmm_on_stdout, v))
		LOG_DEBUG("console output is not pollable; it is written as it comes");
	if (v->opts.console_fd_in >= 0) {
		/* A regular file or /dev/null cannot be polled: then there is no console input. */
		if (evloop_add(v->loop, v->opts.console_fd_in, EPOLLIN, vmm_on_stdin, v) == 0)
			v->stdin_watched = 1;
		else
			LOG_DEBUG("console input is not pollable; the guest gets no input");
	}
	return 0;
}

/* Each vCPU thread locks itself down before its first KVM_RUN. */
static int vmm_vcpu_thread_init(void *opaque, unsigned index)
{
	(void)opaque;
	if (seccomp_install(SECCOMP_VCPU)) {
		LOG_ERROR("vCPU %u: cannot install the seccomp filter", index);
		return -1;
	}
	return 0;
}

static int vmm_create_vcpus(struct vmm *v, const struct kernel_info *ki, const uint64_t gdt[4],
			    struct err *e)
{
	int r;

	if ((r = vcpu_ctx_init(&v->vctx)))
		return err_set(e, r, "Cannot create vCPU state: %s", strerror(-r));
	v->vctx_ready = 1;
	v->vctx.pio = &v->pio;
	v->vctx.mmio = &v->mmio;
	v->vctx.request_stop = vmm_request_stop;
	v->vctx.thread_init = vmm_vcpu_thread_init;
	v->vctx.describe = x86_vcpu_describe;
	v->vctx.opaque = v;
	for (unsigned i = 0; i < v->nvcpus; i++) {
		if ((r = vcpu_create(&v->vcpus[i], &v->vm, i, &v->vctx, e)) ||
		    (r = x86_vcpu_init(v->vcpus[i].fd, &v->vm, i, v->nvcpus, e)))
			return r;
	}
	/* A restore sets every register from its snapshot. */
	if (!ki)
		return 0;
	/* Only the boot vCPU starts at the entry; the others wait for INIT/SIPI. */
	return x86_vcpu_boot_regs(v->vcpus[0].fd, ki->kind, ki->entry, gdt, e);
}

/*
 * Guest RAM into KVM's slots: with machine-config's track_dirty_pages, with
 * KVM's dirty log (what the guest writes) and ember's own bitmap (what ember
 * writes: src/devices/virtio/virtq.c marks it), which Diff snapshots read.
 */
static int vmm_register_memory(struct vmm *v, struct err *e)
{
	bool track = v->cfg.machine.track_dirty_pages;
	int r;

	if ((r = gmem_track_dirty(&v->mem, track)))
		return err_set(e, r, "Cannot allocate the dirty page bitmap");
	return kvm_vm_set_memory(&v->vm, &v->mem, track, e);
}

/* Create the VM and (@with_memory) guest RAM unless vmm_prewarm() already did, for this size. */
static int vmm_prepare(struct vmm *v, int with_memory, struct err *e)
{
	uint64_t want = v->cfg.machine.mem_size_mib << 20;
	int r;

	if (!v->vm_ready) {
		if ((r = kvm_vm_create(&v->vm, &LAYOUT_KVM_PAGES, e)))
			return r;
		v->vm_ready = 1;
	}
	if (!with_memory || (v->mem_ready == want && !v->mem.dirty == !v->cfg.machine.track_dirty_pages))
		return 0;
	if (v->mem_ready == want) {
		/* Prewarmed with the other dirty tracking: the same RAM, registered again. */
		if ((r = vmm_register_memory(v, e))) {
			gmem_destroy(&v->mem);
			v->mem_ready = 0;
		}
		return r;
	}
	if (v->mem_ready) {
		/* The size changed after a prewarm: slots cannot shrink in place, start over. */
		kvm_vm_destroy(&v->vm);
		gmem_destroy(&v->mem);
		v->mem_ready = 0;
		if ((r = kvm_vm_create(&v->vm, &LAYOUT_KVM_PAGES, e)))
			return r;
	}
	r = gmem_init(&v->mem, want, LAYOUT_RAM_HOLE);
	if (r)
		return err_set(e, r, "Cannot allocate %llu MiB of guest memory: %s",
			       (unsigned long long)v->cfg.machine.mem_size_mib, strerror(-r));
	if ((r = vmm_register_memory(v, e))) {
		/* No slot is left registered: drop the RAM too, the next size starts clean. */
		gmem_destroy(&v->mem);
		return r;
	}
	v->mem_ready = want;
	return 0;
}

void vmm_prewarm(struct vmm *v, int with_memory)
{
	struct err e;

	if (v->state != VMM_NOT_STARTED)
		return;
	if (vmm_prepare(v, with_memory, &e))
		LOG_DEBUG("prewarm: %s (retried at InstanceStart)", e.msg);
}

/*
 * A failed InstanceStart leaves nothing behind: devices, their fds and bus
 * ranges, vCPUs and their threads go, and so do the KVM VM and guest RAM (KVM
 * cannot create a vCPU id twice, and RAM holds a partial image). The VM stays
 * configurable, and a later InstanceStart builds it afresh.
 */
void vmm_undo_start(struct vmm *v)
{
	int started = 0;

	for (unsigned i = 0; i < v->nvcpus; i++)
		started |= v->vcpus[i].started;
	if (started)
		vcpu_stop_all(v->vcpus, v->nvcpus);
	for (unsigned i = 0; i < v->nvcpus; i++)
		vcpu_destroy(&v->vcpus[i]);
	if (v->vctx_ready)
		vcpu_ctx_destroy(&v->vctx);
	v->vctx_ready = 0;
	memset(v->vcpus, 0, sizeof(v->vcpus));
	v->nvcpus = 0;
	vmm_destroy_devices(v);
	(void)evloop_del(v->loop, v->stop_efd);
	(void)evloop_del(v->loop, v->rx_efd);
	if (vmm_console_out(v) >= 0)
		(void)evloop_del(v->loop, vmm_console_out(v));
	if (v->stdin_watched)
		(void)evloop_del(v->loop, v->opts.console_fd_in);
	v->stdin_watched = 0;
	memset(&v->pio, 0, sizeof(v->pio));
	memset(&v->mmio, 0, sizeof(v->mmio));
	v->next_slot = 0;
	memset(v->slots, 0, sizeof(v->slots));
	v->dev_args[0] = 0;
	v->cmdline[0] = 0;
	if (v->vm_ready)
		kvm_vm_destroy(&v->vm);
	v->vm_ready = 0;
	gmem_destroy(&v->mem);
	v->mem_ready = 0;
}

int vmm_start(struct vmm *v, struct err *e)
{
	struct kernel_info ki;
	uint64_t gdt[4];
	int r;

	if (v->state != VMM_NOT_STARTED)
		return err_set(e, -EINVAL, "The microVM was already started");
	if (!v->cfg.has_boot_source || v->kernel_fd < 0)
		return err_set(e, -EINVAL, "Cannot start microvm without kernel configuration.");
	v->start_wall_us = clock_now_us();
	v->start_cpu_us = clock_cpu_us();
	v->boottimer.start_wall_us = v->start_wall_us;
	v->boottimer.start_cpu_us = v->start_cpu_us;
	v->nvcpus = v->cfg.machine.vcpu_count;

	/* Devices first: their command-line arguments go into what vmm_load() writes. */
	if ((r = vmm_prepare(v, 1, e)) ||
	    (v->nvcpus > v->vm.max_vcpus &&
	     (r = err_set(e, -EINVAL, "KVM supports at most %u vCPUs", v->vm.max_vcpus))) ||
	    (r = vmm_add_legacy_devices(v, e)) || (r = vmm_add_block_devices(v, e)) ||
	    (r = vmm_add_net_devices(v, e)) || (r = vmm_add_vsock_device(v, e)) ||
	    (r = vmm_load(v, &ki, gdt, e)) || (r = vmm_create_vcpus(v, &ki, gdt, e)) ||
	    ((r = vcpu_signals_init()) &&
	     (r = err_set(e, r, "Cannot install the vCPU signal handler")))) {
		vmm_undo_start(v);
		return r;
	}
	/* Logged before the vCPUs run, so the line never splits the guest's first output. */
	v->first_insn_build_us = clock_now_us() - v->start_wall_us;
	LOG_INFO("Booting %s kernel at 0x%llx, %u vCPU(s), %llu MiB, built in %llu us",
		 ki.kind == BOOT_ENTRY_PVH ? "PVH" : ki.is_bzimage ? "bzImage" : "ELF",
		 (unsigned long long)ki.entry, v->nvcpus,
		 (unsigned long long)v->cfg.machine.mem_size_mib,
		 (unsigned long long)v->first_insn_build_us);
	if ((r = vmm_start_vcpus(v, 0, e))) {
		vmm_undo_start(v);
		return r;
	}
	v->state = VMM_RUNNING;
	/* The VM is built: from now on the event-loop thread needs only its list. */
	if ((r = seccomp_install(SECCOMP_VMM)))
		return err_set(e, r, "Cannot install the VMM thread's seccomp filter");
	return 0;
}

int vmm_start_vcpus(struct vmm *v, int paused, struct err *e)
{
	int r;

	/* Posted first, a pause holds each new thread before its first KVM_RUN. */
	if (paused && (r = vcpu_post(&v->vctx, VCPU_REQ_PAUSE)))
		return err_set(e, r, "Cannot hold the vCPUs: %s", strerror(-r));
	for (unsigned i = 0; i < v->nvcpus; i++)
		if ((r = vcpu_start(&v->vcpus[i])))
			return err_set(e, r, "Cannot start vCPU thread %u: %s", i, strerror(-r));
	if (paused)
		vcpu_pause_all(v->vcpus, v->nvcpus);
	return 0;
}

int vmm_build_restored(struct vmm *v, int mem_fd, struct err *e)
{
	uint64_t size = v->cfg.machine.mem_size_mib << 20;
	int r;

	v->start_wall_us = clock_now_us();
	v->start_cpu_us = clock_cpu_us();
	v->boottimer.start_wall_us = v->start_wall_us;
	v->boottimer.start_cpu_us = v->start_cpu_us;
	v->nvcpus = v->cfg.machine.vcpu_count;
	/* The same machine as at boot, but RAM is the memory file's (or empty) and no kernel is loaded. */
	if ((r = vmm_prepare(v, 0, e)))
		goto fail;
	if (v->nvcpus > v->vm.max_vcpus) {
		r = err_set(e, -EINVAL, "KVM supports at most %u vCPUs", v->vm.max_vcpus);
		goto fail;
	}
	if (mem_fd < 0 && (r = gmem_init(&v->mem, size, LAYOUT_RAM_HOLE))) {
		err_set(e, r, "Cannot allocate %llu MiB of guest memory: %s",
			(unsigned long long)(size >> 20), strerror(-r));
		goto fail;
	}
	if (mem_fd >= 0 && (r = gmem_init_file(&v->mem, mem_fd, size, LAYOUT_RAM_HOLE))) {
		err_set(e, r, "Cannot map the memory file: %s",
			r == -EINVAL ? "not a regular file of the snapshot's memory size" : strerror(-r));
		goto fail;
	}
	if ((r = vmm_register_memory(v, e)))
		goto fail;
	v->mem_ready = size;
	if ((r = vmm_add_legacy_devices(v, e)) || (r = vmm_add_block_devices(v, e)) ||
	    (r = vmm_add_net_devices(v, e)) || (r = vmm_add_vsock_device(v, e)) ||
	    (r = vmm_create_vcpus(v, NULL, NULL, e)))
		goto fail;
	if ((r = vcpu_signals_init())) {
		err_set(e, r, "Cannot install the vCPU signal handler");
		goto fail;
	}
	return 0;
fail:
	vmm_undo_start(v);
	return r;
}
