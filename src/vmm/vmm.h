/* vmm.h: one microVM: its configuration, KVM objects, devices, threads and lifetime. */
#ifndef EMBER_VMM_H
#define EMBER_VMM_H

#include <stdint.h>
#include <termios.h>

#include "arch/x86/acpi.h"
#include "config/config.h"
#include "devices/acpi_pm.h"
#include "devices/boottimer.h"
#include "devices/i8042.h"
#include "devices/serial.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/vsock.h"
#include "event/loop.h"
#include "kvm/bus.h"
#include "kvm/kvm.h"
#include "kvm/mem.h"
#include "kvm/vcpu.h"
#include "mmds/mmds.h"

/*
 * One row of the VM's device table: every device, legacy or virtio, in the
 * order it was attached. Teardown, pause, resume and (with snapshots) save
 * and restore are one loop over it.
 */
struct x86_state_caps;

struct vmm_dev {
	const struct dev_ops *ops;
	void *dev;
	char id[CFG_ID_MAX + 1];  /* drive_id, iface_id, or the kind's name */
	uint64_t base, size;      /* its window on the MMIO bus (virtio) or the PIO bus */
	int irq;                  /* GSI, -1: none */
	int owned;                /* dev was calloc()ed for the table: freed after destroy */
};

/* Legacy devices (4) + drives + interfaces + vsock. */
#define VMM_MAX_DEVS (4 + CFG_MAX_DRIVES + CFG_MAX_NETS + 1)

enum vmm_state {
	VMM_NOT_STARTED = 0,
	VMM_RUNNING,
	VMM_PAUSED,
	VMM_STOPPED,
};

/* Process exit codes (Firecracker's). */
#define EXIT_OK              0
#define EXIT_GENERIC_ERROR   1
#define EXIT_BAD_SECCOMP     148
#define EXIT_SIGBUS          149
#define EXIT_SIGSEGV         150
#define EXIT_SIGXFSZ         151
#define EXIT_BAD_CONFIG      152
#define EXIT_BAD_ARGS        153

struct vmm_opts {
	const char *instance_id;  /* --id */
	int boot_timer;           /* --boot-timer */
	int console_fd_in;        /* guest serial input, -1: none */
	int console_fd_out;       /* guest serial output */
	size_t mmds_size_limit;   /* --mmds-size-limit; 0: MMDS_DEFAULT_SIZE_LIMIT */
};

struct vmm {
	struct vm_config cfg;     /* owned */
	struct vmm_opts opts;
	const char *instance_id;
	int logger_set, metrics_set; /* each may be configured once */
	int configured;           /* a machine resource was set: a snapshot can no longer load */
	enum vmm_state state;

	int kernel_fd, initrd_fd; /* opened when the boot source is set */
	int vm_ready;             /* KVM VM created (vmm_prewarm) */
	uint64_t mem_ready;       /* bytes of guest RAM mapped and registered, 0: none */

	struct guest_mem mem;
	struct kvm_vm vm;
	struct bus pio, mmio;
	struct vcpu_ctx vctx;
	struct x86_state_caps *xcaps;  /* what KVM can save of a vCPU: probed at the first snapshot */
	int vctx_ready;
	struct vcpu vcpus[CFG_MAX_VCPUS];
	unsigned nvcpus;

	struct vmm_dev devs[VMM_MAX_DEVS];  /* [0, ndevs): attach order */
	unsigned ndevs;
	int tap_fd[CFG_MAX_NETS];           /* taps opened at configuration time, by cfg.nets index */
	int vsock_listen_fd;                /* bound at configuration time, -1: none */
	int serial_out_fd;                  /* PUT /serial's file, opened then; -1: console_fd_out */
	unsigned next_slot;                 /* next virtio-mmio slot / IRQ */
	struct acpi_mmio_dev slots[LAYOUT_VIRTIO_MMIO_MAX]; /* [0, next_slot): for the DSDT */
	struct serial serial;
	struct i8042 i8042;
	struct acpi_pm acpi_pm;
	struct boottimer boottimer;

	struct evloop *loop;      /* borrowed: the event loop devices register with */
	int stop_efd;             /* vCPU -> loop: a vCPU asked to stop */
	int rx_efd;               /* serial input space freed */
	int stdin_watched;
	int stop_why;             /* enum vcpu_stop, first one wins */

	struct termios term_saved;
	int term_raw;

	uint64_t start_wall_us, start_cpu_us;  /* InstanceStart */
	uint64_t first_insn_build_us;           /* InstanceStart -> vCPUs released */
	char cmdline[2048];
	char dev_args[1024];                /* what devices add to the command line */

	struct mmds mmds;                   /* the metadata store, served by the interfaces
					       cfg.mmds names */
};

/* vmm_init: an empty VMM with default configuration; 0 or -errno. */
int vmm_init(struct vmm *v, const struct vmm_opts *opts, struct evloop *loop);

/*
 * vmm_set_boot_source: take @b (moved in) and open its kernel and initrd now,
 * so a bad path fails at configuration time. 0 or -errno with @e set.
 */
int vmm_set_boot_source(struct vmm *v, struct boot_source_cfg *b, struct err *e);

/*
 * vmm_set_drive: validate @d (its file opens with the access it asks for)
 * and add or replace it (moved in). Pre-boot. 0 or -errno with @e set.
 */
int vmm_set_drive(struct vmm *v, struct drive_cfg *d, struct err *e);

/*
 * vmm_patch_drive: post-boot: swap the backing file of a drive (the guest
 * sees the new capacity through a config-change interrupt); rate limiters
 * are accepted. 0 or -errno with @e set.
 */
int vmm_patch_drive(struct vmm *v, struct drive_patch *p, struct err *e);

/*
 * vmm_set_net: open the tap of @n now (a missing or busy tap fails here, not
 * at InstanceStart) and add or replace the interface (moved in). Pre-boot.
 */
int vmm_set_net(struct vmm *v, struct net_cfg *n, struct err *e);

/* vmm_patch_net: post-boot rate-limiter update of an interface (accepted, stored). */
int vmm_patch_net(struct vmm *v, struct net_patch *p, struct err *e);

/*
 * vmm_set_vsock: bind the vsock's Unix listener at uds_path now (a live one
 * elsewhere fails here) and set the device (moved in). Pre-boot.
 */
int vmm_set_vsock(struct vmm *v, struct vsock_cfg *vs, struct err *e);

/*
 * vmm_set_mmds_config: PUT /mmds/config (pre-boot): the interfaces it names must exist;
 * the version and imds_compat apply to the store at once. 0 or -EINVAL with @e.
 */
int vmm_set_mmds_config(struct vmm *v, const struct mmds_cfg *m, struct err *e);

/* vmm_set_logger / vmm_set_metrics: configure once (file opened now); 0 or -errno with @e. */
int vmm_set_logger(struct vmm *v, struct logger_cfg *l, struct err *e);
int vmm_set_metrics(struct vmm *v, struct metrics_cfg *m, struct err *e);
/* vmm_set_serial: PUT /serial (pre-boot; a second one replaces the first): the output file
 * opened now; @s moved into the configuration. 0 or -errno with @e. */
int vmm_set_serial(struct vmm *v, struct serial_cfg *s, struct err *e);

/*
 * vmm_apply_config: take a whole parsed config file (moved in) and apply each
 * section as the API would. 0 or -errno with @e set.
 */
int vmm_apply_config(struct vmm *v, struct vm_config *c, struct err *e);

/*
 * vmm_start: InstanceStart: build guest memory, load the kernel, write the
 * boot structures, create devices and vCPUs, and start the vCPU threads.
 * 0 or -errno with @e set (the VMM is then unusable: exit). Loop thread.
 */
int vmm_start(struct vmm *v, struct err *e);

/*
 * vmm_prewarm: do the work InstanceStart would otherwise wait for and that
 * does not depend on the configuration (create the KVM VM, irqchip, PIT),
 * and, once the machine configuration is known, map and register guest RAM.
 * Safe to call repeatedly; failures are left for vmm_start() to report.
 * VMM thread, before InstanceStart.
 */
void vmm_prewarm(struct vmm *v, int with_memory);

/*
 * vmm_dev_find: the table row of the device of @kind named @id (NULL: the
 * first of that kind), or NULL.
 */
struct vmm_dev *vmm_dev_find(struct vmm *v, enum dev_kind kind, const char *id);

/*
 * vmm_devices_pause / vmm_devices_resume: every device's pause (in table
 * order) or resume (in reverse) hook. Loop thread, vCPUs paused.
 */
void vmm_devices_pause(struct vmm *v);
void vmm_devices_resume(struct vmm *v);

/*
 * vmm_snapshot_create: PUT /snapshot/create on a paused microVM: its devices
 * (quiesced; vsock connections reset through the guest's event queue), vCPUs
 * and VM state into the state file at c->snapshot_path (snapshot/format.h)
 * and its RAM into the sparse file at c->mem_file_path. The vCPUs stay paused.
 * 0, or -errno with @e set and neither file left behind. VMM thread.
 */
int vmm_snapshot_create(struct vmm *v, const struct snapshot_create_cfg *c, struct err *e);

/*
 * vmm_snapshot_load: PUT /snapshot/load in a process nothing was configured
 * in yet: the saved configuration (with the client's network and vsock
 * overrides) applied, the machine rebuilt with RAM mapped private from the
 * memory file (File) or handed, empty, to the page-fault handler on the
 * backend_path socket (Uffd: snapshot/uffd.h), every device's and vCPU's
 * state and the VM's restored; the
 * microVM is then Paused, or Running with c->resume_vm. 0, or -errno with @e
 * set and the process as fresh as before. VMM thread.
 */
int vmm_snapshot_load(struct vmm *v, const struct snapshot_load_cfg *c, struct err *e);

/* vmm_pause / vmm_resume: stop and restart all vCPUs. 0 or -EINVAL in the wrong state. */
int vmm_pause(struct vmm *v);
int vmm_resume(struct vmm *v);

/* vmm_ctrl_alt_del: inject Ctrl-Alt-Del through the i8042. 0 or -errno. */
int vmm_ctrl_alt_del(struct vmm *v);

/*
 * vmm_exit_code: the exit code once the loop stopped because the guest asked
 * (reset: 0, failure: 1).
 */
int vmm_exit_code(const struct vmm *v);

/* vmm_destroy: stop vCPU threads, restore the terminal, free everything. */
void vmm_destroy(struct vmm *v);

#endif
