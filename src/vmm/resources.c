/* resources.c: what the API and the config file set, checked as it is set; applied at build. */
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
#include "log.h"
#include "metrics.h"
#include "seccomp_filters.h"
#include "vmm/internal.h"

static int vmm_open_image(const char *path, const char *what, struct err *e)
{
	struct img_src s;
	/* Non-blocking: a FIFO named by a client must not hang the VMM thread in open(). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), r;

	if (fd < 0)
		return err_set(e, -errno, "Cannot open %s file %s: %s", what, path, strerror(errno));
	r = img_from_fd(&s, fd);
	if (r == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		r = -errno;
	if (r) {
		close(fd);
		return err_set(e, r, "%s file %s is not a regular file", what, path);
	}
	return fd;
}

int vmm_set_boot_source(struct vmm *v, struct boot_source_cfg *b, struct err *e)
{
	int kfd, ifd = -1;

	v->configured = 1;
	kfd = vmm_open_image(b->kernel_image_path, "kernel", e);
	if (kfd < 0)
		return kfd;
	if (b->initrd_path) {
		ifd = vmm_open_image(b->initrd_path, "initrd", e);
		if (ifd < 0) {
			close(kfd);
			return ifd;
		}
	}
	if (v->kernel_fd >= 0)
		close(v->kernel_fd);
	if (v->initrd_fd >= 0)
		close(v->initrd_fd);
	v->kernel_fd = kfd;
	v->initrd_fd = ifd;
	boot_source_free(&v->cfg.boot_source);
	v->cfg.boot_source = *b;
	v->cfg.has_boot_source = true;
	memset(b, 0, sizeof(*b));
	return 0;
}

int vmm_set_logger(struct vmm *v, struct logger_cfg *l, struct err *e)
{
	int r;

	if (v->logger_set)
		return err_set(e, -EINVAL, "The logger was already configured.");
	r = log_configure(l);
	if (r)
		return err_set(e, r, "Cannot open the log file %s: %s",
			       l->log_path ? l->log_path : "(stdout)", strerror(-r));
	logger_free(&v->cfg.logger);
	v->cfg.logger = *l;
	memset(l, 0, sizeof(*l));
	v->logger_set = 1;
	return 0;
}

int vmm_set_metrics(struct vmm *v, struct metrics_cfg *m, struct err *e)
{
	int r;

	if (v->metrics_set)
		return err_set(e, -EINVAL, "The metrics system was already configured.");
	r = metrics_open(m->metrics_path);
	if (r)
		return err_set(e, r, "Cannot open the metrics file %s: %s", m->metrics_path,
			       strerror(-r));
	metrics_free(&v->cfg.metrics);
	v->cfg.metrics = *m;
	memset(m, 0, sizeof(*m));
	v->metrics_set = 1;
	return 0;
}

int vmm_set_serial(struct vmm *v, struct serial_cfg *s, struct err *e)
{
	int fd = -1;

	v->configured = 1;
	/* Appended to, never truncated; non-blocking, so that a FIFO's slow reader holds
	 * output back (up to the UART's buffer) instead of a vCPU. */
	if (s->serial_out_path &&
	    (fd = open(s->serial_out_path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC,
		       0600)) < 0)
		return err_set(e, -errno, "Cannot open the serial output file %s: %s",
			       s->serial_out_path, strerror(errno));
	if (v->serial_out_fd >= 0)
		close(v->serial_out_fd);
	v->serial_out_fd = fd;
	serial_cfg_free(&v->cfg.serial);
	v->cfg.serial = *s;
	memset(s, 0, sizeof(*s));
	return 0;
}

/* Where the guest's console output goes: PUT /serial's file, else ember's stdout. */
int vmm_console_out(const struct vmm *v)
{
	return v->serial_out_fd >= 0 ? v->serial_out_fd : v->opts.console_fd_out;
}

int vmm_apply_config(struct vmm *v, struct vm_config *c, struct err *e)
{
	int r;

	if (c->has_boot_source) {
		r = vmm_set_boot_source(v, &c->boot_source, e);
		if (r)
			return r;
		c->has_boot_source = false;
	}
	v->cfg.machine = c->machine;
	for (unsigned i = 0; i < c->ndrives; i++)
		if ((r = vmm_set_drive(v, &c->drives[i], e)))
			return r;
	for (unsigned i = 0; i < c->nnets; i++)
		if ((r = vmm_set_net(v, &c->nets[i], e)))
			return r;
	if (c->vsock.present && (r = vmm_set_vsock(v, &c->vsock, e)))
		return r;
	if (c->logger.present && (r = vmm_set_logger(v, &c->logger, e)))
		return r;
	if (c->metrics.present && (r = vmm_set_metrics(v, &c->metrics, e)))
		return r;
	if (c->serial.present && (r = vmm_set_serial(v, &c->serial, e)))
		return r;
	if (c->mmds.present && (r = vmm_set_mmds_config(v, &c->mmds, e)))
		return r;
	return 0;
}

int vmm_set_mmds_config(struct vmm *v, const struct mmds_cfg *m, struct err *e)
{
	struct vm_config view = v->cfg;   /* a shallow view for config_check() */

	view.mmds = *m;
	if (config_check(&view, e))
		return -EINVAL;
	v->cfg.mmds = *m;
	mmds_set_version(&v->mmds, m->v2 ? MMDS_V2 : MMDS_V1, m->imds_compat);
	return 0;
}

/* Why a drive's backing file cannot be used, in words. */
static const char *vmm_backing_error(int r)
{
	return r == -ENODEV ? "not a regular file or block device" : strerror(-r);
}

/* PATCH semantics (as Firecracker): a bucket the update leaves out is kept. */
static void vmm_merge_rate_limiter(struct rate_limiter_cfg *to, const struct rate_limiter_cfg *from)
{
	if (from->bandwidth.present)
		to->bandwidth = from->bandwidth;
	if (from->ops.present)
		to->ops = from->ops;
}

int vmm_set_drive(struct vmm *v, struct drive_cfg *d, struct err *e)
{
	uint64_t nsec;
	int fd, r;

	v->configured = 1;
	if (!d->path_on_host)
		return err_set(e, -EINVAL, "Drive %s has no path_on_host.", d->drive_id);
	r = vblk_open_backing(d->path_on_host, d->is_read_only, &fd, &nsec);
	if (r)
		return err_set(e, r, "Unable to open the block device backing file %s: %s",
			       d->path_on_host, vmm_backing_error(r));
	/* Opened again at InstanceStart; here it proves the file is usable as asked. */
	close(fd);
	return config_set_drive(&v->cfg, d, e);
}

int vmm_patch_drive(struct vmm *v, struct drive_patch *p, struct err *e)
{
	struct vmm_dev *row = vmm_dev_find(v, DEV_BLOCK, p->drive_id);
	struct drive_cfg *d = NULL;
	struct vblk *b = row ? row->dev : NULL;
	uint64_t nsec;
	int fd, r;

	for (unsigned i = 0; i < v->cfg.ndrives; i++)
		if (strcmp(v->cfg.drives[i].drive_id, p->drive_id) == 0)
			d = &v->cfg.drives[i];
	if (!d || !b)
		return err_set(e, -ENOENT, "Invalid block device ID: %s.", p->drive_id);
	if (p->has_rate_limiter) {
		vmm_merge_rate_limiter(&d->rate_limiter, &p->rate_limiter);
		vblk_set_limiter(b, &p->rate_limiter);
	}
	if (!p->has_path_on_host)
		return 0;
	r = vblk_open_backing(p->path_on_host, d->is_read_only, &fd, &nsec);
	if (r) {
		mdev_inc(&b->metrics, M_block_update_fails);
		return err_set(e, r, "Unable to open the block device backing file %s: %s",
			       p->path_on_host, vmm_backing_error(r));
	}
	if ((r = vblk_swap_backing(b, fd, nsec))) {
		mdev_inc(&b->metrics, M_block_update_fails);
		return err_set(e, r, "Cannot switch drive %s to %s: %s", d->drive_id, p->path_on_host,
			       strerror(-r));
	}
	free(d->path_on_host);
	d->path_on_host = p->path_on_host;
	p->path_on_host = NULL;
	p->has_path_on_host = false;
	LOG_INFO("Drive %s now backed by %s (%llu sectors)", d->drive_id, d->path_on_host,
		 (unsigned long long)nsec);
	return 0;
}

static int vmm_net_index(const struct vmm *v, const char *iface_id)
{
	for (unsigned i = 0; i < v->cfg.nnets; i++)
		if (strcmp(v->cfg.nets[i].iface_id, iface_id) == 0)
			return (int)i;
	return -1;
}

int vmm_set_net(struct vmm *v, struct net_cfg *n, struct err *e)
{
	char id[CFG_ID_MAX + 1];
	int old = vmm_net_index(v, n->iface_id), fd, r, i;

	v->configured = 1;
	/* Replacing an interface releases its tap first: it may be the same one. */
	if (old >= 0 && v->tap_fd[old] >= 0) {
		close(v->tap_fd[old]);
		v->tap_fd[old] = -1;
	}
	r = tap_open(n->host_dev_name, &fd, NULL, e);
	if (r)
		return r;
	snprintf(id, sizeof(id), "%s", n->iface_id);
	r = config_set_net(&v->cfg, n, e);
	if (r) {
		close(fd);
		return r;
	}
	i = vmm_net_index(v, id);
	v->tap_fd[i] = fd;
	return 0;
}

int vmm_patch_net(struct vmm *v, struct net_patch *p, struct err *e)
{
	struct vmm_dev *row = vmm_dev_find(v, DEV_NET, p->iface_id);
	int i = vmm_net_index(v, p->iface_id);

	if (i < 0)
		return err_set(e, -ENOENT, "Invalid network interface ID: %s.", p->iface_id);
	if (p->has_rx_rate_limiter)
		vmm_merge_rate_limiter(&v->cfg.nets[i].rx_rate_limiter, &p->rx_rate_limiter);
	if (p->has_tx_rate_limiter)
		vmm_merge_rate_limiter(&v->cfg.nets[i].tx_rate_limiter, &p->tx_rate_limiter);
	/* After boot the device exists. */
	if (row)
		vnet_set_limiters(row->dev, p->has_rx_rate_limiter ? &p->rx_rate_limiter : NULL,
				  p->has_tx_rate_limiter ? &p->tx_rate_limiter : NULL);
	return 0;
}

int vmm_set_vsock(struct vmm *v, struct vsock_cfg *vs, struct err *e)
{
	int fd, r;

	v->configured = 1;
	/* A second PUT replaces the first: its own listener must not block the new bind. */
	if (v->vsock_listen_fd >= 0) {
		close(v->vsock_listen_fd);
		v->vsock_listen_fd = -1;
	}
	r = vsock_listen(vs->uds_path, &fd, e);
	if (r)
		return r;
	vsock_free(&v->cfg.vsock);
	v->cfg.vsock = *vs;
	v->cfg.vsock.present = true;
	memset(vs, 0, sizeof(*vs));
	v->vsock_listen_fd = fd;
	return 0;
}

