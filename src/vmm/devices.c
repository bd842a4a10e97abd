/* devices.c: the VM's device table, and the virtio devices attached to it at InstanceStart. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "log.h"
#include "metrics.h"
#include "vmm/internal.h"

int vmm_dev_add(struct vmm *v, const struct dev_ops *ops, void *dev, const char *id,
		uint64_t base, uint64_t size, int irq, int owned)
{
	struct vmm_dev *row;

	if (v->ndevs >= VMM_MAX_DEVS)
		return -ENOSPC;
	row = &v->devs[v->ndevs++];
	*row = (struct vmm_dev){ .ops = ops, .dev = dev, .base = base, .size = size, .irq = irq,
				 .owned = owned };
	snprintf(row->id, sizeof(row->id), "%s", id ? id : ops->name);
	return 0;
}

struct vmm_dev *vmm_dev_find(struct vmm *v, enum dev_kind kind, const char *id)
{
	for (unsigned i = 0; i < v->ndevs; i++)
		if (v->devs[i].ops->kind == kind && (!id || strcmp(v->devs[i].id, id) == 0))
			return &v->devs[i];
	return NULL;
}

void vmm_devices_pause(struct vmm *v)
{
	for (unsigned i = 0; i < v->ndevs; i++)
		if (v->devs[i].ops->pause)
			v->devs[i].ops->pause(v->devs[i].dev);
}

void vmm_devices_resume(struct vmm *v)
{
	for (unsigned i = v->ndevs; i-- > 0;)
		if (v->devs[i].ops->resume)
			v->devs[i].ops->resume(v->devs[i].dev);
}

/*
 * A virtio device the table owns: calloc()ed @size bytes, its row added
 * before it is built so a failure part-way is torn down like the rest.
 */
static void *vmm_virtio_row(struct vmm *v, const struct dev_ops *ops, size_t size, const char *id,
			    uint64_t base, unsigned irq)
{
	void *dev = calloc(1, size);

	if (!dev)
		return NULL;
	if (vmm_dev_add(v, ops, dev, id, base, LAYOUT_VIRTIO_MMIO_SIZE, (int)irq, 1)) {
		free(dev);
		return NULL;
	}
	return dev;
}

/*
 * Claim the next virtio-mmio slot, name it on the command line (compat guide:
 * kernels with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES) and keep it for the DSDT
 * (kernels that find virtio-mmio devices through ACPI only, like Debian's).
 */
static int vmm_next_slot(struct vmm *v, uint64_t *base, unsigned *irq)
{
	size_t n = strlen(v->dev_args);

	if (v->next_slot >= LAYOUT_VIRTIO_MMIO_MAX)
		return -ENOSPC;
	*base = LAYOUT_VIRTIO_MMIO_START + (uint64_t)v->next_slot * LAYOUT_VIRTIO_MMIO_SIZE;
	*irq = LAYOUT_VIRTIO_IRQ_BASE + v->next_slot;
	v->slots[v->next_slot].base = *base;
	v->slots[v->next_slot].size = LAYOUT_VIRTIO_MMIO_SIZE;
	v->slots[v->next_slot].gsi = *irq;
	v->next_slot++;
	snprintf(v->dev_args + n, sizeof(v->dev_args) - n, " virtio_mmio.device=4K@0x%llx:%u",
		 (unsigned long long)*base, *irq);
	return 0;
}

int vmm_add_block_devices(struct vmm *v, struct err *e)
{
	for (unsigned i = 0; i < v->cfg.ndrives; i++) {
		const struct drive_cfg *d = &v->cfg.drives[i];
		struct vblk *b;
		uint64_t base, nsec;
		unsigned irq;
		size_t n = strlen(v->dev_args);
		int fd, r;

		if (d->is_root_device) {
			if (d->partuuid)
				snprintf(v->dev_args + n, sizeof(v->dev_args) - n,
					 " root=PARTUUID=%s %s", d->partuuid,
					 d->is_read_only ? "ro" : "rw");
			else
				snprintf(v->dev_args + n, sizeof(v->dev_args) - n,
					 " root=/dev/vda %s", d->is_read_only ? "ro" : "rw");
		}
		if ((r = vblk_open_backing(d->path_on_host, d->is_read_only, &fd, &nsec)))
			return err_set(e, r, "Unable to open the block device backing file %s: %s",
				       d->path_on_host, strerror(-r));
		if ((r = vmm_next_slot(v, &base, &irq))) {
			close(fd);
			return err_set(e, r, "Too many virtio devices");
		}
		b = vmm_virtio_row(v, &vblk_dev_ops, sizeof(*b), d->drive_id, base, irq);
		if (!b) {
			close(fd);
			return err_set(e, -ENOMEM, "Out of memory for drive %s", d->drive_id);
		}
		if ((r = vblk_init(b, d, fd, nsec, &v->vm, &v->mem, v->loop, base, irq)) ||
		    (r = bus_add(&v->mmio, base, LAYOUT_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
				 &b->t))) {
			metric_inc(M_block_activate_fails);
			return err_set(e, r, "Cannot create block device %s: %s", d->drive_id,
				       strerror(-r));
		}
	}
	return 0;
}

int vmm_add_net_devices(struct vmm *v, struct err *e)
{
	for (unsigned i = 0; i < v->cfg.nnets; i++) {
		const struct net_cfg *n = &v->cfg.nets[i];
		struct vnet *dev;
		uint64_t base;
		unsigned irq;
		int fd = v->tap_fd[i], r;

		if (fd < 0 && (r = tap_open(n->host_dev_name, &fd, NULL, e)))
			return r;
		v->tap_fd[i] = -1;                  /* vnet_init takes it over */
		if ((r = vmm_next_slot(v, &base, &irq))) {
			close(fd);
			return err_set(e, r, "Too many virtio devices");
		}
		dev = vmm_virtio_row(v, &vnet_dev_ops, sizeof(*dev), n->iface_id, base, irq);
		if (!dev) {
			close(fd);
			return err_set(e, -ENOMEM, "Out of memory for interface %s", n->iface_id);
		}
		if ((r = vnet_init(dev, n, fd, &v->vm, &v->mem, v->loop, base, irq)) ||
		    (cfg_mmds_serves(&v->cfg.mmds, n->iface_id) &&
		     (r = vnet_set_mmds(dev, &v->mmds, v->cfg.mmds.ipv4))) ||
		    (r = bus_add(&v->mmio, base, LAYOUT_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
				 &dev->t)))
			return err_set(e, r, "Cannot create network interface %s: %s", n->iface_id,
				       strerror(-r));
	}
	return 0;
}

int vmm_add_vsock_device(struct vmm *v, struct err *e)
{
	struct vsock_dev *d;
	uint64_t base;
	unsigned irq;
	int fd = v->vsock_listen_fd, r;

	if (!v->cfg.vsock.present)
		return 0;
	if (fd < 0 && (r = vsock_listen(v->cfg.vsock.uds_path, &fd, e)))
		return r;
	v->vsock_listen_fd = -1;                /* vsock_init takes it over, even on failure */
	if ((r = vmm_next_slot(v, &base, &irq))) {
		close(fd);
		return err_set(e, r, "Too many virtio devices");
	}
	d = vmm_virtio_row(v, &vsock_dev_ops, sizeof(*d), "vsock", base, irq);
	if (!d) {
		close(fd);
		return err_set(e, -ENOMEM, "Out of memory for the vsock device");
	}
	if ((r = vsock_init(d, &v->cfg.vsock, fd, &v->vm, &v->mem, v->loop, base, irq)) ||
	    (r = bus_add(&v->mmio, base, LAYOUT_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops,
			 &d->t)))
		return err_set(e, r, "Cannot create the vsock device: %s", strerror(-r));
	return 0;
}

void vmm_destroy_devices(struct vmm *v)
{
	while (v->ndevs > 0) {
		struct vmm_dev *row = &v->devs[--v->ndevs];

		if (row->ops->destroy)
			row->ops->destroy(row->dev);
		if (row->owned)
			free(row->dev);
		memset(row, 0, sizeof(*row));
	}
	if (v->vsock_listen_fd > 0)
		close(v->vsock_listen_fd);
	v->vsock_listen_fd = -1;
	for (unsigned i = 0; i < CFG_MAX_NETS; i++) {
		if (v->tap_fd[i] > 0)
			close(v->tap_fd[i]);
		v->tap_fd[i] = -1;
	}
}
