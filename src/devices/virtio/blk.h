/* blk.h: virtio-blk (virtio 1.2 section 5.2) backed by a host file. */
#ifndef EMBER_DEVICES_VIRTIO_BLK_H
#define EMBER_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "devices/virtio/mmio.h"

#define VIRTIO_ID_BLOCK       2
#define VBLK_QUEUE_SIZE       256
#define VBLK_SEG_MAX          (VBLK_QUEUE_SIZE - 2)   /* header and status take two */
#define VBLK_SIZE_MAX         (1u << 20)              /* bytes per data segment */
#define VBLK_SECTOR_SIZE      512
#define VBLK_ID_BYTES         20

struct vblk {
	struct virtio_mmio t;            /* first: the transport's dev points back here */
	char drive_id[CFG_ID_MAX + 1];
	char name[CFG_ID_MAX + 16];
	int fd;                          /* backing file, -1 when none */
	uint64_t nsectors;
	bool read_only;
	bool flush;                      /* VIRTIO_BLK_F_FLUSH offered (cache_type Writeback) */
	struct virtq_chain chain;        /* scratch for the chain being served */
};

/*
 * vblk_open_backing: open @path for a drive (read-only if @read_only) and
 * return the fd and its capacity in sectors. 0 or -errno. Any thread.
 */
int vblk_open_backing(const char *path, bool read_only, int *fd, uint64_t *nsectors);

/*
 * vblk_init: a block device for @cfg on backing @fd (taken over) at @base,
 * @irq. Returns 0 or -errno; vblk_destroy() is safe afterwards. Main thread.
 */
int vblk_init(struct vblk *b, const struct drive_cfg *cfg, int fd, uint64_t nsectors,
	      const struct kvm_vm *vm, const struct guest_mem *mem, struct evloop *loop,
	      uint64_t base, unsigned irq);

/*
 * vblk_swap_backing: replace the backing file with @fd (taken over) of
 * @nsectors, then tell the driver the configuration changed. VMM thread.
 */
void vblk_swap_backing(struct vblk *b, int fd, uint64_t nsectors);

void vblk_destroy(struct vblk *b);

#endif
