/* vmgenid.c: the VM generation ID: 16 random bytes in guest RAM, new at boot and at every load. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "arch/x86/layout.h"
#include "log.h"
#include "vmm/internal.h"

/* 16 bytes from the kernel's CSPRNG; 0 or -errno. */
static int vmgenid_draw(uint8_t *id, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = getrandom(id + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

int vmm_vmgenid_renew(struct vmm *v, int notify, struct err *e)
{
	uint8_t id[LAYOUT_VMGENID_SIZE];
	int r;

	if ((r = vmgenid_draw(id, sizeof(id))))
		return err_set(e, r, "Cannot draw a VM generation ID: %s", strerror(-r));
	if (gmem_write(&v->mem, LAYOUT_VMGENID_START, id, sizeof(id)))
		return err_set(e, -ENOMEM, "Guest memory is too small for the VM generation ID");
	/* ember's write: in no KVM dirty log, so in its own (a later Diff snapshot keeps it). */
	gmem_mark_dirty(&v->mem, LAYOUT_VMGENID_START, sizeof(id));
	/* An edge: the GED's _CRS says Edge, ActiveHigh. The vCPUs take it when they run. */
	if (notify && ((r = kvm_irq_line(&v->vm, LAYOUT_GED_IRQ, 1)) ||
		       (r = kvm_irq_line(&v->vm, LAYOUT_GED_IRQ, 0))))
		return err_set(e, r, "Cannot raise the VM generation ID's interrupt: %s",
			       strerror(-r));
	LOG_DEBUG("VM generation ID %02x%02x%02x%02x...%02x%02x%s", id[0], id[1], id[2], id[3],
		  id[14], id[15], notify ? ", guest notified" : "");
	return 0;
}
