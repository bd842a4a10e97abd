/* snapshot.c: PUT /snapshot/create and PUT /snapshot/load: a paused microVM to two files and back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/vcpu_state.h"
#include "clock.h"
#include "kvm/vm_state.h"
#include "log.h"
#include "seccomp_filters.h"
#include "snapshot/format.h"
#include "snapshot/uffd.h"
#include "vmm/internal.h"

#define SNAP_CONFIG_MAX (64 * 1024)     /* GET /vm/config's JSON, as saved */
#define SNAP_PAGE       4096ULL

#define SNAP_MEM_DIFF   1               /* snap_memory.kind of a Diff snapshot */
#define SNAP_PROBES     8

/*
 * The memory record: how big guest RAM is and how the memory file holds it.
 * A Full snapshot writes the first two fields only (SNAP_MEMORY_FULL_LEN
 * bytes, as every ember did before Diff snapshots); a Diff one all of it.
 */
struct snap_memory {
	uint64_t size;           /* bytes of guest RAM: mem_size_mib << 20 */
	uint64_t page_size;      /* 4096: RAM byte i is file byte i, holes read as zeros */
	uint64_t kind;           /* SNAP_MEM_DIFF: the file holds only pages dirtied since the last snapshot */
	uint64_t nprobes;        /* probe[0..nprobes) in use */
	/* Pages the Diff left out (not dirty, not zero) and the CRC-64 they had: a base holds them. */
	struct {
		uint64_t off;
		uint64_t crc;
	} probe[SNAP_PROBES];
};
#define SNAP_MEMORY_FULL_LEN 16

/* Open @path to write it whole: a regular file, created 0600 or truncated; -errno. */
static int snap_open_out(const char *path, struct err *e, const char *what)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0600);

	if (fd < 0)
		return err_set(e, -errno, "Cannot open the %s file %s: %s", what, path,
			       strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, -EINVAL, "The %s file %s is not a regular file", what, path);
	}
	return fd;
}

static int snap_write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int snap_is_zero(const uint8_t *p, size_t n)
{
	return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/*
 * Guest RAM into @fd: byte i of RAM at offset i, pages of zeros left as holes
 * (the file is sparse: it takes what the guest used, and reads back as zeros).
 */
static int snap_write_memory(const struct vmm *v, int fd)
{
	const uint8_t *base = v->mem.base;
	uint64_t size = v->mem.size, run = 0, start = 0;
	int r;

	if (ftruncate(fd, (off_t)size))
		return -errno;
	for (uint64_t off = 0; off <= size; off += SNAP_PAGE) {
		int data = off < size && !snap_is_zero(base + off, SNAP_PAGE);

		if (data) {
			if (!run)
				start = off;
			run += SNAP_PAGE;
			if (run < (1u << 20))
				continue;
		}
		if (run && (r = snap_write_all(fd, base + start, run, start)))
			return r;
		run = 0;
		if (data)
			continue;
	}
	return 0;
}

/*
 * Diff: the pages of @bits (by RAM offset) into @fd at their offsets, whatever
 * they hold (a page now zero overwrites its base's), the rest left holes;
 * *@written counts the bytes.
 */
static int snap_write_dirty(const struct vmm *v, int fd, const uint64_t *bits, uint64_t *written)
{
	uint64_t npages = v->mem.size / GMEM_PAGE, run = 0, start = 0;
	int r;

	*written = 0;
	if (ftruncate(fd, (off_t)v->mem.size))
		return -errno;
	for (uint64_t pg = 0; pg <= npages; pg++) {
		if (pg < npages && (bits[pg >> 6] >> (pg & 63) & 1)) {
			if (!run)
				start = pg;
			if (++run < 256)
				continue;
		}
		if (run && (r = snap_write_all(fd, v->mem.base + start * GMEM_PAGE,
					       run * GMEM_PAGE, start * GMEM_PAGE)))
			return r;
		*written += run * GMEM_PAGE;
		run = 0;
	}
	return 0;
}

/*
 * The pages dirtied since the last snapshot into @bits (gmem_dirty_words()
 * words, by RAM offset): ember's bitmap, emptied, OR each slot's KVM dirty
 * log, read and so reset. A failure puts what was taken back into ember's
 * bitmap: nothing dirty is lost. Devices and vCPUs paused.
 */
static int snap_take_dirty(struct vmm *v, uint64_t *bits, struct err *e)
{
	gmem_dirty_take(&v->mem, bits);
	for (unsigned i = 0; i < v->mem.nregions; i++) {
		uint64_t *log = calloc(v->mem.region[i].size / GMEM_PAGE / 64 + 1, sizeof(*log));
		int r = log ? kvm_vm_dirty_log(&v->vm, i, log) : -ENOMEM;

		if (!r)
			gmem_dirty_or_log(&v->mem, i, log, bits);
		free(log);
		if (r) {
			gmem_dirty_merge(&v->mem, bits);
			return err_set(e, r, "Cannot read KVM's dirty log: %s", strerror(-r));
		}
	}
	return 0;
}

/*
 * A Diff's probes: up to SNAP_PROBES pages spread over RAM that are neither
 * dirty (so the Diff leaves them to its base) nor zero, with their CRC-64. A
 * load reads them back from the memory file: a hole there means an unmerged
 * Diff, other bytes another base.
 */
static void snap_pick_probes(const struct vmm *v, const uint64_t *bits, struct snap_memory *m)
{
	uint64_t npages = v->mem.size / GMEM_PAGE;

	for (unsigned k = 0; k < SNAP_PROBES; k++) {
		uint64_t pg = npages * k / SNAP_PROBES, end = npages * (k + 1) / SNAP_PROBES;

		/* A bounded look in each stretch: most of RAM is zero in a young guest. */
		for (unsigned n = 0; pg < end && n < 4096; pg++, n++) {
			const uint8_t *p = v->mem.base + pg * GMEM_PAGE;

			if ((bits[pg >> 6] >> (pg & 63) & 1) || snap_is_zero(p, GMEM_PAGE))
				continue;
			m->probe[m->nprobes].off = pg * GMEM_PAGE;
			m->probe[m->nprobes++].crc = snap_crc64(p, GMEM_PAGE);
			break;
		}
	}
}

/* The vCPUs' state hooks: x86's, with what this KVM can capture (probed once, main thread). */
static int snap_vcpu_hooks(struct vmm *v, struct err *e)
{
	int r;

	if (!v->xcaps) {
		v->xcaps = calloc(1, sizeof(*v->xcaps));
		if (!v->xcaps)
			return err_set(e, -ENOMEM, "Out of memory");
		if ((r = x86_state_caps_probe(&v->vm, v->vcpus[0].fd, v->xcaps, e))) {
			free(v->xcaps);
			v->xcaps = NULL;
			return r;
		}
	}
	v->vctx.save_state = x86_vcpu_save_hook;
	v->vctx.restore_state = x86_vcpu_restore_hook;
	v->vctx.state_arg = v->xcaps;
	v->vctx.state_size = sizeof(struct x86_vcpu_state);
	return 0;
}

/*
 * Devices first (a device may raise an interrupt as it is saved), then KVM: Firecracker's order.
 * @diff: the dirty pages of a Diff snapshot, NULL for a Full one.
 */
static int snap_collect(struct vmm *v, struct snap_writer *w, const uint64_t *diff, struct err *e)
{
	struct snap_memory mem = { .size = v->mem.size, .page_size = SNAP_PAGE };
	struct x86_vcpu_state *cpus = NULL;
	struct kvm_vm_state *vm = NULL;
	char *cfg = malloc(SNAP_CONFIG_MAX);
	int n, r = 0;

	if (!cfg)
		return err_set(e, -ENOMEM, "Out of memory");
	n = config_to_file_json(&v->cfg, cfg, SNAP_CONFIG_MAX);
	if (n < 0) {
		free(cfg);
		return err_set(e, -E2BIG, "The configuration is too large to save");
	}
	snap_put(w, SNAP_REC_CONFIG, 0, 0, NULL, cfg, (uint64_t)n);
	free(cfg);
	if (diff) {
		mem.kind = SNAP_MEM_DIFF;
		snap_pick_probes(v, diff, &mem);
	}
	snap_put(w, SNAP_REC_MEMORY, 0, 0, NULL, &mem, diff ? sizeof(mem) : SNAP_MEMORY_FULL_LEN);
	for (unsigned i = 0; i < v->ndevs; i++) {
		const struct vmm_dev *row = &v->devs[i];
		void *st;

		if (!row->ops->state_size)
			continue;
		st = calloc(1, row->ops->state_size);
		if (!st)
			return err_set(e, -ENOMEM, "Out of memory");
		row->ops->save(row->dev, st);
		snap_put(w, SNAP_REC_DEVICE, (uint16_t)row->ops->kind, i, row->id, st,
			 row->ops->state_size);
		free(st);
	}
	vm = calloc(1, sizeof(*vm));
	cpus = calloc(v->nvcpus, sizeof(*cpus));
	if (!vm || !cpus) {
		r = err_set(e, -ENOMEM, "Out of memory");
		goto out;
	}
	if ((r = snap_vcpu_hooks(v, e)) ||
	    (r = vcpu_save_all(v->vcpus, v->nvcpus, cpus, sizeof(*cpus), e)) ||
	    (r = kvm_vm_save(&v->vm, vm, e)))
		goto out;
	snap_put(w, SNAP_REC_VM, 0, 0, NULL, vm, sizeof(*vm));
	for (unsigned i = 0; i < v->nvcpus; i++)
		snap_put(w, SNAP_REC_VCPU, 0, i, NULL, &cpus[i], sizeof(cpus[i]));
	if ((r = snap_finish(w)))
		err_set(e, r, "Cannot assemble the snapshot: %s", strerror(-r));
out:
	free(vm);
	free(cpus);
	return r;
}

int vmm_snapshot_create(struct vmm *v, const struct snapshot_create_cfg *c, struct err *e)
{
	struct snap_writer w = { 0 };
	struct vmm_dev *vs;
	uint64_t t0 = clock_now_us(), written = v->mem.size;
	uint64_t *dirty = NULL;      /* taken from the trackers: back into them on failure */
	bool diff = c->type == SNAPSHOT_DIFF;
	int sfd = -1, mfd = -1, r;

	if (v->state != VMM_PAUSED)
		return err_set(e, -EINVAL, "Cannot create a snapshot: the microVM is not paused.");
	if (diff && !v->mem.dirty)
		return err_set(e, -ENOTSUP, "Diff snapshots are not allowed on uVMs with dirty page "
			       "tracking disabled.");
	if (v->mem.dirty && !(dirty = calloc(gmem_dirty_words(&v->mem), sizeof(*dirty))))
		return err_set(e, -ENOMEM, "Out of memory");
	/* The files first: a path that cannot be written costs nothing. */
	if ((sfd = snap_open_out(c->snapshot_path, e, "snapshot")) < 0)
		return sfd;
	if ((mfd = snap_open_out(c->mem_file_path, e, "memory")) < 0) {
		r = mfd;
		goto fail;
	}
	if ((r = snap_writer_init(&w))) {
		err_set(e, r, "Out of memory");
		goto fail;
	}
	vmm_devices_pause(v);
	/* Connections do not survive a snapshot: the guest is told now, listeners stay. */
	vs = vmm_dev_find(v, DEV_VSOCK, NULL);
	if (vs && vsock_transport_reset(vs->dev) == -ENOSPC)
		LOG_WARN("vsock: the driver had no event buffer for the transport reset");
	/* Every snapshot starts the next Diff afresh: a Full one reads and drops the dirty state. */
	r = dirty ? snap_take_dirty(v, dirty, e) : 0;
	if (r) {
		free(dirty);     /* snap_take_dirty() gave it back already */
		dirty = NULL;
	} else {
		r = snap_collect(v, &w, diff ? dirty : NULL, e);
	}
	vmm_devices_resume(v);
	if (r)
		goto fail;
	if ((r = snap_write_all(sfd, w.buf, w.len, 0)) ||
	    (r = diff ? snap_write_dirty(v, mfd, dirty, &written) : snap_write_memory(v, mfd))) {
		err_set(e, r, "Cannot write the snapshot: %s", strerror(-r));
		goto fail;
	}
	close(sfd);
	close(mfd);
	LOG_INFO("%s snapshot of %u vCPU(s), %u devices and %llu MiB (%llu KiB written) in %s and "
		 "%s, %llu us", diff ? "Diff" : "Full", v->nvcpus, v->ndevs,
		 (unsigned long long)(v->mem.size >> 20), (unsigned long long)(written >> 10),
		 c->snapshot_path, c->mem_file_path, (unsigned long long)(clock_now_us() - t0));
	snap_writer_free(&w);
	free(dirty);
	return 0;
fail:
	snap_writer_free(&w);
	/* The dirty pages taken for this snapshot are still to be saved by the next one. */
	if (dirty)
		gmem_dirty_merge(&v->mem, dirty);
	free(dirty);
	/* Nothing half-written is left behind under the names the client gave. */
	if (sfd >= 0) {
		close(sfd);
		unlink(c->snapshot_path);
	}
	if (mfd >= 0) {
		close(mfd);
		unlink(c->mem_file_path);
	}
	return r;
}

/* Read the whole state file: a regular file no larger than a snapshot can be. */
static int snap_read_file(const char *path, uint8_t **buf, size_t *len, struct err *e)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	*buf = NULL;
	if (fd < 0)
		return err_set(e, -errno, "Cannot open the snapshot file %s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > SNAP_HEADER_SIZE + (uint64_t)SNAP_MAX_BODY) {
		close(fd);
		return err_set(e, -EINVAL, "The snapshot file %s is not a regular file of at most "
			       "%u MiB", path, (SNAP_MAX_BODY >> 20) + 1);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return err_set(e, -ENOMEM, "Out of memory");
	}
	n = pread(fd, *buf, (size_t)st.st_size + 1, 0);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		*buf = NULL;
		return err_set(e, -EIO, "Cannot read the snapshot file %s", path);
	}
	*len = (size_t)n;
	return 0;
}

/* Put @prefix before the message already in @e (which must not format from itself). */
static int snap_err_wrap(struct err *e, int rc, const char *prefix)
{
	char why[ERR_MSG_MAX];

	memcpy(why, e->msg, sizeof(why));
	why[sizeof(why) - 1] = '\0';
	return err_set(e, rc, "%s%.200s", prefix, why);
}

/* The saved configuration, with the client's overrides, as this process's own. */
static int snap_load_config(struct vmm *v, const struct snap_reader *rd,
			    const struct snapshot_load_cfg *c, struct err *e)
{
	const struct snap_rec *rec = snap_find(rd, SNAP_REC_CONFIG, 0, 0, NULL);
	struct boot_source_cfg boot;
	struct vm_config cfg;
	bool has_boot;
	int r;

	if (!rec)
		return err_set(e, -EINVAL, "Invalid snapshot state file: no configuration.");
	if ((r = config_parse_file(&cfg, (const char *)rec->data, rec->len, e)))
		return snap_err_wrap(e, r, "Invalid snapshot configuration: ");
	for (unsigned i = 0; i < c->n_net_overrides; i++) {
		const struct net_override *o = &c->net_overrides[i];
		unsigned k = 0;

		while (k < cfg.nnets && strcmp(cfg.nets[k].iface_id, o->iface_id) != 0)
			k++;
		if (k == cfg.nnets) {
			config_free(&cfg);
			return err_set(e, -EINVAL, "Network override for %s: the snapshot has no "
				       "such interface.", o->iface_id);
		}
		snprintf(cfg.nets[k].host_dev_name, sizeof(cfg.nets[k].host_dev_name), "%s",
			 o->host_dev_name);
	}
	if (c->vsock_uds_path) {
		if (!cfg.vsock.present) {
			config_free(&cfg);
			return err_set(e, -EINVAL, "Vsock override: the snapshot has no vsock device.");
		}
		free(cfg.vsock.uds_path);
		cfg.vsock.uds_path = strdup(c->vsock_uds_path);
		if (!cfg.vsock.uds_path) {
			config_free(&cfg);
			return err_set(e, -ENOMEM, "Out of memory");
		}
	}
	/*
	 * No kernel is loaded: the boot source is kept as configuration only (GET /vm/config
	 * shows it, a snapshot of this VM saves it again), its files never opened. The logger
	 * and metrics are this process's, set by its own client.
	 */
	boot = cfg.boot_source;
	has_boot = cfg.has_boot_source;
	memset(&cfg.boot_source, 0, sizeof(cfg.boot_source));
	cfg.has_boot_source = false;
	/* Dirty page tracking is the load request's to ask for, as in Firecracker. */
	cfg.machine.track_dirty_pages = c->track_dirty_pages;
	logger_free(&cfg.logger);
	metrics_free(&cfg.metrics);
	r = vmm_apply_config(v, &cfg, e);
	config_free(&cfg);
	if (r) {
		boot_source_free(&boot);
		return r;
	}
	boot_source_free(&v->cfg.boot_source);
	v->cfg.boot_source = boot;
	v->cfg.has_boot_source = has_boot;
	return 0;
}

/* The memory record, Full (as every ember writes it) or Diff, into @m; 0 or -EINVAL. */
static int snap_read_memory(const struct snap_reader *rd, struct snap_memory *m)
{
	const struct snap_rec *mem = snap_find(rd, SNAP_REC_MEMORY, 0, 0, NULL);

	memset(m, 0, sizeof(*m));
	if (!mem || (mem->len != SNAP_MEMORY_FULL_LEN && mem->len != sizeof(*m)))
		return -EINVAL;
	memcpy(m, mem->data, mem->len);
	if (mem->len == SNAP_MEMORY_FULL_LEN)
		return 0;
	return m->kind == SNAP_MEM_DIFF && m->nprobes <= SNAP_PROBES ? 0 : -EINVAL;
}

/*
 * A Diff snapshot's memory file holds only what changed since its base: it
 * loads once merged onto the base's memory file (ember-snap-merge BASE DIFF).
 * Its probes (pages the Diff left to the base) tell an unmerged Diff (holes:
 * zeros) and another base (other bytes) from the merged file.
 */
static int snap_check_memory_file(const struct snap_reader *rd, int mfd, const char *path,
				  struct err *e)
{
	struct snap_memory m;
	uint8_t *page;
	int r = 0;

	if (snap_read_memory(rd, &m) || m.kind != SNAP_MEM_DIFF)
		return 0;
	if (!(page = malloc(GMEM_PAGE)))
		return err_set(e, -ENOMEM, "Out of memory");
	for (uint64_t i = 0; i < m.nprobes && !r; i++) {
		/* A file too short is the mapping's to refuse, with its own message. */
		if (pread(mfd, page, GMEM_PAGE, (off_t)m.probe[i].off) != (ssize_t)GMEM_PAGE ||
		    snap_crc64(page, GMEM_PAGE) == m.probe[i].crc)
			continue;
		if (snap_is_zero(page, GMEM_PAGE))
			r = err_set(e, -EINVAL, "The memory file %s is that of a Diff snapshot, which "
				    "holds only the pages changed since its base: merge it onto a copy "
				    "of the base's memory file first (ember-snap-merge BASE DIFF) and "
				    "load with the merged file.", path);
		else
			r = err_set(e, -EINVAL, "The memory file %s does not hold the memory this Diff "
				    "snapshot was taken on: merge the Diff onto its own base's memory "
				    "file.", path);
	}
	free(page);
	return r;
}

/* Every record is what this machine expects, before anything is built. */
static int snap_check(const struct vmm *v, const struct snap_reader *rd, struct err *e)
{
	const struct snap_rec *vm = snap_find(rd, SNAP_REC_VM, 0, 0, NULL);
	struct snap_memory m;
	unsigned ncpu = 0;

	if (snap_read_memory(rd, &m) || !vm || vm->len != sizeof(struct kvm_vm_state))
		return err_set(e, -EINVAL, "Invalid snapshot state file: its memory or VM record "
			       "is missing or of another size.");
	if (m.size != v->cfg.machine.mem_size_mib << 20 || m.page_size != SNAP_PAGE)
		return err_set(e, -EINVAL, "Invalid snapshot state file: %llu bytes of memory for "
			       "%llu MiB configured.", (unsigned long long)m.size,
			       (unsigned long long)v->cfg.machine.mem_size_mib);
	for (uint32_t i = 0; i < rd->nrec; i++) {
		const struct snap_rec *r = &rd->rec[i];
		struct x86_vcpu_state *s;
		int bad;

		if (r->type != SNAP_REC_VCPU)
			continue;
		if (r->index >= v->cfg.machine.vcpu_count || r->len != sizeof(*s))
			return err_set(e, -EINVAL, "Invalid snapshot state file: vCPU %u does not "
				       "fit %u vCPU(s) of this ember.", r->index,
				       v->cfg.machine.vcpu_count);
		s = malloc(sizeof(*s));
		if (!s)
			return err_set(e, -ENOMEM, "Out of memory");
		memcpy(s, r->data, sizeof(*s));
		bad = x86_vcpu_state_check(s, e);
		free(s);
		if (bad) {
			char pre[48];

			snprintf(pre, sizeof(pre), "Invalid snapshot state of vCPU %u: ", r->index);
			return snap_err_wrap(e, -EINVAL, pre);
		}
		ncpu++;
	}
	if (ncpu != v->cfg.machine.vcpu_count)
		return err_set(e, -EINVAL, "Invalid snapshot state file: %u vCPU states for %u "
			       "vCPU(s).", ncpu, v->cfg.machine.vcpu_count);
	return 0;
}

/* Each device built takes its saved state back; every one saved must find its device. */
static int snap_restore_devices(struct vmm *v, const struct snap_reader *rd, struct err *e)
{
	unsigned saved = 0, want = 0;
	int r;

	for (uint32_t i = 0; i < rd->nrec; i++)
		saved += rd->rec[i].type == SNAP_REC_DEVICE;
	for (unsigned i = 0; i < v->ndevs; i++) {
		const struct vmm_dev *row = &v->devs[i];
		const struct snap_rec *rec;

		if (!row->ops->state_size)
			continue;
		want++;
		rec = snap_find(rd, SNAP_REC_DEVICE, (uint16_t)row->ops->kind, i, row->id);
		if (!rec || rec->len != row->ops->state_size)
			return err_set(e, -EINVAL, "Invalid snapshot: no saved state fits the %s "
				       "device %s.", row->ops->name, row->id);
		if ((r = row->ops->restore(row->dev, rec->data, e)))
			return snap_err_wrap(e, r, "Invalid snapshot state: ");
	}
	if (saved != want)
		return err_set(e, -EINVAL, "Invalid snapshot: %u device states for %u devices.",
			       saved, want);
	return 0;
}

static int snap_restore_kvm(struct vmm *v, const struct snap_reader *rd, struct err *e)
{
	const struct snap_rec *vm = snap_find(rd, SNAP_REC_VM, 0, 0, NULL);
	struct x86_vcpu_state *cpus = calloc(v->nvcpus, sizeof(*cpus));
	struct kvm_vm_state *vs = malloc(sizeof(*vs));
	int r;

	if (!cpus || !vs) {
		r = err_set(e, -ENOMEM, "Out of memory");
		goto out;
	}
	for (unsigned i = 0; i < v->nvcpus; i++)
		memcpy(&cpus[i], snap_find(rd, SNAP_REC_VCPU, 0, i, NULL)->data, sizeof(cpus[i]));
	memcpy(vs, vm->data, sizeof(*vs));
	/*
	 * The vCPUs first, then the PIT, clock and irqchips (Firecracker's order). The PIT
	 * starts ticking as it is set: a tick delivered to a LAPIC that KVM_SET_LAPIC then
	 * overwrites would be lost, and in KVM's reinject mode the PIT waits for that tick's
	 * EOI before the next one: the guest would never see its timer again.
	 */
	if ((r = snap_vcpu_hooks(v, e)) || (r = vmm_start_vcpus(v, 1, e)) ||
	    (r = vcpu_restore_all(v->vcpus, v->nvcpus, cpus, sizeof(*cpus), e)) ||
	    (r = kvm_vm_restore(&v->vm, vs, e)))
		goto out;
out:
	free(cpus);
	free(vs);
	return r;
}

int vmm_snapshot_load(struct vmm *v, const struct snapshot_load_cfg *c, struct err *e)
{
	struct snap_reader *rd = NULL;
	uint64_t t0 = clock_now_us();
	uint8_t *buf = NULL;
	size_t len = 0;
	int mfd = -1, r;

	if (v->state != VMM_NOT_STARTED || v->configured)
		return err_set(e, -EINVAL, "Loading a microVM snapshot not allowed after configuring "
			       "boot-specific resources.");
	rd = malloc(sizeof(*rd));
	if (!rd)
		return err_set(e, -ENOMEM, "Out of memory");
	if ((r = snap_read_file(c->snapshot_path, &buf, &len, e)) ||
	    (r = snap_parse(buf, len, rd, e)))
		goto out;
	/* A Uffd backend_path is the handler's socket: the handler reads the memory file. */
	if (c->backend_type == MEM_BACKEND_FILE)
		mfd = open(c->backend_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (c->backend_type == MEM_BACKEND_FILE && mfd < 0) {
		r = err_set(e, -errno, "Cannot open the memory file %s: %s", c->backend_path,
			    strerror(errno));
		goto out;
	}
	if ((r = snap_load_config(v, rd, c, e)) || (r = snap_check(v, rd, e)) ||
	    (r = snap_check_memory_file(rd, mfd, c->backend_path, e)) ||
	    (r = vmm_build_restored(v, mfd, e)))
		goto undo;
	/*
	 * Guest RAM goes to its handler before anything (device, KVM) can touch it. A clone is
	 * not its original: a new generation ID, and the guest is told (vmgenid.c).
	 */
	if ((c->backend_type == MEM_BACKEND_UFFD && (r = uffd_handoff(&v->mem, c->backend_path, e))) ||
	    (r = snap_restore_devices(v, rd, e)) || (r = snap_restore_kvm(v, rd, e)) ||
	    (r = vmm_vmgenid_renew(v, 1, e))) {
		vmm_undo_start(v);
		goto undo;
	}
	v->state = VMM_PAUSED;
	v->first_insn_build_us = clock_now_us() - t0;
	LOG_INFO("Snapshot %s loaded: %u vCPU(s), %u devices, %llu MiB from %s, %llu us",
		 c->snapshot_path, v->nvcpus, v->ndevs, (unsigned long long)(v->mem.size >> 20),
		 c->backend_path, (unsigned long long)v->first_insn_build_us);
	if ((r = seccomp_install(SECCOMP_VMM))) {
		err_set(e, r, "Cannot install the VMM thread's seccomp filter");
		goto out;
	}
	if (c->resume_vm)
		vmm_resume(v);
	goto out;
undo:
	/* Nothing half-restored: the process is as fresh as before the request. */
	vmm_destroy_devices(v);
	/* The vsock socket this request bound (present only once bound) goes too. */
	if (v->cfg.vsock.present && v->cfg.vsock.uds_path)
		unlink(v->cfg.vsock.uds_path);
	if (v->kernel_fd >= 0)
		close(v->kernel_fd);
	v->kernel_fd = -1;
	config_free(&v->cfg);
	config_init(&v->cfg);
	v->configured = 0;
out:
	if (mfd >= 0)
		close(mfd);
	free(buf);
	free(rd);
	return r;
}
